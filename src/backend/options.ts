/**
 * Options of the SCGI and FastCGI servers, their defaults (each with its reason) and their
 * validation. The backend libraries cannot import src/config (imports point down only), so
 * their defaults live here.
 */
import { GatewayError } from '../errors.ts';
import { DEFAULT_MAX_PARAMS_BYTES, DEFAULT_MAX_PARAMS_PAIRS } from '../protocol/fastcgi/pairs.ts';
import { DEFAULT_SCGI_MAX_HEADER_BYTES } from '../protocol/scgi/decoder.ts';
import type { BackendRequest } from './request.ts';

/**
 * Where errors the server cannot hand to anyone else go: a handler that threw, a peer that
 * broke the protocol, a response written after its end. `req` is the request concerned, if
 * there was one. Never called for ordinary disconnects (the request's signal reports those).
 */
export type BackendErrorListener = (error: unknown, req: BackendRequest | undefined) => void;

export interface BackendServerOptions {
  /** Error log. Default: one line on stderr per error (`console.error`). */
  readonly onError?: BackendErrorListener;
  /** Concurrent connections (net.Server maxConnections; FastCGI's FCGI_MAX_CONNS). */
  readonly maxConns?: number;
  /** Largest request body accepted, checked as bytes arrive (and against CONTENT_LENGTH first). */
  readonly maxBodyBytes?: number;
  /**
   * Body bytes one request may hold while its handler does not read them. Past it the server
   * stops reading the socket (SCGI, and FastCGI with one request on the connection, stop at the
   * stream's high-water mark already; this bound is for multiplexed FastCGI connections).
   */
  readonly bodyBufferBytes?: number;
  /** How long a closed response waits for the peer to finish sending before the socket is destroyed. */
  readonly lingerMs?: number;
}

export interface FastCgiServerOptions extends BackendServerOptions {
  /** Concurrent requests over all connections (FCGI_MAX_REQS); past it: END_REQUEST OVERLOADED. */
  readonly maxReqs?: number;
  /** Accept several requests at once on one connection (FCGI_MPXS_CONNS). Default true. */
  readonly multiplex?: boolean;
  /** Encoded bytes of one request's PARAMS stream. */
  readonly maxParamsBytes?: number;
  /** Number of params of one request. */
  readonly maxParamsPairs?: number;
  /**
   * What happens when a request on a multiplexed connection holds `bodyBufferBytes` unread:
   * `'pause'` stops reading the connection until that handler reads (every request on the
   * connection waits), `'abort'` fails that request's body (ERR_BACKEND_BODY_OVERFLOW) and keeps
   * the others flowing. FastCGI has no per-request flow control, so these are the only choices.
   */
  readonly bodyOverflow?: 'pause' | 'abort';
  /**
   * IPv4/IPv6 addresses allowed to connect over TCP; default: the FastCGI spec's
   * `FCGI_WEB_SERVER_ADDRS` environment variable (comma-separated), or anyone when unset.
   */
  readonly webServerAddrs?: readonly string[];
}

export interface ScgiServerOptions extends BackendServerOptions {
  /** Largest SCGI header netstring. */
  readonly maxHeaderBytes?: number;
}

/** The options with every default applied. */
export interface ResolvedOptions {
  readonly onError: BackendErrorListener;
  readonly maxConns: number;
  readonly maxBodyBytes: number;
  readonly bodyBufferBytes: number;
  readonly lingerMs: number;
  readonly maxReqs: number;
  readonly multiplex: boolean;
  readonly maxParamsBytes: number;
  readonly maxParamsPairs: number;
  readonly bodyOverflow: 'pause' | 'abort';
  readonly webServerAddrs: ReadonlySet<string> | undefined;
  readonly maxHeaderBytes: number;
}

export const BACKEND_DEFAULTS = {
  /** The usual soft limit on open files (ulimit -n) is 1024: accept fails past it anyway. */
  maxConns: 1024,
  /** Equal to maxConns: nginx and httpd carry one request per connection, so it never refuses them. */
  maxReqs: 1024,
  /**
   * No limit: the body is streamed to the handler, never held, so its size costs no memory;
   * the gateway in front enforces client_max_body_size. Set one for a direct exposure.
   */
  maxBodyBytes: Number.MAX_SAFE_INTEGER,
  /** Four times a stream's 64 KiB high-water mark; x maxReqs bounds body memory (256 MiB). */
  bodyBufferBytes: 256 * 1024,
  /** nginx lingering_timeout is 5s: long enough for the rest of a body in flight. */
  lingerMs: 5000,
  maxParamsBytes: DEFAULT_MAX_PARAMS_BYTES,
  maxParamsPairs: DEFAULT_MAX_PARAMS_PAIRS,
  maxHeaderBytes: DEFAULT_SCGI_MAX_HEADER_BYTES,
} as const;

function invalidOption(name: string, message: string): GatewayError {
  return new GatewayError('ERR_INVALID_OPTION', `${name} ${message}`, 'gateway', 500, 'none');
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw invalidOption(name, `must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is how a dual-stack socket reports an IPv4 peer. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function addressSet(list: readonly string[] | undefined): ReadonlySet<string> | undefined {
  if (list === undefined) {
    const env = process.env.FCGI_WEB_SERVER_ADDRS;
    if (env === undefined || env.trim() === '') return undefined;
    list = env.split(',');
  }
  const set = new Set<string>();
  for (const item of list) {
    const address = item.trim();
    if (address !== '') set.add(normalizeAddress(address));
  }
  return set;
}

function defaultOnError(error: unknown): void {
  console.error('portico backend:', error);
}

/** Validates `options` (and that `handler` is a function) and applies the defaults. */
export function resolveOptions(
  options: FastCgiServerOptions & ScgiServerOptions,
  handler: unknown,
): ResolvedOptions {
  if (typeof handler !== 'function') throw invalidOption('handler', 'must be a function');
  const d = BACKEND_DEFAULTS;
  const overflow = options.bodyOverflow ?? 'pause';
  if (overflow !== 'pause' && overflow !== 'abort') {
    throw invalidOption('bodyOverflow', `must be 'pause' or 'abort', got ${String(overflow)}`);
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw invalidOption('onError', 'must be a function');
  }
  return {
    onError: options.onError ?? defaultOnError,
    maxConns: count('maxConns', options.maxConns, d.maxConns, 1),
    maxBodyBytes: count('maxBodyBytes', options.maxBodyBytes, d.maxBodyBytes, 0),
    bodyBufferBytes: count('bodyBufferBytes', options.bodyBufferBytes, d.bodyBufferBytes, 1),
    lingerMs: count('lingerMs', options.lingerMs, d.lingerMs, 0),
    maxReqs: count('maxReqs', options.maxReqs, d.maxReqs, 1),
    multiplex: options.multiplex ?? true,
    maxParamsBytes: count('maxParamsBytes', options.maxParamsBytes, d.maxParamsBytes, 1),
    maxParamsPairs: count('maxParamsPairs', options.maxParamsPairs, d.maxParamsPairs, 1),
    bodyOverflow: overflow,
    webServerAddrs: addressSet(options.webServerAddrs),
    maxHeaderBytes: count('maxHeaderBytes', options.maxHeaderBytes, d.maxHeaderBytes, 1),
  };
}
