/**
 * Backend addresses as written in configuration, in nginx and Apache httpd forms.
 *
 *   nginx  (C.1.10)  `127.0.0.1:9000`  `[::1]:9000`  `php.internal:9000`  `unix:/run/php.sock`
 *   Apache (C.5/C.6) `fcgi://127.0.0.1:9000/var/www/`  `scgi://app.internal/`  (default ports:
 *                    fcgi 8000, scgi 4000: `pschemes[]` / SCGI_DEF_PORT in proxy_util.c)
 *                    `unix:/run/php.sock|fcgi://localhost/var/www/`  (UDS form; the host is ignored)
 *
 * Addresses come only from configuration, never from request data: CVE-2021-40438 let a crafted
 * request path choose the `unix:` origin of an httpd worker. For the same reason a `$N`
 * substitution (ProxyPassMatch) is refused in the host or port; it may appear only in the path.
 *
 * What is not accepted, and why:
 * - a bare name without a port: nginx reads it as an `upstream{}` group name (the config
 *   compiler resolves those before calling this) and a literal host needs a port there;
 * - `http://`, `ajp://`, `balancer://`, ...: Portico speaks only SCGI and FastCGI;
 * - a relative socket path: httpd resolves it against DefaultRuntimeDir, nginx against its
 *   working directory; neither is obvious to a reader, so Portico wants an absolute path;
 * - a socket path longer than `sun_path` allows (107 bytes on Linux, 103 elsewhere): older
 *   libuv truncated it silently and connected to another socket;
 * - control bytes anywhere (NUL, CR, LF, ...), surrounding whitespace, user info, `?query` or
 *   `#fragment` in a URL, an empty port (`host:`), port 0 or above 65535.
 *
 * Nothing is percent-decoded: the socket path and the Apache URL path are taken as written.
 * The URL path is the prefix ProxyPass puts before the request's (decoded) remainder, so write
 * it decoded, as you would a file path.
 *
 * Errors: `tryParseBackendAddress` returns a result with a stable `code` (for the config loader,
 * which collects every issue before failing); `parseBackendAddress` throws a `ConfigError`
 * carrying one issue, located where the caller says.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError, type ConfigIssue } from '../errors.ts';

export type BackendProtocol = 'scgi' | 'fastcgi';

/** Structurally a `SocketTarget` (connector.ts), so the connector takes it as it is. */
export interface BackendAddress {
  /** Set by the Apache URL forms (`scgi://`, `fcgi://`); undefined for the nginx forms. */
  readonly protocol: BackendProtocol | undefined;
  readonly transport: 'tcp' | 'unix';
  /** Lower-cased host name or IP literal, without brackets; tcp only. */
  readonly host?: string | undefined;
  /** 1..65535; tcp only (an Apache URL without a port gets the scheme's default). */
  readonly port?: number | undefined;
  /** Absolute path of the socket; unix only. */
  readonly socketPath?: string | undefined;
  /** Path part of an Apache URL, as written (not percent-decoded); '' when none or nginx form. */
  readonly urlPath: string;
  /** For logs: `127.0.0.1:9000`, `[::1]:9000` or `unix:/run/php.sock`. */
  readonly display: string;
}

/** Stable codes of address problems. */
export type AddressErrorCode =
  | 'ERR_ADDRESS_EMPTY'
  | 'ERR_ADDRESS_TOO_LONG'
  | 'ERR_ADDRESS_CONTROL_CHAR'
  | 'ERR_ADDRESS_WHITESPACE'
  | 'ERR_ADDRESS_SCHEME'
  | 'ERR_ADDRESS_URL'
  | 'ERR_ADDRESS_HOST'
  | 'ERR_ADDRESS_NO_PORT'
  | 'ERR_ADDRESS_PORT'
  | 'ERR_ADDRESS_UNIX_PATH';

export type AddressParseResult =
  | { readonly ok: true; readonly address: BackendAddress }
  | { readonly ok: false; readonly code: AddressErrorCode; readonly message: string };

/** Default ports of the Apache schemes (proxy_util.c `pschemes[]`, mod_proxy_scgi SCGI_DEF_PORT). */
export const DEFAULT_PORTS: Readonly<Record<BackendProtocol, number>> = { scgi: 4000, fastcgi: 8000 };

/** Longest configuration string accepted; far above any real address, it bounds the work. */
export const MAX_ADDRESS_LENGTH = 4096;

