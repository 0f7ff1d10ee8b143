/**
 * A minimal streaming multipart/form-data parser (RFC 7578 over RFC 2046 5.1) for the demo's
 * upload page. Small on purpose, safe on purpose: every size is bounded as bytes arrive, and
 * anything it does not understand is a 400, never a guess.
 *
 *   PREAMBLE --delimiter--> AFTER --CRLF--> HEADERS --CRLF CRLF--> BODY --delimiter--> AFTER
 *                              \--"--"--> DONE (the epilogue is ignored)
 *
 * The body of a part is searched for CRLF "--" boundary. A delimiter cut by a chunk boundary
 * is caught by keeping the last (delimiter length - 1) bytes of each chunk back until the next
 * one arrives. Part data is handed out as views of the pushed chunks.
 */
import { ClientRequestError } from '../errors.ts';

export interface MultipartLimits {
  /** Parts (fields and files) in one body. */
  readonly maxParts: number;
  /** Header block of one part. */
  readonly maxPartHeaderBytes: number;
}

export const DEFAULT_MULTIPART_LIMITS: MultipartLimits = { maxParts: 32, maxPartHeaderBytes: 8192 };

export interface PartInfo {
  /** The form field name. */
  readonly name: string;
  /** Set for a file input (possibly empty: a file input left blank). */
  readonly filename: string | undefined;
  readonly contentType: string | undefined;
}

export interface MultipartHandler {
  onPart(part: PartInfo): void;
  onData(data: Buffer): void;
  onPartEnd(): void;
}

const PREAMBLE = 0;
const AFTER = 1;
const HEADERS = 2;
const BODY = 3;
const DONE = 4;

const EMPTY = Buffer.alloc(0);

function bad(message: string): ClientRequestError {
  return new ClientRequestError('ERR_DEMO_MULTIPART', `multipart body: ${message}`, 400);
}

/** The boundary from a Content-Type, or undefined when it is not multipart/form-data. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  // RFC 2046 5.1.1: 1 to 70 characters from a restricted set.
  return boundary !== undefined && /^[0-9A-Za-z'()+_,\-./:=? ]+$/.test(boundary) ? boundary : undefined;
}

/** `form-data; name="field"; filename="a.txt"` -> name and filename (quoted-string unescaped). */
function parseDisposition(value: string): { name: string; filename: string | undefined } {
  if (!/^form-data\s*(;|$)/i.test(value)) throw bad('part without Content-Disposition: form-data');
  const params = new Map<string, string>();
  const re = /;\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    const raw = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    params.set(m[1]!.toLowerCase(), raw);
  }
  const name = params.get('name');
  if (name === undefined) throw bad('part without a name');
  return { name, filename: params.get('filename') };
}

export class MultipartParser {
  private readonly handler: MultipartHandler;
  private readonly limits: MultipartLimits;
  /** CRLF "--" boundary. */
  private readonly delimiter: Buffer;
  private state = PREAMBLE;
  /** Body bytes held back: they may be the start of a delimiter. */
  private carry: Buffer;
  private headerBytes = '';
  private afterBytes = '';
  private parts = 0;

  constructor(
    boundary: string,
    handler: MultipartHandler,
    limits: MultipartLimits = DEFAULT_MULTIPART_LIMITS,
  ) {
    this.handler = handler;
    this.limits = limits;
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    // The first delimiter may open the body without a CRLF before it: pretend there was one.
    this.carry = Buffer.from('\r\n');
  }

