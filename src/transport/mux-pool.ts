/**
 * Multiplexed FastCGI connections to one member (`multiplex: auto | on`), beside its ordinary
 * pool. A request goes on the busiest connection that still has room (fewest connections
 * open, as a multiplexing backend wants), a new connection is opened only when every one is
 * full, and requests arriving while it connects wait for it rather than open more.
 *
 * `auto` asks the application first, with FCGI_GET_VALUES on a connection of its own
 * (transport/probe.ts): FCGI_MPXS_CONNS=1 turns multiplexing on with FCGI_MAX_REQS requests per
 * connection (at most `maxReqs`); anything else (php-fpm says 0; some servers do not answer)
 * leaves the member on connections of its own, and the question is asked again later only if
 * it could not be answered. Until the answer is in, requests use the ordinary pool: asking
 * never delays one. A multiplexed connection that breaks with requests on it, a request
 * refused with FCGI_CANT_MPX_CONN, or a connect that fails makes `auto` forget the answer and
 * ask again: what listens there now may be another program (php-fpm in place of a Node app).
 *
 * Connections come from `connect`, which the gateway points at the member's ConnectionPool
 * (a connection lent for good, given back when it closes): the question's connection and the
 * multiplexed ones count against max_conns with the member's ordinary connections, and wait
 * for a place when the member is at its cap. `onChange` tells the balancer what the member
 * can take while it multiplexes (FCGI_MAX_REQS over all connections, as the spec means it).
 */
import type { Socket } from 'node:net';
import { GatewayError } from '../errors.ts';
import type { SocketOptions } from '../pool/connector.ts';
import type { ExchangeRequest, ExchangeSink } from './exchange.ts';
import { MuxConnection } from './mux-connection.ts';
import type { MuxExchange } from './mux-exchange.ts';
import { runProbe } from './probe.ts';

export type MultiplexMode = 'auto' | 'on' | 'off';

export interface MuxPoolSettings {
  readonly mode: MultiplexMode;
  /** Requests per connection with `on` (no question asked), and the cap of any answer. */
  readonly maxReqs: number;
  /** Per request, bytes queued for a slow client before it is given up (mux-exchange.ts). */
  readonly bufferLimit: number;
  /** An idle multiplexed connection is closed after this long (keepalive_timeout). */
  readonly idleTimeout: number;
  /** How long the FCGI_GET_VALUES question may take. */
  readonly askTimeout: number;
  /** Before asking again after a question that got no answer. */
  readonly askAgainAfter: number;
  /**
   * Told each time multiplexing turns on or off (undefined): the balancer's cap of requests on
   * the member follows (server/upstreams.ts).
   */
  readonly onChange?: (capacity: MuxCapacity | undefined) => void;
}

/** What a multiplexing member can take. */
export interface MuxCapacity {
  /** Requests on one connection at most. */
  readonly perConnection: number;
  /**
   * Requests at once over all connections, as the application said (FCGI_MAX_REQS: "the
   * maximum number of concurrent requests this application will accept", FastCGI spec 4.1);
   * undefined with `on`, where nothing was asked.
   */
  readonly total: number | undefined;
}

/**
 * Opens a connection. `reclaim`, when given, is how the source (the member's ConnectionPool)
 * asks for the connection back when a request waits for its place below max_conns.
 */
export type MuxConnect = (
  timeoutMs: number,
  signal?: AbortSignal,
  reclaim?: () => void,
  socket?: SocketOptions,
) => Promise<Socket>;

type Support =
  | { readonly state: 'unknown' | 'asking' | 'no' }
  | { readonly state: 'yes'; readonly maxReqs: number; readonly total: number | undefined };

export class MuxPool {
  readonly name: string;
  private readonly connect: MuxConnect;
  private readonly settings: MuxPoolSettings;
  private support: Support;
  private askedAt = 0;
  private readonly connections: MuxConnection[] = [];
  private readonly idleTimers = new Map<MuxConnection, NodeJS.Timeout>();
  /** A connection being opened, and how many requests are waiting for it. */
  private opening: Promise<MuxConnection> | undefined;
  private openingFor = 0;
  private closed = false;
  /** Connections opened so far (for status pages and tests). */
  opened = 0;

  constructor(name: string, connect: MuxConnect, settings: MuxPoolSettings) {
    this.name = name;
    this.connect = connect;
    this.settings = settings;
    this.support = { state: 'unknown' };
    if (settings.mode === 'on')
      this.setSupport({ state: 'yes', maxReqs: settings.maxReqs, total: undefined });
  }

  /**
   * True when requests should be multiplexed now. With `auto`, the first call starts the
   * question (answered later, on a connection set up with `socket`: nginx `*_bind`) and says
   * false meanwhile.
   */
  ready(socket?: SocketOptions, now = Date.now()): boolean {
    const s = this.support;
    if (s.state === 'yes') return true;
    if (this.settings.mode === 'off' || this.closed) return false;
    if (
      s.state === 'unknown' ||
      (s.state === 'no' && this.askedAt > 0 && now - this.askedAt > this.settings.askAgainAfter)
    ) {
      void this.ask(now, socket);
    }
    return false;
  }

  /**
   * Starts `request` on a multiplexed connection, opening one (set up with `socket`) if every
   * one is full; an open connection is shared whatever it was set up with, as nginx's keepalive
   * cache reuses one.
   */
  async exchange(
    request: ExchangeRequest,
    sink: ExchangeSink,
    inlineBody: Buffer,
    connectTimeout: number,
    signal?: AbortSignal,
    socket?: SocketOptions,
  ): Promise<MuxExchange> {
    const connection = await this.connectionWithRoom(connectTimeout, signal, socket);
    if (signal?.aborted)
      throw new GatewayError(
        'ERR_CLIENT_GONE',
        'client closed the connection while connecting',
        'client',
        499,
        'none',
      );
    this.clearIdle(connection);
    return connection.start(request, sink, inlineBody);
  }

