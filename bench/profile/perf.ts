/**
 * The kernel's share, which a `--cpu-prof` profile cannot split: `perf record -g` on the
 * gateway process (all its threads) for the measured window, then `perf report` rolled up by
 * object (kernel, node's C++, JIT-compiled JavaScript, libc), by syscall (inclusive: the
 * kernel work a syscall triggers, TCP handshakes and wake-ups of the peer included) and the top
 * symbols by self time. Node runs with `--perf-basic-prof` so JIT frames have names; its
 * /tmp/perf-<pid>.map is removed afterwards. Linux only; needs `perf` and permission to use it
 * (root, or kernel.perf_event_paranoid <= 1).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { runCommand } from '../proc.ts';

export const PERF = process.env.PORTICO_PERF ?? '/usr/bin/perf';

/** The node flags that let perf name JavaScript frames. */
export const PERF_NODE_FLAGS = ['--perf-basic-prof', '--interpreted-frames-native-stack'] as const;

/** Why perf cannot run here, or undefined when it can. */
export async function perfUnavailable(): Promise<string | undefined> {
  if (!existsSync(PERF)) return `${PERF} is missing (apt-get install linux-perf)`;
  const probe = await runCommand(PERF, ['stat', '-e', 'task-clock', '--', 'true'], { timeoutMs: 10_000 });
  if (probe.code !== 0) return `perf is not permitted: ${probe.output.trim().slice(-200)}`;
  return undefined;
}

/** Samples `pid` for `seconds` (at most `seconds + 30` s wall) into `data`. */
export async function perfRecord(pid: number, seconds: number, data: string): Promise<void> {
  const { code, output } = await runCommand(
    PERF,
    ['record', '-F', '999', '-g', '-p', String(pid), '-o', data, '--', 'sleep', String(seconds)],
    { timeoutMs: (seconds + 30) * 1000 },
  );
  if (code !== 0) throw new Error(`perf record failed (exit ${code}): ${output.trim().slice(-300)}`);
}

interface PerfLine {
  readonly children: number;
  readonly self: number;
  readonly name: string;
}

/** `perf report --stdio -g none` lines: `  12.34%  1.23%  [k] sym` or `  12.34%  dso`. */
function report(data: string, args: readonly string[]): PerfLine[] {
  // Read whole (runCommand keeps only the last 64 KiB of output, and the report is sorted).
  const run = spawnSync(
    PERF,
    ['report', '-i', data, '--stdio', '-g', 'none', '--percent-limit', '0.05', ...args],
    {
      encoding: 'latin1',
      timeout: 120_000,
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  if (run.status !== 0)
    throw new Error(`perf report failed (${run.status ?? run.signal}): ${run.stderr.slice(-300)}`);
  const lines: PerfLine[] = [];
  for (const line of run.stdout.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?(.*\S)\s*$/.exec(line);
    if (m === null) continue;
    const first = Number(m[1]);
    lines.push({ children: first, self: m[2] === undefined ? first : Number(m[2]), name: m[3]! });
  }
  return lines;
}

/** Kernel entry points whose inclusive time is "that syscall". */
const SYSCALL = /\[k\] (__x64_sys_\w+|ksys_read|ksys_write|do_writev|do_readv)$/;

/** A text summary of `data`: by object, by syscall (inclusive), top `top` symbols (self). */
export async function perfSummary(data: string, pid: number, top: number): Promise<string> {
  try {
    const byDso = report(data, ['--no-children', '--sort', 'dso']);
    const bySymbol = report(data, ['--children', '--sort', 'sym']);
    const syscalls = bySymbol.filter((l) => SYSCALL.test(l.name)).slice(0, top);
    const selfTop = [...bySymbol].sort((a, b) => b.self - a.self).slice(0, top);
    const fmt = (l: PerfLine, value: number): string => `${value.toFixed(2).padStart(7)}%  ${l.name}`;
    return [
      'perf: by object (self; [JIT] is JavaScript, node is V8 / libuv / bindings in C++)',
      ...byDso.map((l) => fmt(l, l.self)),
      '',
      'perf: by syscall (inclusive: TCP processing and peer wake-ups done in the call)',
      ...syscalls.map((l) => fmt(l, l.children)),
      '',
      `perf: top ${selfTop.length} symbols by self time`,
      ...selfTop.map((l) => fmt(l, l.self)),
    ].join('\n');
  } finally {
    rmSync(`/tmp/perf-${pid}.map`, { force: true });
  }
}
