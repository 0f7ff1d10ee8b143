/**
 * nginx `location` matching (ngx_http_core_find_location / _find_static_location), on the
 * decoded, normalised request path (a latin1 string of raw bytes, docs/internals.md).
 *
 *   match: "= /exact"    exact             match: "^~ /static/"  prefix that stops the regexes
 *   match: "/prefix/"    prefix            match: "~ \\.php$"    regex, case-sensitive
 *   match: "@fallback"   named (only by name, never by path)
 *                                          match: "~* \\.(gif|jpg)$"  regex, case-insensitive
 *
 * Order, as nginx:
 *   1. an exact location equal to the path wins at once;
 *   2. the path ends one `/` short of a location name ending in `/` whose `autoRedirect` is set
 *      (nginx sets it where `*_pass` sits, C.1.10), and no exact or prefix location equals the
 *      path: that location answers with a 301 to the slashed URI (`redirectSlashless`), and the
 *      regexes are not tried (NGX_DONE returns before them);
 *   3. the longest matching prefix (plain or `^~`) is remembered; if it is `^~`, it is used;
 *   4. the regexes, in configuration order: the first that matches is used ($0, $1.. captured);
 *   5. otherwise the remembered prefix, or no location.
 * An `internal` location is matched like any other, but an external request that lands on it
 * gets `undefined` (nginx answers 404; it does not fall through to another location, so an
 * internal-only area never leaks through a broader prefix).
 *
 * Prefixes live in a radix tree of their names, so a request walks its path once, whatever the
 * number of locations (nginx builds a per-level binary tree with an inclusive subtree per node,
 * ngx_http_create_locations_tree; the radix tree gives the same answers). Regexes are compiled
 * once; results of exact and prefix matches are built at compile time, so they cost nothing
 * per request. Not supported: nested locations (the list is flat) and case-insensitive
 * prefixes (nginx does that only on case-insensitive file systems).
 *
 * Regexes are PCRE in nginx; here they run as JavaScript RegExps without the `u` flag, so they
 * see bytes, like PCRE without UTF mode. Non-ASCII text in a pattern or a prefix is turned into
 * its UTF-8 bytes so it compares with the raw path bytes. `(?P<name>` and a leading `(?i)` are
 * translated; other PCRE-only syntax (possessive quantifiers, \A, \z) is a config error.
 * `~*` folds case as JavaScript's `i` flag does, which also folds Latin-1 letters (PCRE's C
 * locale folds ASCII only).
 */
import { ConfigError, type ConfigIssue } from '../errors.ts';

export type LocationModifier = '=' | '' | '^~' | '~' | '~*' | '@';

export interface LocationSpec {
  /** nginx's `location` arguments: `[= | ^~ | ~ | ~*] uri` or `@name`. */
  readonly match: string;
  /** nginx `internal`: reachable only by internal redirects (X-Accel-Redirect, error pages...). */
  readonly internal?: boolean | undefined;
  /** Set by the config compiler where the location has `scgi.pass` / `fastcgi.pass` (C.1.10). */
  readonly autoRedirect?: boolean | undefined;
}

export interface LocationMatch<T> {
  readonly location: T;
  /** Position of the location in the configured list. */
  readonly index: number;
  readonly modifier: LocationModifier;
  /** The prefix or the regex as configured. */
  readonly name: string;
  /** `$0`, `$1`, ... of a regex location (unmatched groups are ''); empty for the others. */
  readonly captures: readonly string[];
  /** Named groups of a regex location, if it has any. */
  readonly groups: Readonly<Record<string, string>> | undefined;
  /** Answer 301 with `slashRedirectLocation(match, args)` instead of serving the request. */
  readonly redirectSlashless: boolean;
}

export interface MatchOptions {
  /** True for internal redirects: `internal` locations may then be used. */
  readonly internal?: boolean;
}

export interface LocationMatcher<T> {
  match(path: string, options?: MatchOptions): LocationMatch<T> | undefined;
  /** A named location (`@name`), for internal redirects by name. */
  named(name: string): T | undefined;
  readonly size: number;
}

export interface CompileLocationsOptions {
  /** Where the `match` of location `index` was written, for config issues. */
  readonly locate?: (index: number) => Omit<ConfigIssue, 'message'>;
}

interface Entry<T> {
  readonly spec: T;
  readonly index: number;
  readonly modifier: LocationModifier;
  readonly name: string;
  readonly internal: boolean;
  readonly autoRedirect: boolean;
  readonly result: LocationMatch<T>;
  readonly redirectResult: LocationMatch<T>;
}

interface RegexEntry<T> {
  readonly entry: Entry<T>;
  readonly regex: RegExp;
}

class Node<T> {
  label: string;
  children: Map<number, Node<T>> | undefined = undefined;
  exact: Entry<T> | undefined = undefined;
  inclusive: Entry<T> | undefined = undefined;
  /** The location that redirects `name-without-slash` here (nginx node->auto_redirect). */
  redirect: Entry<T> | undefined = undefined;
  constructor(label: string) {
    this.label = label;
  }
}

