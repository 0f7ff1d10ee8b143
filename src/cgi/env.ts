/**
 * The CGI environment of one request: a location's params compiled once (`compileParams`),
 * evaluated per request with the client's headers appended (`buildEnv`), following nginx's
 * ngx_http_fastcgi_create_request / ngx_http_scgi_create_request (semantics.md B.1), with the
 * header rules of httpd's ap_add_common_vars where nginx is unsafe by default.
 *
 * Wire order: configured params (config order), the built-in HTTP_HOST, client headers.
 *
 * Where Portico differs from nginx, on purpose:
 * - `Proxy` is never exported as HTTP_PROXY (httpoxy, CVE-2016-5385 and siblings, E1); only an
 *   explicit `HTTP_PROXY` param can set that name.
 * - Content-Type / Content-Length reach the backend only as CONTENT_TYPE / CONTENT_LENGTH
 *   (params), never as HTTP_CONTENT_* (httpd rule): two sources for one fact invite
 *   disagreement about the body's framing.
 * - Transfer-Encoding is not passed: Portico re-frames the body (CONTENT_LENGTH / FastCGI
 *   STDIN records), so the client's framing means nothing to the backend (nginx passes
 *   HTTP_TRANSFER_ENCODING: chunked even though it de-chunked the body).
 * - Hop-by-hop headers are not passed (RFC 9110 7.6.1): Connection, Keep-Alive, TE, Trailer,
 *   Upgrade, Proxy-Connection, and every header the client's Connection header names. They
 *   describe the client's connection to Portico, which ends here; the backend connection is
 *   Portico's own (nginx passes them all, e.g. HTTP_CONNECTION: close). Params are not
 *   headers: `Connection: Host` leaves the built-in HTTP_HOST alone.
 * - Header names with any byte outside [A-Za-z0-9-] are dropped (httpd's http2env; nginx
 *   drops `_` names at parse time by default): `X_Forwarded_For` cannot pose as
 *   `X-Forwarded-For`, and no client byte can shape a param name (E14).
 * - A param name configured twice is sent once: the last definition takes the first one's
 *   place (nginx sends both and PHP keeps the last; SCGI forbids duplicates outright).
 */

import type { Param } from '../protocol/params.ts';
import { configError, type IssueLocation } from './path.ts';
import { checkTemplate, type Template, type VariableContext } from './variables.ts';

/** One `*_param NAME VALUE [if_not_empty]` line. */
export interface ParamSpec {
  readonly name: string;
  /** A template (`$document_root$fastcgi_script_name`); '' is the empty literal. */
  readonly value: string;
  readonly ifNotEmpty?: boolean;
}

export interface CompileParamsOptions {
  /** nginx `*_pass_request_headers` (default on): client headers as HTTP_*. */
  readonly passRequestHeaders?: boolean;
  /**
   * nginx's built-in `HTTP_HOST` = `$host$is_request_port$request_port` (1.29.5+), added
   * `if_not_empty` unless a param of that name exists (default on). Off for httpd routes,
   * which pass the client's Host header as it came.
   */
  readonly builtinHost?: boolean;
  /** Pass Authorization / Proxy-Authorization as HTTP_* (nginx: yes; httpd: CGIPassAuth). */
  readonly passAuthorization?: boolean;
  /** Where the params were configured, for ConfigError issues. */
  readonly where?: IssueLocation;
}

interface CompiledParam {
  readonly name: string;
  readonly template: Template;
  readonly ifNotEmpty: boolean;
  /**
   * The pair itself when its value depends on no request (SCGI=1, GATEWAY_INTERFACE,
   * SERVER_SOFTWARE, REDIRECT_STATUS in the stock sets): built and frozen once, then shared by
   * every env of the location (a Param is read-only), so a request spends nothing on it.
   */
  readonly fixed: Param | undefined;
}

function compiledParam(name: string, template: Template, ifNotEmpty: boolean): CompiledParam {
  const constant = template.constant;
  const sent = constant !== undefined && !(constant === '' && ifNotEmpty);
  const fixed: Param | undefined = sent ? Object.freeze([name, constant] as const) : undefined;
  return { name, template, ifNotEmpty, fixed };
}

export interface CompiledParams {
  readonly entries: readonly CompiledParam[];
  readonly passRequestHeaders: boolean;
  /** HTTP_* names of client headers that are never passed for this location. */
  readonly hiddenHeaders: ReadonlySet<string>;
}

