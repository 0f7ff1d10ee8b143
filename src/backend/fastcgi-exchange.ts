/**
 * One FastCGI Responder request on a connection (spec 6.2), from BEGIN_REQUEST to END_REQUEST:
 *
 *   BEGIN_REQUEST    PARAMS pieces     empty PARAMS          STDIN pieces      empty STDIN
 *   -----------> PARAMS ---------> PARAMS ----------> BODY ----------> BODY ----------> BODY_DONE
 *                                     | handler runs    \  (ABORT_REQUEST, limit, res.end)   |
 *                                     v                  +------------------------------> FINISHED
 *                     refused (431/413/400 + END_REQUEST appStatus 1)      END_REQUEST sent
 *
 * The response may start before the body is read (spec 6.2: STDOUT after PARAMS) and may end
 * before it is: later STDIN records are for an inactive id and ignored (spec 3.3).
 *
 * Body backpressure: FastCGI has no per-request flow control, so the only lever is to stop
 * reading the whole connection. A request alone on its connection (nginx, httpd) is paused as
 * soon as its stream is full, exactly like SCGI. With several requests active, a slow reader
 * may hold up to `bodyBufferBytes` (plus the rest of one socket read) while the others keep
 * flowing; past that the connection pauses until it reads (`bodyOverflow: 'pause'`), or its
 * body fails with ERR_BACKEND_BODY_OVERFLOW (`'abort'`).
 */
import { finished, Writable } from 'node:stream';
import { ClientRequestError, type GatewayError } from '../errors.ts';
import { ProtocolStatus, RecordType } from '../protocol/fastcgi/constants.ts';
import {
  encodeEndOfStream,
  encodeEndRequest,
  encodeStream,
  frameStream,
} from '../protocol/fastcgi/encode.ts';
import { PairsCollector } from '../protocol/fastcgi/pairs.ts';
import type { Param } from '../protocol/params.ts';
import { dispatch } from './dispatch.ts';
import type { FastCgiConnection } from './fastcgi-connection.ts';
import { contentLengthFromEnv } from './http-fields.ts';
import { abortedByServer, bodyTooLarge, connectionClosed } from './reasons.ts';
import { BackendRequest, type BodySource } from './request.ts';
import { BackendResponse, type ResponseTransport, type WriteCallback } from './response.ts';

const PARAMS = 0;
const BODY = 1;
const BODY_DONE = 2;
const FINISHED = 3;

/** Status of a request refused before its handler ran, by error code. */
const REFUSAL_STATUS: Readonly<Record<string, number>> = {
  ERR_FCGI_PARAMS_TOO_LARGE: 431,
  ERR_FCGI_TOO_MANY_PARAMS: 431,
  ERR_BACKEND_BODY_TOO_LARGE: 413,
};

export class FastCgiExchange implements ResponseTransport, BodySource {
  readonly id: number;
  readonly keepConn: boolean;
  /** Counted in the connection's paused-by set. */
  stalled = false;
  private readonly connection: FastCgiConnection;
  private readonly controller = new AbortController();
  private phase = PARAMS;
  private collector: PairsCollector | undefined;
  private req: BackendRequest | undefined = undefined;
  private res: BackendResponse | undefined = undefined;
  private contentLength: number | undefined = undefined;
  private bodyBytes = 0;
  private appStatus = 0;
  /** END_REQUEST sent, or the connection is gone: nothing more goes out for this id. */
  private ended = false;
  /** STDERR records went out, so the stream needs its empty terminator. */
  private stderrUsed = false;

  constructor(connection: FastCgiConnection, id: number, keepConn: boolean) {
    this.connection = connection;
    this.id = id;
    this.keepConn = keepConn;
    const o = connection.options;
    this.collector = new PairsCollector({ maxBytes: o.maxParamsBytes, maxPairs: o.maxParamsPairs });
  }

  onParams(piece: Buffer): void {
    const collector = this.collector;
    if (this.phase !== PARAMS || collector === undefined) {
      if (this.phase === FINISHED) return;
      throw this.connection.unexpected('PARAMS after the end of the PARAMS stream', this.id);
    }
    let params: Param[];
    try {
      if (piece.length > 0) {
        collector.push(piece);
        return;
      }
      params = collector.finish();
    } catch (error) {
      this.refuse(error as GatewayError);
      return;
    }
    this.collector = undefined;
    this.start(params);
  }

