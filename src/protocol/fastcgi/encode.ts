/**
 * Record builders for both sides of FastCGI: the web server's (BEGIN_REQUEST, PARAMS, STDIN,
 * ABORT_REQUEST, GET_VALUES) and the application's (STDOUT, STDERR, END_REQUEST,
 * GET_VALUES_RESULT, UNKNOWN_TYPE). Every builder sizes its output first and allocates once.
 *
 * Params are never truncated or dropped: a stream of any size is split into records of at
 * most 65535 content bytes, a pair may straddle two records (the stream is a byte stream,
 * spec 3.3). nginx instead fails a request whose params exceed one record (C.3) and httpd
 * skips a variable larger than its record size (A.3); E.1 asks for neither.
 */
import { EncodeError } from '../../errors.ts';
import type { Param } from '../params.ts';
import {
  FCGI_HEADER_LEN,
  FCGI_KEEP_CONN,
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_NULL_REQUEST_ID,
  isStreamType,
  RecordType,
  Role,
} from './constants.ts';
import { pairsByteLength, pairsLength, writePairs } from './pairs.ts';
import {
  checkRecordType,
  checkRequestId,
  paddingBytes,
  paddingFor,
  streamRecordsSize,
  writeRecordHeader,
} from './record.ts';

/** Header + 8-byte body: BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE. */
const FIXED_RECORD_LEN = 2 * FCGI_HEADER_LEN;

/** Header + padding overhead of one full (65535-byte) record: 8 + 1. */
const FULL_RECORD_OVERHEAD = FCGI_HEADER_LEN + paddingFor(FCGI_MAX_CONTENT_LENGTH);

function checkStreamType(type: number): void {
  checkRecordType(type);
  if (!isStreamType(type)) {
    throw new EncodeError('ERR_FCGI_RECORD_TYPE', `FastCGI record type ${type} is not a stream type`);
  }
}

function writeBeginRequest(
  buf: Buffer,
  at: number,
  requestId: number,
  role: number,
  keepConn: boolean,
): number {
  at = writeRecordHeader(buf, at, RecordType.BEGIN_REQUEST, requestId, 8, 0);
  buf[at] = role >>> 8;
  buf[at + 1] = role & 0xff;
  buf[at + 2] = keepConn ? FCGI_KEEP_CONN : 0;
  // Byte stores: buf.fill is a native call, several times the cost of five stores.
  buf[at + 3] = buf[at + 4] = buf[at + 5] = buf[at + 6] = buf[at + 7] = 0;
  return at + 8;
}

/** Writes `padding` (0..7) zero bytes at `at`; returns the offset after them. */
function zeroPadding(buf: Buffer, at: number, padding: number): number {
  for (let i = 0; i < padding; i++) buf[at + i] = 0;
  return at + padding;
}

function checkRecordSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 || size > FCGI_MAX_CONTENT_LENGTH) {
    throw new EncodeError(
      'ERR_FCGI_RECORD_SIZE',
      `FastCGI record size must be an integer in 1..${FCGI_MAX_CONTENT_LENGTH}, got ${size}`,
    );
  }
}

function checkRole(role: number): void {
  if (!Number.isInteger(role) || role < 0 || role > 0xffff) {
    throw new EncodeError('ERR_FCGI_ROLE', `FastCGI role must be an integer in 0..65535, got ${role}`);
  }
}

/**
 * Writes `params` (already sized: `payloadLength` bytes) as records of `type` at `at`, without
 * the end-of-stream record; returns the offset after them.
 *
 * The pairs are written once, contiguously, at a staging offset inside the output, then each
 * record's content is moved down into place (memmove) and its header and padding written in
 * front of and after it. Record i's content lands at at + 8 + 65544 i and comes from
 * staging + 65535 i; with staging = at + 8 + 9 (n - 1), every target lies at or before its
 * source and ends before the next record's source, so no byte is overwritten before it moved,
 * and the staged pairs end inside the records' own space. The common single-record case is
 * written straight in place.
 */
function writePairsStream(
  buf: Buffer,
  at: number,
  type: number,
  requestId: number,
  params: readonly Param[],
  payloadLength: number,
): number {
  if (payloadLength === 0) return at;
  const records = Math.ceil(payloadLength / FCGI_MAX_CONTENT_LENGTH);
  let source = at + FCGI_HEADER_LEN + (records - 1) * FULL_RECORD_OVERHEAD;
  writePairs(buf, source, params);
  let left = payloadLength;
  while (left > 0) {
    const length = left < FCGI_MAX_CONTENT_LENGTH ? left : FCGI_MAX_CONTENT_LENGTH;
    const padding = paddingFor(length);
    const content = at + FCGI_HEADER_LEN;
    if (content !== source) buf.copyWithin(content, source, source + length);
    writeRecordHeader(buf, at, type, requestId, length, padding);
    at = zeroPadding(buf, content + length, padding);
    source += length;
    left -= length;
  }
  return at;
}

