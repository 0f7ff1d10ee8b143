/**
 * Multiplexed FastCGI connections to one member (`multiplex: auto | on`), beside its ordinary
 * pool. A request goes on the busiest connection that still has room (fewest connections
 * open, as a multiplexing backend wants), a new connection is opened only when every one is
 * full, and requests arriving while it connects wait for it rather than open more.
 *
 * `auto` asks the application first, with FCGI_GET_VALUES on a connection of its own
 * (transport/probe.ts): FCGI_MPXS_CONNS=1 turns multiplexing on with FCGI_MAX_REQS requests per
 * connection; anything else (php-fpm says 0; some servers do not answer) leaves the member on
 * connections of its own, and the question is asked again later only if it could not be
 * answered. Until the answer is in, requests use the ordinary pool: asking never delays one.
 */
import type { Socket } from 'node:net';
import { GatewayError } from '../errors.ts';
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
}

export type MuxConnect = (timeoutMs: number, signal?: AbortSignal) => Promise<Socket>;

type Support =
  | { readonly state: 'unknown' | 'asking' | 'no' }
  | { readonly state: 'yes'; readonly maxReqs: number };

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
    this.support =
      settings.mode === 'on' ? { state: 'yes', maxReqs: settings.maxReqs } : { state: 'unknown' };
  }

  /**
   * True when requests should be multiplexed now. With `auto`, the first call starts the
   * question (answered later) and says false meanwhile.
   */
  ready(now = Date.now()): boolean {
    const s = this.support;
    if (s.state === 'yes') return true;
    if (this.settings.mode === 'off' || this.closed) return false;
    if (
      s.state === 'unknown' ||
      (s.state === 'no' && this.askedAt > 0 && now - this.askedAt > this.settings.askAgainAfter)
    ) {
      void this.ask(now);
    }
    return false;
  }

  /** Starts `request` on a multiplexed connection, opening one if every one is full. */
  async exchange(
    request: ExchangeRequest,
    sink: ExchangeSink,
    inlineBody: Buffer,
    connectTimeout: number,
    signal?: AbortSignal,
  ): Promise<MuxExchange> {
    const connection = await this.connectionWithRoom(connectTimeout, signal);
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

  private async connectionWithRoom(connectTimeout: number, signal?: AbortSignal): Promise<MuxConnection> {
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
      const opening = this.open(connectTimeout, signal, maxReqs);
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
  ): Promise<MuxConnection> {
    const socket = await this.connect(connectTimeout, signal);
    this.opened++;
    const connection = new MuxConnection(socket, {
      maxReqs,
      bufferLimit: this.settings.bufferLimit,
      onIdle: (c) => this.idle(c),
      onClosed: (c) => this.forget(c),
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

  private async ask(now: number): Promise<void> {
    this.support = { state: 'asking' };
    this.askedAt = now;
    let answer: Support = { state: 'no' };
    try {
      const socket = await this.connect(this.settings.askTimeout);
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
          const maxReqs =
            Number.isInteger(reqs) && reqs > 1
              ? Math.min(reqs, this.settings.maxReqs)
              : this.settings.maxReqs;
          answer = { state: 'yes', maxReqs };
        }
        // A clear "no" is final: do not ask again.
        else this.askedAt = 0;
      }
    } catch {
      // No answer: ordinary connections, and the question again after askAgainAfter.
    }
    if (!this.closed) this.support = answer;
  }
}