  onStdin(piece: Buffer): void {
    if (this.phase !== BODY) {
      if (this.phase === PARAMS) throw this.connection.unexpected('STDIN before the end of PARAMS', this.id);
      return;
    }
    const req = this.req!;
    if (piece.length === 0) {
      this.phase = BODY_DONE;
      if (this.contentLength !== undefined && this.bodyBytes !== this.contentLength) {
        this.failBody(this.lengthMismatch());
      } else {
        req.push(null);
      }
      return;
    }
    this.bodyBytes += piece.length;
    const o = this.connection.options;
    if (this.bodyBytes > o.maxBodyBytes) {
      this.failBody(bodyTooLarge(o.maxBodyBytes));
      return;
    }
    if (this.contentLength !== undefined && this.bodyBytes > this.contentLength) {
      // Spec 6.2: a Responder compares STDIN with CONTENT_LENGTH and aborts on a mismatch.
      this.failBody(this.lengthMismatch());
      return;
    }
    if (req.destroyed) return;
    if (req.push(piece)) return;
    const alone = this.connection.requestCount === 1;
    if (alone || req.readableLength >= o.bodyBufferBytes) {
      if (!alone && o.bodyOverflow === 'abort') {
        this.failBody(
          new ClientRequestError(
            'ERR_BACKEND_BODY_OVERFLOW',
            `request body not read: ${req.readableLength} bytes held (bodyBufferBytes ${o.bodyBufferBytes})`,
            503,
          ),
        );
      } else {
        this.connection.stall(this);
      }
    }
  }

  /** The body's consumer wants more. */
  readBody(): void {
    this.connection.unstall(this);
  }

  /** FCGI_ABORT_REQUEST (spec 5.4): the signal fires and END_REQUEST goes out at once. */
  abort(): void {
    if (this.ended) return;
    const reason = abortedByServer();
    this.cancel(reason);
    this.finish([encodeEndRequest(this.id, this.appStatus, ProtocolStatus.REQUEST_COMPLETE)]);
  }

  /**
   * The web server sent EOF: it will send nothing more, so the body cannot complete and the
   * request counts as abandoned (the spec's other way to abort, 5.4). The response still goes
   * out, for a peer that only half-closed.
   */
  peerEnded(): void {
    if (this.ended) return;
    const beforeHandler = this.phase === PARAMS;
    const reason = connectionClosed();
    if (!this.controller.signal.aborted) this.controller.abort(reason);
    if (this.phase < BODY_DONE) this.failBody(reason);
    // No handler will ever run: the request is over.
    if (beforeHandler) this.finish([]);
  }

  /** The socket is gone: nothing can be sent any more. */
  connectionClosed(): void {
    if (this.ended) return;
    this.ended = true;
    this.cancel(connectionClosed());
  }

  // ResponseTransport

  sendBody(chunks: Buffer[], callback: WriteCallback): void {
    if (this.ended) {
      callback();
      return;
    }
    this.connection.send(this.stdout(chunks, []), callback);
  }

  sendEnd(chunks: Buffer[], callback: WriteCallback): void {
    if (this.ended) {
      callback();
      return;
    }
    // STDERR ends before END_REQUEST: wait for the handler's pending stderr writes.
    const stderr = this.res?.openedStderr;
    if (stderr !== undefined && !stderr.writableFinished && !stderr.destroyed) {
      stderr.end();
      finished(stderr, () => this.sendEnd(chunks, callback));
      return;
    }
    const pieces = this.stdout(chunks, []);
    pieces.push(encodeEndOfStream(RecordType.STDOUT, this.id));
    pieces.push(encodeEndRequest(this.id, this.appStatus, ProtocolStatus.REQUEST_COMPLETE));
    this.finish(pieces, callback);
  }

  handlerFailed(): void {
    this.appStatus = 1;
  }

  openStderr(): Writable {
    return new StderrStream(this);
  }

