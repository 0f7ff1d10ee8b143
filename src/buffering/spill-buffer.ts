import { createReadStream } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ClientRequestError } from '../errors.ts';

export interface SpillOptions {
  /** Bytes kept in memory before the rest goes to a temp file (nginx client_body_buffer_size). */
  readonly memoryLimit: number;
  /** Total bytes accepted; more is a 413 (nginx client_max_body_size; 0 = no limit). */
  readonly maxBytes: number;
  /** Directory for temp files (nginx client_body_temp_path). */
  readonly tempDir: string;
}

/**
 * Memory up to a limit, then a temp file: holds a request body whose length is not known in
 * advance (chunked) so CONTENT_LENGTH can be exact, and so the body can be replayed. The temp
 * file is unlinked by dispose(), which the request's finish step calls exactly once.
 *
 *   writing --(end)--> complete --(dispose)--> disposed
 */
export class SpillBuffer {
  private readonly options: SpillOptions;
  private readonly memory: Buffer[] = [];
  private memoryBytes = 0;
  private file: FileHandle | undefined;
  private filePath: string | undefined;
  private fileBytes = 0;
  private disposed = false;

  constructor(options: SpillOptions) {
    this.options = options;
  }

  get length(): number {
    return this.memoryBytes + this.fileBytes;
  }

  /** True while everything is in memory (the gateway may then send it with the request head). */
  get inMemory(): boolean {
    return this.file === undefined;
  }

  /**
   * Reads `source` to its end, enforcing maxBytes as bytes arrive. A limit error leaves the
   * source undestroyed: leaving a plain `for await` early destroys an IncomingMessage after
   * unhooking its socket, so no 413 could be sent and the connection would hang.
   */
  async fill(source: Readable): Promise<void> {
    for await (const chunk of source.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      await this.write(chunk);
    }
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.disposed) throw new Error('SpillBuffer used after dispose');
    const max = this.options.maxBytes;
    if (max > 0 && this.length + chunk.length > max) {
      throw new ClientRequestError('ERR_BODY_TOO_LARGE', 'client intended to send too large body', 413);
    }
    if (this.file === undefined && this.memoryBytes + chunk.length <= this.options.memoryLimit) {
      this.memory.push(chunk);
      this.memoryBytes += chunk.length;
      return;
    }
    if (this.file === undefined) await this.openFile();
    const file = this.file as FileHandle;
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset, null);
      offset += bytesWritten;
    }
    this.fileBytes += chunk.length;
  }

  /** The in-memory part as one Buffer (only meaningful while inMemory). */
  memoryContents(): Buffer {
    return this.memory.length === 1
      ? (this.memory[0] as Buffer)
      : Buffer.concat(this.memory, this.memoryBytes);
  }

  /** Yields the whole body from the start; may be called again for a replay. */
  async *chunks(highWaterMark = 64 * 1024): AsyncGenerator<Buffer> {
    for (const chunk of this.memory) yield chunk;
    if (this.filePath !== undefined && this.fileBytes > 0) {
      const stream = createReadStream(this.filePath, { highWaterMark, start: 0, end: this.fileBytes - 1 });
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
      } finally {
        stream.destroy();
      }
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.memory.length = 0;
    const file = this.file;
    const path = this.filePath;
    this.file = undefined;
    if (file !== undefined) await file.close().catch(() => {});
    if (path !== undefined) await rm(path, { force: true }).catch(() => {});
  }

  private async openFile(): Promise<void> {
    await mkdir(this.options.tempDir, { recursive: true, mode: 0o700 });
    const path = join(this.options.tempDir, `body-${process.pid}-${randomBytes(8).toString('hex')}`);
    // 'wx+' refuses to follow a planted file or symlink; 0600 keeps bodies private.
    this.file = await open(path, 'wx+', 0o600);
    this.filePath = path;
  }
}
