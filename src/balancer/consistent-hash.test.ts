import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { ConsistentHashPolicy, ketamaHostPort, POINTS_PER_WEIGHT } from './consistent-hash.ts';
import { RendezvousHashPolicy } from './rendezvous-hash.ts';
import type { SelectionPolicy } from './policy.ts';
import { ctx, makeGroup, tally } from './test-support.ts';

test('ketamaHostPort splits a server string as nginx does', () => {
  assert.deepEqual(ketamaHostPort('127.0.0.1:9000'), { host: '127.0.0.1', port: '9000' });
  assert.deepEqual(ketamaHostPort('[::1]:9000'), { host: '[::1]', port: '9000' });
  assert.deepEqual(ketamaHostPort('unix:/run/php.sock'), { host: '/run/php.sock', port: '' });
  assert.deepEqual(ketamaHostPort('UNIX:/run/a:1'), { host: '/run/a:1', port: '' });
  assert.deepEqual(ketamaHostPort('backend'), { host: 'backend', port: '' });
  assert.deepEqual(ketamaHostPort('host:abc'), { host: 'host:abc', port: '' });
});

test('the ring has 160 points per weight unit', () => {
  const { members } = makeGroup([1, 2, 3]);
  const ring = new ConsistentHashPolicy(members);
  // Collisions among 960 32-bit values are possible but not with these addresses.
  assert.equal(ring.size, 6 * POINTS_PER_WEIGHT);
});

/** A naive ketama written from the description: every point listed, lowest point >= hash wins. */
function referenceOwner(addresses: readonly string[], weights: readonly number[], key: string): number {
  const points: { value: number; owner: number }[] = [];
  addresses.forEach((address, owner) => {
    const colon = address.lastIndexOf(':');
    let prev = 0;
    for (let j = 0; j < weights[owner]! * 160; j++) {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(prev);
      const value = crc32(
        Buffer.concat([Buffer.from(`${address.slice(0, colon)}\0${address.slice(colon + 1)}`), bytes]),
      );
      points.push({ value, owner });
      prev = value;
    }
  });
  const h = crc32(Buffer.from(key, 'latin1'));
  let best: { value: number; owner: number } | undefined;
  let lowest = points[0]!;
  for (const p of points) {
    if (p.value < lowest.value) lowest = p;
    if (p.value >= h && (best === undefined || p.value < best.value)) best = p;
  }
  return (best ?? lowest).owner;
}

test('lookups agree with a naive ketama (points crc32(host "\\0" port + previous point, LE))', () => {
  const { members } = makeGroup([1, 3, 2]);
  const ring = new ConsistentHashPolicy(members);
  const addresses = members.map((m) => m.address);
  for (let i = 0; i < 300; i++) {
    const key = `/k/${i * 7919}`;
    assert.equal(
      ring.select(members, ctx({ hashKey: key }))?.index,
      referenceOwner(addresses, [1, 3, 2], key),
      key,
    );
  }
});

function keys(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `/objects/${i}.jpg`);
}

function movedWhenAdding(make: (members: ReturnType<typeof makeGroup>['members']) => SelectionPolicy) {
  const four = makeGroup([1, 1, 1, 1]);
  const five = makeGroup([1, 1, 1, 1, 1]);
  const a = make(four.members);
  const b = make(five.members);
  let moved = 0;
  for (const key of keys(20000)) {
    const before = a.select(four.members, ctx({ hashKey: key }))!.index;
    const after = b.select(five.members, ctx({ hashKey: key }))!.index;
    if (before !== after) {
      moved++;
      assert.equal(after, 4, 'a key only ever moves to the new member');
    }
  }
  return moved / 20000;
}

test('ketama: adding a fifth member moves about 1/5 of the keys, all to it', () => {
  const share = movedWhenAdding((m) => new ConsistentHashPolicy(m));
  assert.ok(Math.abs(share - 0.2) < 0.05, `moved ${share}`);
});

test('rendezvous: adding a fifth member moves about 1/5 of the keys, all to it', () => {
  const share = movedWhenAdding(() => new RendezvousHashPolicy());
  assert.ok(Math.abs(share - 0.2) < 0.03, `moved ${share}`);
});

for (const [name, make] of [
  ['ketama', (m: ReturnType<typeof makeGroup>['members']) => new ConsistentHashPolicy(m)],
  ['rendezvous', () => new RendezvousHashPolicy()],
] as const) {
  test(`${name}: keys spread by weight 1:2:1 (each share within 0.06)`, () => {
    const { members } = makeGroup([1, 2, 1]);
    const policy = make(members);
    const counts = tally(
      keys(30000).map((k) => policy.select(members, ctx({ hashKey: k }))!.index),
      3,
    );
    [0.25, 0.5, 0.25].forEach((want, i) => {
      assert.ok(Math.abs(counts[i]! / 30000 - want) < 0.06, `${name} member ${i}: ${counts[i]}`);
    });
  });

  test(`${name}: a member that is out loses only its own keys`, () => {
    const { members, group } = makeGroup([1, 1, 1, 1]);
    const policy = make(members);
    members[2]!.host.admin = 'down';
    const usable = group.candidates(0);
    for (const key of keys(5000)) {
      const before = policy.select(members, ctx({ hashKey: key }))!.index;
      const after = policy.select(usable, ctx({ hashKey: key }))!.index;
      if (before !== 2) assert.equal(after, before);
      else assert.notEqual(after, 2);
    }
  });

  test(`${name}: tried members are walked past; all tried gives undefined`, () => {
    const { members } = makeGroup([1, 1, 1]);
    const policy = make(members);
    const first = policy.select(members, ctx({ hashKey: 'k' }))!;
    const next = policy.select(members, ctx({ hashKey: 'k', tried: new Set([first.key]) }))!;
    assert.notEqual(next, first);
    assert.equal(
      policy.select(members, ctx({ hashKey: 'k', tried: new Set(members.map((m) => m.key)) })),
      undefined,
    );
  });
}

test('ketama refuses a ring above MAX_RING_POINTS at build, releasing its hosts', async () => {
  const { HostRegistry } = await import('./host-state.ts');
  const registry = new HostRegistry();
  assert.throws(
    () => makeGroup([100_000, 1], { balance: 'hash', hash: { consistent: true } }, { registry }),
    (err: Error) => err.name === 'ConfigError' && /ring points/.test(err.message),
  );
  assert.equal(registry.size, 0);
});
