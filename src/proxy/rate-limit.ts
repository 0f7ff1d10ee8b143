/**
 * nginx `limit_rate` / `limit_rate_after` (and the X-Accel-Limit-Rate a backend sends): the
 * response body goes to the client at `rate` bytes per second on average, after a first
 * `after` bytes at full speed. Computed from the bytes sent and the time since the first
 * limited byte, as nginx does per request: a pause makes up for a burst, never per chunk
 * closures or timers per byte.
 */
export class RateLimit {
  /** Bytes per second; 0: no limit. */
  readonly rate: number;
  readonly after: number;
  private startedAt = 0;

  constructor(rate: number, after: number) {
    this.rate = rate;
    this.after = after;
  }

  /** ms to wait before more may go, once `sent` body bytes went out (0: go on). */
  delay(sent: number, now: number): number {
    if (this.rate <= 0 || sent <= this.after) return 0;
    if (this.startedAt === 0) this.startedAt = now;
    const due = this.startedAt + ((sent - this.after) * 1000) / this.rate;
    return due > now ? Math.ceil(due - now) : 0;
  }
}

/** X-Accel-Limit-Rate: a non-negative integer of bytes per second; undefined when not valid. */
export function parseLimitRate(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}
