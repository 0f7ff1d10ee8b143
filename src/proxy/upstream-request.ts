/**
 * The attempt loop of one request (DESIGN.md phase 5, nginx ngx_http_upstream_connect /
 * ngx_http_upstream_next): the group picks a member not yet tried, the connector opens a
 * socket, the exchange runs up to the response head behind an AttemptSink, and the failure, if
 * any, decides between the next member and the client's error page (next-upstream.ts).
 *
 *   acquire --none--> 502 "no live upstreams" (503 for httpd nofailover)
 *      |
 *   connect --fail--> report, release --retry?--> acquire (member added to `tried`)
 *      |                                  \--no--> the connect error's page (502 / 504)
 *   exchange --fail before the head / listed status--> report, release --retry?--> acquire
 *      |                                                                 \--no--> passed on
 *   head passed to the client: committed, no failover from here on
 *      |
 *   client connection closed: release the member with the bytes it moved
 *
 * Every attempt is recorded for the access log, as nginx lists them in $upstream_addr and
 * $upstream_response_time ("127.0.0.1:9000, 127.0.0.1:9001").
 */
import type { ServerResponse } from 'node:http';
import type { AdmissionQueue } from '../balancer/admission-queue.ts';
import type { Selection } from '../balancer/group.ts';
import type { Member } from '../balancer/member.ts';
import type { SelectionContext } from '../balancer/policy.ts';
import { type GatewayError, UpstreamError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ConnectionPool, PooledConnection } from '../pool/connection-pool.ts';
import type { SocketTarget } from '../pool/connector.ts';
import {
  asGatewayError,
  type ExchangeRequest,
  INLINE_BODY_LIMIT,
  type RequestBody,
} from '../transport/exchange.ts';
import type { MuxExchange } from '../transport/mux-exchange.ts';
import type { MuxPool } from '../transport/mux-pool.ts';
import { PooledExchange } from '../transport/pooled-exchange.ts';
import { type AttemptDecisions, AttemptSink } from './attempt-sink.ts';
import { ClientResponder, type ExchangeControl } from './client-responder.ts';
import type { CgiResponseHead } from '../cgi/response-head.ts';
import { cacheValidity, type Validity } from './cache-validity.ts';
import { type Diversion, divertResponse } from './diversion.ts';
import { httpdStatus } from './httpd-status.ts';
import type { RangeRequest } from './upstream-range.ts';
import { errorCondition, maxTries, mayRetry, statusCondition } from './next-upstream.ts';
import type { BackendRoute, RouteRequest } from './route.ts';

/** One try on one member (or the group's name when none could be chosen, as nginx logs it). */
export interface UpstreamAttempt {
  readonly address: string;
  /** performance.now() at the start and end; end 0 while it runs. */
  readonly start: number;
  end: number;
}

export interface UpstreamRequestOptions {
  readonly res: ServerResponse;
  readonly route: BackendRoute;
  readonly request: RouteRequest;
  readonly exchange: ExchangeRequest;
  readonly log: Logger;
  /** nginx send_timeout towards the client. */
  readonly sendTimeout: number;
  /** error_page `=code` (or the original error status): the status the client gets. */
  readonly forceStatus?: number | undefined;
}

type Step = 'done' | 'retry';

export class UpstreamRequest {
  /** Every attempt in order. */
  readonly attempts: UpstreamAttempt[] = [];
  /** The responder of the attempt the client got, once there is one. */
  responder: ClientResponder | undefined;
  /** Set when the response was replaced: the pipeline routes again or serves a file. */
  diversion: Diversion | undefined;
  /** How long the last backend answer could be reused (X-Accel-Expires, Cache-Control...). */
  validity: Validity | undefined;
  private readonly o: UpstreamRequestOptions;
  private readonly tried = new Set<string>();
  private readonly ctx: SelectionContext;
  private readonly maxTries: number;
  private readonly bodyStreamed: boolean;
  private startedAt = 0;
  /** When the request's wait in the group's queue ends (0: it never queued). */
  private queueDeadline = 0;

  constructor(options: UpstreamRequestOptions) {
    this.o = options;
    const inputs = options.route.selectionInputs(options.request);
    this.ctx = { ...inputs, tried: this.tried };
    this.maxTries = maxTries(options.route.upstream.group.tries, options.route.nextUpstream);
    this.bodyStreamed = options.exchange.body.kind === 'stream';
  }

  /** The address of the last attempt, for error log lines; '' before the first. */
  get lastAddress(): string {
    return this.attempts.at(-1)?.address ?? '';
  }

