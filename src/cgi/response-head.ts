import { GatewayError, ProtocolError } from '../errors.ts';

/**
 * The CGI response head a backend writes before its body (RFC 3875 section 6), as the gateway
 * receives it: SCGI sends it raw on the socket, FastCGI inside STDOUT records. The parser is
 * fed chunks cut anywhere and answers once the blank line has arrived.
 *
 * Rules, and why (semantics.md C.1.1 is nginx's behaviour; we differ where marked):
 * - Line ends: LF or CRLF. A run of CRs before LF is one line end, as nginx allows (CGI scripts
 *   written on Windows in text mode emit CR CR LF); any other CR is a bare CR -> error, since a
 *   hop that reads a bare CR as a line end would see other headers than we do (RFC 9112 2.2).
 * - NUL anywhere, a control byte other than HTAB in a value, a name byte outside RFC 9110 tchar
 *   -> error: nothing that could split or smuggle a client response gets through (E7).
 * - A line starting with SP/HTAB (obs-fold) -> error: RFC 3875 6.3 says CGI/1.1 has no
 *   continuation lines (nginx rejects it too, as a space in a name).
 * - A line without ':' -> error. nginx passes it on as `Name: `; RFC 3875 6.3 makes the colon
 *   part of every field, and such a line is far more likely body bytes than a header.
 * - A line starting `HTTP/` is ignored like nginx (IIS repeats its status line), but its bytes
 *   are still checked. With `allowStatusLine` (SCGI), a first line starting `HTTP/` must be a
 *   valid status line: nginx re-parses a bad one as a header and then ignores it, turning e.g.
 *   `HTTP/1.1 5000 Oops` into 200 OK; we refuse. Any other first line is parsed as a header from
 *   its first byte. The decision is taken on the complete line only, so no split of the input
 *   can change it (CVE-2026-42946, semantics.md E11).
 * - Status: `Status: NNN [reason]` (RFC 3875 6.3.3), 3 digits, 100..999, then end or SP/HTAB.
 *   A status line beats a `Status` header (nginx SCGI). Else a client `Location` -> 302, a
 *   local one (`/path`, RFC 3875 6.2.2) -> 200 with locationKind 'local' (the gateway decides),
 *   else 200. 1xx other than 101 -> error: a CGI response has exactly one head, so an interim
 *   status would be sent as final and hang the client; 101 stays for SCGI upgrades.
 * - An empty `Status` or `Location` is "not sent" (RFC 3875 6.3: a NULL field value is
 *   equivalent to a field not being sent). Other empty values are kept.
 * - Content-Length: digits only, up to 2^53 - 1; copies with the same value are one (RFC 9110
 *   8.6; nginx refuses any copy), different values -> error. It leaves `headers` for
 *   `contentLength`: the gateway frames the client response itself (E6).
 * - Transfer-Encoding, any value -> error. The body of a CGI response is delimited by its
 *   transport (SCGI EOF, FastCGI end of STDOUT); nginx accepts `chunked` and then forwards the
 *   chunk framing as body bytes, httpd >= 2.4.59 drops the header and does the same. A backend
 *   that frames its own body is speaking HTTP, not CGI, or had a header injected (CVE-2024-24795).
 * - Single-valued fields (SINGLE_VALUED below): the first wins, later copies are dropped, as
 *   nginx does; other names (Set-Cookie, ...) repeat in order.
 * - The head, blank line included, must fit in maxHeaderBytes (nginx buffer_size), checked as
 *   bytes arrive (CVE-2014-3583 was unbounded accumulation; E5).
 */

export interface CgiResponseHeadOptions {
  /** nginx `*_buffer_size`: the whole head, blank line included, must fit. Default 4096. */
  readonly maxHeaderBytes?: number;
  /** SCGI: accept a first line `HTTP/x.y NNN reason` as the status line. False for FastCGI. */
  readonly allowStatusLine?: boolean;
}

export type CgiHeader = [name: string, value: string];

/** RFC 3875 6.2.2 local redirect (`/path`), 6.2.3 client redirect (anything else), or none. */
export type LocationKind = 'none' | 'local' | 'client';

