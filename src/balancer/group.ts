/**
 * An upstream group, compiled once from `UpstreamOptions`: its members bound to their shared
 * host state, its tiers, its policy. The attempt loop asks it for a member per try:
 *
 *   const sel = group.acquire({ clientAddress, hashKey, route, tried }, now);
 *   if (!sel.ok) -> nginx 502 "no live upstreams" / httpd 503
 *   ... exchange with sel.member ...
 *   group.reportSuccess(member, now)  or  group.reportFailure(member, 'error', now)
 *   group.release(member, { bytesIn, bytesOut })      exactly once per acquire
 *   tried.add(member.key) before the next try
 *
 * Order of a selection: a sticky route first (its member, draining allowed; httpd nofailover
 * stops there), else the policy over `candidatesFor` (first tier with a usable member).
 *
 * Reload: build the new group with the same HostRegistry, swap, and dispose the old one once
 * it has drained; counters, failure state and balancing credit carry over.
 */
import { ConfigError, GatewayError } from '../errors.ts';
import { AdmissionQueue } from './admission-queue.ts';
import { createPolicy } from './create-policy.ts';
import {
  begin,
  blockedByMaxConns,
  buildTiers,
  candidatesFor,
  end,
  type FailureReport,
  type HealthGroup,
  hasRoute,
  isFailed,
  membersAtMaxConns,
  reportFailure,
  reportSuccess,
  routeMember,
  type Tier,
  type Traffic,
} from './health.ts';
import type { HostRegistry, HostSnapshot, HostStatus } from './host-state.ts';
import { Member, type MemberHealth } from './member.ts';
import {
  BALANCER_DEFAULTS,
  type BalanceMethod,
  resolveServer,
  type UpstreamOptions,
  validateUpstreamOptions,
} from './options.ts';
import type { RandomSource, SelectionContext, SelectionPolicy } from './policy.ts';
import { StickySessionResolver } from './sticky.ts';

export interface UpstreamGroupDeps {
  /** The process-wide host table (shared by every config generation). */
  readonly registry: HostRegistry;
  /** For `random`; default Math.random. */
  readonly random?: RandomSource;
}

export type Selection =
  | {
      readonly ok: true;
      readonly member: Member;
      /** Chosen through the sticky route (httpd BALANCER_SESSION_ROUTE applies). */
      readonly sticky: boolean;
      /** The member's route differs from the one asked for (httpd BALANCER_ROUTE_CHANGED=1). */
      readonly routeChanged: boolean;
    }
  | {
      readonly ok: false;
      /**
       * `no-live-member`: every member is down, draining, failed, at max_conns or tried.
       * `sticky-route-unavailable`: httpd nofailover and the route's member is unusable.
       */
      readonly reason: 'no-live-member' | 'sticky-route-unavailable';
    };

/** A member's settings and state in this group, JSON-safe, for a status page. */
export interface MemberSnapshot extends HostSnapshot {
  readonly group: string;
  readonly index: number;
  readonly weight: number;
  readonly maxConns: number;
  /** Requests in flight at most: max_conns, or more while the member multiplexes (0: no limit). */
  readonly requestCap: number;
  readonly maxFails: number;
  readonly failTimeout: number;
  readonly retry: number;
  readonly backup: boolean;
  readonly spare: boolean;
  readonly lbset: number;
  readonly route: string;
  readonly currentWeight: number;
  readonly effectiveWeight: number;
  readonly lbstatus: number;
  /** Active health checks: unchecked, healthy or unhealthy; the reason of the last failed check. */
  readonly health: MemberHealth;
  /** Checks passed / failed in a row. */
  readonly checkPasses: number;
  readonly checkFails: number;
  readonly lastCheckError: string;
}

export interface GroupSnapshot {
  readonly name: string;
  readonly protocol: string;
  readonly balance: BalanceMethod;
  /** Requests waiting for a member below max_conns now, and those that got 503 from the queue. */
  readonly queued: number;
  readonly queueRejected: number;
  readonly members: readonly MemberSnapshot[];
}

