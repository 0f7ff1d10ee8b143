import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../errors.ts';
import { Prng } from '../../util/prng.ts';
import { isStreamType, RecordType, Role } from './constants.ts';
import { type FastCgiRecordHandler, FastCgiRecordDecoder } from './decoder.ts';
import {
  encodeBeginRequest,
  encodeEndOfStream,
  encodeEndRequest,
  encodeGetValues,
  encodeParams,
  encodeStream,
} from './encode.ts';

/** One delivered record; stream pieces of the same stream are merged (their split is free). */
interface Event {
  type: number;
  requestId: number;
  content: string;
  /** 'data' for stream pieces, 'end' for an empty stream record, 'record' for the rest. */
  kind: 'data' | 'end' | 'record';
}

class Collector implements FastCgiRecordHandler {
  readonly events: Event[] = [];
  readonly pieces: Buffer[] = [];
  onRecord(type: number, requestId: number, content: Buffer): void {
    if (isStreamType(type)) {
      if (content.length === 0) {
        this.events.push({ type, requestId, content: '', kind: 'end' });
        return;
      }
      this.pieces.push(content);
      const last = this.events.at(-1);
      if (last !== undefined && last.kind === 'data' && last.type === type && last.requestId === requestId) {
        last.content += content.toString('latin1');
      } else {
        this.events.push({ type, requestId, content: content.toString('latin1'), kind: 'data' });
      }
      return;
    }
    // Borrowed content: copy (here, into a string) before returning.
    this.events.push({ type, requestId, content: content.toString('latin1'), kind: 'record' });
  }
}

function decodeAll(pieces: readonly Buffer[]): Event[] {
  const collector = new Collector();
  const decoder = new FastCgiRecordDecoder(collector);
  for (const piece of pieces) decoder.push(piece);
  assert.equal(decoder.atRecordBoundary, true);
  return collector.events;
}

/** A record with an arbitrary padding length (our encoders always pad to 8). */
function record(type: number, requestId: number, content: Buffer, padding: number): Buffer {
  const out = Buffer.alloc(8 + content.length + padding, 0xee);
  out[0] = 1;
  out[1] = type;
  out.writeUInt16BE(requestId, 2);
  out.writeUInt16BE(content.length, 4);
  out[6] = padding;
  out[7] = 0;
  content.copy(out, 8);
  return out;
}

/** A stream with every kind of record, odd paddings included. */
function sampleStream(): Buffer {
  return Buffer.concat([
    encodeBeginRequest(1, Role.RESPONDER, true),
    encodeParams(1, [
      ['SCRIPT_FILENAME', '/srv/index.php'],
      ['QUERY_STRING', 'a=1&b=2'],
      ['HTTP_X_LONG', 'x'.repeat(300)],
    ]),
    record(RecordType.STDIN, 1, Buffer.from('hello '), 255),
    record(RecordType.STDIN, 1, Buffer.from('world'), 3),
    encodeEndOfStream(RecordType.STDIN, 1),
    record(RecordType.STDOUT, 1, Buffer.from('Status: 200 OK\r\n\r\nbody'), 0),
    record(RecordType.STDERR, 1, Buffer.from('warning'), 1),
    record(RecordType.STDERR, 1, Buffer.alloc(0), 7),
    encodeEndOfStream(RecordType.STDOUT, 1),
    encodeEndRequest(1, 0, 0),
    encodeGetValues(['FCGI_MAX_CONNS', 'FCGI_MPXS_CONNS']),
    record(99, 0, Buffer.from('unknown type payload'), 4),
    record(RecordType.ABORT_REQUEST, 2, Buffer.alloc(0), 0),
  ]);
}

