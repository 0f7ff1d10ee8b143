/**
 * The wait for a member when every usable one is at its max_conns (nginx Plus `queue N
 * timeout=T`; httpd's `acquire=` wait for a pooled connection): instead of failing at once, a
 * request waits, first come first served, until a request on the group ends. It gets 503 when
 * the queue is full or its wait passes `timeout` (nginx Plus answers 502; a full backend is a
 * temporary condition, which is what 503 says), and leaves the queue when its client goes away.
 *
 * php-fpm is why this exists: with pm.max_children workers, a gateway that opens more
 * connections than that gets them accepted and parked in the listen backlog, or refused; a
 * gateway that caps at max_conns and queues in front keeps every request alive and the pool
 * busy, never oversubscribed.
 */
import { ClientRequestError, GatewayError } from '../errors.ts';

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  readonly timer: NodeJS.Timeout;
}

export class AdmissionQueue {
  /** Most requests waiting at once; more get 503 at once. */
  readonly size: number;
  /** ms a request waits in all before it gets 503. */
  readonly timeout: number;
  private readonly group: string;
  private readonly waiters: Waiter[] = [];
  private head = 0;
  /** Requests that got 503 for a full queue or an expired wait (for status pages). */
  rejected = 0;

  constructor(group: string, size: number, timeout: number) {
    this.group = group;
    this.size = size;
    this.timeout = timeout;
  }

  /** Requests waiting now. */
  get length(): number {
    return this.waiters.length - this.head;
  }

  /**
   * Waits for a turn: resolves when `wake` is called for this waiter. `deadline` (ms since the
   * epoch) bounds the whole wait of a request that queues more than once.
   */
  wait(signal: AbortSignal | undefined, deadline: number): Promise<void> {
    if (signal?.aborted) return Promise.reject(clientGone());
    if (this.length >= this.size) {
      this.rejected++;
      return Promise.reject(
        new GatewayError(
          'ERR_UPSTREAM_QUEUE_FULL',
          `upstream "${this.group}": every server is at max_conns and the queue of ${this.size} is full`,
          'backend',
          503,
          'none',
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.remove(waiter);
          reject(clientGone());
        },
        timer: setTimeout(
          () => {
            this.remove(waiter);
            this.rejected++;
            reject(
              new GatewayError(
                'ERR_UPSTREAM_QUEUE_TIMEOUT',
                `upstream "${this.group}": no server below max_conns within the queue timeout of ${this.timeout} ms`,
                'backend',
                503,
                'none',
              ),
            );
          },
          Math.max(0, deadline - Date.now()),
        ),
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** A request on the group ended: the oldest waiter tries again. */
  wake(): void {
    if (this.length === 0) return;
    const waiter = this.waiters[this.head] as Waiter;
    this.waiters[this.head++] = undefined as unknown as Waiter;
    this.compact();
    this.settle(waiter);
    waiter.resolve();
  }

  /** Fails every waiter (the gateway is closing). */
  clear(error: GatewayError): void {
    while (this.length > 0) {
      const waiter = this.waiters[this.head++] as Waiter;
      this.settle(waiter);
      waiter.reject(error);
    }
    this.waiters.length = 0;
    this.head = 0;
  }

  private remove(waiter: Waiter): void {
    const at = this.waiters.indexOf(waiter, this.head);
    if (at === -1) return;
    this.waiters.splice(at, 1);
    this.settle(waiter);
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }

  /** Drops the consumed prefix once it is most of the array (amortised O(1) per wake). */
  private compact(): void {
    if (this.head > 32 && this.head * 2 > this.waiters.length) {
      this.waiters.splice(0, this.head);
      this.head = 0;
    }
  }
}

function clientGone(): ClientRequestError {
  return new ClientRequestError('ERR_CLIENT_GONE', 'client closed the connection while queued', 499);
}