export class UpstreamGroup implements HealthGroup {
  readonly name: string;
  readonly protocol: string;
  readonly balance: BalanceMethod;
  readonly members: readonly Member[];
  readonly tiers: readonly Tier[];
  readonly policy: SelectionPolicy;
  readonly forceRecovery: boolean;
  readonly singleNeverFails: boolean;
  readonly noFailover: boolean;
  /** Reads the route a request asks for; undefined when the group has no sticky names. */
  readonly sticky: StickySessionResolver | undefined;
  /** Where requests wait while every usable member is at max_conns; undefined: no waiting. */
  readonly queue: AdmissionQueue | undefined;
  private readonly registry: HostRegistry;
  private disposed = false;

  /** Throws ConfigError with every problem of `options`. */
  constructor(options: UpstreamOptions, deps: UpstreamGroupDeps) {
    const issues = validateUpstreamOptions(options);
    if (issues.length > 0) throw new ConfigError(issues);
    this.name = options.name;
    this.protocol = options.protocol;
    this.balance = options.balance ?? BALANCER_DEFAULTS.balance;
    this.registry = deps.registry;
    this.members = options.servers.map((server, i) => {
      const settings = resolveServer(options, server);
      const host = deps.registry.acquire(settings.protocol, settings.address);
      const slot = deps.registry.acquireSlot(host, options.name, settings.weight);
      return new Member(options.name, i, settings, host, slot);
    });
    this.tiers = buildTiers(this.members);
    try {
      this.policy = createPolicy(this.balance, options, this.members, deps.random ?? Math.random);
    } catch (err) {
      this.dispose();
      throw err;
    }
    const q = options.queue;
    this.queue =
      q !== undefined && q.size > 0 ? new AdmissionQueue(options.name, q.size, q.timeout) : undefined;
    if (this.queue !== undefined) for (const m of this.members) m.host.queues.add(this.queue);
    this.forceRecovery = options.forcerecovery ?? BALANCER_DEFAULTS.forcerecovery;
    this.singleNeverFails = options.single_never_fails ?? BALANCER_DEFAULTS.single_never_fails;
    const sticky = options.sticky;
    this.noFailover = sticky?.nofailover ?? false;
    this.sticky =
      sticky !== undefined && (sticky.cookie !== undefined || sticky.url_param !== undefined)
        ? new StickySessionResolver({
            cookie: sticky.cookie,
            urlParam: sticky.url_param,
            separator: sticky.separator ?? BALANCER_DEFAULTS.sticky_separator,
            scolonPathDelim: sticky.scolonpathdelim ?? false,
          })
        : undefined;
  }

  /**
   * Default number of tries for a request: the members not configured down (nginx
   * `ngx_http_upstream_tries`: primaries plus backups; httpd maxattempts = members - 1
   * failovers, the same count).
   */
  get tries(): number {
    let n = 0;
    for (const m of this.members) if (!m.down) n++;
    return n;
  }

  /** The usable members of the first tier that has any (health.ts). */
  candidates(now: number, tried?: ReadonlySet<string>): Member[] {
    return candidatesFor(this, now, tried);
  }

  /** Picks a member without counting it as started; `acquire` is what the attempt loop calls. */
  select(ctx: SelectionContext, now: number): Selection {
    const route = ctx.route;
    if (route !== undefined && route !== '') {
      const m = routeMember(this, route, now, ctx.tried);
      if (m !== undefined) return { ok: true, member: m, sticky: true, routeChanged: m.route !== route };
      if (this.noFailover && hasRoute(this, route)) return { ok: false, reason: 'sticky-route-unavailable' };
    }
    const candidates = candidatesFor(this, now, ctx.tried);
    const m = candidates.length > 0 ? this.policy.select(candidates, ctx) : undefined;
    if (m === undefined) return { ok: false, reason: 'no-live-member' };
    return { ok: true, member: m, sticky: false, routeChanged: false };
  }

  /** `select`, then counts the request as in flight on the member until `release`. */
  acquire(ctx: SelectionContext, now: number): Selection {
    const sel = this.select(ctx, now);
    if (sel.ok) begin(sel.member);
    return sel;
  }

