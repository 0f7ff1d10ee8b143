import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EncodeError } from '../../errors.ts';
import type { Param } from '../params.ts';
import { Prng } from '../../util/prng.ts';
import { FCGI_MAX_CONTENT_LENGTH, ProtocolStatus, RecordType, Role } from './constants.ts';
import { type FastCgiRecordHandler, FastCgiRecordDecoder } from './decoder.ts';
import {
  encodeAbortRequest,
  encodeBeginRequest,
  encodeEndOfStream,
  encodeEndRequest,
  encodeFastCgiRequestHead,
  encodeGetValues,
  encodeGetValuesResult,
  encodeParams,
  encodeStream,
  encodeUnknownType,
  frameStream,
} from './encode.ts';
import { decodePairs, PairsCollector } from './pairs.ts';
import { decodeRecordHeader } from './record.ts';

const hex = (b: Buffer): string => b.toString('hex');

interface Header {
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
}

/** Walks a buffer of records, checking each header and collecting each record. */
function records(buf: Buffer): { header: Header; content: Buffer }[] {
  const out: { header: Header; content: Buffer }[] = [];
  let at = 0;
  while (at < buf.length) {
    const h = decodeRecordHeader(buf, at);
    assert.equal(h.version, 1);
    assert.equal(buf[at + 7], 0, 'reserved byte');
    const content = buf.subarray(at + 8, at + 8 + h.contentLength);
    const padding = buf.subarray(at + 8 + h.contentLength, at + 8 + h.contentLength + h.paddingLength);
    assert.ok(
      padding.every((b) => b === 0),
      'padding is zero',
    );
    out.push({ header: h, content });
    at += 8 + h.contentLength + h.paddingLength;
  }
  assert.equal(at, buf.length, 'records end exactly at the buffer end');
  return out;
}

/** Checks the framing our encoders promise: <= 65535 content, padded to 8, one empty end. */
function checkStream(buf: Buffer, type: number, requestId: number): Buffer {
  const all = records(buf);
  const last = all.at(-1);
  assert.ok(last !== undefined);
  assert.equal(last.header.contentLength, 0);
  for (const { header } of all) {
    assert.equal(header.type, type);
    assert.equal(header.requestId, requestId);
    assert.ok(header.contentLength <= FCGI_MAX_CONTENT_LENGTH);
    assert.equal((header.contentLength + header.paddingLength) % 8, 0);
    assert.ok(header.paddingLength < 8);
  }
  for (const { header } of all.slice(0, -1))
    assert.ok(header.contentLength > 0, 'only the last record is empty');
  return Buffer.concat(all.map((r) => r.content));
}

/** Params whose encoding is exactly `size` bytes (size >= 3), with a varied tail. */
function paramsOfSize(size: number, prng: Prng): Param[] {
  const params: Param[] = [];
  let left = size;
  while (left > 0) {
    if (left < 300) {
      // One last pair: 1-byte name length, value length 1 or 4 bytes.
      const valueLength = left - 2 - 1 <= 127 ? left - 3 : left - 6;
      params.push(['Z', 'v'.repeat(valueLength)]);
      break;
    }
    const name = `N${params.length}`;
    const valueLength = prng.int(0, 5000);
    const value = String.fromCharCode(...prng.bytes(valueLength).map((b) => (b === 0 ? 1 : b)));
    const cost = 1 + (valueLength > 127 ? 4 : 1) + name.length + valueLength;
    if (cost > left - 3) continue;
    params.push([name, value]);
    left -= cost;
  }
  return params;
}

