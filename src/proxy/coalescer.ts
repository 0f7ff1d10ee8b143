/**
 * httpd's `flushpackets` for an unbuffered response (mod_proxy worker parameter, honoured by
 * mod_proxy_fcgi and, in Portico, for SCGI too):
 *
 * - `off`: httpd passes each read of the backend (at most `iobuffersize` bytes) down its
 *   output filters without a FLUSH bucket, and the core output filter keeps small writes until
 *   enough is there or the response ends. Here: whole `iobuffersize` pieces are written as
 *   they fill; a smaller remainder waits for more bytes or the end of the response.
 * - `auto`: as `off`, but what is gathered goes out once the backend has sent nothing more for
 *   `flushwait` ms (httpd polls the backend for that long before it adds a FLUSH bucket).
 * - `on` needs no coalescer: every read goes to the client at once.
 *
 * One staging buffer per response (handed to the socket when full, a new one taken), one timer
 * re-armed with `refresh()`: no closure and no Buffer.concat per chunk.
 */
import type { ServerResponse } from 'node:http';

export interface CoalescePolicy {
  readonly mode: 'off' | 'auto';
  /** httpd iobuffersize: the most bytes gathered before a write. */
  readonly size: number;
  /** httpd flushwait (ms, auto only): the quiet time after which gathered bytes go. */
  readonly wait: number;
}

export class Coalescer {
  private readonly res: ServerResponse;
  private readonly policy: CoalescePolicy;
  private staging: Buffer | undefined;
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  private armed = false;

  constructor(res: ServerResponse, policy: CoalescePolicy) {
    this.res = res;
    this.policy = policy;
    this.onQuiet = this.onQuiet.bind(this);
  }

  /** Bytes gathered and not yet written. */
  get held(): number {
    return this.used;
  }

  /** Takes `chunk`; false when the client is full (the caller pauses the backend until drain). */
  write(chunk: Buffer): boolean {
    const size = this.policy.size;
    let at = 0;
    while (at < chunk.length) {
      const rest = chunk.length - at;
      if (this.used === 0 && rest >= size) {
        // Whole iobuffersize pieces (httpd's reads) go as they are, in one write; the
        // remainder is gathered.
        const whole = rest - (rest % size);
        this.res.write(at === 0 && whole === chunk.length ? chunk : chunk.subarray(at, at + whole));
        at += whole;
        continue;
      }
      this.staging ??= Buffer.allocUnsafe(size);
      const n = Math.min(rest, size - this.used);
      chunk.copy(this.staging, this.used, at, at + n);
      this.used += n;
      at += n;
      if (this.used === size) this.writeStaged();
    }
    if (this.used > 0 && this.policy.mode === 'auto') this.arm();
    return !this.res.writableNeedDrain;
  }

  /** The response ends: what is gathered goes now. */
  finish(): void {
    this.stop();
    if (this.used > 0) this.writeStaged();
  }

  /** The response is dropped: nothing more is written. */
  dispose(): void {
    this.stop();
    this.staging = undefined;
    this.used = 0;
  }

  private writeStaged(): void {
    const staged = this.staging as Buffer;
    // The socket keeps the buffer until it is sent: the next bytes go into a new one.
    this.res.write(this.used === staged.length ? staged : staged.subarray(0, this.used));
    this.staging = undefined;
    this.used = 0;
  }

  private arm(): void {
    if (this.timer === undefined) this.timer = setTimeout(this.onQuiet, this.policy.wait);
    else this.timer.refresh();
    this.armed = true;
  }

  private stop(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.armed = false;
  }

  private onQuiet(): void {
    if (!this.armed) return;
    this.armed = false;
    // A full client is seen by the next write (the backend pauses then) or by the end.
    if (this.used > 0) this.writeStaged();
  }
}
