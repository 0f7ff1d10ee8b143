/**
 * One SCGI connection = one request (protocol.txt, semantics.md A.1): the header netstring,
 * CONTENT_LENGTH body bytes, then our CGI response and our close.
 *
 *   HEAD --netstring--> BODY --CONTENT_LENGTH bytes--> BODY_DONE
 *     |  handler runs at the end of the headers, while the body streams in
 *     +-- malformed or too large: a 400 / 413 / 431 CGI response, then close
 *
 * Backpressure both ways: the socket pauses while the body stream is full, and a write's
 * callback waits for the socket's 'drain'. The response's end is the connection's end (SCGI
 * has no other framing), so a handler failure after the head cannot be told by a short body:
 * the connection is reset instead, which the web server reports as an error.
 */
import type { Socket } from 'node:net';
import { PassThrough, type Writable } from 'node:stream';
import type { GatewayError } from '../errors.ts';
import { ScgiRequestDecoder, type ScgiRequestHandler } from '../protocol/scgi/decoder.ts';
import type { Param } from '../protocol/params.ts';
import { type BackendHandler, dispatch } from './dispatch.ts';
import type { ResolvedOptions } from './options.ts';
import { connectionClosed } from './reasons.ts';
import { BackendRequest, type BodySource } from './request.ts';
import { BackendResponse, type ResponseTransport, type WriteCallback } from './response.ts';

export interface ScgiContext {
  readonly handler: BackendHandler;
  readonly options: ResolvedOptions;
  readonly connections: Set<ScgiConnection>;
}

const HEAD = 0;
const BODY = 1;
const BODY_DONE = 2;

/** Status of a request refused before its handler ran, by decoder error code. */
const REFUSAL_STATUS: Readonly<Record<string, number>> = {
  ERR_SCGI_HEADERS_TOO_LARGE: 431,
  ERR_SCGI_BODY_TOO_LARGE: 413,
};

export class ScgiConnection implements ScgiRequestHandler, ResponseTransport, BodySource {
  readonly socket: Socket;
  private readonly context: ScgiContext;
  private readonly decoder: ScgiRequestDecoder;
  private readonly controller = new AbortController();
  private phase = HEAD;
  private req: BackendRequest | undefined = undefined;
  /** The response ended or was cut: nothing more is written. */
  private ended = false;
  private closed = false;
  /** Input after the request is dropped (reported once). */
  private discardInput = false;
  private drainWaiter: WriteCallback | undefined = undefined;
  private lingerTimer: NodeJS.Timeout | undefined = undefined;

  constructor(socket: Socket, context: ScgiContext) {
    this.socket = socket;
    this.context = context;
    const o = context.options;
    this.decoder = new ScgiRequestDecoder(this, {
      maxHeaderBytes: o.maxHeaderBytes,
      maxContentLength: o.maxBodyBytes,
    });
    context.connections.add(this);
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onClose);
  }

  /** No request has arrived yet. */
  get idle(): boolean {
    return this.phase === HEAD;
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ScgiRequestHandler

  onHeaders(headers: Param[], _contentLength: number): void {
    const req = new BackendRequest(headers, this.controller.signal, this);
    const res = new BackendResponse(this, (error) => this.context.options.onError(error, req));
    this.req = req;
    this.phase = BODY;
    dispatch(this.context.handler, req, res, this, this.context.options.onError);
  }

  onBody(data: Buffer): void {
    const req = this.req!;
    if (req.destroyed) return;
    if (!req.push(data)) this.socket.pause();
  }

  onEnd(): void {
    this.phase = BODY_DONE;
    const req = this.req!;
    if (!req.destroyed) req.push(null);
  }

  // BodySource

  readBody(): void {
    if (!this.closed) this.socket.resume();
  }

  // ResponseTransport

  sendBody(chunks: Buffer[], callback: WriteCallback): void {
    if (this.ended) {
      callback();
      return;
    }
    this.write(chunks, callback);
  }

  sendEnd(chunks: Buffer[], callback: WriteCallback): void {
    if (this.ended) {
      callback();
      return;
    }
    this.ended = true;
    this.write(chunks, callback);
    this.end();
  }

  handlerFailed(headersSent: boolean): void {
    if (!headersSent || this.ended) return;
    this.ended = true;
    this.socket.resetAndDestroy();
  }

  openStderr(): Writable {
    // SCGI has no error channel: the process's stderr is where CGI scripts' stderr goes too.
    const stream = new PassThrough();
    stream.pipe(process.stderr, { end: false });
    return stream;
  }

  // Internals

  private write(chunks: Buffer[], callback: WriteCallback): void {
    const socket = this.socket;
    if (this.closed || !socket.writable) {
      callback();
      return;
    }
    let ok = true;
    socket.cork();
    for (let i = 0; i < chunks.length; i++) ok = socket.write(chunks[i]!);
    socket.uncork();
    if (ok) callback();
    else this.drainWaiter = callback;
  }

  /** A request that cannot be taken: a short CGI error response and close. */
  private refuse(error: GatewayError): void {
    this.context.options.onError(error, undefined);
    const status = REFUSAL_STATUS[error.code] ?? 400;
    this.ended = true;
    this.socket.write(`Status: ${status}\r\nContent-Type: text/plain\r\n\r\n${error.message}\n`, 'latin1');
    this.end();
  }

  /** FIN, then drop input until the peer closes or lingerMs passes (see FastCgiConnection). */
  private end(): void {
    if (this.socket.writableEnded || this.closed) return;
    this.discardInput = true;
    this.socket.end();
    this.socket.resume();
    const req = this.req;
    // The response is complete: a body nobody read any more is dropped.
    if (this.phase === BODY && req !== undefined && !req.destroyed) req.destroy();
    this.lingerTimer = setTimeout(this.onLingerTimeout, this.context.options.lingerMs);
    this.lingerTimer.unref();
  }

  private abandon(): void {
    const reason = connectionClosed();
    if (!this.controller.signal.aborted) this.controller.abort(reason);
    const req = this.req;
    if (this.phase === BODY && req !== undefined && !req.destroyed) req.destroy(reason);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.discardInput) return;
    try {
      this.decoder.push(chunk);
    } catch (error) {
      if (this.phase === HEAD) {
        this.refuse(error as GatewayError);
      } else {
        // Bytes after the body: one request per connection, so they are the peer's bug.
        this.discardInput = true;
        this.context.options.onError(error, this.req);
      }
    }
  };

  private readonly onDrain = (): void => {
    const waiter = this.drainWaiter;
    if (waiter === undefined) return;
    this.drainWaiter = undefined;
    waiter();
  };

  private readonly onSocketEnd = (): void => {
    // EOF before our response ended: nginx and httpd close the connection when their client
    // goes away. The response still goes out, for a peer that only half-closed.
    if (this.ended) return;
    this.abandon();
    if (this.phase === HEAD) this.socket.end();
  };

  private readonly onSocketError = (): void => {
    // ECONNRESET / EPIPE: the web server went away; 'close' follows.
  };

  private readonly onLingerTimeout = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.closed = true;
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.context.connections.delete(this);
    if (!this.ended) {
      this.ended = true;
      this.abandon();
    }
    this.onDrain();
  };
}
