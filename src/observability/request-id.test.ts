import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRequestId } from './request-id.ts';

test('request ids are 32 lower-case hex digits, unique across several refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const id = newRequestId();
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.ok(!seen.has(id), `repeated id after ${i}`);
    seen.add(id);
  }
});

test('the hex digits are evenly spread (a refill fills the whole batch)', () => {
  const counts = new Map<string, number>();
  const ids = 4096;
  for (let i = 0; i < ids; i++) for (const c of newRequestId()) counts.set(c, (counts.get(c) ?? 0) + 1);
  assert.equal(counts.size, 16);
  // 131,072 digits: 8,192 expected per digit; a stuck or unfilled stretch would skew one far.
  for (const [digit, n] of counts) assert.ok(n > 7000 && n < 9400, `digit ${digit}: ${n}`);
});
