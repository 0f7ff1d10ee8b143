import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHttpDate, parseHttpDate } from './http-date.ts';

const T = Date.UTC(1994, 10, 6, 8, 49, 37) / 1000;

test('the three HTTP-date forms of RFC 9110 5.6.7 parse to the same second', () => {
  assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), T);
  assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), T);
  assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), T);
  assert.equal(parseHttpDate('  Sun, 06 Nov 1994 08:49:37 GMT '), T);
});

test('formatHttpDate writes IMF-fixdate and round-trips', () => {
  assert.equal(formatHttpDate(T * 1000 + 999), 'Sun, 06 Nov 1994 08:49:37 GMT');
  assert.equal(parseHttpDate(formatHttpDate(1_700_000_000_123)), 1_700_000_000);
});

test('garbage that Date.parse would accept is not a date', () => {
  for (const s of [
    '1',
    '2001',
    'yesterday',
    '',
    'Sun, 06 Nov 1994 08:49:37 UTC',
    'Sun, 31 Feb 1994 08:49:37 GMT',
    'Sun, 06 Foo 1994 08:49:37 GMT',
    'Xyz, 06 Nov 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 24:49:37 GMT',
    'Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT',
  ]) {
    assert.ok(Number.isNaN(parseHttpDate(s)), s);
  }
});
