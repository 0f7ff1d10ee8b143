/**
 * The subset of Apache's expression language (ap_expr, docs/expr.html) that ProxyFCGISetEnvIf
 * rules use: conditions and string values over the request's CGI environment.
 *
 *   condition  true | false | ! c | c && c | c || c | ( c )
 *              -n word | -z word
 *              word == word | != | < | <= | > | >=      (strings)
 *              word -eq word | -ne | -lt | -le | -gt | -ge   (integers; a non-integer is an
 *                                                          evaluation error, as in httpd)
 *              word =~ /regex/i | word !~ m#regex#     (captures become $0..$9)
 *   word       'text' | "text" (with %{...} and $N inside) | digits | %{NAME} | %{fn:arg}
 *              | reqenv(word) | env(word) | req(word) | http(word) | tolower(word)
 *              | toupper(word) | $0..$9 | word . word
 *   value      text with %{...}, $N and backslash escapes (a "string expression")
 *
 * `%{NAME}` is a request variable (REQUEST_URI, QUERY_STRING, HTTP_HOST, ... see
 * REQUEST_VARIABLES); `reqenv` reads the environment being built, `env` is the same here
 * (Portico never exposes its own process environment to backends), `req`/`http` read a request
 * header. Regexes are JavaScript regexes (PCRE's common syntax); only the `i` flag exists.
 * Anything outside the subset is refused when the config loads, with the position.
 */

/** A string-valued node. */
export type Word =
  | { readonly k: 'lit'; readonly v: string }
  | { readonly k: 'var'; readonly name: string }
  | { readonly k: 'ref'; readonly n: number }
  | { readonly k: 'call'; readonly fn: FunctionName; readonly arg: Word }
  | { readonly k: 'cat'; readonly parts: readonly Word[] };

/** A boolean node. */
export type Condition =
  | { readonly k: 'const'; readonly v: boolean }
  | { readonly k: 'not'; readonly c: Condition }
  | { readonly k: 'and' | 'or'; readonly a: Condition; readonly b: Condition }
  | { readonly k: 'test'; readonly op: '-n' | '-z'; readonly w: Word }
  | { readonly k: 'cmp'; readonly op: CompareOp; readonly a: Word; readonly b: Word }
  | { readonly k: 'match'; readonly negate: boolean; readonly w: Word; readonly re: RegExp };

type FunctionName = 'reqenv' | 'env' | 'req' | 'http' | 'tolower' | 'toupper';
type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | '-eq' | '-ne' | '-lt' | '-le' | '-gt' | '-ge';

const FUNCTIONS: ReadonlySet<string> = new Set(['reqenv', 'env', 'req', 'http', 'tolower', 'toupper']);
const INTEGER_OPS: ReadonlySet<string> = new Set(['-eq', '-ne', '-lt', '-le', '-gt', '-ge']);

/**
 * ap_expr's request variables Portico knows (ap_expr_var_func in server/util_expr_eval.c), plus
 * any HTTP_* header. Names outside this list are refused at load instead of reading as ''.
 */
export const REQUEST_VARIABLES: ReadonlySet<string> = new Set([
  'REQUEST_METHOD',
  'REQUEST_SCHEME',
  'REQUEST_URI',
  'DOCUMENT_URI',
  'QUERY_STRING',
  'THE_REQUEST',
  'REMOTE_ADDR',
  'REMOTE_PORT',
  'SERVER_NAME',
  'SERVER_PORT',
  'SERVER_PROTOCOL',
  'SERVER_SOFTWARE',
  'DOCUMENT_ROOT',
  'HTTPS',
  'IPV6',
  'CONTENT_TYPE',
  'SCRIPT_FILENAME',
  'PATH_INFO',
  'REQUEST_LOG_ID',
]);

export type ExprResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

/** A syntax or evaluation failure; caught inside this module and returned as a message. */
class ExprFailure extends Error {}

