import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { HashPolicy } from './hash.ts';
import { ctx, makeGroup, tally } from './test-support.ts';

/** Cache::Memcached's first bucket, derived independently of the policy. */
function firstBucket(key: string, total: number): number {
  return ((crc32(Buffer.from(key, 'latin1')) >>> 16) & 0x7fff) % total;
}

test("the first pick is Cache::Memcached's bucket: ((crc32(key) >> 16) & 0x7fff) % total weight", () => {
  const { members } = makeGroup([1, 1, 1, 1, 1, 1, 1]);
  const policy = new HashPolicy(members);
  for (let i = 0; i < 500; i++) {
    const key = `/item/${i}`;
    assert.equal(policy.select(members, ctx({ hashKey: key }))?.index, firstBucket(key, 7));
  }
});

test("weights widen a member's bucket range", () => {
  const { members } = makeGroup([3, 1]);
  const policy = new HashPolicy(members);
  for (let i = 0; i < 200; i++) {
    const key = `k${i}`;
    assert.equal(policy.select(members, ctx({ hashKey: key }))?.index, firstBucket(key, 4) < 3 ? 0 : 1);
  }
});

test('the same key always reaches the same member; keys spread by weight', () => {
  const { members } = makeGroup([1, 2, 1]);
  const policy = new HashPolicy(members);
  const picks: number[] = [];
  for (let i = 0; i < 20000; i++) {
    const key = `/u/${i}?q=${i * 7}`;
    const m = policy.select(members, ctx({ hashKey: key }))!;
    assert.equal(policy.select(members, ctx({ hashKey: key })), m);
    picks.push(m.index);
  }
  const counts = tally(picks, 3);
  [0.25, 0.5, 0.25].forEach((want, i) => {
    assert.ok(Math.abs(counts[i]! / 20000 - want) < 0.05, `member ${i}: ${counts[i]}`);
  });
});

test("a down member's keys are re-hashed; every other key stays", () => {
  const all = makeGroup([1, 1, 1]);
  const down = makeGroup([1, 1, { down: true }]);
  const a = new HashPolicy(all.members);
  const b = new HashPolicy(down.members);
  const usable = down.group.candidates(0);
  for (let i = 0; i < 3000; i++) {
    const c = ctx({ hashKey: `key-${i}` });
    const before = a.select(all.members, c)!.index;
    const after = b.select(usable, c)!.index;
    assert.notEqual(after, 2);
    if (before !== 2) assert.equal(after, before);
  }
});

test('latin1 key bytes: a key with bytes above 0x7f hashes its raw bytes', () => {
  const { members } = makeGroup(new Array(11).fill(1));
  const policy = new HashPolicy(members);
  const key = '/caf\xe9';
  const expected = ((crc32(Buffer.from([0x2f, 0x63, 0x61, 0x66, 0xe9])) >>> 16) & 0x7fff) % 11;
  assert.equal(policy.select(members, ctx({ hashKey: key }))?.index, expected);
});

test('everything tried: undefined', () => {
  const { members } = makeGroup([1, 1]);
  assert.equal(
    new HashPolicy(members).select(members, ctx({ hashKey: 'x', tried: new Set(members.map((m) => m.key)) })),
    undefined,
  );
});
