/**
 * httpd `lbmethod=bytraffic` (mod_lbmethod_bytraffic.c): the candidate that has moved the
 * fewest bytes relative to its weight, counting both directions, each divided by the weight
 * with integer division as httpd does (`transferred / lbfactor + read / lbfactor`). The first
 * candidate wins ties. Bytes are the host's totals (`bytesOut` sent, `bytesIn` received),
 * which the pipeline adds when each exchange ends (health.ts `end`).
 */
import type { Candidate, SelectionContext, SelectionPolicy } from './policy.ts';

export class ByTrafficPolicy implements SelectionPolicy {
  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    let best: Candidate | undefined;
    let least = 0;
    for (const c of candidates) {
      if (ctx.tried.has(c.key)) continue;
      const traffic = Math.floor(c.host.bytesOut / c.weight) + Math.floor(c.host.bytesIn / c.weight);
      if (best === undefined || traffic < least) {
        best = c;
        least = traffic;
      }
    }
    return best;
  }
}
