/**
 * nginx `hash KEY` without `consistent` (ngx_http_upstream_hash_module.c): the evaluated key
 * picks a weighted slot of the configured list, compatible with Perl's Cache::Memcached:
 *
 *   h   = (crc32([REHASH] KEY) >> 16) & 0x7fff       REHASH: the decimal attempt number,
 *   sum = sum + h                                    omitted on the first attempt
 *   member = weighted slot (sum % total weight)
 *
 * Adding or removing a member remaps most keys; use `consistent` (consistent-hash.ts) when
 * that matters. An unusable or tried member is re-hashed past; after 20 misses, round robin.
 * Key bytes are the latin1 bytes of the string (the request's own bytes, docs/internals.md).
 */
import { crc32 } from 'node:zlib';
import { MAX_REHASH } from './ip-hash.ts';
import type { Member } from './member.ts';
import type { Candidate, SelectionContext, SelectionPolicy } from './policy.ts';
import { smoothWeightedPick } from './round-robin.ts';
import { WeightedList } from './weighted-list.ts';

export class HashPolicy implements SelectionPolicy {
  private readonly list: WeightedList;

  /** `members`: the group's primaries in configured order, including down ones. */
  constructor(members: readonly Member[]) {
    this.list = new WeightedList(members);
  }

  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    const list = this.list;
    if (list.members.length < 2 || list.total === 0) return smoothWeightedPick(candidates, ctx.tried);
    const usable = new Set(candidates);
    const key = Buffer.from(ctx.hashKey ?? '', 'latin1');
    let sum = 0;
    for (let attempt = 0; attempt <= MAX_REHASH; attempt++) {
      const crc = attempt === 0 ? crc32(key) : crc32(key, crc32(String(attempt)));
      sum = (sum + ((crc >>> 16) & 0x7fff)) >>> 0;
      const m = list.at(sum % list.total);
      if (usable.has(m) && !ctx.tried.has(m.key)) return m;
    }
    return smoothWeightedPick(candidates, ctx.tried);
  }
}
