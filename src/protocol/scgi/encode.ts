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
import { isStringOneByteRepresentation } from 'node:v8';
import { EncodeError } from '../../errors.ts';
import type { Param } from '../params.ts';

/** Node's direct latin1 binding (what `buf.write(s, o, 'latin1')` ends up calling). */
interface Latin1Buffer extends Buffer {
  latin1Write(string: string, offset: number, length?: number): number;
}

/**
 * A NUL (the header separator: it cannot be represented inside a name or value, E.1) or a
 * char that is not one latin1 byte (writing it would silently keep only its low byte).
 */
const UNSAFE = /[\0\u0100-\uffff]/;

/** `CONTENT_LENGTH\0` + `\0` after the value + `SCGI\0` + `1\0`. */
const FIXED_HEADERS_LEN = 15 + 1 + 7;

function describe(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

function checkString(s: string, what: string, name: string): void {
  // Fast path: a one-byte V8 string holds only chars <= U+00FF, so only NUL needs a look
  // (indexOf is a memchr); the regex runs only on two-byte strings, which are rare here.
  if (isStringOneByteRepresentation(s) ? s.indexOf('\0') === -1 : !UNSAFE.test(s)) return;
  if (s.includes('\0')) {
    throw new EncodeError(
      'ERR_SCGI_NUL',
      `SCGI header ${what} ${describe(name)} contains a NUL byte, which SCGI cannot carry`,
    );
  }
  throw new EncodeError(
    'ERR_SCGI_NOT_LATIN1',
    `SCGI header ${what} ${describe(name)} contains a char above U+00FF (strings must be latin1 bytes)`,
  );
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
  let blockLength = FIXED_HEADERS_LEN + lengthValue.length;
  const seen = new Set<string>();
  for (let i = 0; i < params.length; i++) {
    const pair = params[i]!;
    const name = pair[0];
    if (name === 'CONTENT_LENGTH' || name === 'SCGI') continue;
    const value = pair[1];
    if (name.length === 0) {
      throw new EncodeError('ERR_SCGI_EMPTY_NAME', `SCGI header #${i} has an empty name`);
    }
    checkString(name, 'name', name);
    checkString(value, 'value of', name);
    if (seen.has(name)) {
      throw new EncodeError('ERR_SCGI_DUPLICATE_NAME', `SCGI header ${describe(name)} appears twice`);
    }
    seen.add(name);
    // latin1 was checked, so chars = bytes.
    blockLength += name.length + value.length + 2;
  }
  const netstringLength = String(blockLength);
  const headLength = netstringLength.length + 1 + blockLength + 1;
  const buf = Buffer.allocUnsafe(headLength + bodyLength) as Latin1Buffer;
  let at = buf.latin1Write(netstringLength, 0);
  buf[at++] = 0x3a; // ':'
  at += buf.latin1Write('CONTENT_LENGTH\0', at);
  at += buf.latin1Write(lengthValue, at);
  at += buf.latin1Write('\0SCGI\x001\0', at);
  for (let i = 0; i < params.length; i++) {
    const pair = params[i]!;
    const name = pair[0];
    if (name === 'CONTENT_LENGTH' || name === 'SCGI') continue;
    const value = pair[1];
    at += buf.latin1Write(name, at);
    buf[at++] = 0;
    if (value.length > 0) at += buf.latin1Write(value, at);
    buf[at++] = 0;
  }
  buf[at++] = 0x2c; // ','
  if (body !== undefined && bodyLength > 0) body.copy(buf, at);
  return buf;
}
