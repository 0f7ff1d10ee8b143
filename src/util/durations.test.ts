import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DURATION_PATTERN, formatDuration, MAX_TIMER_MS, parseDuration } from './durations.ts';
import { Prng } from './prng.ts';

test('parseDuration reads nginx time notation in milliseconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('60s'), 60_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('1w'), 7 * 86_400_000);
  assert.equal(parseDuration('1M'), 30 * 86_400_000);
  assert.equal(parseDuration('1y'), 365 * 86_400_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1h 30m'), 5_400_000);
  assert.equal(parseDuration('2s500ms'), 2500);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('0s'), 0);
});

test('a bare number is seconds, as in nginx', () => {
  assert.equal(parseDuration('60'), 60_000);
  assert.equal(parseDuration(60), 60_000);
  assert.equal(parseDuration(0), 0);
  // nginx accepts a unitless last component after larger units: 1m30 = 90s.
  assert.equal(parseDuration('1m30'), 90_000);
});

test('parseDuration rejects what nginx rejects', () => {
  const bad = [
    '',
    ' ',
    's',
    '1.5s',
    '-1s',
    '1x',
    '30s1m',
    '1m1m',
    '1ms1s',
    '1 2',
    '1s30',
    '1ms5',
    '1 h m',
    'ms',
  ];
  for (const text of bad) assert.equal(parseDuration(text), undefined, JSON.stringify(text));
  assert.equal(parseDuration(-1), undefined);
  assert.equal(parseDuration(1.5), undefined);
  assert.equal(parseDuration('99999999999999999999s'), undefined);
});

test('formatDuration writes the largest units first', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(500), '500ms');
  assert.equal(formatDuration(60_000), '1m');
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(75_000), '1m15s');
  assert.equal(formatDuration(86_400_000 + 1), '1d1ms');
});

test('MAX_TIMER_MS is the largest delay setTimeout honours', () => {
  assert.equal(MAX_TIMER_MS, 2 ** 31 - 1);
});

test('property: formatDuration round-trips through parseDuration and matches DURATION_PATTERN', () => {
  const prng = new Prng();
  const pattern = new RegExp(DURATION_PATTERN);
  for (let i = 0; i < 2000; i++) {
    const ms = prng.int(0, MAX_TIMER_MS);
    const text = formatDuration(ms);
    assert.ok(pattern.test(text), `seed ${prng.seed}: ${text}`);
    assert.equal(parseDuration(text), ms, `seed ${prng.seed}: ${text}`);
  }
});
