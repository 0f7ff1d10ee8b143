/**
 * Incremental FastCGI record decoder, shared by the gateway (STDOUT, STDERR, END_REQUEST in)
 * and the backend library (BEGIN_REQUEST, PARAMS, STDIN, ... in). Records may be cut at any
 * byte: inside the header, the content or the padding.
 *
 *   HEADER --(8 bytes, version 1)--> CONTENT --(contentLength bytes)--> PADDING
 *     ^                                                                    |
 *     +-----------------------(paddingLength bytes)------------------------+
 *   (a state with nothing to read is skipped; a whole record is delivered on the way back)
 *
 * Delivery (`FastCgiRecordHandler.onRecord`):
 * - Stream records (PARAMS, STDIN, STDOUT, STDERR, DATA) with content: each piece as soon as
 *   it arrives, as a view of the pushed chunk (never copied, never empty; the caller may keep
 *   it). A record cut across chunks gives several pieces: the stream's value is the
 *   concatenation of contents whatever the record boundaries (spec 3.3).
 * - The empty stream record (end of stream): once, with an empty `content`, after its padding.
 * - Every other record (BEGIN_REQUEST, END_REQUEST, ABORT_REQUEST, management, unknown types):
 *   once, whole, after its padding (so END_REQUEST means the record was fully consumed, the
 *   condition for connection reuse in E13). Its content is a view of the chunk when it arrived
 *   in one piece, else a view of a scratch buffer that the next record overwrites: it is
 *   borrowed, valid only during the call; copy it to keep it.
 *
 * Errors are thrown from `push` as `ProtocolError` (a handler's own throw passes through); the
 * decoder then stays failed and throws the same error again. Memory is bounded: 8 header
 * bytes and at most `maxDiscreteContent` (<= 65535) bytes of scratch.
 */
import { GatewayError, ProtocolError } from '../../errors.ts';
import { FailStopDecoder } from '../fail-stop.ts';
import {
  FCGI_HEADER_LEN,
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_VERSION_1,
  isStreamType,
  recordTypeName,
} from './constants.ts';

/** Receives decoded records; implemented by a class (no closure per record). */
export interface FastCgiRecordHandler {
  onRecord(type: number, requestId: number, content: Buffer): void;
}

export interface FastCgiRecordDecoderOptions {
  /**
   * Largest content accepted for a non-stream record, checked at its header (before any of the
   * content is buffered). Default 65535, the field's maximum. A gateway that expects only
   * END_REQUEST (8 bytes) may set it low.
   */
  readonly maxDiscreteContent?: number;
}

// States (FailStopDecoder starts at 0 and adds FAILED).
const HEADER = 0;
const CONTENT = 1;
const PADDING = 2;

const EMPTY = Buffer.alloc(0);

export class FastCgiRecordDecoder extends FailStopDecoder {
  private readonly handler: FastCgiRecordHandler;
  private readonly maxDiscreteContent: number;
  /** Header bytes split across chunks are gathered here. */
  private readonly header = Buffer.allocUnsafe(FCGI_HEADER_LEN);
  private headerFilled = 0;
  // The record being decoded.
  private type = 0;
  private requestId = 0;
  private contentLength = 0;
  private contentLeft = 0;
  private paddingLeft = 0;
  /** Stream record with content: pieces are delivered as they come, nothing at the end. */
  private streaming = false;
  /** Content to deliver once the padding is skipped. */
  private pending: Buffer = EMPTY;
  /** Scratch for a non-stream record's content split across chunks; grows up to the limit. */
  private scratch: Buffer | undefined = undefined;
  private scratchFilled = 0;

  constructor(handler: FastCgiRecordHandler, options: FastCgiRecordDecoderOptions = {}) {
    super();
    const max = options.maxDiscreteContent ?? FCGI_MAX_CONTENT_LENGTH;
    if (!Number.isInteger(max) || max < 0) {
      throw new GatewayError(
        'ERR_INVALID_OPTION',
        'maxDiscreteContent must be an integer >= 0',
        'gateway',
        500,
        'none',
      );
    }
    this.handler = handler;
    this.maxDiscreteContent = Math.min(max, FCGI_MAX_CONTENT_LENGTH);
  }