  /** The request acquired on `member` is over; call exactly once per successful acquire. */
  release(member: Member, traffic?: Traffic): void {
    end(member, traffic);
    // A place may have opened: the oldest request queued here tries again; else the oldest of
    // another group naming the host (requests in flight on a host count in every group).
    if (this.queue !== undefined && this.queue.length > 0) {
      this.queue.wake();
      return;
    }
    for (const queue of member.host.queues) {
      if (queue.length > 0) {
        queue.wake();
        return;
      }
    }
  }

  /** No member was free only because of max_conns: the request may wait in `queue`. */
  mayQueue(now: number, tried?: ReadonlySet<string>): boolean {
    return this.queue !== undefined && blockedByMaxConns(this, now, tried);
  }

  /**
   * Waits in the group's queue (after `mayQueue` said yes) until a request on the group ends,
   * `deadline` passes (503) or `signal` fires. The wait counts as `queued` on each member it
   * waits for (every usable member at its max_conns), for as long as it lasts.
   */
  async wait(signal: AbortSignal | undefined, deadline: number, tried?: ReadonlySet<string>): Promise<void> {
    const queue = this.queue;
    if (queue === undefined)
      throw new GatewayError('ERR_NO_QUEUE', `upstream "${this.name}" has no queue`, 'gateway', 500, 'none');
    const blocked = membersAtMaxConns(this, Date.now(), tried);
    for (const m of blocked) m.host.queued++;
    try {
      await queue.wait(signal, deadline);
    } finally {
      for (const m of blocked) m.host.queued--;
    }
  }

  /**
   * A member's cap of requests in flight changed (its connections started or stopped
   * multiplexing, member.ts `requestCap`). Waiters get the room a raised cap opens.
   */
  setRequestCap(member: Member, cap: number): void {
    const before = member.requestCap;
    member.requestCap = cap;
    const queue = this.queue;
    if (queue === undefined || before === 0) return;
    const room = cap === 0 ? queue.length : cap - before;
    for (let i = 0; i < room && queue.length > 0; i++) queue.wake();
  }

  reportSuccess(member: Member, now: number): void {
    reportSuccess(member, now);
  }

  /** True when this failure took the member out (log "upstream server temporarily disabled"). */
  reportFailure(member: Member, kind: FailureReport, now: number): boolean {
    return reportFailure(member, kind, now);
  }

  /** The member's state in this group: configured down/drain first, then the host's. */
  memberState(m: Member, now: number): HostStatus {
    if (m.down || m.host.admin === 'down') return 'down';
    if (m.drain || m.host.admin === 'draining') return 'draining';
    return isFailed(this, m, now) || m.health === 'unhealthy' ? 'failed' : 'up';
  }

  snapshot(now: number): GroupSnapshot {
    return {
      name: this.name,
      protocol: this.protocol,
      balance: this.balance,
      queued: this.queue?.length ?? 0,
      queueRejected: this.queue?.rejected ?? 0,
      members: this.members.map((m) => ({
        ...m.host.snapshot(now),
        state: this.memberState(m, now),
        group: this.name,
        index: m.index,
        weight: m.weight,
        maxConns: m.maxConns,
        requestCap: m.requestCap,
        maxFails: m.maxFails,
        failTimeout: m.failTimeout,
        retry: m.retry,
        backup: m.backup,
        spare: m.spare,
        lbset: m.lbset,
        route: m.route,
        currentWeight: m.slot.currentWeight,
        effectiveWeight: m.slot.effectiveWeight,
        lbstatus: m.slot.lbstatus,
        health: m.health,
        checkPasses: m.checkPasses,
        checkFails: m.checkFails,
        lastCheckError: m.lastCheckError,
      })),
    };
  }

  /** Releases this group's hold on its hosts and slots; idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.queue?.clear(
      new GatewayError(
        'ERR_UPSTREAM_CLOSING',
        `upstream "${this.name}" is shutting down`,
        'gateway',
        503,
        'none',
      ),
    );
    for (const m of this.members) {
      if (this.queue !== undefined) m.host.queues.delete(this.queue);
      this.registry.releaseSlot(m.host, this.name);
      this.registry.release(m.host);
    }
  }
}
