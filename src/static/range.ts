/**
 * Byte ranges (RFC 9110 14): parse a `Range` field against a representation's length, and lay
 * out a `multipart/byteranges` body (RFC 9110 14.6) so its Content-Length is known up front.
 *
 * Abuse limits, as nginx's range filter applies them (CVE-2011-3192, "Apache Killer": many
 * overlapping ranges multiply the work and the response size):
 * - more ranges than `maxRanges` -> the field is ignored and the whole file is sent
 *   (nginx `max_ranges`);
 * - ranges adding up to more than the file -> the whole file is sent (ngx_http_range_parse
 *   declines when the sum exceeds the content length).
 */

/** One satisfiable range, both ends inclusive. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * - `none`: no usable Range (absent, another unit, malformed, over the limits): send 200;
 * - `unsatisfiable`: 416 with `Content-Range: bytes * /size`;
 * - `ranges`: 206, one range or a multipart body, in the order the client asked.
 */
export type RangeOutcome =
  | { readonly kind: 'none' }
  | { readonly kind: 'unsatisfiable' }
  | { readonly kind: 'ranges'; readonly ranges: readonly ByteRange[] };

const NONE: RangeOutcome = { kind: 'none' };
const UNSATISFIABLE: RangeOutcome = { kind: 'unsatisfiable' };

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Parse `value` (`bytes=0-99, 200-, -50`) for a representation of `size` bytes. Any syntax
 * error voids the whole field (RFC 9110 14.2: a server MAY ignore the Range header field), as
 * does a `last-pos` before its `first-pos` (14.1.1: such a range-set is invalid). Positions too
 * large for a double are compared as Infinity, which is still correct.
 */
export function parseRange(value: string, size: number, maxRanges: number): RangeOutcome {
  const eq = value.indexOf('=');
  if (eq === -1 || value.slice(0, eq).trim().toLowerCase() !== 'bytes') return NONE;
  const specs = value.slice(eq + 1).split(',');
  const ranges: ByteRange[] = [];
  let count = 0;
  let total = 0;
  for (const raw of specs) {
    const spec = raw.trim();
    if (spec === '') continue; // `1#` lists allow empty elements (RFC 9110 5.6.1.2)
    if (++count > maxRanges) return NONE;
    const dash = spec.indexOf('-');
    if (dash === -1) return NONE;
    const first = spec.slice(0, dash);
    const last = spec.slice(dash + 1);
    if (first === '') {
      // suffix-range: the last N bytes; `-0` is unsatisfiable.
      if (!isDigits(last)) return NONE;
      const n = Number(last);
      if (n === 0 || size === 0) continue;
      const start = n >= size ? 0 : size - n;
      ranges.push({ start, end: size - 1 });
      total += size - start;
    } else {
      if (!isDigits(first) || (last !== '' && !isDigits(last))) return NONE;
      const start = Number(first);
      const end = last === '' ? Number.POSITIVE_INFINITY : Number(last);
      if (end < start) return NONE;
      if (start >= size) continue; // unsatisfiable on its own; others may still be served
      const clamped = end >= size ? size - 1 : end;
      ranges.push({ start, end: clamped });
      total += clamped - start + 1;
    }
  }
  if (count === 0) return NONE; // `bytes=` or `bytes=,`: no range-spec at all
  if (ranges.length === 0) return UNSATISFIABLE;
  if (total > size) return NONE;
  return { kind: 'ranges', ranges };
}

/** `bytes a-b/size` */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

/** One part of a multipart/byteranges body: the bytes before its data, and its data range. */
export interface MultipartPart {
  readonly head: Buffer;
  readonly range: ByteRange;
}

export interface MultipartPlan {
  /** The response's Content-Type, with the boundary. */
  readonly contentType: string;
  readonly parts: readonly MultipartPart[];
  /** Written after the last part's data. */
  readonly tail: Buffer;
  /** Exact body length: every head, every range's bytes, the tail. */
  readonly length: number;
}

/**
 * Lay out the multipart body. Each part starts with CRLF so the delimiter is always on a line
 * of its own, as nginx writes it (`CRLF "--" boundary CRLF` + part headers + CRLF); the
 * boundary is random so it cannot occur in a file by the client's design (RFC 2046 5.1.1).
 */
export function planMultipart(
  ranges: readonly ByteRange[],
  size: number,
  partType: string,
  boundary: string,
): MultipartPlan {
  const parts: MultipartPart[] = [];
  let length = 0;
  for (const range of ranges) {
    const head = Buffer.from(
      `\r\n--${boundary}\r\nContent-Type: ${partType}\r\nContent-Range: ${contentRange(range, size)}\r\n\r\n`,
      'latin1',
    );
    parts.push({ head, range });
    length += head.length + (range.end - range.start + 1);
  }
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  length += tail.length;
  return { contentType: `multipart/byteranges; boundary=${boundary}`, parts, tail, length };
}
