import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from './prng.ts';
import { formatSize, parseSize, SIZE_PATTERN } from './sizes.ts';

test('parseSize reads nginx size notation', () => {
  assert.equal(parseSize('0'), 0);
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('4k'), 4096);
  assert.equal(parseSize('4K'), 4096);
  assert.equal(parseSize('10m'), 10 * 1024 * 1024);
  assert.equal(parseSize('1g'), 1024 ** 3);
  assert.equal(parseSize('1G'), 1024 ** 3);
  assert.equal(parseSize(8192), 8192);
});

test('parseSize rejects what nginx rejects', () => {
  for (const bad of ['', 'k', '1.5m', '-1', '+1', ' 1k', '1k ', '1 k', '1kb', '1t', '0x10', '1e3']) {
    assert.equal(parseSize(bad), undefined, bad);
  }
  assert.equal(parseSize(-1), undefined);
  assert.equal(parseSize(1.5), undefined);
  assert.equal(parseSize(Number.NaN), undefined);
  assert.equal(parseSize(Number.POSITIVE_INFINITY), undefined);
});

test('parseSize refuses results beyond a safe integer instead of rounding', () => {
  assert.equal(parseSize('99999999999999999999'), undefined);
  assert.equal(parseSize('9999999999g'), undefined);
  assert.equal(parseSize('8388607g'), 8388607 * 1024 ** 3);
});

test('formatSize writes the shortest exact notation', () => {
  assert.equal(formatSize(0), '0');
  assert.equal(formatSize(512), '512');
  assert.equal(formatSize(1536), '1536');
  assert.equal(formatSize(4096), '4k');
  assert.equal(formatSize(1024 * 1024), '1m');
  assert.equal(formatSize(3 * 1024 ** 3), '3g');
});

test('property: formatSize round-trips through parseSize and matches SIZE_PATTERN', () => {
  const prng = new Prng();
  const pattern = new RegExp(SIZE_PATTERN);
  for (let i = 0; i < 2000; i++) {
    const bytes = prng.int(0, 2 ** 20) * [1, 1024, 1024 ** 2][prng.int(0, 2)]!;
    const text = formatSize(bytes);
    assert.ok(pattern.test(text), `seed ${prng.seed}: ${text}`);
    assert.equal(parseSize(text), bytes, `seed ${prng.seed}: ${text}`);
  }
});
