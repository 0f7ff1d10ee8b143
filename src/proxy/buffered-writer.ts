/**
 * Writes a response body to the client, with nginx's response buffering when it is on: what
 * the client cannot take now, or may not take yet under limit_rate, is queued (memory, then a
 * temp file: buffering/response-queue.ts) so the backend is read as fast as it answers and its
 * connection (a php-fpm worker) is freed early: nginx paces only its writes to the client
 * (ngx_http_write_filter's `delayed`), never its reads of a buffered upstream. Unlike nginx,
 * nothing is held back to fill a buffer: a byte the client can take goes at once, so flush()
 * and server-sent events need no tuning.
 *
 * With buffering off the backend is read at the client's pace (the responder pauses it), and
 * httpd's flushpackets=off|auto may coalesce small reads (coalescer.ts) before they go out.
 */
import type { ServerResponse } from 'node:http';
import { ResponseQueue, type ResponseQueueOptions } from '../buffering/response-queue.ts';
import type { Coalescer } from './coalescer.ts';
import type { RateLimit } from './rate-limit.ts';

/**
 * `ok`: go on reading; `wait`: pause the backend until drain (unbuffered); `full`: the queue is
 * full; `failed`: the temp file could not be made, written or read (`failure` says why).
 */
export type WriteResult = 'ok' | 'wait' | 'full' | 'failed';

export interface BufferedWriterOptions {
  /** undefined: buffering off (the client's pace is the backend's). */
  readonly queue: ResponseQueueOptions | undefined;
  /** limit_rate of a buffered response: the writer paces its own writes (unused when unbuffered). */
  readonly pace?: RateLimit | undefined;
  /** Called once, when the queue first spills to its temp file. */
  readonly onSpill?: (() => void) | undefined;
  /** Called when a paced pause is over: the owner flushes (as on 'drain'). */
  readonly onWake?: (() => void) | undefined;
  /** httpd flushpackets off|auto (unbuffered only): small reads are coalesced first. */
  readonly coalescer?: Coalescer | undefined;
}

export class BufferedWriter {
  private readonly res: ServerResponse;
  private readonly queueOptions: ResponseQueueOptions | undefined;
  private queue: ResponseQueue | undefined;
  private readonly options: BufferedWriterOptions;
  private spillReported = false;
  /** Buffered limit_rate: body bytes handed to the client, and the timer of the current pause. */
  private written = 0;
  private paced: NodeJS.Timeout | undefined;
  /**
   * nginx busy_buffers_size: at most this many bytes handed to the client's socket and not
   * yet sent; 0: Node's own high-water mark decides.
   */
  private readonly busyLimit: number;
  /** The temp file's I/O error, once one happened: the response cannot go on. */
  failure: Error | undefined;

  constructor(res: ServerResponse, options: BufferedWriterOptions) {
    this.res = res;
    this.options = options;
    this.queueOptions = options.queue;
    this.busyLimit = options.queue?.busyBytes ?? 0;
    this.onPaced = this.onPaced.bind(this);
    this.onSent = this.onSent.bind(this);
  }

  get buffering(): boolean {
    return this.queueOptions !== undefined;
  }

  /** Bytes queued for the client. */
  get pending(): number {
    return this.queue?.length ?? 0;
  }

  /** True while limit_rate holds the queue back (not the client's fault: no send_timeout). */
  get pacing(): boolean {
    return this.paced !== undefined;
  }

  /** True when the client's side is full: it must drain before more goes (send_timeout runs). */
  get clientFull(): boolean {
    return this.res.writableNeedDrain || (this.busyLimit > 0 && this.res.writableLength >= this.busyLimit);
  }

  write(chunk: Buffer): WriteResult {
    const options = this.queueOptions;
    if (options === undefined) {
      const coalescer = this.options.coalescer;
      if (coalescer !== undefined) return coalescer.write(chunk) ? 'ok' : 'wait';
      return this.res.write(chunk) ? 'ok' : 'wait';
    }
    if (this.pending === 0 && this.paced === undefined && !this.clientFull) {
      this.send(chunk);
      return 'ok';
    }
    this.queue ??= new ResponseQueue(options);
    const full = this.queue.wouldOverflow(chunk.length);
    // A full queue still takes this chunk (one read of the backend over the bound at most):
    // the backend is paused from here on.
    try {
      this.queue.push(chunk);
    } catch (error) {
      // A temp dir that cannot be made or written (EACCES, ENOSPC): thrown from a socket's
      // 'data' handler it would take the process down.
      this.failure = error as Error;
      return 'failed';
    }
    if (!this.spillReported && this.queue.spilled > 0) {
      this.spillReported = true;
      this.options.onSpill?.();
    }
    return full ? 'full' : 'ok';
  }

  /** Sends queued bytes while the client takes them and limit_rate allows; true once nothing is queued. */
  flush(): boolean {
    const queue = this.queue;
    if (queue === undefined) return true;
    while (this.paced === undefined && !this.clientFull && this.failure === undefined) {
      let chunk: Buffer | undefined;
      try {
        chunk = queue.shift();
      } catch (error) {
        this.failure = error as Error;
        return false;
      }
      if (chunk === undefined) return true;
      this.send(chunk);
    }
    return queue.length === 0;
  }

  /** The response ends cleanly: bytes a coalescer still holds go out (before `res.end()`). */
  finish(): void {
    this.options.coalescer?.finish();
  }

  /** Drops what is queued and removes the temp file; stops any timer. */
  dispose(): void {
    this.queue?.dispose();
    this.options.coalescer?.dispose();
    if (this.paced !== undefined) {
      clearTimeout(this.paced);
      this.paced = undefined;
    }
  }

  private send(chunk: Buffer): void {
    // Under busy_buffers_size no 'drain' comes (Node's buffer is not full): each sent chunk
    // says when the socket took it.
    if (this.busyLimit > 0) this.res.write(chunk, this.onSent);
    else this.res.write(chunk);
    const pace = this.options.pace;
    if (pace === undefined) return;
    this.written += chunk.length;
    const wait = pace.delay(this.written, Date.now());
    if (wait > 0) this.paced = setTimeout(this.onPaced, wait);
  }

  private onSent(): void {
    if (this.pending > 0 && this.paced === undefined && !this.res.writableNeedDrain) this.options.onWake?.();
  }

  private onPaced(): void {
    this.paced = undefined;
    this.options.onWake?.();
  }
}
