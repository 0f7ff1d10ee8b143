/**
 * Writes a response body to the client, with nginx's response buffering when it is on: what
 * the client cannot take now is queued (memory, then a temp file: buffering/response-queue.ts)
 * so the backend is read as fast as it answers and its connection (a php-fpm worker) is freed
 * early. Unlike nginx, nothing is held back to fill a buffer: a byte the client can take goes
 * at once, so flush() and server-sent events need no tuning.
 */
import type { ServerResponse } from 'node:http';
import { ResponseQueue, type ResponseQueueOptions } from '../buffering/response-queue.ts';

/** `ok`: go on reading; `wait`: pause the backend until drain (unbuffered); `full`: the queue is full. */
export type WriteResult = 'ok' | 'wait' | 'full';

export class BufferedWriter {
  private readonly res: ServerResponse;
  private readonly queueOptions: ResponseQueueOptions | undefined;
  private queue: ResponseQueue | undefined;
  private readonly onSpill: (() => void) | undefined;
  private spillReported = false;

  /** `queueOptions` undefined: buffering off (the client's pace is the backend's). */
  constructor(res: ServerResponse, queueOptions: ResponseQueueOptions | undefined, onSpill?: () => void) {
    this.res = res;
    this.queueOptions = queueOptions;
    this.onSpill = onSpill;
  }

  get buffering(): boolean {
    return this.queueOptions !== undefined;
  }

  /** Bytes queued for the client. */
  get pending(): number {
    return this.queue?.length ?? 0;
  }

  write(chunk: Buffer): WriteResult {
    const options = this.queueOptions;
    if (options === undefined) return this.res.write(chunk) ? 'ok' : 'wait';
    if (this.pending === 0 && !this.res.writableNeedDrain) {
      this.res.write(chunk);
      return 'ok';
    }
    this.queue ??= new ResponseQueue(options);
    const full = this.queue.wouldOverflow(chunk.length);
    // A full queue still takes this chunk (one read of the backend over the bound at most):
    // the backend is paused from here on.
    this.queue.push(chunk);
    if (!this.spillReported && this.queue.spilled > 0) {
      this.spillReported = true;
      this.onSpill?.();
    }
    return full ? 'full' : 'ok';
  }

  /** Sends queued bytes while the client takes them; true once nothing is queued. */
  flush(): boolean {
    const queue = this.queue;
    if (queue === undefined) return true;
    while (!this.res.writableNeedDrain) {
      const chunk = queue.shift();
      if (chunk === undefined) return true;
      this.res.write(chunk);
    }
    return queue.length === 0;
  }

  /** Drops what is queued and removes the temp file. */
  dispose(): void {
    this.queue?.dispose();
  }
}
