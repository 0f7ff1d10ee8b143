/**
 * nginx `hash KEY consistent`: ketama consistent hashing (ngx_http_upstream_hash_module.c,
 * `ngx_http_upstream_init_chash`), point-compatible with Cache::Memcached::Fast, so a key
 * lands on the same server as under nginx given the same server list.
 *
 * Ring, built once per group: each member places `160 * weight` points. Its server string is
 * split into host and port (`unix:` + path: the path, no port; else the digits after the last
 * colon are the port), base = crc32(host "\0" port), and point j is
 * crc32(base-state + prev as 4 little-endian bytes), prev starting at 0 and becoming each
 * point. Points are sorted; a repeated value keeps its first owner.
 *
 * Lookup: the first point >= crc32(KEY), walking clockwise past members that are not
 * candidates or already tried. Adding a member takes over only the arcs before its points, so
 * about 1/N of the keys move.
 */
import { crc32 } from 'node:zlib';
import { ConfigError } from '../errors.ts';
import type { Member } from './member.ts';
import type { Candidate, SelectionContext, SelectionPolicy } from './policy.ts';
import { smoothWeightedPick } from './round-robin.ts';

/** Points per unit of weight (nginx and Cache::Memcached::Fast). */
export const POINTS_PER_WEIGHT = 160;

/**
 * Upper bound on ring points (8 bytes each): 160 points per weight unit makes a ring grow fast
 * with httpd-style weights (loadfactor x 100), so a huge ring fails at build, not at runtime.
 */
export const MAX_RING_POINTS = 1 << 22;

/** nginx's split of a `server` string into the host and port it hashes. */
export function ketamaHostPort(server: string): { host: string; port: string } {
  if (server.length >= 5 && server.slice(0, 5).toLowerCase() === 'unix:') {
    return { host: server.slice(5), port: '' };
  }
  for (let j = server.length - 1; j >= 0; j--) {
    const c = server.charCodeAt(j);
    if (c === 0x3a) return { host: server.slice(0, j), port: server.slice(j + 1) };
    if (c < 0x30 || c > 0x39) break;
  }
  return { host: server, port: '' };
}

export class ConsistentHashPolicy implements SelectionPolicy {
  private readonly members: readonly Member[];
  private readonly onRing: ReadonlySet<Member>;
  /** Sorted point values. */
  private readonly points: Uint32Array;
  /** owners[i]: index in `members` of the member owning points[i]. */
  private readonly owners: Uint32Array;

  /** `members`: the group's primaries in configured order, including down ones. */
  constructor(members: readonly Member[]) {
    this.members = members;
    this.onRing = new Set(members);
    let count = 0;
    for (const m of members) count += m.weight * POINTS_PER_WEIGHT;
    if (count > MAX_RING_POINTS) {
      throw new ConfigError([
        {
          file: '<config>',
          line: 0,
          column: 0,
          path: `upstreams.${members[0]?.group ?? ''}`,
          message: `consistent hash needs ${count} ring points (160 per unit of weight); at most ${MAX_RING_POINTS}: lower the weights`,
        },
      ]);
    }
    const values = new Uint32Array(count);
    const ownerOf = new Uint32Array(count);
    const prev = Buffer.alloc(4);
    let n = 0;
    for (let i = 0; i < members.length; i++) {
      const m = members[i]!;
      const { host, port } = ketamaHostPort(m.address);
      const base = crc32(Buffer.from(`${host}\0${port}`, 'latin1'));
      prev.writeUInt32LE(0, 0);
      for (let j = 0; j < m.weight * POINTS_PER_WEIGHT; j++) {
        const point = crc32(prev, base);
        values[n] = point;
        ownerOf[n] = i;
        n++;
        prev.writeUInt32LE(point, 0);
      }
    }
    const order = Array.from({ length: count }, (_, i) => i);
    // Stable sort by value: among equal values the earlier member keeps the point.
    order.sort((a, b) => values[a]! - values[b]! || a - b);
    const points: number[] = [];
    const owners: number[] = [];
    for (const i of order) {
      if (points.length > 0 && points[points.length - 1] === values[i]) continue;
      points.push(values[i]!);
      owners.push(ownerOf[i]!);
    }
    this.points = Uint32Array.from(points);
    this.owners = Uint32Array.from(owners);
  }

  /** Number of distinct points on the ring. */
  get size(): number {
    return this.points.length;
  }

  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    const n = this.points.length;
    // Only members off the ring (backups) left, or no ring: skip a walk that cannot succeed.
    if (n === 0 || !candidates.some((c) => this.onRing.has(c) && !ctx.tried.has(c.key))) {
      return smoothWeightedPick(candidates, ctx.tried);
    }
    const usable = new Set(candidates);
    const start = this.firstAtOrAbove(crc32(Buffer.from(ctx.hashKey ?? '', 'latin1')));
    for (let step = 0; step < n; step++) {
      const m = this.members[this.owners[(start + step) % n]!]!;
      if (usable.has(m) && !ctx.tried.has(m.key)) return m;
    }
    // Only if every point of the usable members collided with earlier ones (160 per weight unit).
    return smoothWeightedPick(candidates, ctx.tried);
  }

  private firstAtOrAbove(hash: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
