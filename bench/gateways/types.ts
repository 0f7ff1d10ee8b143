/**
 * What every gateway under test offers the runner: its name, whether it is installed (and
 * why not), its version, and start(), which writes its own config into a fresh temp dir and
 * starts it with one worker on 127.0.0.1, in front of the same backends.
 */
import type { Started } from '../proc.ts';

/** The routes every gateway serves, each to one backend (see bench/backends.ts). */
export type Route = 'fcgi' | 'fcgi-unix' | 'fcgi-stream' | 'scgi' | 'node-fcgi' | 'node-scgi';

export const ROUTES: readonly Route[] = [
  'fcgi',
  'fcgi-unix',
  'fcgi-stream',
  'scgi',
  'node-fcgi',
  'node-scgi',
];

/** Backend addresses: "127.0.0.1:PORT" or "unix:/path". */
export type BackendAddresses = Readonly<Record<Route, string>>;

export interface GatewayContext {
  /** Port the gateway listens on (127.0.0.1). */
  readonly port: number;
  /** A fresh directory for the config, logs, pid and temp files (mode 0755). */
  readonly dir: string;
  /** Where each route's backend listens; a route absent here is not served (no backend). */
  readonly backends: Partial<BackendAddresses>;
  /** The repository root. */
  readonly repo: string;
  /** The CPU the gateway is pinned to. */
  readonly cpu: string;
}

export interface Availability {
  readonly available: boolean;
  /** Why not, when not available. */
  readonly reason?: string;
  readonly version?: string;
}

export interface RunningGateway {
  readonly process: Started;
  /** The gateway's own error log, for a failure report. */
  readonly logPath?: string;
}

export interface Gateway {
  /** As shown in the table and accepted by --only. */
  readonly name: string;
  /** One line on how it is set up, for the table and docs. */
  readonly description: string;
  /** Routes it can serve (Caddy has no SCGI). */
  readonly routes: readonly Route[];
  /**
   * Runs only the workloads where FastCGI connection reuse matters (a variant such as nginx
   * without upstream keepalive, there to compare with Portico before issue 4).
   */
  readonly reuseOnly?: boolean;
  /** How it talks to a route's backend, for the report ("FastCGI kept connections"). */
  note(route: Route): string | undefined;
  check(): Availability;
  start(ctx: GatewayContext): Promise<RunningGateway>;
}
