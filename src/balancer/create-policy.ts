/**
 * The policy for a group's `balance` setting. Hash-style policies get the primaries (not
 * backups or spares) in configured order, down ones included, so marking a member down keeps
 * every other key where it was (nginx's advice for ip_hash and hash).
 */
import { ByBusynessPolicy } from './by-busyness.ts';
import { ByRequestsPolicy } from './by-requests.ts';
import { ByTrafficPolicy } from './by-traffic.ts';
import { ConsistentHashPolicy } from './consistent-hash.ts';
import { HashPolicy } from './hash.ts';
import { IpHashPolicy } from './ip-hash.ts';
import { LeastConnPolicy } from './least-conn.ts';
import type { Member } from './member.ts';
import type { BalanceMethod, UpstreamOptions } from './options.ts';
import type { RandomSource, SelectionPolicy } from './policy.ts';
import { RandomPolicy } from './random.ts';
import { RendezvousHashPolicy } from './rendezvous-hash.ts';
import { SmoothWeightedRoundRobinPolicy } from './round-robin.ts';

export function createPolicy(
  balance: BalanceMethod,
  options: Pick<UpstreamOptions, 'hash' | 'random'>,
  members: readonly Member[],
  random: RandomSource,
): SelectionPolicy {
  const primaries = members.filter((m) => !m.backup && !m.spare);
  switch (balance) {
    case 'round_robin':
      return new SmoothWeightedRoundRobinPolicy();
    case 'least_conn':
      return new LeastConnPolicy();
    case 'ip_hash':
      return new IpHashPolicy(primaries);
    case 'hash': {
      const consistent = options.hash?.consistent ?? false;
      if (consistent === 'rendezvous') return new RendezvousHashPolicy();
      if (consistent === true || consistent === 'ketama') return new ConsistentHashPolicy(primaries);
      return new HashPolicy(primaries);
    }
    case 'random':
      return new RandomPolicy({ two: options.random?.two ?? false, random });
    case 'byrequests':
      return new ByRequestsPolicy();
    case 'bytraffic':
      return new ByTrafficPolicy();
    case 'bybusyness':
      return new ByBusynessPolicy();
  }
}