/** Parses a condition; the message of a failure names the offset. */
export function parseCondition(source: string): ExprResult<Condition> {
  return run(source, (p) => {
    const c = p.orExpr();
    p.skipSpace();
    if (!p.atEnd()) p.fail('unexpected text');
    return c;
  });
}

/** Parses a value (string expression): literal text with %{...} and $N. */
export function parseStringExpression(source: string): ExprResult<Word> {
  return run(source, (p) => p.stringBody(undefined));
}

function run<T>(source: string, parse: (p: Parser) => T): ExprResult<T> {
  try {
    return { ok: true, value: parse(new Parser(source)) };
  } catch (error) {
    if (error instanceof ExprFailure) return { ok: false, message: error.message };
    throw error;
  }
}

class Parser {
  private readonly s: string;
  private at = 0;

  constructor(source: string) {
    this.s = source;
  }

  fail(message: string): never {
    throw new ExprFailure(`${message} at offset ${this.at} of ${JSON.stringify(this.s)}`);
  }

  atEnd(): boolean {
    return this.at >= this.s.length;
  }

  skipSpace(): void {
    while (this.at < this.s.length && (this.s[this.at] === ' ' || this.s[this.at] === '\t')) this.at++;
  }

  private eat(token: string): boolean {
    this.skipSpace();
    if (!this.s.startsWith(token, this.at)) return false;
    // `-n` must not eat the start of `-ne`, nor `true` the start of `trueish`.
    const next = this.s[this.at + token.length];
    if (/^[-a-z]+$/i.test(token) && next !== undefined && /[a-z0-9_]/i.test(next)) return false;
    this.at += token.length;
    return true;
  }

  orExpr(): Condition {
    let c = this.andExpr();
    while (this.eat('||')) c = { k: 'or', a: c, b: this.andExpr() };
    return c;
  }

  private andExpr(): Condition {
    let c = this.unary();
    while (this.eat('&&')) c = { k: 'and', a: c, b: this.unary() };
    return c;
  }

  private unary(): Condition {
    this.skipSpace();
    if (this.s[this.at] === '!' && this.s[this.at + 1] !== '=' && this.s[this.at + 1] !== '~') {
      this.at++;
      return { k: 'not', c: this.unary() };
    }
    if (this.eat('(')) {
      const c = this.orExpr();
      if (!this.eat(')')) this.fail('expected ")"');
      return c;
    }
    if (this.eat('true')) return { k: 'const', v: true };
    if (this.eat('false')) return { k: 'const', v: false };
    if (this.eat('-n')) return { k: 'test', op: '-n', w: this.word() };
    if (this.eat('-z')) return { k: 'test', op: '-z', w: this.word() };
    if (this.s[this.at] === '-') this.fail('unary operator not in the supported subset (-n, -z)');
    const a = this.word();
    if (this.eat('=~')) return { k: 'match', negate: false, w: a, re: this.regex() };
    if (this.eat('!~')) return { k: 'match', negate: true, w: a, re: this.regex() };
    for (const op of ['==', '!=', '<=', '>=', '<', '>', '-eq', '-ne', '-lt', '-le', '-gt', '-ge'] as const) {
      if (this.eat(op)) return { k: 'cmp', op, a, b: this.word() };
    }
    return this.fail('expected a comparison operator');
  }

  private word(): Word {
    const parts = [this.atom()];
    while (this.eat('.')) parts.push(this.atom());
    return parts.length === 1 ? (parts[0] as Word) : { k: 'cat', parts };
  }