/** Client headers never passed as HTTP_* (see the module comment). */
const ALWAYS_HIDDEN = [
  'HTTP_PROXY',
  'HTTP_CONTENT_TYPE',
  'HTTP_CONTENT_LENGTH',
  'HTTP_TRANSFER_ENCODING',
  // Hop-by-hop (RFC 9110 7.6.1; Trailer and Proxy-Connection as RFC 2616 13.5.1 and
  // common practice list them).
  'HTTP_CONNECTION',
  'HTTP_KEEP_ALIVE',
  'HTTP_TE',
  'HTTP_TRAILER',
  'HTTP_UPGRADE',
  'HTTP_PROXY_CONNECTION',
];
const AUTH_HEADERS = ['HTTP_AUTHORIZATION', 'HTTP_PROXY_AUTHORIZATION'];

const BUILTIN_HOST = checkTemplate('$host$is_request_port$request_port').template!;

/** A param name must be something an environment can hold: no `=`, no control bytes. */
function nameProblem(name: string): string | undefined {
  if (name === '') return 'param name is empty';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c === 0x3d || c >= 0x7f)
      return `param name ${JSON.stringify(name)} has a byte not allowed in a name`;
  }
  return undefined;
}

/**
 * Compile a location's params once. Throws one ConfigError listing every bad name and every
 * unknown variable. nginx's `HTTP_*` rule: a param named `HTTP_` + something hides the client
 * header of that name (compared case-insensitively, `-` as `_`), and when its value is the
 * empty literal it is not sent either — `HTTP_PROXY ""` is nginx's httpoxy mitigation.
 */
export function compileParams(
  list: readonly ParamSpec[],
  options: CompileParamsOptions = {},
): CompiledParams {
  const messages: string[] = [];
  const entries: CompiledParam[] = [];
  const slot = new Map<string, number>();
  const hidden = new Set<string>(ALWAYS_HIDDEN);
  if (options.passAuthorization === false) for (const n of AUTH_HEADERS) hidden.add(n);
  const emptyLiteralHttp = new Set<string>();
  for (const spec of list) {
    const problem = nameProblem(spec.name);
    if (problem !== undefined) messages.push(problem);
    const { template, problems } = checkTemplate(spec.value);
    for (const p of problems) messages.push(`param ${spec.name}: ${p.message}`);
    if (template === undefined || problem !== undefined) continue;
    const entry = compiledParam(spec.name, template, spec.ifNotEmpty === true);
    const at = slot.get(spec.name);
    if (at === undefined) {
      slot.set(spec.name, entries.length);
      entries.push(entry);
    } else {
      entries[at] = entry;
    }
    // ngx_http_fastcgi_init_params: the prefix test is case-sensitive, the header match is not.
    if (spec.name.length > 5 && spec.name.startsWith('HTTP_')) {
      hidden.add(spec.name.toUpperCase());
      if (spec.value === '') emptyLiteralHttp.add(spec.name);
      else emptyLiteralHttp.delete(spec.name);
    }
  }
  if (messages.length > 0) throw configError(messages.join('; '), options.where);
  const kept = emptyLiteralHttp.size === 0 ? entries : entries.filter((e) => !emptyLiteralHttp.has(e.name));
  if (options.builtinHost !== false && ![...slot.keys()].some((n) => n.toUpperCase() === 'HTTP_HOST')) {
    kept.push(compiledParam('HTTP_HOST', BUILTIN_HOST, true));
    hidden.add('HTTP_HOST');
  }
  return Object.freeze({
    entries: Object.freeze(kept),
    passRequestHeaders: options.passRequestHeaders !== false,
    hiddenHeaders: hidden,
  });
}

// ---------------------------------------------------------------------------------------------
// Header names -> HTTP_* names

const NAME_CACHE_LIMIT = 4096;
/** Up to this many distinct headers, repeats are found by scanning; past it, by a Map. */
const SCAN_LIMIT = 24;
/** Raw header name (as the client spelled it) -> HTTP_* name, or null when it is never passed. */
const nameCache = new Map<string, string | null>();

/**
 * `HTTP_` + the name upper-cased with `-` as `_` (RFC 3875 4.1.18), or null for a name with a
 * byte outside [A-Za-z0-9-] (E14). Cached: clients repeat the same few spellings; the cache
 * stops growing at its limit so random names cannot make it unbounded.
 */
export function headerEnvName(name: string): string | null {
  const cached = nameCache.get(name);
  if (cached !== undefined) return cached;
  let valid = name.length > 0;
  for (let i = 0; valid && i < name.length; i++) {
    const c = name.charCodeAt(i);
    valid = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d;
  }
  const env = valid ? `HTTP_${name.toUpperCase().replaceAll('-', '_')}` : null;
  if (nameCache.size < NAME_CACHE_LIMIT) nameCache.set(name, env);
  return env;
}

