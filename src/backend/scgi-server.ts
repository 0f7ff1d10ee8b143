/**
 * An SCGI server for Node apps: a net.Server, listening like any other (`listen(port)`,
 * `listen('/run/app.sock')`, `listen({ fd: 0 })` for an inherited socket).
 *
 *   const server = createScgiServer(async (req, res) => { res.end('hello'); });
 *   server.listen(4000);
 *
 * One request per connection (SCGI protocol.txt); the response ends by closing it.
 */
import { type Socket, Server } from 'node:net';
import type { BackendHandler } from './dispatch.ts';
import { resolveOptions, type ScgiServerOptions } from './options.ts';
import { ScgiConnection, type ScgiContext } from './scgi-connection.ts';

export class ScgiServer extends Server {
  private readonly context: ScgiContext;

  constructor(handler: BackendHandler, options: ScgiServerOptions = {}) {
    super({ allowHalfOpen: true, noDelay: true });
    const resolved = resolveOptions(options, handler);
    this.maxConnections = resolved.maxConns;
    this.context = { handler, options: resolved, connections: new Set() };
    this.on('connection', this.accept);
  }

  /** Ends the connections on which no request has arrived yet. */
  closeIdleConnections(): void {
    for (const connection of this.context.connections) {
      if (connection.idle) connection.socket.end();
    }
  }

  /** Destroys every connection: running requests see their signal fire. */
  closeAllConnections(): void {
    for (const connection of this.context.connections) connection.destroy();
  }

  /** Stops listening and closes idle connections; running requests finish. */
  override close(callback?: (error?: Error) => void): this {
    super.close(callback);
    this.closeIdleConnections();
    return this;
  }

  private readonly accept = (socket: Socket): void => {
    new ScgiConnection(socket, this.context);
  };
}

/** An SCGI server running `handler` for every request. */
export function createScgiServer(handler: BackendHandler, options?: ScgiServerOptions): ScgiServer {
  return new ScgiServer(handler, options);
}