  private atom(): Word {
    this.skipSpace();
    const c = this.s[this.at];
    if (c === "'" || c === '"') {
      this.at++;
      const w = this.stringBody(c);
      this.at++;
      return w;
    }
    if (c === '%' && this.s[this.at + 1] === '{') return this.variable();
    if (c === '$') return this.backref();
    const digits = /^[0-9]+/.exec(this.s.slice(this.at));
    if (digits !== null) {
      this.at += digits[0].length;
      return { k: 'lit', v: digits[0] };
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.at));
    if (name === null) return this.fail('expected a word');
    const fn = name[0].toLowerCase();
    if (!FUNCTIONS.has(fn)) this.fail(`unknown function ${JSON.stringify(name[0])}`);
    this.at += name[0].length;
    if (!this.eat('(')) this.fail('expected "("');
    const arg = this.word();
    if (!this.eat(')')) this.fail('expected ")"');
    return { k: 'call', fn: fn as FunctionName, arg };
  }

  /** `%{NAME}` or `%{fn:arg}` (the argument is literal text). */
  private variable(): Word {
    const close = this.s.indexOf('}', this.at);
    if (close === -1) this.fail('unterminated %{');
    const inner = this.s.slice(this.at + 2, close);
    const colon = inner.indexOf(':');
    if (colon !== -1) {
      const fn = inner.slice(0, colon).toLowerCase();
      if (!FUNCTIONS.has(fn)) this.fail(`unknown function ${JSON.stringify(inner.slice(0, colon))}`);
      this.at = close + 1;
      return { k: 'call', fn: fn as FunctionName, arg: { k: 'lit', v: inner.slice(colon + 1) } };
    }
    const name = inner.toUpperCase();
    if (!/^[A-Z0-9_]+$/.test(name) || (!REQUEST_VARIABLES.has(name) && !name.startsWith('HTTP_'))) {
      this.fail(`unknown variable %{${inner}}`);
    }
    this.at = close + 1;
    return { k: 'var', name };
  }

  private backref(): Word {
    const d = this.s.charCodeAt(this.at + 1) - 0x30;
    if (!(d >= 0 && d <= 9)) this.fail('expected a digit after "$"');
    this.at += 2;
    return { k: 'ref', n: d };
  }

  /** Text up to `quote` (or the end when undefined), with %{...}, $N and backslash escapes. */
  stringBody(quote: string | undefined): Word {
    const parts: Word[] = [];
    let text = '';
    for (;;) {
      if (this.at >= this.s.length) {
        if (quote !== undefined) this.fail('unterminated string');
        break;
      }
      const c = this.s[this.at] as string;
      if (c === quote) break;
      if (c === '\\' && this.at + 1 < this.s.length) {
        text += this.s[this.at + 1];
        this.at += 2;
      } else if (
        (c === '%' && this.s[this.at + 1] === '{') ||
        (c === '$' && /[0-9]/.test(this.s[this.at + 1] ?? ''))
      ) {
        if (text !== '') parts.push({ k: 'lit', v: text });
        text = '';
        parts.push(c === '%' ? this.variable() : this.backref());
      } else {
        text += c;
        this.at++;
      }
    }
    if (text !== '' || parts.length === 0) parts.push({ k: 'lit', v: text });
    return parts.length === 1 ? (parts[0] as Word) : { k: 'cat', parts };
  }

  /** `/re/flags` or `m<d>re<d>flags` (any punctuation as <d>); `\<d>` stands for <d>. */
  private regex(): RegExp {
    this.skipSpace();
    let delimiter = this.s[this.at];
    if (delimiter === 'm') {
      this.at++;
      delimiter = this.s[this.at];
      if (delimiter === undefined || /[A-Za-z0-9\s\\]/.test(delimiter))
        this.fail('expected a regex delimiter');
    } else if (delimiter !== '/') {
      this.fail('expected a regex (/.../ or m#...#)');
    }
    this.at++;
    let source = '';
    for (;;) {
      const c = this.s[this.at];
      if (c === undefined) this.fail('unterminated regex');
      if (c === delimiter) break;
      if (c === '\\' && this.s[this.at + 1] === delimiter) {
        source += delimiter;
        this.at += 2;
        continue;
      }
      source += c;
      this.at++;
    }
    this.at++;
    let flags = '';
    while (this.s[this.at] === 'i') {
      flags = 'i';
      this.at++;
    }
    if (/[A-Za-z]/.test(this.s[this.at] ?? '')) this.fail('unsupported regex flag (only i)');
    try {
      return new RegExp(source, flags);
    } catch (error) {
      return this.fail(`invalid regex: ${(error as Error).message}`);
    }
  }
}