/** `sizeof(sun_path) - 1` (the terminating NUL): 108 on Linux, 104 on the BSDs and macOS. */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

const SCHEMES: Readonly<Record<string, BackendProtocol>> = { scgi: 'scgi', fcgi: 'fastcgi' };
const HOSTNAME = /^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?$/;
const NUMERIC_HOST = /^[0-9.]+$/;
const PORT = /^[0-9]{1,5}$/;

type Failure = { readonly ok: false; readonly code: AddressErrorCode; readonly message: string };

function fail(code: AddressErrorCode, message: string): Failure {
  return { ok: false, code, message };
}

/**
 * httpd's `balancer://NAME[/path]` ProxyPass URL (mod_proxy_balancer): a group, named as
 * `upstreams.NAME` is, and the URL path its members' requests start with. undefined when
 * `input` is not of that form.
 */
export function parseBalancerUrl(
  input: string,
): { readonly name: string; readonly urlPath: string } | undefined {
  const m = /^balancer:\/\/([A-Za-z0-9_][A-Za-z0-9_.-]*)(\/.*)?$/i.exec(input);
  return m === null ? undefined : { name: m[1] as string, urlPath: m[2] ?? '' };
}

/** Parses one configured backend address; never throws. */
export function tryParseBackendAddress(input: string): AddressParseResult {
  if (input.length === 0) return fail('ERR_ADDRESS_EMPTY', 'backend address is empty');
  if (input.length > MAX_ADDRESS_LENGTH) {
    return fail('ERR_ADDRESS_TOO_LONG', `backend address is longer than ${MAX_ADDRESS_LENGTH} characters`);
  }
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) {
      return fail(
        'ERR_ADDRESS_CONTROL_CHAR',
        `backend address contains a control character (0x${c.toString(16).padStart(2, '0')}) at offset ${i}`,
      );
    }
  }
  if (input.trim() !== input) {
    return fail('ERR_ADDRESS_WHITESPACE', 'backend address has leading or trailing whitespace');
  }

  if (startsWithIgnoreCase(input, 'unix:')) {
    const bar = input.indexOf('|');
    if (bar < 0) {
      const path = checkSocketPath(input.slice(5));
      return typeof path === 'string' ? unixAddress(path, undefined, '') : path;
    }
    // Apache UDS form: `unix:/path|scheme://[host[:port]][/path]`; the host only names the worker.
    const path = checkSocketPath(input.slice(5, bar));
    if (typeof path !== 'string') return path;
    const url = parseUrl(input.slice(bar + 1), true);
    return url.ok ? unixAddress(path, url.protocol, url.path) : url;
  }

  const sep = input.indexOf('://');
  if (sep >= 0) {
    const url = parseUrl(input, false);
    if (!url.ok) return url;
    return tcpAddress(url.host, url.port, url.protocol, url.path);
  }
  if (/^[a-z][a-z0-9+.-]*:\//i.test(input)) {
    return fail(
      'ERR_ADDRESS_SCHEME',
      `backend address "${input}" has an unknown form: use host:port, unix:/path, scgi://host[:port] or fcgi://host[:port]`,
    );
  }

  // nginx form: host:port or [v6]:port, the port is required.
  const hp = splitHostPort(input);
  if (!hp.ok) return hp;
  if (hp.port === undefined) {
    return fail(
      'ERR_ADDRESS_NO_PORT',
      `backend address "${input}" has no port (nginx form needs host:port; a bare name must be an upstream group)`,
    );
  }
  return tcpAddress(hp.host, hp.port, undefined, '');
}

/**
 * Parses one configured backend address or throws a `ConfigError` with a single issue placed at
 * `where` (file, line, column and key path of the value; defaults to an unlocated issue).
 */
export function parseBackendAddress(input: string, where?: Omit<ConfigIssue, 'message'>): BackendAddress {
  const result = tryParseBackendAddress(input);
  if (result.ok) return result.address;
  throw new ConfigError([
    { ...(where ?? { file: '<config>', line: 0, column: 0, path: 'address' }), message: result.message },
  ]);
}

type UrlResult =
  | { readonly ok: true; protocol: BackendProtocol; host: string; port: number; path: string }
  | Failure;

