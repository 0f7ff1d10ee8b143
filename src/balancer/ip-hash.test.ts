import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IpHashPolicy, ipHashBytes } from './ip-hash.ts';
import { Prng } from '../util/prng.ts';
import { ctx, makeGroup, tally } from './test-support.ts';

function randomIpv4(prng: Prng): string {
  return `${prng.int(1, 223)}.${prng.int(0, 255)}.${prng.int(0, 255)}.${prng.int(0, 255)}`;
}

test('ipHashBytes: three octets of IPv4, 16 bytes of IPv6, mapped IPv4 as IPv4, else pseudo', () => {
  assert.deepEqual([...ipHashBytes('192.0.2.7')], [192, 0, 2]);
  assert.deepEqual([...ipHashBytes('::ffff:192.0.2.7')], [192, 0, 2]);
  assert.deepEqual(
    [...ipHashBytes('2001:db8::1')],
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  );
  assert.deepEqual([...ipHashBytes('fe80::1%eth0')], [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...ipHashBytes('1:2:3:4:5:6:7:8')], [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  assert.deepEqual([...ipHashBytes('::1.2.3.4')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  assert.deepEqual([...ipHashBytes(undefined)], [0, 0, 0]);
  assert.deepEqual([...ipHashBytes('unix:/tmp/x')], [0, 0, 0]);
});

test('the first pick follows nginx arithmetic (hash 89, *113 + byte, % 6271, % total weight)', () => {
  // 192.0.2.x: 89 -> 3978 -> 4273 -> 6255; 6255 % 2 = 1.
  const { members } = makeGroup([1, 1]);
  assert.equal(new IpHashPolicy(members).select(members, ctx({ clientAddress: '192.0.2.77' }))?.index, 1);
  // Weights 4,1: 6255 % 5 = 0, inside member 0's four slots.
  const g2 = makeGroup([4, 1]).members;
  assert.equal(new IpHashPolicy(g2).select(g2, ctx({ clientAddress: '192.0.2.1' }))?.index, 0);
});

test('every address of a /24 reaches the same member', () => {
  const { members } = makeGroup([1, 1, 1, 1, 1]);
  const policy = new IpHashPolicy(members);
  const prng = new Prng(7);
  for (let n = 0; n < 200; n++) {
    const [a, b, c] = randomIpv4(prng).split('.');
    const first = policy.select(members, ctx({ clientAddress: `${a}.${b}.${c}.1` }));
    for (const d of [0, 2, 99, 254, 255]) {
      assert.equal(policy.select(members, ctx({ clientAddress: `${a}.${b}.${c}.${d}` })), first);
    }
    assert.equal(policy.select(members, ctx({ clientAddress: `::ffff:${a}.${b}.${c}.9` })), first);
  }
});

test('networks spread by weight (within 10% of each share over 30000 networks)', () => {
  const { members } = makeGroup([1, 2, 3]);
  const policy = new IpHashPolicy(members);
  const prng = new Prng(11);
  const picks: number[] = [];
  for (let n = 0; n < 30000; n++)
    picks.push(policy.select(members, ctx({ clientAddress: randomIpv4(prng) }))!.index);
  const counts = tally(picks, 3);
  [1, 2, 3].forEach((w, i) => {
    const share = counts[i]! / 30000;
    assert.ok(Math.abs(share - w / 6) < 0.1 * (w / 6), `member ${i}: ${share}`);
  });
});

test('a member marked down loses only its own clients; the others keep their member', () => {
  const healthy = makeGroup([1, 1, 1, 1]);
  const withDown = makeGroup([1, { down: true }, 1, 1]);
  const a = new IpHashPolicy(healthy.members);
  const b = new IpHashPolicy(withDown.members);
  const usable = withDown.group.candidates(0);
  assert.equal(usable.length, 3);
  const prng = new Prng(3);
  let moved = 0;
  for (let n = 0; n < 2000; n++) {
    const c = ctx({ clientAddress: randomIpv4(prng) });
    const before = a.select(healthy.members, c)!.index;
    const after = b.select(usable, c)!.index;
    assert.notEqual(after, 1);
    if (before !== 1) assert.equal(after, before);
    else moved++;
  }
  assert.ok(moved > 300 && moved < 700, `about a quarter moved: ${moved}`);
});

test('a tried member is re-hashed past; nothing usable left gives undefined', () => {
  const { members } = makeGroup([1, 1, 1]);
  const policy = new IpHashPolicy(members);
  const c = ctx({ clientAddress: '198.51.100.4' });
  const first = policy.select(members, c)!;
  const second = policy.select(members, ctx({ clientAddress: '198.51.100.4', tried: new Set([first.key]) }))!;
  assert.notEqual(second, first);
  assert.equal(policy.select(members, ctx({ tried: new Set(members.map((m) => m.key)) })), undefined);
});
