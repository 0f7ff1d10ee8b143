/**
 * A real fcgiwrap for integration tests. fcgiwrap is a FastCGI responder that runs the CGI script
 * named by SCRIPT_FILENAME (or DOCUMENT_ROOT + SCRIPT_NAME) per request, so tests write an
 * executable script and send its absolute path.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertPeerAvailable, retryOnAddressInUse, spawnPeer, waitOrStop } from './peer-process.ts';
import { getFreePort, makeTempDir, tcpAddress, unixAddress, unixSocketPath } from './ports.ts';

export const FCGIWRAP_PATH: string = process.env.PORTICO_FCGIWRAP ?? '/usr/sbin/fcgiwrap';

export interface FcgiwrapOptions {
  readonly listen: 'tcp' | 'unix';
  /** `-c N`: prefork N processes (default 1). */
  readonly children?: number;
  /** `-f`: send the CGI script's stderr over FastCGI (FCGI_STDERR) instead of fcgiwrap's stderr. */
  readonly stderrOverFastcgi?: boolean;
}

export interface Fcgiwrap extends AsyncDisposable {
  /** "127.0.0.1:PORT" or "unix:/path" */
  readonly address: string;
  /** fcgiwrap's stdout/stderr (and the scripts' stderr unless stderrOverFastcgi). */
  readonly logPath: string;
  /** A temp dir owned by this peer; tests may put their CGI scripts here. */
  readonly dir: string;
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

export async function startFcgiwrap(options: FcgiwrapOptions): Promise<Fcgiwrap> {
  assertPeerAvailable('fcgiwrap', FCGIWRAP_PATH);
  const tmp = await makeTempDir('fcgiwrap');
  const dir = tmp.path;
  const logPath = join(dir, 'fcgiwrap.out');
  try {
    const { peer, address } = await retryOnAddressInUse(async () => {
      const address =
        options.listen === 'unix'
          ? unixAddress(unixSocketPath(dir, 'fcgiwrap.sock'))
          : tcpAddress(await getFreePort());
      // fcgiwrap's own socket URL syntax: "unix:/path" or "tcp:host:port".
      const socketUrl = address.startsWith('unix:') ? address : `tcp:${address}`;
      const args = ['-s', socketUrl, '-c', String(options.children ?? 1)];
      if (options.stderrOverFastcgi) args.push('-f');
      const peer = await spawnPeer({
        name: 'fcgiwrap',
        command: FCGIWRAP_PATH,
        args,
        cwd: dir,
        outputPath: logPath,
        stopSignal: 'SIGTERM',
      });
      await waitOrStop(peer, address);
      return { peer, address };
    });
    const stop = async (): Promise<void> => {
      await peer.stop();
      await tmp.cleanup();
    };
    return {
      address,
      logPath,
      dir,
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

/** Writes an executable CGI script (mode 0755) and returns its absolute path. */
export async function writeCgiScript(dir: string, name: string, source: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, source);
  await chmod(path, 0o755);
  return path;
}
