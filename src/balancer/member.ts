/**
 * One server of an upstream group: its identity, its static settings, and the live state it
 * shares with every other group that names the same address (host-state.ts).
 *
 * Settings carry one meaning for both reference servers (docs/directives.md, "upstreams"):
 *
 *   setting      nginx `server` parameter     httpd BalancerMember / ProxySet
 *   weight       weight= (1)                  loadfactor= (1)
 *   maxConns     max_conns= (0: no limit)     max= (pool size per child; the nearest match):
 *                open connections, busy and idle; without multiplexing, requests in flight too
 *   maxFails     max_fails= (1; 0: never)     1, or 0 with status=+I (ignore errors)
 *   failTimeout  fail_timeout= (10s)          = retry
 *   retry        = fail_timeout               retry= (60s; 0: retried on every request)
 *   backup       backup                       status=+H (hot standby)
 *   spare        —                            status=+R (hot spare)
 *   down         down                         status=+D / +S
 *   drain        drain                        status=+N
 *   route        route=                       route=
 *   redirect     —                            redirect=
 *   lbset        —                            lbset= (0..99)
 */
import type { HostState, PolicySlot } from './host-state.ts';

/** Static settings of a member, resolved (every default applied, durations in ms). */
export interface MemberSettings {
  /** As displayed: `127.0.0.1:9000`, `[::1]:9000`, `unix:/run/php.sock`. */
  readonly address: string;
  /** `scgi` or `fastcgi`: part of the identity, never interpreted here. */
  readonly protocol: string;
  readonly weight: number;
  readonly maxConns: number;
  readonly maxFails: number;
  /** The window in which `maxFails` failures make the member failed (nginx fail_timeout). */
  readonly failTimeout: number;
  /** How long a failed member stays out of rotation (httpd retry; nginx: = fail_timeout). */
  readonly retry: number;
  readonly backup: boolean;
  readonly spare: boolean;
  readonly down: boolean;
  readonly drain: boolean;
  /** Sticky-session route id; '' for none. */
  readonly route: string;
  /** Route to follow when this member is unusable for a sticky request; '' for none. */
  readonly redirect: string;
  readonly lbset: number;
}

export type MemberHealth = 'unchecked' | 'healthy' | 'unhealthy';

export class Member implements MemberSettings {
  /** `memberKey(protocol, address)`: the identity, shared with the host state. */
  readonly key: string;
  /** Name of the group this member belongs to. */
  readonly group: string;
  /** Position in the group's `servers` list (the pipeline maps it back to its connector). */
  readonly index: number;
  readonly address: string;
  readonly protocol: string;
  readonly weight: number;
  readonly maxConns: number;
  readonly maxFails: number;
  readonly failTimeout: number;
  readonly retry: number;
  readonly backup: boolean;
  readonly spare: boolean;
  readonly down: boolean;
  readonly drain: boolean;
  readonly route: string;
  readonly redirect: string;
  readonly lbset: number;
  /**
   * Requests in flight at most (0: no limit): `maxConns`, one request per connection; while the
   * member's FastCGI connections multiplex, the application's FCGI_MAX_REQS instead (its
   * requests share at most `maxConns` connections). Set by the pipeline (server/upstreams.ts).
   */
  requestCap: number;
  /** Live counters and failure state, shared by every group naming this address. */
  readonly host: HostState;
  /** This group's balancing credit for this member. */
  readonly slot: PolicySlot;
  /**
   * Active health checks (server/health-checks.ts): `unchecked` without them; `unhealthy`
   * keeps the member out of rotation until enough checks pass (nginx Plus health_check).
   */
  health: MemberHealth = 'unchecked';
  /** Checks passed / failed in a row, and the reason of the last failed one. */
  checkPasses = 0;
  checkFails = 0;
  lastCheckError = '';

  constructor(group: string, index: number, settings: MemberSettings, host: HostState, slot: PolicySlot) {
    this.key = host.key;
    this.group = group;
    this.index = index;
    this.address = settings.address;
    this.protocol = settings.protocol;
    this.weight = settings.weight;
    this.maxConns = settings.maxConns;
    this.requestCap = settings.maxConns;
    this.maxFails = settings.maxFails;
    this.failTimeout = settings.failTimeout;
    this.retry = settings.retry;
    this.backup = settings.backup;
    this.spare = settings.spare;
    this.down = settings.down;
    this.drain = settings.drain;
    this.route = settings.route;
    this.redirect = settings.redirect;
    this.lbset = settings.lbset;
    this.host = host;
    this.slot = slot;
  }
}