function parseUrl(url: string, viaSocket: boolean): UrlResult {
  const sep = url.indexOf('://');
  if (sep < 0) {
    return fail('ERR_ADDRESS_URL', `"${url}" after "unix:/path|" must be a URL such as fcgi://localhost/`);
  }
  const scheme = url.slice(0, sep).toLowerCase();
  const protocol = SCHEMES[scheme];
  if (protocol === undefined) {
    return fail(
      'ERR_ADDRESS_SCHEME',
      `unsupported scheme "${scheme}://" in backend address: Portico speaks scgi:// and fcgi:// only`,
    );
  }
  const rest = url.slice(sep + 3);
  if (rest.includes('?') || rest.includes('#')) {
    return fail('ERR_ADDRESS_URL', `backend URL "${url}" must not have a query or fragment`);
  }
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (authority.includes('@')) {
    return fail('ERR_ADDRESS_URL', `backend URL "${url}" must not carry user information`);
  }
  if (authority.includes('$')) {
    return fail(
      'ERR_ADDRESS_HOST',
      `backend URL "${url}": a $N substitution may appear only in the path, never in the host or port (CVE-2021-40438)`,
    );
  }
  if (authority === '') {
    // httpd: "URL must be absolute!" unless a UDS path names the target ("allow for unix:/path|http:").
    if (viaSocket) return { ok: true, protocol, host: 'localhost', port: DEFAULT_PORTS[protocol], path };
    return fail('ERR_ADDRESS_HOST', `backend URL "${url}" has no host`);
  }
  const hp = splitHostPort(authority);
  if (!hp.ok) return hp;
  return { ok: true, protocol, host: hp.host, port: hp.port ?? DEFAULT_PORTS[protocol], path };
}

type HostPort = { readonly ok: true; host: string; port: number | undefined } | Failure;

function splitHostPort(text: string): HostPort {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail('ERR_ADDRESS_HOST', `"${text}": IPv6 literal lacks its closing "]"`);
    host = text.slice(1, close);
    const after = text.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return fail('ERR_ADDRESS_HOST', `"${text}": unexpected text after "]"`);
      portText = after.slice(1);
    }
    if (!isIPv6(host)) return fail('ERR_ADDRESS_HOST', `"${text}": "${host}" is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0 && text.indexOf(':') !== colon) {
      return fail(
        'ERR_ADDRESS_HOST',
        `"${text}": an IPv6 address must be written in brackets, e.g. [::1]:9000`,
      );
    }
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (host === '') return fail('ERR_ADDRESS_HOST', `"${text}" has an empty host`);
    host = host.toLowerCase();
    if (NUMERIC_HOST.test(host) ? !isIPv4(host) : !HOSTNAME.test(host)) {
      return fail('ERR_ADDRESS_HOST', `"${text}": "${host}" is not a valid host name or IPv4 address`);
    }
  }
  if (portText === undefined) return { ok: true, host, port: undefined };
  if (portText === '') return fail('ERR_ADDRESS_PORT', `"${text}" has an empty port`);
  if (!PORT.test(portText)) return fail('ERR_ADDRESS_PORT', `"${text}": port "${portText}" is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) {
    return fail('ERR_ADDRESS_PORT', `"${text}": port ${port} is out of range (1-65535)`);
  }
  return { ok: true, host, port };
}

function checkSocketPath(path: string): string | Failure {
  if (path === '') return fail('ERR_ADDRESS_UNIX_PATH', 'unix: address has an empty socket path');
  if (!path.startsWith('/')) {
    return fail('ERR_ADDRESS_UNIX_PATH', `unix socket path "${path}" must be absolute (start with "/")`);
  }
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    return fail(
      'ERR_ADDRESS_UNIX_PATH',
      `unix socket path "${path}" is ${bytes} bytes; the system limit is ${MAX_SOCKET_PATH_BYTES}`,
    );
  }
  return path;
}

function unixAddress(
  socketPath: string,
  protocol: BackendProtocol | undefined,
  urlPath: string,
): AddressParseResult {
  return {
    ok: true,
    address: { protocol, transport: 'unix', socketPath, urlPath, display: `unix:${socketPath}` },
  };
}

function tcpAddress(
  host: string,
  port: number,
  protocol: BackendProtocol | undefined,
  urlPath: string,
): AddressParseResult {
  const display = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { ok: true, address: { protocol, transport: 'tcp', host, port, urlPath, display } };
}

function startsWithIgnoreCase(text: string, prefix: string): boolean {
  return text.length >= prefix.length && text.slice(0, prefix.length).toLowerCase() === prefix;
}
