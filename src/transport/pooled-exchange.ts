/**
 * One exchange over a pooled connection: the connection goes back to its pool exactly once,
 * kept only when the transport says the exchange ended cleanly (E13), and a kept connection that
 * turns out dead is replaced once, transparently.
 *
 * Stale connections: a backend may close a kept connection while it sits idle (php-fpm at
 * pm.max_requests, an idle timeout on the backend side, a restart). The pool drops those as soon
 * as it sees the EOF, but the close can cross our next request on the wire: the request then
 * meets EPIPE / ECONNRESET, or an EOF before any byte of response. That request never reached
 * the application (the backend closed the connection before reading it), so it is sent once
 * more on a new connection, as nginx does for a cached connection (the try is not counted,
 * ngx_http_upstream_next) and as httpd does when its pooled connection fails its check
 * (php/php-src#1421, caddyserver/caddy#4618). Conditions, all required:
 *
 * - the connection was reused (a new connection that fails is a real backend failure);
 * - not a byte of response was read (after one, the backend was working on the request);
 * - the failure is an I/O error or an EOF, never a timeout (a timeout means a live backend that
 *   may be executing the request);
 * - the body can be sent again: none, spooled (memory or temp file), or a stream of which no
 *   byte has been taken yet (a stream that started cannot be rewound: the error stands, as now);
 * - it has not been retried already, and the client is still there.
 *
 *   start --(stale failure)--> retry: acquire({ fresh }) --> start (at most once)
 *     \--(head, body, end, other error)--> the sink
 */
import type { Socket } from 'node:net';
import { ClientRequestError, type GatewayError, UpstreamError } from '../errors.ts';
import type { ConnectionPool, PooledConnection } from '../pool/connection-pool.ts';
import type { SocketOptions } from '../pool/connector.ts';
import type { CgiResponseHead } from '../cgi/response-head.ts';
import { asGatewayError, type ExchangeRequest, type ExchangeSink, type SocketExchange } from './exchange.ts';
import { FastCgiExchange } from './fastcgi-exchange.ts';
import { ScgiExchange } from './scgi-exchange.ts';

export interface PooledExchangeOptions {
  readonly protocol: 'scgi' | 'fastcgi';
  readonly request: ExchangeRequest;
  /** Receives the response; never sees the failure of a stale connection that was retried. */
  readonly sink: ExchangeSink;
  /** The request's signal (fires when the client goes): stops a retry's wait or connect. */
  readonly signal?: AbortSignal;
  /** The route's connect_timeout (ms), for a retry's connect. */
  readonly connectTimeout?: number;
  /** The route's socket options (bind, SO_KEEPALIVE), for a retry's connect. */
  readonly socket?: SocketOptions | undefined;
  /**
   * The route's fastcgi keep_conn (default true). FCGI_KEEP_CONN is set only when this and the
   * pool's keepalive both allow reuse: nginx needs `fastcgi_keep_conn on` and `keepalive N`.
   */
  readonly keepConn?: boolean;
}

/**
 * The exchange the response writer drives (`resume`, `abort`): it stands for the first attempt
 * and, after a stale connection, for the retry.
 */
export class PooledExchange implements ExchangeSink {
  private readonly pool: ConnectionPool;
  private readonly options: PooledExchangeOptions;
  private connection: PooledConnection;
  private exchange: SocketExchange | undefined = undefined;
  private retried = false;
  private aborted = false;
  private retryAbort: AbortController | undefined = undefined;
  private read = 0;
  private written = 0;

  constructor(pool: ConnectionPool, connection: PooledConnection, options: PooledExchangeOptions) {
    this.pool = pool;
    this.connection = connection;
    this.options = options;
  }

  /** The connection of the current attempt had carried a request before. */
  get reused(): boolean {
    return this.connection.reused;
  }

  /**
   * Bytes this request read from / wrote to the backend, over its attempts (a kept socket's own
   * counters span every request it carried: use these for the balancer's traffic figures).
   * Final once the exchange has ended.
   */
  get bytesRead(): number {
    return this.read;
  }

  get bytesWritten(): number {
    return this.written;
  }

  /** A stale kept connection was replaced by a new one (for the error log, at info). */
  get staleRetried(): boolean {
    return this.retried;
  }

