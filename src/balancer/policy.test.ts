/**
 * The contract every SelectionPolicy keeps, run against each implementation with random
 * groups, loads, keys and tried sets: the pick is one of the candidates, never a tried one,
 * and there is a pick exactly when an untried candidate exists.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '../util/prng.ts';
import { ByBusynessPolicy } from './by-busyness.ts';
import { ByRequestsPolicy } from './by-requests.ts';
import { ByTrafficPolicy } from './by-traffic.ts';
import { ConsistentHashPolicy } from './consistent-hash.ts';
import { HashPolicy } from './hash.ts';
import { IpHashPolicy } from './ip-hash.ts';
import { LeastConnPolicy } from './least-conn.ts';
import type { Member } from './member.ts';
import type { RandomSource, SelectionPolicy } from './policy.ts';
import { RandomPolicy } from './random.ts';
import { RendezvousHashPolicy } from './rendezvous-hash.ts';
import { SmoothWeightedRoundRobinPolicy } from './round-robin.ts';
import { makeGroup } from './test-support.ts';

const POLICIES: readonly (readonly [
  string,
  (members: readonly Member[], random: RandomSource) => SelectionPolicy,
])[] = [
  ['round_robin', () => new SmoothWeightedRoundRobinPolicy()],
  ['least_conn', () => new LeastConnPolicy()],
  ['ip_hash', (m) => new IpHashPolicy(m)],
  ['hash', (m) => new HashPolicy(m)],
  ['hash consistent', (m) => new ConsistentHashPolicy(m)],
  ['hash rendezvous', () => new RendezvousHashPolicy()],
  ['random', (_m, random) => new RandomPolicy({ random })],
  ['random two', (_m, random) => new RandomPolicy({ two: true, random })],
  ['byrequests', () => new ByRequestsPolicy()],
  ['bytraffic', () => new ByTrafficPolicy()],
  ['bybusyness', () => new ByBusynessPolicy()],
];

for (const [name, make] of POLICIES) {
  test(`${name}: picks an untried candidate, or nothing when none is left`, () => {
    const prng = new Prng();
    for (let round = 0; round < 200; round++) {
      const size = prng.int(1, 8);
      const { members } = makeGroup(Array.from({ length: size }, () => prng.int(1, 5)));
      const policy = make(members, () => prng.next());
      for (let pick = 0; pick < 10; pick++) {
        for (const m of members) {
          m.host.active = prng.int(0, 4);
          m.host.bytesIn = prng.int(0, 10_000);
          m.host.bytesOut = prng.int(0, 10_000);
        }
        const candidates = members.filter(() => prng.next() < 0.7);
        const tried = new Set(members.filter(() => prng.next() < 0.3).map((m) => m.key));
        const clientAddress = `${prng.int(1, 223)}.${prng.int(0, 255)}.${prng.int(0, 255)}.1`;
        const hashKey = prng.bytes(prng.int(0, 12)).toString('latin1');
        const got = policy.select(candidates, { tried, clientAddress, hashKey });
        const open = candidates.filter((c) => !tried.has(c.key));
        if (open.length === 0) {
          assert.equal(got, undefined, `seed ${prng.seed}`);
        } else {
          assert.ok(got !== undefined && open.includes(got), `seed ${prng.seed}`);
        }
      }
    }
  });
}
