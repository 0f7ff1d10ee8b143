import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { UpstreamGroup } from './group.ts';
import { HostRegistry } from './host-state.ts';
import { addressOf, ctx, makeGroup } from './test-support.ts';

test('invalid options fail with every issue, located by key path', () => {
  const registry = new HostRegistry();
  assert.throws(
    () =>
      new UpstreamGroup(
        {
          name: 'php',
          protocol: 'fastcgi',
          balance: 'ip_hash',
          servers: [
            { address: '127.0.0.1:9000', weight: 0 },
            { address: '127.0.0.1:9000' },
            { address: '127.0.0.1:9001', backup: true, lbset: 100 },
          ],
          sticky: { cookie: 'S', separator: '::' },
        },
        { registry },
      ),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.path),
        [
          'upstreams.php.servers[0].weight',
          'upstreams.php.servers[1].address',
          'upstreams.php.servers[2].lbset',
          'upstreams.php.servers[2].backup',
          'upstreams.php.sticky.separator',
        ],
      );
      return true;
    },
  );
  assert.equal(registry.size, 0, 'nothing acquired by a group that failed validation');
  assert.throws(
    () => new UpstreamGroup({ name: 'e', protocol: 'scgi', servers: [] }, { registry }),
    ConfigError,
  );
});

test('acquire counts the request in flight until release; snapshot is plain JSON', () => {
  const { group } = makeGroup([1, 1]);
  const sel = group.acquire(ctx(), 0);
  assert.ok(sel.ok);
  assert.equal(sel.member.host.active, 1);
  assert.equal(sel.sticky, false);
  group.release(sel.member, { bytesIn: 10, bytesOut: 5 });
  const snap = group.snapshot(0);
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
  const m = snap.members[sel.member.index]!;
  assert.equal(m.requests, 1);
  assert.equal(m.active, 0);
  assert.equal(m.bytesIn, 10);
  assert.equal(m.key, `fastcgi ${addressOf(sel.member.index)}`);
  assert.equal(m.state, 'up');
});

test('the attempt loop: each try excludes the members already tried, then none is left', () => {
  const { group } = makeGroup([1, 1, { backup: true }]);
  const tried = new Set<string>();
  const order: number[] = [];
  for (;;) {
    const sel = group.acquire(ctx({ tried }), 0);
    if (!sel.ok) {
      assert.equal(sel.reason, 'no-live-member');
      break;
    }
    order.push(sel.member.index);
    group.reportFailure(sel.member, 'error', 0);
    group.release(sel.member);
    tried.add(sel.member.key);
  }
  assert.deepEqual(order.sort(), [0, 1, 2]);
  assert.equal(group.tries, 3);
});

test('sticky: the route picks its member; a changed route is flagged; nofailover stops', () => {
  const servers = [{ route: 'n1', redirect: 'n2' }, { route: 'n2' }, { route: 'n3', drain: true }];
  const { group, members } = makeGroup(servers, { sticky: { cookie: 'JSESSIONID' } });
  const route = group.sticky?.resolve('/', 'JSESSIONID=abc.n3')?.route;
  assert.equal(route, 'n3');
  const drained = group.select(ctx({ route }), 0);
  assert.ok(
    drained.ok && drained.member === members[2] && drained.sticky,
    'a draining member keeps its sessions',
  );
  group.reportFailure(members[0]!, 'error', 0);
  const redirected = group.select(ctx({ route: 'n1' }), 0);
  assert.ok(redirected.ok && redirected.member === members[1] && redirected.routeChanged);
  group.reportFailure(members[1]!, 'error', 0);
  const fallback = group.select(ctx({ route: 'n1' }), 0);
  assert.ok(!fallback.ok, 'n1, n2 failed and n3 only drains');

  const strict = makeGroup(servers, { sticky: { cookie: 'S', nofailover: true } });
  strict.group.reportFailure(strict.members[1]!, 'error', 0);
  const refused = strict.group.select(ctx({ route: 'n2' }), 0);
  assert.ok(!refused.ok && refused.reason === 'sticky-route-unavailable');
  const unknown = strict.group.select(ctx({ route: 'other' }), 0);
  assert.ok(unknown.ok && !unknown.sticky, 'a route no member has falls back to the policy');
});

test('without nofailover an unusable route falls back to the policy', () => {
  const { group, members } = makeGroup([{ route: 'a' }, { route: 'b' }]);
  group.reportFailure(members[0]!, 'error', 0);
  const sel = group.select(ctx({ route: 'a' }), 0);
  assert.ok(sel.ok && sel.member === members[1] && !sel.sticky);
});

test('reload: a new group on the same registry keeps counters, failures and credit', () => {
  const registry = new HostRegistry();
  const old = makeGroup([5, 1, 1], {}, { registry });
  for (let i = 0; i < 3; i++) {
    const sel = old.group.acquire(ctx(), 0);
    assert.ok(sel.ok);
    old.group.release(sel.member);
  }
  old.group.reportFailure(old.members[2]!, 'error', 0);
  const next = makeGroup([5, 1, 1, 1], {}, { registry });
  assert.equal(next.members[0]!.host, old.members[0]!.host);
  assert.equal(next.members[0]!.slot, old.members[0]!.slot);
  assert.equal(next.group.memberState(next.members[2]!, 0), 'failed');
  // After "a a b" the smooth credit is a=1, b=-4, c=3, and c lost its effective weight.
  assert.deepEqual(
    next.members.map((m) => m.slot.currentWeight),
    [1, -4, 3, 0],
  );
  assert.equal(next.members[2]!.slot.effectiveWeight, 0);
  assert.equal(next.members[0]!.host.requests, 2);
  old.group.dispose();
  old.group.dispose();
  assert.equal(registry.size, 4, 'hosts still named by the new group stay');
  next.group.dispose();
  assert.equal(registry.size, 0);
});

