/**
 * What a slow client has not taken yet of a buffered response (nginx `*_buffering on`): the
 * oldest bytes in memory (up to `memoryLimit`, nginx's `*_buffers`), the newer ones in a temp
 * file (up to `maxFileBytes`, nginx's `*_max_temp_file_size`; 0: no file). First in, first out.
 *
 * The file is written and read with synchronous calls, as nginx writes its temp files without
 * aio: page-cache writes of `writeSize` bytes (nginx `*_temp_file_write_size`) or, without
 * it, of one read of the backend each. It is created on the first spill, in the hashed
 * subdirectories nginx's `*_temp_path` levels ask for, and removed by `dispose` (and unlinked
 * at once, so a crash leaves nothing behind on Linux: the open descriptor keeps the data).
 */
import { closeSync, mkdirSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface ResponseQueueOptions {
  readonly memoryLimit: number;
  /** 0: never a temp file. */
  readonly maxFileBytes: number;
  readonly tempDir: string;
  /** nginx `*_temp_path dir level1 level2 level3`: subdirectory name lengths (1 or 2 each). */
  readonly levels?: readonly number[] | undefined;
  /** nginx `*_temp_file_write_size`: bytes gathered before one write to the file; 0: per chunk. */
  readonly writeSize?: number | undefined;
  /**
   * nginx `*_busy_buffers_size`: the most bytes handed to the client's socket and not yet sent
   * (the writer's concern; the rest waits here); 0: Node's high-water mark decides.
   */
  readonly busyBytes?: number | undefined;
}

/** Bytes read from the file per `shift` (one read of the backend). */
const FILE_READ = 64 * 1024;

export class ResponseQueue {
  private readonly options: ResponseQueueOptions;
  private readonly memory: Buffer[] = [];
  private memoryBytes = 0;
  private fd: number | undefined;
  /** File offsets: queued up to `fileEnd` (written up to `fileWritten`, the rest staged), read up to `fileRead`. */
  private fileEnd = 0;
  private fileWritten = 0;
  private fileRead = 0;
  /** temp_file_write_size: bytes gathered for the next write to the file. */
  private stage: Buffer | undefined;
  private staged = 0;
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
    this.fileEnd += chunk.length;
    this.spilled += chunk.length;
    const size = this.options.writeSize ?? 0;
    if (size === 0) {
      this.writeFile(chunk, 0, chunk.length);
      return;
    }
    let at = 0;
    while (at < chunk.length) {
      if (this.staged === 0 && chunk.length - at >= size) {
        // A whole write's worth already: no copy into the stage.
        this.writeFile(chunk, at, chunk.length);
        return;
      }
      this.stage ??= Buffer.allocUnsafe(size);
      const n = Math.min(chunk.length - at, size - this.staged);
      chunk.copy(this.stage, this.staged, at, at + n);
      this.staged += n;
      at += n;
      if (this.staged === size) {
        this.writeFile(this.stage, 0, size);
        this.staged = 0;
      }
    }
  }

  private writeFile(data: Buffer, from: number, to: number): void {
    let at = from;
    while (at < to) at += writeSync(this.fd as number, data, at, to - at, this.fileWritten + (at - from));
    this.fileWritten += to - from;
  }

  /** The next bytes to send, oldest first; undefined when empty. */
  shift(): Buffer | undefined {
    const first = this.memory.shift();
    if (first !== undefined) {
      this.memoryBytes -= first.length;
      return first;
    }
    if (this.fd === undefined || this.fileRead === this.fileEnd) return undefined;
    if (this.fileRead === this.fileWritten) {
      // The reader caught up with the stage: its bytes go out from memory, never to the file.
      const out = Buffer.from((this.stage as Buffer).subarray(0, this.staged));
      this.fileWritten += this.staged;
      this.staged = 0;
      this.fileRead = this.fileWritten;
      this.closeFile();
      return out;
    }
    const size = Math.min(FILE_READ, this.fileWritten - this.fileRead);
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

  /** Bytes written to the temp file so far, staged ones not counted (for tests). */
  get fileBytesWritten(): number {
    return this.fileWritten;
  }

  /** True while a temp file is open (for tests). */
  get hasFile(): boolean {
    return this.fd !== undefined;
  }

  private openFile(): void {
    const name = randomBytes(8).toString('hex');
    const dir = levelDir(this.options.tempDir, name, this.options.levels);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `response-${process.pid}-${name}`);
    this.fd = openSync(path, 'wx+', 0o600);
    // Unlinked at once: the descriptor keeps the data, nothing is left behind after a crash.
    unlinkSync(path);
    this.fileEnd = 0;
    this.fileWritten = 0;
    this.fileRead = 0;
  }

  private closeFile(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    this.fileEnd = 0;
    this.fileWritten = 0;
    this.fileRead = 0;
    this.staged = 0;
  }
}

/**
 * nginx's hashed temp directories (ngx_create_hashed_filename): `levels` 1 2 puts file
 * `...a1b2c3` in `dir/3/b2/`: each level takes its length of characters from the end of the
 * name, the first level the last ones.
 */
export function levelDir(dir: string, name: string, levels: readonly number[] | undefined): string {
  if (levels === undefined || levels.length === 0) return dir;
  const parts: string[] = [dir];
  let end = name.length;
  for (const n of levels) {
    parts.push(name.slice(end - n, end));
    end -= n;
  }
  return join(...parts);
}
