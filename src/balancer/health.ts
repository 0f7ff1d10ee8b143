/**
 * Passive health: what requests teach about members, and who may take the next request.
 *
 * Failure accounting (nginx `max_fails` / `fail_timeout`, ngx_http_upstream_round_robin.c;
 * httpd worker error state, proxy_util.c):
 *
 *            failure (fails < max_fails, within fail_timeout of the previous one)
 *          +-----+
 *          v     |      fails reach max_fails
 *   [ up ]-------+---------------------------> [ failed until now + retry ]
 *     ^  ^                                         |
 *     |  +-- success (probe passed: fails = 0) ----+ retry elapsed: the next request
 *     |                                            | probes it; a failure re-fails it at once
 *     +--- fail_timeout without failures: the count starts over
 *
 * - max_fails = 0: never failed (httpd status=+I); failures are still counted for status.
 * - 403 and 404 are not failures (nginx `ngx_http_upstream_next`: NGX_PEER_NEXT); they count as
 *   a success. For `http_NNN`, nginx reports a failure only when next_upstream lists NNN and
 *   another try is allowed: the pipeline decides that, then calls `reportFailure`.
 * - A failure also lowers the member's smooth-WRR effective weight by weight / max_fails
 *   (nginx), regained one step per selection.
 * - httpd `retry=N`: max_fails 1 and retry N: one failure puts the worker in error for N
 *   seconds; retry=0 retries it on the very next request.
 * - Failure state is the host's: a dead address is dead for every group that names it.
 *
 * Who may serve (`candidatesFor`): tiers in order, the first tier with a usable member wins.
 * Tiers are httpd's lbsets (ascending); within a set the normal members, plus hot spares
 * standing in one for one for unusable normal members, else the hot standbys (nginx `backup`
 * is a standby of set 0). Usable: not down, not draining, not failed, below max_conns, not
 * already tried for this request. A member that is only draining is reachable through its
 * sticky route (`routeMember`).
 *
 * When nothing is usable, nginx answers 502 ("no live upstreams") and each member comes back
 * once its own timeout passes: that is the default. httpd `forcerecovery` (its default On)
 * clears the error state of every member when all are in error, and tries them anyway.
 * nginx also never fails a group's only server (max_fails ignored), kept as
 * `singleNeverFails`.
 */
import type { Member } from './member.ts';

/** What went wrong, in nginx next_upstream terms; `http_NNN` for a status (httpd failonstatus). */
export type FailureReport = 'error' | 'timeout' | 'invalid_header' | `http_${number}`;

/** Bytes an exchange moved, added to the host when it ends. */
export interface Traffic {
  /** Received from the backend. */
  readonly bytesIn?: number;
  /** Sent to the backend. */
  readonly bytesOut?: number;
}

export interface Tier {
  readonly lbset: number;
  readonly normal: readonly Member[];
  readonly spares: readonly Member[];
  readonly standbys: readonly Member[];
}

/** What health needs of a group (group.ts `UpstreamGroup` provides it). */
export interface HealthGroup {
  readonly members: readonly Member[];
  readonly tiers: readonly Tier[];
  /** httpd forcerecovery: when every member is failed, clear them all and try. */
  readonly forceRecovery: boolean;
  /** nginx: a group with a single server never considers it failed. */
  readonly singleNeverFails: boolean;
}

/** Members grouped into lbset tiers, ascending. */
export function buildTiers(members: readonly Member[]): Tier[] {
  const sets = [...new Set(members.map((m) => m.lbset))].sort((a, b) => a - b);
  return sets.map((lbset) => {
    const inSet = members.filter((m) => m.lbset === lbset);
    return {
      lbset,
      normal: inSet.filter((m) => !m.backup && !m.spare),
      spares: inSet.filter((m) => m.spare && !m.backup),
      standbys: inSet.filter((m) => m.backup),
    };
  });
}

function ignoresFailures(group: HealthGroup, m: Member): boolean {
  return m.maxFails === 0 || (group.singleNeverFails && group.members.length === 1);
}

/** Failed now (in its retry period), as this group sees it. */
export function isFailed(group: HealthGroup, m: Member, now: number): boolean {
  return !ignoresFailures(group, m) && now < m.host.failedUntil;
}

/** Configured or set down, or draining: out of normal rotation whatever its health. */
function isDown(m: Member): boolean {
  return m.down || m.host.admin === 'down';
}

function isDraining(m: Member): boolean {
  return m.drain || m.host.admin === 'draining';
}

/** No room for another request: max_conns, or a multiplexing member's FCGI_MAX_REQS (member.ts). */
function atMaxConns(m: Member): boolean {
  return m.requestCap > 0 && m.host.active >= m.requestCap;
}

function usable(group: HealthGroup, m: Member, now: number, tried: ReadonlySet<string> | undefined): boolean {
  return (
    !isDown(m) &&
    !isDraining(m) &&
    !isFailed(group, m, now) &&
    m.health !== 'unhealthy' &&
    !atMaxConns(m) &&
    (tried === undefined || !tried.has(m.key))
  );
}

/**
 * True when a member would take the request but for its max_conns: the request can wait for a
 * slot (admission-queue.ts) rather than fail.
 */
export function blockedByMaxConns(group: HealthGroup, now: number, tried?: ReadonlySet<string>): boolean {
  for (const m of group.members) if (waitsFor(group, m, now, tried)) return true;
  return false;
}

