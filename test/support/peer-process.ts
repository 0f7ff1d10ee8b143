/**
 * Running a real peer (php-fpm, fcgiwrap, uwsgi, nginx) as a child process of the test:
 * availability checks, spawning in its own process group with output to a log file, readiness by
 * polling its socket, and stopping by pid — never by name, never the system service.
 *
 * Why a process group: uwsgi, php-fpm and nginx fork workers, fcgiwrap forks CGI scripts. The
 * child is spawned `detached` so it leads a new group; stop() signals the leader (so it can shut
 * down in order) and then SIGKILLs the whole group, which sweeps any worker the leader left
 * behind. A process 'exit' hook SIGKILLs every group still alive, so a crashed or failed test run
 * leaves nothing behind either.
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
} from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { connectOptions, removeLiveTempDirsSync } from './ports.ts';

// ---------------------------------------------------------------------------------------------
// Availability

export interface PeerCheck {
  readonly name: string;
  /** The first path given (the binary). */
  readonly path: string;
  readonly available: boolean;
  /**
   * For `describe(name, { skip: check.skip }, ...)`: a reason string when the peer is missing and
   * we are not in CI; `false` otherwise. In CI a missing peer is not skipped: starting it fails.
   */
  readonly skip: string | false;
}

/** CI=true (or 1) turns a missing peer from a skip into a failure: CI installs every peer. */
export function inCi(): boolean {
  const ci = process.env.CI;
  return ci === 'true' || ci === '1';
}

const reported = new Set<string>();

/**
 * Checks that a peer's files exist (the binary first, then e.g. a plugin) and are usable.
 * Missing outside CI: returns a skip reason and prints it once. Missing under CI=true: no skip;
 * `assertPeerAvailable` (called by every starter) then throws, so the test fails.
 */
export function requirePeer(name: string, path: string | readonly string[]): PeerCheck {
  const paths = typeof path === 'string' ? [path] : [...path];
  const missing = paths.filter((p, i) => !usable(p, i === 0));
  const available = missing.length === 0;
  let skip: string | false = false;
  if (!available) {
    const reason = `${name} not installed (missing ${missing.join(', ')})`;
    if (!inCi()) skip = reason;
    if (!reported.has(name)) {
      reported.add(name);
      process.stderr.write(`# ${inCi() ? 'FAIL (CI=true)' : 'SKIP'}: ${reason}\n`);
    }
  }
  return { name, path: paths[0] ?? '', available, skip };
}

/** Throws a clear error naming the missing peer; starters call this before spawning. */
export function assertPeerAvailable(name: string, path: string | readonly string[]): void {
  const check = requirePeer(name, path);
  if (!check.available) {
    throw new Error(
      `peer ${name} is not available (${check.skip || 'missing files'}); CI installs it via .ci/run`,
    );
  }
}

function usable(path: string, executable: boolean): boolean {
  try {
    accessSync(path, executable ? constants.X_OK : constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first existing path among candidates (e.g. php-fpm8.2, then other versions). */
export function firstExisting(candidates: readonly string[]): string {
  for (const c of candidates) if (existsSync(c)) return c;
  return candidates[0] ?? '';
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface PeerProcess {
  readonly name: string;
  readonly pid: number;
  /** The file receiving the peer's stdout and stderr. */
  readonly outputPath: string;
  /** The last bytes (at most 16 KiB) of the peer's stdout/stderr, for error messages. */
  output(): string;
  exited(): boolean;
  /** Stops the peer: `signal` to the leader, SIGKILL to the group after `graceMs`, then a sweep. */
  stop(): Promise<void>;
}

export interface SpawnPeerOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** File receiving stdout and stderr (appended). */
  readonly outputPath: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The signal that makes this peer exit (php-fpm: SIGTERM = immediate; nginx: SIGTERM = fast). */
  readonly stopSignal?: NodeJS.Signals;
  /** How long the leader gets to exit after stopSignal before the group is SIGKILLed. */
  readonly graceMs?: number;
}

/** Process groups started and not yet stopped, with the peer's name. */
const liveGroups = new Map<number, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test forgot to stop a peer or the runner exits early: synchronous, so
  // it works inside 'exit'. Prepended so it runs before ports.ts's hook removes the temp dirs
  // these processes write into.
  process.prependListener('exit', killAllLive);
  // Peers lead their own process groups, so a Ctrl-C (SIGINT to the terminal's group) or the
  // runner's SIGTERM does not reach them, and a signal death emits no 'exit'. Kill them here,
  // then, when no one else handles the signal, re-raise it so the default action still applies.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllLive();
      removeLiveTempDirsSync();
      process.off(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

function killAllLive(): void {
  for (const [pgid, name] of liveGroups) {
    if (killGroup(pgid, 'SIGKILL'))
      process.stderr.write(`# ${name} (pid ${pgid}) was never stopped; killed\n`);
  }
  liveGroups.clear();
}

function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is empty
  }
}

/**
 * The live (non-zombie) pids of process group `pgid`. On Linux read from /proc, since a zombie
 * whose parent died waits for pid 1 to reap it and is no leftover of ours; elsewhere a
 * signal-0 probe of the group (zombies count there).
 */
export function processGroupMembers(pgid: number): number[] {
  if (process.platform !== 'linux') {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM' ? [pgid] : [];
    }
  }
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parens, so parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(entry));
  }
  return members;
}