  start(): void {
    this.exchange = this.createExchange(this.connection);
    this.exchange.start();
  }

  resume(): void {
    this.exchange?.resume();
  }

  /** The client went away or the response writer needs no more: the connection is closed. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.retryAbort?.abort();
    this.exchange?.abort();
  }

  onHead(head: CgiResponseHead): void {
    this.options.sink.onHead(head);
  }

  onBody(chunk: Buffer): boolean {
    return this.options.sink.onBody(chunk);
  }

  onEnd(): void {
    this.options.sink.onEnd();
  }

  onStderr(line: string): void {
    this.options.sink.onStderr(line);
  }

  onError(error: GatewayError): void {
    if (this.isStale(error)) {
      void this.retry();
      return;
    }
    this.options.sink.onError(error);
  }

  private createExchange(connection: PooledConnection): SocketExchange {
    const pool = this.pool;
    const socket = connection.socket;
    const readBefore = socket.bytesRead;
    const writtenBefore = socket.bytesWritten;
    // One closure per exchange: the connection it returns is the one it was given.
    const onRelease = (_socket: Socket, reusable: boolean): void => {
      this.read += socket.bytesRead - readBefore;
      this.written += socket.bytesWritten - writtenBefore;
      pool.release(connection, reusable);
    };
    const { protocol, request } = this.options;
    if (protocol === 'scgi') return new ScgiExchange(socket, request, this, { onRelease });
    const keepConn = this.options.keepConn !== false && pool.reusesConnections;
    return new FastCgiExchange(socket, request, this, { onRelease, keepConn });
  }

  private isStale(error: GatewayError): boolean {
    const exchange = this.exchange;
    if (exchange === undefined || this.retried || this.aborted || !this.connection.reused) return false;
    if (exchange.bytesReceived !== 0) return false;
    // UpstreamTimeoutError is not an UpstreamError: timeouts never count as stale.
    if (!(error instanceof UpstreamError)) return false;
    if (error.code !== 'ERR_UPSTREAM_IO' && error.code !== 'ERR_UPSTREAM_NO_HEAD') return false;
    const body = this.options.request.body;
    return body.kind !== 'stream' || exchange.bodyBytesStreamed === 0;
  }

  private async retry(): Promise<void> {
    this.retried = true;
    const body = this.options.request.body;
    // The failed exchange let go of the stream in this same tick, before any 'data' could be
    // emitted: pausing now loses nothing, and the retry resumes it.
    if (body.kind === 'stream') body.source.pause();
    const controller = new AbortController();
    this.retryAbort = controller;
    const outer = this.options.signal;
    const signal = outer === undefined ? controller.signal : AbortSignal.any([outer, controller.signal]);
    let connection: PooledConnection;
    try {
      connection = await this.pool.acquire(signal, {
        fresh: true,
        socket: this.options.socket,
        ...(this.options.connectTimeout === undefined ? {} : { connectTimeout: this.options.connectTimeout }),
      });
    } catch (error) {
      // As without a retry: the unread body flows to nowhere, the error goes to the sink.
      if (body.kind === 'stream') body.source.resume();
      if (!this.aborted) this.options.sink.onError(asGatewayError(error));
      return;
    } finally {
      this.retryAbort = undefined;
    }
    if (this.aborted) {
      this.pool.release(connection, false);
      if (body.kind === 'stream') body.source.resume();
      return;
    }
    this.connection = connection;
    this.start();
  }
}

/**
 * Acquires a connection from `pool` and starts the exchange on it. Rejects, before the sink
 * hears anything, with the pool's errors (connect failure or timeout: next_upstream candidates;
 * 503 queue full / queue timeout; ERR_CLIENT_GONE). Resolves once the exchange has started.
 */
export async function runExchangeWithPool(
  pool: ConnectionPool,
  options: PooledExchangeOptions,
): Promise<PooledExchange> {
  const connection = await pool.acquire(options.signal, {
    socket: options.socket,
    ...(options.connectTimeout === undefined ? {} : { connectTimeout: options.connectTimeout }),
  });
  if (options.signal?.aborted) {
    pool.release(connection, false);
    throw new ClientRequestError('ERR_CLIENT_GONE', 'client closed the connection while connecting', 499);
  }
  const exchange = new PooledExchange(pool, connection, options);
  exchange.start();
  return exchange;
}
