import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../errors.ts';
import type { Param } from '../params.ts';
import { Prng } from '../../util/prng.ts';
import { decodePairs, encodePairs, PairsCollector, pairsByteLength } from './pairs.ts';

const hex = (b: Buffer): string => b.toString('hex');

function randomLatin1(prng: Prng, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(prng.int(1, 255));
  return s;
}

const isCode =
  (code: string) =>
  (e: unknown): boolean =>
    e instanceof ProtocolError && e.code === code;

describe('FastCGI name-value pairs', () => {
  it('encodes the spec examples of semantics.md A.2', () => {
    assert.equal(
      hex(encodePairs([['SCRIPT_NAME', '/index.php']])),
      `0b0a${Buffer.from('SCRIPT_NAME/index.php').toString('hex')}`,
    );
    const long = encodePairs([['V', 'x'.repeat(200)]]);
    assert.equal(hex(long.subarray(0, 6)), '01800000c8' + '56');
  });

  it('uses the 1-byte length up to 127 and the 4-byte length from 128, for names and values', () => {
    const cases: [number, number, string][] = [
      [127, 127, '7f7f'],
      [128, 127, '800000807f'],
      [127, 128, '7f80000080'],
      [128, 128, '8000008080000080'],
      [1, 0, '0100'],
      [70000, 1, '8001117001'],
    ];
    for (const [nameLength, valueLength, prefix] of cases) {
      const pair: Param = ['n'.repeat(nameLength), 'v'.repeat(valueLength)];
      const buf = encodePairs([pair]);
      assert.equal(buf.length, pairsByteLength([pair]));
      assert.equal(hex(buf.subarray(0, prefix.length / 2)), prefix);
      assert.deepEqual(decodePairs(buf), [pair]);
    }
  });

  it('round-trips random latin1 pairs, duplicates and order kept', () => {
    const prng = new Prng(7);
    for (let round = 0; round < 300; round++) {
      const params: Param[] = [];
      for (let i = prng.int(0, 20); i > 0; i--) {
        params.push([randomLatin1(prng, prng.int(1, 140)), randomLatin1(prng, prng.int(0, 300))]);
      }
      if (params.length > 1 && prng.next() < 0.3) params.push(params[0]!);
      assert.deepEqual(decodePairs(encodePairs(params)), params, `seed ${prng.seed} round ${round}`);
    }
  });

  it('rejects every truncation of a pair with ERR_FCGI_PAIR_TRUNCATED', () => {
    const params: Param[] = [
      ['SHORT', 'v'],
      ['n'.repeat(130), 'w'.repeat(140)],
    ];
    const whole = encodePairs(params);
    const firstEnd = pairsByteLength([params[0]!]);
    for (let cut = 0; cut < whole.length; cut++) {
      const part = whole.subarray(0, cut);
      if (cut === 0) assert.deepEqual(decodePairs(part), []);
      else if (cut === firstEnd) assert.deepEqual(decodePairs(part), [params[0]]);
      else assert.throws(() => decodePairs(part), isCode('ERR_FCGI_PAIR_TRUNCATED'), `cut at ${cut}`);
    }
  });

  it('rejects an empty name and enforces maxBytes and maxPairs', () => {
    assert.throws(() => decodePairs(Buffer.from('000161', 'hex')), isCode('ERR_FCGI_EMPTY_NAME'));
    const three = encodePairs([
      ['A', '1'],
      ['B', '2'],
      ['C', '3'],
    ]);
    assert.equal(decodePairs(three, { maxPairs: 3 }).length, 3);
    assert.throws(() => decodePairs(three, { maxPairs: 2 }), isCode('ERR_FCGI_TOO_MANY_PARAMS'));
    assert.throws(
      () => decodePairs(three, { maxBytes: three.length - 1 }),
      isCode('ERR_FCGI_PARAMS_TOO_LARGE'),
    );
    // A huge announced length fails as truncated, without allocating it.
    assert.throws(() => decodePairs(Buffer.from('017fffffff41', 'hex')), isCode('ERR_FCGI_PAIR_TRUNCATED'));
  });

  it('never throws anything but ProtocolError on random bytes', () => {
    const prng = new Prng(0xbad);
    for (let round = 0; round < 5000; round++) {
      const data = prng.bytes(prng.int(0, 64));
      try {
        decodePairs(data, { maxPairs: prng.int(0, 10), maxBytes: prng.int(0, 80) });
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `seed ${prng.seed} round ${round}: ${String(error)}`);
      }
    }
  });
});

describe('PairsCollector', () => {
  it('collects pieces, decodes once, and is ready for the next request', () => {
    const params: Param[] = [
      ['SCRIPT_FILENAME', '/srv/a.php'],
      ['HTTP_X', 'y'.repeat(3000)],
    ];
    const encoded = encodePairs(params);
    const collector = new PairsCollector();
    for (const piece of new Prng(3).chunks(encoded, 100)) collector.push(piece);
    assert.equal(collector.byteLength, encoded.length);
    assert.deepEqual(collector.finish(), params);
    assert.equal(collector.byteLength, 0);
    collector.push(encodePairs([['A', 'b']]));
    assert.deepEqual(collector.finish(), [['A', 'b']]);
    assert.deepEqual(collector.finish(), []);
  });

  it('copies pieces, so the caller may reuse its buffers', () => {
    const collector = new PairsCollector();
    const piece = encodePairs([['A', 'b']]);
    collector.push(piece);
    piece.fill(0x41);
    assert.deepEqual(collector.finish(), [['A', 'b']]);
  });

  it('enforces maxBytes as pieces arrive', () => {
    const collector = new PairsCollector({ maxBytes: 10 });
    collector.push(Buffer.alloc(6, 1));
    assert.throws(() => collector.push(Buffer.alloc(5, 1)), isCode('ERR_FCGI_PARAMS_TOO_LARGE'));
    collector.reset();
    collector.push(encodePairs([['A', 'b']]));
    assert.deepEqual(collector.finish(), [['A', 'b']]);
  });
});