  sendStderr(chunk: Buffer, callback: WriteCallback): void {
    if (this.ended || chunk.length === 0) {
      callback();
      return;
    }
    this.stderrUsed = true;
    this.connection.send(frameStream(RecordType.STDERR, this.id, chunk), callback);
  }

  endStderr(callback: WriteCallback): void {
    if (this.ended || !this.stderrUsed) {
      callback();
      return;
    }
    this.connection.send([encodeEndOfStream(RecordType.STDERR, this.id)], callback);
  }

  reportError(error: unknown): void {
    this.connection.options.onError(error, this.req);
  }

  // Internals

  private start(params: Param[]): void {
    const req = new BackendRequest(params, this.controller.signal, this);
    const contentLength = contentLengthFromEnv(req.env);
    const max = this.connection.options.maxBodyBytes;
    if (contentLength !== undefined && Number.isNaN(contentLength)) {
      this.refuse(
        new ClientRequestError('ERR_BACKEND_CONTENT_LENGTH', 'CONTENT_LENGTH is not a number', 400),
      );
      return;
    }
    if (contentLength !== undefined && contentLength > max) {
      this.refuse(bodyTooLarge(max));
      return;
    }
    this.contentLength = contentLength;
    this.req = req;
    this.res = new BackendResponse(this, (error) => this.reportError(error));
    this.phase = BODY;
    dispatch(this.connection.handler, req, this.res, this, this.connection.options.onError);
  }

  /** A request that cannot be built or taken: a short CGI error response, appStatus 1. */
  private refuse(error: GatewayError): void {
    this.connection.options.onError(error, undefined);
    const status = REFUSAL_STATUS[error.code] ?? 400;
    const head = Buffer.from(
      `Status: ${status}\r\nContent-Type: text/plain\r\n\r\n${error.message}\n`,
      'latin1',
    );
    this.collector = undefined;
    this.finish([
      encodeStream(RecordType.STDOUT, this.id, head, true),
      encodeEndRequest(this.id, 1, ProtocolStatus.REQUEST_COMPLETE),
    ]);
  }

  /** Frames body chunks as STDOUT records, appended to `out`. */
  private stdout(chunks: Buffer[], out: Buffer[]): Buffer[] {
    for (let i = 0; i < chunks.length; i++) {
      const framed = frameStream(RecordType.STDOUT, this.id, chunks[i]!);
      for (let j = 0; j < framed.length; j++) out.push(framed[j]!);
    }
    return out;
  }

  /** Sends the last records and frees the id. */
  private finish(pieces: Buffer[], callback?: WriteCallback): void {
    this.ended = true;
    const previous = this.phase;
    this.phase = FINISHED;
    if (pieces.length > 0) this.connection.send(pieces, callback);
    else callback?.();
    // The response is complete: a body nobody read any more is dropped (node:http dumps it).
    if (previous < BODY_DONE && this.req !== undefined && !this.req.destroyed) this.req.destroy();
    this.connection.requestDone(this);
  }

  private cancel(reason: ClientRequestError): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
    if (this.phase < BODY_DONE) this.failBody(reason);
  }

  private failBody(error: GatewayError): void {
    if (this.phase < BODY_DONE) this.phase = BODY_DONE;
    this.connection.unstall(this);
    const req = this.req;
    if (req !== undefined && !req.destroyed && !req.readableEnded) req.destroy(error);
  }

  private lengthMismatch(): ClientRequestError {
    return new ClientRequestError(
      'ERR_BACKEND_BODY_LENGTH',
      `the body (STDIN) has ${this.bodyBytes} bytes, CONTENT_LENGTH announced ${this.contentLength}`,
      400,
    );
  }
}

/** `res.stderr` on FastCGI: STDERR records for the request's id (spec 6.2). */
class StderrStream extends Writable {
  private readonly exchange: FastCgiExchange;

  constructor(exchange: FastCgiExchange) {
    super();
    this.exchange = exchange;
    this.on('error', (error) => exchange.reportError(error));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.exchange.sendStderr(chunk, callback);
  }

  override _final(callback: WriteCallback): void {
    this.exchange.endStderr(callback);
  }
}