export interface CgiResponseHead {
  readonly status: number;
  /** The reason phrase the backend gave, or undefined for the standard one. */
  readonly reason: string | undefined;
  /** Original case and order, latin1 strings; without Status and Content-Length. */
  readonly headers: CgiHeader[];
  readonly contentLength: number | undefined;
  readonly location: string | undefined;
  readonly locationKind: LocationKind;
  /** Body bytes that came in the same chunk as the end of the head: a view of that chunk. */
  readonly rest: Buffer;
}

/** The stable `code`s of the ProtocolErrors thrown by CgiResponseHeadParser. */
export const CGI_HEAD_ERROR = {
  tooBig: 'ERR_CGI_HEAD_TOO_BIG',
  bareCr: 'ERR_CGI_HEAD_BARE_CR',
  nul: 'ERR_CGI_HEAD_NUL',
  name: 'ERR_CGI_HEAD_NAME',
  value: 'ERR_CGI_HEAD_VALUE',
  obsFold: 'ERR_CGI_HEAD_OBS_FOLD',
  noColon: 'ERR_CGI_HEAD_NO_COLON',
  status: 'ERR_CGI_HEAD_STATUS',
  statusLine: 'ERR_CGI_HEAD_STATUS_LINE',
  informational: 'ERR_CGI_HEAD_INFORMATIONAL',
  contentLength: 'ERR_CGI_HEAD_CONTENT_LENGTH',
  contentLengthConflict: 'ERR_CGI_HEAD_CONTENT_LENGTH_CONFLICT',
  transferEncoding: 'ERR_CGI_HEAD_TRANSFER_ENCODING',
} as const;

/**
 * Response headers that manage one connection and must never reach the client: the gateway
 * frames and manages the client connection itself (RFC 9110 7.6.1, semantics.md E6). Upgrade
 * is listed too: an SCGI 101 tunnel sets its own. Names listed in `Connection` are hop-by-hop
 * as well; the caller handles those.
 */
export const HOP_BY_HOP_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

export function isHopByHopResponseHeader(name: string): boolean {
  return HOP_BY_HOP_RESPONSE_HEADERS.has(name.toLowerCase());
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/** RFC 9110 5.6.2 tchar. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let b = 0x30; b <= 0x39; b++) TOKEN[b] = 1;
for (let b = 0x41; b <= 0x5a; b++) TOKEN[b] = TOKEN[b + 0x20] = 1;

/** Value bytes: HTAB, SP, VCHAR, obs-text (RFC 9110 5.5). */
const VALUE = new Uint8Array(256).fill(1);
for (let b = 0; b < 0x20; b++) VALUE[b] = 0;
VALUE[HT] = 1;
VALUE[0x7f] = 0;

const LOWER = new Uint8Array(256);
for (let b = 0; b < 256; b++) LOWER[b] = b >= 0x41 && b <= 0x5a ? b + 0x20 : b;

const OTHER = 0;
const STATUS = 1;
const LOCATION = 2;
const CONTENT_LENGTH = 3;
const TRANSFER_ENCODING = 4;
/** Ids from here on are single-valued: first wins (nginx's unique headers, plus Last-Modified,
 * Expires and X-Sendfile, whose copies could only disagree). */
const SINGLE_VALUED = (
  'content-type date server etag last-modified expires refresh x-sendfile x-accel-redirect ' +
  'x-accel-expires x-accel-limit-rate x-accel-buffering x-accel-charset'
).split(' ');

interface KnownName {
  readonly bytes: Uint8Array;
  readonly id: number;
}
/** Known names grouped by length, so a name is classified without building a lower-case copy. */
const KNOWN_BY_LENGTH: KnownName[][] = [];
const KNOWN = ['', 'status', 'location', 'content-length', 'transfer-encoding', ...SINGLE_VALUED];
for (const [id, name] of KNOWN.entries()) {
  if (id === OTHER) continue;
  (KNOWN_BY_LENGTH[name.length] ??= []).push({ bytes: Buffer.from(name, 'latin1'), id });
}

function classify(buf: Buffer, start: number, end: number): number {
  const candidates = KNOWN_BY_LENGTH[end - start];
  if (candidates === undefined) return OTHER;
  next: for (const known of candidates) {
    const bytes = known.bytes;
    for (let i = 0; i < bytes.length; i++) if (LOWER[buf[start + i]!] !== bytes[i]) continue next;
    return known.id;
  }
  return OTHER;
}

/** Case-sensitive, as nginx. Bytes compared inline: Buffer#compare is a native call per line. */
function startsWithHttpSlash(buf: Buffer, start: number, end: number): boolean {
  return (
    end - start >= 5 &&
    buf[start] === 0x48 &&
    buf[start + 1] === 0x54 &&
    buf[start + 2] === 0x54 &&
    buf[start + 3] === 0x50 &&
    buf[start + 4] === 0x2f
  );
}

/**
 * `buf.toString('latin1', start, end)` without its argument and encoding dispatch:
 * Buffer.prototype.latin1Slice is what toString calls for latin1 (present in every Node
 * version, undocumented, so reached through a typed view).
 */
type Latin1Sliceable = Buffer & { latin1Slice(start: number, end: number): string };
function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as Latin1Sliceable).latin1Slice(start, end);
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

