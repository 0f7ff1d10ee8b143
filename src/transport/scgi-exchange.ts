import type { Socket } from 'node:net';
import { encodeScgiHead } from '../protocol/scgi/index.ts';
import { type ExchangeOptions, type ExchangeRequest, type ExchangeSink, SocketExchange } from './exchange.ts';

/**
 * SCGI: a netstring of CGI variables, the body, and a CGI response that ends when the backend
 * closes the connection (the protocol allows one request per connection, so onRelease is
 * always told `reusable: false`; nginx and httpd never reuse SCGI connections, A.3).
 */
export class ScgiExchange extends SocketExchange {
  constructor(socket: Socket, request: ExchangeRequest, sink: ExchangeSink, options?: ExchangeOptions) {
    // SCGI backends may answer with an HTTP status line (nginx accepts it, C.1.1).
    super(socket, request, sink, true, options);
  }

  protected encodeHead(inlineBody: Buffer | undefined): Buffer {
    return encodeScgiHead(this.request.params, this.request.contentLength, inlineBody);
  }

  protected writeBody(chunk: Buffer): boolean {
    return this.socket.write(chunk);
  }

  protected writeBodyEnd(): void {}

  protected onSocketData(chunk: Buffer): void {
    this.deliverStdout(chunk);
  }

  protected onSocketEnd(): void {
    this.complete();
  }
}
