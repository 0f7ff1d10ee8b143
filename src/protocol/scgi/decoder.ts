/**
 * Incremental SCGI request decoder for the server side (src/backend). SCGI protocol.txt
 * (2008-06-23), semantics.md A.1:
 *
 *        digits          ':'          <len> bytes             ','         CONTENT_LENGTH bytes
 *   +--------+  --->  +-------+  --------------->  +-------+  --->  +------+  ------->  +------+
 *   | LENGTH |        | BLOCK |  headers parsed,   | COMMA |        | BODY |            | DONE |
 *   +--------+        +-------+  validated         +-------+        +------+            +------+
 *                                                       onHeaders on ','     onBody*    onEnd
 *
 * Output, through a handler object (no closure per chunk):
 * - `onHeaders(headers, contentLength)`: every header as a `Param` (latin1 strings), in wire
 *   order, CONTENT_LENGTH and SCGI included; `contentLength` parsed.
 * - `onBody(data)`: body bytes as views of the pushed chunks, never copied, never empty.
 * - `onEnd()`: the body is complete (right after `onHeaders` when CONTENT_LENGTH is 0).
 *
 * Backpressure: the decoder keeps nothing of the body, so a server applies it by pausing its
 * socket when the consumer of `onBody` is full; whatever one chunk holds is delivered at once.
 *
 * Bytes after the body: SCGI carries one request per connection, so more bytes are a framing
 * error (`ERR_SCGI_EXTRA_DATA`, the smuggling class of E12); `extraData: 'ignore'` drops them.
 *
 * Limits, enforced as bytes arrive: the netstring length against `maxHeaderBytes` while its
 * digits come in (so the digit count is bounded too), CONTENT_LENGTH against
 * `maxContentLength`. Errors are thrown from `push` as `ProtocolError`; the decoder then stays
 * failed and throws the same error again.
 */
import { GatewayError, ProtocolError } from '../../errors.ts';
import { FailStopDecoder } from '../fail-stop.ts';
import type { Param } from '../params.ts';

/** Node's direct latin1 binding. */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}

export interface ScgiRequestHandler {
  onHeaders(headers: Param[], contentLength: number): void;
  onBody(data: Buffer): void;
  onEnd(): void;
}

export interface ScgiRequestDecoderOptions {
  /** Largest header block (the netstring's length). Default 64 KiB. */
  readonly maxHeaderBytes?: number;
  /** Largest CONTENT_LENGTH accepted. Default: no limit beyond a safe integer. */
  readonly maxContentLength?: number;
  /** What bytes after the body do: `'error'` (default) or `'ignore'`. */
  readonly extraData?: 'error' | 'ignore';
}

/** 64 KiB: several times any real CGI environment; nginx's own header buffers are smaller. */
export const DEFAULT_SCGI_MAX_HEADER_BYTES = 64 * 1024;

// States (FailStopDecoder starts at 0 and adds FAILED).
const LENGTH = 0;
const BLOCK = 1;
const COMMA = 2;
const BODY = 3;
const DONE = 4;

const DIGITS = /^[0-9]+$/;

function invalid(code: string, message: string): ProtocolError {
  return new ProtocolError(code, message);
}

function checkLimit(name: string, value: number | undefined, fallback: number): number {
  const limit = value ?? fallback;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new GatewayError(
      'ERR_INVALID_OPTION',
      `${name} must be a safe integer >= 0`,
      'gateway',
      500,
      'none',
    );
  }
  return limit;
}

export class ScgiRequestDecoder extends FailStopDecoder {
  private readonly handler: ScgiRequestHandler;
  private readonly maxHeaderBytes: number;
  private readonly maxContentLength: number;
  private readonly ignoreExtra: boolean;
  private digits = 0;
  private blockLength = 0;
  /** The header block when it spans chunks (allocated at its announced, bounded size). */
  private block: Buffer | undefined = undefined;
  private blockFilled = 0;
  private headers: Param[] = [];
  private contentLength = 0;
  private bodyLeft = 0;

  constructor(handler: ScgiRequestHandler, options: ScgiRequestDecoderOptions = {}) {
    super();
    this.handler = handler;
    this.maxHeaderBytes = checkLimit('maxHeaderBytes', options.maxHeaderBytes, DEFAULT_SCGI_MAX_HEADER_BYTES);
    this.maxContentLength = checkLimit('maxContentLength', options.maxContentLength, Number.MAX_SAFE_INTEGER);
    this.ignoreExtra = options.extraData === 'ignore';
  }

  /** True once the whole body was delivered (`onEnd` called). */
  get done(): boolean {
    return this.state === DONE;
  }

