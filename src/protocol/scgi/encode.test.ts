import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EncodeError } from '../../errors.ts';
import type { Param } from '../params.ts';
import { encodeScgiHead } from './encode.ts';

const SPEC_HEAD =
  '70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,';
const SPEC_BODY = 'What is the answer to life?';

const rejects = (fn: () => unknown, code: string): void => {
  assert.throws(fn, (e: unknown) => e instanceof EncodeError && e.code === code, code);
};

describe('encodeScgiHead', () => {
  const spec: Param[] = [
    ['REQUEST_METHOD', 'POST'],
    ['REQUEST_URI', '/deepthought'],
  ];

  it('writes the SCGI spec example byte for byte (semantics.md A.1)', () => {
    assert.equal(encodeScgiHead(spec, 27).toString('latin1'), SPEC_HEAD);
  });

  it('puts an inline body after the head in the same buffer', () => {
    const buf = encodeScgiHead(spec, 27, Buffer.from(SPEC_BODY));
    assert.equal(buf.toString('latin1'), SPEC_HEAD + SPEC_BODY);
    // A prefix of the body is allowed; more than CONTENT_LENGTH is not (E12).
    assert.equal(encodeScgiHead(spec, 27, Buffer.from('What')).toString('latin1'), `${SPEC_HEAD}What`);
    rejects(() => encodeScgiHead(spec, 3, Buffer.from('What')), 'ERR_SCGI_CONTENT_LENGTH');
  });

  it('writes the nginx worked example of semantics.md B.1', () => {
    const head = encodeScgiHead(
      [
        ['SCGI', '1'],
        ['REQUEST_URI', '/'],
        ['HTTP_HOST', 'localhost'],
      ],
      0,
    );
    assert.equal(
      head.toString('latin1'),
      '58:CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_URI\x00/\x00HTTP_HOST\x00localhost\x00,',
    );
  });

  it('always writes CONTENT_LENGTH first and SCGI=1 once, skipping params of those names', () => {
    const head = encodeScgiHead(
      [
        ['SCGI', '2'],
        ['CONTENT_LENGTH', '999'],
        ['A', ''],
      ],
      12345,
    );
    assert.equal(head.toString('latin1'), '31:CONTENT_LENGTH\x0012345\x00SCGI\x001\x00A\x00\x00,');
  });

  it('passes latin1 bytes 0x01..0xFF through unchanged', () => {
    let all = '';
    for (let c = 1; c < 256; c++) all += String.fromCharCode(c);
    const head = encodeScgiHead([['HTTP_X', all]], 0);
    const value = head.subarray(head.indexOf('HTTP_X') + 7, head.length - 2);
    assert.equal(value.length, 255);
    for (let i = 0; i < 255; i++) assert.equal(value[i], i + 1);
  });

  it('rejects what SCGI cannot carry with an EncodeError', () => {
    rejects(() => encodeScgiHead([['A\0B', 'x']], 0), 'ERR_SCGI_NUL');
    rejects(() => encodeScgiHead([['A', 'x\0']], 0), 'ERR_SCGI_NUL');
    rejects(() => encodeScgiHead([['', 'x']], 0), 'ERR_SCGI_EMPTY_NAME');
    rejects(
      () =>
        encodeScgiHead(
          [
            ['A', '1'],
            ['A', '2'],
          ],
          0,
        ),
      'ERR_SCGI_DUPLICATE_NAME',
    );
    rejects(() => encodeScgiHead([['A', '\u0100']], 0), 'ERR_SCGI_NOT_LATIN1');
    rejects(() => encodeScgiHead([], -1), 'ERR_SCGI_CONTENT_LENGTH');
    rejects(() => encodeScgiHead([], 1.5), 'ERR_SCGI_CONTENT_LENGTH');
    rejects(() => encodeScgiHead([], Number.NaN), 'ERR_SCGI_CONTENT_LENGTH');
    rejects(() => encodeScgiHead([], 2 ** 53), 'ERR_SCGI_CONTENT_LENGTH');
  });

  it('finds a repeated name among few params (scan) and among many (set)', () => {
    for (const count of [2, 31, 32, 33, 200]) {
      const params: Param[] = [];
      for (let i = 0; i < count; i++) params.push([`HTTP_X_${i}`, String(i)]);
      assert.doesNotThrow(() => encodeScgiHead(params, 0), `${count} distinct names`);
      for (const [first, second] of [
        [0, count - 1],
        [count - 2, count - 1],
      ] as const) {
        const repeated = params.map((p, i): Param => (i === second ? [params[first]![0], 'again'] : p));
        if (first === second) continue;
        rejects(() => encodeScgiHead(repeated, 0), 'ERR_SCGI_DUPLICATE_NAME');
      }
      // CONTENT_LENGTH and SCGI params are skipped, not duplicates of what the encoder writes.
      assert.doesNotThrow(() =>
        encodeScgiHead([['CONTENT_LENGTH', '5'], ['SCGI', '1'], ...params, ['SCGI', '1']], 0),
      );
    }
  });

  it('reports the first bad param, in param order then name, value, repetition', () => {
    rejects(
      () =>
        encodeScgiHead(
          [
            ['A', 'x\0'],
            ['B', '1'],
            ['B', '2'],
          ],
          0,
        ),
      'ERR_SCGI_NUL',
    );
    rejects(
      () =>
        encodeScgiHead(
          [
            ['A', '1'],
            ['A', '\u0100'],
          ],
          0,
        ),
      'ERR_SCGI_NOT_LATIN1',
    );
  });

  it('sizes the netstring length across digit-count boundaries', () => {
    // Block = 23 fixed + 1 digit for "0" + (name + value + 2).
    for (const valueLength of [0, 70, 71, 72, 971, 972, 973, 99_970, 99_971]) {
      const head = encodeScgiHead([['V', 'v'.repeat(valueLength)]], 0);
      const colon = head.indexOf(':');
      const declared = Number(head.toString('latin1', 0, colon));
      assert.equal(declared, head.length - colon - 2, `value length ${valueLength}`);
      assert.equal(head[head.length - 1], 0x2c);
    }
  });
});