function threeDigits(buf: Buffer, at: number): number {
  return (buf[at]! - 0x30) * 100 + (buf[at + 1]! - 0x30) * 10 + (buf[at + 2]! - 0x30);
}

/** The line as a log-safe quoted excerpt: printable ASCII kept, every other byte as \xHH. */
function excerpt(buf: Buffer, start: number, end: number): string {
  const stop = Math.min(end, start + 80);
  let out = '"';
  for (let i = start; i < stop; i++) {
    const b = buf[i]!;
    out +=
      b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
        ? String.fromCharCode(b)
        : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}"${stop < end ? '...' : ''}`;
}

/** A caller's mistake, not the backend's: 500, never retried. */
function misuse(code: string, message: string): GatewayError {
  return new GatewayError(code, message, 'gateway', 500, 'none');
}

/** A ProtocolError naming the offending line, for the error log. */
function lineError(code: string, what: string, buf: Buffer, start: number, end: number): ProtocolError {
  return new ProtocolError(code, `upstream sent ${what}: ${excerpt(buf, start, end)}`);
}

/** The error for a byte that may not appear where it is: NUL and CR get their own codes. */
function badByte(buf: Buffer, start: number, end: number, at: number, inName: boolean): ProtocolError {
  const b = buf[at];
  if (b === 0) return lineError(CGI_HEAD_ERROR.nul, 'a NUL byte in header line', buf, start, end);
  if (b === CR) return lineError(CGI_HEAD_ERROR.bareCr, 'a bare CR in header line', buf, start, end);
  if (inName) return lineError(CGI_HEAD_ERROR.name, 'invalid header name', buf, start, end);
  return lineError(CGI_HEAD_ERROR.value, 'a control byte in header line', buf, start, end);
}

function checkValueBytes(buf: Buffer, from: number, to: number, lineStart: number, lineEnd: number): void {
  for (let i = from; i < to; i++) if (VALUE[buf[i]!] === 0) throw badByte(buf, lineStart, lineEnd, i, false);
}

/**
 * Incremental CGI response-head parser. One per exchange (or `reset()` between exchanges).
 *
 *   lines --(blank line)--> done: push() returned the head
 *     \--(any rule broken, or maxHeaderBytes reached)--> ProtocolError thrown
 *
 * Whole lines are parsed straight from the chunk that holds them; only a line cut by a chunk
 * boundary is copied, into one scratch buffer of maxHeaderBytes allocated on first need.
 */
export class CgiResponseHeadParser {
  private readonly maxHeaderBytes: number;
  private readonly allowStatusLine: boolean;
  private scratch: Buffer | undefined;
  private scratchLength = 0;
  /** Head bytes received so far (all of them: the head is not complete yet). */
  private received = 0;
  private lines = 0;
  private done = false;
  private headers: CgiHeader[] = [];
  /** Bit per single-valued id already seen. */
  private seen = 0;
  private status = 0;
  private reason: string | undefined;
  private statusFromLine = false;
  private contentLength: number | undefined;
  private location: string | undefined;

