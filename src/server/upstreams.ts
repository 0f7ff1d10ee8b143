/**
 * The config's upstream groups as runtime objects: one `UpstreamGroup` per `upstreams.NAME`,
 * and one group of one member per distinct plain address a `pass` or a ProxyPass URL names
 * (nginx makes the same implicit upstream for `scgi_pass host:port`, so a plain address has
 * one try and its only server is never marked failed). Every group of every config generation
 * shares one HostRegistry: counters, failure state and balancing credit belong to the address
 * and outlive a reload (balancer/host-state.ts).
 */
import { type GroupSnapshot, UpstreamGroup } from '../balancer/group.ts';
import { HostRegistry } from '../balancer/host-state.ts';
import type { Member } from '../balancer/member.ts';
import type { UpstreamOptions } from '../balancer/options.ts';
import { compileTemplate, type Template } from '../cgi/variables.ts';
import type { PorticoConfig } from '../config/schema.ts';
import { upstreamOptions } from '../config/upstream-schema.ts';
import { type BackendAddress, parseBackendAddress } from '../pool/address.ts';
import { ConnectionPool, type ConnectionPoolSettings } from '../pool/connection-pool.ts';
import type { Socket } from 'node:net';
import { connectBackend, connectResolved, type SocketOptions } from '../pool/connector.ts';
import { HealthChecker, type HealthCheckSettings } from './health-checks.ts';
import { type MultiplexMode, type MuxCapacity, MuxPool } from '../transport/mux-pool.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { HostResolver, type LookupAll } from '../pool/host-resolver.ts';
import type { Logger } from '../observability/logger.ts';
import type { RouteUpstream } from '../proxy/route.ts';

/** Opens a connection to one member (resolving its name if it has one), outside any pool. */
type SocketConnect = (timeoutMs: number, signal?: AbortSignal, socket?: SocketOptions) => Promise<Socket>;

/** A group with what the pipeline needs beside it. */
export interface CompiledUpstream extends RouteUpstream {
  /** nginx `hash KEY`, compiled; undefined unless the group hashes. */
  readonly hashKey: Template | undefined;
  /** Each member's connect, for probes that must not use the pool. */
  readonly connects: readonly SocketConnect[];
}

export interface UpstreamSetOptions {
  /** The process's host table; give the previous runtime's on reload. Default: a new one. */
  readonly registry?: HostRegistry;
  /** Where resolution changes and failures of host-named servers are logged. */
  readonly log?: Logger;
  /** Name lookups (default: the system resolver); tests inject one. */
  readonly lookup?: LookupAll;
}

/** A plain address is nginx's implicit upstream: the defaults of a named group's keepalive. */
const IMPLICIT_POOLING: Partial<ConnectionPoolSettings> = {
  keepalive: 32,
  keepaliveTimeout: 60_000,
  keepaliveRequests: 1000,
};

/** httpd worker parameters of a ProxyPass rule (ms for durations). */
export interface WorkerSettings {
  /** `max`: requests in flight; 0 = no limit. */
  readonly max: number;
  /** `acquire`: the longest wait below `max`. */
  readonly acquire: number;
  /** `smax`: idle kept connections. */
  readonly smax: number;
  /** `ttl`: idle kept connection lifetime. */
  readonly ttl: number;
  /** `retry`: how long the worker stays in error after a failed connect. */
  readonly retry: number;
  /** `addressttl`: ms between lookups of a host name; 0 = once. */
  readonly addressTtl: number;
}

/**
 * Requests per multiplexed connection, at most (the application's FCGI_MAX_REQS may be lower);
 * more open another connection.
 */
const MUX_MAX_REQS = 128;
/** Per multiplexed request, bytes queued for a slow client before it is given up. */
const MUX_BUFFER_LIMIT = 1024 * 1024;

/** Requests that may wait for a worker at `max` (httpd threads would block; this bounds it). */
const WORKER_QUEUE = 1024;

/** Every group of one config. */
export class UpstreamSet {
  readonly registry: HostRegistry;
  private readonly named = new Map<string, CompiledUpstream>();
  private readonly implicit = new Map<string, CompiledUpstream>();
  private readonly resolvers: HostResolver[] = [];
  /** Named groups with `health_check`, and how to reach each member without the pool. */
  private readonly checked: Array<{
    group: UpstreamGroup;
    settings: HealthCheckSettings;
    connects: readonly SocketConnect[];
  }> = [];
  private readonly checkers: HealthChecker[] = [];
  private readonly log: Logger | undefined;
  private readonly lookup: LookupAll | undefined;
  private disposed = false;

