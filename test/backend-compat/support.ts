/**
 * A node:http app (Express, Fastify) served by Portico's own backend library through
 * `fromNodeHttp`, over SCGI or FastCGI, behind the real gateway (parseConfigObject +
 * startGateway): what a deployment runs, end to end, on 127.0.0.1 ephemeral ports.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createFastCgiServer,
  createScgiServer,
  type FastCgiServer,
  fromNodeHttp,
  type NodeHttpListener,
  type ScgiServer,
} from '../../src/backend/index.ts';
import { startTestGateway, type TestGateway } from '../integration/support/gateway.ts';

export const PROTOCOLS = ['fastcgi', 'scgi'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface AppBehindGateway {
  readonly gw: TestGateway;
  /** What the backend server reported to `onError` (handler failures, protocol errors). */
  readonly backendErrors: unknown[];
  close(): Promise<void>;
}

/**
 * `createFastCgiServer(fromNodeHttp(listener))` or `createScgiServer(...)` on 127.0.0.1:0, and a
 * gateway whose `/` location passes every request to it. `backendConfig`: more keys for the
 * location's `scgi:` / `fastcgi:` block (e.g. `keep_conn`).
 */
export async function serveBehindGateway(
  protocol: Protocol,
  listener: NodeHttpListener,
  backendConfig: Record<string, unknown> = {},
): Promise<AppBehindGateway> {
  const backendErrors: unknown[] = [];
  const options = { onError: (error: unknown) => backendErrors.push(error) };
  const handler = fromNodeHttp(listener);
  const server: FastCgiServer | ScgiServer =
    protocol === 'fastcgi' ? createFastCgiServer(handler, options) : createScgiServer(handler, options);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let gw: TestGateway;
  try {
    gw = await startTestGateway({
      client_max_body_size: '16m',
      locations: [{ match: '/', [protocol]: { pass: `127.0.0.1:${port}`, ...backendConfig } }],
    });
  } catch (error) {
    server.close();
    throw error;
  }
  return {
    gw,
    backendErrors,
    async close() {
      await gw.close();
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
}

/** A promise with its resolve function: a gate the app waits on and the test opens. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Reads a response body until it contains `text` (or ends). The response streams when this
 * resolves while the app is still waiting for the test to let it write more.
 */
export function readUntil(res: IncomingMessage, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer): void => {
      got += chunk.toString('latin1');
      if (got.includes(text)) {
        cleanup();
        res.pause();
        resolve(got);
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`the body ended without ${JSON.stringify(text)}; got ${JSON.stringify(got)}`));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      res.off('data', onData);
      res.off('end', onEnd);
      res.off('error', onError);
    };
    res.on('data', onData);
    res.on('end', onEnd);
    res.on('error', onError);
    res.resume();
  });
}

/** The rest of a response body. */
export async function readRest(res: IncomingMessage): Promise<string> {
  let got = '';
  for await (const chunk of res as AsyncIterable<Buffer>) got += chunk.toString('latin1');
  return got;
}
