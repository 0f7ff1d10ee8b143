import assert from 'node:assert/strict';
import { test } from 'node:test';
import { begin, candidatesFor, end, isFailed, reportFailure, reportSuccess, routeMember } from './health.ts';
import { makeGroup } from './test-support.ts';

const indexes = (ms: readonly { index: number }[]) => ms.map((m) => m.index);

test('max_fails failures within fail_timeout take a member out for fail_timeout, then it is back', () => {
  const { group, members } = makeGroup([{ max_fails: 3, fail_timeout: 10_000 }, 1]);
  const a = members[0]!;
  assert.equal(reportFailure(a, 'error', 1000), false);
  assert.equal(reportFailure(a, 'timeout', 2000), false);
  assert.deepEqual(indexes(candidatesFor(group, 2500)), [0, 1]);
  assert.equal(reportFailure(a, 'error', 3000), true, 'the third failure disables it');
  assert.equal(isFailed(group, a, 3000), true);
  assert.deepEqual(indexes(candidatesFor(group, 3000)), [1]);
  assert.deepEqual(indexes(candidatesFor(group, 12_999)), [1]);
  assert.deepEqual(indexes(candidatesFor(group, 13_000)), [0, 1], 'tried again once fail_timeout passed');
  assert.equal(a.host.snapshot(3000).state, 'failed');
  assert.equal(a.host.snapshot(3000).failedUntil, 13_000);
  assert.equal(a.host.snapshot(13_000).state, 'up');
});

test('failures further apart than fail_timeout do not add up', () => {
  const { group, members } = makeGroup([{ max_fails: 2, fail_timeout: 10_000 }, 1]);
  const a = members[0]!;
  reportFailure(a, 'error', 0);
  reportFailure(a, 'error', 10_001);
  assert.equal(isFailed(group, a, 10_001), false);
  assert.equal(a.host.fails, 1);
  reportFailure(a, 'error', 15_000);
  assert.equal(isFailed(group, a, 15_000), true);
});

test('a success between failures does not reset the window (nginx)', () => {
  const { group, members } = makeGroup([{ max_fails: 2 }, 1]);
  const a = members[0]!;
  reportFailure(a, 'error', 0);
  reportSuccess(a, 1000);
  reportFailure(a, 'error', 2000);
  assert.equal(isFailed(group, a, 2000), true);
});

test('after the timeout one request probes: a failure re-fails at once, a success restores', () => {
  const { group, members } = makeGroup([{ max_fails: 3, fail_timeout: 10_000 }, 1]);
  const a = members[0]!;
  for (const t of [0, 1, 2]) reportFailure(a, 'error', t);
  assert.equal(isFailed(group, a, 5000), true);
  // Probe fails: out again immediately, without three new failures.
  assert.equal(reportFailure(a, 'error', 10_100), true);
  assert.equal(isFailed(group, a, 10_100), true);
  assert.equal(isFailed(group, a, 20_100), false);
  // Probe succeeds: a clean count.
  reportSuccess(a, 20_200);
  assert.equal(a.host.fails, 0);
  reportFailure(a, 'error', 20_300);
  assert.equal(isFailed(group, a, 20_300), false);
});

test('max_fails=0 never takes a member out; failures are still counted', () => {
  const { group, members } = makeGroup([{ max_fails: 0 }, 1]);
  const a = members[0]!;
  for (let t = 0; t < 10; t++) assert.equal(reportFailure(a, 'error', t), false);
  assert.deepEqual(indexes(candidatesFor(group, 10)), [0, 1]);
  assert.equal(a.host.failures, 10);
  assert.equal(a.host.fails, 0);
});

test('403 and 404 are not failures', () => {
  const { group, members } = makeGroup([1, 1]);
  const a = members[0]!;
  assert.equal(reportFailure(a, 'http_403', 0), false);
  assert.equal(reportFailure(a, 'http_404', 0), false);
  assert.equal(a.host.failures, 0);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [0, 1]);
  assert.equal(reportFailure(a, 'http_500', 0), true);
  assert.equal(a.host.lastError, 'http_500');
  assert.equal(a.host.lastErrorAt, 0);
});

