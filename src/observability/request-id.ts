/**
 * `$request_id`: 16 random bytes as 32 hex digits, as nginx makes it (ngx_http_variables.c
 * draws them with RAND_bytes). Drawn from the CSPRNG in batches: `randomBytes(16)` per request
 * was 3-4 % of the gateway's CPU on the hello workloads (bench/profile), almost all of it the
 * fixed cost of one randomFillSync call. Every id still gets 16 bytes of its own, never
 * reused; Node's crypto.randomUUID caches its entropy the same way.
 */
import { randomFillSync } from 'node:crypto';

/** Ids per refill: one 4 KiB draw. */
const BATCH = 256;
const ID_BYTES = 16;

const pool = Buffer.allocUnsafe(BATCH * ID_BYTES);
let next = BATCH;

/** A new request id: 32 lower-case hex digits. */
export function newRequestId(): string {
  if (next === BATCH) {
    randomFillSync(pool);
    next = 0;
  }
  const at = next++ * ID_BYTES;
  return pool.toString('hex', at, at + ID_BYTES);
}
