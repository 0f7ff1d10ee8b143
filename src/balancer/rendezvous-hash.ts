/**
 * Weighted rendezvous (highest random weight) hashing: an alternative to ketama for
 * `hash KEY consistent`, offered because it needs no ring (no memory per weight unit, nothing
 * built at load) and spreads keys by weight exactly rather than by 160 sampled points.
 *
 * Every candidate scores the key: u = mix(crc32(key), member) mapped into (0, 1), score =
 * -weight / ln(u); the highest score wins. A member that is out only loses its own keys,
 * which go to each key's runner-up; adding a member takes about weight/total of the keys.
 * Not point-compatible with nginx: choose ketama when keys must land where nginx puts them.
 */
import { crc32 } from 'node:zlib';
import type { Candidate, SelectionContext, SelectionPolicy } from './policy.ts';

/** MurmurHash3's 32-bit finaliser: full avalanche, so near keys score independently. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class RendezvousHashPolicy implements SelectionPolicy {
  /** Per-member seeds, computed once per member key. */
  private readonly seeds = new Map<string, number>();

  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    const keyHash = crc32(Buffer.from(ctx.hashKey ?? '', 'latin1'));
    let best: Candidate | undefined;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const c of candidates) {
      if (ctx.tried.has(c.key)) continue;
      const u = (fmix32(keyHash ^ this.seed(c.key)) + 0.5) / 4294967296;
      const score = -c.weight / Math.log(u);
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
    return best;
  }

  private seed(key: string): number {
    let s = this.seeds.get(key);
    if (s === undefined) {
      s = fmix32(crc32(key));
      this.seeds.set(key, s);
    }
    return s;
  }
}