/** Copies `data` as records of `type` (at most `recordSize` content bytes each) at `at`, without the end-of-stream record. */
function writeDataStream(
  buf: Buffer,
  at: number,
  type: number,
  requestId: number,
  data: Buffer,
  recordSize = FCGI_MAX_CONTENT_LENGTH,
): number {
  let from = 0;
  while (from < data.length) {
    const length = Math.min(data.length - from, recordSize);
    const padding = paddingFor(length);
    at = writeRecordHeader(buf, at, type, requestId, length, padding);
    at += data.copy(buf, at, from, from + length);
    at = zeroPadding(buf, at, padding);
    from += length;
  }
  return at;
}

/** BEGIN_REQUEST: role and the KEEP_CONN flag. */
export function encodeBeginRequest(requestId: number, role: number, keepConn: boolean): Buffer {
  checkRequestId(requestId, false);
  checkRole(role);
  const buf = Buffer.allocUnsafe(FIXED_RECORD_LEN);
  writeBeginRequest(buf, 0, requestId, role, keepConn);
  return buf;
}

/**
 * The whole PARAMS stream: records of at most 65535 content bytes, each padded to a multiple
 * of 8, then the empty PARAMS record. Throws `EncodeError` for an empty name, a NUL or a
 * non-latin1 char; never truncates.
 */
export function encodeParams(requestId: number, params: readonly Param[]): Buffer {
  checkRequestId(requestId, false);
  const length = pairsLength(params);
  const buf = Buffer.allocUnsafe(streamRecordsSize(length) + FCGI_HEADER_LEN);
  const at = writePairsStream(buf, 0, RecordType.PARAMS, requestId, params, length);
  writeRecordHeader(buf, at, RecordType.PARAMS, requestId, 0, 0);
  return buf;
}

/**
 * A request head in one buffer for one socket write: BEGIN_REQUEST + PARAMS records + empty
 * PARAMS, and, when `body` is given, the whole body as STDIN records + the empty STDIN (an
 * empty `body` gives just the empty STDIN: a request without a body). Without `body` the
 * head ends after the params and the caller streams STDIN with `frameStream` and ends it with
 * `encodeEndOfStream`. `recordSize` bounds the body's STDIN records (httpd's iobuffersize).
 */
export function encodeFastCgiRequestHead(
  requestId: number,
  params: readonly Param[],
  keepConn: boolean,
  body?: Buffer,
  role: number = Role.RESPONDER,
  recordSize: number = FCGI_MAX_CONTENT_LENGTH,
): Buffer {
  checkRequestId(requestId, false);
  checkRole(role);
  checkRecordSize(recordSize);
  const length = pairsLength(params);
  let size = FIXED_RECORD_LEN + streamRecordsSize(length) + FCGI_HEADER_LEN;
  if (body !== undefined) size += streamRecordsSize(body.length, recordSize) + FCGI_HEADER_LEN;
  const buf = Buffer.allocUnsafe(size);
  let at = writeBeginRequest(buf, 0, requestId, role, keepConn);
  at = writePairsStream(buf, at, RecordType.PARAMS, requestId, params, length);
  at = writeRecordHeader(buf, at, RecordType.PARAMS, requestId, 0, 0);
  if (body !== undefined) {
    at = writeDataStream(buf, at, RecordType.STDIN, requestId, body, recordSize);
    writeRecordHeader(buf, at, RecordType.STDIN, requestId, 0, 0);
  }
  return buf;
}

/**
 * Frames `payload` as records of a stream type without copying it: returns [header,
 * payload view, padding?] per record of at most 65535 content bytes, ready for writev (cork +
 * writes). Padding views share one zero buffer. An empty payload gives no pieces at all,
 * never an empty record: that would end the stream (use `encodeEndOfStream`). `recordSize`
 * (1..65535) makes the records smaller (httpd's iobuffersize for STDIN).
 */
export function frameStream(
  type: number,
  requestId: number,
  payload: Buffer,
  recordSize: number = FCGI_MAX_CONTENT_LENGTH,
): Buffer[] {
  checkStreamType(type);
  checkRequestId(requestId, false);
  checkRecordSize(recordSize);
  const out: Buffer[] = [];
  const length = payload.length;
  if (length === 0) return out;
  const records = Math.ceil(length / recordSize);
  // One allocation for all the headers of this payload.
  const headers = Buffer.allocUnsafe(records * FCGI_HEADER_LEN);
  let from = 0;
  for (let i = 0; i < records; i++) {
    const contentLength = Math.min(length - from, recordSize);
    const padding = paddingFor(contentLength);
    const h = i * FCGI_HEADER_LEN;
    writeRecordHeader(headers, h, type, requestId, contentLength, padding);
    out.push(headers.subarray(h, h + FCGI_HEADER_LEN), payload.subarray(from, from + contentLength));
    if (padding > 0) out.push(paddingBytes(padding));
    from += contentLength;
  }
  return out;
}