/** The members a request blocked by max_conns waits for (each counts it as queued). */
export function membersAtMaxConns(group: HealthGroup, now: number, tried?: ReadonlySet<string>): Member[] {
  return group.members.filter((m) => waitsFor(group, m, now, tried));
}

function waitsFor(
  group: HealthGroup,
  m: Member,
  now: number,
  tried: ReadonlySet<string> | undefined,
): boolean {
  return (
    atMaxConns(m) &&
    !isDown(m) &&
    !isDraining(m) &&
    !isFailed(group, m, now) &&
    m.health !== 'unhealthy' &&
    (tried === undefined || !tried.has(m.key))
  );
}

/**
 * The members that may take the request now, in configured order: the first tier with any.
 * Empty means "no live upstreams" (nginx 502; httpd 503).
 */
export function candidatesFor(group: HealthGroup, now: number, tried?: ReadonlySet<string>): Member[] {
  const found = pickTier(group, now, tried);
  if (found.length > 0 || !group.forceRecovery || !allFailed(group, now)) return found;
  for (const m of group.members) {
    m.host.fails = 0;
    m.host.failedUntil = 0;
    m.host.recoveries++;
  }
  return pickTier(group, now, tried);
}

function pickTier(group: HealthGroup, now: number, tried: ReadonlySet<string> | undefined): Member[] {
  for (const tier of group.tiers) {
    const out: Member[] = [];
    let unusable = 0;
    for (const m of tier.normal) {
      if (usable(group, m, now, tried)) out.push(m);
      else unusable++;
    }
    // httpd hot spares replace unusable members of their set one for one.
    for (const m of tier.spares) {
      if (unusable === 0) break;
      if (usable(group, m, now, tried)) {
        out.push(m);
        unusable--;
      }
    }
    if (out.length > 0) return out;
    for (const m of tier.standbys) if (usable(group, m, now, tried)) out.push(m);
    if (out.length > 0) return out;
  }
  return [];
}

/** httpd force_recovery: only when every member is in error (a disabled one that is not blocks it). */
function allFailed(group: HealthGroup, now: number): boolean {
  if (group.members.length === 0) return false;
  for (const m of group.members) if (!isFailed(group, m, now)) return false;
  return true;
}

/**
 * The member serving a sticky `route` (httpd `find_route_worker`): a usable member with that
 * route, draining allowed, normal members before hot standbys; an unusable one's `redirect`
 * route is followed (at most once per member, so redirect cycles end).
 */
export function routeMember(
  group: HealthGroup,
  route: string,
  now: number,
  tried?: ReadonlySet<string>,
  depth = 0,
): Member | undefined {
  if (route === '') return undefined;
  for (const standby of [false, true]) {
    for (const m of group.members) {
      if (m.backup !== standby || m.route !== route) continue;
      if (
        !isDown(m) &&
        !isFailed(group, m, now) &&
        m.health !== 'unhealthy' &&
        !atMaxConns(m) &&
        (tried === undefined || !tried.has(m.key))
      ) {
        return m;
      }
      if (m.redirect !== '' && depth < group.members.length) {
        const other = routeMember(group, m.redirect, now, tried, depth + 1);
        if (other !== undefined) return other;
      }
    }
  }
  return undefined;
}

/** Whether any member of the group carries `route` (httpd nofailover applies only then). */
export function hasRoute(group: HealthGroup, route: string): boolean {
  return route !== '' && group.members.some((m) => m.route === route);
}

/** A request starts on `m`: counted as in flight until `end`. */
export function begin(m: Member): void {
  m.host.requests++;
  m.host.active++;
}

/** The request on `m` is over (whatever its outcome); adds the bytes it moved. */
export function end(m: Member, traffic?: Traffic): void {
  const host = m.host;
  if (host.active > 0) host.active--;
  if (traffic !== undefined) {
    host.bytesIn += nonNegative(traffic.bytesIn);
    host.bytesOut += nonNegative(traffic.bytesOut);
  }
}

function nonNegative(n: number | undefined): number {
  return n !== undefined && Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * The backend answered well. A member whose retry period is over and that had failed, or whose
 * last failure is older than fail_timeout, starts with a clean count (nginx: "mark peer live if
 * check passed"; httpd: a successful connection clears the error).
 */
export function reportSuccess(m: Member, now: number): void {
  const host = m.host;
  if (host.fails === 0 || now < host.failedUntil) return;
  if (host.fails >= m.maxFails || now - host.lastFailureAt > m.failTimeout) host.fails = 0;
}

/**
 * The backend failed this request. Returns true when this failure took the member out of
 * rotation (for a log line such as nginx's "upstream server temporarily disabled").
 */
export function reportFailure(m: Member, kind: FailureReport, now: number): boolean {
  if (kind === 'http_403' || kind === 'http_404') {
    reportSuccess(m, now);
    return false;
  }
  const host = m.host;
  host.failures++;
  host.lastError = kind;
  host.lastErrorAt = now;
  if (m.maxFails === 0) return false;
  // The window: failures count together only while each comes within fail_timeout of the last.
  if (host.fails > 0 && host.fails < m.maxFails && now - host.lastFailureAt > m.failTimeout) host.fails = 0;
  host.fails++;
  host.lastFailureAt = now;
  const slot = m.slot;
  slot.effectiveWeight = Math.max(0, slot.effectiveWeight - Math.floor(m.weight / m.maxFails));
  if (host.fails < m.maxFails) return false;
  const wasFailed = now < host.failedUntil;
  host.failedUntil = Math.max(host.failedUntil, now + m.retry);
  return !wasFailed && now < host.failedUntil;
}
