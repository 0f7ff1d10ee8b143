import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reportFailure } from './health.ts';
import { SmoothWeightedRoundRobinPolicy } from './round-robin.ts';
import { ctx, makeGroup, pickSequence, tally } from './test-support.ts';

test('weights 5,1,1 give nginx\'s documented smooth sequence "a a b a c a a"', () => {
  const { members } = makeGroup([5, 1, 1]);
  const seq = pickSequence(new SmoothWeightedRoundRobinPolicy(), members, 7);
  assert.deepEqual(
    seq.map((i) => 'abc'[i]),
    ['a', 'a', 'b', 'a', 'c', 'a', 'a'],
  );
});

test('over whole cycles the shares equal the weights exactly', () => {
  const { members } = makeGroup([5, 1, 1]);
  const seq = pickSequence(new SmoothWeightedRoundRobinPolicy(), members, 700);
  assert.deepEqual(tally(seq, 3), [500, 100, 100]);
  const { members: m2 } = makeGroup([3, 2, 1, 4]);
  assert.deepEqual(
    tally(pickSequence(new SmoothWeightedRoundRobinPolicy(), m2, 1000), 4),
    [300, 200, 100, 400],
  );
});

test('equal weights rotate in configured order', () => {
  const { members } = makeGroup([1, 1, 1]);
  assert.deepEqual(pickSequence(new SmoothWeightedRoundRobinPolicy(), members, 6), [0, 1, 2, 0, 1, 2]);
});

test('tried members are skipped; nothing left gives undefined', () => {
  const { members } = makeGroup([5, 1, 1]);
  const policy = new SmoothWeightedRoundRobinPolicy();
  const tried = new Set([members[0]!.key]);
  const seq = pickSequence(policy, members, 4, ctx({ tried }));
  assert.ok(!seq.includes(0));
  assert.equal(policy.select(members, ctx({ tried: new Set(members.map((m) => m.key)) })), undefined);
  assert.equal(policy.select([], ctx()), undefined);
});

test('a failure lowers the effective weight by weight/max_fails, regained one per pick', () => {
  const { members } = makeGroup([{ weight: 10, max_fails: 2 }, 10]);
  const a = members[0]!;
  reportFailure(a, 'error', 0);
  assert.equal(a.slot.effectiveWeight, 5);
  const policy = new SmoothWeightedRoundRobinPolicy();
  policy.select(members, ctx());
  assert.equal(a.slot.effectiveWeight, 6);
  pickSequence(policy, members, 10);
  assert.equal(a.slot.effectiveWeight, 10);
});
