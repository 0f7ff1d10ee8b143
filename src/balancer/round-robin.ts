/**
 * nginx's default balancing: smooth weighted round robin
 * (ngx_http_upstream_round_robin.c, `ngx_http_upstream_get_peer`).
 *
 * Each pick, every candidate's `currentWeight` grows by its `effectiveWeight`; the highest wins
 * (the first one on ties) and gives back the sum of what was added. Weights 5,1,1 produce
 * `a a b a c a a`: the heavy member is spread out instead of served in a burst.
 *
 * `effectiveWeight` is nginx's gentle recovery: a failure lowers it by weight / max_fails
 * (health.ts) and each pick raises it by one until it is the weight again.
 *
 * httpd's byrequests is the same scheme without `effectiveWeight` (by-requests.ts).
 */
import type { Candidate, SelectionContext, SelectionPolicy } from './policy.ts';

/** One smooth-WRR step over the candidates not tried; also the fallback of the hash policies. */
export function smoothWeightedPick(
  candidates: readonly Candidate[],
  tried: ReadonlySet<string>,
): Candidate | undefined {
  let best: Candidate | undefined;
  let total = 0;
  for (const c of candidates) {
    if (tried.has(c.key)) continue;
    const slot = c.slot;
    slot.currentWeight += slot.effectiveWeight;
    total += slot.effectiveWeight;
    if (slot.effectiveWeight < c.weight) slot.effectiveWeight++;
    if (best === undefined || slot.currentWeight > best.slot.currentWeight) best = c;
  }
  if (best !== undefined) best.slot.currentWeight -= total;
  return best;
}

export class SmoothWeightedRoundRobinPolicy implements SelectionPolicy {
  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    return smoothWeightedPick(candidates, ctx.tried);
  }
}
