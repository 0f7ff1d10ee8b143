/**
 * httpd `lbmethod=byrequests` (mod_lbmethod_byrequests.c, through
 * `ap_proxy_balancer_get_best_worker`): every usable candidate earns its lbfactor into its
 * `lbstatus`; the highest `lbstatus` wins (the first on ties) and pays back the sum earned.
 * Equal weights rotate strictly; weights 1,1,1,2 send the heavy member twice the requests.
 *
 * It is nginx's smooth weighted round robin without the effective-weight recovery, kept as its
 * own policy so httpd's credit (`lbstatus`) is what a status page shows.
 */
import type { Candidate, SelectionContext, SelectionPolicy } from './policy.ts';

export class ByRequestsPolicy implements SelectionPolicy {
  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    let best: Candidate | undefined;
    let total = 0;
    for (const c of candidates) {
      if (ctx.tried.has(c.key)) continue;
      c.slot.lbstatus += c.weight;
      total += c.weight;
      if (best === undefined || c.slot.lbstatus > best.slot.lbstatus) best = c;
    }
    if (best !== undefined) best.slot.lbstatus -= total;
    return best;
  }
}
