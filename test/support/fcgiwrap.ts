/**
 * A real fcgiwrap for integration tests. fcgiwrap is a FastCGI responder that runs the CGI script
 * named by SCRIPT_FILENAME (or DOCUMENT_ROOT + SCRIPT_NAME) per request, so tests write an
 * executable script and send its absolute path.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ManagedPeer, startManagedPeer } from './managed-peer.ts';
import { peerAddress } from './ports.ts';

export const FCGIWRAP_PATH: string = process.env.PORTICO_FCGIWRAP ?? '/usr/sbin/fcgiwrap';

export interface FcgiwrapOptions {
  readonly listen: 'tcp' | 'unix';
  /** `-c N`: prefork N processes (default 1). */
  readonly children?: number;
  /** `-f`: send the CGI script's stderr over FastCGI (FCGI_STDERR) instead of fcgiwrap's stderr. */
  readonly stderrOverFastcgi?: boolean;
}

/** `dir` is the peer's own temp dir; tests may put their CGI scripts there. */
export interface Fcgiwrap extends ManagedPeer {
  /** fcgiwrap's stdout/stderr (and the scripts' stderr unless stderrOverFastcgi). */
  readonly logPath: string;
}

export async function startFcgiwrap(options: FcgiwrapOptions): Promise<Fcgiwrap> {
  const peer = await startManagedPeer({
    name: 'fcgiwrap',
    requires: FCGIWRAP_PATH,
    launch: async (dir) => {
      const address = await peerAddress(options.listen, dir, 'fcgiwrap.sock');
      // fcgiwrap's own socket URL syntax: "unix:/path" or "tcp:host:port".
      const socketUrl = address.startsWith('unix:') ? address : `tcp:${address}`;
      const args = ['-s', socketUrl, '-c', String(options.children ?? 1)];
      if (options.stderrOverFastcgi) args.push('-f');
      return { command: FCGIWRAP_PATH, args, address };
    },
  });
  return { ...peer, logPath: peer.outputPath };
}

/** Writes an executable CGI script (mode 0755) and returns its absolute path. */
export async function writeCgiScript(dir: string, name: string, source: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, source);
  await chmod(path, 0o755);
  return path;
}
