/**
 * The SCGI request head (SCGI protocol.txt, 2008-06-23; semantics.md A.1): one netstring
 *
 *   <len> ":" "CONTENT_LENGTH" NUL <n> NUL "SCGI" NUL "1" NUL (name NUL value NUL)* ","
 *
 * CONTENT_LENGTH first and SCGI=1 second are written by us, from `contentLength`: a param of
 * either name in the list is skipped, so the announced length is always the one the body is
 * framed by (E12: a CONTENT_LENGTH that differs from the bytes that follow is a smuggling
 * vector) and SCGI appears exactly once.
 */
import { EncodeError } from '../../errors.ts';
import { writeLatin1 } from '../latin1.ts';
import type { Param } from '../params.ts';

const CONTENT_LENGTH_NUL = Buffer.from('CONTENT_LENGTH\0', 'latin1');
const NUL_SCGI_1_NUL = Buffer.from('\0SCGI\x001\0', 'latin1');

/** `CONTENT_LENGTH\0` + `\0` after the value + `SCGI\0` + `1\0`. */
const FIXED_HEADERS_LEN = CONTENT_LENGTH_NUL.length + NUL_SCGI_1_NUL.length;

function copyBytes(buf: Buffer, at: number, bytes: Buffer): number {
  for (let i = 0; i < bytes.length; i++) buf[at + i] = bytes[i]!;
  return at + bytes.length;
}

/**
 * Up to this many headers, a repeated name is found by comparing with the names before it
 * (tens of comparisons of short strings, most decided by their length); past it, by a Set.
 */
const SCAN_LIMIT = 32;

function describe(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

/** The error for a string writeLatin1 refused: a NUL (the header separator) or a non-latin1 char. */
function unsafeString(s: string, what: string, name: string): EncodeError {
  if (s.includes('\0')) {
    return new EncodeError(
      'ERR_SCGI_NUL',
      `SCGI header ${what} ${describe(name)} contains a NUL byte, which SCGI cannot carry`,
    );
  }
  return new EncodeError(
    'ERR_SCGI_NOT_LATIN1',
    `SCGI header ${what} ${describe(name)} contains a char above U+00FF (strings must be latin1 bytes)`,
  );
}

function isOurs(name: string): boolean {
  return name === 'CONTENT_LENGTH' || name === 'SCGI';
}

/** True when a header before `i` (not one the encoder writes itself) is named `name`. */
function seenBefore(params: readonly Param[], i: number, name: string): boolean {
  for (let j = 0; j < i; j++) if (params[j]![0] === name) return true;
  return false;
}

/**
 * Encodes the SCGI head for a body of `contentLength` bytes, in one allocation.
 *
 * `body`, when given, is copied right after the head in the same buffer, so a small request
 * goes out in one socket write. It may be the whole body or its first bytes (the rest is then
 * written after), never more than `contentLength`.
 *
 * Throws `EncodeError`: `ERR_SCGI_CONTENT_LENGTH` (not a safe integer >= 0, or `body` longer
 * than it), `ERR_SCGI_EMPTY_NAME`, `ERR_SCGI_NUL`, `ERR_SCGI_NOT_LATIN1`,
 * `ERR_SCGI_DUPLICATE_NAME` (the spec forbids duplicates; names compare exactly, as CGI
 * variable names are case-sensitive).
 */
export function encodeScgiHead(params: readonly Param[], contentLength: number, body?: Buffer): Buffer {
  if (!Number.isSafeInteger(contentLength) || contentLength < 0) {
    throw new EncodeError(
      'ERR_SCGI_CONTENT_LENGTH',
      `SCGI CONTENT_LENGTH must be an integer >= 0, got ${contentLength}`,
    );
  }
  const bodyLength = body === undefined ? 0 : body.length;
  if (bodyLength > contentLength) {
    throw new EncodeError(
      'ERR_SCGI_CONTENT_LENGTH',
      `SCGI inline body of ${bodyLength} bytes is longer than CONTENT_LENGTH ${contentLength}`,
    );
  }
  const lengthValue = String(contentLength);
  // Sized from the lengths; every string is checked as it is written (chars = bytes then).
  let blockLength = FIXED_HEADERS_LEN + lengthValue.length;
  for (let i = 0; i < params.length; i++) {
    const pair = params[i]!;
    if (!isOurs(pair[0])) blockLength += pair[0].length + pair[1].length + 2;
  }
  const netstringLength = String(blockLength);
  const headLength = netstringLength.length + 1 + blockLength + 1;
  const buf = Buffer.allocUnsafe(headLength + bodyLength);
  // Digits and constants: byte stores, no native calls (latin1.ts says why).
  let at = writeLatin1(buf, 0, netstringLength);
  buf[at++] = 0x3a; // ':'
  at = copyBytes(buf, at, CONTENT_LENGTH_NUL);
  at = writeLatin1(buf, at, lengthValue);
  at = copyBytes(buf, at, NUL_SCGI_1_NUL);
  const seen = params.length > SCAN_LIMIT ? new Set<string>() : undefined;
  for (let i = 0; i < params.length; i++) {
    const pair = params[i]!;
    const name = pair[0];
    if (isOurs(name)) continue;
    const value = pair[1];
    if (name.length === 0) {
      throw new EncodeError('ERR_SCGI_EMPTY_NAME', `SCGI header #${i} has an empty name`);
    }
    at = writeLatin1(buf, at, name);
    if (at === -1) throw unsafeString(name, 'name', name);
    buf[at++] = 0;
    if (value.length > 0) {
      at = writeLatin1(buf, at, value);
      if (at === -1) throw unsafeString(value, 'value of', name);
    }
    buf[at++] = 0;
    // CONTENT_LENGTH and SCGI never reach this test, so a scan may compare with them freely.
    if (seen === undefined ? seenBefore(params, i, name) : seen.has(name)) {
      throw new EncodeError('ERR_SCGI_DUPLICATE_NAME', `SCGI header ${describe(name)} appears twice`);
    }
    seen?.add(name);
  }
  buf[at++] = 0x2c; // ','
  if (body !== undefined && bodyLength > 0) body.copy(buf, at);
  return buf;
}
