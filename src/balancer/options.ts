/**
 * What a group is built from: plain data with the reference servers' parameter names, so the
 * config compiler maps keys one to one (durations already in milliseconds). Every default is
 * listed in BALANCER_DEFAULTS with its reason; `validateUpstreamOptions` returns every problem
 * at once, located by key path (the loader adds file:line:col).
 */
import type { ConfigIssue } from '../errors.ts';
import type { MemberSettings } from './member.ts';

export const BALANCE_METHODS = [
  'round_robin',
  'least_conn',
  'ip_hash',
  'hash',
  'random',
  'byrequests',
  'bytraffic',
  'bybusyness',
] as const;

export type BalanceMethod = (typeof BALANCE_METHODS)[number];

export interface ServerOptions {
  /** nginx `server ADDRESS`, httpd `BalancerMember URL`, in display form (pool/address.ts). */
  readonly address: string;
  /** nginx `weight=`, httpd `loadfactor=` (a decimal loadfactor: multiply all by 100). */
  readonly weight?: number;
  /** nginx `max_conns=`; httpd `max=` is the closest. 0: no limit. */
  readonly max_conns?: number;
  /** nginx `max_fails=`; 0: never failed (httpd status=+I). httpd members: 1. */
  readonly max_fails?: number;
  /** nginx `fail_timeout=`, ms. */
  readonly fail_timeout?: number;
  /** httpd `retry=`, ms: how long a failed member stays out. Default: fail_timeout. */
  readonly retry?: number;
  /** nginx `backup`, httpd status=+H (hot standby). */
  readonly backup?: boolean;
  /** httpd status=+R (hot spare): stands in one for one for unusable members of its lbset. */
  readonly spare?: boolean;
  /** nginx `down`, httpd status=+D or +S. */
  readonly down?: boolean;
  /** nginx `drain`, httpd status=+N: only sticky requests. */
  readonly drain?: boolean;
  /** nginx `route=`, httpd `route=`. */
  readonly route?: string;
  /** httpd `redirect=`: route to use while this member is unusable. */
  readonly redirect?: string;
  /** httpd `lbset=` 0..99: lower sets are tried first. */
  readonly lbset?: number;
}

export interface StickyOptions {
  /** httpd stickysession NAME (cookie); `NAME|URLNAME` splits with sticky.ts parseStickySession. */
  readonly cookie?: string;
  /** httpd stickysession URLNAME (URL parameter). */
  readonly url_param?: string;
  /** httpd stickysessionsep (default "."); false for httpd `Off`. */
  readonly separator?: string | false;
  /** httpd scolonpathdelim. */
  readonly scolonpathdelim?: boolean;
  /** httpd nofailover: the route's member unusable -> no member (503) instead of another. */
  readonly nofailover?: boolean;
}

export interface UpstreamOptions {
  /** nginx `upstream NAME`, httpd `balancer://NAME`. */
  readonly name: string;
  /** `scgi` or `fastcgi`; part of each member's identity. */
  readonly protocol: string;
  readonly servers: readonly ServerOptions[];
  /** nginx: (round robin) / least_conn / ip_hash / hash / random; httpd lbmethod=by*. */
  readonly balance?: BalanceMethod;
  /** nginx `hash KEY [consistent]`: the key is evaluated by the pipeline (SelectionContext.hashKey). */
  readonly hash?: { readonly consistent?: boolean | 'ketama' | 'rendezvous' };
  /** nginx `random [two [least_conn]]`. */
  readonly random?: { readonly two?: boolean };
  readonly sticky?: StickyOptions;
  /** httpd forcerecovery (httpd default On): all members failed -> clear and try them all. */
  readonly forcerecovery?: boolean;
  /** nginx: a group's only server is never considered failed (max_fails ignored). */
  readonly single_never_fails?: boolean;
  /**
   * nginx Plus `queue N timeout=T`: requests that find every usable member at max_conns wait
   * (admission-queue.ts). size 0: no queue, such a request fails at once as in nginx OSS.
   */
  readonly queue?: { readonly size: number; readonly timeout: number };
}