  /**
   * Runs attempts until one is committed or the client left; resolves when the client
   * connection has closed. Rejects with the error to show when no attempt reached the client.
   */
  async run(): Promise<void> {
    const group = this.o.route.upstream.group;
    this.startedAt = Date.now();
    for (;;) {
      if (this.o.res.destroyed) return;
      const sel = await this.select();
      if (sel === undefined) return;
      if (!sel.ok) {
        const now = performance.now();
        this.attempts.push({ address: group.name, start: now, end: now });
        throw this.present(
          sel.reason === 'sticky-route-unavailable'
            ? new UpstreamError('ERR_STICKY_ROUTE_UNAVAILABLE', 'the sticky route has no usable member', {
                status: 503,
              })
            : this.o.route.httpdWorker
              ? new UpstreamError('ERR_NO_LIVE_UPSTREAMS', 'the worker is in error state (retry pending)', {
                  status: 503,
                })
              : new UpstreamError('ERR_NO_LIVE_UPSTREAMS', 'no live upstreams'),
        );
      }
      const member = sel.member;
      const target = this.o.route.upstream.targets[member.index] as SocketTarget;
      const attempt: UpstreamAttempt = { address: target.display, start: performance.now(), end: 0 };
      this.attempts.push(attempt);
      let step: Step;
      try {
        step = await this.attempt(member, target);
      } finally {
        attempt.end = performance.now();
      }
      if (step === 'done') return;
      this.tried.add(member.key);
    }
  }

  /**
   * A member for the next try. While the group's queue has waiters, or every usable member is
   * at max_conns, the request waits its turn (balancer/admission-queue.ts: 503 when the wait
   * is over or the queue full); undefined when the client left meanwhile.
   */
  private async select(): Promise<Selection | undefined> {
    const group = this.o.route.upstream.group;
    const queue = group.queue;
    // First come, first served: a newcomer does not pass requests already waiting.
    let mustWait = queue !== undefined && queue.length > 0;
    for (;;) {
      if (!mustWait) {
        const sel = group.acquire(this.ctx, Date.now());
        if (sel.ok || queue === undefined || !group.mayQueue(Date.now(), this.tried)) return sel;
      }
      mustWait = false;
      this.queueDeadline ||= Date.now() + (queue as AdmissionQueue).timeout;
      const abort = new AbortController();
      const onClose = (): void => abort.abort();
      this.o.res.once('close', onClose);
      try {
        await group.wait(abort.signal, this.queueDeadline, this.tried);
      } catch (error) {
        if (abort.signal.aborted) return undefined;
        throw error;
      } finally {
        this.o.res.off('close', onClose);
      }
    }
  }

  private async attempt(member: Member, target: SocketTarget): Promise<Step> {
    const { res, route } = this.o;
    const mux = route.keepConn ? route.upstream.muxes[member.index] : undefined;
    if (mux?.ready(route.socketOptions)) {
      const inline = inlineBody(this.o.exchange.body);
      if (inline !== undefined) return this.attemptMux(member, target, mux, inline);
    }
    const group = route.upstream.group;
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    const pool = route.upstream.pools[member.index] as ConnectionPool;
    let connection: PooledConnection;
    try {
      connection = await pool.acquire(abort.signal, {
        connectTimeout: route.connectTimeout,
        socket: route.socketOptions,
      });
    } catch (error) {
      res.off('close', onClose);
      group.release(member);
      // The client left while connecting: nginx's 499, nothing held against the member.
      if (abort.signal.aborted || res.destroyed) return 'done';
      const failure = asGatewayError(error);
      if (new Judge(this, member, target, false).retryError(failure)) return 'retry';
      throw this.present(failure);
    }
    res.off('close', onClose);
    if (res.destroyed) {
      pool.release(connection, false);
      group.release(member);
      return 'done';
    }
    const sink = new AttemptSink(new Judge(this, member, target, true));
    // A kept connection that turns out dead before any response byte is replaced once,
    // transparently (php-fpm closes kept connections at pm.max_requests).
    const exchange = new PooledExchange(pool, connection, {
      protocol: route.protocol,
      request: this.o.exchange,
      sink,
      signal: abort.signal,
      connectTimeout: route.connectTimeout,
      socket: route.socketOptions,
      keepConn: route.keepConn,
    });
    sink.attach(exchange);
    const client = this.watchClient(exchange, sink);
    try {
      exchange.start();
    } catch (error) {
      // The request could not be encoded (EncodeError, 500): ours, not the member's fault.
      client.stop();
      exchange.abort();
      group.release(member);
      throw error;
    }
    return this.finishAttempt(member, exchange, sink, client);
  }

