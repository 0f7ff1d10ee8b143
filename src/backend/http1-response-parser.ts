/**
 * Incremental HTTP/1.1 response parser for the node:http adapter: reads what a private
 * http.Server writes (RFC 9112) and hands back the head and the de-chunked body.
 *
 *   HEAD --1xx (not 101): skipped--> HEAD
 *     |--HEAD request, 204, 304, Content-Length 0--> DONE
 *     |--Transfer-Encoding ending in chunked--> SIZE -> DATA -> DATA_CRLF -> SIZE ... -> TRAILERS -> DONE
 *     |--Content-Length--> LENGTH --n bytes--> DONE
 *     +--neither (or another transfer coding)--> UNTIL_EOF --end()--> DONE
 *
 * The producer is node:http in this process, so the parser is strict and small rather than
 * lenient: anything unexpected is a ProtocolError. Limits: the head (with trailers) within
 * `maxHeadBytes`, a chunk-size line within 1 KiB. Body bytes are views of the pushed chunks.
 */
import { ProtocolError } from '../errors.ts';

export type HeaderPair = [name: string, value: string];

export interface Http1ResponseHandler {
  onHead(status: number, reason: string, headers: HeaderPair[]): void;
  onBody(data: Buffer): void;
  onComplete(): void;
}

const HEAD = 0;
const LENGTH = 1;
const SIZE = 2;
const DATA = 3;
const DATA_CRLF = 4;
const TRAILERS = 5;
const UNTIL_EOF = 6;
const DONE = 7;
const FAILED = 8;

const MAX_SIZE_LINE = 1024;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: (.*))?$/;
const CRLFCRLF = Buffer.from('\r\n\r\n');

function invalid(message: string): ProtocolError {
  return new ProtocolError('ERR_BACKEND_HTTP_RESPONSE', `node:http response: ${message}`);
}

export class Http1ResponseParser {
  private readonly handler: Http1ResponseHandler;
  private readonly maxHeadBytes: number;
  private readonly noBody: boolean;
  private state = HEAD;
  private failure: unknown = undefined;
  /** Head (or trailer) bytes gathered across chunks. */
  private scratch: Buffer;
  private scratchLength = 0;
  private left = 0;
  private sizeLine = '';

  /** `noBody`: the request was HEAD, so the response has no body whatever its headers say. */
  constructor(handler: Http1ResponseHandler, noBody: boolean, maxHeadBytes = 256 * 1024) {
    this.handler = handler;
    this.noBody = noBody;
    this.maxHeadBytes = maxHeadBytes;
    this.scratch = Buffer.allocUnsafe(Math.min(4096, maxHeadBytes));
  }

  get complete(): boolean {
    return this.state === DONE;
  }

  push(chunk: Buffer): void {
    if (this.state === FAILED) throw this.failure;
    try {
      let i = 0;
      while (i < chunk.length && this.state !== DONE) i = this.step(chunk, i);
    } catch (error) {
      this.state = FAILED;
      this.failure = error;
      throw error;
    }
  }

  /** The producer closed: completes a body delimited by EOF, else the response was cut short. */
  end(): void {
    if (this.state === DONE) return;
    if (this.state === UNTIL_EOF) {
      this.state = DONE;
      this.handler.onComplete();
      return;
    }
    if (this.state === FAILED) throw this.failure;
    this.state = FAILED;
    this.failure = invalid('connection closed before the response was complete');
    throw this.failure;
  }

  private step(chunk: Buffer, i: number): number {
    switch (this.state) {
      case HEAD:
      case TRAILERS:
        return this.gatherHead(chunk, i);
      case LENGTH: {
        const take = Math.min(this.left, chunk.length - i);
        this.left -= take;
        this.handler.onBody(chunk.subarray(i, i + take));
        if (this.left === 0) this.finish();
        return i + take;
      }
      case SIZE:
        return this.readSize(chunk, i);
      case DATA: {
        const take = Math.min(this.left, chunk.length - i);
        this.left -= take;
        if (this.left === 0) {
          this.state = DATA_CRLF;
          this.left = 2;
        }
        this.handler.onBody(chunk.subarray(i, i + take));
        return i + take;
      }
      case DATA_CRLF: {
        const expected = this.left === 2 ? 0x0d : 0x0a;
        if (chunk[i] !== expected) throw invalid('chunk data not followed by CRLF');
        if (--this.left === 0) this.state = SIZE;
        return i + 1;
      }
      case UNTIL_EOF:
        this.handler.onBody(i === 0 ? chunk : chunk.subarray(i));
        return chunk.length;
      default:
        // DONE: node wrote nothing after a complete response on a `Connection: close` exchange.
        return chunk.length;
    }
  }

