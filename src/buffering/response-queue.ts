/**
 * What a slow client has not taken yet of a buffered response (nginx `*_buffering on`): the
 * oldest bytes in memory (up to `memoryLimit`, nginx's `*_buffers`), the newer ones in a temp
 * file (up to `maxFileBytes`, nginx's `*_max_temp_file_size`; 0: no file). First in, first out.
 *
 * The file is written and read with synchronous calls, as nginx writes its temp files without
 * aio: page-cache writes of at most one read of the backend each. It is created on the first
 * spill and removed by `dispose` (and unlinked at once, so a crash leaves nothing behind on
 * Linux: the open descriptor keeps the data).
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface ResponseQueueOptions {
  readonly memoryLimit: number;
  /** 0: never a temp file. */
  readonly maxFileBytes: number;
  readonly tempDir: string;
}

/** Bytes read from the file per `shift` (one read of the backend). */
const FILE_READ = 64 * 1024;

export class ResponseQueue {
  private readonly options: ResponseQueueOptions;
  private readonly memory: Buffer[] = [];
  private memoryBytes = 0;
  private fd: number | undefined;
  /** File offsets: written up to `fileEnd`, read up to `fileRead`. */
  private fileEnd = 0;
  private fileRead = 0;
  /** Bytes that ever went to the temp file (for logs and tests). */
  spilled = 0;

  constructor(options: ResponseQueueOptions) {
    this.options = options;
  }

  /** Bytes waiting. */
  get length(): number {
    return this.memoryBytes + (this.fileEnd - this.fileRead);
  }

  /** True when `bytes` more would not fit (memory full and the file at its limit). */
  wouldOverflow(bytes: number): boolean {
    if (this.fd === undefined && this.memoryBytes + bytes <= this.options.memoryLimit) return false;
    return (
      this.options.maxFileBytes === 0 || this.fileEnd - this.fileRead + bytes > this.options.maxFileBytes
    );
  }

  /**
   * Queues `chunk` (copied: the caller's buffer may be a view of a socket read). Order is
   * kept: once bytes are in the file, newer ones go there too until it has been read.
   */
  push(chunk: Buffer): void {
    if (this.fd === undefined && this.memoryBytes + chunk.length <= this.options.memoryLimit) {
      this.memory.push(Buffer.from(chunk));
      this.memoryBytes += chunk.length;
      return;
    }
    if (this.fd === undefined) this.openFile();
    let at = 0;
    while (at < chunk.length)
      at += writeSync(this.fd as number, chunk, at, chunk.length - at, this.fileEnd + at);
    this.fileEnd += chunk.length;
    this.spilled += chunk.length;
  }

  /** The next bytes to send, oldest first; undefined when empty. */
  shift(): Buffer | undefined {
    const first = this.memory.shift();
    if (first !== undefined) {
      this.memoryBytes -= first.length;
      return first;
    }
    if (this.fd === undefined || this.fileRead === this.fileEnd) return undefined;
    const size = Math.min(FILE_READ, this.fileEnd - this.fileRead);
    const buf = Buffer.allocUnsafe(size);
    const n = readSync(this.fd, buf, 0, size, this.fileRead);
    this.fileRead += n;
    if (this.fileRead === this.fileEnd) this.closeFile();
    return n === size ? buf : buf.subarray(0, n);
  }

  /** Drops what is queued and removes the temp file. Idempotent. */
  dispose(): void {
    this.memory.length = 0;
    this.memoryBytes = 0;
    this.closeFile();
  }

  /** True while a temp file is open (for tests). */
  get hasFile(): boolean {
    return this.fd !== undefined;
  }

  private openFile(): void {
    const path = join(this.options.tempDir, `response-${process.pid}-${randomBytes(8).toString('hex')}`);
    this.fd = openSync(path, 'wx+', 0o600);
    // Unlinked at once: the descriptor keeps the data, nothing is left behind after a crash.
    unlinkSync(path);
    this.fileEnd = 0;
    this.fileRead = 0;
  }

  private closeFile(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    this.fileEnd = 0;
    this.fileRead = 0;
  }
}