test('backups serve only while every primary is unusable', () => {
  const { group, members } = makeGroup([1, 1, { backup: true }, { backup: true }]);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [0, 1]);
  reportFailure(members[0]!, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [1], 'one primary left: no backup yet');
  reportFailure(members[1]!, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [2, 3]);
  assert.deepEqual(indexes(candidatesFor(group, 10_000)), [0, 1], 'primaries back after fail_timeout');
});

test('backups also serve once the primaries are tried, down or at max_conns', () => {
  const { group, members } = makeGroup([{ max_conns: 1 }, { down: true }, { backup: true }]);
  const tried = new Set([members[0]!.key]);
  assert.deepEqual(indexes(candidatesFor(group, 0, tried)), [2]);
  begin(members[0]!);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [2], 'a member at max_conns is not a candidate');
  end(members[0]!);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [0]);
});

test('nothing usable: no candidate (nginx 502), and each member returns after its timeout', () => {
  const { group, members } = makeGroup([{ fail_timeout: 5000 }, { fail_timeout: 20_000 }, { backup: true }]);
  for (const m of members) reportFailure(m, 'error', 0);
  assert.deepEqual(candidatesFor(group, 1000), []);
  assert.deepEqual(indexes(candidatesFor(group, 5000)), [0]);
  assert.deepEqual(indexes(candidatesFor(group, 20_000)), [0, 1]);
});

test('httpd forcerecovery: when every member is in error, all are cleared and tried', () => {
  const { group, members } = makeGroup([{ retry: 60_000 }, { retry: 60_000 }], { forcerecovery: true });
  for (const m of members) reportFailure(m, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(group, 1000)), [0, 1]);
  assert.equal(members[0]!.host.recoveries, 1);
  assert.equal(isFailed(group, members[0]!, 1000), false);
});

test('httpd forcerecovery waits while a member is disabled but not in error', () => {
  const { group, members } = makeGroup([1, { down: true }], { forcerecovery: true });
  reportFailure(members[0]!, 'error', 0);
  assert.deepEqual(candidatesFor(group, 1), []);
  assert.equal(members[0]!.host.recoveries, 0);
});

test('httpd retry=N keeps a member in error N ms after one failure; retry=0 retries at once', () => {
  const { group, members } = makeGroup([{ retry: 60_000, fail_timeout: 60_000 }, { retry: 0 }, 1]);
  reportFailure(members[0]!, 'error', 0);
  reportFailure(members[1]!, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [1, 2]);
  assert.deepEqual(indexes(candidatesFor(group, 59_999)), [1, 2]);
  assert.deepEqual(indexes(candidatesFor(group, 60_000)), [0, 1, 2]);
});

test("nginx: a group's only server is never failed; httpd-style groups may turn that off", () => {
  const single = makeGroup([1]);
  reportFailure(single.members[0]!, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(single.group, 0)), [0]);
  const strict = makeGroup([1], { single_never_fails: false });
  reportFailure(strict.members[0]!, 'error', 0);
  assert.deepEqual(candidatesFor(strict.group, 0), []);
});

test("lbsets: lower sets first; a set's standbys before the next set", () => {
  const { group, members } = makeGroup([
    { lbset: 1 },
    { lbset: 0 },
    { lbset: 0, backup: true },
    { lbset: 1 },
  ]);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [1]);
  reportFailure(members[1]!, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [2]);
  reportFailure(members[2]!, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [0, 3]);
});

test('hot spares stand in one for one for unusable members of their set', () => {
  const { group, members } = makeGroup([1, 1, { spare: true }, { spare: true }]);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [0, 1]);
  reportFailure(members[0]!, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [1, 2]);
  reportFailure(members[1]!, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [2, 3]);
});

test('draining members take no new requests but keep their sticky route', () => {
  const { group, members } = makeGroup([{ route: 'r1', drain: true }, { route: 'r2' }]);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [1]);
  assert.equal(routeMember(group, 'r1', 0), members[0]);
  members[1]!.host.admin = 'draining';
  assert.deepEqual(candidatesFor(group, 0), []);
  assert.equal(routeMember(group, 'r2', 0), members[1]);
});

