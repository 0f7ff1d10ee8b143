/**
 * Where the tests' fake backends (the recorders, the scripted backend) listen, and how they go
 * away: a 127.0.0.1 ephemeral port or a unix socket in a temp dir, and a close() that resets every
 * open connection (a backend under test must not keep the runner alive) before removing the
 * socket file and the dir.
 */
import { rm } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { makeTempDir, tcpAddress, unixAddress, unixSocketPath } from './ports.ts';

export interface BackendListenOptions {
  readonly listen?: 'tcp' | 'unix';
  /** Dir for the unix socket (default: a fresh temp dir named after `prefix`, removed on close). */
  readonly dir?: string;
  /** Temp dir prefix. */
  readonly prefix: string;
  readonly socketName: string;
}

export interface BackendListener {
  /** "127.0.0.1:PORT" or "unix:/path", as nginx's scgi_pass / fastcgi_pass take it. */
  readonly address: string;
  /** Destroys open connections, closes the server, removes the socket and temp dir; idempotent. */
  close(): Promise<void>;
}

export async function listenBackend(server: Server, options: BackendListenOptions): Promise<BackendListener> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const unix = options.listen === 'unix';
  const tmp = unix && options.dir === undefined ? await makeTempDir(options.prefix) : undefined;
  let address: string;
  let socketPath: string | undefined;
  try {
    if (unix) {
      socketPath = unixSocketPath(tmp?.path ?? options.dir!, options.socketName);
      await listen(server, { path: socketPath });
      address = unixAddress(socketPath);
    } else {
      await listen(server, { host: '127.0.0.1', port: 0 });
      const a = server.address();
      address = tcpAddress(typeof a === 'object' && a !== null ? a.port : 0);
    }
  } catch (err) {
    await tmp?.cleanup();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (socketPath !== undefined) await rm(socketPath, { force: true });
      await tmp?.cleanup();
    })();
    return closing;
  };
  return { address, close };
}

function listen(server: Server, options: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