  /** Gathers bytes up to the blank line that ends the head (or the trailers). */
  private gatherHead(chunk: Buffer, i: number): number {
    const before = this.scratchLength;
    const take = Math.min(chunk.length - i, this.maxHeadBytes - before);
    const needed = before + take;
    if (needed > this.scratch.length) {
      const grown = Buffer.allocUnsafe(
        Math.min(this.maxHeadBytes, Math.max(needed, this.scratch.length * 2)),
      );
      this.scratch.copy(grown, 0, 0, before);
      this.scratch = grown;
    }
    chunk.copy(this.scratch, before, i, i + take);
    this.scratchLength = needed;
    const end = this.scratch.subarray(0, needed).indexOf(CRLFCRLF, Math.max(0, before - 3));
    if (end >= 0) return this.headDone(end, i, before);
    if (needed >= this.maxHeadBytes) throw invalid(`head larger than ${this.maxHeadBytes} bytes`);
    return i + take;
  }

  /** The blank line ends at scratch `end + 4`; returns the index in `chunk` after it. */
  private headDone(end: number, i: number, before: number): number {
    const next = i + (end + 4 - before);
    const text = this.scratch.toString('latin1', 0, end);
    this.scratchLength = 0;
    if (this.state === TRAILERS) {
      // Trailer fields have no CGI equivalent: dropped.
      this.finish();
      return next;
    }
    this.parseHead(text);
    return next;
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const match = STATUS_LINE.exec(lines[0] ?? '');
    if (match === null) throw invalid(`bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 64))}`);
    const status = Number(match[1]);
    const headers: HeaderPair[] = [];
    let length: string | undefined;
    let chunked = false;
    let coded = false;
    for (let l = 1; l < lines.length; l++) {
      const line = lines[l]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw invalid('header line without a name');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      const lower = name.toLowerCase();
      if (lower === 'content-length') length = value;
      else if (lower === 'transfer-encoding') {
        coded = true;
        chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      }
      headers.push([name, value]);
    }
    if (status < 200) {
      // 100 Continue, 103 Early Hints: interim, a CGI response has one head. 101 would switch
      // protocols, which a CGI response cannot carry.
      if (status === 101) throw invalid('101 Switching Protocols is not supported');
      return;
    }
    this.handler.onHead(status, match[2] ?? '', headers);
    if (this.noBody || status === 204 || status === 304) {
      this.finish();
    } else if (coded) {
      this.state = chunked ? SIZE : UNTIL_EOF;
      this.sizeLine = '';
    } else if (length !== undefined) {
      if (!/^[0-9]{1,15}$/.test(length)) throw invalid(`bad Content-Length ${JSON.stringify(length)}`);
      this.left = Number(length);
      if (this.left === 0) this.finish();
      else this.state = LENGTH;
    } else {
      this.state = UNTIL_EOF;
    }
  }

  private readSize(chunk: Buffer, i: number): number {
    const lf = chunk.indexOf(0x0a, i);
    const stop = lf < 0 ? chunk.length : lf + 1;
    this.sizeLine += chunk.toString('latin1', i, stop);
    if (this.sizeLine.length > MAX_SIZE_LINE) throw invalid('chunk-size line too long');
    if (lf < 0) return stop;
    const line = this.sizeLine;
    this.sizeLine = '';
    const match = /^([0-9A-Fa-f]{1,13})(?:;[^\r\n]*)?\r\n$/.exec(line);
    if (match === null) throw invalid(`bad chunk-size line ${JSON.stringify(line.slice(0, 32))}`);
    const size = Number.parseInt(match[1]!, 16);
    if (size === 0) {
      this.state = TRAILERS;
      // The last-chunk line's CRLF is the first half of the trailer section's end.
      this.scratch.write('\r\n', 0, 'latin1');
      this.scratchLength = 2;
    } else {
      this.state = DATA;
      this.left = size;
    }
    return stop;
  }

  private finish(): void {
    this.state = DONE;
    this.handler.onComplete();
  }
}
