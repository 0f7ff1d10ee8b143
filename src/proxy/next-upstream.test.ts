import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AttemptFacts,
  compileNextUpstream,
  DEFAULT_NEXT_UPSTREAM,
  errorCondition,
  maxTries,
  mayRetry,
  NEXT_UPSTREAM,
  statusCondition,
} from './next-upstream.ts';

const FACTS: AttemptFacts = {
  condition: NEXT_UPSTREAM.error,
  attempts: 1,
  maxTries: 2,
  elapsed: 0,
  method: 'GET',
  requestSent: false,
  bodyStreamed: false,
};

test('off clears every condition; unknown values are a programming error', () => {
  assert.equal(compileNextUpstream(['off'], 0, 0).mask, 0);
  assert.equal(DEFAULT_NEXT_UPSTREAM.mask, NEXT_UPSTREAM.error | NEXT_UPSTREAM.timeout);
  assert.throws(() => compileNextUpstream(['http_501'], 0, 0), TypeError);
});

test('conditions: error kinds and statuses; the client and the gateway are never retried', () => {
  assert.equal(errorCondition('error'), NEXT_UPSTREAM.error);
  assert.equal(errorCondition('timeout'), NEXT_UPSTREAM.timeout);
  assert.equal(errorCondition('invalid_header'), NEXT_UPSTREAM.invalid_header);
  assert.equal(errorCondition('none'), 0);
  for (const s of [500, 502, 503, 504, 403, 404, 429]) {
    assert.equal(statusCondition(s), NEXT_UPSTREAM[`http_${s}` as keyof typeof NEXT_UPSTREAM]);
  }
  assert.equal(statusCondition(200), 0);
  assert.equal(statusCondition(501), 0);
});

test('a listed condition with a try left is retried; an unlisted one is not', () => {
  const rules = compileNextUpstream(['error', 'http_503'], 0, 0);
  assert.equal(mayRetry(rules, FACTS), true);
  assert.equal(mayRetry(rules, { ...FACTS, condition: NEXT_UPSTREAM.http_503 }), true);
  assert.equal(mayRetry(rules, { ...FACTS, condition: NEXT_UPSTREAM.timeout }), false);
  assert.equal(mayRetry(rules, { ...FACTS, condition: 0 }), false);
});

test('no try left, or next_upstream_timeout reached: no retry', () => {
  const rules = compileNextUpstream(['error'], 0, 500);
  assert.equal(mayRetry(rules, { ...FACTS, attempts: 2 }), false);
  assert.equal(mayRetry(rules, { ...FACTS, elapsed: 499 }), true);
  assert.equal(mayRetry(rules, { ...FACTS, elapsed: 500 }), false);
});

test('POST, LOCK, PATCH once sent need non_idempotent; a streamed body once sent is never retried', () => {
  const plain = compileNextUpstream(['error'], 0, 0);
  const both = compileNextUpstream(['error', 'non_idempotent'], 0, 0);
  for (const method of ['POST', 'LOCK', 'PATCH']) {
    assert.equal(mayRetry(plain, { ...FACTS, method }), true, `${method} not sent yet`);
    assert.equal(mayRetry(plain, { ...FACTS, method, requestSent: true }), false, method);
    assert.equal(mayRetry(both, { ...FACTS, method, requestSent: true }), true, method);
  }
  assert.equal(mayRetry(plain, { ...FACTS, method: 'PUT', requestSent: true }), true);
  assert.equal(mayRetry(both, { ...FACTS, method: 'PUT', requestSent: true, bodyStreamed: true }), false);
  assert.equal(mayRetry(both, { ...FACTS, method: 'PUT', requestSent: false, bodyStreamed: true }), true);
});

test('tries: the group count, capped by next_upstream_tries, at least one', () => {
  assert.equal(maxTries(3, compileNextUpstream(['error'], 0, 0)), 3);
  assert.equal(maxTries(3, compileNextUpstream(['error'], 2, 0)), 2);
  assert.equal(maxTries(3, compileNextUpstream(['error'], 5, 0)), 3);
  assert.equal(maxTries(0, DEFAULT_NEXT_UPSTREAM), 1);
});
