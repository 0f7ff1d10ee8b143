import { type ServerResponse, STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import { type CgiResponseHead, HOP_BY_HOP_RESPONSE_HEADERS } from '../cgi/response-head.ts';
import { type GatewayError, ProtocolError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ExchangeSink } from '../transport/exchange.ts';
import type { ResponseQueueOptions } from '../buffering/response-queue.ts';
import { ResponseStore } from '../buffering/response-store.ts';
import { planUpstreamRange, type RangeRequest } from './upstream-range.ts';
import { BufferedWriter } from './buffered-writer.ts';
import { sendErrorPage } from './error-page.ts';
import { parseLimitRate, RateLimit } from './rate-limit.ts';

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
  /** limit_rate: the pace of the body, and the timer of the current pause. */
  private pace: RateLimit | undefined;
  private paced: NodeJS.Timeout | undefined;
  /** Response buffering: the body's way to the client, and its state. */
  private writer: BufferedWriter | undefined;
  private fullPause = false;
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
    this.openStore(status);
    status = this.applyRange(head, status);
    this.status = status;
    this.setPace(head);
    this.writer = new BufferedWriter(res, this.bufferingFor(head), () =>
      this.ctx.log.log('warn', 'an upstream response is buffered to a temporary file', {
        requestId: this.ctx.requestId,
        backend: this.ctx.backend,
      }),
    );
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

  /**
   * Byte ranges of the backend's answer (upstream-range.ts): 206 with the window the client
   * asked for, or 416; the store, if any, still gets the whole body.
   */
  private applyRange(head: CgiResponseHead, status: number): number {
    const request = this.ctx.range;
    if (request === undefined || status !== head.status) return status;
    const force = this.ctx.forceRanges === true;
    const plan = planUpstreamRange(request, this.ctx.method, head, force);
    const res = this.res;
    if (force && status === 200 && head.contentLength !== undefined && !res.hasHeader('accept-ranges')) {
      res.setHeader('Accept-Ranges', 'bytes');
    }
    if (plan.kind === 'none') return status;
    if (plan.kind === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${plan.size}`);
      res.setHeader('Content-Length', 0);
      this.bodyAllowed = false;
      return 416;
    }
    res.setHeader('Content-Range', `bytes ${plan.start}-${plan.end}/${plan.size}`);
    res.setHeader('Content-Length', plan.end - plan.start + 1);
    this.window = { skip: plan.start, take: plan.end - plan.start + 1 };
    return 206;
  }

  /** nginx store: a 200 GET response is written to a temp file as it passes. */
  private openStore(status: number): void {
    const store = this.ctx.store;
    if (store === undefined || status !== 200 || this.ctx.method !== 'GET') return;
    try {
      this.stored = new ResponseStore(store.path, store.mode);
    } catch (error) {
      this.ctx.log.log(
        'error',
        `store: cannot create a file for ${store.path} (${(error as Error).message})`,
        {
          requestId: this.ctx.requestId,
          backend: this.ctx.backend,
        },
      );
    }
  }

  /** Ends the store: the file takes its place if the response was complete, else nothing. */
  private closeStore(complete: boolean): void {
    const stored = this.stored;
    if (stored === undefined) return;
    this.stored = undefined;
    try {
      if (complete) stored.commit();
      else stored.discard();
    } catch (error) {
      stored.discard();
      this.ctx.log.log('error', `store: ${(error as Error).message}`, {
        requestId: this.ctx.requestId,
        backend: this.ctx.backend,
      });
    }
  }

  /** Buffering for this response: the route's, unless X-Accel-Buffering says otherwise. */
  private bufferingFor(head: CgiResponseHead): ResponseQueueOptions | undefined {
    let on = this.ctx.bufferingOn === true;
    if (this.ctx.xAccelBuffering === true) {
      for (const [name, value] of head.headers) {
        if (name.toLowerCase() !== 'x-accel-buffering') continue;
        const v = value.trim().toLowerCase();
        if (v === 'yes') on = true;
        else if (v === 'no') on = false;
      }
    }
    return on ? this.ctx.buffering : undefined;
  }

  /** Sets the pace of the body from limit_rate, or the backend's X-Accel-Limit-Rate. */
  private setPace(head: CgiResponseHead): void {
    let rate = this.ctx.limitRate ?? 0;
    let charset: string | undefined;
    for (const [name, value] of head.headers) {
      const lower = name.toLowerCase();
      if (lower === 'x-accel-limit-rate' && this.ctx.xAccelLimitRate === true) {
        rate = parseLimitRate(value) ?? rate;
      } else if (
        lower === 'x-accel-charset' &&
        this.ctx.xAccelCharset === true &&
        /^[A-Za-z0-9._-]+$/.test(value)
      ) {
        charset = value;
      }
    }
    if (rate > 0) this.pace = new RateLimit(rate, this.ctx.limitRateAfter ?? 0);
    // nginx's charset filter: the charset goes on a text type that does not name one.
    const type = this.res.getHeader('content-type');
    if (
      charset !== undefined &&
      typeof type === 'string' &&
      /^text\//i.test(type) &&
      !/charset=/i.test(type)
    ) {
      this.res.setHeader('Content-Type', `${type}; charset=${charset}`);
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
        this.writer?.write(chunk);
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
    const written = result === 'ok';
    const pace = this.pace;
    if (pace !== undefined) {
      const wait = pace.delay(this.sent, Date.now());
      if (wait > 0) {
        // limit_rate: the exchange pauses until the average is back under the rate.
        this.paced = setTimeout(this.onPaced, wait);
        return false;
      }
    }
    // The client is not reading: it gets send_timeout to take more, as nginx gives it.
    if ((!written || writer.pending > 0) && this.stalled === undefined && this.ctx.sendTimeout > 0) {
      this.stalled = setTimeout(this.onSendTimeout, this.ctx.sendTimeout);
    }
    if (result === 'full') this.fullPause = true;
    return written;
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

  private failBeforeHead(error: GatewayError): void {
    for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
    this.onError(error);
  }

  private endClient(): void {
    this.finished = true;
    this.clearStall();
    this.clearPace();
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
    const writer = this.writer;
    if (writer !== undefined && writer.pending > 0) {
      if (!writer.flush()) return; // more next drain; send_timeout keeps running
      if (this.endPending) {
        this.clearStall();
        this.endClient();
        return;
      }
      if (this.fullPause) {
        this.fullPause = false;
        this.clearStall();
        if (this.paced === undefined) this.exchange?.resume();
        return;
      }
    }
    this.clearStall();
    // A paced response resumes when its timer says so, not when the socket drains.
    if (this.paced === undefined) this.exchange?.resume();
  }

  private onPaced(): void {
    this.paced = undefined;
    if (this.finished) return;
    if (this.res.writableNeedDrain) return; // onDrain resumes
    this.exchange?.resume();
  }

  private clearPace(): void {
    if (this.paced !== undefined) {
      clearTimeout(this.paced);
      this.paced = undefined;
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
    this.exchange?.abort();
    this.writer?.dispose();
    this.res.destroy();
  }
}
