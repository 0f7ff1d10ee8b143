/**
 * One wrk run (Debian's wrk 4.x): `wrk -t1 -c<N> -d<S>s --timeout 5s -s wrk.lua URL`, pinned
 * to the load generator's core, killed if it overruns its duration by 30 s. The Lua script
 * reports counts and latency percentiles as JSON (see wrk.lua).
 */
import { join } from 'node:path';
import { LOAD_CPU, runCommand } from '../proc.ts';

export const WRK = process.env.PORTICO_BENCH_WRK ?? '/usr/bin/wrk';

export interface WrkOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  /** Bytes of request body (POST) per request; 0 or absent: GET. */
  readonly bodyBytes?: number;
}

export interface WrkResult {
  readonly requests: number;
  readonly bytes: number;
  readonly durationS: number;
  /** wrk's error counts: connect, read, write, timeout (socket errors) and status (HTTP >= 400). */
  readonly connect: number;
  readonly read: number;
  readonly write: number;
  readonly status: number;
  readonly timeout: number;
  /** Microseconds. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const script = join(import.meta.dirname, 'wrk.lua');
  const seconds = Math.max(1, Math.round(options.seconds));
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${seconds}s`,
    '--timeout',
    '5s',
    '-s',
    script,
    options.url,
  ];
  const { code, output } = await runCommand(WRK, args, {
    cpu: LOAD_CPU,
    timeoutMs: (seconds + 30) * 1000,
    env: { ...process.env, WRK_BODY_BYTES: String(options.bodyBytes ?? 0) },
  });
  const line = /^WRKJSON (.*)$/m.exec(output);
  if (code !== 0 || line === null) {
    throw new Error(`wrk failed (exit ${code}): ${output.trim().slice(-500)}`);
  }
  const raw = JSON.parse(line[1]!) as Record<string, number>;
  const n = (key: string): number => raw[key] ?? 0;
  return {
    requests: n('requests'),
    bytes: n('bytes'),
    durationS: n('duration_us') / 1e6,
    connect: n('connect'),
    read: n('read'),
    write: n('write'),
    status: n('status'),
    timeout: n('timeout'),
    p50: n('p50'),
    p90: n('p90'),
    p99: n('p99'),
    p999: n('p999'),
    max: n('max'),
    mean: n('mean'),
  };
}