/** Connection values longer than this are parsed every time rather than cached. */
const CONNECTION_CACHE_VALUE_LIMIT = 64;
const CONNECTION_CACHE_LIMIT = 1024;
const NO_NAMES: readonly string[] = Object.freeze([]);
/** Connection header value -> the HTTP_* names it lists. Clients send a handful of values. */
const connectionCache = new Map<string, readonly string[]>();

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * The HTTP_* names of the fields a Connection header value lists (RFC 9110 7.6.1: a comma
 * list of connection options; a field of the same name is meant for this hop only and is
 * removed by whoever ends the hop). Tokens that are no valid field name are skipped: no header
 * of such a name is ever passed. `close` lists a field named Close (reserved, RFC 9110 18.4).
 */
export function connectionOptionNames(value: string): readonly string[] {
  const cached = connectionCache.get(value);
  if (cached !== undefined) return cached;
  let names: string[] | undefined;
  let at = 0;
  while (at <= value.length) {
    let end = value.indexOf(',', at);
    if (end === -1) end = value.length;
    let s = at;
    let e = end;
    while (s < e && isOws(value.charCodeAt(s))) s++;
    while (e > s && isOws(value.charCodeAt(e - 1))) e--;
    if (e > s) {
      const env = headerEnvName(value.slice(s, e));
      if (env !== null && names?.includes(env) !== true) (names ??= []).push(env);
    }
    at = end + 1;
  }
  const out = names === undefined ? NO_NAMES : Object.freeze(names);
  if (value.length <= CONNECTION_CACHE_VALUE_LIMIT && connectionCache.size < CONNECTION_CACHE_LIMIT)
    connectionCache.set(value, out);
  return out;
}

/**
 * The environment of one request, in wire order. Params with `if_not_empty` that evaluate to
 * '' are left out; other empty values are sent (CONTENT_TYPE '' on a GET, as nginx). Client
 * headers with the same name are merged at the first one's place, joined with `, ` (`; ` for
 * Cookie, RFC 9110 5.3 / RFC 6265 5.4), as nginx 1.23+. Hop-by-hop headers, and those the
 * Connection header names, are not passed.
 * Throws ClientRequestError 400 when `$host` is needed and the Host is invalid.
 */
export function buildEnv(compiled: CompiledParams, ctx: VariableContext): Param[] {
  const out: Param[] = [];
  const entries = compiled.entries;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.fixed !== undefined) {
      out.push(e.fixed);
      continue;
    }
    const value = e.template.evaluate(ctx);
    if (value === '' && e.ifNotEmpty) continue;
    out.push([e.name, value]);
  }
  if (!compiled.passRequestHeaders) return out;
  const headers = ctx.facts.headers;
  const hidden = compiled.hiddenHeaders;
  const first = out.length;
  // Names the Connection headers list, gathered in the same pass (Connection itself is always
  // hidden) and applied at the end: a listed field may come before or after its Connection
  // header. `Connection: keep-alive` or `close` name nothing that is ever passed.
  let listed = NO_NAMES;
  // Repeats are found by a scan of the headers already out while they are few (names are
  // interned by the cache, so comparisons are cheap), by a Map past that.
  let seen: Map<string, number> | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const env = headerEnvName(headers[i]!);
    if (env === null) continue;
    if (env === 'HTTP_CONNECTION') {
      const names = connectionOptionNames(headers[i + 1]!);
      if (names.length > 0) listed = listed.length === 0 ? names : [...listed, ...names];
      continue;
    }
    if (hidden.has(env)) continue;
    const value = headers[i + 1]!;
    let at = -1;
    if (seen !== undefined) {
      at = seen.get(env) ?? -1;
    } else {
      for (let j = first; j < out.length; j++) {
        if (out[j]![0] === env) {
          at = j;
          break;
        }
      }
      if (out.length - first >= SCAN_LIMIT) {
        seen = new Map();
        for (let j = first; j < out.length; j++) if (!seen.has(out[j]![0])) seen.set(out[j]![0], j);
      }
    }
    if (at === -1) {
      seen?.set(env, out.length);
      out.push([env, value]);
    } else {
      out[at] = [env, out[at]![1] + (env === 'HTTP_COOKIE' ? '; ' : ', ') + value];
    }
  }
  if (listed.length > 0 && listed.some((name) => !hidden.has(name))) {
    // Params (before `first`) are not headers: `Connection: Host` leaves HTTP_HOST alone.
    let w = first;
    for (let r = first; r < out.length; r++) {
      const pair = out[r]!;
      if (!listed.includes(pair[0])) out[w++] = pair;
    }
    out.length = w;
  }
  return out;
}