describe('FastCGI record encoders', () => {
  it('matches the byte templates of semantics.md A.2', () => {
    assert.equal(hex(encodeBeginRequest(1, Role.RESPONDER, false)), '0101000100080000' + '0001000000000000');
    assert.equal(hex(encodeBeginRequest(1, Role.RESPONDER, true)), '0101000100080000' + '0001010000000000');
    assert.equal(hex(encodeEndOfStream(RecordType.PARAMS, 1)), '0104000100000000');
    assert.equal(hex(encodeEndOfStream(RecordType.STDIN, 1)), '0105000100000000');
    assert.equal(hex(encodeEndOfStream(RecordType.STDOUT, 1)), '0106000100000000');
    assert.equal(
      hex(encodeEndRequest(1, 0, ProtocolStatus.REQUEST_COMPLETE)),
      '0103000100080000' + '0000000000000000',
    );
  });

  it('builds the nginx request of semantics.md B.1 byte for byte', () => {
    const params: Param[] = [
      ['REQUEST_URI', '/'],
      ['HTTP_HOST', 'localhost'],
    ];
    const expected =
      '0101000100080000' +
      '0001000000000000' +
      '0104000100220600' +
      `0b01${Buffer.from('REQUEST_URI/').toString('hex')}` +
      `0909${Buffer.from('HTTP_HOSTlocalhost').toString('hex')}` +
      '000000000000' +
      '0104000100000000' +
      '0105000100000000';
    assert.equal(hex(encodeFastCgiRequestHead(1, params, false, Buffer.alloc(0))), expected);
    // Without a body, the head stops after the empty PARAMS.
    assert.equal(hex(encodeFastCgiRequestHead(1, params, false)), expected.slice(0, -16));
    assert.equal(hex(encodeParams(1, params)), expected.slice(32, -16));
  });

  it('writes other roles, request ids and an inline STDIN body', () => {
    const body = Buffer.from('a=1&b=2');
    const head = encodeFastCgiRequestHead(0x1234, [['A', 'b']], true, body, Role.AUTHORIZER);
    const all = records(head);
    assert.deepEqual(
      all.map((r) => [r.header.type, r.header.requestId, r.header.contentLength, r.header.paddingLength]),
      [
        [1, 0x1234, 8, 0],
        [4, 0x1234, 4, 4],
        [4, 0x1234, 0, 0],
        [5, 0x1234, 7, 1],
        [5, 0x1234, 0, 0],
      ],
    );
    assert.equal(hex(all[0]!.content), '0002010000000000');
    assert.equal(all[3]!.content.toString(), 'a=1&b=2');
  });

  it('splits PARAMS of every boundary size into padded records, never truncating', () => {
    const prng = new Prng(42);
    const sizes = [
      0, 3, 8, 9, 15, 16, 65534, 65535, 65536, 65543, 131070, 131071, 131072, 196605, 200_000, 262_147,
    ];
    for (const size of sizes) {
      const params = size === 0 ? [] : paramsOfSize(size, prng);
      const encoded = encodeParams(7, params);
      const stream = checkStream(encoded, RecordType.PARAMS, 7);
      assert.equal(stream.length, size, `size ${size}`);
      assert.deepEqual(decodePairs(stream), params, `size ${size}`);
      const expectedRecords = Math.ceil(size / FCGI_MAX_CONTENT_LENGTH) + 1;
      assert.equal(records(encoded).length, expectedRecords, `records for size ${size}`);
      // The one-buffer head carries the same PARAMS stream.
      const head = encodeFastCgiRequestHead(7, params, false, Buffer.alloc(0));
      assert.equal(hex(head.subarray(16, 16 + encoded.length)), hex(encoded));
    }
  });

  it('decodes 200 KB of params split across records back to the same list', () => {
    const prng = new Prng(200);
    const params: Param[] = [];
    for (let i = 0; i < 400; i++) params.push([`HTTP_X_${i}`, 'v'.repeat(prng.int(0, 1000))]);
    const encoded = encodeParams(1, params);
    assert.ok(encoded.length > 200_000);
    const collector = new PairsCollector();
    let ended = false;
    const handler: FastCgiRecordHandler = {
      onRecord(type, requestId, content) {
        assert.equal(type, RecordType.PARAMS);
        assert.equal(requestId, 1);
        if (content.length === 0) ended = true;
        else collector.push(content);
      },
    };
    const decoder = new FastCgiRecordDecoder(handler);
    for (const piece of prng.chunks(encoded, 5000)) decoder.push(piece);
    assert.ok(ended);
    assert.deepEqual(collector.finish(), params);
  });

  it('pads 1..8 content bytes to a multiple of 8 (padding 7..0)', () => {
    for (let length = 1; length <= 16; length++) {
      const buf = encodeStream(RecordType.STDOUT, 1, Buffer.alloc(length, 0x61), false);
      const [only] = records(buf);
      assert.equal(only?.header.paddingLength, (8 - (length % 8)) % 8);
    }
  });

  it('frames a stream payload without copying it, in records of at most 65535 bytes', () => {
    assert.deepEqual(frameStream(RecordType.STDIN, 1, Buffer.alloc(0)), []);
    for (const length of [1, 8, 65535, 65536, 131070, 131071, 200_000]) {
      const payload = new Prng(length).bytes(length);
      const pieces = frameStream(RecordType.STDIN, 3, payload);
      for (const piece of pieces) {
        if (piece.length > 8) assert.equal(piece.buffer, payload.buffer, 'payload pieces are views');
      }
      const framed = Buffer.concat([...pieces, encodeEndOfStream(RecordType.STDIN, 3)]);
      assert.equal(hex(checkStream(framed, RecordType.STDIN, 3)), hex(payload));
      const copied = encodeStream(RecordType.STDIN, 3, payload, true);
      assert.equal(hex(copied), hex(framed), 'encodeStream writes the same bytes');
    }
  });

  it('frames STDIN in records of at most recordSize bytes (httpd iobuffersize), in the head too', () => {
    const payload = new Prng(7).bytes(5000);
    const pieces = frameStream(RecordType.STDIN, 1, payload, 512);
    const framed = Buffer.concat([...pieces, encodeEndOfStream(RecordType.STDIN, 1)]);
    const lengths = records(framed).map((r) => r.header.contentLength);
    assert.deepEqual(lengths, [...Array<number>(9).fill(512), 392, 0]);
    assert.equal(hex(checkStream(framed, RecordType.STDIN, 1)), hex(payload));
    const head = encodeFastCgiRequestHead(1, [['A', 'b']], false, payload, Role.RESPONDER, 1000);
    const stdin = records(head).filter((r) => r.header.type === RecordType.STDIN);
    assert.deepEqual(
      stdin.map((r) => r.header.contentLength),
      [1000, 1000, 1000, 1000, 1000, 0],
    );
    assert.throws(() => frameStream(RecordType.STDIN, 1, payload, 0), EncodeError);
    assert.throws(() => frameStream(RecordType.STDIN, 1, payload, 65536), EncodeError);
  });

  it('encodes END_REQUEST, ABORT_REQUEST, GET_VALUES, GET_VALUES_RESULT and UNKNOWN_TYPE', () => {
    assert.equal(hex(encodeEndRequest(1, -1, ProtocolStatus.OVERLOADED)), '0103000100080000ffffffff02000000');
    assert.equal(hex(encodeEndRequest(2, 0x01020304, 3)), '01030002000800000102030403000000');
    assert.equal(hex(encodeAbortRequest(1)), '0102000100000000');
    assert.equal(hex(encodeUnknownType(12)), '010b000000080000' + '0c00000000000000');
    const get = encodeGetValues(['FCGI_MAX_CONNS', 'FCGI_MPXS_CONNS']);
    const [getRecord] = records(get);
    assert.deepEqual(getRecord?.header, {
      version: 1,
      type: RecordType.GET_VALUES,
      requestId: 0,
      contentLength: 2 + 14 + 2 + 15,
      paddingLength: 7,
    });
    assert.deepEqual(decodePairs(getRecord.content), [
      ['FCGI_MAX_CONNS', ''],
      ['FCGI_MPXS_CONNS', ''],
    ]);
    const result = encodeGetValuesResult([['FCGI_MPXS_CONNS', '0']]);
    assert.equal(
      hex(result),
      `010a000000120600${Buffer.from('\x0f\x01FCGI_MPXS_CONNS0', 'latin1').toString('hex')}000000000000`,
    );
    assert.throws(
      () => encodeGetValuesResult([['X', 'y'.repeat(65535)]]),
      (e: unknown) => e instanceof EncodeError && e.code === 'ERR_FCGI_RECORD_TOO_LARGE',
    );
  });

  it('rejects what it cannot encode with an EncodeError', () => {
    const rejects = (fn: () => unknown, code: string): void => {
      assert.throws(fn, (e: unknown) => e instanceof EncodeError && e.code === code, code);
    };
    rejects(() => encodeParams(1, [['A\0', 'b']]), 'ERR_FCGI_NUL');
    rejects(() => encodeParams(1, [['A', 'b\0c']]), 'ERR_FCGI_NUL');
    rejects(() => encodeParams(1, [['', 'b']]), 'ERR_FCGI_EMPTY_NAME');
    rejects(() => encodeParams(1, [['A', 'snow\u2603']]), 'ERR_FCGI_NOT_LATIN1');
    rejects(() => encodeFastCgiRequestHead(1, [['A', '\ud83d\ude00']], false), 'ERR_FCGI_NOT_LATIN1');
    rejects(() => encodeParams(0, []), 'ERR_FCGI_REQUEST_ID');
    rejects(() => encodeParams(65536, []), 'ERR_FCGI_REQUEST_ID');
    rejects(() => encodeBeginRequest(1.5, 1, false), 'ERR_FCGI_REQUEST_ID');
    rejects(() => encodeBeginRequest(1, 70000, false), 'ERR_FCGI_ROLE');
    rejects(() => frameStream(RecordType.END_REQUEST, 1, Buffer.alloc(1)), 'ERR_FCGI_RECORD_TYPE');
    rejects(() => encodeEndOfStream(RecordType.BEGIN_REQUEST, 1), 'ERR_FCGI_RECORD_TYPE');
    rejects(() => encodeEndRequest(1, 2 ** 32, 0), 'ERR_FCGI_APP_STATUS');
    rejects(() => encodeEndRequest(1, 0, 256), 'ERR_FCGI_PROTOCOL_STATUS');
    rejects(() => encodeUnknownType(256), 'ERR_FCGI_RECORD_TYPE');
  });

  it('passes every latin1 byte 0x01..0xFF through unchanged', () => {
    let all = '';
    for (let c = 1; c < 256; c++) all += String.fromCharCode(c);
    const encoded = encodeParams(1, [['HTTP_X', all]]);
    const stream = checkStream(encoded, RecordType.PARAMS, 1);
    assert.equal(hex(stream.subarray(0, 5)), '06800000ff');
    assert.deepEqual(decodePairs(stream), [['HTTP_X', all]]);
  });
});
