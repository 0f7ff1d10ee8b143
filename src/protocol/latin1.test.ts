import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Prng } from '../util/prng.ts';
import { isSafeLatin1, SHORT_STRING, writeLatin1 } from './latin1.ts';

/** A string of `length` chars: mostly 0x01..0xFF, sometimes a NUL or a char above U+00FF. */
function randomString(prng: Prng, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    const roll = prng.next();
    s += String.fromCharCode(roll < 0.01 ? 0 : roll < 0.02 ? prng.int(0x100, 0xffff) : prng.int(1, 0xff));
  }
  return s;
}

describe('writeLatin1', () => {
  it('writes what Buffer.from(s, "latin1") holds, on both sides of the short-string limit', () => {
    const prng = new Prng(0x1a71);
    const buf = Buffer.alloc(300);
    for (let round = 0; round < 3000; round++) {
      const s = randomString(prng, prng.int(0, SHORT_STRING * 3));
      const at = prng.int(0, 10);
      const end = writeLatin1(buf, at, s);
      const safe = !/[\0\u0100-\uffff]/.test(s);
      assert.equal(isSafeLatin1(s), safe, `seed ${prng.seed} round ${round}`);
      if (!safe) {
        assert.equal(end, -1, `seed ${prng.seed} round ${round}`);
        continue;
      }
      assert.equal(end, at + s.length);
      assert.deepEqual(buf.subarray(at, end), Buffer.from(s, 'latin1'), `seed ${prng.seed} round ${round}`);
    }
  });

  it('refuses a NUL or a two-byte char in the first, middle or last place, short or long', () => {
    const buf = Buffer.alloc(100);
    for (const length of [1, SHORT_STRING, SHORT_STRING + 1, 60]) {
      for (const bad of ['\0', '\u0100', '\ud83d']) {
        for (const place of [0, length >> 1, length - 1]) {
          const s = `${'a'.repeat(place)}${bad}${'a'.repeat(length - place - 1)}`;
          assert.equal(writeLatin1(buf, 0, s), -1, JSON.stringify(s));
        }
      }
    }
  });

  it('writes a cons string (a concatenation) and the empty string', () => {
    const buf = Buffer.alloc(64);
    const left = 'x'.repeat(20);
    const cons = `${left}${String(Date.now() % 10)}`;
    assert.equal(writeLatin1(buf, 2, cons), 2 + cons.length);
    assert.equal(buf.toString('latin1', 2, 2 + cons.length), cons);
    assert.equal(writeLatin1(buf, 5, ''), 5);
  });
});
