/**
 * Runs one workload against one running gateway and turns what wrk, the probes and /proc say
 * into the figures of the report. How each figure is computed:
 *
 * - req/s: requests wrk completed in the measured run / its duration (warm-up excluded).
 * - latency: wrk's per-request percentiles (p50, p99, p99.9); for the stream workload, the
 *   backend-write-to-client-read delay of every chunk.
 * - MB/s: response bytes wrk read plus request body bytes sent, per second, in 10^6 bytes.
 * - CPU ms per 1,000 requests: utime + stime of the gateway's processes (/proc/<pid>/stat,
 *   the leader and its descendants) after minus before the measured run, per 1,000 requests.
 *   CPU %: the same time over the wall time (100 % = one core busy).
 * - peak RSS: VmHWM summed over the gateway's processes, reset (clear_refs 5) after warm-up,
 *   so it is the peak of the measured run.
 * - errors: wrk's status errors (HTTP status >= 400) and socket errors (connect, read, write,
 *   timeout).
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { runStreamProbe } from './load/stream-probe.ts';
import { runWrk, type WrkResult } from './load/wrk.ts';
import {
  cpuJiffies,
  cpuMs,
  foreignCpuMs,
  foreignTicks,
  GATEWAY_CPU,
  LOAD_CPU,
  peakRssKiB,
  processTree,
  resetPeakRss,
  rssKiB,
  startProcess,
} from './proc.ts';
import type { RunSettings, Workload } from './workloads.ts';

export interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export interface Result {
  readonly gateway: string;
  readonly workload: string;
  readonly status: 'ok' | 'failed' | 'skipped';
  readonly reason?: string;
  readonly notes: readonly string[];
  readonly requests?: number;
  readonly seconds?: number;
  readonly rps?: number;
  /** Milliseconds. */
  readonly latencyMs?: Latency;
  readonly mbps?: number;
  readonly cpuMsPer1k?: number;
  readonly cpuPct?: number;
  /** CPU % of the backend process serving the route, same window (is the backend the limit?). */
  readonly backendCpuPct?: number;
  /**
   * How busy each core was in the window (/proc/stat, softirq included): the gateway's core and
   * the core wrk and the backends share. A load core near 100 % means the figure is the load
   * generator's, not the gateway's.
   */
  readonly corePct?: { readonly gateway: number; readonly load: number };
  /**
   * CPU % used by processes the bench did not start (another test suite on a shared machine):
   * above a few % the figures of this run are disturbed.
   */
  readonly foreignCpuPct?: number;
  readonly peakRssMiB?: number;
  readonly errors?: { readonly non2xx: number; readonly socket: number };
  readonly idle?: {
    readonly clients: number;
    readonly opened: number;
    readonly failed: number;
    readonly openMs: number;
    readonly rssBeforeMiB: number;
    readonly rssAfterMiB: number;
    readonly kibPerConnection: number;
  };
  readonly stream?: { readonly expectedChunks: number; readonly receivedChunks: number };
}

export interface Target {
  readonly gateway: string;
  readonly pid: number;
  readonly port: number;
  readonly notes: readonly string[];
  /** Backend process of the workload's route, if known. */
  readonly backendPid?: number;
  readonly repo: string;
  readonly node: string;
}

export type Phase = (text: string, seconds?: number) => void;

const MIB = 1024;

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

interface Window {
  readonly cpuMs: number;
  readonly backendMs: number;
  readonly wallMs: number;
  readonly pids: number[];
  readonly corePct: { readonly gateway: number; readonly load: number };
  readonly foreignCpuPct: number;
}

function busyPct(before: { busy: number; total: number }, after: { busy: number; total: number }): number {
  const total = after.total - before.total;
  return total > 0 ? Math.round(((after.busy - before.busy) / total) * 100) : 0;
}

function window(target: Target): { stop(): Window } {
  const pids = processTree(target.pid);
  const gatewayCore = cpuJiffies(GATEWAY_CPU);
  const loadCore = cpuJiffies(LOAD_CPU);
  const foreign = foreignTicks();
  const backend = target.backendPid === undefined ? [] : processTree(target.backendPid);
  const cpu0 = cpuMs(pids);
  const backend0 = cpuMs(backend);
  const t0 = performance.now();
  return {
    stop() {
      const now = new Set([...pids, ...processTree(target.pid)]);
      return {
        cpuMs: cpuMs([...now]) - cpu0,
        backendMs: cpuMs(backend) - backend0,
        wallMs: performance.now() - t0,
        pids: [...now],
        foreignCpuPct: Math.round((foreignCpuMs(foreign, foreignTicks()) / (performance.now() - t0)) * 100),
        corePct: {
          gateway: busyPct(gatewayCore, cpuJiffies(GATEWAY_CPU)),
          load: busyPct(loadCore, cpuJiffies(LOAD_CPU)),
        },
      };
    },
  };
}

function wrkErrors(w: WrkResult): { non2xx: number; socket: number } {
  return { non2xx: w.status, socket: w.connect + w.read + w.write + w.timeout };
}