  /**
   * True between records: nothing of a next record has been read. After END_REQUEST this
   * says whether the connection holds stray bytes (a partial record) or not.
   */
  get atRecordBoundary(): boolean {
    return this.state === HEADER && this.headerFilled === 0;
  }

  /** Every complete record or stream piece in `chunk` reaches the handler (`push`). */
  protected decode(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case HEADER: {
          if (this.headerFilled === 0 && n - i >= FCGI_HEADER_LEN) {
            i += FCGI_HEADER_LEN;
            this.beginRecord(chunk, i - FCGI_HEADER_LEN);
          } else {
            const take = Math.min(FCGI_HEADER_LEN - this.headerFilled, n - i);
            chunk.copy(this.header, this.headerFilled, i, i + take);
            this.headerFilled += take;
            i += take;
            if (this.headerFilled === FCGI_HEADER_LEN) {
              this.headerFilled = 0;
              this.beginRecord(this.header, 0);
            }
          }
          break;
        }
        case CONTENT: {
          const available = n - i;
          if (this.streaming) {
            const take = Math.min(this.contentLeft, available);
            const piece = chunk.subarray(i, i + take);
            i += take;
            this.contentLeft -= take;
            if (this.contentLeft === 0) this.state = this.paddingLeft > 0 ? PADDING : HEADER;
            this.handler.onRecord(this.type, this.requestId, piece);
          } else if (this.scratchFilled === 0 && available >= this.contentLeft) {
            // The whole content is in this chunk: a view, no copy.
            this.pending = chunk.subarray(i, i + this.contentLeft);
            i += this.contentLeft;
            this.contentLeft = 0;
            this.contentDone();
          } else {
            i += this.gather(chunk, i);
          }
          break;
        }
        case PADDING: {
          const take = Math.min(this.paddingLeft, n - i);
          i += take;
          this.paddingLeft -= take;
          if (this.paddingLeft === 0) this.finishRecord();
          break;
        }
        default: // FAILED, by a re-entrant push from a handler that caught the error
          throw this.failure;
      }
    }
  }

  private beginRecord(h: Buffer, at: number): void {
    const version = h[at]!;
    if (version !== FCGI_VERSION_1) {
      throw new ProtocolError('ERR_FCGI_VERSION', `FastCGI record with version ${version}, expected 1`);
    }
    this.type = h[at + 1]!;
    this.requestId = (h[at + 2]! << 8) | h[at + 3]!;
    this.contentLength = (h[at + 4]! << 8) | h[at + 5]!;
    this.contentLeft = this.contentLength;
    this.paddingLeft = h[at + 6]!;
    this.streaming = this.contentLength > 0 && isStreamType(this.type);
    if (!this.streaming && this.contentLength > this.maxDiscreteContent) {
      throw new ProtocolError(
        'ERR_FCGI_RECORD_TOO_LARGE',
        `FastCGI ${recordTypeName(this.type)} record of ${this.contentLength} bytes exceeds the limit of ${this.maxDiscreteContent}`,
      );
    }
    if (this.contentLength > 0) {
      this.state = CONTENT;
    } else {
      this.pending = EMPTY;
      this.contentDone();
    }
  }

  /** Copies part of a split non-stream content into the scratch buffer; returns bytes taken. */
  private gather(chunk: Buffer, i: number): number {
    let scratch = this.scratch;
    if (scratch === undefined || scratch.length < this.contentLength) {
      // Sized to this record (at least 64 bytes): END_REQUEST-sized records stay cheap.
      scratch = this.scratch = Buffer.allocUnsafe(Math.max(this.contentLength, 64));
    }
    const take = Math.min(this.contentLeft, chunk.length - i);
    chunk.copy(scratch, this.scratchFilled, i, i + take);
    this.scratchFilled += take;
    this.contentLeft -= take;
    if (this.contentLeft === 0) {
      this.pending = scratch.subarray(0, this.contentLength);
      this.scratchFilled = 0;
      this.contentDone();
    }
    return take;
  }

  private contentDone(): void {
    if (this.paddingLeft > 0) this.state = PADDING;
    else this.finishRecord();
  }

  private finishRecord(): void {
    this.state = HEADER;
    if (this.streaming) return;
    const content = this.pending;
    this.pending = EMPTY;
    this.handler.onRecord(this.type, this.requestId, content);
  }
}
