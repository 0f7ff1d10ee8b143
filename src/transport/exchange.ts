import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { SpillBuffer } from '../buffering/spill-buffer.ts';
import { CgiResponseHeadParser, type CgiResponseHead } from '../cgi/response-head.ts';
import { ClientRequestError, GatewayError, UpstreamError, UpstreamTimeoutError } from '../errors.ts';
import type { Param } from '../protocol/params.ts';

/** The request body as the transport receives it. */
export type RequestBody =
  | { readonly kind: 'none' }
  /** Known length, streamed from the client as it arrives (backpressure both ways). */
  | { readonly kind: 'stream'; readonly source: Readable; readonly length: number }
  /** Read whole before the backend is contacted (chunked bodies; replayable). */
  | { readonly kind: 'spooled'; readonly spill: SpillBuffer };

export interface ExchangeRequest {
  readonly params: readonly Param[];
  /** The exact number of body bytes that will follow (CONTENT_LENGTH). */
  readonly contentLength: number;
  readonly body: RequestBody;
  /** nginx buffer_size: the limit of the response head. */
  readonly headLimit: number;
  /** FastCGI: the most body bytes per STDIN record (httpd iobuffersize); undefined: 65535. */
  readonly bodyRecordSize?: number | undefined;
  /** nginx send_timeout / read_timeout: the longest pause between two writes / two reads. */
  readonly sendTimeout: number;
  readonly readTimeout: number;
}

/**
 * What an exchange reports, in order: onHead once, onBody any number of times, then exactly one
 * of onEnd or onError. Implemented by the response writer; a class, so no closure per chunk.
 */
export interface ExchangeSink {
  onHead(head: CgiResponseHead): void;
  /** Returns false when the client cannot take more; the exchange pauses until resume(). */
  onBody(chunk: Buffer): boolean;
  onEnd(): void;
  onError(error: GatewayError): void;
  /** FastCGI stderr, one line at a time (bounded). */
  onStderr(line: string): void;
}

/**
 * Gives the socket back when the exchange ends, exactly once, before the sink's onEnd / onError.
 * `reusable` true: the exchange ended cleanly with nothing left to read (semantics.md C.1.11,
 * E13); the socket is open, paused, with no exchange listener left and no timeout set. false:
 * the socket is already destroyed.
 */
export type ReleaseSocket = (socket: Socket, reusable: boolean) => void;

/** Options every exchange takes (all optional: `new XExchange(socket, request, sink)` still works). */
export interface ExchangeOptions {
  /** Where the socket goes at the end; without it the socket is always destroyed. */
  readonly onRelease?: ReleaseSocket;
}

/** Bodies up to this size travel in the same socket write as the request head. */
export const INLINE_BODY_LIMIT = 64 * 1024;

/**
 * One request/response over one backend socket. Subclasses frame the request for their
 * protocol (encodeHead / frameBody / endBody) and decode what comes back (onSocketData).
 *
 *   sending --(body done)--> awaiting head --(head)--> body --(end)--> done
 *      \____________________________\___________________\--(error)--> done
 */
export abstract class SocketExchange {
  protected readonly socket: Socket;
  protected readonly request: ExchangeRequest;
  protected readonly sink: ExchangeSink;
  private readonly headParser: CgiResponseHeadParser;
  protected headDone = false;
  protected done = false;
  private sendingBody = false;
  private paused = false;
  private bodyBytesSent = 0;
  private received = 0;
  private readonly onRelease: ReleaseSocket | undefined;

  constructor(
    socket: Socket,
    request: ExchangeRequest,
    sink: ExchangeSink,
    allowStatusLine: boolean,
    options?: ExchangeOptions,
  ) {
    this.socket = socket;
    this.request = request;
    this.sink = sink;
    this.onRelease = options?.onRelease;
    this.headParser = new CgiResponseHeadParser({ maxHeaderBytes: request.headLimit, allowStatusLine });
    this.onData = this.onData.bind(this);
    this.onSocketEnd = this.onSocketEnd.bind(this);
    this.onSocketError = this.onSocketError.bind(this);
    this.onTimeout = this.onTimeout.bind(this);
    this.onDrain = this.onDrain.bind(this);
    this.onSourceData = this.onSourceData.bind(this);
    this.onSourceEnd = this.onSourceEnd.bind(this);
    this.onSourceAborted = this.onSourceAborted.bind(this);
  }

