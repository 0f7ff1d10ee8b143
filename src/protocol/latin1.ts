/**
 * Writing a CGI name or value into an encoder's output, checked on the way: both protocols
 * carry latin1 bytes (one char = one byte) and neither can carry a NUL (SCGI uses it as the
 * separator; FastCGI backends hand params to C as NUL-terminated strings). A char above U+00FF
 * has no byte to be: writing it would silently keep its low byte.
 *
 * Short strings are copied by a JS loop that checks each char as it copies; longer ones go
 * through Node's latin1 binding after a one-byte-representation test and a memchr for NUL. A
 * native call costs about 40 ns whatever the length, the loop about 8 ns + 1.8 ns a char
 * (bench/profile measurements, Node 24): the loop wins up to about 16 chars, and most names and
 * values of a CGI environment are that short (REQUEST_METHOD, GET, HTTP/1.1, a port).
 */
import { isStringOneByteRepresentation } from 'node:v8';

/** Node's direct latin1 binding (what `buf.write(s, o, 'latin1')` ends up calling). */
interface Latin1Buffer extends Buffer {
  latin1Write(string: string, offset: number, length?: number): number;
}

/** Strings up to this many chars are copied by the JS loop. */
export const SHORT_STRING = 16;

/** A NUL or a char that is not one latin1 byte. */
const UNSAFE = /[\0\u0100-\uffff]/;

/** True when `s` can be written as latin1 bytes without a NUL. */
export function isSafeLatin1(s: string): boolean {
  return isStringOneByteRepresentation(s) ? s.indexOf('\0') === -1 : !UNSAFE.test(s);
}

/**
 * Writes `s` at `at` and returns the offset after it, or -1 (having written some bytes, or
 * none) when `s` holds a NUL or a char above U+00FF. The caller sized `buf` from `s.length`.
 */
export function writeLatin1(buf: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n <= SHORT_STRING) {
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c === 0 || c > 0xff) return -1;
      buf[at + i] = c;
    }
    return at + n;
  }
  if (!isSafeLatin1(s)) return -1;
  return at + (buf as Latin1Buffer).latin1Write(s, at);
}
