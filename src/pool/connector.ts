import { connect, type Socket } from 'node:net';
import { UpstreamError, UpstreamTimeoutError } from '../errors.ts';
import type { HostResolver } from './host-resolver.ts';

/** How new backend sockets are set up (per route): nginx `*_bind`, `*_socket_keepalive`. */
export interface SocketOptions {
  /** Source address; undefined: the system chooses. */
  readonly localAddress?: string | undefined;
  /** SO_KEEPALIVE (nginx `*_socket_keepalive`, httpd worker `keepalive`). */
  readonly keepAlive?: boolean | undefined;
}

/** Where a backend listens: what the connector needs of a parsed address. */
export interface SocketTarget {
  readonly transport: 'tcp' | 'unix';
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly socketPath?: string | undefined;
  readonly display: string;
}

/**
 * Opens a connection to a backend, failing with UpstreamTimeoutError after `timeoutMs`
 * (nginx connect_timeout, next_upstream `timeout`) or UpstreamError (`error`). The request's
 * signal aborts the attempt when the client goes away.
 */
export function connectBackend(
  target: SocketTarget,
  timeoutMs: number,
  signal?: AbortSignal,
  options?: SocketOptions,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new UpstreamError('ERR_CLIENT_GONE', 'client closed the connection before connecting'));
      return;
    }
    const socket =
      target.transport === 'unix'
        ? connect({ path: target.socketPath as string })
        : connect({
            host: target.host as string,
            port: target.port as number,
            noDelay: true,
            // nginx *_bind: the source address (unix sockets have none to choose).
            ...(options?.localAddress === undefined ? {} : { localAddress: options.localAddress }),
          });
    let settled = false;
    const finish = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) {
        resolve(socket);
      } else {
        socket.destroy();
        reject(err);
      }
    };
    const onConnect = (): void => {
      if (options?.keepAlive === true) socket.setKeepAlive(true);
      finish(undefined);
    };
    const onError = (cause: Error): void =>
      finish(
        new UpstreamError(
          'ERR_UPSTREAM_CONNECT',
          `connect() to ${describeTarget(target)} failed (${(cause as NodeJS.ErrnoException).code ?? cause.message})`,
          { cause },
        ),
      );
    const onAbort = (): void =>
      finish(new UpstreamError('ERR_CLIENT_GONE', 'client closed the connection while connecting'));
    const timer = setTimeout(
      () =>
        finish(
          new UpstreamTimeoutError(
            'ERR_UPSTREAM_CONNECT_TIMEOUT',
            `connect() to ${describeTarget(target)} timed out`,
          ),
        ),
      timeoutMs,
    );
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Connects to a host-named target through its resolver: the addresses in turn from the next
 * in rotation, falling through to the following one when a connect fails, as nginx passes a
 * request to the next peer of a multi-address server. The last failure is the one reported;
 * a client that leaves stops the walk.
 */
export async function connectResolved(
  target: SocketTarget,
  resolver: HostResolver,
  timeoutMs: number,
  signal?: AbortSignal,
  options?: SocketOptions,
): Promise<Socket> {
  const addresses = await resolver.order();
  let last: unknown;
  for (const address of addresses) {
    try {
      return await connectBackend({ ...target, host: address }, timeoutMs, signal, options);
    } catch (error) {
      last = error;
      if (signal?.aborted || (error instanceof UpstreamError && error.code === 'ERR_CLIENT_GONE')) break;
    }
  }
  throw last;
}

/** `localhost:9000 (::1)` when the display names a host that was resolved to another address. */
function describeTarget(target: SocketTarget): string {
  const host = target.host;
  if (host === undefined || target.display.startsWith(host) || target.display.startsWith(`[${host}]`)) {
    return target.display;
  }
  return `${target.display} (${host})`;
}
