/**
 * Live state of one backend, kept in one place that outlives a config reload.
 *
 * A backend is identified by protocol + address (`memberKey`), not by the group that names it:
 * Caddy's reverseproxy keeps its `Host` table the same way, so a reload that keeps an address
 * keeps its counters, its failure state and its balancing credit, and two groups naming the
 * same socket see the same active-request count (what least_conn / bybusyness compare) and the
 * same failure state (a dead backend is dead for every group). nginx loses all of this on
 * reload (peers live in the cycle's pool) and keeps it per worker process; httpd keeps it in
 * shared memory (`proxy_worker_shared`), which is the model here.
 *
 * Per-group balancing state (smooth-WRR `currentWeight` / `effectiveWeight`, httpd `lbstatus`)
 * lives in a `PolicySlot` per (group, host), because the same address may carry another weight
 * in another group.
 *
 * Entries are reference counted: every group built from a config acquires its hosts and slots,
 * and releases them on dispose, so the registry holds exactly what the live configs name.
 *
 * Times are milliseconds from the caller's clock (`Date.now()` in the runtime; tests inject
 * their own). Nothing here reads a clock or starts a timer.
 */

/** What a host (or a member, which adds its configured `down` / `drain`) is doing now. */
export type HostStatus = 'up' | 'failed' | 'down' | 'draining';

/** Runtime override from a status page or the library API; survives reloads with the host. */
export type AdminState = 'up' | 'down' | 'draining';

/** A plain, JSON-safe copy of a host's state, for a status page or the library API. */
export interface HostSnapshot {
  readonly key: string;
  readonly protocol: string;
  readonly address: string;
  readonly state: HostStatus;
  readonly admin: AdminState;
  /** Requests started on this host (`begin`). */
  readonly requests: number;
  /** Failures reported, all kinds that count (403/404 do not). */
  readonly failures: number;
  /** Failures in the current nginx max_fails window; 0 after a recovery. */
  readonly fails: number;
  /** Requests in flight (nginx `conns`, httpd `busy`). */
  readonly active: number;
  /**
   * Requests waiting because this host is at max_conns: in the queue of a group whose every
   * usable member is at its cap (counted on each of those members), or for a connection.
   */
  readonly queued: number;
  /** Bytes received from the backend (httpd `read`). */
  readonly bytesIn: number;
  /** Bytes sent to the backend (httpd `transferred`). */
  readonly bytesOut: number;
  /** Until when the host is out of rotation; null when it is not failed. */
  readonly failedUntil: number | null;
  readonly lastError: string | null;
  readonly lastErrorAt: number | null;
  /** Times httpd's forcerecovery put it back while every member was failed. */
  readonly recoveries: number;
}

export class HostState {
  readonly key: string;
  readonly protocol: string;
  readonly address: string;
  requests = 0;
  failures = 0;
  fails = 0;
  active = 0;
  queued = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** 0 = not failed (clocks start at or after 0). */
  failedUntil = 0;
  lastFailureAt = 0;
  lastError: string | undefined = undefined;
  lastErrorAt: number | undefined = undefined;
  recoveries = 0;
  admin: AdminState = 'up';
  /** Groups that name this host, across live configs. */
  refs = 0;
  /** Balancing state per group name. */
  readonly slots = new Map<string, PolicySlot>();
  /**
   * The queues of the groups naming this host (group.ts): a request ending on the host in one
   * group wakes a request waiting for it in another, which shares its max_conns count.
   */
  readonly queues = new Set<{ readonly length: number; wake(): void }>();

  constructor(key: string, protocol: string, address: string) {
    this.key = key;
    this.protocol = protocol;
    this.address = address;
  }

  /** Failure state only; a member adds its configured `down` / `drain` (see health.ts). */
  statusAt(now: number): HostStatus {
    if (this.admin === 'down') return 'down';
    if (this.admin === 'draining') return 'draining';
    return now < this.failedUntil ? 'failed' : 'up';
  }

  snapshot(now: number): HostSnapshot {
    return {
      key: this.key,
      protocol: this.protocol,
      address: this.address,
      state: this.statusAt(now),
      admin: this.admin,
      requests: this.requests,
      failures: this.failures,
      fails: this.fails,
      active: this.active,
      queued: this.queued,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      failedUntil: now < this.failedUntil ? this.failedUntil : null,
      lastError: this.lastError ?? null,
      lastErrorAt: this.lastErrorAt ?? null,
      recoveries: this.recoveries,
    };
  }
}

/**
 * Balancing credit of one member in one group. `currentWeight` / `effectiveWeight` are nginx's
 * smooth weighted round robin (ngx_http_upstream_round_robin.c); `lbstatus` is httpd's
 * byrequests / bybusyness credit (mod_lbmethod_byrequests.c). They are the same idea kept
 * apart so switching `balance` on reload starts each from its own history.
 */
export class PolicySlot {
  weight: number;
  currentWeight = 0;
  /** Lowered by failures (weight / max_fails each), regained one step per selection. */
  effectiveWeight: number;
  lbstatus = 0;
  refs = 0;

  constructor(weight: number) {
    this.weight = weight;
    this.effectiveWeight = weight;
  }
}

/** `fastcgi 127.0.0.1:9000`, `scgi unix:/run/app.sock`: protocol, a space, the address as displayed. */
export function memberKey(protocol: string, address: string): string {
  return `${protocol} ${address}`;
}

/** Every live host, keyed by `memberKey`. One per process, handed to each group at build time. */
export class HostRegistry {
  private readonly hosts = new Map<string, HostState>();

  get size(): number {
    return this.hosts.size;
  }

  get(key: string): HostState | undefined {
    return this.hosts.get(key);
  }

  /** The host for this address, created on first use; counted until `release`. */
  acquire(protocol: string, address: string): HostState {
    const key = memberKey(protocol, address);
    let host = this.hosts.get(key);
    if (host === undefined) {
      host = new HostState(key, protocol, address);
      this.hosts.set(key, host);
    }
    host.refs++;
    return host;
  }

  /**
   * Drops one reference; the last one forgets the host. A request still in flight on it keeps
   * its object and finishes on it; an address configured again later starts afresh.
   */
  release(host: HostState): void {
    if (host.refs > 0) host.refs--;
    if (host.refs === 0 && this.hosts.get(host.key) === host) this.hosts.delete(host.key);
  }

  /**
   * The balancing slot of `host` in `group`. A changed weight restarts the slot's credit, as a
   * new weight would start a new nginx peer.
   */
  acquireSlot(host: HostState, group: string, weight: number): PolicySlot {
    let slot = host.slots.get(group);
    if (slot === undefined) {
      slot = new PolicySlot(weight);
      host.slots.set(group, slot);
    } else if (slot.weight !== weight) {
      slot.weight = weight;
      slot.effectiveWeight = weight;
      slot.currentWeight = 0;
      slot.lbstatus = 0;
    }
    slot.refs++;
    return slot;
  }

  releaseSlot(host: HostState, group: string): void {
    const slot = host.slots.get(group);
    if (slot === undefined) return;
    if (slot.refs > 0) slot.refs--;
    if (slot.refs === 0) host.slots.delete(group);
  }

  snapshot(now: number): HostSnapshot[] {
    return Array.from(this.hosts.values(), (h) => h.snapshot(now));
  }
}
