import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../errors.ts';
import type { Param } from '../params.ts';
import { Prng } from '../../util/prng.ts';
import { ScgiRequestDecoder, type ScgiRequestDecoderOptions, type ScgiRequestHandler } from './decoder.ts';
import { encodeScgiHead } from './encode.ts';

const SPEC =
  '70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,' +
  'What is the answer to life?';

class Collector implements ScgiRequestHandler {
  headers: Param[] | undefined = undefined;
  contentLength = -1;
  body: Buffer[] = [];
  ended = 0;
  onHeaders(headers: Param[], contentLength: number): void {
    assert.equal(this.headers, undefined, 'onHeaders once');
    this.headers = headers;
    this.contentLength = contentLength;
  }
  onBody(data: Buffer): void {
    assert.ok(data.length > 0, 'no empty body pieces');
    assert.equal(this.ended, 0);
    this.body.push(data);
  }
  onEnd(): void {
    this.ended += 1;
  }
  result(): unknown {
    return {
      headers: this.headers,
      contentLength: this.contentLength,
      body: Buffer.concat(this.body).toString('latin1'),
      ended: this.ended,
    };
  }
}

function decode(pieces: readonly Buffer[], options?: ScgiRequestDecoderOptions): Collector {
  const collector = new Collector();
  const decoder = new ScgiRequestDecoder(collector, options);
  for (const piece of pieces) decoder.push(piece);
  return collector;
}

const isCode =
  (code: string) =>
  (e: unknown): boolean =>
    e instanceof ProtocolError && e.code === code;

function fails(input: string, code: string, options?: ScgiRequestDecoderOptions): void {
  assert.throws(() => decode([Buffer.from(input, 'latin1')], options), isCode(code), JSON.stringify(input));
}

