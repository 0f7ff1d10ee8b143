/**
 * The 8-byte FastCGI record header (spec section 3.3):
 *
 *   0        1      2..3        4..5             6              7
 *   version  type   requestId   contentLength    paddingLength  reserved
 *
 * All integers big-endian. Senders here pad every record's content to a multiple of 8, as
 * the spec recommends and nginx and PHP-FPM do.
 */
import { EncodeError, ProtocolError } from '../../errors.ts';
import {
  FCGI_HEADER_LEN,
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_MAX_PADDING_LENGTH,
  FCGI_MAX_REQUEST_ID,
  FCGI_VERSION_1,
} from './constants.ts';

/** A decoded record header. */
export interface RecordHeader {
  readonly version: number;
  readonly type: number;
  readonly requestId: number;
  readonly contentLength: number;
  readonly paddingLength: number;
}

/**
 * Shared zero bytes handed out as padding views. Never written to: every view given out is
 * only ever read (a socket write), so one buffer serves every connection.
 */
const ZEROES = Buffer.alloc(FCGI_MAX_PADDING_LENGTH);

/** Padding that brings `contentLength` to a multiple of 8. */
export function paddingFor(contentLength: number): number {
  return -contentLength & 7;
}

/** A read-only view of `length` zero bytes (length <= 255) for writev; do not write into it. */
export function paddingBytes(length: number): Buffer {
  return ZEROES.subarray(0, length);
}

/**
 * Bytes that `payloadLength` stream bytes take once split into records of at most 65535
 * content bytes, each padded to 8 (the end-of-stream record not included).
 */
export function streamRecordsSize(payloadLength: number, recordSize = FCGI_MAX_CONTENT_LENGTH): number {
  const full = Math.floor(payloadLength / recordSize);
  const rest = payloadLength - full * recordSize;
  // A full record: 8 + 65535 + 1 padding byte (or a smaller record size and its padding).
  let size = full * (FCGI_HEADER_LEN + recordSize + paddingFor(recordSize));
  if (rest > 0) size += FCGI_HEADER_LEN + rest + paddingFor(rest);
  return size;
}

/** Throws unless `requestId` fits the 16-bit field (0 allowed only where `allowNull`). */
export function checkRequestId(requestId: number, allowNull: boolean): void {
  if (!Number.isInteger(requestId) || requestId < (allowNull ? 0 : 1) || requestId > FCGI_MAX_REQUEST_ID) {
    throw new EncodeError(
      'ERR_FCGI_REQUEST_ID',
      `FastCGI request id must be an integer in ${allowNull ? 0 : 1}..${FCGI_MAX_REQUEST_ID}, got ${requestId}`,
    );
  }
}

/** Throws unless `type` fits the 8-bit field and is not 0. */
export function checkRecordType(type: number): void {
  if (!Number.isInteger(type) || type < 1 || type > 255) {
    throw new EncodeError('ERR_FCGI_RECORD_TYPE', `FastCGI record type must be in 1..255, got ${type}`);
  }
}

/**
 * Writes a header at `offset` and returns the offset after it. Callers have checked the
 * values: this is the inner loop of every encoder.
 */
export function writeRecordHeader(
  buf: Buffer,
  offset: number,
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): number {
  buf[offset] = FCGI_VERSION_1;
  buf[offset + 1] = type;
  buf[offset + 2] = requestId >>> 8;
  buf[offset + 3] = requestId & 0xff;
  buf[offset + 4] = contentLength >>> 8;
  buf[offset + 5] = contentLength & 0xff;
  buf[offset + 6] = paddingLength;
  buf[offset + 7] = 0;
  return offset + FCGI_HEADER_LEN;
}

/** A standalone 8-byte header, with its arguments checked. */
export function encodeRecordHeader(
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): Buffer {
  checkRecordType(type);
  checkRequestId(requestId, true);
  if (!Number.isInteger(contentLength) || contentLength < 0 || contentLength > FCGI_MAX_CONTENT_LENGTH) {
    throw new EncodeError(
      'ERR_FCGI_RECORD_TOO_LARGE',
      `FastCGI record content must be 0..${FCGI_MAX_CONTENT_LENGTH} bytes, got ${contentLength}`,
    );
  }
  if (!Number.isInteger(paddingLength) || paddingLength < 0 || paddingLength > FCGI_MAX_PADDING_LENGTH) {
    throw new EncodeError(
      'ERR_FCGI_PADDING',
      `FastCGI padding must be 0..${FCGI_MAX_PADDING_LENGTH} bytes, got ${paddingLength}`,
    );
  }
  const buf = Buffer.allocUnsafe(FCGI_HEADER_LEN);
  writeRecordHeader(buf, 0, type, requestId, contentLength, paddingLength);
  return buf;
}

/** Reads the header at `offset`. Checks only that 8 bytes are there; the decoder checks the version. */
export function decodeRecordHeader(buf: Buffer, offset = 0): RecordHeader {
  if (offset < 0 || buf.length - offset < FCGI_HEADER_LEN) {
    throw new ProtocolError('ERR_FCGI_TRUNCATED', `a FastCGI record header needs ${FCGI_HEADER_LEN} bytes`);
  }
  return {
    version: buf[offset]!,
    type: buf[offset + 1]!,
    requestId: (buf[offset + 2]! << 8) | buf[offset + 3]!,
    contentLength: (buf[offset + 4]! << 8) | buf[offset + 5]!,
    paddingLength: buf[offset + 6]!,
  };
}