  /** The request head with any inline body; one Buffer or a few for one writev. */
  protected abstract encodeHead(inlineBody: Buffer | undefined): Buffer;
  /** Writes one body chunk in the protocol's framing; returns socket.write's answer. */
  protected abstract writeBody(chunk: Buffer): boolean;
  /** Ends the body (FastCGI: the empty STDIN record). */
  protected abstract writeBodyEnd(): void;
  /** Bytes from the backend. */
  protected abstract onSocketData(chunk: Buffer): void;
  /** The backend closed its side. */
  protected abstract onSocketEnd(): void;

  start(): void {
    const socket = this.socket;
    socket.on('data', this.onData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('timeout', this.onTimeout);
    socket.on('drain', this.onDrain);
    // A kept connection comes back paused; a new one starts flowing with the 'data' listener.
    socket.resume();
    socket.setTimeout(this.request.sendTimeout);
    const body = this.request.body;
    let inline: Buffer | undefined;
    if (body.kind === 'spooled' && body.spill.inMemory && body.spill.length <= INLINE_BODY_LIMIT) {
      inline = body.spill.memoryContents();
    }
    if (body.kind === 'none' || inline !== undefined) {
      socket.write(this.encodeHead(inline ?? EMPTY));
      this.requestSent();
      return;
    }
    socket.write(this.encodeHead(undefined));
    this.sendingBody = true;
    if (body.kind === 'stream') {
      body.source.on('data', this.onSourceData);
      body.source.on('end', this.onSourceEnd);
      body.source.on('aborted', this.onSourceAborted);
      body.source.on('error', this.onSourceAborted);
      body.source.resume();
    } else {
      void this.sendSpooled(body.spill);
    }
  }

  /** The sink can take more again. */
  resume(): void {
    if (this.paused && !this.done) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** The client went away or the gateway gave up: close without reporting. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.release(false);
  }

  /** Bytes read from the backend so far (0: it answered nothing, the stale-connection test). */
  get bytesReceived(): number {
    return this.received;
  }

  /** Request body bytes taken from a streamed source (0: the stream can still be replayed). */
  get bodyBytesStreamed(): number {
    return this.bodyBytesSent;
  }

  protected deliverStdout(chunk: Buffer): void {
    if (this.done) return;
    if (!this.headDone) {
      let head: CgiResponseHead | undefined;
      try {
        head = this.headParser.push(chunk);
      } catch (error) {
        this.fail(asGatewayError(error));
        return;
      }
      if (head === undefined) return;
      this.headDone = true;
      this.sink.onHead(head);
      if (this.done || head.rest.length === 0) return;
      chunk = head.rest;
    }
    if (!this.sink.onBody(chunk) && !this.paused && !this.done) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /**
   * The response ended cleanly at the protocol level. `reusable`: the subclass found nothing
   * left to read after the end (FastCGI END_REQUEST at the end of a read); the connection is
   * kept only if the whole request was sent too.
   */
  protected complete(reusable = false): void {
    if (this.done) return;
    if (!this.headDone) {
      this.fail(
        new UpstreamError(
          'ERR_UPSTREAM_NO_HEAD',
          'upstream ended the response before its header was complete',
        ),
      );
      return;
    }
    this.done = true;
    this.release(reusable && !this.sendingBody);
    this.sink.onEnd();
  }

  protected fail(error: GatewayError): void {
    if (this.done) return;
    this.done = true;
    this.release(false);
    this.sink.onError(error);
  }

  private requestSent(): void {
    this.sendingBody = false;
    if (!this.done) this.socket.setTimeout(this.request.readTimeout);
  }

  private onData(chunk: Buffer): void {
    this.received += chunk.length;
    this.onSocketData(chunk);
  }

  private onSocketError(cause: Error): void {
    const code = (cause as NodeJS.ErrnoException).code ?? cause.message;
    const phase = this.sendingBody ? 'sending request to' : 'reading response from';
    this.fail(new UpstreamError('ERR_UPSTREAM_IO', `error while ${phase} upstream (${code})`, { cause }));
  }

  private onTimeout(): void {
    if (this.sendingBody) {
      this.fail(
        new UpstreamTimeoutError('ERR_UPSTREAM_SEND_TIMEOUT', 'upstream timed out while sending request'),
      );
    } else {
      this.fail(
        new UpstreamTimeoutError('ERR_UPSTREAM_READ_TIMEOUT', 'upstream timed out while reading response'),
      );
    }
  }

  private onDrain(): void {
    const body = this.request.body;
    if (this.sendingBody && body.kind === 'stream') body.source.resume();
    const waiter = this.drainWaiter;
    if (waiter !== undefined) {
      this.drainWaiter = undefined;
      waiter();
    }
  }

  private drainWaiter: (() => void) | undefined;

  private onSourceData(chunk: Buffer): void {
    if (this.done) return;
    const body = this.request.body as { source: Readable; length: number };
    const room = body.length - this.bodyBytesSent;
    // Never send more than CONTENT_LENGTH announced: the backend would read the excess as
    // the next request (E12).
    if (chunk.length > room) chunk = chunk.subarray(0, room);
    this.bodyBytesSent += chunk.length;
    if (chunk.length > 0 && !this.writeBody(chunk)) body.source.pause();
  }

  private onSourceEnd(): void {
    if (this.done) return;
    const body = this.request.body as { length: number };
    if (this.bodyBytesSent !== body.length) {
      this.onSourceAborted();
      return;
    }
    this.detachSource();
    this.writeBodyEnd();
    this.requestSent();
  }

  /** The client's fault, not the backend's: a balancer must not count it against the backend. */
  private onSourceAborted(): void {
    this.fail(
      new ClientRequestError(
        'ERR_CLIENT_BODY_INCOMPLETE',
        'client prematurely closed connection while sending the body',
        400,
      ),
    );
  }

  /**
   * Ends the exchange's hold on the socket, exactly once (`done` guards every caller). A kept
   * socket loses every listener of this exchange and is left paused with no timeout; any other
   * is destroyed, keeping its listeners (an 'error' already queued must still find one).
   */
  private release(reusable: boolean): void {
    this.detachSource();
    const socket = this.socket;
    const onRelease = this.onRelease;
    if (reusable && onRelease !== undefined && !socket.destroyed && socket.readableLength === 0) {
      socket.off('data', this.onData);
      socket.off('end', this.onSocketEnd);
      socket.off('error', this.onSocketError);
      socket.off('timeout', this.onTimeout);
      socket.off('drain', this.onDrain);
      socket.setTimeout(0);
      socket.pause();
    } else {
      reusable = false;
      socket.destroy();
    }
    const waiter = this.drainWaiter;
    this.drainWaiter = undefined;
    waiter?.();
    onRelease?.(socket, reusable);
  }

  private detachSource(): void {
    const body = this.request.body;
    if (body.kind !== 'stream') return;
    body.source.off('data', this.onSourceData);
    body.source.off('end', this.onSourceEnd);
    body.source.off('aborted', this.onSourceAborted);
    body.source.off('error', this.onSourceAborted);
  }

  private async sendSpooled(spill: SpillBuffer): Promise<void> {
    try {
      for await (const chunk of spill.chunks()) {
        if (this.done) return;
        if (!this.writeBody(chunk)) {
          await new Promise<void>((resolve) => {
            this.drainWaiter = resolve;
          });
        }
      }
      if (this.done) return;
      this.writeBodyEnd();
      this.requestSent();
    } catch (error) {
      this.fail(
        new UpstreamError('ERR_SPOOL_READ', 'could not read the spooled request body', { cause: error }),
      );
    }
  }
}

const EMPTY = Buffer.alloc(0);

export function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new UpstreamError('ERR_INTERNAL', error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}
