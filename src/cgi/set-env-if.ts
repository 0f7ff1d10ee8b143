/**
 * Apache's ProxyFCGISetEnvIf (mod_proxy_fcgi, 2.4.26+), for FastCGI and SCGI alike: rules run
 * in order after the whole environment is built, so they read (reqenv) and override anything,
 * including what earlier rules set. Per rule (semantics.md, "ProxyFCGISetEnvIf"):
 *
 * - the condition false: nothing happens (httpd PR 64365: an unset on false was a bug);
 * - `!NAME`: the variable is removed (a value with it is a config error);
 * - otherwise NAME is set to the value (omitted: the empty string, which is still sent);
 * - a condition that cannot be evaluated aborts the request with 503, as httpd does.
 *
 * Captures of the condition's last matching regex are `$0`..`$9` in the value.
 */
import { GatewayError } from '../errors.ts';
import type { Param } from '../protocol/params.ts';
import {
  type Condition,
  type ExprScope,
  evaluateCondition,
  evaluateWord,
  parseCondition,
  parseStringExpression,
  type Word,
} from './expr.ts';
import type { RequestFacts } from './request-facts.ts';

/** One rule as configured: `{ if: "cond", set: "NAME" | "!NAME", value?: "..." }`. */
export interface SetEnvIfSpec {
  readonly if: string;
  readonly set: string;
  readonly value?: string | undefined;
}

export interface SetEnvIfRule {
  readonly condition: Condition;
  readonly name: string;
  /** undefined: unset the variable. */
  readonly value: Word | undefined;
}

/** A problem with one rule, for the config loader (key is `if`, `set` or `value`). */
export interface SetEnvIfProblem {
  readonly key: 'if' | 'set' | 'value';
  readonly message: string;
}

/** CGI names are tokens: no `=`, spaces, controls or NUL (they would corrupt both encodings). */
const NAME_RE = /^[A-Za-z0-9_.-]+$/;

/** Compiles one rule, or the problems that stop it. */
export function compileSetEnvIf(spec: SetEnvIfSpec): SetEnvIfRule | SetEnvIfProblem[] {
  const problems: SetEnvIfProblem[] = [];
  const condition = parseCondition(spec.if);
  if (!condition.ok) problems.push({ key: 'if', message: condition.message });
  const unset = spec.set.startsWith('!');
  const name = unset ? spec.set.slice(1) : spec.set;
  if (!NAME_RE.test(name)) {
    problems.push({
      key: 'set',
      message: `${JSON.stringify(spec.set)} is not [!]NAME (letters, digits, "_", ".", "-")`,
    });
  }
  let value: Word | undefined;
  if (unset && spec.value !== undefined) {
    problems.push({ key: 'value', message: `a value cannot go with "!${name}", which unsets it` });
  } else if (!unset) {
    const parsed = parseStringExpression(spec.value ?? '');
    if (!parsed.ok) problems.push({ key: 'value', message: parsed.message });
    else value = parsed.value;
    if (spec.value !== undefined && /[\0\u0100-\uffff]/.test(spec.value)) {
      problems.push({ key: 'value', message: 'a value must be latin1 text without NUL' });
    }
  }
  if (problems.length > 0 || !condition.ok) return problems;
  return { condition: condition.value, name, value };
}

/**
 * Applies `rules` to `env` (changed in place and returned). Setting a name replaces its first
 * occurrence and drops repeats (httpd's apr_table_setn); a new name is appended.
 */
export function applySetEnvIf(rules: readonly SetEnvIfRule[], env: Param[], facts: RequestFacts): Param[] {
  const scope = new EnvScope(env, facts);
  for (const rule of rules) {
    const outcome = evaluateCondition(rule.condition, scope);
    if (!outcome.ok) {
      throw new GatewayError(
        'ERR_SETENVIF_CONDITION',
        `set_env_if condition for ${rule.name} failed: ${outcome.message}`,
        'gateway',
        503,
        'none',
      );
    }
    if (!outcome.value.result) continue;
    if (rule.value === undefined) remove(env, rule.name, 0);
    else set(env, rule.name, evaluateWord(rule.value, scope, outcome.value.captures));
  }
  return env;
}

function set(env: Param[], name: string, value: string): void {
  const at = env.findIndex((p) => p[0] === name);
  if (at === -1) {
    env.push([name, value]);
    return;
  }
  env[at] = [name, value];
  remove(env, name, at + 1);
}

function remove(env: Param[], name: string, from: number): void {
  let w = from;
  for (let r = from; r < env.length; r++) {
    const pair = env[r] as Param;
    if (pair[0] !== name) env[w++] = pair;
  }
  env.length = w;
}

/** Reads the environment as the rules change it, and the request behind it. */
class EnvScope implements ExprScope {
  private readonly env: readonly Param[];
  private readonly facts: RequestFacts;

  constructor(env: readonly Param[], facts: RequestFacts) {
    this.env = env;
    this.facts = facts;
  }

  reqenv(name: string): string | undefined {
    for (const pair of this.env) if (pair[0] === name) return pair[1];
    return undefined;
  }

  header(name: string): string {
    const wanted = name.toLowerCase();
    const raw = this.facts.headers;
    let out: string | undefined;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if ((raw[i] as string).toLowerCase() !== wanted) continue;
      const value = raw[i + 1] as string;
      out = out === undefined ? value : `${out}, ${value}`;
    }
    return out ?? '';
  }

  variable(name: string): string {
    const f = this.facts;
    switch (name) {
      case 'REQUEST_METHOD':
        return f.method;
      case 'REQUEST_SCHEME':
        return f.scheme;
      // ap_expr's REQUEST_URI is r->uri: the decoded path without the query string.
      case 'REQUEST_URI':
      case 'DOCUMENT_URI':
        return f.path;
      case 'QUERY_STRING':
        return f.args;
      case 'THE_REQUEST':
        return `${f.method} ${f.rawTarget} ${f.serverProtocol}`;
      case 'REMOTE_ADDR':
        return f.remoteAddr;
      case 'REMOTE_PORT':
        return f.remotePort;
      case 'SERVER_NAME':
        return f.serverName !== '' ? f.serverName : f.host;
      case 'SERVER_PORT':
        return f.serverPort;
      case 'SERVER_PROTOCOL':
        return f.serverProtocol;
      case 'DOCUMENT_ROOT':
        return f.documentRoot;
      case 'HTTPS':
        return f.https ? 'on' : 'off';
      case 'IPV6':
        return f.remoteAddr.includes(':') ? 'on' : 'off';
      case 'CONTENT_TYPE':
        return f.contentType;
      case 'REQUEST_LOG_ID':
        return f.requestId;
      default:
        // SCRIPT_FILENAME, PATH_INFO, SERVER_SOFTWARE: what the environment says.
        return this.reqenv(name) ?? '';
    }
  }
}
