/**
 * Kept backend connections of one upstream member (one address), shaped for php-fpm's worker
 * model (anchors.md 2.6): a php-fpm worker that accepted a connection with FCGI_KEEP_CONN blocks
 * on it, without a timeout, until the next request or the close, so every idle connection pins a
 * worker. Hence:
 *
 * - nothing is opened ahead of need (php-fpm drops a connection that sends nothing for 5 s, and
 *   a pre-opened one would pin a worker for nothing);
 * - the idle list is a stack (LIFO): the most recently used connection goes out first, so under
 *   a falling load the connections at the bottom time out and php-fpm's extra workers
 *   (pm = dynamic / ondemand) can idle out;
 * - `maxConns` caps the open connections (set it <= pm.max_children) and requests beyond it wait
 *   in a bounded FIFO queue for a connection, then get a 503, instead of a 502 from a backlog
 *   that php-fpm will never drain (caddyserver/caddy#7082, haproxy/haproxy#2936);
 * - a connection goes back to the idle list only when its transport says the exchange ended
 *   cleanly (semantics.md C.1.11 / E13); while idle, an EOF, an error or any byte from the
 *   backend drops it at once (php-fpm closes it at pm.max_requests; stray bytes would be read
 *   as the next response).
 *
 * Connection states (`open` counts connecting + active + idle):
 *
 *   connect --> active --release(true)--> idle --acquire--> active
 *                 |  \--release(true), a waiter queued--> active (handed over)
 *                 +--release(false) / broken / limits--> closed
 *   idle --timeout / EOF / error / bytes / evicted / close()--> closed
 *
 * Settings, with the nginx / httpd directive each follows:
 *
 *   keepalive          upstream `keepalive N`: idle connections kept (0: no reuse)
 *   keepaliveTimeout   upstream `keepalive_timeout` (60s); httpd `ttl=`
 *   keepaliveRequests  upstream `keepalive_requests` (1000)
 *   maxConns           `server ... max_conns=` (0: no cap); httpd `max=`
 *   queue              nginx Plus upstream `queue N`: requests that may wait at the cap
 *   queueTimeout       nginx Plus `queue ... timeout=` (60s); httpd `acquire=`
 *   connectTimeout     `fastcgi_connect_timeout` (per acquire; this is the default)
 */
import type { Socket } from 'node:net';
import { ClientRequestError, GatewayError } from '../errors.ts';
import type { SocketOptions } from './connector.ts';
import { type ConnectionPoolSettings, resolvePoolSettings } from './pool-settings.ts';

export { CONNECTION_POOL_DEFAULTS, type ConnectionPoolSettings } from './pool-settings.ts';

/** Opens one connection to the member (connector.ts's `connectBackend`, bound to an address). */
export type Connect = (
  signal: AbortSignal | undefined,
  timeoutMs: number,
  socket?: SocketOptions,
) => Promise<Socket>;

/** A connection lent by `acquire`; give it back with `release` exactly once. */
export interface PooledConnection {
  readonly socket: Socket;
  /** It carried a request before this one (taken from the idle list, or handed over). */
  readonly reused: boolean;
  /** Requests on this connection, this one included. */
  readonly requests: number;
}

export interface AcquireOptions {
  /** ms for a connect, if one is needed (the route's connect_timeout). */
  readonly connectTimeout?: number;
  /**
   * How a new connection is set up (nginx `*_bind`, `*_socket_keepalive`). An idle connection
   * is reused whatever it was opened with, as nginx's keepalive cache does.
   */
  readonly socket?: SocketOptions | undefined;
  /**
   * Never an idle connection: a new one (the retry after a reused connection turned out stale;
   * the other idle ones may be just as stale, e.g. after a backend restart).
   */
  readonly fresh?: boolean;
  /**
   * The connection is lent for good (a multiplexed FastCGI connection): never kept idle here.
   * While it is out, a request that has to wait for a place at `maxConns` calls `reclaim`,
   * asking the holder to give the connection back as soon as it has nothing to do, so that
   * requests needing a connection of their own are not starved by a shared one.
   */
  readonly reclaim?: () => void;
}

export interface ConnectionPoolStats {
  /** Connecting + active + idle. */
  readonly open: number;
  readonly idle: number;
  /** Lent out or connecting. */
  readonly active: number;
  /** Requests waiting for a connection at the cap. */
  readonly queued: number;
  /** Connections opened since the pool was made. */
  readonly connects: number;
  /** Acquires served by a kept connection. */
  readonly reuses: number;
}

