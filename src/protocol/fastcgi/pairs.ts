/**
 * FastCGI name-value pairs (spec section 3.4), the payload of PARAMS and GET_VALUES[_RESULT]:
 *
 *   nameLength  valueLength  nameData  valueData
 *
 * Each length is one byte when <= 127, else four bytes big-endian with the top bit set
 * (so at most 2^31 - 1). Names and values are latin1 strings: one char is one byte.
 */
import { EncodeError, ProtocolError } from '../../errors.ts';
import { isSafeLatin1, writeLatin1 } from '../latin1.ts';
import type { Param } from '../params.ts';

/** Node's direct latin1 slice (what `buf.toString('latin1', s, e)` ends up calling). */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}

/** Largest length the 4-byte form carries. */
const MAX_PAIR_LENGTH = 0x7fffffff;

/** Limits for decoding a PARAMS or GET_VALUES stream. */
export interface PairLimits {
  /** Total encoded bytes of the stream. */
  readonly maxBytes?: number;
  /** Number of pairs. */
  readonly maxPairs?: number;
}

/**
 * 1 MiB of params: 15 times nginx's 64 KiB single-record ceiling (C.3), far above any real
 * CGI environment, small enough that a hostile peer cannot make us hold much.
 */
export const DEFAULT_MAX_PARAMS_BYTES = 1024 * 1024;
/** A CGI environment has tens of variables; 4096 leaves room for header-heavy requests. */
export const DEFAULT_MAX_PARAMS_PAIRS = 4096;

