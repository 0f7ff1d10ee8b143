/**
 * Processes the bench starts, and what /proc says about them. Every child is spawned detached
 * (it leads its own process group, so nginx's and httpd's workers are in it too), stopped by
 * its pid: SIGTERM to the group, SIGKILL to the group after a grace period. A process 'exit'
 * hook SIGKILLs every group still alive, so an interrupted bench run leaves no process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { connect, createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** Core 0 for the gateway, core 1 for the load generator and the backends (when there are two). */
export const CORES = availableParallelism();
export const GATEWAY_CPU = '0';
export const LOAD_CPU = CORES >= 2 ? '1' : '0';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (sysconf(_SC_CLK_TCK)); 100 on Linux. */
const CLK_TCK = 100;

const live = new Map<number, ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping what it started\n`);
      process.exit(130);
    });
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

export interface Started {
  readonly pid: number;
  readonly name: string;
  /** stdout + stderr so far (the last 64 KiB). */
  output(): string;
  /** Resolves with the exit code once the leader exited. */
  readonly exited: Promise<number | null>;
  /** Resolves once the output pipes closed (every process holding them exited). */
  readonly closed: Promise<void>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** `taskset -c <cpu>` when set and the machine has more than one core. */
  readonly cpu?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** What stop() sends the leader first (default SIGTERM). */
  readonly stopSignal?: NodeJS.Signals;
}

export function startProcess(options: SpawnOptions): Started {
  hookExit();
  const pinned = options.cpu !== undefined && CORES >= 2;
  const command = pinned ? 'taskset' : options.command;
  const args = pinned ? ['-c', options.cpu!, options.command, ...options.args] : [...options.args];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`cannot start ${options.name} (${options.command})`);
  const pid = child.pid;
  live.set(pid, child);
  let out = '';
  const collect = (chunk: Buffer): void => {
    out += chunk.toString('latin1');
    if (out.length > 65536) out = out.slice(-65536);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
    child.once('error', (error) => {
      collect(Buffer.from(`spawn error: ${error.message}\n`));
      resolve(null);
    });
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(pid, options.stopSignal ?? 'SIGTERM');
        } catch {
          // exited meanwhile
        }
        await Promise.race([exited, delay(5000)]);
      }
      // Workers the leader left behind (or a leader that ignored the signal).
      killGroup(pid, 'SIGKILL');
      await Promise.race([exited, delay(2000)]);
      live.delete(pid);
    })();
    return stopping;
  };
  return { pid, name: options.name, output: () => out, exited, closed, stop };
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Connects until `address` ("127.0.0.1:PORT" or "unix:/path") accepts, at most `timeoutMs`. */
export async function waitForListener(address: string, timeoutMs: number, started?: Started): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const target = address.startsWith('unix:')
    ? { path: address.slice(5) }
    : { host: '127.0.0.1', port: Number(address.slice(address.lastIndexOf(':') + 1)) };
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(target);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${address} after ${timeoutMs} ms`);
    if (started !== undefined) {
      const code = await Promise.race([started.exited, delay(50).then(() => 'running' as const)]);
      if (code !== 'running') throw new Error(`${started.name} exited (${code}) before listening`);
    } else {
      await delay(50);
    }
  }
}

/** The pid and every descendant (nginx's workers, httpd's children), from /proc's ppid links. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat === undefined) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0 && out.length < 10_000) {
    const pid = queue.shift()!;
    out.push(pid);
    for (const child of children.get(pid) ?? []) queue.push(child);
  }
  return out;
}

interface Stat {
  readonly ppid: number;
  /** utime + stime in ticks. */
  readonly ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return {
    ppid: Number(fields[1]),
    ticks: Number(fields[11]) + Number(fields[12]),
  };
}

/** CPU time (user + system) of the processes, in milliseconds. */
export function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += readStat(pid)?.ticks ?? 0;
  return (ticks * 1000) / CLK_TCK;
}

function statusKiB(pid: number, field: string): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return 0;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match === null ? 0 : Number(match[1]);
}

/** Peak resident set size (VmHWM) summed over the processes, KiB. */
export function peakRssKiB(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += statusKiB(pid, 'VmHWM');
  return sum;
}

/** Resident set size now (VmRSS) summed over the processes, KiB. */
export function rssKiB(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += statusKiB(pid, 'VmRSS');
  return sum;
}

/**
 * Resets VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux 4.0+), so the next
 * peak belongs to one workload. Returns false where it is not permitted (the peak then counts
 * from the process's start).
 */
export function resetPeakRss(pids: readonly number[]): boolean {
  let ok = true;
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

/**
 * CPU ticks of every process that is not the bench's (the runner and what it started) and not
 * a kernel thread: other work on the machine, such as a test suite running beside the bench.
 * Compared before and after a run by foreignCpuMs. Reaped children's time (cutime) is left
 * out: it lands on the parent all at once when the child exits, whole lifetime included, and
 * would show as a spike; a process that starts and ends between two snapshots is missed, so
 * this undercounts rather than overcounts.
 */
export function foreignTicks(): Map<number, number> {
  const ours = new Set(processTree(process.pid));
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || ours.has(pid) || pid === 2) continue;
    const stat = readStat(pid);
    if (stat === undefined || stat.ppid === 2) continue;
    out.set(pid, stat.ticks);
  }
  return out;
}

/** CPU milliseconds other processes used between two foreignTicks() snapshots. */
export function foreignCpuMs(
  before: ReadonlyMap<number, number>,
  after: ReadonlyMap<number, number>,
): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += Math.max(0, t - (before.get(pid) ?? 0));
  return (ticks * 1000) / CLK_TCK;
}

/** Busy and total jiffies of one CPU from /proc/stat (busy: all but idle and iowait). */
export function cpuJiffies(cpu: string): { busy: number; total: number } {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'latin1');
  } catch {
    return { busy: 0, total: 0 };
  }
  const line = new RegExp(`^cpu${cpu} (.*)$`, 'm').exec(text);
  if (line === null) return { busy: 0, total: 0 };
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const f = line[1]!.trim().split(/\s+/).map(Number).slice(0, 8);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/** Runs a command to completion, killed after `timeoutMs`; resolves with its exit code and output. */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: { cpu?: string; timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<{ code: number | null; output: string }> {
  const started = startProcess({
    name: command,
    command,
    args,
    ...(options.cpu === undefined ? {} : { cpu: options.cpu }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  const timer = setTimeout(() => void started.stop(), options.timeoutMs);
  const code = await started.exited;
  clearTimeout(timer);
  await Promise.race([started.closed, delay(1000)]);
  await started.stop();
  return { code, output: started.output() };
}
