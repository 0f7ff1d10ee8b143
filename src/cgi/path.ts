/**
 * The request path, decoded and normalised exactly once, and the ways nginx and httpd cut it
 * into SCRIPT_NAME / PATH_INFO. Pure: the only outside input is an optional file check.
 *
 * Every string here is a latin1 string of raw bytes (one char = one byte), as node:http hands
 * the request-target over and as the param encoders write it.
 */

import { ClientRequestError, ConfigError, type ConfigIssue, GatewayError } from '../errors.ts';

export const PATH_NOT_ABSOLUTE = 'ERR_PATH_NOT_ABSOLUTE';
export const PATH_BAD_ESCAPE = 'ERR_PATH_BAD_ESCAPE';
export const PATH_BAD_BYTE = 'ERR_PATH_BAD_BYTE';
export const PATH_ABOVE_ROOT = 'ERR_PATH_ABOVE_ROOT';
export const PATH_INFO_UNSAFE = 'ERR_PATH_INFO_UNSAFE';

/** Where a config value came from, for `ConfigError` issues (the config compiler fills it). */
export type IssueLocation = Partial<Omit<ConfigIssue, 'message'>>;

export function configError(message: string, where: IssueLocation = {}): ConfigError {
  return new ConfigError([
    {
      file: where.file ?? '<config>',
      line: where.line ?? 0,
      column: where.column ?? 0,
      path: where.path ?? '',
      message,
    },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Request-target

export interface RequestTarget {
  /** The path part, still percent-encoded (input of `decodeRequestPath`). */
  readonly rawPath: string;
  /** The query without `?`, raw. */
  readonly args: string;
  /** `host[:port]` of an absolute-form target; '' for origin-form. */
  readonly authority: string;
  /** nginx `$request_uri`: the target from the path on, as sent (absolute-form loses scheme://authority). */
  readonly requestUri: string;
}

/**
 * Split a request-target (RFC 9112 3.2) into path, query and authority. Absolute-form follows
 * nginx's parser: `http://h` has the path `/`, and `http://h?x` gives `$request_uri` = `?x`.
 */
export function splitRequestTarget(target: string): RequestTarget {
  let authority = '';
  let from = 0;
  let absolute = false;
  if (target.charCodeAt(0) !== 0x2f) {
    const sep = target.indexOf('://');
    if (sep > 0 && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(target.slice(0, sep))) {
      const start = sep + 3;
      let end = start;
      while (end < target.length) {
        const c = target.charCodeAt(end);
        if (c === 0x2f || c === 0x3f) break;
        end++;
      }
      authority = target.slice(start, end);
      from = end;
      absolute = true;
    }
  }
  const requestUri = absolute && from === target.length ? '/' : target.slice(from);
  const q = requestUri.indexOf('?');
  const rawPath = q === -1 ? requestUri : q === 0 ? '/' : requestUri.slice(0, q);
  return { rawPath, args: q === -1 ? '' : requestUri.slice(q + 1), authority, requestUri };
}

// ---------------------------------------------------------------------------------------------
// Decoding and normalisation

let scratch = Buffer.allocUnsafe(1024);

function badPath(code: string, message: string, raw: string): ClientRequestError {
  return new ClientRequestError(code, `${message}: ${JSON.stringify(raw.slice(0, 200))}`, 400);
}

/** Value of a hex digit, or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/**
 * Percent-decode `rawPath` once and normalise it the way nginx builds `$uri`
 * (ngx_http_parse_complex_uri): `//` merged, `.` and `..` segments resolved, a trailing slash
 * kept. Decoded bytes take part in normalisation, so `%2F` is a separator and `%2e%2e` a `..`
 * segment, exactly as in nginx; a literal `%` from `%25` is never decoded again.
 *
 * Rejected with a 400 `ClientRequestError` (stricter than nginx, on purpose):
 * - a path not starting with `/`;
 * - a `%` not followed by two hex digits;
 * - any control byte (0x00-0x1F, 0x7F), raw or decoded: a decoded LF is what lets
 *   `%0a` defeat `fastcgi_split_path_info` in CVE-2019-11043; NUL/CR split the env or headers
 *   (CVE-2013-4547 class). nginx refuses only `%00`;
 * - a raw space or `#` (they cannot occur in a request-target), or a char above 0xFF;
 * - a `..` that would climb above `/` (nginx answers 400 too).
 */
export function decodeRequestPath(rawPath: string): string {
  const n = rawPath.length;
  if (n === 0 || rawPath.charCodeAt(0) !== 0x2f) {
    throw badPath(PATH_NOT_ABSOLUTE, 'request path does not start with "/"', rawPath);
  }
  // Fast path: nothing to decode or normalise, the input is the answer.
  let i = 0;
  for (; i < n; i++) {
    const c = rawPath.charCodeAt(i);
    if (c === 0x25 || c <= 0x20 || c === 0x23 || c === 0x7f || c > 0xff) break;
    if (c === 0x2f) {
      const d = rawPath.charCodeAt(i + 1);
      if (d === 0x2f || d === 0x2e) break;
    }
  }
  if (i === n) return rawPath;
  if (scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, scratch.length * 2));
  const out = scratch;
  let w = 0;
  for (i = 0; i < n; ) {
    let c = rawPath.charCodeAt(i++);
    if (c === 0x25) {
      const hi = hexValue(rawPath.charCodeAt(i));
      const lo = hexValue(rawPath.charCodeAt(i + 1));
      if (hi < 0 || lo < 0) throw badPath(PATH_BAD_ESCAPE, 'invalid percent-escape in request path', rawPath);
      i += 2;
      c = (hi << 4) | lo;
      if (c < 0x20 || c === 0x7f) throw badPath(PATH_BAD_BYTE, 'control byte in request path', rawPath);
    } else if (c <= 0x20 || c === 0x23 || c === 0x7f || c > 0xff) {
      throw badPath(PATH_BAD_BYTE, 'byte not allowed in request path', rawPath);
    }
    if (c === 0x2f) {
      w = closeSegment(out, w, rawPath);
      if (out[w - 1] === 0x2f) continue; // merge `//`
    }
    out[w++] = c;
  }
  w = closeSegment(out, w, rawPath);
  return out.toString('latin1', 0, w);
}

/**
 * The segment after the last `/` in out[0..w) has just ended: drop it when it is `.`, drop it
 * and its parent when it is `..`. Returns the new length (always just after a `/` when a
 * segment was dropped). out[0] is always `/`.
 */
function closeSegment(out: Buffer, w: number, raw: string): number {
  if (out[w - 1] !== 0x2e) return w;
  if (out[w - 2] === 0x2f) return w - 1;
  if (w >= 3 && out[w - 2] === 0x2e && out[w - 3] === 0x2f) {
    let j = w - 4;
    if (j < 0) throw badPath(PATH_ABOVE_ROOT, 'request path climbs above the root', raw);
    while (out[j] !== 0x2f) j--;
    return j + 1;
  }
  return w;
}

/** True when `/`-separated `s` has a `.` or `..` segment (E16: PATH_INFO must not carry one). */
export function hasDotSegment(s: string): boolean {
  let start = 0;
  for (let i = 0; i <= s.length; i++) {
    if (i === s.length || s.charCodeAt(i) === 0x2f) {
      const len = i - start;
      if (
        (len === 1 && s.charCodeAt(start) === 0x2e) ||
        (len === 2 && s.charCodeAt(start) === 0x2e && s.charCodeAt(start + 1) === 0x2e)
      ) {
        return true;
      }
      start = i + 1;
    }
  }
  return false;
}

/**
 * PATH_TRANSLATED = root + PATH_INFO (RFC 3875 4.1.6, the document-root mapping), or '' when
 * there is no PATH_INFO or it could leave the root: not starting with `/`, or a dot segment,
 * or a NUL (E16).
 */
export function translatePathInfo(root: string, pathInfo: string): string {
  if (
    pathInfo === '' ||
    pathInfo.charCodeAt(0) !== 0x2f ||
    hasDotSegment(pathInfo) ||
    pathInfo.includes('\0')
  ) {
    return '';
  }
  const base = root.endsWith('/') ? root.slice(0, -1) : root;
  return base + pathInfo;
}

// ---------------------------------------------------------------------------------------------
// nginx fastcgi_split_path_info + fastcgi_index

export interface ScriptSplit {
  /** `$fastcgi_script_name`: capture 1 (or the URI), plus the index when it ends in `/`. */
  readonly scriptName: string;
  /** `$fastcgi_path_info`: capture 2, or ''. */
  readonly pathInfo: string;
}

/** Count the capture groups of a compiled regex (matching the empty alternative always works). */
function captureCount(re: RegExp): number {
  return new RegExp(`${re.source}|`, re.flags.replace(/[gy]/g, '')).exec('')!.length - 1;
}

/**
 * Compile a `fastcgi_split_path_info` regex once. Like nginx it must have exactly two
 * captures (script name, path info). JavaScript regex syntax; no `g`/`y` so no state is kept
 * between requests.
 */
export function compileSplitPathInfo(source: string, where?: IssueLocation): RegExp {
  let re: RegExp;
  try {
    re = new RegExp(source);
  } catch (error) {
    throw configError(
      `split_path_info: invalid regex ${JSON.stringify(source)}: ${(error as Error).message}`,
      where,
    );
  }
  const n = captureCount(re);
  if (n !== 2) {
    throw configError(
      `split_path_info: regex ${JSON.stringify(source)} must have 2 captures, has ${n}`,
      where,
    );
  }
  return re;
}

/**
 * nginx's ngx_http_fastcgi_split: no regex or no match -> script name = URI, path info = '';
 * a match -> captures 1 and 2. Then `index` is appended to a script name ending in `/`.
 * A path info with a dot segment (only possible with an odd regex: `$uri` is normalised) is
 * refused with 404 rather than handed to a backend that joins it to a root (E16).
 */
export function splitPathInfo(uri: string, regex: RegExp | undefined, index: string): ScriptSplit {
  let scriptName = uri;
  let pathInfo = '';
  if (regex !== undefined) {
    const m = regex.exec(uri);
    if (m !== null) {
      scriptName = m[1] ?? '';
      pathInfo = m[2] ?? '';
      if (hasDotSegment(pathInfo)) {
        throw new ClientRequestError(PATH_INFO_UNSAFE, 'path info has a dot segment', 404);
      }
    }
  }
  if (index !== '' && scriptName.endsWith('/')) scriptName += index;
  return { scriptName, pathInfo };
}

// ---------------------------------------------------------------------------------------------
// httpd ProxyPass: mod_proxy_fcgi / mod_proxy_scgi (semantics.md B.2, C.5, C.6)

/** The CGI path quartet httpd derives for a request. */
export interface ScriptPaths extends ScriptSplit {
  readonly scriptFilename: string;
  /** '' when not sent. */
  readonly pathTranslated: string;
}

export interface ApacheProxyRoute {
  readonly scheme: 'fcgi' | 'scgi';
  /** Backend host and port as in the ProxyPass URL (`unix:...|fcgi://localhost/` -> localhost). */
  readonly host: string;
  readonly port: number;
  /** The ProxyPass path, e.g. `/app/`. */
  readonly prefix: string;
  /** The (decoded) path of the ProxyPass URL, e.g. `/srv/` in `fcgi://h:9000/srv/`. */
  readonly backendPath: string;
  /**
   * `balancer://NAME` routes: SCRIPT_FILENAME's prefix names the group, `proxy:balancer://NAME`
   * (the form php-fpm strips as it strips `proxy:fcgi://`), since the environment is built
   * before a member is chosen; host and port are then unused.
   */
  readonly balancer?: string | undefined;
  /** ProxyFCGIBackendType (fcgi only): FPM keeps `proxy:fcgi://host:port` in SCRIPT_FILENAME. */
  readonly backendType?: 'FPM' | 'GENERIC';
  /** The value of env `proxy-fcgi-pathinfo` / `proxy-scgi-pathinfo`; undefined = not set. */
  readonly pathinfo?: string | undefined;
  readonly documentRoot: string;
}

/** Default ports, left out of `proxy:` file names as httpd does (ap_proxy_port_of_scheme). */
const DEFAULT_PORT = { fcgi: 8000, scgi: 4000 } as const;

/** Bytes ap_proxy_canonenc_ex(enc_path) leaves alone: alnum, `/` and ~$-_.+!*'(),;:@&= */
const PATH_SAFE = new Uint8Array(256);
for (const c of "~$-_.+!*'(),;:@&=/") PATH_SAFE[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) PATH_SAFE[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) PATH_SAFE[c] = PATH_SAFE[c + 0x20] = 1;
const HEX = '0123456789ABCDEF';

/** httpd's canonical percent-encoding of a decoded path (upper-case hex, `/` kept). */
export function canonEncodePath(decoded: string): string {
  let i = 0;
  while (i < decoded.length && PATH_SAFE[decoded.charCodeAt(i) & 0xff] === 1 && decoded.charCodeAt(i) < 0x100)
    i++;
  if (i === decoded.length) return decoded;
  const parts: string[] = [decoded.slice(0, i)];
  let run = i;
  for (; i < decoded.length; i++) {
    const c = decoded.charCodeAt(i) & 0xff;
    if (PATH_SAFE[c] === 1) continue;
    if (run < i) parts.push(decoded.slice(run, i));
    parts.push(`%${HEX[c >> 4]}${HEX[c & 15]}`);
    run = i + 1;
  }
  if (run < decoded.length) parts.push(decoded.slice(run));
  return parts.join('');
}

/**
 * httpd's ap_find_path_info: the length of the prefix of `uri` that precedes the longest
 * common tail with `pathInfo`, extended to the next `/`. SCRIPT_NAME = uri.slice(0, result).
 */
export function findPathInfo(uri: string, pathInfo: string): number {
  let lu = uri.length;
  let lp = pathInfo.length;
  while (lu-- > 0 && lp-- > 0 && uri.charCodeAt(lu) === pathInfo.charCodeAt(lp)) {
    if (pathInfo.charCodeAt(lp) === 0x2f) {
      while (lu > 0 && uri.charCodeAt(lu - 1) === 0x2f) lu--;
    }
  }
  if (lu < 0) lu = 0;
  while (lu < uri.length && uri.charCodeAt(lu) !== 0x2f) lu++;
  return lu;
}

/**
 * SCRIPT_NAME, PATH_INFO, SCRIPT_FILENAME and PATH_TRANSLATED as httpd sends them for a
 * ProxyPass route (no SetHandler file mapping). `path` is the decoded request path; the
 * backend path is `backendPath` + the part of `path` after `prefix`, as mod_proxy maps it.
 *
 * PATH_INFO per `proxy-fcgi-pathinfo` (mod_proxy_fcgi.c, proxy_fcgi_canon):
 * - unset: none, SCRIPT_NAME = the whole path;
 * - `first-dot` / `last-dot`: from the first `/` after the first / last `.` of the backend
 *   path, decoded (none when no `/` follows that dot);
 * - `unescape`: `/` + the backend path, decoded;
 * - `full`: the backend path is walked with `isFile` (as given, then under the document
 *   root, as httpd trunk does); at the shortest prefix that is a regular file, SCRIPT_FILENAME
 *   = that file and PATH_INFO = the rest. Without `isFile`, or when nothing is found, it is
 *   2.4.x's behaviour: no split;
 * - any other value: `/` + the backend path, still encoded (the legacy form).
 * mod_proxy_scgi knows one mode: any value of `proxy-scgi-pathinfo` is the legacy form.
 *
 * SCRIPT_FILENAME keeps httpd 2.4's quirk for first-dot / last-dot: the tail is not cut off
 * (the truncation happens after r->filename was built). FPM form:
 * `proxy:fcgi://host[:port]/<encoded path>`; GENERIC: `/<encoded path>`; SCGI: always the
 * `proxy:scgi://` form. SCRIPT_NAME is the request path minus the PATH_INFO tail
 * (ap_find_path_info). PATH_TRANSLATED = document root + PATH_INFO when that stays under the
 * root (E16), else ''. Request paths are already normalised, so no mode can produce a `..`.
 */
export function apacheProxyPaths(
  path: string,
  route: ApacheProxyRoute,
  isFile?: (filename: string) => boolean,
): ScriptPaths {
  if (!path.startsWith(route.prefix)) {
    throw new GatewayError(
      'ERR_ROUTE_PREFIX',
      `path ${JSON.stringify(path)} is outside ProxyPass ${route.prefix}`,
      'gateway',
      500,
      'none',
    );
  }
  const decoded = route.backendPath + path.slice(route.prefix.length);
  const encoded = canonEncodePath(decoded.charCodeAt(0) === 0x2f ? decoded : `/${decoded}`);
  const port = route.port === DEFAULT_PORT[route.scheme] ? '' : `:${route.port}`;
  const host = route.host.includes(':') ? `[${route.host.toLowerCase()}]` : route.host.toLowerCase();
  const generic = route.scheme === 'fcgi' && route.backendType === 'GENERIC';
  const origin =
    route.balancer === undefined
      ? `proxy:${route.scheme}://${host}${port}`
      : `proxy:balancer://${route.balancer}`;
  let scriptFilename = generic ? encoded : origin + encoded;
  let pathInfo = '';
  const mode = route.pathinfo;
  if (mode !== undefined) {
    const m = route.scheme === 'scgi' ? '' : mode.toLowerCase();
    if (m === 'first-dot' || m === 'last-dot') {
      const dot = m === 'first-dot' ? decoded.indexOf('.') : decoded.lastIndexOf('.');
      const slash = dot === -1 ? -1 : decoded.indexOf('/', dot);
      if (slash !== -1) pathInfo = decoded.slice(slash);
    } else if (m === 'unescape') {
      pathInfo = decoded.charCodeAt(0) === 0x2f ? decoded : `/${decoded}`;
    } else if (m === 'full') {
      const found = isFile === undefined ? undefined : walkForFile(decoded, route.documentRoot, isFile);
      if (found !== undefined) {
        scriptFilename = found.file;
        pathInfo = found.rest;
      }
    } else {
      pathInfo = encoded;
    }
  }
  const scriptName = pathInfo === '' ? path : path.slice(0, findPathInfo(path, pathInfo));
  return {
    scriptName,
    pathInfo,
    scriptFilename,
    pathTranslated: translatePathInfo(route.documentRoot, pathInfo),
  };
}

/** httpd trunk's `full` directory walk: the shortest prefix that is a regular file. */
function walkForFile(
  decoded: string,
  root: string,
  isFile: (filename: string) => boolean,
): { file: string; rest: string } | undefined {
  const rooted = root.endsWith('/') ? root.slice(0, -1) : root;
  for (const base of ['', rooted]) {
    const full = base + (decoded.charCodeAt(0) === 0x2f ? decoded : `/${decoded}`);
    let at = base.length + 1;
    while (at <= full.length) {
      let end = full.indexOf('/', at);
      if (end === -1) end = full.length;
      const candidate = full.slice(0, end);
      if (isFile(candidate)) return { file: candidate, rest: full.slice(end) };
      at = end + 1;
    }
    if (root === '') break;
  }
  return undefined;
}