const ACTIVE = 0;
const IDLE = 1;
const CLOSED = 2;

/** One connection and its state; the listeners are bound once per connection, not per event. */
class PoolEntry implements PooledConnection {
  readonly socket: Socket;
  readonly pool: ConnectionPool;
  reused = false;
  requests = 1;
  state = ACTIVE;
  /** The socket failed or closed while lent out: never kept, whatever the transport says. */
  broken = false;
  idleTimer: NodeJS.Timeout | undefined = undefined;
  /** Lent for good: how to ask for it back (AcquireOptions.reclaim), and whether we did. */
  reclaim: (() => void) | undefined = undefined;
  reclaimAsked = false;

  constructor(pool: ConnectionPool, socket: Socket) {
    this.pool = pool;
    this.socket = socket;
    this.onError = this.onError.bind(this);
    this.onClose = this.onClose.bind(this);
    this.onIdleEvent = this.onIdleEvent.bind(this);
    this.onIdleTimeout = this.onIdleTimeout.bind(this);
    // For the connection's whole life: an 'error' with no listener would crash the process,
    // and there are moments (handed over, not yet started) when no exchange listens.
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  onError(): void {
    this.broken = true;
    if (this.state === IDLE) this.pool.dropIdle(this);
  }

  onClose(): void {
    this.broken = true;
    if (this.state === IDLE) this.pool.dropIdle(this);
  }

  /** EOF or bytes while idle: the backend closed it, or it would desync the next response (E13). */
  onIdleEvent(): void {
    if (this.state === IDLE) this.pool.dropIdle(this);
  }

  onIdleTimeout(): void {
    this.idleTimer = undefined;
    if (this.state === IDLE) this.pool.dropIdle(this);
  }
}

interface Waiter {
  readonly resolve: (connection: PooledConnection) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly fresh: boolean;
  readonly connectTimeout: number;
  readonly socket: SocketOptions | undefined;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  /** Still counted in `QueueCounter.queued`. */
  counted: boolean;
}

/** Where the pool adds the requests waiting in its queue (the member's live counters). */
export interface QueueCounter {
  queued: number;
}

function clientGone(): ClientRequestError {
  return new ClientRequestError(
    'ERR_CLIENT_GONE',
    'client closed the connection while waiting for an upstream connection',
    499,
  );
}

export class ConnectionPool {
  /** For errors and logs: the member's address. */
  readonly name: string;
  private readonly settings: ConnectionPoolSettings;
  private readonly connect: Connect;
  /** Stack: the most recently released connection is last and goes out first. */
  private readonly idle: PoolEntry[] = [];
  private readonly waiters: Waiter[] = [];
  /** Connections lent for good (AcquireOptions.reclaim), oldest first. */
  private readonly lentForGood = new Set<PoolEntry>();
  private open = 0;
  private connects = 0;
  private reuses = 0;
  private closed = false;
  private readonly counter: QueueCounter | undefined;

  /** `counter`: also counts this pool's waiting requests (the member's HostState). */
  constructor(
    name: string,
    connect: Connect,
    settings: Partial<ConnectionPoolSettings> = {},
    counter?: QueueCounter,
  ) {
    this.name = name;
    this.connect = connect;
    this.settings = resolvePoolSettings(settings);
    this.counter = counter;
  }

  /** Whether a connection can ever be kept: the transport sets FCGI_KEEP_CONN only then. */
  get reusesConnections(): boolean {
    return this.settings.keepalive > 0 && this.settings.keepaliveRequests > 1;
  }

  /**
   * A connection for one exchange: the most recently used idle one, else a new one, else (at
   * `maxConns`) a place in the queue. Rejects with the connector's errors (connect failure or
   * timeout: the attempt loop's next_upstream `error` / `timeout`), a 503
   * `ERR_UPSTREAM_QUEUE_FULL` / `ERR_UPSTREAM_QUEUE_TIMEOUT`, or `ERR_CLIENT_GONE` when `signal`
   * fires first.
   */
  acquire(signal?: AbortSignal, options: AcquireOptions = {}): Promise<PooledConnection> {
    const reclaim = options.reclaim;
    if (reclaim === undefined) return this.lendOne(signal, options);
    return this.lendOne(signal, { ...options, fresh: true }).then((connection) => {
      const entry = connection as PoolEntry;
      entry.reclaim = reclaim;
      this.lentForGood.add(entry);
      return entry;
    });
  }

