/**
 * httpd `lbmethod=bybusyness` (mod_lbmethod_bybusyness.c): the candidate with the fewest
 * requests in flight (httpd `busy`, here the host's `active`). Every candidate earns its
 * lbfactor into `lbstatus` as in byrequests, and among equally busy candidates the highest
 * `lbstatus` wins, which then pays back the sum earned: equal load rotates by weight.
 *
 * Unlike nginx least_conn, busyness is not divided by the weight; the weight only breaks ties.
 */
import type { Candidate, SelectionContext, SelectionPolicy } from './policy.ts';

export class ByBusynessPolicy implements SelectionPolicy {
  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    let best: Candidate | undefined;
    let total = 0;
    for (const c of candidates) {
      if (ctx.tried.has(c.key)) continue;
      c.slot.lbstatus += c.weight;
      total += c.weight;
      if (
        best === undefined ||
        c.host.active < best.host.active ||
        (c.host.active === best.host.active && c.slot.lbstatus > best.slot.lbstatus)
      ) {
        best = c;
      }
    }
    if (best !== undefined) best.slot.lbstatus -= total;
    return best;
  }
}