  /**
   * The attempt on a multiplexed FastCGI connection (transport/mux-pool.ts): the same
   * decisions as `attempt`, a request id on a shared connection instead of a connection.
   */
  private async attemptMux(
    member: Member,
    target: SocketTarget,
    mux: MuxPool,
    inline: Buffer,
  ): Promise<Step> {
    const { res, route } = this.o;
    const group = route.upstream.group;
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    const sink = new AttemptSink(new Judge(this, member, target, true));
    let exchange: MuxExchange;
    try {
      exchange = await mux.exchange(
        this.o.exchange,
        sink,
        inline,
        route.connectTimeout,
        abort.signal,
        route.socketOptions,
      );
    } catch (error) {
      res.off('close', onClose);
      group.release(member);
      if (abort.signal.aborted || res.destroyed) return 'done';
      const failure = asGatewayError(error);
      if (failure.failure !== 'none' && new Judge(this, member, target, false).retryError(failure))
        return 'retry';
      throw this.present(failure);
    }
    res.off('close', onClose);
    sink.attach(exchange);
    if (res.destroyed) {
      exchange.abort();
      group.release(member);
      return 'done';
    }
    return this.finishAttempt(member, exchange, sink, this.watchClient(exchange, sink));
  }

  /**
   * The end of an attempt for the group. The member is released as soon as the backend is
   * done with the request (nginx frees the peer when the upstream finishes), not when a slow
   * client has the last byte of a buffered response: its place below max_conns goes to the
   * oldest queued request at once. Resolves when the client is done too.
   */
  private async finishAttempt(
    member: Member,
    exchange: { readonly bytesRead: number; readonly bytesWritten: number },
    sink: AttemptSink,
    client: { readonly closed: Promise<void>; stop(): void },
  ): Promise<Step> {
    const group = this.o.route.upstream.group;
    const outcome = await sink.outcome;
    const passedOn = outcome.kind !== 'retry' && outcome.kind !== 'diverted';
    if (!passedOn) client.stop();
    else await Promise.race([sink.ended, client.closed]);
    if (outcome.kind === 'diverted') this.diverted(member, outcome.diversion);
    group.release(member, { bytesIn: exchange.bytesRead, bytesOut: exchange.bytesWritten });
    if (passedOn) await client.closed;
    return outcome.kind === 'retry' ? 'retry' : 'done';
  }

  /**
   * Watches the client while an attempt runs: a client that goes away aborts the backend
   * request (the connection is closed), unless ignore_client_abort lets a committed response
   * run to its end, read and dropped. `closed` resolves when the attempt is over for the client;
   * `stop` ends the watch (the attempt is retried or diverted).
   */
  private watchClient(
    exchange: ExchangeControl,
    sink: AttemptSink,
  ): { readonly closed: Promise<void>; stop(): void } {
    const res = this.o.res;
    let onGone: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      onGone = () => {
        if (this.o.route.ignoreClientAbort && this.responder !== undefined && !sink.done) {
          sink.discardRest();
          void sink.ended.then(resolve);
          return;
        }
        exchange.abort();
        sink.clientGone();
        resolve();
      };
      res.once('close', onGone);
    });
    return { closed, stop: () => res.off('close', onGone) };
  }

  /** nginx's rules for this request, after `attempts` tries. */
  mayRetry(condition: number, requestSent: boolean): boolean {
    return mayRetry(this.o.route.nextUpstream, {
      condition,
      attempts: this.attempts.length,
      maxTries: this.maxTries,
      elapsed: Date.now() - this.startedAt,
      method: this.o.request.method,
      requestSent,
      bodyStreamed: this.bodyStreamed,
    });
  }

  commit(target: SocketTarget, exchange: ExchangeControl): ClientResponder {
    const o = this.o;
    const responder = new ClientResponder(o.res, {
      requestId: o.request.requestId,
      backend: target.display,
      method: o.request.method,
      log: o.log,
      hiddenHeaders: o.route.hiddenHeaders,
      sendTimeout: o.sendTimeout,
      forceStatus: o.forceStatus,
      buffering: o.route.buffering,
      range: rangeRequest(o.request.rawHeaders),
      forceRanges: o.route.forceRanges,
      store: o.route.storeFor(o.request),
      bufferingOn: o.route.bufferingOn,
      xAccelBuffering: o.route.xAccelBuffering,
      limitRate: o.route.limitRate,
      limitRateAfter: o.route.limitRateAfter,
      readLimitRate: o.route.readLimitRate,
      coalesce: o.route.coalesce,
      xAccelLimitRate: o.route.responseRules.xAccelLimitRate,
      xAccelCharset: o.route.responseRules.xAccelCharset,
    });
    responder.attach(exchange);
    this.responder = responder;
    return responder;
  }

  /** fastcgi_catch_stderr: a plain substring test, as nginx's ngx_strnstr. */
  catchesStderr(line: string): boolean {
    for (const needle of this.o.route.catchStderr) if (line.includes(needle)) return true;
    return false;
  }

  log(level: 'info' | 'warn' | 'error', message: string, target: SocketTarget): void {
    this.o.log.log(level, message, { requestId: this.o.request.requestId, backend: target.display });
  }

  /** The backend answered (a success for the member); its answer is replaced. */
  private diverted(member: Member, diversion: Diversion): void {
    this.o.route.upstream.group.reportSuccess(member, Date.now());
    this.diversion = diversion;
  }

  /** What replaces a response, by the route's rules (X-Accel-Redirect, error_page, ...). */
  divert(head: CgiResponseHead): Diversion | undefined {
    const rules = this.o.route.responseRules;
    // Kept for the cache to come: how long this answer could be reused (nginx's rules).
    this.validity = cacheValidity(head, rules.ignoredHeaders, Date.now());
    return divertResponse(head, rules);
  }

  /** The error as the client is to see it: httpd's statuses on ProxyPass routes. */
  present(error: GatewayError): GatewayError {
    return this.o.route.httpdErrors ? httpdStatus(error) : error;
  }

  get httpdWorker(): boolean {
    return this.o.route.httpdWorker;
  }

  get group() {
    return this.o.route.upstream.group;
  }
}

