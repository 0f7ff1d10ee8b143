/**
 * Address notations of the config, parsed into plain data. Validation uses these, and so can
 * the gateway when it builds listeners and connectors, so both read an address the same way.
 *
 * - listen: nginx `listen` forms that make sense here: `8080`, `127.0.0.1:8080`,
 *   `[::1]:8080`, `*:8080`, `unix:/run/portico.sock`.
 * - pass: nginx `scgi_pass`/`fastcgi_pass` (C.1.10): `host:port`, `unix:/path`, or an
 *   upstream name; plus `scgi://host[:port]` / `fcgi://host[:port]` for readers of Apache.
 * - url: Apache ProxyPass worker URLs (C.5, C.6): `scgi://host[:port]/path` (default port
 *   4000), `fcgi://host[:port]/path` (default port 8000), `unix:/sock|fcgi://localhost/path`.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type SocketAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/** `host` undefined means every interface (`8080`, `*:8080`). Port 0 asks the OS for a free port. */
export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string | undefined; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export type BackendProtocol = 'scgi' | 'fastcgi';

export type PassTarget =
  | { readonly kind: 'upstream'; readonly name: string }
  | {
      readonly kind: 'address';
      readonly address: SocketAddress;
      readonly protocol: BackendProtocol | undefined;
    };

/** An Apache worker URL; `path` may hold `$1`.. references (ProxyPassMatch). */
export interface BackendUrl {
  readonly protocol: BackendProtocol;
  readonly address: SocketAddress;
  readonly path: string;
}

export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

/**
 * sun_path holds 108 bytes on Linux including the terminating NUL; a longer path makes
 * bind/connect fail at run time, so it is refused at load time.
 */
export const MAX_UNIX_PATH_BYTES = 107;

/** Apache's default ports: mod_proxy_scgi 4000 (C.5), mod_proxy_fcgi 8000 (C.6). */
export const DEFAULT_URL_PORTS: Readonly<Record<BackendProtocol, number>> = { scgi: 4000, fastcgi: 8000 };

/** Upstream names are bare words, so `pass` can tell them from `host:port` and `unix:` forms. */
export const UPSTREAM_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$';
const UPSTREAM_NAME_RE = new RegExp(UPSTREAM_NAME_PATTERN);

const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const SCHEMES: Readonly<Record<string, BackendProtocol>> = { scgi: 'scgi', fcgi: 'fastcgi' };

function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}
function fail<T>(message: string): Parsed<T> {
  return { ok: false, message };
}

function parsePort(text: string, allowZero: boolean): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 && (allowZero || port > 0) ? port : undefined;
}

function checkUnixPath(path: string): string | undefined {
  if (path === '') return 'a unix socket path is empty';
  if (/[\0]/.test(path)) return 'a unix socket path contains a NUL byte';
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_UNIX_PATH_BYTES) {
    return `unix socket path is ${bytes} bytes; the limit is ${MAX_UNIX_PATH_BYTES} (sun_path)`;
  }
  return undefined;
}

/** A host: `[IPv6]`, IPv4, or a DNS name. Returns the host without brackets. */
function parseHost(text: string): Parsed<string> {
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) return fail(`invalid IPv6 address "${text}": missing "]"`);
    const inner = text.slice(1, -1);
    return isIPv6(inner) ? ok(inner) : fail(`invalid IPv6 address "${inner}"`);
  }
  if (text === '') return fail('the host is empty');
  if (/^[0-9.]+$/.test(text)) return isIPv4(text) ? ok(text) : fail(`invalid IPv4 address "${text}"`);
  if (text.includes(':')) return fail(`an IPv6 address needs brackets ("[${text}]:port")`);
  return HOSTNAME_RE.test(text) ? ok(text) : fail(`invalid host name "${text}"`);
}

/** Split `host:port` / `[v6]:port` at the last colon outside brackets. */
function splitHostPort(text: string): { host: string; port: string | undefined } {
  const close = text.lastIndexOf(']');
  const colon = text.lastIndexOf(':');
  if (colon > close) return { host: text.slice(0, colon), port: text.slice(colon + 1) };
  return { host: text, port: undefined };
}

/** `host:port`, `[v6]:port` or `unix:/path`: a backend socket. */
export function parseSocketAddress(text: string): Parsed<SocketAddress> {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    const problem = checkUnixPath(path);
    return problem === undefined ? ok({ kind: 'unix', path }) : fail(problem);
  }
  const { host, port } = splitHostPort(text);
  if (port === undefined) return fail(`"${text}" has no port (expected host:port or unix:/path)`);
  const h = parseHost(host);
  if (!h.ok) return h;
  const p = parsePort(port, false);
  if (p === undefined) return fail(`invalid port "${port}" (1-65535)`);
  return ok({ kind: 'tcp', host: h.value, port: p });
}

