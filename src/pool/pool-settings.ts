/**
 * Settings of a ConnectionPool (connection-pool.ts), their defaults with the reason for each,
 * and their validation. Durations are in ms, resolved by the config layer from nginx notation.
 */
import { GatewayError } from '../errors.ts';

export interface ConnectionPoolSettings {
  /** Idle connections kept; 0 disables reuse (every connection closes after its exchange). */
  readonly keepalive: number;
  /** ms an idle connection is kept; 0 closes it at once (reuse only by a queued request). */
  readonly keepaliveTimeout: number;
  /** Requests one connection carries before it is closed; 0 = one request, never reused. */
  readonly keepaliveRequests: number;
  /** Open connections at most (connecting, active and idle); 0 = no cap. */
  readonly maxConns: number;
  /** Requests that may wait for a connection when `maxConns` are open; 0 = none wait. */
  readonly queue: number;
  /** ms a request waits in the queue before a 503. */
  readonly queueTimeout: number;
  /** ms for a connect when `acquire` is not given one. */
  readonly connectTimeout: number;
}

/**
 * Defaults, each with its reason; the config layer may override every one of them.
 */
export const CONNECTION_POOL_DEFAULTS: ConnectionPoolSettings = {
  /** nginx 1.29.7+ keeps 32 idle connections per upstream by default; LIFO makes extras time out. */
  keepalive: 32,
  /** nginx upstream keepalive_timeout. */
  keepaliveTimeout: 60_000,
  /** nginx upstream keepalive_requests (bounds per-connection state leaks in the backend). */
  keepaliveRequests: 1000,
  /** nginx max_conns: no cap unless configured (the right cap is the backend's worker count). */
  maxConns: 0,
  /** A burst of this many requests can wait at the cap rather than fail at once. */
  queue: 100,
  /** nginx Plus queue timeout. */
  queueTimeout: 60_000,
  /** nginx fastcgi_connect_timeout. */
  connectTimeout: 60_000,
};

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new GatewayError(
      'ERR_INVALID_OPTION',
      `${name} must be an integer >= 0, got ${value}`,
      'config',
      500,
      'none',
    );
  }
}

/** `settings` over the defaults; every value an integer >= 0, else ERR_INVALID_OPTION. */
export function resolvePoolSettings(settings: Partial<ConnectionPoolSettings>): ConnectionPoolSettings {
  const resolved = { ...CONNECTION_POOL_DEFAULTS, ...settings };
  for (const key of Object.keys(CONNECTION_POOL_DEFAULTS) as (keyof ConnectionPoolSettings)[]) {
    checkCount(key, resolved[key]);
  }
  return resolved;
}