export const BALANCER_DEFAULTS = {
  /** nginx and httpd: weight / loadfactor 1. */
  weight: 1,
  /** nginx max_conns=0: no limit (httpd's pool size is the pool's business, not balancing). */
  max_conns: 0,
  /** nginx max_fails=1: one failure takes a member out (httpd does the same). */
  max_fails: 1,
  /** nginx fail_timeout=10s (httpd retry is 60s: the config maps it to `retry`). */
  fail_timeout: 10_000,
  /** nginx's smooth weighted round robin; httpd's default byrequests is the same scheme. */
  balance: 'round_robin' as BalanceMethod,
  /** nginx: when nothing is live, 502 and wait; httpd groups should set true (its default). */
  forcerecovery: false,
  /** nginx: "If there is only a single server in a group, max_fails ... are ignored". */
  single_never_fails: true,
  /** httpd stickysessionsep default. */
  sticky_separator: '.',
} as const;

/** Weights above this are refused: sums stay exact and rings bounded. */
export const MAX_WEIGHT = 1_000_000;
/** httpd lbset range. */
export const MAX_LBSET = 99;
/** Longest route id (httpd allows 63; a little room for nginx routes). */
export const MAX_ROUTE_LENGTH = 255;

const HASH_LIKE: ReadonlySet<BalanceMethod> = new Set(['ip_hash', 'hash', 'random']);

/** A server's settings with every default applied (call after validation). */
export function resolveServer(options: UpstreamOptions, server: ServerOptions): MemberSettings {
  const failTimeout = server.fail_timeout ?? BALANCER_DEFAULTS.fail_timeout;
  return {
    address: server.address,
    protocol: options.protocol,
    weight: server.weight ?? BALANCER_DEFAULTS.weight,
    maxConns: server.max_conns ?? BALANCER_DEFAULTS.max_conns,
    maxFails: server.max_fails ?? BALANCER_DEFAULTS.max_fails,
    failTimeout,
    retry: server.retry ?? failTimeout,
    backup: server.backup ?? false,
    spare: server.spare ?? false,
    down: server.down ?? false,
    drain: server.drain ?? false,
    route: server.route ?? '',
    redirect: server.redirect ?? '',
    lbset: server.lbset ?? 0,
  };
}

/** Every problem in `options`, each with its key path under `upstreams.NAME`. */
export function validateUpstreamOptions(options: UpstreamOptions): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const base = `upstreams.${options.name}`;
  const add = (path: string, message: string) =>
    issues.push({ file: '<config>', line: 0, column: 0, path: `${base}${path}`, message });
  const balance = options.balance ?? BALANCER_DEFAULTS.balance;
  if (!BALANCE_METHODS.includes(balance)) add('.balance', `unknown balance method "${String(balance)}"`);
  if (options.servers.length === 0) add('.servers', 'a group needs at least one server');
  const seen = new Map<string, number>();
  options.servers.forEach((s, i) => {
    const at = `.servers[${i}]`;
    const int = (key: keyof ServerOptions, value: unknown, min: number, max: number) => {
      if (value === undefined) return;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        add(`${at}.${key}`, `must be an integer from ${min} to ${max}`);
      }
    };
    if (typeof s.address !== 'string' || s.address === '')
      add(`${at}.address`, 'must be a non-empty address');
    const first = seen.get(s.address);
    if (first !== undefined)
      add(`${at}.address`, `"${s.address}" is already servers[${first}] of this group`);
    else seen.set(s.address, i);
    int('weight', s.weight, 1, MAX_WEIGHT);
    int('max_conns', s.max_conns, 0, Number.MAX_SAFE_INTEGER);
    int('max_fails', s.max_fails, 0, Number.MAX_SAFE_INTEGER);
    int('fail_timeout', s.fail_timeout, 0, Number.MAX_SAFE_INTEGER);
    int('retry', s.retry, 0, Number.MAX_SAFE_INTEGER);
    int('lbset', s.lbset, 0, MAX_LBSET);
    for (const key of ['route', 'redirect'] as const) {
      const v = s[key];
      if (v !== undefined && (typeof v !== 'string' || v.length > MAX_ROUTE_LENGTH)) {
        add(`${at}.${key}`, `must be a string of at most ${MAX_ROUTE_LENGTH} characters`);
      }
    }
    if ((s.backup || s.spare) && HASH_LIKE.has(balance)) {
      // nginx: "backup ... cannot be used along with the hash, ip_hash, and random methods".
      add(`${at}.${s.backup ? 'backup' : 'spare'}`, `cannot be used with balance: ${balance}`);
    }
    if (s.backup && s.spare) add(`${at}.spare`, 'a member is a backup (hot standby) or a spare, not both');
  });
  const sep = options.sticky?.separator;
  if (sep !== undefined && sep !== false && (typeof sep !== 'string' || sep.length !== 1)) {
    add('.sticky.separator', 'must be one character, or false for the whole value');
  }
  return issues;
}
