/**
 * nginx `least_conn` (ngx_http_upstream_least_conn_module.c): the candidate with the fewest
 * active requests relative to its weight (`active / weight`, compared by cross-multiplying so
 * no division rounds), and among equals smooth weighted round robin over just those equals.
 *
 * `active` is the host's in-flight count, shared by every group naming the address.
 */
import type { Candidate, SelectionContext, SelectionPolicy } from './policy.ts';

export class LeastConnPolicy implements SelectionPolicy {
  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    const tried = ctx.tried;
    let best: Candidate | undefined;
    let bestAt = 0;
    let many = false;
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!;
      if (tried.has(c.key)) continue;
      if (best === undefined) {
        best = c;
        bestAt = i;
        many = false;
        continue;
      }
      const mine = c.host.active * best.weight;
      const theirs = best.host.active * c.weight;
      if (mine < theirs) {
        best = c;
        bestAt = i;
        many = false;
      } else if (mine === theirs) {
        many = true;
      }
    }
    if (best === undefined || !many) return best;

    // Several equally loaded: weighted round robin among them only (nginx "many" branch).
    const lead = best;
    let chosen = lead;
    let total = 0;
    for (let i = bestAt; i < candidates.length; i++) {
      const c = candidates[i]!;
      if (tried.has(c.key)) continue;
      if (c.host.active * lead.weight !== lead.host.active * c.weight) continue;
      const slot = c.slot;
      slot.currentWeight += slot.effectiveWeight;
      total += slot.effectiveWeight;
      if (slot.effectiveWeight < c.weight) slot.effectiveWeight++;
      if (slot.currentWeight > chosen.slot.currentWeight) chosen = c;
    }
    chosen.slot.currentWeight -= total;
    return chosen;
  }
}
