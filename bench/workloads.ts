/**
 * The workloads: what each one asks of a gateway, and which run in --quick mode. Each goes to
 * one route (see gateways/types.ts), so a gateway without that route (Caddy has no SCGI) or a
 * route without a backend skips it with a reason. The memory workload (idle) runs last on
 * each gateway, so its thousands of sockets cannot disturb a throughput figure.
 */
import type { Route } from './gateways/types.ts';

export type WorkloadKind = 'wrk' | 'idle' | 'stream';

export interface Workload {
  readonly name: string;
  /** One line for the table and the chart. */
  readonly title: string;
  readonly kind: WorkloadKind;
  readonly route: Route;
  /** Request path, below the route's prefix. */
  readonly path: string;
  /** wrk: concurrent keep-alive connections. idle: clients opened. stream: unused. */
  readonly connections: number;
  /** wrk: request body bytes (POST); absent: GET. */
  readonly bodyBytes?: number;
  /** Part of --quick. */
  readonly quick: boolean;
  /** The FastCGI connection reuse of the gateway matters here (nginx-nokeep runs it). */
  readonly reuse: boolean;
  /**
   * Run on a freshly started gateway, so its memory before the workload is a baseline that
   * earlier workloads did not inflate (the idle-connection memory figure).
   */
  readonly fresh?: boolean;
}

const MIB = 1024 * 1024;

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'fcgi-hello',
    title: 'FastCGI hello over TCP, 50 keep-alive clients',
    kind: 'wrk',
    route: 'fcgi',
    path: '/fcgi/hello',
    connections: 50,
    quick: true,
    reuse: true,
  },
  {
    name: 'fcgi-unix-hello',
    title: 'FastCGI hello over a unix socket, 50 keep-alive clients',
    kind: 'wrk',
    route: 'fcgi-unix',
    path: '/fcgi-unix/hello',
    connections: 50,
    quick: false,
    reuse: true,
  },
  {
    name: 'scgi-hello',
    title: 'SCGI hello over TCP (a connection per request), 50 keep-alive clients',
    kind: 'wrk',
    route: 'scgi',
    path: '/scgi/hello',
    connections: 50,
    quick: true,
    reuse: false,
  },
  {
    name: 'fcgi-1mib',
    title: 'FastCGI 1 MiB response, 16 keep-alive clients',
    kind: 'wrk',
    route: 'fcgi',
    path: '/fcgi/big',
    connections: 16,
    quick: false,
    reuse: true,
  },
  {
    name: 'fcgi-upload-10mib',
    title: 'FastCGI 10 MiB upload (POST), 8 keep-alive clients',
    kind: 'wrk',
    route: 'fcgi',
    path: '/fcgi/upload',
    connections: 8,
    bodyBytes: 10 * MIB,
    quick: false,
    reuse: false,
  },
  {
    name: 'fcgi-c1000',
    title: 'FastCGI hello over TCP, 1,000 keep-alive clients',
    kind: 'wrk',
    route: 'fcgi',
    path: '/fcgi/hello',
    connections: 1000,
    quick: false,
    reuse: true,
  },
  {
    name: 'node-fcgi-hello',
    title: "FastCGI hello from Portico's Node FastCGI server (src/backend), 50 clients",
    kind: 'wrk',
    route: 'node-fcgi',
    path: '/node-fcgi/hello',
    connections: 50,
    quick: false,
    reuse: true,
  },
  {
    name: 'node-scgi-hello',
    title: "SCGI hello from Portico's Node SCGI server (src/backend), 50 clients",
    kind: 'wrk',
    route: 'node-scgi',
    path: '/node-scgi/hello',
    connections: 50,
    quick: false,
    reuse: false,
  },
  {
    name: 'stream',
    title: 'Streaming: backend flush to client read, FastCGI, 1 KiB chunks',
    kind: 'stream',
    route: 'fcgi-stream',
    path: '/fcgi-stream/stream',
    connections: 1,
    quick: true,
    reuse: false,
  },
  {
    name: 'idle-10k',
    title: 'Memory with 10,000 idle keep-alive clients (each made one request)',
    kind: 'idle',
    route: 'fcgi',
    path: '/fcgi/hello',
    connections: 10_000,
    quick: false,
    reuse: false,
    fresh: true,
  },
];

/** Durations and sizes of one run. */
export interface RunSettings {
  readonly quick: boolean;
  /** wrk seconds measured per workload. */
  readonly durationS: number;
  /** wrk seconds of warm-up before the measured run (not counted). */
  readonly warmupS: number;
  /** Stream workload: requests, chunks per request, milliseconds between chunks. */
  readonly streamRequests: number;
  readonly streamChunks: number;
  readonly streamIntervalMs: number;
  /** Idle workload: how long opening may take, and how long the clients are held. */
  readonly idleDeadlineMs: number;
  readonly idleHoldMs: number;
  /**
   * Before each workload, wait up to this many seconds for processes the bench did not start
   * to use less than 5 % CPU (another test suite on a shared machine).
   */
  readonly quietWaitS: number;
}

export function settingsFor(
  quick: boolean,
  durationS?: number,
  warmupS?: number,
  quietWaitS?: number,
): RunSettings {
  return {
    quick,
    durationS: durationS ?? (quick ? 2 : 8),
    warmupS: warmupS ?? (quick ? 1 : 2),
    streamRequests: quick ? 5 : 20,
    streamChunks: quick ? 10 : 20,
    streamIntervalMs: 10,
    idleDeadlineMs: 60_000,
    idleHoldMs: 30_000,
    quietWaitS: quietWaitS ?? (quick ? 0 : 20),
  };
}