test('routeMember: normal members before standbys, redirect followed, cycles end', () => {
  const { group, members } = makeGroup([
    { route: 'a', redirect: 'b' },
    { route: 'b', redirect: 'a' },
    { route: 'a', backup: true },
  ]);
  assert.equal(routeMember(group, 'a', 0), members[0]);
  reportFailure(members[0]!, 'error', 0);
  assert.equal(routeMember(group, 'a', 0), members[1], "the failed member's redirect");
  reportFailure(members[1]!, 'error', 0);
  assert.equal(routeMember(group, 'a', 0), members[2], 'then the standby with that route');
  reportFailure(members[2]!, 'error', 0);
  assert.equal(routeMember(group, 'a', 0), undefined);
  assert.equal(routeMember(group, 'zzz', 0), undefined);
  assert.equal(
    routeMember(group, 'a', 10_000, new Set([members[0]!.key])),
    members[1],
    'tried members are skipped',
  );
});

test('counters: requests, active, bytes; end never drives active below zero', () => {
  const { members } = makeGroup([1, 1]);
  const a = members[0]!;
  begin(a);
  begin(a);
  assert.equal(a.host.active, 2);
  end(a, { bytesIn: 1000, bytesOut: 200 });
  end(a, { bytesIn: -5, bytesOut: Number.NaN });
  end(a);
  const snap = a.host.snapshot(0);
  assert.equal(snap.requests, 2);
  assert.equal(snap.active, 0);
  assert.equal(snap.bytesIn, 1000);
  assert.equal(snap.bytesOut, 200);
});

test("failure state is the host's: a second group naming the address sees it failed", async () => {
  const { HostRegistry } = await import('./host-state.ts');
  const registry = new HostRegistry();
  const one = makeGroup([1, 1], { name: 'one' }, { registry });
  const two = makeGroup([1, 1, 1], { name: 'two' }, { registry });
  reportFailure(one.members[0]!, 'error', 0);
  assert.deepEqual(indexes(candidatesFor(two.group, 0)), [1, 2]);
  assert.notEqual(one.members[0]!.slot, two.members[0]!.slot, 'balancing credit stays per group');
});

test('active checks over passive health (nginx Plus): a member taken out by checks stays out until they pass', () => {
  const { group, members } = makeGroup([{ max_fails: 1, fail_timeout: 1000 }, 1, { backup: true }]);
  const [a, b] = [members[0]!, members[1]!];
  a.health = 'unhealthy';
  // Passive health has nothing against it, and fail_timeout passing changes nothing.
  assert.equal(isFailed(group, a, 0), false);
  assert.deepEqual(indexes(candidatesFor(group, 0)), [1]);
  reportSuccess(a, 5000);
  assert.deepEqual(indexes(candidatesFor(group, 60_000)), [1]);
  // Every primary out (one by checks, one by max_fails): the backup serves, not the checked-out one.
  reportFailure(b, 'error', 60_000);
  assert.deepEqual(indexes(candidatesFor(group, 60_500)), [2]);
  // Checks pass again: back, while passive failure still keeps b out for its fail_timeout.
  a.health = 'healthy';
  assert.deepEqual(indexes(candidatesFor(group, 60_500)), [0]);
  assert.deepEqual(indexes(candidatesFor(group, 70_000)), [0, 1], 'b back after its fail_timeout (10s)');
});

test('httpd forcerecovery does not bring back a member that fails its health checks', () => {
  const { group, members } = makeGroup([{ retry: 60_000 }, 1], { forcerecovery: true });
  members[1]!.health = 'unhealthy';
  reportFailure(members[0]!, 'error', 0);
  const picked = indexes(candidatesFor(group, 1000));
  assert.ok(!picked.includes(1), `got ${picked.join(',')}`);
});

test('a sticky route never leads to a member that fails its health checks', () => {
  const { group, members } = makeGroup([{ route: 'r1' }, { route: 'r2' }]);
  assert.equal(routeMember(group, 'r1', 0)?.index, 0);
  members[0]!.health = 'unhealthy';
  assert.equal(routeMember(group, 'r1', 0), undefined);
  members[0]!.health = 'healthy';
  assert.equal(routeMember(group, 'r1', 0)?.index, 0);
});