  constructor(options: CgiResponseHeadOptions = {}) {
    const max = options.maxHeaderBytes ?? 4096;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw misuse('ERR_CGI_HEAD_OPTIONS', `maxHeaderBytes must be a positive integer, got ${max}`);
    }
    this.maxHeaderBytes = max;
    this.allowStatusLine = options.allowStatusLine ?? false;
  }

  /** Forget everything but the scratch buffer, to parse another response. */
  reset(): void {
    this.scratchLength = 0;
    this.received = 0;
    this.lines = 0;
    this.done = false;
    this.headers = [];
    this.seen = 0;
    this.status = 0;
    this.reason = undefined;
    this.statusFromLine = false;
    this.contentLength = undefined;
    this.location = undefined;
  }

  /** The head once its blank line is in, else undefined. Throws ProtocolError. */
  push(chunk: Buffer): CgiResponseHead | undefined {
    if (this.done) {
      throw misuse('ERR_CGI_HEAD_DONE', 'push() after the head was complete or failed');
    }
    try {
      return this.parse(chunk);
    } catch (error) {
      // A failed head is final: the exchange is dropped, never resumed mid-line.
      this.done = true;
      throw error;
    }
  }

  private parse(chunk: Buffer): CgiResponseHead | undefined {
    const base = this.received;
    const max = this.maxHeaderBytes;
    let pos = 0;
    if (this.scratchLength > 0) {
      // A line is pending in scratch: complete it first.
      const scratch = this.scratch!;
      const lf = chunk.indexOf(LF);
      if (lf === -1) {
        if (base + chunk.length >= max) throw this.tooBig();
        chunk.copy(scratch, this.scratchLength);
        this.scratchLength += chunk.length;
        this.received = base + chunk.length;
        return undefined;
      }
      if (base + lf + 1 > max) throw this.tooBig();
      chunk.copy(scratch, this.scratchLength, 0, lf);
      const end = this.scratchLength + lf;
      this.scratchLength = 0;
      if (this.line(scratch, 0, end)) return this.finish(chunk, lf + 1);
      pos = lf + 1;
    }
    for (;;) {
      const lf = chunk.indexOf(LF, pos);
      if (lf === -1) break;
      if (base + lf + 1 > max) throw this.tooBig();
      if (this.line(chunk, pos, lf)) return this.finish(chunk, lf + 1);
      pos = lf + 1;
    }
    this.received = base + chunk.length;
    // Incomplete at the limit: the head cannot end within it any more.
    if (this.received >= max) throw this.tooBig();
    if (pos < chunk.length) {
      this.scratch ??= Buffer.allocUnsafe(max);
      chunk.copy(this.scratch, 0, pos);
      this.scratchLength = chunk.length - pos;
    }
    return undefined;
  }

  private tooBig(): ProtocolError {
    return new ProtocolError(
      CGI_HEAD_ERROR.tooBig,
      `upstream sent too big header (more than ${this.maxHeaderBytes} bytes)`,
    );
  }

  /** One line without its LF; true when it is the blank line that ends the head. */
  private line(buf: Buffer, start: number, lf: number): boolean {
    let end = lf;
    while (end > start && buf[end - 1] === CR) end--;
    if (end === start) return true;
    const first = this.lines++ === 0;
    const b0 = buf[start];
    if (b0 === SP || b0 === HT) {
      throw lineError(CGI_HEAD_ERROR.obsFold, 'a folded header line (RFC 3875 6.3)', buf, start, end);
    }
    if (startsWithHttpSlash(buf, start, end)) {
      checkValueBytes(buf, start, end, start, end);
      if (first && this.allowStatusLine) this.statusLine(buf, start, end);
      return false;
    }
    let i = start;
    while (i < end) {
      const b = buf[i]!;
      if (b === COLON) break;
      if (TOKEN[b] === 0) throw badByte(buf, start, end, i, true);
      i++;
    }
    if (i === end) {
      throw lineError(CGI_HEAD_ERROR.noColon, 'a header line without ":"', buf, start, end);
    }
    if (i === start) {
      throw lineError(CGI_HEAD_ERROR.name, 'an empty header name', buf, start, end);
    }
    const nameEnd = i;
    let vs = i + 1;
    while (vs < end && (buf[vs] === SP || buf[vs] === HT)) vs++;
    let ve = end;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
    checkValueBytes(buf, vs, ve, start, end);
    this.field(buf, start, nameEnd, vs, ve, end);
    return false;
  }

  /** `HTTP/D.D NNN[ reason]` (RFC 9112 4), already checked for control bytes. */
  private statusLine(buf: Buffer, start: number, end: number): void {
    const ok =
      end - start >= 12 &&
      isDigit(buf[start + 5]) &&
      buf[start + 6] === 0x2e &&
      isDigit(buf[start + 7]) &&
      buf[start + 8] === SP &&
      isDigit(buf[start + 9]) &&
      isDigit(buf[start + 10]) &&
      isDigit(buf[start + 11]) &&
      buf[start + 9] !== 0x30 &&
      (end - start === 12 || buf[start + 12] === SP);
    if (!ok) {
      throw lineError(CGI_HEAD_ERROR.statusLine, 'invalid status line', buf, start, end);
    }
    this.status = threeDigits(buf, start + 9);
    this.reason = this.reasonAfter(buf, start + 12, end);
    this.statusFromLine = true;
  }

  private reasonAfter(buf: Buffer, from: number, to: number): string | undefined {
    while (from < to && (buf[from] === SP || buf[from] === HT)) from++;
    while (to > from && (buf[to - 1] === SP || buf[to - 1] === HT)) to--;
    return from < to ? latin1(buf, from, to) : undefined;
  }

  private field(buf: Buffer, start: number, nameEnd: number, vs: number, ve: number, end: number): void {
    const id = classify(buf, start, nameEnd);
    if (id === OTHER) {
      this.headers.push([latin1(buf, start, nameEnd), latin1(buf, vs, ve)]);
      return;
    }
    if (id === TRANSFER_ENCODING) {
      const what = '"Transfer-Encoding" (the transport frames a CGI body)';
      throw lineError(CGI_HEAD_ERROR.transferEncoding, what, buf, start, end);
    }
    if (id === CONTENT_LENGTH) {
      this.parseContentLength(buf, vs, ve, start, end);
      return;
    }
    // RFC 3875 6.3: an empty Status or Location is a field not sent.
    if ((id === STATUS || id === LOCATION) && vs === ve) return;
    const bit = 1 << id;
    if ((this.seen & bit) !== 0) return; // nginx: "duplicate header line ... ignored"
    this.seen |= bit;
    if (id === STATUS) {
      if (!this.statusFromLine) this.parseStatus(buf, vs, ve);
      return;
    }
    const value = latin1(buf, vs, ve);
    if (id === LOCATION) this.location = value;
    this.headers.push([latin1(buf, start, nameEnd), value]);
  }

  /** RFC 3875 6.3.3: `Status: NNN [reason]`. */
  private parseStatus(buf: Buffer, vs: number, ve: number): void {
    const ok =
      ve - vs >= 3 &&
      isDigit(buf[vs]) &&
      isDigit(buf[vs + 1]) &&
      isDigit(buf[vs + 2]) &&
      buf[vs] !== 0x30 &&
      (ve - vs === 3 || buf[vs + 3] === SP || buf[vs + 3] === HT);
    if (!ok) {
      throw lineError(CGI_HEAD_ERROR.status, 'invalid status', buf, vs, ve);
    }
    this.status = threeDigits(buf, vs);
    this.reason = this.reasonAfter(buf, vs + 3, ve);
  }

  private parseContentLength(buf: Buffer, vs: number, ve: number, start: number, end: number): void {
    let n = 0;
    for (let i = vs; i < ve; i++) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9 || n > (Number.MAX_SAFE_INTEGER - d) / 10) {
        n = -1;
        break;
      }
      n = n * 10 + d;
    }
    if (n < 0 || vs === ve) {
      throw lineError(CGI_HEAD_ERROR.contentLength, 'invalid "Content-Length" header', buf, start, end);
    }
    if (this.contentLength !== undefined && this.contentLength !== n) {
      throw new ProtocolError(
        CGI_HEAD_ERROR.contentLengthConflict,
        `upstream sent conflicting "Content-Length" headers: ${this.contentLength} and ${n}`,
      );
    }
    this.contentLength = n;
  }

  private finish(chunk: Buffer, at: number): CgiResponseHead {
    const location = this.location;
    let locationKind: LocationKind = 'none';
    if (location !== undefined) {
      // `//host` and `/\host` are network-path references to a browser, never a local path.
      const c1 = location.charCodeAt(1);
      locationKind = location.charCodeAt(0) === 0x2f && c1 !== 0x2f && c1 !== 0x5c ? 'local' : 'client';
    }
    let status = this.status;
    if (status === 0) status = locationKind === 'client' ? 302 : 200;
    if (status < 200 && status !== 101) {
      throw new ProtocolError(
        CGI_HEAD_ERROR.informational,
        `upstream sent informational status ${status} as its final status`,
      );
    }
    this.done = true;
    return {
      status,
      reason: this.reason,
      headers: this.headers,
      contentLength: this.contentLength,
      location,
      locationKind,
      rest: chunk.subarray(at),
    };
  }
}
