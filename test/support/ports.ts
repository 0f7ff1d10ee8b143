/**
 * Ports, socket addresses and temp dirs for integration tests. Peers listen on 127.0.0.1 ephemeral
 * ports or on unix sockets inside a fresh temp dir, never on fixed ports or system paths.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { NetConnectOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A port that was free a moment ago: bind port 0 on 127.0.0.1, read the port, close. Another
 * process may take it before the peer binds it; the peer starters retry on "address in use".
 */
export function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

export interface TempDir extends AsyncDisposable {
  readonly path: string;
  /** Removes the dir and everything in it; idempotent. Kept when PORTICO_KEEP_TMP=1 (debugging). */
  cleanup(): Promise<void>;
}

/** Set PORTICO_KEEP_TMP=1 to keep peers' temp dirs (configs, logs) after a run. */
export function keepTempDirs(): boolean {
  return process.env.PORTICO_KEEP_TMP === '1';
}

const liveDirs = new Set<string>();
let exitHookInstalled = false;

/** Dirs whose owner never called cleanup() (a test that forgot to stop a peer, or an early exit). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', removeLiveTempDirsSync);
}

/** Synchronous, for 'exit' and signal handlers: removes every dir not yet cleaned up. */
export function removeLiveTempDirsSync(): void {
  if (keepTempDirs()) return;
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    } catch {
      // a killed peer may still be closing files in it; nothing more can be done here
    }
  }
}

export async function makeTempDir(prefix: string): Promise<TempDir> {
  installExitHook();
  const path = await mkdtemp(join(tmpdir(), `portico-${prefix}-`));
  liveDirs.add(path);
  let removed = false;
  const cleanup = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    liveDirs.delete(path);
    if (keepTempDirs()) {
      process.stderr.write(`# kept temp dir ${path}\n`);
      return;
    }
    await rm(path, { recursive: true, force: true, maxRetries: 3 });
  };
  return { path, cleanup, [Symbol.asyncDispose]: cleanup };
}

/**
 * sun_path is 108 bytes on Linux (104 on BSDs) including the NUL; a longer path fails to bind
 * with a confusing error deep inside the peer, so check it up front.
 */
export function unixSocketPath(dir: string, name: string): string {
  const path = join(dir, name);
  if (Buffer.byteLength(path) > 103) {
    throw new Error(
      `unix socket path too long (${Buffer.byteLength(path)} bytes): ${path}; set TMPDIR shorter`,
    );
  }
  return path;
}

/**
 * The address notation every helper here uses, which is also what nginx's `scgi_pass` /
 * `fastcgi_pass` accept: "127.0.0.1:PORT" or "unix:/abs/path".
 */
export function connectOptions(address: string): NetConnectOpts {
  if (address.startsWith('unix:')) return { path: address.slice('unix:'.length) };
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`bad address ${JSON.stringify(address)}: want "host:port" or "unix:/path"`);
  }
  return { host, port };
}

/** "127.0.0.1:PORT" for TCP, "unix:/path" for a unix socket. */
export function tcpAddress(port: number, host = '127.0.0.1'): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function unixAddress(path: string): string {
  return `unix:${path}`;
}

/** A fresh address for a peer to listen on: a free 127.0.0.1 port, or unix socket `socketName` in `dir`. */
export async function peerAddress(
  listen: 'tcp' | 'unix' | undefined,
  dir: string,
  socketName: string,
): Promise<string> {
  return listen === 'unix' ? unixAddress(unixSocketPath(dir, socketName)) : tcpAddress(await getFreePort());
}

/** The address as php-fpm's `listen` and uwsgi's `--*-socket` take it: "/path" or "host:port". */
export function bindSpec(address: string): string {
  return address.startsWith('unix:') ? address.slice('unix:'.length) : address;
}