async function measureWrk(w: Workload, t: Target, s: RunSettings, phase: Phase): Promise<Result> {
  const url = `http://127.0.0.1:${t.port}${w.path}`;
  const common = {
    url,
    connections: w.connections,
    ...(w.bodyBytes === undefined ? {} : { bodyBytes: w.bodyBytes }),
  };
  if (s.warmupS > 0) {
    phase('warm-up', s.warmupS);
    await runWrk({ ...common, seconds: s.warmupS });
  }
  resetPeakRss(processTree(t.pid));
  phase('measuring', s.durationS);
  const win = window(t);
  const r = await runWrk({ ...common, seconds: s.durationS });
  const m = win.stop();
  const sent = r.requests * (w.bodyBytes ?? 0);
  return {
    gateway: t.gateway,
    workload: w.name,
    status: 'ok',
    notes: t.notes,
    requests: r.requests,
    seconds: round(r.durationS, 2),
    rps: Math.round(r.requests / r.durationS),
    latencyMs: { p50: r.p50 / 1000, p99: r.p99 / 1000, p999: r.p999 / 1000, max: r.max / 1000 },
    mbps: round((r.bytes + sent) / r.durationS / 1e6, 1),
    cpuMsPer1k: r.requests > 0 ? round((m.cpuMs / r.requests) * 1000, 1) : 0,
    cpuPct: Math.round((m.cpuMs / m.wallMs) * 100),
    ...(t.backendPid === undefined ? {} : { backendCpuPct: Math.round((m.backendMs / m.wallMs) * 100) }),
    corePct: m.corePct,
    foreignCpuPct: m.foreignCpuPct,
    peakRssMiB: round(peakRssKiB(m.pids) / MIB, 1),
    errors: wrkErrors(r),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

async function measureStream(w: Workload, t: Target, s: RunSettings, phase: Phase): Promise<Result> {
  const options = {
    port: t.port,
    path: w.path,
    chunks: s.streamChunks,
    intervalMs: s.streamIntervalMs,
  };
  phase('warm-up');
  await runStreamProbe({ ...options, requests: 1 });
  resetPeakRss(processTree(t.pid));
  phase('measuring', (s.streamRequests * s.streamChunks * s.streamIntervalMs) / 1000);
  const win = window(t);
  const r = await runStreamProbe({ ...options, requests: s.streamRequests });
  const m = win.stop();
  const sorted = [...r.delaysUs].sort((a, b) => a - b);
  const ms = (us: number): number => round(us / 1000, 3);
  return {
    gateway: t.gateway,
    workload: w.name,
    status: 'ok',
    notes: t.notes,
    requests: r.requests,
    seconds: round(r.seconds, 2),
    latencyMs: {
      p50: ms(percentile(sorted, 50)),
      p99: ms(percentile(sorted, 99)),
      p999: ms(percentile(sorted, 99.9)),
      max: ms(sorted.at(-1) ?? 0),
    },
    mbps: round(r.bytes / r.seconds / 1e6, 2),
    cpuMsPer1k: r.requests > 0 ? round((m.cpuMs / r.requests) * 1000, 1) : 0,
    cpuPct: Math.round((m.cpuMs / m.wallMs) * 100),
    foreignCpuPct: m.foreignCpuPct,
    peakRssMiB: round(peakRssKiB(m.pids) / MIB, 1),
    errors: { non2xx: r.errors, socket: 0 },
    stream: { expectedChunks: r.expectedChunks, receivedChunks: r.receivedChunks },
  };
}

async function measureIdle(w: Workload, t: Target, s: RunSettings, phase: Phase): Promise<Result> {
  const before = processTree(t.pid);
  const rssBefore = rssKiB(before);
  resetPeakRss(before);
  phase(`opening ${w.connections} idle clients`);
  const win = window(t);
  const clients = startProcess({
    name: 'idle-clients',
    command: t.node,
    args: [
      join(t.repo, 'bench', 'load', 'idle-clients.ts'),
      String(t.port),
      w.path,
      String(w.connections),
      String(s.idleDeadlineMs),
      String(s.idleHoldMs),
    ],
    cpu: LOAD_CPU,
    cwd: t.repo,
  });
  try {
    const deadline = Date.now() + s.idleDeadlineMs + 10_000;
    let line: RegExpExecArray | null = null;
    while (line === null && Date.now() < deadline) {
      await delay(100);
      line = /^IDLEJSON (.*)$/m.exec(clients.output());
      const exited = await Promise.race([clients.exited, delay(0).then(() => 'running' as const)]);
      if (line === null && exited !== 'running') break;
    }
    if (line === null) throw new Error(`idle clients did not report: ${clients.output().slice(-300)}`);
    const opened = JSON.parse(line[1]!) as { opened: number; failed: number; ms: number };
    // Let the gateway finish the last responses' bookkeeping before reading its memory.
    await delay(500);
    const m = win.stop();
    const rssAfter = rssKiB(m.pids);
    const perConnection = opened.opened > 0 ? (rssAfter - rssBefore) / opened.opened : 0;
    return {
      gateway: t.gateway,
      workload: w.name,
      status: 'ok',
      notes: t.notes,
      requests: opened.opened,
      seconds: round(opened.ms / 1000, 2),
      cpuMsPer1k: opened.opened > 0 ? round((m.cpuMs / opened.opened) * 1000, 1) : 0,
      cpuPct: Math.round((m.cpuMs / m.wallMs) * 100),
      foreignCpuPct: m.foreignCpuPct,
      peakRssMiB: round(peakRssKiB(m.pids) / MIB, 1),
      errors: { non2xx: 0, socket: opened.failed },
      idle: {
        clients: w.connections,
        opened: opened.opened,
        failed: opened.failed,
        openMs: opened.ms,
        rssBeforeMiB: round(rssBefore / MIB, 1),
        rssAfterMiB: round(rssAfter / MIB, 1),
        kibPerConnection: round(perConnection, 2),
      },
    };
  } finally {
    await clients.stop();
  }
}

export function measure(w: Workload, t: Target, s: RunSettings, phase: Phase): Promise<Result> {
  if (w.kind === 'stream') return measureStream(w, t, s, phase);
  if (w.kind === 'idle') return measureIdle(w, t, s, phase);
  return measureWrk(w, t, s, phase);
}
