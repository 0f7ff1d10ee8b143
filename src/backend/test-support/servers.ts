/** Starting and stopping backend servers in tests: 127.0.0.1, ephemeral ports. */
import { once } from 'node:events';
import type { AddressInfo, Server } from 'node:net';
import type { BackendHandler } from '../dispatch.ts';
import { createFastCgiServer, type FastCgiServer } from '../fastcgi-server.ts';
import type { FastCgiServerOptions, ScgiServerOptions } from '../options.ts';
import { createScgiServer, type ScgiServer } from '../scgi-server.ts';

export interface Running<S extends Server> {
  readonly server: S;
  readonly address: { port: number; host: string };
  /** What reached onError. */
  readonly errors: unknown[];
  close(): Promise<void>;
}

async function run<S extends FastCgiServer | ScgiServer>(server: S, errors: unknown[]): Promise<Running<S>> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    address: { port, host: '127.0.0.1' },
    errors,
    async close() {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

export function startFastCgi(
  handler: BackendHandler,
  options: FastCgiServerOptions = {},
): Promise<Running<FastCgiServer>> {
  const errors: unknown[] = [];
  const server = createFastCgiServer(handler, { onError: (e) => errors.push(e), ...options });
  return run(server, errors);
}

export function startScgi(
  handler: BackendHandler,
  options: ScgiServerOptions = {},
): Promise<Running<ScgiServer>> {
  const errors: unknown[] = [];
  const server = createScgiServer(handler, { onError: (e) => errors.push(e), ...options });
  return run(server, errors);
}

/** A promise with its resolve function, for handlers and clients that wait for each other. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