  protected decode(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case LENGTH:
          i = this.readLength(chunk, i);
          break;
        case BLOCK: {
          const available = n - i;
          if (this.blockFilled === 0 && available >= this.blockLength) {
            // The whole block is in this chunk: parse it in place.
            this.headers = this.parseBlock(chunk.subarray(i, i + this.blockLength));
            i += this.blockLength;
            this.state = COMMA;
          } else {
            let block = this.block;
            if (block === undefined) block = this.block = Buffer.allocUnsafe(this.blockLength);
            const take = Math.min(this.blockLength - this.blockFilled, available);
            chunk.copy(block, this.blockFilled, i, i + take);
            this.blockFilled += take;
            i += take;
            if (this.blockFilled === this.blockLength) {
              this.headers = this.parseBlock(block);
              this.block = undefined;
              this.state = COMMA;
            }
          }
          break;
        }
        case COMMA: {
          if (chunk[i] !== 0x2c) {
            throw invalid('ERR_SCGI_NETSTRING', 'SCGI header netstring does not end with ","');
          }
          i += 1;
          const headers = this.headers;
          this.headers = [];
          this.bodyLeft = this.contentLength;
          this.state = this.bodyLeft > 0 ? BODY : DONE;
          this.handler.onHeaders(headers, this.contentLength);
          if (this.bodyLeft === 0) this.handler.onEnd();
          break;
        }
        case BODY: {
          const take = Math.min(this.bodyLeft, n - i);
          const data = chunk.subarray(i, i + take);
          i += take;
          this.bodyLeft -= take;
          if (this.bodyLeft === 0) this.state = DONE;
          this.handler.onBody(data);
          if (this.bodyLeft === 0) this.handler.onEnd();
          break;
        }
        case DONE:
          if (this.ignoreExtra) return;
          throw invalid('ERR_SCGI_EXTRA_DATA', `${n - i} bytes after the SCGI request body`);
        default: // FAILED, by a re-entrant push from a handler that caught the error
          throw this.failure;
      }
    }
  }

  /** Reads netstring length digits from `i`; returns the index after what it consumed. */
  private readLength(chunk: Buffer, i: number): number {
    const n = chunk.length;
    while (i < n) {
      const c = chunk[i++]!;
      if (c === 0x3a) {
        if (this.digits === 0) throw invalid('ERR_SCGI_NETSTRING', 'SCGI netstring length is empty');
        this.state = BLOCK;
        if (this.blockLength === 0) {
          this.headers = this.parseBlock(Buffer.alloc(0));
          this.state = COMMA;
        }
        return i;
      }
      if (c < 0x30 || c > 0x39) {
        throw invalid(
          'ERR_SCGI_NETSTRING',
          `SCGI netstring length has a byte 0x${c.toString(16)} that is not a digit`,
        );
      }
      if (this.digits === 1 && this.blockLength === 0) {
        // protocol.txt: a length starts with 0 only when it is "0".
        throw invalid('ERR_SCGI_NETSTRING', 'SCGI netstring length has a leading zero');
      }
      this.blockLength = this.blockLength * 10 + (c - 0x30);
      this.digits += 1;
      if (this.blockLength > this.maxHeaderBytes) {
        throw invalid(
          'ERR_SCGI_HEADERS_TOO_LARGE',
          `SCGI header block exceeds the limit of ${this.maxHeaderBytes} bytes`,
        );
      }
    }
    return i;
  }

  /** Parses and validates a complete header block (the netstring's content). */
  private parseBlock(block: Buffer): Param[] {
    const end = block.length;
    if (end === 0 || block[end - 1] !== 0) {
      throw invalid('ERR_SCGI_HEADERS', 'SCGI header block is empty or does not end with NUL');
    }
    const src = block as Latin1Buffer;
    const headers: Param[] = [];
    const seen = new Set<string>();
    let at = 0;
    while (at < end) {
      // Found: the block's last byte is NUL.
      const nameEnd = src.indexOf(0, at);
      if (nameEnd === at) throw invalid('ERR_SCGI_EMPTY_NAME', `SCGI header at byte ${at} has an empty name`);
      if (nameEnd === end - 1) {
        throw invalid('ERR_SCGI_HEADERS', 'SCGI header block ends with a name that has no value');
      }
      const valueEnd = src.indexOf(0, nameEnd + 1);
      const name = src.latin1Slice(at, nameEnd);
      if (seen.has(name)) {
        throw invalid(
          'ERR_SCGI_DUPLICATE_NAME',
          `SCGI header ${JSON.stringify(name.slice(0, 64))} appears twice`,
        );
      }
      seen.add(name);
      headers.push([name, valueEnd === nameEnd + 1 ? '' : src.latin1Slice(nameEnd + 1, valueEnd)]);
      at = valueEnd + 1;
    }
    this.validate(headers);
    return headers;
  }

  private validate(headers: Param[]): void {
    const first = headers[0];
    if (first === undefined || first[0] !== 'CONTENT_LENGTH') {
      throw invalid('ERR_SCGI_CONTENT_LENGTH', 'the first SCGI header is not CONTENT_LENGTH');
    }
    const value = first[1];
    if (!DIGITS.test(value)) {
      throw invalid(
        'ERR_SCGI_CONTENT_LENGTH',
        `SCGI CONTENT_LENGTH ${JSON.stringify(value.slice(0, 32))} is not a number`,
      );
    }
    // Leading zeros are tolerated (the spec only asks for digits); past 15 significant digits
    // the value may not be exact, so such a length is refused whatever the limit.
    const significant = value.replace(/^0+(?=.)/, '');
    const length = significant.length > 15 ? Number.POSITIVE_INFINITY : Number(significant);
    if (length > this.maxContentLength) {
      throw invalid(
        'ERR_SCGI_BODY_TOO_LARGE',
        `SCGI CONTENT_LENGTH ${significant.slice(0, 32)} exceeds the limit of ${this.maxContentLength}`,
      );
    }
    this.contentLength = length;
    let scgi: string | undefined;
    for (let i = 1; i < headers.length; i++) {
      const header = headers[i]!;
      if (header[0] === 'SCGI') scgi = header[1];
    }
    if (scgi !== '1') {
      throw invalid(
        'ERR_SCGI_VERSION',
        scgi === undefined
          ? 'SCGI header SCGI is missing'
          : `SCGI header SCGI is ${JSON.stringify(scgi)}, expected "1"`,
      );
    }
  }
}