export function processGroupAlive(pgid: number): boolean {
  return processGroupMembers(pgid).length > 0;
}

export function spawnPeer(options: SpawnPeerOptions): Promise<PeerProcess> {
  installExitHook();
  const fd = openSync(options.outputPath, 'a');
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  return new Promise((resolve, reject) => {
    child.once('error', reject); // ENOENT / EACCES: never started
    child.once('spawn', () => {
      const pid = child.pid;
      if (pid === undefined) {
        reject(new Error(`${options.name}: spawned without a pid`));
        return;
      }
      liveGroups.set(pid, options.name);
      let hasExited = false;
      const exitedPromise = new Promise<void>((done) => {
        child.once('exit', () => {
          hasExited = true;
          done();
        });
      });
      // Never keep the test process alive just because a peer runs; stop() and the exit hook end it.
      child.unref();
      let stopping: Promise<void> | undefined;
      const stop = (): Promise<void> => {
        stopping ??= (async () => {
          child.ref(); // keep the loop alive until the peer is really gone
          if (!hasExited) {
            try {
              process.kill(pid, options.stopSignal ?? 'SIGTERM');
            } catch {
              // already gone
            }
            const graceful = await Promise.race([
              exitedPromise.then(() => true),
              delay(options.graceMs ?? 5000, false, { ref: false }),
            ]);
            if (!graceful) killGroup(pid, 'SIGKILL');
            await exitedPromise;
          }
          // Workers or CGI scripts the leader did not take down with it.
          killGroup(pid, 'SIGKILL');
          for (let i = 0; i < 200 && processGroupAlive(pid); i++) await delay(10);
          liveGroups.delete(pid);
        })();
        return stopping;
      };
      resolve({
        name: options.name,
        pid,
        outputPath: options.outputPath,
        output: () => readTail(options.outputPath, 16 * 1024),
        exited: () => hasExited,
        stop,
      });
    });
  });
}

/** The last `max` bytes of a file (logs grow; never read them whole into an error message). */
export function readTail(path: string, max: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, max);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Readiness

export interface WaitOptions {
  /** Bounded: at most this many connection attempts (default 400). */
  readonly attempts?: number;
  /** Pause between failed attempts (default 25 ms). */
  readonly intervalMs?: number;
}

export class PeerStartError extends Error {
  override readonly name = 'PeerStartError';
  readonly addressInUse: boolean;
  constructor(message: string, addressInUse: boolean) {
    super(message);
    this.addressInUse = addressInUse;
  }
}

/**
 * Polls `address` until a connection succeeds (the peer listens), the peer exits (fail fast with
 * its output), or the attempts run out. A probe connection is closed without sending anything.
 */
export async function waitUntilListening(
  peer: PeerProcess,
  address: string,
  extraLogPath?: string,
  options: WaitOptions = {},
): Promise<void> {
  const attempts = options.attempts ?? 400;
  const intervalMs = options.intervalMs ?? 25;
  for (let i = 0; i < attempts; i++) {
    if (peer.exited()) break;
    if (await tryConnect(address)) return;
    await delay(intervalMs);
  }
  const log = `${peer.output()}${extraLogPath ? readTail(extraLogPath, 8 * 1024) : ''}`;
  const why = peer.exited() ? 'exited before listening' : `not listening after ${attempts} attempts`;
  throw new PeerStartError(
    `${peer.name} ${why} on ${address}; output:\n${log}`,
    /address already in use|EADDRINUSE/i.test(log),
  );
}

/** Polls `ready` (bounded, like waitUntilListening) while the peer runs. */
export async function waitFor(
  peer: PeerProcess,
  ready: () => boolean,
  what: string,
  options: WaitOptions = {},
): Promise<void> {
  const attempts = options.attempts ?? 400;
  for (let i = 0; i < attempts; i++) {
    if (peer.exited()) break;
    if (ready()) return;
    await delay(options.intervalMs ?? 25);
  }
  const why = peer.exited() ? 'exited' : `not ready after ${attempts} attempts`;
  throw new PeerStartError(`${peer.name} ${why} (waiting for ${what}); output:\n${peer.output()}`, false);
}

function tryConnect(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(connectOptions(address));
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * Runs `attempt` (which picks a port, spawns and waits) up to 3 times while the failure is an
 * "address in use" race on the ephemeral port; any other failure is thrown at once.
 */
export async function retryOnAddressInUse<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof PeerStartError && err.addressInUse) || i >= 2) throw err;
    }
  }
}
