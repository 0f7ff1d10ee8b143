import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EncodeError, ProtocolError } from '../../errors.ts';
import { RecordType } from './constants.ts';
import {
  decodeRecordHeader,
  encodeRecordHeader,
  paddingBytes,
  paddingFor,
  streamRecordsSize,
} from './record.ts';

describe('FastCGI record header', () => {
  it('encodes and decodes the 8-byte header, big-endian', () => {
    const h = encodeRecordHeader(RecordType.STDOUT, 0x0102, 0xfffe, 255);
    assert.equal(h.toString('hex'), '01060102fffeff00');
    assert.deepEqual(decodeRecordHeader(Buffer.concat([Buffer.from([9]), h]), 1), {
      version: 1,
      type: 6,
      requestId: 0x0102,
      contentLength: 0xfffe,
      paddingLength: 255,
    });
  });

  it('rejects out-of-range fields and short input with typed errors', () => {
    assert.throws(() => encodeRecordHeader(0, 1, 0, 0), EncodeError);
    assert.throws(() => encodeRecordHeader(6, 65536, 0, 0), EncodeError);
    assert.throws(() => encodeRecordHeader(6, 1, 65536, 0), EncodeError);
    assert.throws(() => encodeRecordHeader(6, 1, 0, 256), EncodeError);
    assert.throws(() => decodeRecordHeader(Buffer.alloc(7)), ProtocolError);
  });

  it('computes padding and stream sizes', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 65535].map(paddingFor), [0, 7, 6, 5, 4, 3, 2, 1, 0, 1]);
    assert.equal(paddingBytes(7).length, 7);
    assert.ok(paddingBytes(255).every((b) => b === 0));
    assert.equal(streamRecordsSize(0), 0);
    assert.equal(streamRecordsSize(1), 16);
    assert.equal(streamRecordsSize(65535), 65544);
    assert.equal(streamRecordsSize(65536), 65544 + 16);
  });
});