  /** Throws ConfigError when a group is refused (the schema has checked them already). */
  constructor(config: PorticoConfig, options: UpstreamSetOptions = {}) {
    this.registry = options.registry ?? new HostRegistry();
    this.log = options.log;
    this.lookup = options.lookup;
    try {
      for (const [name, u] of Object.entries(config.upstreams)) {
        const targets = u.servers.map((s) => parseBackendAddress(s.address));
        const hashKey =
          u.balance === 'hash' && u.hash !== undefined ? compileTemplate(u.hash.key) : undefined;
        const pooling = {
          keepalive: u.keepalive,
          keepaliveTimeout: u.keepalive_timeout,
          keepaliveRequests: u.keepalive_requests,
        };
        // nginx `server NAME resolve`: looked up again every resolve_interval; else once.
        const intervals = u.servers.map((s) => (s.resolve ? u.resolve_interval : 0));
        const compiled = this.build(
          upstreamOptions(name, u),
          targets,
          hashKey,
          pooling,
          intervals,
          u.multiplex,
        );
        this.named.set(name, compiled);
        const hc = u.health_check;
        if (hc !== undefined) {
          this.checked.push({
            group: compiled.group,
            connects: compiled.connects,
            settings: {
              kind: hc.type,
              uri: hc.uri,
              params: Object.entries(hc.params),
              interval: hc.interval,
              timeout: hc.timeout,
              fails: hc.fails,
              passes: hc.passes,
              status: hc.status,
              body: hc.body,
            },
          });
        }
      }
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  /** The group a `pass` names: an upstream name, else the group of its one address. */
  forPass(pass: string, protocol: 'scgi' | 'fastcgi'): CompiledUpstream {
    const named = this.named.get(pass);
    if (named !== undefined) return named;
    return this.forAddress(parseBackendAddress(pass), protocol);
  }

  /** The group of one for a plain address, shared by every route that names it. */
  forAddress(address: BackendAddress, protocol: 'scgi' | 'fastcgi'): CompiledUpstream {
    const key = `${protocol} ${address.display}`;
    let found = this.implicit.get(key);
    if (found === undefined) {
      const options: UpstreamOptions = {
        name: address.display,
        protocol,
        servers: [{ address: address.display }],
      };
      found = this.build(options, [address], undefined, IMPLICIT_POOLING);
      this.implicit.set(key, found);
    }
    return found;
  }

  /**
   * The group of one for an httpd ProxyPass worker: its own max / acquire / smax / ttl / retry,
   * so it is shared only by rules with the same address and settings. Unlike nginx's implicit
   * upstream, a worker whose connect failed is in error for `retry` (httpd's 503 meanwhile).
   */
  forWorker(address: BackendAddress, protocol: 'scgi' | 'fastcgi', w: WorkerSettings): CompiledUpstream {
    const key = `${protocol} ${address.display} worker ${w.max} ${w.acquire} ${w.smax} ${w.ttl} ${w.retry} ${w.addressTtl}`;
    let found = this.implicit.get(key);
    if (found === undefined) {
      const options: UpstreamOptions = {
        name: address.display,
        protocol,
        servers: [
          { address: address.display, max_conns: w.max, max_fails: 1, fail_timeout: w.retry, retry: w.retry },
        ],
        single_never_fails: false,
        queue: { size: w.max > 0 ? WORKER_QUEUE : 0, timeout: w.acquire },
      };
      const pooling = { keepalive: w.smax, keepaliveTimeout: w.ttl, keepaliveRequests: 1000 };
      // httpd never multiplexes a worker's connections.
      found = this.build(options, [address], undefined, pooling, [w.addressTtl], 'off');
      this.implicit.set(key, found);
    }
    return found;
  }

  /** Every group, named ones first (config order), then the implicit ones. */
  get groups(): UpstreamGroup[] {
    return [...this.named.values(), ...this.implicit.values()].map((u) => u.group);
  }

  /** Each group's members with their live counters (requests, failures, active, bytes, state). */
  snapshot(now = Date.now()): GroupSnapshot[] {
    return this.groups.map((g) => g.snapshot(now));
  }

  /** Lets go of every host (a later config keeps the ones it names); idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const r of this.resolvers) r.stop();
    for (const c of this.checkers) c.stop();
    for (const u of [...this.named.values(), ...this.implicit.values()]) {
      u.group.dispose();
      for (const pool of u.pools) pool.close();
      for (const mux of u.muxes) mux?.close();
    }
  }

  /**
   * Starts the groups' active health checks (the gateway calls this once it listens; a runtime
   * only compiled, as by `portico check`, probes nothing). Stopped by `dispose`.
   */
  startHealthChecks(): void {
    if (this.disposed || this.checkers.length > 0) return;
    for (const c of this.checked) {
      const checker = new HealthChecker(
        c.group,
        c.settings,
        (index, ms) => (c.connects[index] as SocketConnect)(ms),
        this.log,
      );
      this.checkers.push(checker);
      checker.start();
    }
  }

  /** A resolver for a host-named tcp target; undefined for IP literals and unix sockets. */
  private resolverFor(t: BackendAddress, interval: number): HostResolver | undefined {
    if (t.transport !== 'tcp' || t.host === undefined || !HostResolver.needed(t.host)) return undefined;
    const log = this.log;
    const resolver = new HostResolver(t.host, {
      interval,
      ...(this.lookup === undefined ? {} : { lookup: this.lookup }),
      onChange: (message, level) => log?.log(level, `upstream server ${t.display}: ${message}`),
    });
    this.resolvers.push(resolver);
    if (interval > 0) void resolver.refresh();
    return resolver;
  }

  /** Every host name a server was given as, with the addresses it resolves to now. */
  resolvedHosts(): ResolvedHost[] {
    return this.resolvers.map((r) => ({ host: r.host, addresses: r.current }));
  }

  private build(
    options: UpstreamOptions,
    targets: readonly BackendAddress[],
    hashKey: Template | undefined,
    pooling: Partial<ConnectionPoolSettings>,
    intervals: readonly number[] = [],
    multiplex: MultiplexMode = DEFAULTS.upstream.multiplex,
  ): CompiledUpstream {
    const group = new UpstreamGroup(options, { registry: this.registry });
    const connects = targets.map((t, i): SocketConnect => {
      const resolver = this.resolverFor(t, intervals[i] ?? 0);
      return resolver === undefined
        ? (ms, signal, socket) => connectBackend(t, ms, signal, socket)
        : (ms, signal, socket) => connectResolved(t, resolver, ms, signal, socket);
    });
    // One pool per member, capped at its max_conns: busy, idle and multiplexed connections
    // together. The balancer caps the requests in flight the same way, so a request it admits
    // finds a connection or room for one; the pool's own queue (the group's size and timeout)
    // only serves requests that need a connection of their own while the member multiplexes.
    const queue = options.queue;
    const pools = targets.map((t, i) => {
      const member = group.members[i] as Member;
      return new ConnectionPool(
        t.display,
        (signal, ms, socket) => (connects[i] as SocketConnect)(ms, signal, socket),
        {
          ...pooling,
          maxConns: member.maxConns,
          queue: queue?.size ?? 0,
          ...(queue === undefined ? {} : { queueTimeout: queue.timeout }),
        },
        member.host,
      );
    });
    const muxes = pools.map((pool, i) => {
      if (options.protocol !== 'fastcgi' || multiplex === 'off') return undefined;
      const member = group.members[i] as Member;
      return new MuxPool(
        pool.name,
        (ms, signal, reclaim, socket) => lendForGood(pool, ms, signal, reclaim, socket),
        {
          mode: multiplex,
          maxReqs: MUX_MAX_REQS,
          bufferLimit: MUX_BUFFER_LIMIT,
          idleTimeout: pooling.keepaliveTimeout ?? 60_000,
          askTimeout: 2000,
          askAgainAfter: 60_000,
          onChange: (capacity) => group.setRequestCap(member, requestCap(member.maxConns, capacity)),
        },
      );
    });
    return { group, targets, hashKey, pools, connects, muxes };
  }
}

/**
 * A connection of the member's pool for a multiplexed connection (asked back through `reclaim`
 * when a request waits for its place) or the FCGI_GET_VALUES question: counted against
 * max_conns until it closes, never kept idle.
 */
async function lendForGood(
  pool: ConnectionPool,
  timeoutMs: number,
  signal?: AbortSignal,
  reclaim?: () => void,
  socket?: SocketOptions,
): Promise<Socket> {
  const connection = await pool.acquire(signal, {
    fresh: true,
    connectTimeout: timeoutMs,
    socket,
    ...(reclaim === undefined ? {} : { reclaim }),
  });
  connection.socket.once('close', () => pool.release(connection, false));
  return connection.socket;
}

/**
 * Requests a member may have in flight: max_conns (0: no limit), one request per connection;
 * while it multiplexes, max_conns connections of `perConnection` requests, and never more than
 * the application's FCGI_MAX_REQS.
 */
export function requestCap(maxConns: number, mux: MuxCapacity | undefined): number {
  if (mux === undefined) return maxConns;
  const byConnections = maxConns * mux.perConnection;
  if (mux.total === undefined) return byConnections;
  return byConnections === 0 ? mux.total : Math.min(byConnections, mux.total);
}

/** Resolution state per host name (round robin over its addresses: pool/host-resolver.ts). */
export interface ResolvedHost {
  readonly host: string;
  readonly addresses: readonly string[];
}

/**
 * The library API's view of the members: every group of a runtime with each member's live
 * counters (requests, failures, active, bytesIn, bytesOut) and state, as plain JSON.
 */
export function upstreamSnapshot(
  runtime: { readonly upstreams: UpstreamSet },
  now = Date.now(),
): GroupSnapshot[] {
  return runtime.upstreams.snapshot(now);
}
