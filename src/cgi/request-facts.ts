/**
 * What one HTTP request contributes to the CGI environment, computed once per request by the
 * HTTP front and read (never changed) by `variables.ts` and `env.ts`. Everything is a string in
 * the form it goes on the wire: latin1 strings of raw bytes, ports already formatted, so the
 * per-request env build does no conversions.
 */

import { decodeRequestPath, splitRequestTarget } from './path.ts';

export interface RequestFacts {
  /** `GET`, `POST`, ... as sent. */
  readonly method: string;
  /** The request-target exactly as sent, e.g. `/a%20b?x=1` (absolute-form kept as sent). */
  readonly rawTarget: string;
  /** Decoded, normalised path (`decodeRequestPath`): nginx `$uri` before any rewrite. */
  readonly path: string;
  /** The query string without `?`, raw (not decoded); '' when none. */
  readonly args: string;
  /** `http` or `https`. */
  readonly scheme: string;
  /** The client connection is TLS. */
  readonly https: boolean;
  /** The Host header (or HTTP/2 `:authority`) value as sent; '' when absent. */
  readonly host: string;
  /** The configured server name (nginx: first `server_name` of the server block). */
  readonly serverName: string;
  /** Local socket address and port the request arrived on (`$server_addr`, `$server_port`). */
  readonly serverAddr: string;
  readonly serverPort: string;
  /** Peer address (IPv6 without brackets, as node reports it) and port; port '' on unix sockets. */
  readonly remoteAddr: string;
  readonly remotePort: string;
  /** `HTTP/1.1`, `HTTP/1.0`, `HTTP/2.0`. */
  readonly serverProtocol: string;
  /** node:http `rawHeaders`: a flat [name, value, name, value, ...] array in arrival order. */
  readonly headers: readonly string[];
  /**
   * CONTENT_LENGTH: the announced length, or the total after spooling a chunked body, or ''
   * when the request has no body framing at all (nginx `$content_length`).
   */
  readonly contentLength: string;
  /** The Content-Type header value; '' when absent. */
  readonly contentType: string;
  /** `root` of the matched location (a location context may override it). */
  readonly documentRoot: string;
  /**
   * A prefix location's nginx `alias`: `$request_filename` is `text` + `$uri` after `prefix`
   * (ngx_http_map_uri_to_path), not `$document_root$uri`. Undefined for `root`.
   */
  readonly alias?: { readonly text: string; readonly prefix: string } | undefined;
  /** `$request_id`: unique per request. */
  readonly requestId: string;
  /** The machine's host name (`$hostname`). */
  readonly hostname: string;
  /**
   * Regex captures of the matched location, indexed as a `RegExpExecArray` is: `[0]` the whole
   * match, `[1]`..`[9]` are `$1`..`$9`; missing or undefined entries read as ''.
   */
  readonly captures: readonly (string | undefined)[];
}

/**
 * A RequestFacts for tests and benchmarks: a plain `GET / HTTP/1.1` from 127.0.0.1 with
 * `Host: localhost`, overridden field by field. When `rawTarget` is given and `path`/`args` are
 * not, they are derived from it the way the HTTP front does.
 */
export function makeRequestFacts(overrides: Partial<RequestFacts> = {}): RequestFacts {
  const rawTarget = overrides.rawTarget ?? '/';
  const split = splitRequestTarget(rawTarget);
  const headers = overrides.headers ?? ['Host', overrides.host ?? 'localhost'];
  return {
    method: 'GET',
    rawTarget,
    path: overrides.path ?? decodeRequestPath(split.rawPath),
    args: split.args,
    scheme: overrides.https === true ? 'https' : 'http',
    https: false,
    host: hostFromHeaders(headers),
    serverName: 'localhost',
    serverAddr: '127.0.0.1',
    serverPort: '80',
    remoteAddr: '127.0.0.1',
    remotePort: '40000',
    serverProtocol: 'HTTP/1.1',
    headers,
    contentLength: '',
    contentType: headerValue(headers, 'content-type'),
    documentRoot: '/var/www',
    requestId: '0123456789abcdef0123456789abcdef',
    hostname: 'portico-test',
    captures: [],
    ...overrides,
  };
}

function hostFromHeaders(headers: readonly string[]): string {
  return headerValue(headers, 'host');
}

function headerValue(headers: readonly string[], lowerName: string): string {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === lowerName) return headers[i + 1]!;
  }
  return '';
}
