import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostRegistry, memberKey } from './host-state.ts';

test('memberKey is protocol, a space, the displayed address', () => {
  assert.equal(memberKey('fastcgi', '127.0.0.1:9000'), 'fastcgi 127.0.0.1:9000');
  assert.equal(memberKey('scgi', 'unix:/run/app.sock'), 'scgi unix:/run/app.sock');
});

test('one host per key, counted; the last release forgets it', () => {
  const registry = new HostRegistry();
  const a = registry.acquire('fastcgi', '127.0.0.1:9000');
  const b = registry.acquire('fastcgi', '127.0.0.1:9000');
  const other = registry.acquire('scgi', '127.0.0.1:9000');
  assert.equal(a, b);
  assert.notEqual(a, other, 'the protocol is part of the identity');
  assert.equal(registry.size, 2);
  registry.release(a);
  assert.equal(registry.get(a.key), a);
  registry.release(b);
  assert.equal(registry.get(a.key), undefined);
  registry.release(b);
  assert.equal(registry.size, 1, 'an extra release is harmless');
  const again = registry.acquire('fastcgi', '127.0.0.1:9000');
  assert.notEqual(again, a, 'an address configured again later starts afresh');
});

test('slots are per group and counted like hosts', () => {
  const registry = new HostRegistry();
  const host = registry.acquire('fastcgi', 'unix:/run/php.sock');
  const s1 = registry.acquireSlot(host, 'php', 2);
  const s2 = registry.acquireSlot(host, 'php', 2);
  const other = registry.acquireSlot(host, 'admin', 1);
  assert.equal(s1, s2);
  assert.notEqual(s1, other);
  registry.releaseSlot(host, 'php');
  assert.equal(host.slots.get('php'), s1);
  registry.releaseSlot(host, 'php');
  assert.equal(host.slots.get('php'), undefined);
  registry.releaseSlot(host, 'nope');
});

test('snapshot: state, admin override, failedUntil only while failed', () => {
  const registry = new HostRegistry();
  const host = registry.acquire('fastcgi', '127.0.0.1:9000');
  host.failedUntil = 5000;
  host.lastError = 'timeout';
  host.lastErrorAt = 1000;
  assert.equal(host.snapshot(1000).state, 'failed');
  assert.equal(host.snapshot(1000).failedUntil, 5000);
  assert.equal(host.snapshot(5000).state, 'up');
  assert.equal(host.snapshot(5000).failedUntil, null);
  host.admin = 'draining';
  assert.equal(host.snapshot(5000).state, 'draining');
  host.admin = 'down';
  assert.equal(host.snapshot(0).state, 'down');
  const all = registry.snapshot(0);
  assert.equal(all.length, 1);
  assert.deepEqual(JSON.parse(JSON.stringify(all)), all);
  assert.equal(all[0]!.lastError, 'timeout');
});