  private lendOne(signal: AbortSignal | undefined, options: AcquireOptions): Promise<PooledConnection> {
    if (this.closed) return Promise.reject(this.closedError());
    if (signal?.aborted) return Promise.reject(clientGone());
    const fresh = options.fresh === true;
    const connectTimeout = options.connectTimeout ?? this.settings.connectTimeout;
    if (!fresh) {
      const entry = this.takeIdle();
      if (entry !== undefined) return Promise.resolve(entry);
    } else if (!this.hasRoom() && this.idle.length > 0) {
      // At the cap, a fresh connection takes the place of the least recently used idle one.
      this.discard(this.idle[0] as PoolEntry);
    }
    const socket = options.socket;
    if (this.hasRoom()) return this.openNew(signal, connectTimeout, socket);
    return this.enqueue(signal, fresh, connectTimeout, socket);
  }

  /**
   * Gives a connection back. `reusable` is the transport's word that the exchange ended cleanly
   * with nothing left to read (E13); anything else closes the connection. Calls after the first
   * for the same connection are ignored.
   */
  release(connection: PooledConnection, reusable: boolean): void {
    const entry = connection as PoolEntry;
    if (entry.pool !== this || entry.state !== ACTIVE) return;
    const s = this.settings;
    if (
      !reusable ||
      entry.broken ||
      this.closed ||
      s.keepalive === 0 ||
      entry.requests >= s.keepaliveRequests ||
      entry.socket.destroyed ||
      entry.socket.readableLength > 0
    ) {
      this.discard(entry);
      return;
    }
    const waiter = this.waiters[0];
    if (waiter !== undefined) {
      if (waiter.fresh) {
        // Closing this one frees the place the fresh waiter (first in line) connects in.
        this.discard(entry);
      } else {
        this.waiters.shift();
        this.settle(waiter);
        this.lend(entry);
        waiter.resolve(entry);
      }
      return;
    }
    if (s.keepaliveTimeout === 0) {
      this.discard(entry);
      return;
    }
    if (this.idle.length >= s.keepalive) this.discard(this.idle[0] as PoolEntry);
    entry.state = IDLE;
    const socket = entry.socket;
    socket.on('data', entry.onIdleEvent);
    socket.on('end', entry.onIdleEvent);
    // Flowing while idle, so an EOF or a stray byte is seen at once, not at the next request.
    socket.resume();
    entry.idleTimer = setTimeout(entry.onIdleTimeout, s.keepaliveTimeout);
    entry.idleTimer.unref();
    this.idle.push(entry);
  }

  /**
   * Closes the idle connections, fails the queued requests (503 `ERR_POOL_CLOSED`) and every
   * later acquire; lent connections close when they are released. For a reload, close the old
   * pools once the old runtime has drained.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    while (this.idle.length > 0) this.discard(this.idle[this.idle.length - 1] as PoolEntry);
    const waiters = this.waiters.splice(0);
    for (const waiter of waiters) {
      this.settle(waiter);
      waiter.reject(this.closedError());
    }
  }

  stats(): ConnectionPoolStats {
    return {
      open: this.open,
      idle: this.idle.length,
      active: this.open - this.idle.length,
      queued: this.waiters.length,
      connects: this.connects,
      reuses: this.reuses,
    };
  }

  /** @internal An idle connection ended (timeout, EOF, error, stray bytes): out of the pool at once. */
  dropIdle(entry: PoolEntry): void {
    this.discard(entry);
  }

  private hasRoom(): boolean {
    return this.settings.maxConns === 0 || this.open < this.settings.maxConns;
  }

  private takeIdle(): PoolEntry | undefined {
    let entry = this.idle.pop();
    while (entry !== undefined) {
      const socket = entry.socket;
      // httpd's rule beside nginx's: check that a kept socket is still open and empty.
      if (!entry.broken && !socket.destroyed && socket.readable && socket.readableLength === 0) {
        this.lend(entry);
        return entry;
      }
      this.discard(entry);
      entry = this.idle.pop();
    }
    return undefined;
  }