  get done(): boolean {
    return this.state === DONE;
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case PREAMBLE:
        case BODY:
          i = this.scanBody(chunk, i);
          break;
        case AFTER:
          i = this.readAfter(chunk, i);
          break;
        case HEADERS:
          i = this.readHeaders(chunk, i);
          break;
        default:
          return; // DONE: the epilogue is ignored (RFC 2046 5.1.1).
      }
    }
  }

  /** The body ended: it must have ended with the close delimiter. */
  end(): void {
    if (this.state !== DONE) throw bad('truncated (no closing boundary)');
  }

  private emit(data: Buffer): void {
    if (this.state === BODY && data.length > 0) this.handler.onData(data);
  }

  private foundDelimiter(): void {
    if (this.state === BODY) this.handler.onPartEnd();
    this.state = AFTER;
    this.afterBytes = '';
  }

  /**
   * Where the longest tail of `buf` that is a beginning of the delimiter starts (`buf.length`
   * when there is none): bytes from there on may be a delimiter cut by the chunk boundary.
   */
  private partialStart(buf: Buffer): number {
    const d = this.delimiter;
    for (let p = Math.max(0, buf.length - (d.length - 1)); p < buf.length; p++) {
      if (buf[p] === d[0] && d.subarray(0, buf.length - p).equals(buf.subarray(p))) return p;
    }
    return buf.length;
  }

  /** Part data up to the next delimiter; returns the index after what was consumed. */
  private scanBody(chunk: Buffer, i: number): number {
    const d = this.delimiter;
    if (this.carry.length > 0) {
      // The held-back bytes begin a delimiter; does this chunk complete it? A delimiter that
      // starts in them ends within the next d.length - 1 bytes.
      const carry = this.carry;
      const window = Buffer.concat([carry, chunk.subarray(i, i + d.length - 1)]);
      const at = window.indexOf(d);
      if (at >= 0) {
        this.emit(window.subarray(0, at));
        this.carry = EMPTY;
        this.foundDelimiter();
        return i + at + d.length - carry.length;
      }
      if (window.length - carry.length < d.length - 1) {
        // The chunk is used up inside the window: hold back what may still begin a delimiter.
        const p = this.partialStart(window);
        this.emit(window.subarray(0, p));
        this.carry = Buffer.from(window.subarray(p));
        return chunk.length;
      }
      this.emit(carry);
      this.carry = EMPTY;
    }
    const at = chunk.indexOf(d, i);
    if (at >= 0) {
      this.emit(chunk.subarray(i, at));
      this.foundDelimiter();
      return at + d.length;
    }
    const p = i + this.partialStart(chunk.subarray(i));
    this.emit(chunk.subarray(i, p));
    this.carry = p < chunk.length ? Buffer.from(chunk.subarray(p)) : EMPTY;
    return chunk.length;
  }

  /** After a delimiter: "--" closes the body, CRLF opens a part. */
  private readAfter(chunk: Buffer, i: number): number {
    this.afterBytes += String.fromCharCode(chunk[i]!);
    if (this.afterBytes.length < 2) return i + 1;
    if (this.afterBytes === '--') {
      this.state = DONE;
    } else if (this.afterBytes === '\r\n') {
      if (++this.parts > this.limits.maxParts) throw bad(`more than ${this.limits.maxParts} parts`);
      this.state = HEADERS;
      this.headerBytes = '';
    } else {
      throw bad('boundary not followed by CRLF or "--"');
    }
    return i + 1;
  }

  /** A part's header block, up to its blank line. */
  private readHeaders(chunk: Buffer, i: number): number {
    const before = this.headerBytes.length;
    const room = this.limits.maxPartHeaderBytes - before;
    this.headerBytes += chunk.toString('latin1', i, Math.min(chunk.length, i + room));
    const end = this.headerBytes.indexOf('\r\n\r\n', Math.max(0, before - 3));
    if (end < 0) {
      if (this.headerBytes.length >= this.limits.maxPartHeaderBytes) {
        throw bad(`part headers over ${this.limits.maxPartHeaderBytes} bytes`);
      }
      return chunk.length;
    }
    let disposition: string | undefined;
    let contentType: string | undefined;
    for (const line of this.headerBytes.slice(0, end).split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw bad('malformed part header');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-disposition') disposition = value;
      else if (name === 'content-type') contentType = value;
    }
    if (disposition === undefined) throw bad('part without Content-Disposition');
    const { name, filename } = parseDisposition(disposition);
    this.state = BODY;
    this.handler.onPart({ name, filename, contentType });
    return i + (end + 4 - before);
  }
}