  /** Closes every multiplexed connection (requests on them fail). */
  close(): void {
    this.closed = true;
    for (const t of this.idleTimers.values()) clearTimeout(t);
    this.idleTimers.clear();
    for (const c of [...this.connections]) c.close();
  }

  get openConnections(): number {
    return this.connections.length;
  }

  private async connectionWithRoom(
    connectTimeout: number,
    signal: AbortSignal | undefined,
    socket: SocketOptions | undefined,
  ): Promise<MuxConnection> {
    for (;;) {
      let best: MuxConnection | undefined;
      for (const c of this.connections)
        if (c.room > 0 && (best === undefined || c.load > best.load)) best = c;
      if (best !== undefined) return best;
      const maxReqs = this.support.state === 'yes' ? this.support.maxReqs : 1;
      if (this.opening !== undefined && this.openingFor < maxReqs) {
        this.openingFor++;
        const c = await this.opening.catch(() => undefined);
        if (c !== undefined && c.room > 0) return c;
        continue;
      }
      this.openingFor = 1;
      const opening = this.open(connectTimeout, signal, maxReqs, socket);
      this.opening = opening;
      try {
        const c = await opening;
        if (c.room > 0) return c;
      } finally {
        if (this.opening === opening) this.opening = undefined;
      }
    }
  }

  private async open(
    connectTimeout: number,
    signal: AbortSignal | undefined,
    maxReqs: number,
    socketOptions: SocketOptions | undefined,
  ): Promise<MuxConnection> {
    let socket: Socket;
    let connection: MuxConnection | undefined;
    let retire = false;
    try {
      // Asked back: it finishes what it carries, takes nothing new, and closes.
      socket = await this.connect(
        connectTimeout,
        signal,
        () => {
          if (connection === undefined) retire = true;
          else connection.retire();
        },
        socketOptions,
      );
    } catch (error) {
      // The member may come back as another program: ask again before multiplexing (not for
      // a wait at max_conns or a client that left: failure 'none').
      if (error instanceof GatewayError && error.failure !== 'none') this.failed();
      throw error;
    }
    this.opened++;
    connection = new MuxConnection(socket, {
      maxReqs,
      bufferLimit: this.settings.bufferLimit,
      onIdle: (c) => this.idle(c),
      onCantMultiplex: () => this.failed(),
      onClosed: (c, failed) => {
        this.forget(c);
        if (failed) this.failed();
      },
    });
    if (this.closed) {
      connection.close();
      throw new GatewayError(
        'ERR_UPSTREAM_CLOSING',
        `upstream ${this.name} is closing`,
        'gateway',
        503,
        'none',
      );
    }
    this.connections.push(connection);
    if (retire) connection.retire();
    return connection;
  }

  private idle(c: MuxConnection): void {
    this.clearIdle(c);
    const timer = setTimeout(() => {
      this.idleTimers.delete(c);
      c.close();
    }, this.settings.idleTimeout);
    timer.unref();
    this.idleTimers.set(c, timer);
  }

  private clearIdle(c: MuxConnection): void {
    const t = this.idleTimers.get(c);
    if (t !== undefined) clearTimeout(t);
    this.idleTimers.delete(c);
  }

  private forget(c: MuxConnection): void {
    this.clearIdle(c);
    const at = this.connections.indexOf(c);
    if (at !== -1) this.connections.splice(at, 1);
  }

  /**
   * A multiplexed connection broke with requests on it, or none could be opened: with `auto`,
   * the answer is forgotten and the next request asks again (meanwhile, connections of their
   * own), since what listens there now may not multiplex. `on` keeps multiplexing.
   */
  private failed(): void {
    if (this.settings.mode === 'auto' && this.support.state === 'yes' && !this.closed)
      this.setSupport({ state: 'unknown' });
  }

  private setSupport(support: Support): void {
    const was = this.support;
    this.support = support;
    if (was.state !== 'yes' && support.state !== 'yes') return;
    if (
      was.state === 'yes' &&
      support.state === 'yes' &&
      was.maxReqs === support.maxReqs &&
      was.total === support.total
    )
      return;
    this.settings.onChange?.(
      support.state === 'yes' ? { perConnection: support.maxReqs, total: support.total } : undefined,
    );
  }

  private async ask(now: number, socketOptions: SocketOptions | undefined): Promise<void> {
    this.support = { state: 'asking' };
    this.askedAt = now;
    let answer: Support = { state: 'no' };
    try {
      // Bounded as a whole: a connect that waits for a place below max_conns counts too.
      const socket = await this.connect(
        this.settings.askTimeout,
        AbortSignal.timeout(this.settings.askTimeout),
        undefined,
        socketOptions,
      );
      const result = await runProbe(socket, {
        kind: 'get_values',
        protocol: 'fastcgi',
        params: [],
        timeout: this.settings.askTimeout,
      });
      if (result.ok) {
        const values = new Map(result.values ?? []);
        const mpxs = values.get('FCGI_MPXS_CONNS');
        const reqs = Number.parseInt(values.get('FCGI_MAX_REQS') ?? '', 10);
        if (mpxs === '1') {
          const said = Number.isSafeInteger(reqs) && reqs > 1 ? reqs : undefined;
          answer = {
            state: 'yes',
            maxReqs: Math.min(said ?? this.settings.maxReqs, this.settings.maxReqs),
            total: said,
          };
        }
        // A clear "no" is final: do not ask again.
        else this.askedAt = 0;
      }
    } catch {
      // No answer: ordinary connections, and the question again after askAgainAfter.
    }
    if (!this.closed) this.setSupport(answer);
  }
}