/** A listen address: a port number, `host:port`, `*:port`, `[v6]:port` or `unix:/path`. */
export function parseListenAddress(value: number | string): Parsed<ListenAddress> {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value <= 65535
      ? ok({ kind: 'tcp', host: undefined, port: value })
      : fail(`invalid port ${value} (0-65535)`);
  }
  if (value.startsWith('unix:')) {
    const path = value.slice(5);
    const problem = checkUnixPath(path);
    return problem === undefined ? ok({ kind: 'unix', path }) : fail(problem);
  }
  if (/^[0-9]+$/.test(value)) return parseListenAddress(Number(value));
  const { host, port } = splitHostPort(value);
  if (port === undefined) return fail(`"${value}" has no port (expected port, host:port or unix:/path)`);
  const p = parsePort(port, true);
  if (p === undefined) return fail(`invalid port "${port}" (0-65535)`);
  if (host === '*') return ok({ kind: 'tcp', host: undefined, port: p });
  const h = parseHost(host);
  if (!h.ok) return h;
  return ok({ kind: 'tcp', host: h.value, port: p });
}

/** `scgi://` / `fcgi://` + authority, shared by pass and url. */
function parseSchemeUrl(
  text: string,
): Parsed<{ protocol: BackendProtocol; authority: string; path: string }> {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)(.*)$/.exec(text);
  if (m === null) return fail(`invalid URL "${text}"`);
  const scheme = m[1]!.toLowerCase();
  const protocol = SCHEMES[scheme];
  if (protocol === undefined) return fail(`unsupported scheme "${m[1]}://" (expected scgi:// or fcgi://)`);
  return ok({ protocol, authority: m[2]!, path: m[3]! });
}

function parseAuthority(authority: string, protocol: BackendProtocol): Parsed<SocketAddress> {
  const { host, port } = splitHostPort(authority);
  const h = parseHost(host);
  if (!h.ok) return h;
  if (port === undefined) return ok({ kind: 'tcp', host: h.value, port: DEFAULT_URL_PORTS[protocol] });
  const p = parsePort(port, false);
  if (p === undefined) return fail(`invalid port "${port}" (1-65535)`);
  return ok({ kind: 'tcp', host: h.value, port: p });
}

/** nginx-style pass: an upstream name, `host:port`, `unix:/path`, or a path-less `scgi://` / `fcgi://` URL. */
export function parsePass(text: string): Parsed<PassTarget> {
  if (text.includes('://')) {
    const url = parseSchemeUrl(text);
    if (!url.ok) return url;
    if (url.value.path !== '' && url.value.path !== '/') {
      return fail(
        `a pass URL has no path ("${url.value.path}"): the request URI reaches the backend in the params`,
      );
    }
    const address = parseAuthority(url.value.authority, url.value.protocol);
    if (!address.ok) return address;
    return ok({ kind: 'address', address: address.value, protocol: url.value.protocol });
  }
  if (text.startsWith('unix:') || text.includes(':') || text.startsWith('[')) {
    const address = parseSocketAddress(text);
    if (!address.ok) return address;
    return ok({ kind: 'address', address: address.value, protocol: undefined });
  }
  if (UPSTREAM_NAME_RE.test(text)) return ok({ kind: 'upstream', name: text });
  return fail(
    `invalid pass "${text}" (expected host:port, unix:/path, scgi://host:port, fcgi://host:port or an upstream name)`,
  );
}

/**
 * An Apache worker URL: `scgi://host[:port]/path`, `fcgi://[::1]:9000/path`, or
 * `unix:/path.sock|fcgi://localhost/path` (the host after `|` is a placeholder, as in httpd).
 */
export function parseBackendUrl(text: string): Parsed<BackendUrl> {
  let unixPath: string | undefined;
  let rest = text;
  if (text.startsWith('unix:')) {
    const bar = text.indexOf('|');
    if (bar < 0) return fail(`"${text}" needs "|scgi://host/" or "|fcgi://host/" after the socket path`);
    unixPath = text.slice(5, bar);
    const problem = checkUnixPath(unixPath);
    if (problem !== undefined) return fail(problem);
    rest = text.slice(bar + 1);
  }
  const url = parseSchemeUrl(rest);
  if (!url.ok) return url;
  const { protocol, authority, path } = url.value;
  if (/[\0-\x20\x7f]/.test(path)) return fail(`the URL path contains a space or control character`);
  if (path !== '' && !path.startsWith('/')) return fail(`invalid URL "${text}"`);
  if (unixPath !== undefined) {
    // httpd ignores the host after the bar; it must still look like a URL host.
    if (authority === '') return fail(`"${rest}" needs a host (any name, e.g. localhost)`);
    return ok({ protocol, address: { kind: 'unix', path: unixPath }, path });
  }
  const address = parseAuthority(authority, protocol);
  if (!address.ok) return address;
  return ok({ protocol, address: address.value, path });
}

/** `127.0.0.1:9000`, `[::1]:9000`, `unix:/run/app.sock`. */
export function formatSocketAddress(address: SocketAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** `*:8080`, `127.0.0.1:8080`, `[::1]:8080`, `unix:/run/portico.sock`. */
export function formatListenAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return formatSocketAddress({ kind: 'tcp', host: address.host ?? '*', port: address.port });
}