  /** Idle (or just released) -> lent out again, paused and without the idle listeners. */
  private lend(entry: PoolEntry): void {
    this.stopIdle(entry);
    entry.state = ACTIVE;
    entry.reused = true;
    entry.requests++;
    this.reuses++;
  }

  private stopIdle(entry: PoolEntry): void {
    if (entry.idleTimer !== undefined) {
      clearTimeout(entry.idleTimer);
      entry.idleTimer = undefined;
    }
    const socket = entry.socket;
    if (entry.state === IDLE) {
      socket.off('data', entry.onIdleEvent);
      socket.off('end', entry.onIdleEvent);
      socket.pause();
    }
  }

  private discard(entry: PoolEntry): void {
    if (entry.state === CLOSED) return;
    if (entry.state === IDLE) {
      const at = this.idle.indexOf(entry);
      if (at !== -1) this.idle.splice(at, 1);
    }
    this.stopIdle(entry);
    entry.state = CLOSED;
    this.lentForGood.delete(entry);
    entry.socket.destroy();
    this.open--;
    this.slotFreed();
  }

  private async openNew(
    signal: AbortSignal | undefined,
    connectTimeout: number,
    socketOptions: SocketOptions | undefined,
  ): Promise<PooledConnection> {
    this.open++;
    let socket: Socket;
    try {
      socket = await this.connect(signal, connectTimeout, socketOptions);
    } catch (error) {
      this.open--;
      this.slotFreed();
      throw error;
    }
    this.connects++;
    const entry = new PoolEntry(this, socket);
    if (this.closed) {
      this.discard(entry);
      throw this.closedError();
    }
    return entry;
  }

  /** A place at the cap opened: the first waiter connects (idle ones were handed over directly). */
  private slotFreed(): void {
    while (this.waiters.length > 0 && this.hasRoom()) {
      const waiter = this.waiters.shift() as Waiter;
      this.settle(waiter);
      this.openNew(waiter.signal, waiter.connectTimeout, waiter.socket).then(waiter.resolve, waiter.reject);
    }
  }

  private enqueue(
    signal: AbortSignal | undefined,
    fresh: boolean,
    connectTimeout: number,
    socket: SocketOptions | undefined,
  ): Promise<PooledConnection> {
    const s = this.settings;
    if (this.waiters.length >= s.queue) {
      return Promise.reject(
        new GatewayError(
          'ERR_UPSTREAM_QUEUE_FULL',
          `upstream ${this.name} is at max_conns=${s.maxConns} and its queue of ${s.queue} is full`,
          'backend',
          503,
          'none',
        ),
      );
    }
    return new Promise<PooledConnection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        fresh,
        connectTimeout,
        socket,
        timer: undefined,
        onAbort: undefined,
        counted: this.counter !== undefined,
      };
      if (this.counter !== undefined) this.counter.queued++;
      waiter.timer = setTimeout(() => {
        this.unqueue(waiter);
        reject(
          new GatewayError(
            'ERR_UPSTREAM_QUEUE_TIMEOUT',
            `upstream ${this.name}: no connection within queue_timeout (max_conns=${s.maxConns})`,
            'backend',
            503,
            'none',
          ),
        );
      }, s.queueTimeout);
      if (signal !== undefined) {
        waiter.onAbort = () => {
          this.unqueue(waiter);
          reject(clientGone());
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.askForOneBack();
    });
  }

  /** A request waits for a place: one connection lent for good is asked back (once). */
  private askForOneBack(): void {
    for (const entry of this.lentForGood) {
      if (entry.reclaimAsked) continue;
      entry.reclaimAsked = true;
      entry.reclaim?.();
      return;
    }
  }

  private unqueue(waiter: Waiter): void {
    const at = this.waiters.indexOf(waiter);
    if (at !== -1) this.waiters.splice(at, 1);
    this.settle(waiter);
  }

  /** The waiter leaves the queue: its timer and abort listener go. */
  private settle(waiter: Waiter): void {
    if (waiter.counted && this.counter !== undefined) this.counter.queued--;
    waiter.counted = false;
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.timer = undefined;
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.onAbort = undefined;
  }

  private closedError(): GatewayError {
    return new GatewayError(
      'ERR_POOL_CLOSED',
      `the connection pool of ${this.name} is closed`,
      'gateway',
      503,
      'none',
    );
  }
}
