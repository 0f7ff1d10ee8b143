import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByBusynessPolicy } from './by-busyness.ts';
import { ctx, makeGroup, pickSequence, setActive, tally } from './test-support.ts';

test('bybusyness: the member with the fewest requests in flight, weight not dividing', () => {
  const { members } = makeGroup([1, 10]);
  setActive(members[0]!, 1);
  setActive(members[1]!, 2);
  // least_conn would pick member 1 (2/10 < 1/1); bybusyness compares busy counts only.
  assert.equal(new ByBusynessPolicy().select(members, ctx())?.index, 0);
});

test('bybusyness: equally busy members rotate by loadfactor credit', () => {
  const { members } = makeGroup([1, 1, 2]);
  const counts = tally(pickSequence(new ByBusynessPolicy(), members, 400), 3);
  assert.deepEqual(counts, [100, 100, 200]);
});
