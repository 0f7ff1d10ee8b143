/**
 * nginx `random [two [least_conn]]` (ngx_http_upstream_random_module.c).
 *
 * Plain: a candidate drawn with probability weight / total weight.
 * `two`: two different candidates drawn that way, then the one with fewer active requests
 * relative to its weight; on a tie the second drawn, as nginx keeps the second unless it is
 * strictly busier. (least_conn is the only method open-source nginx has for `two`.)
 *
 * nginx draws over the whole peer list and re-draws past unusable peers (20 times, then round
 * robin); drawing over the usable candidates directly gives the same distribution without the
 * fallback.
 */
import type { Candidate, RandomSource, SelectionContext, SelectionPolicy } from './policy.ts';

export interface RandomPolicyOptions {
  /** nginx `random two`: the less loaded of two random candidates. */
  readonly two?: boolean;
  readonly random?: RandomSource;
}

export class RandomPolicy implements SelectionPolicy {
  private readonly two: boolean;
  private readonly random: RandomSource;

  constructor(options: RandomPolicyOptions = {}) {
    this.two = options.two ?? false;
    this.random = options.random ?? Math.random;
  }

  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    const first = this.draw(candidates, ctx.tried, undefined);
    if (!this.two || first === undefined) return first;
    const second = this.draw(candidates, ctx.tried, first);
    if (second === undefined) return first;
    return second.host.active * first.weight > first.host.active * second.weight ? first : second;
  }

  /** A weighted draw among the candidates not tried and not `skip`. */
  private draw(
    candidates: readonly Candidate[],
    tried: ReadonlySet<string>,
    skip: Candidate | undefined,
  ): Candidate | undefined {
    let total = 0;
    for (const c of candidates) if (c !== skip && !tried.has(c.key)) total += c.weight;
    if (total === 0) return undefined;
    // Clamp: an injected source returning 1 (or more) must still land on a candidate.
    let x = Math.min(Math.floor(this.random() * total), total - 1);
    let last: Candidate | undefined;
    for (const c of candidates) {
      if (c === skip || tried.has(c.key)) continue;
      last = c;
      if (x < c.weight) return c;
      x -= c.weight;
    }
    return last;
  }
}