const NO_BODY = Buffer.alloc(0);

/** The request's Range and If-Range (first of each), or undefined without a Range. */
function rangeRequest(raw: readonly string[]): RangeRequest | undefined {
  let range: string | undefined;
  let ifRange: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name === 'range') range ??= raw[i + 1];
    else if (name === 'if-range') ifRange ??= raw[i + 1];
  }
  return range === undefined ? undefined : { range, ifRange };
}

/** The body of a request that can share a multiplexed connection: none, or small and in memory. */
function inlineBody(body: RequestBody): Buffer | undefined {
  if (body.kind === 'none') return NO_BODY;
  if (body.kind === 'spooled' && body.spill.inMemory && body.spill.length <= INLINE_BODY_LIMIT) {
    return body.spill.memoryContents();
  }
  // A streamed or large body needs flow control of its own: a connection of its own.
  return undefined;
}

/** One attempt's decisions, and what they report to the group and the log. */
class Judge implements AttemptDecisions {
  private readonly up: UpstreamRequest;
  private readonly member: Member;
  private readonly target: SocketTarget;
  /** The exchange started: the request head went out (nginx `u->request_sent`). */
  private readonly sent: boolean;

  constructor(up: UpstreamRequest, member: Member, target: SocketTarget, sent: boolean) {
    this.up = up;
    this.member = member;
    this.target = target;
    this.sent = sent;
  }

  retryStatus(status: number): boolean {
    const condition = statusCondition(status);
    if (condition === 0 || !this.up.mayRetry(condition, this.sent)) return false;
    // nginx counts a listed status as a failure only when it passes the request on.
    this.report(`http_${status}`);
    this.up.log('info', `upstream answered ${status}, passing the request to the next server`, this.target);
    return true;
  }

  retryError(error: GatewayError): boolean {
    const condition = errorCondition(error.failure);
    // The client's fault or ours (failure 'none'): nothing against the member, never retried.
    if (condition === 0) return false;
    // nginx: error, timeout and invalid_header always count, listed or not; an httpd worker is
    // put in error by a failed connect only (ap_proxy_connect_backend).
    if (!this.sent || !this.up.httpdWorker)
      this.report(error.failure as 'error' | 'timeout' | 'invalid_header');
    if (!this.up.mayRetry(condition, this.sent)) return false;
    this.up.log('error', `${error.message}, passing the request to the next server`, this.target);
    return true;
  }

  commit(exchange: ExchangeControl): ClientResponder {
    return this.up.commit(this.target, exchange);
  }

  present(error: GatewayError): GatewayError {
    return this.up.present(error);
  }

  divert(head: CgiResponseHead): Diversion | undefined {
    return this.up.divert(head);
  }

  headPassed(accepted: boolean): void {
    const now = Date.now();
    if (accepted) this.up.group.reportSuccess(this.member, now);
    else if (!this.up.httpdWorker) this.report('invalid_header');
  }

  onStderr(line: string): boolean {
    this.up.log('error', `FastCGI sent in stderr: "${line}"`, this.target);
    return this.up.catchesStderr(line);
  }

  private report(kind: 'error' | 'timeout' | 'invalid_header' | `http_${number}`): void {
    const group = this.up.group;
    const now = Date.now();
    // A group's only server never goes out (nginx), though its failures are counted.
    if (group.reportFailure(this.member, kind, now) && group.memberState(this.member, now) === 'failed') {
      this.up.log('warn', 'upstream server temporarily disabled', this.target);
    }
  }
}