/**
 * `data` copied into records of a stream type in one buffer, followed by the empty record
 * when `end` is set: for small writes (a response head, a short body) where one buffer beats
 * a writev of three pieces.
 */
export function encodeStream(type: number, requestId: number, data: Buffer, end: boolean): Buffer {
  checkStreamType(type);
  checkRequestId(requestId, false);
  const buf = Buffer.allocUnsafe(streamRecordsSize(data.length) + (end ? FCGI_HEADER_LEN : 0));
  const at = writeDataStream(buf, 0, type, requestId, data);
  if (end) writeRecordHeader(buf, at, type, requestId, 0, 0);
  return buf;
}

/** The empty record that ends a stream (PARAMS, STDIN, STDOUT, STDERR, DATA). */
export function encodeEndOfStream(type: number, requestId: number): Buffer {
  checkStreamType(type);
  checkRequestId(requestId, false);
  const buf = Buffer.allocUnsafe(FCGI_HEADER_LEN);
  writeRecordHeader(buf, 0, type, requestId, 0, 0);
  return buf;
}

/**
 * END_REQUEST. `appStatus` is the CGI exit status, a 32-bit field: negative statuses are
 * written in two's complement.
 */
export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  checkRequestId(requestId, false);
  if (!Number.isInteger(appStatus) || appStatus < -0x80000000 || appStatus > 0xffffffff) {
    throw new EncodeError(
      'ERR_FCGI_APP_STATUS',
      `FastCGI appStatus must be a 32-bit integer, got ${appStatus}`,
    );
  }
  if (!Number.isInteger(protocolStatus) || protocolStatus < 0 || protocolStatus > 255) {
    throw new EncodeError(
      'ERR_FCGI_PROTOCOL_STATUS',
      `FastCGI protocolStatus must be in 0..255, got ${protocolStatus}`,
    );
  }
  const buf = Buffer.allocUnsafe(FIXED_RECORD_LEN);
  const at = writeRecordHeader(buf, 0, RecordType.END_REQUEST, requestId, 8, 0);
  buf.writeUInt32BE(appStatus >>> 0, at);
  buf[at + 4] = protocolStatus;
  buf.fill(0, at + 5, at + 8);
  return buf;
}

/** ABORT_REQUEST: an empty record; the application answers with END_REQUEST. */
export function encodeAbortRequest(requestId: number): Buffer {
  checkRequestId(requestId, false);
  const buf = Buffer.allocUnsafe(FCGI_HEADER_LEN);
  writeRecordHeader(buf, 0, RecordType.ABORT_REQUEST, requestId, 0, 0);
  return buf;
}

/** A management record (request id 0) whose content is `pairs`, in a single record. */
function encodeManagementPairs(type: number, pairs: readonly Param[]): Buffer {
  const length = pairsByteLength(pairs);
  if (length > FCGI_MAX_CONTENT_LENGTH) {
    // Management records are discrete: their content cannot continue in a second record.
    throw new EncodeError(
      'ERR_FCGI_RECORD_TOO_LARGE',
      `FastCGI management record content of ${length} bytes exceeds ${FCGI_MAX_CONTENT_LENGTH}`,
    );
  }
  const padding = paddingFor(length);
  const buf = Buffer.allocUnsafe(FCGI_HEADER_LEN + length + padding);
  let at = writeRecordHeader(buf, 0, type, FCGI_NULL_REQUEST_ID, length, padding);
  at = writePairs(buf, at, pairs);
  buf.fill(0, at, at + padding);
  return buf;
}

/** GET_VALUES: the names asked for, each with an empty value (spec 4.1). */
export function encodeGetValues(names: readonly string[]): Buffer {
  return encodeManagementPairs(
    RecordType.GET_VALUES,
    names.map((name): Param => [name, '']),
  );
}

/** GET_VALUES_RESULT: the names the application knows, with their values. */
export function encodeGetValuesResult(pairs: readonly Param[]): Buffer {
  return encodeManagementPairs(RecordType.GET_VALUES_RESULT, pairs);
}

/** UNKNOWN_TYPE: the answer to a management record type the application does not know. */
export function encodeUnknownType(type: number): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > 255) {
    throw new EncodeError('ERR_FCGI_RECORD_TYPE', `FastCGI record type must be in 0..255, got ${type}`);
  }
  const buf = Buffer.alloc(FIXED_RECORD_LEN);
  const at = writeRecordHeader(buf, 0, RecordType.UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8, 0);
  buf[at] = type;
  return buf;
}
