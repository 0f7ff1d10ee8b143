import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByTrafficPolicy } from './by-traffic.ts';
import { ctx, makeGroup } from './test-support.ts';

test('bytraffic: the member that moved the fewest bytes per weight, both directions', () => {
  const { members } = makeGroup([1, 2, 1]);
  const [a, b, c] = [members[0]!, members[1]!, members[2]!];
  a.host.bytesIn = 600;
  a.host.bytesOut = 100; // 700
  b.host.bytesIn = 1000;
  b.host.bytesOut = 201; // 500 + 100 (integer division per direction)
  c.host.bytesIn = 650; // 650
  assert.equal(new ByTrafficPolicy().select(members, ctx()), b);
  b.host.bytesOut = 2000; // 500 + 1000
  assert.equal(new ByTrafficPolicy().select(members, ctx()), c);
});

test('bytraffic: the first member wins ties; tried members are skipped', () => {
  const { members } = makeGroup([1, 1]);
  assert.equal(new ByTrafficPolicy().select(members, ctx())?.index, 0);
  assert.equal(new ByTrafficPolicy().select(members, ctx({ tried: new Set([members[0]!.key]) }))?.index, 1);
});
