/**
 * Builders for the balancer's unit tests (not used by production code): groups from weights,
 * selection contexts, and pick counting.
 */
import { UpstreamGroup } from './group.ts';
import { HostRegistry } from './host-state.ts';
import type { Member } from './member.ts';
import type { ServerOptions, UpstreamOptions } from './options.ts';
import type { Candidate, RandomSource, SelectionContext, SelectionPolicy } from './policy.ts';

/** `10.0.0.1:9000`, `10.0.0.2:9000`, ... */
export function addressOf(i: number): string {
  return `10.0.0.${i + 1}:9000`;
}

export interface TestDeps {
  readonly registry?: HostRegistry;
  readonly random?: RandomSource;
}

/** A group whose servers are `addressOf(i)` with the given weights or settings. */
export function makeGroup(
  servers: readonly (number | Partial<ServerOptions>)[],
  options: Partial<Omit<UpstreamOptions, 'servers'>> = {},
  deps: TestDeps = {},
) {
  const registry = deps.registry ?? new HostRegistry();
  const group = new UpstreamGroup(
    {
      name: 'app',
      protocol: 'fastcgi',
      ...options,
      servers: servers.map((s, i) =>
        typeof s === 'number' ? { address: addressOf(i), weight: s } : { address: addressOf(i), ...s },
      ),
    },
    deps.random === undefined ? { registry } : { registry, random: deps.random },
  );
  return { group, registry, members: group.members };
}

export function ctx(partial: Partial<SelectionContext> = {}): SelectionContext {
  return { tried: new Set<string>(), ...partial };
}

/** Picks `n` times over the same candidates; returns the member indexes in order. */
export function pickSequence(
  policy: SelectionPolicy,
  candidates: readonly Candidate[],
  n: number,
  context: SelectionContext = ctx(),
): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const m = policy.select(candidates, context);
    if (m === undefined) throw new Error('policy returned no member');
    out.push(m.index);
  }
  return out;
}

/** How many times each member index occurs. */
export function tally(indexes: readonly number[], size: number): number[] {
  const counts = new Array<number>(size).fill(0);
  for (const i of indexes) counts[i] = (counts[i] ?? 0) + 1;
  return counts;
}

/** Sets a member's in-flight count (what least_conn / bybusyness / random two compare). */
export function setActive(m: Member, active: number): void {
  m.host.active = active;
}
