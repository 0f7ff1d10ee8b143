import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '../util/prng.ts';
import { RandomPolicy } from './random.ts';
import { ctx, makeGroup, pickSequence, setActive, tally } from './test-support.ts';

/** A source that replays fixed values. */
function replay(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

test('random: picks in proportion to weight (1:3, each share within 0.015 over 40000)', () => {
  const { members } = makeGroup([1, 3]);
  const prng = new Prng(42);
  const counts = tally(pickSequence(new RandomPolicy({ random: () => prng.next() }), members, 40000), 2);
  assert.ok(Math.abs(counts[0]! / 40000 - 0.25) < 0.015, String(counts));
});

test('random: the draw walks the weight ranges in configured order', () => {
  const { members } = makeGroup([1, 3]);
  // total 4: x = floor(r * 4): 0 -> a, 1..3 -> b.
  assert.equal(new RandomPolicy({ random: replay(0.2) }).select(members, ctx())?.index, 0);
  assert.equal(new RandomPolicy({ random: replay(0.25) }).select(members, ctx())?.index, 1);
  // A source that returns 1 (out of contract) still lands on a candidate.
  assert.equal(new RandomPolicy({ random: replay(1) }).select(members, ctx())?.index, 1);
});

test('random two: the less loaded of the two drawn; on a tie the second drawn', () => {
  const { members } = makeGroup([1, 1, 1]);
  setActive(members[0]!, 3);
  // First draw 0.0 -> member 0; second among {1, 2}: 0.0 -> member 1 (less loaded): member 1.
  assert.equal(new RandomPolicy({ two: true, random: replay(0, 0) }).select(members, ctx())?.index, 1);
  // First 0.5 -> member 1 (idle); second among {0, 2}: 0.0 -> member 0 (busier): member 1 kept.
  assert.equal(new RandomPolicy({ two: true, random: replay(0.5, 0) }).select(members, ctx())?.index, 1);
  // Tie between member 1 and 2: the second drawn (2) wins, as in nginx.
  assert.equal(new RandomPolicy({ two: true, random: replay(0.5, 0.9) }).select(members, ctx())?.index, 2);
});

test('random two never picks the busier of the two it drew', () => {
  const { members } = makeGroup([1, 1, 1, 1]);
  [0, 5, 10, 20].forEach((n, i) => {
    setActive(members[i]!, n);
  });
  const prng = new Prng(9);
  const counts = tally(
    pickSequence(new RandomPolicy({ two: true, random: () => prng.next() }), members, 20000),
    4,
  );
  assert.equal(counts[3], 0, 'the busiest is always the busier of its pair');
  // Member 0 wins every pair it is in: 3 of the 6 pairs; 1 wins 2, 2 wins 1.
  assert.ok(Math.abs(counts[0]! / 20000 - 0.5) < 0.02, String(counts));
  assert.ok(Math.abs(counts[1]! / 20000 - 1 / 3) < 0.02, String(counts));
});

test('random two with one candidate left takes it; tried members are never drawn', () => {
  const { members } = makeGroup([1, 1, 1]);
  const prng = new Prng(5);
  const policy = new RandomPolicy({ two: true, random: () => prng.next() });
  const tried = new Set([members[0]!.key, members[2]!.key]);
  for (let i = 0; i < 50; i++) assert.equal(policy.select(members, ctx({ tried }))?.index, 1);
  assert.equal(policy.select(members, ctx({ tried: new Set(members.map((m) => m.key)) })), undefined);
});
