import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeastConnPolicy } from './least-conn.ts';
import { ctx, makeGroup, pickSequence, setActive, tally } from './test-support.ts';

test('picks the member with the fewest active requests', () => {
  const { members } = makeGroup([1, 1, 1]);
  setActive(members[0]!, 4);
  setActive(members[1]!, 1);
  setActive(members[2]!, 3);
  assert.equal(new LeastConnPolicy().select(members, ctx())?.index, 1);
});

test('load is relative to weight: 2 active on weight 3 beats 1 active on weight 1', () => {
  const { members } = makeGroup([1, 3]);
  setActive(members[0]!, 1);
  setActive(members[1]!, 2);
  assert.equal(new LeastConnPolicy().select(members, ctx())?.index, 1);
});

test('equally loaded members share by weighted round robin', () => {
  const { members } = makeGroup([2, 1, 1]);
  for (const m of members) setActive(m, 0);
  const seq = pickSequence(new LeastConnPolicy(), members, 400);
  assert.deepEqual(tally(seq, 3), [200, 100, 100]);
});

test('only the tied members take part in the round robin', () => {
  const { members } = makeGroup([1, 1, 1]);
  setActive(members[0]!, 5);
  const seq = pickSequence(new LeastConnPolicy(), members, 10);
  assert.ok(!seq.includes(0));
  assert.deepEqual(tally(seq, 3), [0, 5, 5]);
  assert.equal(members[0]!.slot.currentWeight, 0, 'the busier member earned no credit');
});

test('as requests start, each goes to the least loaded', () => {
  const { members } = makeGroup([1, 1, 1]);
  setActive(members[0]!, 2);
  const policy = new LeastConnPolicy();
  const seq: number[] = [];
  for (let i = 0; i < 7; i++) {
    const m = policy.select(members, ctx())!;
    m.host.active++;
    seq.push(m.index);
  }
  assert.ok(!seq.slice(0, 4).includes(0), 'the busy member waits until the others catch up');
  assert.deepEqual(
    members.map((m) => m.host.active),
    [3, 3, 3],
  );
});

test('skips tried members', () => {
  const { members } = makeGroup([1, 1]);
  setActive(members[1]!, 9);
  const m = new LeastConnPolicy().select(members, ctx({ tried: new Set([members[0]!.key]) }));
  assert.equal(m?.index, 1);
});