const SLASH = 0x2f;
const MODIFIER = /^(=|\^~|~\*|~)\s+([\s\S]*)$/;

/** Compiles the location list once; throws `ConfigError` with every issue found. */
export function compileLocations<T extends LocationSpec>(
  list: readonly T[],
  options?: CompileLocationsOptions,
): LocationMatcher<T> {
  const locate =
    options?.locate ??
    ((i: number) => ({ file: '<config>', line: 0, column: 0, path: `locations[${i}].match` }));
  const issues: ConfigIssue[] = [];
  const root = new Node<T>('');
  const regexes: RegexEntry<T>[] = [];
  const named = new Map<string, T>();

  const add = (spec: T, index: number): string | undefined => {
    const parsed = parseMatch(spec.match);
    if (typeof parsed === 'string') return parsed;
    const { modifier, name } = parsed;
    if (modifier === '@') {
      if (named.has(name)) return `duplicate location "${name}"`;
      named.set(name, spec);
      return undefined;
    }
    const regex = modifier === '~' || modifier === '~*';
    const base = {
      spec,
      index,
      modifier,
      name,
      internal: spec.internal === true,
      autoRedirect: !regex && spec.autoRedirect === true && name.endsWith('/'),
    };
    const entry: Entry<T> = {
      ...base,
      result: freezeResult(base, false),
      redirectResult: freezeResult(base, true),
    };
    if (regex) {
      const compiled = compileConfigRegex(name, modifier === '~*');
      if (typeof compiled === 'string') return compiled;
      regexes.push({ entry, regex: compiled });
      return undefined;
    }
    const node = insert(root, toBytes(name));
    if (modifier === '=') {
      if (node.exact !== undefined) return `duplicate location "= ${name}"`;
      node.exact = entry;
    } else {
      if (node.inclusive !== undefined) return `duplicate location "${name}"`;
      node.inclusive = entry;
    }
    // nginx: node->auto_redirect is set if either location sets it; the exact one answers.
    if (node.exact?.autoRedirect || node.inclusive?.autoRedirect) {
      node.redirect = node.exact ?? node.inclusive;
    }
    return undefined;
  };
  for (let index = 0; index < list.length; index++) {
    const message = add(list[index]!, index);
    if (message !== undefined) issues.push({ ...locate(index), message });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const gate = (
    entry: Entry<T>,
    result: LocationMatch<T>,
    internal: boolean,
  ): LocationMatch<T> | undefined => (entry.internal && !internal ? undefined : result);

  return {
    size: list.length,
    named: (name) => named.get(name),
    match(path, matchOptions) {
      const internal = matchOptions?.internal === true;
      const len = path.length;
      let node = root;
      let pos = 0;
      let best: Entry<T> | undefined;
      let redirect: Entry<T> | undefined;
      for (;;) {
        if (pos === len) {
          if (node.exact !== undefined) return gate(node.exact, node.exact.result, internal);
          if (node.inclusive === undefined) {
            const next = node.children?.get(SLASH);
            if (next !== undefined && next.label.length === 1) redirect = next.redirect;
          }
          break;
        }
        const child = node.children?.get(path.charCodeAt(pos));
        if (child === undefined) break;
        const label = child.label;
        if (path.startsWith(label, pos)) {
          pos += label.length;
          node = child;
          if (child.inclusive !== undefined) best = child.inclusive;
          continue;
        }
        // The path may end one byte before the end of this edge: `/app` against `/app/`.
        if (
          label.length === len - pos + 1 &&
          label.charCodeAt(label.length - 1) === SLASH &&
          sameRun(path, pos, label)
        ) {
          redirect = child.redirect;
        }
        break;
      }
      if (redirect !== undefined) return gate(redirect, redirect.redirectResult, internal);
      if (best !== undefined && best.modifier === '^~') return gate(best, best.result, internal);
      for (let i = 0; i < regexes.length; i++) {
        const r = regexes[i]!;
        const m = r.regex.exec(path);
        if (m !== null) return gate(r.entry, regexResult(r.entry, m), internal);
      }
      return best === undefined ? undefined : gate(best, best.result, internal);
    },
  };
}

/**
 * The `Location` of nginx's slash redirect: the location name, escaped as ngx_escape_uri
 * (NGX_ESCAPE_URI) does, then `?args` when the request had a query. Relative, as nginx stores
 * it; making it absolute (absolute_redirect) is the response writer's job.
 */
export function slashRedirectLocation(match: LocationMatch<unknown>, args: string): string {
  const escaped = escapeUri(toBytes(match.name));
  return args === '' ? escaped : `${escaped}?${args}`;
}

/**
 * Compiles an nginx / Apache (PCRE) pattern for byte strings; returns the error text on failure.
 * Shared with proxy-pass.ts (ProxyPassMatch).
 */
export function compileConfigRegex(source: string, caseless: boolean): RegExp | string {
  let text = source;
  if (text.startsWith('(?i)')) {
    caseless = true;
    text = text.slice(4);
  }
  try {
    return new RegExp(toBytes(translatePcre(text)), caseless ? 'i' : '');
  } catch (err) {
    return `invalid regular expression "${source}": ${(err as Error).message}`;
  }
}

function parseMatch(text: string): { modifier: LocationModifier; name: string } | string {
  let modifier: LocationModifier;
  let name: string;
  const m = MODIFIER.exec(text);
  if (m !== null) {
    modifier = m[1] as LocationModifier;
    name = m[2]!;
  } else if (text.startsWith('@')) {
    if (text.length === 1 || /\s/.test(text)) return `invalid named location "${text}"`;
    return { modifier: '@', name: text };
  } else if (text.startsWith('=')) {
    modifier = '=';
    name = text.slice(1);
  } else if (text.startsWith('^~')) {
    modifier = '^~';
    name = text.slice(2);
  } else if (text.startsWith('~*')) {
    modifier = '~*';
    name = text.slice(2);
  } else if (text.startsWith('~')) {
    modifier = '~';
    name = text.slice(1);
  } else {
    modifier = '';
    name = text;
  }
  if (name === '')
    return `location "${text}" has no ${modifier === '~' || modifier === '~*' ? 'regex' : 'path'}`;
  if ((modifier === '' || modifier === '=' || modifier === '^~') && !name.startsWith('/')) {
    return `location path "${name}" must start with "/"`;
  }
  return { modifier, name };
}

function insert<T>(root: Node<T>, key: string): Node<T> {
  let node = root;
  let pos = 0;
  while (pos < key.length) {
    const c = key.charCodeAt(pos);
    const children = (node.children ??= new Map());
    const child = children.get(c);
    if (child === undefined) {
      const leaf = new Node<T>(key.slice(pos));
      children.set(c, leaf);
      return leaf;
    }
    const label = child.label;
    const max = Math.min(label.length, key.length - pos);
    let i = 1;
    while (i < max && label.charCodeAt(i) === key.charCodeAt(pos + i)) i++;
    if (i < label.length) {
      // Split the edge: parent -> mid(label[0..i)) -> child(label[i..]).
      const mid = new Node<T>(label.slice(0, i));
      child.label = label.slice(i);
      mid.children = new Map([[child.label.charCodeAt(0), child]]);
      children.set(c, mid);
      node = mid;
    } else {
      node = child;
    }
    pos += i;
  }
  return node;
}

/** path[pos..] equals label without its last byte (the caller checked the lengths). */
function sameRun(path: string, pos: number, label: string): boolean {
  for (let i = 0; pos + i < path.length; i++) {
    if (path.charCodeAt(pos + i) !== label.charCodeAt(i)) return false;
  }
  return true;
}

function freezeResult<T>(
  e: { spec: T; index: number; modifier: LocationModifier; name: string },
  redirectSlashless: boolean,
): LocationMatch<T> {
  return Object.freeze({
    location: e.spec,
    index: e.index,
    modifier: e.modifier,
    name: e.name,
    captures: Object.freeze([]) as readonly string[],
    groups: undefined,
    redirectSlashless,
  });
}

function regexResult<T>(entry: Entry<T>, m: RegExpExecArray): LocationMatch<T> {
  const captures = new Array<string>(m.length);
  for (let i = 0; i < m.length; i++) captures[i] = m[i] ?? '';
  let groups: Record<string, string> | undefined;
  if (m.groups !== undefined) {
    groups = {};
    for (const k of Object.keys(m.groups)) groups[k] = m.groups[k] ?? '';
  }
  return {
    location: entry.spec,
    index: entry.index,
    modifier: entry.modifier,
    name: entry.name,
    captures,
    groups,
    redirectSlashless: false,
  };
}

/** UTF-16 config text -> latin1 string of its UTF-8 bytes, the form request paths take. */
function toBytes(text: string): string {
  return /^[\x00-\x7f]*$/.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}

/** PCRE's `(?P<name>` / `(?P=name)` -> JavaScript's `(?<name>` / `\k<name>`, outside classes. */
function translatePcre(source: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      out += source.slice(i, i + 2);
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
      if (source[i + 1] === '^') out += source[++i];
      if (source[i + 1] === ']') out += source[++i];
    } else if (source.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else if (source.startsWith('(?P=', i)) {
      const end = source.indexOf(')', i);
      if (end < 0) return source;
      out += `\\k<${source.slice(i + 4, end)}>`;
      i = end;
    } else {
      out += c;
    }
  }
  return out;
}

// ngx_escape_uri NGX_ESCAPE_URI: controls, space, " # % < > ? \ ^ ` { | } DEL and bytes >= 0x80.
const ESCAPE = new Uint8Array(256);
for (let c = 0; c < 256; c++)
  ESCAPE[c] = c <= 0x20 || c >= 0x7f || '"#%<>?\\^`{|}'.includes(String.fromCharCode(c)) ? 1 : 0;
const HEX = '0123456789ABCDEF';

function escapeUri(bytes: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i) & 0xff;
    if (ESCAPE[c] === 1) {
      out += `${bytes.slice(from, i)}%${HEX[c >> 4]}${HEX[c & 15]}`;
      from = i + 1;
    }
  }
  return from === 0 ? bytes : out + bytes.slice(from);
}
