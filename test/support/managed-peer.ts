/**
 * The lifecycle every real peer starter shares: availability check, a fresh temp dir, spawn with
 * output captured to `<dir>/<name>.out`, readiness wait, retry on an ephemeral-port race, and a
 * stop() that stops the process group before removing the dir (the peer may still write there).
 * Each peer module (php-fpm.ts, fcgiwrap.ts, uwsgi.ts, nginx.ts) supplies only its command line
 * and config through `launch`.
 */
import { join } from 'node:path';
import {
  assertPeerAvailable,
  type PeerProcess,
  retryOnAddressInUse,
  spawnPeer,
  waitFor,
  waitUntilListening,
} from './peer-process.ts';
import { makeTempDir } from './ports.ts';

/** What one start attempt runs; `launch` builds it afresh per attempt (a new port each time). */
export interface PeerLaunch {
  readonly command: string;
  readonly args: readonly string[];
  /** The address ("127.0.0.1:PORT" or "unix:/path") whose accepting a connection means ready. */
  readonly address: string;
  /** A log file the peer writes itself (e.g. php-fpm's error_log), quoted when start fails. */
  readonly logPath?: string;
  /** Readiness beyond listening, polled after the socket accepts (uwsgi: workers accepting). */
  readonly ready?: { readonly what: string; check(): boolean };
  /** Default SIGTERM; see SpawnPeerOptions. */
  readonly stopSignal?: NodeJS.Signals;
  readonly graceMs?: number;
}

export interface ManagedPeerOptions {
  /** The process name: temp dir prefix, output file `<name>.out`, error messages. */
  readonly name: string;
  /** Files that must exist, binary first (`assertPeerAvailable`). */
  readonly requires: string | readonly string[];
  /** The name `requires` is checked and reported under (default `name`). */
  readonly checkName?: string;
  /** Writes the peer's config into `dir` and says what to run; may throw to abort the start. */
  launch(dir: string): Promise<PeerLaunch>;
}

export interface ManagedPeer extends AsyncDisposable {
  /** The temp dir owned by this peer, removed by stop(). */
  readonly dir: string;
  /** The address of the attempt that became ready: "127.0.0.1:PORT" or "unix:/path". */
  readonly address: string;
  /** The file receiving the peer's stdout and stderr. */
  readonly outputPath: string;
  readonly pid: number;
  /** Tail of the process's stdout/stderr. */
  output(): string;
  /** Stops the peer (process group included), then removes its temp dir. */
  stop(): Promise<void>;
}

export async function startManagedPeer(options: ManagedPeerOptions): Promise<ManagedPeer> {
  assertPeerAvailable(options.checkName ?? options.name, options.requires);
  const tmp = await makeTempDir(options.name);
  const dir = tmp.path;
  const outputPath = join(dir, `${options.name}.out`);
  try {
    const { peer, address } = await retryOnAddressInUse(async () => {
      const launch = await options.launch(dir);
      const peer = await spawnPeer({
        name: options.name,
        command: launch.command,
        args: launch.args,
        cwd: dir,
        outputPath,
        stopSignal: launch.stopSignal ?? 'SIGTERM',
        graceMs: launch.graceMs,
      });
      await waitReady(peer, launch);
      return { peer, address: launch.address };
    });
    const stop = async (): Promise<void> => {
      await peer.stop();
      await tmp.cleanup();
    };
    return {
      dir,
      address,
      outputPath,
      pid: peer.pid,
      output: peer.output,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await tmp.cleanup();
    throw err;
  }
}

/** On failure stops the peer (it may be alive but broken) and rethrows, for the retry to judge. */
async function waitReady(peer: PeerProcess, launch: PeerLaunch): Promise<void> {
  try {
    await waitUntilListening(peer, launch.address, launch.logPath);
    const ready = launch.ready;
    if (ready !== undefined) await waitFor(peer, () => ready.check(), ready.what);
  } catch (err) {
    await peer.stop();
    throw err;
  }
}