/** What an expression can read. */
export interface ExprScope {
  /** The value of an environment variable being built; undefined when unset. */
  reqenv(name: string): string | undefined;
  /** A request header's value ('' when absent). */
  header(name: string): string;
  /** A request variable of REQUEST_VARIABLES ('' when it has no value). */
  variable(name: string): string;
}

/** Regex captures of the last successful match ($0..$9). */
export type Captures = readonly string[];

/** Evaluates a condition; fails (httpd: the request gets 503) on a non-integer for -eq etc. */
export function evaluateCondition(
  c: Condition,
  scope: ExprScope,
): ExprResult<{ readonly result: boolean; readonly captures: Captures }> {
  const state: EvalState = { scope, captures: [] };
  try {
    return { ok: true, value: { result: test(c, state), captures: state.captures } };
  } catch (error) {
    if (error instanceof ExprFailure) return { ok: false, message: error.message };
    throw error;
  }
}

/** Evaluates a value with the captures of its condition. */
export function evaluateWord(w: Word, scope: ExprScope, captures: Captures): string {
  return word(w, { scope, captures });
}

interface EvalState {
  readonly scope: ExprScope;
  captures: Captures;
}

function test(c: Condition, st: EvalState): boolean {
  switch (c.k) {
    case 'const':
      return c.v;
    case 'not':
      return !test(c.c, st);
    case 'and':
      return test(c.a, st) && test(c.b, st);
    case 'or':
      return test(c.a, st) || test(c.b, st);
    case 'test':
      return (word(c.w, st) === '') === (c.op === '-z');
    case 'match': {
      const m = c.re.exec(word(c.w, st));
      // httpd keeps the captures of the last regex that matched.
      if (m !== null) st.captures = Array.from(m, (s) => s ?? '');
      return (m !== null) !== c.negate;
    }
    case 'cmp':
      return compare(c.op, word(c.a, st), word(c.b, st));
  }
}

function compare(op: CompareOp, a: string, b: string): boolean {
  if (INTEGER_OPS.has(op)) {
    const x = integer(a);
    const y = integer(b);
    if (op === '-eq') return x === y;
    if (op === '-ne') return x !== y;
    if (op === '-lt') return x < y;
    if (op === '-le') return x <= y;
    if (op === '-gt') return x > y;
    return x >= y;
  }
  if (op === '==') return a === b;
  if (op === '!=') return a !== b;
  if (op === '<') return a < b;
  if (op === '<=') return a <= b;
  if (op === '>') return a > b;
  return a >= b;
}

function integer(s: string): number {
  const t = s.trim();
  if (!/^[-+]?[0-9]{1,15}$/.test(t)) throw new ExprFailure(`${JSON.stringify(s)} is not an integer`);
  return Number(t);
}

function word(w: Word, st: { readonly scope: ExprScope; readonly captures: Captures }): string {
  switch (w.k) {
    case 'lit':
      return w.v;
    case 'ref':
      return st.captures[w.n] ?? '';
    case 'var':
      return w.name.startsWith('HTTP_') && !REQUEST_VARIABLES.has(w.name)
        ? st.scope.header(w.name.slice(5).replaceAll('_', '-'))
        : st.scope.variable(w.name);
    case 'cat': {
      let out = '';
      for (const part of w.parts) out += word(part, st);
      return out;
    }
    case 'call': {
      const arg = word(w.arg, st);
      if (w.fn === 'reqenv' || w.fn === 'env') return st.scope.reqenv(arg) ?? '';
      if (w.fn === 'req' || w.fn === 'http') return st.scope.header(arg);
      // ASCII only, as httpd's apr_tolower in the C locale: a latin1 byte must stay one byte
      // ('\u00ff'.toUpperCase() is U+0178, which no CGI value can carry).
      return w.fn === 'tolower'
        ? arg.replace(/[A-Z]+/g, (s) => s.toLowerCase())
        : arg.replace(/[a-z]+/g, (s) => s.toUpperCase());
    }
  }
}