describe('ScgiRequestDecoder', () => {
  it('decodes the SCGI spec example', () => {
    assert.deepEqual(decode([Buffer.from(SPEC, 'latin1')]).result(), {
      headers: [
        ['CONTENT_LENGTH', '27'],
        ['SCGI', '1'],
        ['REQUEST_METHOD', 'POST'],
        ['REQUEST_URI', '/deepthought'],
      ],
      contentLength: 27,
      body: 'What is the answer to life?',
      ended: 1,
    });
  });

  it('gives the same result for every split point and one byte at a time', () => {
    const input = Buffer.from(SPEC, 'latin1');
    const whole = decode([input]).result();
    for (let cut = 0; cut <= input.length; cut++) {
      assert.deepEqual(decode([input.subarray(0, cut), input.subarray(cut)]).result(), whole, `cut ${cut}`);
    }
    const bytes: Buffer[] = [];
    for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
    assert.deepEqual(decode(bytes).result(), whole);
  });

  it('passes the body through as views of the pushed chunks', () => {
    const input = Buffer.from(SPEC, 'latin1');
    const collector = decode([input.subarray(0, 80), input.subarray(80)]);
    assert.equal(collector.body.length, 2);
    for (const piece of collector.body) assert.equal(piece.buffer, input.buffer);
  });

  it('ends at once for CONTENT_LENGTH 0, with an inline body split anywhere otherwise', () => {
    const empty = decode([encodeScgiHead([['A', 'b']], 0)]);
    assert.equal(empty.ended, 1);
    assert.equal(empty.contentLength, 0);
    const prng = new Prng(11);
    for (let round = 0; round < 200; round++) {
      const params: Param[] = [];
      for (let i = prng.int(0, 8); i > 0; i--) {
        params.push([
          `N${i}${String.fromCharCode(prng.int(0x80, 0xff))}`,
          String.fromCharCode(...prng.bytes(prng.int(0, 40)).map((b) => b || 1)),
        ]);
      }
      const body = prng.bytes(prng.int(0, 300));
      const input = encodeScgiHead(params, body.length, body);
      const got = decode(prng.chunks(input, 30));
      assert.deepEqual(got.headers, [['CONTENT_LENGTH', String(body.length)], ['SCGI', '1'], ...params]);
      assert.equal(Buffer.concat(got.body).toString('hex'), body.toString('hex'));
      assert.equal(got.ended, 1);
    }
  });

  it('rejects malformed netstrings', () => {
    fails(':', 'ERR_SCGI_NETSTRING');
    fails('01:', 'ERR_SCGI_NETSTRING');
    fails('1a:', 'ERR_SCGI_NETSTRING');
    fails('-1:', 'ERR_SCGI_NETSTRING');
    fails('0:,', 'ERR_SCGI_HEADERS');
    fails('24:CONTENT_LENGTH\x000\x00SCGI\x001\x00;', 'ERR_SCGI_NETSTRING');
  });

  it('enforces maxHeaderBytes while the length digits arrive', () => {
    const decoder = new ScgiRequestDecoder(new Collector(), { maxHeaderBytes: 100 });
    decoder.push(Buffer.from('10'));
    assert.throws(() => decoder.push(Buffer.from('1')), isCode('ERR_SCGI_HEADERS_TOO_LARGE'));
    // The default limit (64 KiB) also bounds an endless run of digits.
    assert.throws(() => decode([Buffer.alloc(10_000, 0x39)]), isCode('ERR_SCGI_HEADERS_TOO_LARGE'));
  });

  it('rejects invalid header blocks', () => {
    const block = (s: string): string => `${Buffer.byteLength(s, 'latin1')}:${s},`;
    fails(block('CONTENT_LENGTH\x000\x00SCGI\x001'), 'ERR_SCGI_HEADERS');
    fails(block('CONTENT_LENGTH\x000\x00SCGI\x001\x00X\x00'), 'ERR_SCGI_HEADERS');
    fails(block('SCGI\x001\x00CONTENT_LENGTH\x000\x00'), 'ERR_SCGI_CONTENT_LENGTH');
    fails(block('CONTENT_LENGTH\x00\x00SCGI\x001\x00'), 'ERR_SCGI_CONTENT_LENGTH');
    fails(block('CONTENT_LENGTH\x00+1\x00SCGI\x001\x00'), 'ERR_SCGI_CONTENT_LENGTH');
    fails(block('CONTENT_LENGTH\x000\x00'), 'ERR_SCGI_VERSION');
    fails(block('CONTENT_LENGTH\x000\x00SCGI\x002\x00'), 'ERR_SCGI_VERSION');
    fails(block('CONTENT_LENGTH\x000\x00SCGI\x001\x00\x00x\x00'), 'ERR_SCGI_EMPTY_NAME');
    fails(block('CONTENT_LENGTH\x000\x00SCGI\x001\x00A\x00x\x00A\x00y\x00'), 'ERR_SCGI_DUPLICATE_NAME');
    fails(block('CONTENT_LENGTH\x0099999999999999999999\x00SCGI\x001\x00'), 'ERR_SCGI_BODY_TOO_LARGE');
    fails(block('CONTENT_LENGTH\x0011\x00SCGI\x001\x00'), 'ERR_SCGI_BODY_TOO_LARGE', {
      maxContentLength: 10,
    });
    // Leading zeros in CONTENT_LENGTH are tolerated (the spec asks only for digits).
    const ok = decode([Buffer.from(`${block('CONTENT_LENGTH\x00003\x00SCGI\x001\x00')}abc`, 'latin1')]);
    assert.equal(ok.contentLength, 3);
  });

  it('treats bytes after the body as an error, or drops them when told to', () => {
    fails(`${SPEC}X`, 'ERR_SCGI_EXTRA_DATA');
    const input = Buffer.from(`${SPEC}trailing`, 'latin1');
    const collector = new Collector();
    const decoder = new ScgiRequestDecoder(collector, { extraData: 'ignore' });
    decoder.push(input);
    decoder.push(Buffer.from('more'));
    assert.equal(decoder.done, true);
    assert.equal(Buffer.concat(collector.body).toString(), 'What is the answer to life?');
  });

  it('stays failed after an error', () => {
    const decoder = new ScgiRequestDecoder(new Collector());
    assert.throws(() => decoder.push(Buffer.from('x')), isCode('ERR_SCGI_NETSTRING'));
    assert.throws(() => decoder.push(Buffer.from(SPEC, 'latin1')), isCode('ERR_SCGI_NETSTRING'));
  });

  it('never throws anything but ProtocolError on random or mutated input', () => {
    const prng = new Prng(0x5c61);
    const valid = Buffer.from(SPEC, 'latin1');
    for (let round = 0; round < 5000; round++) {
      let input: Buffer;
      if (round % 2 === 0) {
        input = prng.bytes(prng.int(0, 120));
        // Often start with a plausible length so the block parser is reached.
        if (prng.next() < 0.6)
          input = Buffer.concat([Buffer.from(`${input.length}:`), input, Buffer.from(',')]);
      } else {
        input = Buffer.from(valid);
        for (let k = prng.int(1, 4); k > 0; k--) input[prng.int(0, input.length - 1)] = prng.int(0, 255);
      }
      const decoder = new ScgiRequestDecoder(new Collector(), { maxHeaderBytes: prng.int(0, 200) });
      try {
        for (const piece of prng.chunks(input, 16)) decoder.push(piece);
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `seed ${prng.seed} round ${round}: ${String(error)}`);
      }
    }
  });
});
