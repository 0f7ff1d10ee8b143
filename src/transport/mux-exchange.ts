/**
 * One request on a multiplexed FastCGI connection (mux-connection.ts routes its records here).
 *
 * FastCGI has no per-request flow control: the application writes every request's STDOUT into
 * one socket, and pausing that socket for one slow client would stall every other request on
 * it. So the socket is never paused for one request. What a slow client cannot take yet is
 * queued here, up to `bufferLimit` bytes; past that the request is given up (FCGI_ABORT_REQUEST
 * to the application, the client connection closed as truncated, logged as the client's
 * doing). Everyone else keeps flowing. Requests that need flow control for large answers to
 * slow clients belong on connections of their own (`multiplex: off`).
 */
import type { CgiResponseHead } from '../cgi/response-head.ts';
import { CgiResponseHeadParser } from '../cgi/response-head.ts';
import { ClientRequestError, type GatewayError, UpstreamError, UpstreamTimeoutError } from '../errors.ts';
import { decodeEndRequest, encodeFastCgiRequestHead, endRequestError } from '../protocol/fastcgi/index.ts';
import { asGatewayError, type ExchangeRequest, type ExchangeSink } from './exchange.ts';
import { StderrLines } from './stderr-lines.ts';

/** What the exchange needs of its connection. */
export interface MuxLink {
  write(data: Buffer): void;
  /** The request is over on our side; `answered`: END_REQUEST came (the id may be reused). */
  finished(id: number, answered: boolean): void;
  abortRequest(id: number): void;
}

export class MuxExchange {
  readonly id: number;
  bytesRead = 0;
  bytesWritten = 0;
  private readonly link: MuxLink;
  private readonly request: ExchangeRequest;
  private readonly sink: ExchangeSink;
  private readonly bufferLimit: number;
  private readonly headParser: CgiResponseHeadParser;
  private headDone = false;
  private done = false;
  private paused = false;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private endPending = false;
  private readonly stderr: StderrLines;
  private readonly timer: NodeJS.Timeout;

  constructor(link: MuxLink, id: number, request: ExchangeRequest, sink: ExchangeSink, bufferLimit: number) {
    this.link = link;
    this.id = id;
    this.request = request;
    this.sink = sink;
    this.bufferLimit = bufferLimit;
    this.headParser = new CgiResponseHeadParser({
      maxHeaderBytes: request.headLimit,
      allowStatusLine: false,
    });
    this.timer = setTimeout(() => this.timedOut(), request.readTimeout);
    this.stderr = new StderrLines((line) => this.sink.onStderr(line));
  }

  /** Sends the request: BEGIN_REQUEST (keep-conn) + PARAMS + the body inline + end of STDIN. */
  start(inlineBody: Buffer): void {
    const head = encodeFastCgiRequestHead(
      this.id,
      this.request.params,
      true,
      inlineBody,
      undefined,
      this.request.bodyRecordSize,
    );
    this.bytesWritten += head.length;
    this.link.write(head);
  }

  /** Stops the read timer of an exchange that never started. */
  dispose(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  onStdout(content: Buffer): void {
    if (this.done) return;
    this.bytesRead += content.length;
    this.timer.refresh();
    if (this.stderr.partial) this.stderr.flush();
    if (!this.headDone) {
      let head: CgiResponseHead | undefined;
      try {
        head = this.headParser.push(content);
      } catch (error) {
        this.fail(asGatewayError(error));
        return;
      }
      if (head === undefined) return;
      this.headDone = true;
      this.sink.onHead(head);
      if (this.done || head.rest.length === 0) return;
      content = head.rest;
    }
    this.deliver(content);
  }

  onStderr(content: Buffer): void {
    if (this.done) return;
    this.timer.refresh();
    this.stderr.push(content);
  }

  onEndRequest(content: Buffer): void {
    if (this.done) {
      this.link.finished(this.id, true);
      return;
    }
    this.stderr.flush();
    const error = endRequestError(decodeEndRequest(content).protocolStatus);
    if (error !== undefined) {
      this.fail(error, true);
      return;
    }
    if (!this.headDone) {
      this.fail(
        new UpstreamError(
          'ERR_UPSTREAM_NO_HEAD',
          'upstream ended the response before its header was complete',
        ),
        true,
      );
      return;
    }
    if (this.queued > 0) {
      this.endPending = true;
      this.link.finished(this.id, true);
      return;
    }
    this.finish(true);
    this.sink.onEnd();
  }

  /** The connection broke: this request fails (truncated if the head went out). */
  onConnectionLost(error: GatewayError): void {
    if (this.done) return;
    const lost = this.headDone
      ? new UpstreamError(
          'ERR_UPSTREAM_TRUNCATED',
          `upstream connection lost mid-response (${error.message})`,
        )
      : error;
    this.fail(lost, true);
  }

  /** The sink can take more again: queued bytes go first. */
  resume(): void {
    if (this.done && !this.endPending) return;
    this.paused = false;
    while (this.queue.length > 0 && !this.paused) {
      const chunk = this.queue.shift() as Buffer;
      this.queued -= chunk.length;
      if (!this.sink.onBody(chunk)) this.paused = true;
    }
    if (this.queue.length === 0 && this.endPending) {
      this.endPending = false;
      this.done = true;
      clearTimeout(this.timer);
      this.sink.onEnd();
    }
  }

  /** The client went away or the gateway gave up: FCGI_ABORT_REQUEST, nothing reported. */
  abort(): void {
    if (this.endPending) {
      this.endPending = false;
      this.done = true;
      this.queue.length = 0;
      return;
    }
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
    this.link.abortRequest(this.id);
    this.link.finished(this.id, false);
  }

  private deliver(chunk: Buffer): void {
    if (this.paused) {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued > this.bufferLimit) {
        this.abort();
        this.sink.onError(
          new ClientRequestError(
            'ERR_CLIENT_TOO_SLOW',
            `client reads too slowly for a multiplexed FastCGI connection (${this.queued} bytes queued)`,
            499,
          ),
        );
      }
      return;
    }
    if (!this.sink.onBody(chunk)) this.paused = true;
  }

  private timedOut(): void {
    if (this.done) return;
    this.abort();
    this.sink.onError(
      new UpstreamTimeoutError('ERR_UPSTREAM_READ_TIMEOUT', 'upstream timed out while reading response'),
    );
  }

  private fail(error: GatewayError, answered = false): void {
    if (this.done) return;
    if (!answered) this.link.abortRequest(this.id);
    this.finish(answered);
    this.sink.onError(error);
  }

  private finish(answered: boolean): void {
    this.done = true;
    clearTimeout(this.timer);
    this.link.finished(this.id, answered);
  }
}
