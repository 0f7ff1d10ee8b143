import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One address to listen on, parsed from the config's `listen`. */
export type ListenTarget =
  | { readonly kind: 'tcp'; readonly host: string | undefined; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export interface FrontOptions {
  /** nginx keepalive_timeout. */
  readonly keepAliveTimeout: number;
  /** nginx client_header_timeout: the whole request head must arrive within it. */
  readonly headersTimeout: number;
  /** nginx large_client_header_buffers (number * size): the largest request head. */
  readonly maxHeaderSize: number;
  /** nginx keepalive_requests. */
  readonly maxRequestsPerSocket: number;
}

export type RequestListener = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => void;

/**
 * An HTTP/1.1 listener on node:http, configured strictly: llhttp rejects CL+TE, duplicate or
 * malformed Content-Length and bad chunk sizes (no request smuggling), the head size is
 * bounded, and `Expect: 100-continue` is left to the gateway so it can refuse a body with 413
 * before the client sends it.
 *
 * `optimizeEmptyRequests`: a request with neither Content-Length nor Transfer-Encoding has no
 * body (RFC 9112 6.3), and the gateway never reads one (request-body.ts sends no body for it),
 * so node:http hands it over already ended instead of running its readable stream through
 * resume / 'end' / 'close' after the response (req._dump). The profile of the hello workloads
 * showed that lifecycle as a visible share of node:streams and node:events time per request.
 */
export function createFront(options: FrontOptions, onRequest: RequestListener): Server {
  const server = createServer(
    {
      keepAliveTimeout: options.keepAliveTimeout,
      headersTimeout: options.headersTimeout,
      // Body timeouts are the gateway's (client_body_timeout), per read, not per request.
      requestTimeout: 0,
      maxHeaderSize: options.maxHeaderSize,
      insecureHTTPParser: false,
      requireHostHeader: true,
      joinDuplicateHeaders: false,
      noDelay: true,
      optimizeEmptyRequests: true,
    },
    (req, res) => onRequest(req, res, false),
  );
  server.maxRequestsPerSocket = options.maxRequestsPerSocket;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const reason =
      status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nServer: portico\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
  });
  return server;
}

/** Starts listening; a unix socket path left by a previous run is removed first. */
export async function listen(server: Server, target: ListenTarget): Promise<string> {
  if (target.kind === 'unix') await rm(target.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (target.kind === 'unix') server.listen(target.path, done);
    else server.listen(target.port, target.host, done);
  });
  if (target.kind === 'unix') return `unix:${target.path}`;
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const shown = address.address === '::' || address.address === '0.0.0.0' ? 'localhost' : host;
  return `http://${shown}:${address.port}/`;
}

/**
 * Graceful stop: no new connections, idle keep-alive connections closed now, in-flight
 * requests given until the deadline, then every connection is closed.
 */
export async function drain(servers: readonly Server[], deadlineMs: number): Promise<void> {
  const closed = servers.map(
    (server) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  );
  for (const server of servers) server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), deadlineMs);
  });
  // Connections that finish their request while draining are closed as they go idle.
  const sweeper = setInterval(() => {
    for (const server of servers) server.closeIdleConnections();
  }, 100);
  const outcome = await Promise.race([Promise.all(closed), deadline]);
  clearInterval(sweeper);
  clearTimeout(timer);
  if (outcome === 'deadline') {
    for (const server of servers) server.closeAllConnections();
    await Promise.all(closed);
  }
}
