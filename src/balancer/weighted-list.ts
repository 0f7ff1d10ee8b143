/**
 * The configured members laid end to end by weight, for the policies that map a number onto
 * the whole list (ip_hash, hash): nginx takes `w = hash % total_weight` and walks the peers
 * subtracting weights. The list includes members that are down or failed, so their share is
 * re-hashed rather than every key moving (nginx: mark a server `down` to keep the mapping).
 */
import type { Member } from './member.ts';

export class WeightedList {
  readonly members: readonly Member[];
  readonly total: number;
  /** ends[i] = sum of the weights of members[0..i]. */
  private readonly ends: Float64Array;

  constructor(members: readonly Member[]) {
    this.members = members;
    this.ends = new Float64Array(members.length);
    let sum = 0;
    for (let i = 0; i < members.length; i++) {
      sum += members[i]!.weight;
      this.ends[i] = sum;
    }
    this.total = sum;
  }

  /** The member whose weight range holds `w`, for 0 <= w < total. */
  at(w: number): Member {
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (w < this.ends[mid]!) hi = mid;
      else lo = mid + 1;
    }
    return this.members[lo]!;
  }
}
