import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../errors.ts';
import { RecordType } from './fastcgi/constants.ts';
import { FastCgiRecordDecoder, type FastCgiRecordHandler } from './fastcgi/decoder.ts';
import { encodeEndRequest, encodeStream } from './fastcgi/encode.ts';
import type { Param } from './params.ts';
import { ScgiRequestDecoder, type ScgiRequestHandler } from './scgi/decoder.ts';

const BAD_VERSION = Buffer.from('0206000100000000', 'hex');
const SCGI_REQUEST = Buffer.from('24:CONTENT_LENGTH\x000\x00SCGI\x001\x00,', 'latin1');

class Records implements FastCgiRecordHandler {
  count = 0;
  onRecord(): void {
    this.count += 1;
  }
}

class Requests implements ScgiRequestHandler {
  ended = 0;
  onHeaders(_headers: Param[]): void {}
  onBody(): void {}
  onEnd(): void {
    this.ended += 1;
  }
}

function caught(fn: () => void): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail('expected a throw');
}

describe('FailStopDecoder (through both decoders)', () => {
  it('throws the very same error on every push after a protocol error, decoding nothing more', () => {
    const records = new Records();
    const decoder = new FastCgiRecordDecoder(records);
    const first = caught(() => decoder.push(BAD_VERSION));
    assert.ok(first instanceof ProtocolError);
    assert.equal(
      caught(() => decoder.push(encodeEndRequest(1, 0, 0))),
      first,
    );
    assert.equal(records.count, 0);
  });

  it('a failed FastCGI decoder is never at a record boundary (its connection is not reusable)', () => {
    const decoder = new FastCgiRecordDecoder(new Records());
    caught(() => decoder.push(BAD_VERSION));
    assert.equal(decoder.atRecordBoundary, false);
  });

  it('a handler throw fails the decoder like a protocol error', () => {
    const boom = new Error('handler');
    const decoder = new FastCgiRecordDecoder({
      onRecord() {
        throw boom;
      },
    });
    assert.equal(
      caught(() => decoder.push(encodeStream(RecordType.STDOUT, 1, Buffer.from('x'), false))),
      boom,
    );
    assert.equal(
      caught(() => decoder.push(encodeEndRequest(1, 0, 0))),
      boom,
    );
  });

  it('a re-entrant push that failed stops the outer push too, even if the handler caught it', () => {
    let inner: unknown;
    const decoder: FastCgiRecordDecoder = new FastCgiRecordDecoder({
      onRecord() {
        inner = caught(() => decoder.push(BAD_VERSION));
      },
    });
    const twoRecords = Buffer.concat([encodeEndRequest(1, 0, 0), encodeEndRequest(1, 0, 0)]);
    assert.equal(
      caught(() => decoder.push(twoRecords)),
      inner,
    );
  });

  it('SCGI: bytes after the body fail the decoder, which then is no longer done', () => {
    const requests = new Requests();
    const decoder = new ScgiRequestDecoder(requests);
    decoder.push(SCGI_REQUEST);
    assert.equal(decoder.done, true);
    const extra = caught(() => decoder.push(Buffer.from('x')));
    assert.ok(extra instanceof ProtocolError && extra.code === 'ERR_SCGI_EXTRA_DATA');
    assert.equal(decoder.done, false);
    assert.equal(
      caught(() => decoder.push(Buffer.from('y'))),
      extra,
    );
    assert.equal(requests.ended, 1);
  });
});
