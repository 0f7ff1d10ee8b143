import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByRequestsPolicy } from './by-requests.ts';
import { ctx, makeGroup, pickSequence, tally } from './test-support.ts';

test('byrequests: loadfactors 1,1,1,2 give the heavy member twice the share', () => {
  const { members } = makeGroup([1, 1, 1, 2]);
  const counts = tally(pickSequence(new ByRequestsPolicy(), members, 500), 4);
  assert.deepEqual(counts, [100, 100, 100, 200]);
});

test('byrequests: equal loadfactors rotate strictly, skipping tried members', () => {
  const { members } = makeGroup([1, 1, 1]);
  const policy = new ByRequestsPolicy();
  assert.deepEqual(pickSequence(policy, members, 6), [0, 1, 2, 0, 1, 2]);
  const tried = new Set([members[1]!.key]);
  assert.ok(!pickSequence(policy, members, 6, ctx({ tried })).includes(1));
});

test('byrequests: credit is lbstatus (the slot httpd shows), the winner pays back the total', () => {
  const { members } = makeGroup([1, 2]);
  new ByRequestsPolicy().select(members, ctx());
  // Both earned their factor (1, 2); member 1 won and paid back 3.
  assert.deepEqual(
    members.map((m) => m.slot.lbstatus),
    [1, -1],
  );
});
