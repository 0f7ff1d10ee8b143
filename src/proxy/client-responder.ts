import { type ServerResponse, STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import { type CgiResponseHead, HOP_BY_HOP_RESPONSE_HEADERS } from '../cgi/response-head.ts';
import { type GatewayError, ProtocolError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ExchangeSink } from '../transport/exchange.ts';
import type { ResponseQueueOptions } from '../buffering/response-queue.ts';
import type { ResponseStore } from '../buffering/response-store.ts';
import type { RangeRequest } from './upstream-range.ts';
import { applyRange, bufferingFor, closeStore, openStore, paceAndCharset } from './response-plan.ts';
import { BufferedWriter } from './buffered-writer.ts';
import { type CoalescePolicy, Coalescer } from './coalescer.ts';
import { sendErrorPage } from './error-page.ts';
import { RateLimit } from './rate-limit.ts';

/** The part of an exchange the responder drives. */
export interface ExchangeControl {
  resume(): void;
  abort(): void;
}

/** What the responder needs to know of the request it answers. */
export interface ResponderContext {
  readonly requestId: string;
  readonly backend: string;
  readonly method: string;
  readonly log: Logger;
  /** nginx hides these backend headers by default (C.1.2); lower-case. */
  readonly hiddenHeaders: ReadonlySet<string>;
  /** nginx send_timeout: the longest a client may take to accept more of the response; 0 = none. */
  readonly sendTimeout: number;
  /** error_page: the status the client gets whatever the backend says; undefined: the backend's. */
  readonly forceStatus?: number | undefined;
  /** nginx limit_rate (bytes/s, 0: none) and limit_rate_after. */
  readonly limitRate?: number | undefined;
  readonly limitRateAfter?: number | undefined;
  /**
   * nginx `*_limit_rate` (bytes/s, 0: none): how fast a buffered response is read from the
   * backend; unused with buffering off (nginx: "only if buffering is on").
   */
  readonly readLimitRate?: number | undefined;
  /** httpd flushpackets off|auto (unbuffered responses); undefined: on, every read at once. */
  readonly coalesce?: CoalescePolicy | undefined;
  /** The backend's X-Accel-Limit-Rate / X-Accel-Charset are acted on (not in ignore_headers). */
  readonly xAccelLimitRate?: boolean | undefined;
  readonly xAccelCharset?: boolean | undefined;
  /**
   * nginx `*_buffering`: where a slow client's part of the response waits (undefined: off);
   * X-Accel-Buffering may switch it per response when `xAccelBuffering` is true.
   */
  readonly buffering?: ResponseQueueOptions | undefined;
  readonly bufferingOn?: boolean | undefined;
  readonly xAccelBuffering?: boolean | undefined;
  /** The request's Range / If-Range, and nginx `*_force_ranges`. */
  readonly range?: RangeRequest | undefined;
  readonly forceRanges?: boolean | undefined;
  /** nginx `*_store`: where a complete 200 response is saved, and with which mode. */
  readonly store?: { readonly path: string; readonly mode: number } | undefined;
}

/**
 * The gateway frames the client response itself, so the backend's framing and
 * connection-management headers never pass (CVE-2024-24795, semantics.md E6).
 */
function neverPassed(lowerName: string): boolean {
  return lowerName === 'content-length' || HOP_BY_HOP_RESPONSE_HEADERS.has(lowerName);
}

/**
 * Writes a backend's response to the HTTP client: validated headers, the body with
 * backpressure, and the backend's Content-Length enforced (extra bytes dropped; a short body
 * aborts the client connection — never a silently truncated response).
 */
export class ClientResponder implements ExchangeSink {
  private readonly res: ServerResponse;
  private readonly ctx: ResponderContext;
  private exchange: ExchangeControl | undefined;
  private expected: number | undefined;
  private sent = 0;
  private bodyAllowed = true;
  private finished = false;
  private stalled: NodeJS.Timeout | undefined;
  /**
   * Why the backend is paused; it resumes when none holds. `clientHold`: the client is full
   * (unbuffered: the socket; buffered: the whole queue, memory and temp file). `paceHold`:
   * limit_rate, unbuffered only (buffered, the writer paces its writes and the backend is read
   * on). `readHold`: `*_limit_rate`, the backend read pace of a buffered response.
   */
  private clientHold = false;
  private paceHold: NodeJS.Timeout | undefined;
  private readHold: NodeJS.Timeout | undefined;
  /** limit_rate of an unbuffered response (the responder pauses the backend). */
  private pace: RateLimit | undefined;
  /** `*_limit_rate` of a buffered response, counted on the body bytes read. */
  private readPace: RateLimit | undefined;
  /** Response buffering: the body's way to the client, and its state. */
  private writer: BufferedWriter | undefined;
  private endPending = false;
  /** nginx store: the file being written, until the response ends. */
  private stored: ResponseStore | undefined;
  /** 206: bytes still to skip and to send of the backend's body. */
  private window: { skip: number; take: number } | undefined;
  /** Status sent to the client, for the access log. */
  status = 0;
  /** Body bytes sent to the client, for the access log ($body_bytes_sent). */
  bodyBytes = 0;
  /** Set once the exchange has ended, cleanly or not. */
  outcome: 'pending' | 'ok' | 'error' = 'pending';
  error: GatewayError | undefined;

  constructor(res: ServerResponse, ctx: ResponderContext) {
    this.res = res;
    this.ctx = ctx;
    this.onDrain = this.onDrain.bind(this);
    this.onSendTimeout = this.onSendTimeout.bind(this);
    this.onPaced = this.onPaced.bind(this);
    this.onReadPaced = this.onReadPaced.bind(this);
    this.onWake = this.onWake.bind(this);
    res.on('drain', this.onDrain);
    // A client that leaves drops what was queued for it (and the temp files).
    res.once('close', () => {
      this.writer?.dispose();
      this.closeStore(false);
    });
  }

  /** The exchange to resume when the client drains, and to stop when the client needs no more. */
  attach(exchange: ExchangeControl): void {
    this.exchange = exchange;
  }

  onHead(head: CgiResponseHead): void {
    const res = this.res;
    let status = head.status;
    // nginx never follows a local Location by itself; without internal redirects it is a 302.
    if (head.locationKind === 'local' && status === 200) status = 302;
    const forced = this.ctx.forceStatus;
    if (forced !== undefined) status = forced;
    try {
      for (const [name, value] of head.headers) {
        const lower = name.toLowerCase();
        if (neverPassed(lower) || this.ctx.hiddenHeaders.has(lower)) continue;
        validateHeaderName(name);
        validateHeaderValue(name, value);
        const existing = res.getHeader(name);
        if (existing === undefined) res.setHeader(name, value);
        else res.setHeader(name, Array.isArray(existing) ? [...existing, value] : [String(existing), value]);
      }
    } catch (cause) {
      this.failBeforeHead(
        new ProtocolError('ERR_UPSTREAM_BAD_HEADER_VALUE', 'upstream sent an invalid header name or value', {
          cause,
        }),
      );
      return;
    }
    if (!res.hasHeader('server')) res.setHeader('Server', 'portico');
    this.bodyAllowed = this.ctx.method !== 'HEAD' && status !== 204 && status !== 304 && status >= 200;
    this.expected = head.contentLength;
    if (head.contentLength !== undefined && status !== 204 && status !== 304) {
      res.setHeader('Content-Length', head.contentLength);
    }
    this.stored = openStore(status, this.ctx);
    const range = applyRange(res, head, status, this.ctx);
    status = range.status;
    if (!range.bodyAllowed) this.bodyAllowed = false;
    this.window = range.window;
    this.status = status;
    const queue = bufferingFor(head, this.ctx);
    const rate = paceAndCharset(res, head, this.ctx);
    let pace: RateLimit | undefined;
    if (rate > 0) pace = new RateLimit(rate, this.ctx.limitRateAfter ?? 0);
    const readRate = this.ctx.readLimitRate ?? 0;
    // nginx (ngx_event_pipe_read_upstream): rate x (seconds since the start + 1) may be read,
    // so a second's worth goes first.
    if (queue !== undefined && readRate > 0) this.readPace = new RateLimit(readRate, readRate);
    // Buffered, the writer paces its writes and the backend is read on (nginx); unbuffered,
    // the responder pauses the backend between reads.
    if (queue === undefined) this.pace = pace;
    const coalesce = this.ctx.coalesce;
    this.writer = new BufferedWriter(res, {
      queue,
      pace: queue === undefined ? undefined : pace,
      onWake: this.onWake,
      coalescer: queue === undefined && coalesce !== undefined ? new Coalescer(res, coalesce) : undefined,
      onSpill: () =>
        this.ctx.log.log('warn', 'an upstream response is buffered to a temporary file', {
          requestId: this.ctx.requestId,
          backend: this.ctx.backend,
        }),
    });
    const reason = head.reason ?? STATUS_CODES[status] ?? 'Unknown';
    res.writeHead(status, reason);
    // A head that came without body bytes (an app that flushed its headers: server-sent events,
    // long polling) goes to the client now; otherwise it leaves with the first body chunk.
    if (this.bodyAllowed && head.rest.length === 0) res.flushHeaders();
    if (!this.bodyAllowed) {
      // Nothing of the body reaches the client; stop reading the backend now.
      this.expected = undefined;
      this.endClient();
    }
  }

  onBody(chunk: Buffer): boolean {
    if (!this.bodyAllowed || this.finished) return true;
    const expected = this.expected;
    if (expected !== undefined) {
      const room = expected - this.sent;
      if (room <= 0) return true; // nginx: "upstream sent more data than specified"
      if (chunk.length > room) chunk = chunk.subarray(0, room);
    }
    this.sent += chunk.length;
    this.stored?.write(chunk);
    const window = this.window;
    if (window !== undefined) {
      // 206: only the asked-for window goes to the client.
      if (window.skip >= chunk.length) {
        window.skip -= chunk.length;
        return true;
      }
      chunk = chunk.subarray(window.skip, Math.min(chunk.length, window.skip + window.take));
      window.skip = 0;
      window.take -= chunk.length;
      if (window.take === 0 && this.stored === undefined) {
        // The window is sent: the rest of the backend's answer is not needed.
        this.bodyBytes += chunk.length;
        if (this.writer?.write(chunk) === 'failed') {
          this.failWriter();
          return true;
        }
        this.outcome = 'ok';
        this.window = undefined;
        this.bodyAllowed = false;
        if ((this.writer?.pending ?? 0) > 0) this.endPending = true;
        else this.endClient();
        return true;
      }
      if (chunk.length === 0) return true;
    }
    this.bodyBytes += chunk.length;
    const writer = this.writer as BufferedWriter;
    const result = writer.write(chunk);
    if (result === 'failed') {
      this.failWriter();
      return true;
    }
    const now = Date.now();
    if (writer.buffering) {
      // Buffered: the backend is read on whatever the client's pace (limit_rate paces the
      // writer only), until the queue is full or `*_limit_rate` says wait.
      if (result === 'full') this.clientHold = true;
      const wait = this.readPace?.delay(this.sent, now) ?? 0;
      if (wait > 0 && this.readHold === undefined) this.readHold = setTimeout(this.onReadPaced, wait);
      if (writer.pending > 0 && writer.clientFull) this.armStall();
    } else {
      if (result === 'wait') {
        this.clientHold = true;
        this.armStall();
      }
      // limit_rate, unbuffered: the exchange pauses until the average is back under the rate.
      const wait = this.pace?.delay(this.sent, now) ?? 0;
      if (wait > 0 && this.paceHold === undefined) this.paceHold = setTimeout(this.onPaced, wait);
    }
    return !this.held;
  }

  /** True while something keeps the backend paused. */
  private get held(): boolean {
    return this.clientHold || this.paceHold !== undefined || this.readHold !== undefined;
  }

  /** The client is not reading: it gets send_timeout to take more, as nginx gives it. */
  private armStall(): void {
    if (this.stalled === undefined && this.ctx.sendTimeout > 0 && !this.finished) {
      this.stalled = setTimeout(this.onSendTimeout, this.ctx.sendTimeout);
    }
  }

  private maybeResume(): void {
    if (this.finished || this.held) return;
    this.exchange?.resume();
  }

  onEnd(): void {
    if (this.finished) return;
    if (this.bodyAllowed && this.expected !== undefined && this.sent < this.expected) {
      this.ctx.log.log(
        'error',
        `upstream prematurely closed connection: sent ${this.sent} of ${this.expected} announced body bytes`,
        { requestId: this.ctx.requestId, backend: this.ctx.backend },
      );
      this.outcome = 'error';
      this.abortClient();
      return;
    }
    this.outcome = 'ok';
    // The backend's whole answer is in: store's file takes its place now.
    this.closeStore(true);
    // Buffered: the backend is done (its connection already released); the client gets the
    // rest as it takes it.
    if ((this.writer?.pending ?? 0) > 0) {
      this.endPending = true;
      return;
    }
    this.endClient();
  }

  onError(error: GatewayError): void {
    if (this.finished) return;
    this.closeStore(false);
    this.error = error;
    this.outcome = 'error';
    // nginx logs what the client did (went away mid-body) at info, backend faults at error.
    const level = error.source === 'client' ? 'info' : 'error';
    this.ctx.log.log(level, error.message, { requestId: this.ctx.requestId, backend: this.ctx.backend });
    if (!this.res.headersSent) {
      this.status = error.status;
      this.finished = true;
      this.exchange?.abort();
      sendErrorPage(this.res, error.status, this.ctx.method);
      return;
    }
    this.abortClient();
  }

  onStderr(line: string): void {
    this.ctx.log.log('error', `FastCGI sent in stderr: "${line}"`, {
      requestId: this.ctx.requestId,
      backend: this.ctx.backend,
    });
  }

  /** Ends the store, if any: kept only when the response was complete. */
  private closeStore(complete: boolean): void {
    const stored = this.stored;
    if (stored === undefined) return;
    this.stored = undefined;
    closeStore(stored, complete, this.ctx);
  }

  private failBeforeHead(error: GatewayError): void {
    for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
    this.onError(error);
  }

  private endClient(): void {
    this.finished = true;
    this.clearStall();
    this.clearPace();
    this.writer?.finish();
    this.writer?.dispose();
    this.exchange?.abort();
    this.res.end();
  }

  /**
   * Closes the client connection so the client sees the truncation. What was already written
   * still goes out first (as from nginx): `res.destroy()` would drop the head and body still
   * queued on the socket when the backend's end arrives in the same read as its last bytes.
   */
  private abortClient(): void {
    this.closeStore(false);
    this.finished = true;
    this.clearStall();
    this.clearPace();
    this.writer?.dispose();
    this.exchange?.abort();
    const socket = this.res.socket;
    if (socket === null || socket.destroyed) this.res.destroy();
    else socket.destroySoon();
  }

  private onDrain(): void {
    // The client took what it had: send_timeout starts again from the next write that waits.
    this.clearStall();
    if (this.writer?.buffering === true) {
      this.flushWriter();
      return;
    }
    if (this.clientHold) {
      this.clientHold = false;
      this.maybeResume();
    }
  }

  /** A buffered response's queue goes on to the client (drain, or a limit_rate pause over). */
  private flushWriter(): void {
    const writer = this.writer;
    if (writer === undefined || this.finished) return;
    if (!writer.flush()) {
      if (writer.failure !== undefined) this.failWriter();
      else if (writer.clientFull) this.armStall();
      return;
    }
    this.clearStall();
    if (this.endPending) {
      this.endClient();
      return;
    }
    if (this.clientHold) {
      this.clientHold = false;
      this.maybeResume();
    }
  }

  /**
   * A paced pause is over, or (busy_buffers_size) the socket sent a chunk: send_timeout counts
   * from this write on, as nginx's runs between two successive writes.
   */
  private onWake(): void {
    this.clearStall();
    this.flushWriter();
  }

  /** The temp file failed (nginx: the request ends, the client sees a cut response). */
  private failWriter(): void {
    if (this.finished) return;
    this.outcome = 'error';
    this.ctx.log.log(
      'error',
      `an upstream response cannot be buffered to a temporary file (${this.writer?.failure?.message ?? 'I/O error'})`,
      { requestId: this.ctx.requestId, backend: this.ctx.backend },
    );
    this.abortClient();
  }

  private onPaced(): void {
    this.paceHold = undefined;
    // A client still full resumes the backend on 'drain'.
    if (this.res.writableNeedDrain) this.clientHold = true;
    this.maybeResume();
  }

  private onReadPaced(): void {
    this.readHold = undefined;
    this.maybeResume();
  }

  private clearPace(): void {
    if (this.paceHold !== undefined) {
      clearTimeout(this.paceHold);
      this.paceHold = undefined;
    }
    if (this.readHold !== undefined) {
      clearTimeout(this.readHold);
      this.readHold = undefined;
    }
  }

  private clearStall(): void {
    if (this.stalled !== undefined) {
      clearTimeout(this.stalled);
      this.stalled = undefined;
    }
  }

  private onSendTimeout(): void {
    this.stalled = undefined;
    if (this.finished) return;
    this.outcome = 'error';
    this.ctx.log.log('info', 'client timed out while sending response to client', {
      requestId: this.ctx.requestId,
      backend: this.ctx.backend,
    });
    this.finished = true;
    this.clearPace();
    this.exchange?.abort();
    this.writer?.dispose();
    this.res.destroy();
  }
}