function describe(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

/**
 * The spec says values carry no NUL, and PHP-FPM and most apps hand params to C as
 * NUL-terminated strings: an embedded NUL would cut a value short at the backend while our
 * side saw it whole. Chars above U+00FF cannot be latin1 bytes (latin1.ts).
 */
function checkString(s: string, what: string, name: string): void {
  if (isSafeLatin1(s)) return;
  throw unsafeString(s, what, name);
}

function unsafeString(s: string, what: string, name: string): EncodeError {
  if (s.includes('\0')) {
    return new EncodeError('ERR_FCGI_NUL', `FastCGI param ${what} ${describe(name)} contains a NUL byte`);
  }
  return new EncodeError(
    'ERR_FCGI_NOT_LATIN1',
    `FastCGI param ${what} ${describe(name)} contains a char above U+00FF (strings must be latin1 bytes)`,
  );
}

function emptyName(i: number): EncodeError {
  return new EncodeError('ERR_FCGI_EMPTY_NAME', `FastCGI param #${i} has an empty name`);
}

/** Bytes one length field takes. */
function lengthSize(length: number): number {
  return length > 127 ? 4 : 1;
}

/**
 * Encoded size of `params`, checking every pair: non-empty name, no NUL, latin1 only.
 * Duplicate names are allowed (nginx sends them; PHP keeps the last): the env builder decides.
 */
export function pairsByteLength(params: readonly Param[]): number {
  for (let i = 0; i < params.length; i++) {
    const pair = params[i]!;
    const name = pair[0];
    if (name.length === 0) throw emptyName(i);
    checkString(name, 'name', name);
    checkString(pair[1], 'value of', name);
  }
  return pairsLength(params);
}

/**
 * Encoded size of `params` if every char is one byte, which `writePairs` checks as it writes:
 * the encoders size their output with this and look at each string once.
 */
export function pairsLength(params: readonly Param[]): number {
  let size = 0;
  for (let i = 0; i < params.length; i++) {
    const pair = params[i]!;
    const nameLength = pair[0].length;
    const valueLength = pair[1].length;
    // V8 strings are far shorter than 2^31, so the 4-byte form always fits; checked anyway
    // so a future runtime cannot make us write a wrapped length.
    if (nameLength > MAX_PAIR_LENGTH || valueLength > MAX_PAIR_LENGTH) {
      throw new EncodeError('ERR_FCGI_PARAM_TOO_LARGE', `FastCGI param ${describe(pair[0])} is too long`);
    }
    size += lengthSize(nameLength) + lengthSize(valueLength) + nameLength + valueLength;
  }
  return size;
}

function writeLength(buf: Buffer, offset: number, length: number): number {
  if (length <= 127) {
    buf[offset] = length;
    return offset + 1;
  }
  buf[offset] = (length >>> 24) | 0x80;
  buf[offset + 1] = (length >>> 16) & 0xff;
  buf[offset + 2] = (length >>> 8) & 0xff;
  buf[offset + 3] = length & 0xff;
  return offset + 4;
}

/**
 * Writes `params` at `offset` (the caller sized the space with `pairsLength` or
 * `pairsByteLength`) and returns the offset after them. Checks every pair as it writes it,
 * with the errors of `pairsByteLength`: a bad pair throws with the bytes before it written.
 */
export function writePairs(buf: Buffer, offset: number, params: readonly Param[]): number {
  for (let i = 0; i < params.length; i++) {
    const pair = params[i]!;
    const name = pair[0];
    const value = pair[1];
    if (name.length === 0) throw emptyName(i);
    offset = writeLength(buf, offset, name.length);
    offset = writeLength(buf, offset, value.length);
    const afterName = writeLatin1(buf, offset, name);
    if (afterName === -1) throw unsafeString(name, 'name', name);
    offset = value.length === 0 ? afterName : writeLatin1(buf, afterName, value);
    if (offset === -1) throw unsafeString(value, 'value of', name);
  }
  return offset;
}

/** `params` as one buffer of pairs (no record framing). */
export function encodePairs(params: readonly Param[]): Buffer {
  const size = pairsByteLength(params);
  const buf = Buffer.allocUnsafe(size);
  writePairs(buf, 0, params);
  return buf;
}

function truncated(at: number): ProtocolError {
  return new ProtocolError('ERR_FCGI_PAIR_TRUNCATED', `FastCGI name-value pair truncated at byte ${at}`);
}

/**
 * Decodes a whole PARAMS (or GET_VALUES) stream: the concatenation of the records' contents.
 * Pairs come back in wire order, duplicates kept. A pair cut short, an empty name or a limit
 * exceeded is a `ProtocolError`; nothing is returned half-decoded.
 */
export function decodePairs(data: Buffer, limits: PairLimits = {}): Param[] {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_PARAMS_BYTES;
  const maxPairs = limits.maxPairs ?? DEFAULT_MAX_PARAMS_PAIRS;
  const end = data.length;
  if (end > maxBytes) throw tooLarge(end, maxBytes);
  const src = data as Latin1Buffer;
  const out: Param[] = [];
  let at = 0;
  while (at < end) {
    if (out.length >= maxPairs) {
      throw new ProtocolError('ERR_FCGI_TOO_MANY_PARAMS', `more than ${maxPairs} FastCGI params`);
    }
    const start = at;
    let nameLength = src[at]!;
    if (nameLength > 127) {
      if (end - at < 4) throw truncated(start);
      nameLength = ((nameLength & 0x7f) << 24) | (src[at + 1]! << 16) | (src[at + 2]! << 8) | src[at + 3]!;
      at += 4;
    } else {
      at += 1;
    }
    if (at >= end) throw truncated(start);
    let valueLength = src[at]!;
    if (valueLength > 127) {
      if (end - at < 4) throw truncated(start);
      valueLength = ((valueLength & 0x7f) << 24) | (src[at + 1]! << 16) | (src[at + 2]! << 8) | src[at + 3]!;
      at += 4;
    } else {
      at += 1;
    }
    // Lengths are < 2^31 each, so the sum stays exact in a double.
    if (nameLength + valueLength > end - at) throw truncated(start);
    if (nameLength === 0) {
      throw new ProtocolError(
        'ERR_FCGI_EMPTY_NAME',
        `FastCGI name-value pair at byte ${start} has an empty name`,
      );
    }
    const nameEnd = at + nameLength;
    const valueEnd = nameEnd + valueLength;
    out.push([src.latin1Slice(at, nameEnd), valueLength === 0 ? '' : src.latin1Slice(nameEnd, valueEnd)]);
    at = valueEnd;
  }
  return out;
}

function tooLarge(size: number, maxBytes: number): ProtocolError {
  return new ProtocolError(
    'ERR_FCGI_PARAMS_TOO_LARGE',
    `FastCGI params stream of ${size} bytes exceeds the limit of ${maxBytes}`,
  );
}

/**
 * Collects the pieces of a PARAMS stream as its records arrive, enforcing `maxBytes` on every
 * piece (not at the end), then decodes them once the empty PARAMS record came. Pieces are
 * copied into one buffer that doubles up to `maxBytes`, so the caller's chunks are not kept.
 */
export class PairsCollector {
  private readonly limits: PairLimits;
  private readonly maxBytes: number;
  private buf: Buffer | undefined = undefined;
  private length = 0;

  constructor(limits: PairLimits = {}) {
    this.limits = limits;
    this.maxBytes = limits.maxBytes ?? DEFAULT_MAX_PARAMS_BYTES;
  }

  /** Bytes collected so far. */
  get byteLength(): number {
    return this.length;
  }

  /** Adds a piece of the stream (copied). Throws `ERR_FCGI_PARAMS_TOO_LARGE` past the limit. */
  push(piece: Buffer): void {
    const needed = this.length + piece.length;
    if (needed > this.maxBytes) throw tooLarge(needed, this.maxBytes);
    if (piece.length === 0) return;
    let buf = this.buf;
    if (buf === undefined || buf.length < needed) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxBytes, Math.max(needed, 2 * (buf?.length ?? 512))));
      if (buf !== undefined) buf.copy(grown, 0, 0, this.length);
      this.buf = buf = grown;
    }
    piece.copy(buf, this.length);
    this.length = needed;
  }

  /** Decodes everything collected and empties the collector for the next request. */
  finish(): Param[] {
    const data = this.buf === undefined ? EMPTY : this.buf.subarray(0, this.length);
    this.length = 0;
    // Keep a small buffer for the next request on this connection; drop a big one.
    if (this.buf !== undefined && this.buf.length > 16384) this.buf = undefined;
    return decodePairs(data, this.limits);
  }

  /** Drops what was collected (an aborted request). */
  reset(): void {
    this.length = 0;
    this.buf = undefined;
  }
}

const EMPTY = Buffer.alloc(0);
