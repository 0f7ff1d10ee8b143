import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '../util/prng.ts';
import { parseRange, planMultipart } from './range.ts';

const r = (start: number, end: number) => ({ start, end });

test('single ranges: first-last, open end, suffix, clamping', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100, 8), { kind: 'ranges', ranges: [r(0, 9)] });
  assert.deepEqual(parseRange('bytes=90-', 100, 8), { kind: 'ranges', ranges: [r(90, 99)] });
  assert.deepEqual(parseRange('bytes=90-1000', 100, 8), { kind: 'ranges', ranges: [r(90, 99)] });
  assert.deepEqual(parseRange('bytes=-10', 100, 8), { kind: 'ranges', ranges: [r(90, 99)] });
  assert.deepEqual(parseRange('bytes=-1000', 100, 8), { kind: 'ranges', ranges: [r(0, 99)] });
  assert.deepEqual(parseRange('BYTES = 5-5', 100, 8), { kind: 'ranges', ranges: [r(5, 5)] });
  assert.deepEqual(parseRange('bytes=0-99999999999999999999999', 100, 8), {
    kind: 'ranges',
    ranges: [r(0, 99)],
  });
});

test('several ranges keep the order asked; unsatisfiable ones are dropped', () => {
  assert.deepEqual(parseRange('bytes=50-59, 0-9,, 200-300', 100, 8), {
    kind: 'ranges',
    ranges: [r(50, 59), r(0, 9)],
  });
});

test('unsatisfiable: every range starts at or past the end, -0, an empty file', () => {
  assert.deepEqual(parseRange('bytes=100-', 100, 8), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=100-200, 300-', 100, 8), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 100, 8), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=0-0', 0, 8), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-5', 0, 8), { kind: 'unsatisfiable' });
});

test('ignored (whole file): other units, syntax errors, last < first, too many, sum over the size', () => {
  for (const v of [
    'items=0-1',
    'bytes',
    'bytes=',
    'bytes=,',
    'bytes=a-b',
    'bytes=1-a',
    'bytes=--1',
    'bytes=5-3',
    'bytes=0-1;x',
    'bytes=0x1-2',
    'bytes=1 - 2',
    'bytes=+1-2',
  ]) {
    assert.deepEqual(parseRange(v, 100, 8), { kind: 'none' }, v);
  }
  assert.deepEqual(parseRange('bytes=0-0,1-1,2-2', 100, 2), { kind: 'none' });
  // CVE-2011-3192: overlapping ranges adding up to more than the file.
  assert.deepEqual(parseRange('bytes=0-99,0-99', 100, 8), { kind: 'none' });
  assert.deepEqual(parseRange('bytes=0-60,40-99', 100, 8), { kind: 'none' });
});

test('property: random Range values never throw and always give ranges inside the file', () => {
  const prng = new Prng();
  const alphabet = 'bytes=0123456789-, \t;xB';
  for (let n = 0; n < 5000; n++) {
    let v = prng.int(0, 3) === 0 ? '' : 'bytes=';
    const len = prng.int(0, 30);
    for (let i = 0; i < len; i++) v += alphabet[prng.int(0, alphabet.length - 1)];
    const size = prng.int(0, 200);
    const out = parseRange(v, size, 16);
    if (out.kind === 'ranges') {
      let total = 0;
      for (const x of out.ranges) {
        assert.ok(x.start >= 0 && x.start <= x.end && x.end < size, `seed ${prng.seed}: ${v}`);
        total += x.end - x.start + 1;
      }
      assert.ok(total <= size && out.ranges.length <= 16, `seed ${prng.seed}: ${v}`);
    }
  }
});

test('multipart plan: the length is the exact sum of heads, data and tail', () => {
  const plan = planMultipart([r(0, 4), r(10, 19)], 100, 'text/plain', 'B0UND');
  assert.equal(plan.contentType, 'multipart/byteranges; boundary=B0UND');
  assert.equal(
    plan.parts[0]!.head.toString(),
    '\r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/100\r\n\r\n',
  );
  assert.equal(plan.tail.toString(), '\r\n--B0UND--\r\n');
  const heads = plan.parts.reduce((n, p) => n + p.head.length, 0);
  assert.equal(plan.length, heads + 5 + 10 + plan.tail.length);
});
