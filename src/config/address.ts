/**
 * Address notations of the config, parsed into plain data.
 *
 * - listen: nginx `listen` forms that make sense here: `8080`, `127.0.0.1:8080`,
 *   `[::1]:8080`, `*:8080`, `unix:/run/portico.sock` (parsed here; the runtime uses this).
 * - pass: nginx `scgi_pass`/`fastcgi_pass` (C.1.10): `host:port`, `unix:/path`, or an
 *   upstream name; plus `scgi://host[:port]` / `fcgi://host[:port]` for readers of Apache.
 * - url: Apache ProxyPass worker URLs (C.5, C.6): `scgi://host[:port]/path` (default port
 *   4000), `fcgi://host[:port]/path` (default port 8000), `unix:/sock|fcgi://localhost/path`.
 *
 * Backend addresses are checked by the parser the connectors use (pool/address.ts), so
 * `portico check` accepts exactly what `portico serve` can connect to.
 */
import { isIPv4, isIPv6 } from 'node:net';
import {
  type BackendAddress,
  type BackendProtocol,
  MAX_SOCKET_PATH_BYTES,
  tryParseBackendAddress,
} from '../pool/address.ts';

export type { BackendAddress, BackendProtocol };

/** `host` undefined means every interface (`8080`, `*:8080`). Port 0 asks the OS for a free port. */
export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string | undefined; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export type PassTarget =
  | { readonly kind: 'upstream'; readonly name: string }
  | { readonly kind: 'address'; readonly address: BackendAddress };

/** An Apache worker URL: always a scheme, hence a protocol; `urlPath` may hold `$1`.. (ProxyPassMatch). */
export type BackendUrl = BackendAddress & { readonly protocol: BackendProtocol };

export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

/** sun_path's limit (107 bytes on Linux, 103 elsewhere): a longer listen path fails at bind. */
export const MAX_UNIX_PATH_BYTES = MAX_SOCKET_PATH_BYTES;

/** Upstream names are bare words, so `pass` can tell them from `host:port` and `unix:` forms. */
export const UPSTREAM_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$';
const UPSTREAM_NAME_RE = new RegExp(UPSTREAM_NAME_PATTERN);

const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

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

/** An upstream server: `host:port`, `[v6]:port`, `unix:/path` (or an Apache URL). */
export function parseServerAddress(text: string): Parsed<BackendAddress> {
  const r = tryParseBackendAddress(text);
  return r.ok ? ok(r.address) : fail(r.message);
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

/** nginx-style pass: an upstream name, `host:port`, `unix:/path`, or a path-less `scgi://` / `fcgi://` URL. */
export function parsePass(text: string): Parsed<PassTarget> {
  if (UPSTREAM_NAME_RE.test(text)) return ok({ kind: 'upstream', name: text });
  const r = tryParseBackendAddress(text);
  if (!r.ok) return fail(r.message);
  if (r.address.urlPath !== '' && r.address.urlPath !== '/') {
    return fail(
      `a pass URL has no path ("${r.address.urlPath}"): the request URI reaches the backend in the params`,
    );
  }
  return ok({ kind: 'address', address: r.address });
}

/**
 * An Apache worker URL: `scgi://host[:port]/path`, `fcgi://[::1]:9000/path`, or
 * `unix:/path.sock|fcgi://localhost/path` (the host after `|` only names the worker, as in httpd).
 */
export function parseBackendUrl(text: string): Parsed<BackendUrl> {
  const r = tryParseBackendAddress(text);
  if (!r.ok) return fail(r.message);
  const { address } = r;
  if (address.protocol === undefined) {
    return fail(
      `"${text}" is not a URL: use scgi://host:port/, fcgi://host:port/ or unix:/path|fcgi://localhost/`,
    );
  }
  return ok({ ...address, protocol: address.protocol });
}

/** `*:8080`, `127.0.0.1:8080`, `[::1]:8080`, `unix:/run/portico.sock`. */
export function formatListenAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  const host = address.host ?? '*';
  return host.includes(':') ? `[${host}]:${address.port}` : `${host}:${address.port}`;
}
