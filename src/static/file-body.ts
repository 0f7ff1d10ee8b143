/**
 * The body of a file response as one Readable: byte ranges of an open file, with fixed
 * buffers (multipart part heads, the closing delimiter) between them. One stream per response,
 * joined to the response by one `stream.pipeline`, whatever the number of ranges.
 *
 * Why not `createReadStream({ start, end })` per range: a read stream that meets EOF early
 * simply ends, so a file truncated while it is sent would end the response short of its
 * Content-Length (a keep-alive client then waits for bytes that never come, or a cache stores
 * a cut body); and chaining one stream per range into the response leaks listeners on it.
 * Here an early EOF is an error, so the pipeline destroys the response instead of ending it.
 *
 * Positional reads (pread) from the descriptor opened once; a fresh buffer per chunk because
 * the consumer owns a pushed chunk until it is written. Backpressure is the Readable contract:
 * the next read starts only when the stream asks for more.
 */

import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { GatewayError } from '../errors.ts';
import type { ByteRange } from './range.ts';

export const FILE_TRUNCATED = 'ERR_STATIC_FILE_TRUNCATED';

/** A fixed buffer to send as is, or a range of the file. */
export type BodySegment = Buffer | ByteRange;

interface ReadResult {
  readonly bytesRead: number;
  readonly buffer: Buffer;
}

export class FileBodyReadable extends Readable {
  /** Body bytes handed to the consumer so far. */
  bytes = 0;
  private readonly handle: FileHandle;
  private readonly segments: readonly BodySegment[];
  private readonly chunkSize: number;
  private index = 0;
  /** Next file position of the current range; -1 before the range starts. */
  private pos = -1;
  private end = 0;
  private reading = false;
  private readonly onRead: (r: ReadResult) => void;
  private readonly onError: (err: unknown) => void;

  constructor(handle: FileHandle, segments: readonly BodySegment[], chunkSize: number) {
    super({ highWaterMark: chunkSize });
    this.handle = handle;
    this.segments = segments;
    this.chunkSize = chunkSize;
    this.onRead = (r) => this.handleRead(r);
    this.onError = (err) => {
      this.reading = false;
      this.destroy(err instanceof Error ? err : new Error(String(err)));
    };
  }

  override _read(): void {
    if (this.reading || this.destroyed) return;
    for (;;) {
      const seg = this.segments[this.index];
      if (seg === undefined) {
        this.push(null);
        return;
      }
      if (Buffer.isBuffer(seg)) {
        this.index++;
        this.bytes += seg.length;
        if (!this.push(seg)) return;
        continue;
      }
      if (this.pos < 0) {
        this.pos = seg.start;
        this.end = seg.end + 1;
      }
      if (this.pos >= this.end) {
        this.index++;
        this.pos = -1;
        continue;
      }
      const n = Math.min(this.chunkSize, this.end - this.pos);
      this.reading = true;
      this.handle.read(Buffer.allocUnsafe(n), 0, n, this.pos).then(this.onRead, this.onError);
      return;
    }
  }

  private handleRead(r: ReadResult): void {
    this.reading = false;
    if (this.destroyed) return;
    if (r.bytesRead === 0) {
      this.destroy(
        new GatewayError(
          FILE_TRUNCATED,
          `file shrank while it was sent (EOF at ${this.pos}, expected ${this.end})`,
          'gateway',
          500,
          'none',
        ),
      );
      return;
    }
    this.pos += r.bytesRead;
    this.bytes += r.bytesRead;
    const chunk = r.bytesRead === r.buffer.length ? r.buffer : r.buffer.subarray(0, r.bytesRead);
    if (this.push(chunk)) this._read();
  }
}