describe('FastCgiRecordDecoder', () => {
  it('decodes the byte templates of semantics.md A.2', () => {
    const events = decodeAll([
      Buffer.from('0101000100080000' + '0001000000000000', 'hex'),
      Buffer.from('0101000100080000' + '0001010000000000', 'hex'),
      Buffer.from('0104000100000000', 'hex'),
      Buffer.from('0105000100000000', 'hex'),
      Buffer.from('0106000100000000', 'hex'),
      Buffer.from('0103000100080000' + '0000000000000000', 'hex'),
    ]);
    assert.deepEqual(
      events.map((e) => [e.type, e.requestId, e.kind, Buffer.from(e.content, 'latin1').toString('hex')]),
      [
        [1, 1, 'record', '0001000000000000'],
        [1, 1, 'record', '0001010000000000'],
        [4, 1, 'end', ''],
        [5, 1, 'end', ''],
        [6, 1, 'end', ''],
        [3, 1, 'record', '0000000000000000'],
      ],
    );
  });

  it('gives the same records for every split point of a multi-record stream', () => {
    const stream = sampleStream();
    const whole = decodeAll([stream]);
    assert.equal(whole.length, 13);
    assert.equal(whole[3]?.content, 'hello world');
    for (let cut = 0; cut <= stream.length; cut++) {
      assert.deepEqual(decodeAll([stream.subarray(0, cut), stream.subarray(cut)]), whole, `cut at ${cut}`);
    }
  });

  it('gives the same records fed one byte at a time and in random pieces', () => {
    const stream = sampleStream();
    const whole = decodeAll([stream]);
    const bytes: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
    assert.deepEqual(decodeAll(bytes), whole);
    const prng = new Prng(0xfc61);
    for (let round = 0; round < 300; round++) {
      assert.deepEqual(decodeAll(prng.chunks(stream, 40)), whole, `seed ${prng.seed} round ${round}`);
    }
  });

  it('hands out contiguous content as views of the chunk, split stream content as views too', () => {
    const end = encodeEndRequest(1, 7, 0);
    let seen: Buffer | undefined;
    const decoder = new FastCgiRecordDecoder({
      onRecord: (_type, _id, content) => {
        seen = content;
      },
    });
    decoder.push(end);
    assert.equal(seen?.buffer, end.buffer);
    assert.equal(seen?.byteOffset, end.byteOffset + 8);

    const stdout = encodeStream(RecordType.STDOUT, 1, Buffer.from('abcdefghij'), false);
    const collector = new Collector();
    const streaming = new FastCgiRecordDecoder(collector);
    const a = stdout.subarray(0, 12);
    const b = stdout.subarray(12);
    streaming.push(a);
    streaming.push(b);
    assert.deepEqual(
      collector.pieces.map((p) => [p.toString(), p.buffer === stdout.buffer]),
      [
        ['abcd', true],
        ['efghij', true],
      ],
    );
  });

  it('assembles a discrete record split across chunks into scratch, valid during the call', () => {
    const end = encodeEndRequest(1, 0x01020304, 0);
    const got: string[] = [];
    const decoder = new FastCgiRecordDecoder({
      onRecord: (_type, _id, content) => {
        got.push(content.toString('hex'));
      },
    });
    decoder.push(end.subarray(0, 11));
    assert.deepEqual(got, []);
    decoder.push(end.subarray(11));
    assert.deepEqual(got, ['0102030400000000']);
  });

  it('delivers a discrete record only after its padding (up to 255 bytes) is consumed', () => {
    const rec = record(RecordType.END_REQUEST, 1, Buffer.alloc(8), 255);
    const collector = new Collector();
    const decoder = new FastCgiRecordDecoder(collector);
    decoder.push(rec.subarray(0, rec.length - 1));
    assert.equal(collector.events.length, 0);
    assert.equal(decoder.atRecordBoundary, false);
    decoder.push(rec.subarray(rec.length - 1));
    assert.equal(collector.events.length, 1);
    assert.equal(decoder.atRecordBoundary, true);
  });

  it('reports stray bytes after END_REQUEST through atRecordBoundary', () => {
    const decoder = new FastCgiRecordDecoder(new Collector());
    decoder.push(Buffer.concat([encodeEndRequest(1, 0, 0), Buffer.from([1, 6])]));
    assert.equal(decoder.atRecordBoundary, false);
  });

  it('handles 65535-byte contents and padding 0..7 around them', () => {
    for (const length of [65535, 65534, 65528, 65529, 1, 7, 8, 9]) {
      const data = new Prng(length).bytes(length);
      const stream = Buffer.concat([
        encodeStream(RecordType.STDOUT, 1, data, true),
        record(RecordType.GET_VALUES_RESULT, 0, data, length & 7),
      ]);
      const events = decodeAll(new Prng(length + 1).chunks(stream, 9000));
      assert.equal(events.length, 3);
      assert.equal(events[0]?.content, data.toString('latin1'));
      assert.equal(events[1]?.kind, 'end');
      assert.equal(events[2]?.content, data.toString('latin1'));
    }
  });

  it('rejects a version other than 1 with a ProtocolError and stays failed', () => {
    const decoder = new FastCgiRecordDecoder(new Collector());
    const bad = Buffer.from('0206000100000000', 'hex');
    assert.throws(
      () => decoder.push(bad),
      (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_FCGI_VERSION',
    );
    assert.throws(
      () => decoder.push(encodeEndOfStream(RecordType.STDOUT, 1)),
      (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_FCGI_VERSION',
    );
  });

  it('rejects a version split across chunks', () => {
    const decoder = new FastCgiRecordDecoder(new Collector());
    decoder.push(Buffer.from([0, 6, 0]));
    assert.throws(() => decoder.push(Buffer.from([1, 0, 0, 0, 0])), ProtocolError);
  });

  it('enforces maxDiscreteContent at the header, before buffering content', () => {
    const decoder = new FastCgiRecordDecoder(new Collector(), { maxDiscreteContent: 8 });
    decoder.push(encodeEndRequest(1, 0, 0));
    decoder.push(encodeStream(RecordType.STDOUT, 1, Buffer.alloc(100), false));
    const header = record(RecordType.GET_VALUES_RESULT, 0, Buffer.alloc(16), 0).subarray(0, 8);
    assert.throws(
      () => decoder.push(header),
      (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_FCGI_RECORD_TOO_LARGE',
    );
  });

  it('never throws anything but ProtocolError on random bytes, in random pieces', () => {
    const prng = new Prng(0x5eed1);
    for (let round = 0; round < 5000; round++) {
      const data = prng.bytes(prng.int(0, 200));
      // Bias towards version 1 so that the decoder gets past the first header.
      for (let i = 0; i < data.length; i += prng.int(1, 40)) if (prng.next() < 0.7) data[i] = 1;
      const decoder = new FastCgiRecordDecoder(new Collector(), { maxDiscreteContent: prng.int(0, 65535) });
      try {
        for (const piece of prng.chunks(data, 32)) decoder.push(piece);
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `seed ${prng.seed} round ${round}: ${String(error)}`);
      }
    }
  });

  it('decodes random well-formed record streams whatever the chunking', () => {
    const prng = new Prng(0xabcdef);
    for (let round = 0; round < 300; round++) {
      const records: Buffer[] = [];
      for (let r = prng.int(0, 12); r > 0; r--) {
        records.push(
          record(prng.int(0, 255), prng.int(0, 65535), prng.bytes(prng.int(0, 300)), prng.int(0, 255)),
        );
      }
      const stream = Buffer.concat(records);
      const whole = decodeAll([stream]);
      assert.deepEqual(decodeAll(prng.chunks(stream, 50)), whole, `seed ${prng.seed} round ${round}`);
    }
  });
});