test("a changed weight on reload restarts that member's credit", () => {
  const registry = new HostRegistry();
  const old = makeGroup([1, 1], {}, { registry });
  old.group.select(ctx(), 0);
  const next = makeGroup([3, 1], {}, { registry });
  assert.equal(next.members[0]!.slot.weight, 3);
  assert.equal(next.members[0]!.slot.currentWeight, 0);
  assert.equal(next.members[0]!.slot.effectiveWeight, 3);
});

test('memberState: configured down and drain, admin overrides, failure', () => {
  const { group, members } = makeGroup([{ down: true }, { drain: true }, 1, 1]);
  assert.deepEqual(
    members.map((m) => group.memberState(m, 0)),
    ['down', 'draining', 'up', 'up'],
  );
  members[3]!.host.admin = 'down';
  group.reportFailure(members[2]!, 'error', 0);
  assert.equal(group.memberState(members[2]!, 0), 'failed');
  assert.equal(group.memberState(members[3]!, 0), 'down');
  assert.equal(group.tries, 3, 'configured-down members do not count as tries');
});

test('each balance method builds its policy', () => {
  for (const balance of [
    'round_robin',
    'least_conn',
    'ip_hash',
    'hash',
    'random',
    'byrequests',
    'bytraffic',
    'bybusyness',
  ] as const) {
    const { group } = makeGroup([1, 2], { balance }, { random: () => 0.5 });
    const sel = group.select(ctx({ clientAddress: '192.0.2.1', hashKey: '/x' }), 0);
    assert.ok(sel.ok, balance);
  }
  for (const consistent of [true, 'ketama', 'rendezvous'] as const) {
    assert.ok(
      makeGroup([1, 1], { balance: 'hash', hash: { consistent } }).group.select(ctx({ hashKey: 'k' }), 0).ok,
    );
  }
});

test('a request waiting in the queue counts as queued on each member at max_conns, until it leaves', async () => {
  const { group, members } = makeGroup([{ max_conns: 1 }, { max_conns: 1 }, { max_conns: 1, down: true }], {
    queue: { size: 10, timeout: 60_000 },
  });
  const a = group.acquire(ctx(), 0);
  const b = group.acquire(ctx(), 0);
  assert.ok(a.ok && b.ok);
  assert.equal(group.mayQueue(0), true);
  const waiting = group.wait(undefined, Date.now() + 60_000);
  const gone = new AbortController();
  const leaving = group.wait(gone.signal, Date.now() + 60_000);
  assert.deepEqual(
    members.map((m) => m.host.queued),
    [2, 2, 0],
    'the down member is not waited for',
  );
  assert.equal(group.snapshot(0).queued, 2);
  gone.abort();
  await assert.rejects(leaving, { code: 'ERR_CLIENT_GONE' });
  assert.deepEqual(
    group.snapshot(0).members.map((m) => m.queued),
    [1, 1, 0],
  );
  group.release(a.member);
  await waiting;
  assert.deepEqual(
    members.map((m) => m.host.queued),
    [0, 0, 0],
  );
  group.release(b.member);
  group.dispose();
});

test('a raised request cap (the member multiplexes now) wakes as many waiters as it makes room for', async () => {
  const { group, members } = makeGroup([{ max_conns: 1 }], { queue: { size: 10, timeout: 60_000 } });
  const member = members[0]!;
  const first = group.acquire(ctx(), 0);
  assert.ok(first.ok);
  const woken: number[] = [];
  const waits = [0, 1, 2].map((i) => group.wait(undefined, Date.now() + 60_000).then(() => woken.push(i)));
  group.setRequestCap(member, 3);
  await Promise.all(waits.slice(0, 2));
  assert.deepEqual(woken, [0, 1]);
  assert.equal(group.queue?.length, 1);
  assert.equal(group.snapshot(0).members[0]?.requestCap, 3);
  group.setRequestCap(member, 1);
  assert.equal(group.queue?.length, 1, 'a lowered cap wakes no one');
  group.release(first.member);
  await waits[2];
  group.dispose();
});

test('a request ending in one group wakes a request waiting for the same host in another', async () => {
  const registry = new HostRegistry();
  const queue = { size: 10, timeout: 60_000 };
  const a = makeGroup([{ max_conns: 1 }], { name: 'a', queue }, { registry }).group;
  const b = makeGroup([{ max_conns: 1 }], { name: 'b', queue }, { registry }).group;
  const held = a.acquire(ctx(), 0);
  assert.ok(held.ok);
  assert.equal(b.mayQueue(0), true, 'the host is at max_conns for b too');
  // Bounded, so that a wait nobody ends fails the test (ERR_UPSTREAM_QUEUE_TIMEOUT).
  const waiting = b.wait(undefined, Date.now() + 5_000);
  a.release(held.member);
  await waiting;
  const sel = b.acquire(ctx(), 0);
  assert.ok(sel.ok);
  b.release(sel.member);
  a.dispose();
  b.dispose();
  assert.equal(sel.member.host.queues.size, 0);
});
