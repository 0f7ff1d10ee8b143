/**
 * A FastCGI Responder server for Node apps: a net.Server, so it listens like any other
 * (`listen(port)`, `listen('/run/app.sock')`, `listen({ fd: 0 })` for a socket inherited from
 * a process manager or fcgistarter).
 *
 *   const server = createFastCgiServer(async (req, res) => { res.end('hello'); });
 *   server.listen(9000);
 *
 * Connections are half-open capable: a web server that shuts down its sending side still
 * receives the response. `close()` stops listening and closes idle connections; connections
 * kept open with FCGI_KEEP_CONN close once their running requests end.
 */
import { type Socket, Server } from 'node:net';
import type { BackendHandler } from './dispatch.ts';
import { FastCgiConnection, type FastCgiContext } from './fastcgi-connection.ts';
import { type FastCgiServerOptions, normalizeAddress, resolveOptions } from './options.ts';

export class FastCgiServer extends Server {
  private readonly context: FastCgiContext;

  constructor(handler: BackendHandler, options: FastCgiServerOptions = {}) {
    // noDelay: records are written whole in one cork; Nagle would only delay the last one.
    super({ allowHalfOpen: true, noDelay: true });
    const resolved = resolveOptions(options, handler);
    this.maxConnections = resolved.maxConns;
    this.context = {
      handler,
      options: resolved,
      activeRequests: 0,
      closing: false,
      connections: new Set(),
    };
    this.on('connection', this.accept);
  }

  /** Requests running now, over all connections. */
  get activeRequests(): number {
    return this.context.activeRequests;
  }

  /** Ends the connections that have no request running (FCGI_KEEP_CONN connections at rest). */
  closeIdleConnections(): void {
    for (const connection of this.context.connections) {
      if (connection.idle) connection.closeIfIdle();
    }
  }

  /** Destroys every connection: running requests see their signal fire. */
  closeAllConnections(): void {
    for (const connection of this.context.connections) connection.destroy();
  }

  /** Stops listening, closes idle connections, and busy ones when their requests end. */
  override close(callback?: (error?: Error) => void): this {
    this.context.closing = true;
    super.close(callback);
    for (const connection of this.context.connections) connection.closeIfIdle();
    return this;
  }

  private readonly accept = (socket: Socket): void => {
    const allowed = this.context.options.webServerAddrs;
    const remote = socket.remoteAddress;
    // FCGI_WEB_SERVER_ADDRS (spec 3.2) applies to TCP peers; a Unix socket has no address.
    if (allowed !== undefined && remote !== undefined && !allowed.has(normalizeAddress(remote))) {
      socket.destroy();
      return;
    }
    new FastCgiConnection(socket, this.context);
  };
}

/** A FastCGI server running `handler` for every Responder request. */
export function createFastCgiServer(handler: BackendHandler, options?: FastCgiServerOptions): FastCgiServer {
  return new FastCgiServer(handler, options);
}
