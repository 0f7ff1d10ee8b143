import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../errors.ts';
import { AdmissionQueue } from './admission-queue.ts';

const FAR = () => Date.now() + 60_000;

function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof GatewayError ? e.code : String(e)),
  );
}

describe('AdmissionQueue', () => {
  it('wakes waiters first come, first served, one per wake', async () => {
    const q = new AdmissionQueue('g', 10, 60_000);
    const order: number[] = [];
    const waits = [0, 1, 2].map((i) => q.wait(undefined, FAR()).then(() => order.push(i)));
    assert.equal(q.length, 3);
    q.wake();
    await waits[0];
    assert.deepEqual(order, [0]);
    q.wake();
    q.wake();
    await Promise.all(waits);
    assert.deepEqual(order, [0, 1, 2]);
    assert.equal(q.length, 0);
    q.wake(); // nothing waiting: a no-op
  });

  it('a full queue refuses at once with 503', async () => {
    const q = new AdmissionQueue('g', 1, 60_000);
    const first = q.wait(undefined, FAR());
    const refused = q.wait(undefined, FAR());
    assert.equal(await code(refused), 'ERR_UPSTREAM_QUEUE_FULL');
    assert.equal(q.rejected, 1);
    q.wake();
    await first;
  });

  it('a wait past its deadline gets 503 and leaves the queue', async () => {
    const q = new AdmissionQueue('g', 5, 1);
    const late = q.wait(undefined, Date.now() + 1);
    const other = q.wait(undefined, FAR());
    assert.equal(await code(late), 'ERR_UPSTREAM_QUEUE_TIMEOUT');
    assert.equal(q.length, 1);
    q.wake();
    assert.equal(await code(other), 'resolved');
  });

  it('a client that goes away leaves the queue; the next one is woken instead', async () => {
    const q = new AdmissionQueue('g', 5, 60_000);
    const gone = new AbortController();
    const leaving = q.wait(gone.signal, FAR());
    const staying = q.wait(undefined, FAR());
    gone.abort();
    assert.equal(await code(leaving), 'ERR_CLIENT_GONE');
    assert.equal(q.length, 1);
    q.wake();
    assert.equal(await code(staying), 'resolved');
    const already = new AbortController();
    already.abort();
    assert.equal(await code(q.wait(already.signal, FAR())), 'ERR_CLIENT_GONE');
  });

  it('clear fails every waiter and leaves no timer behind', async () => {
    const q = new AdmissionQueue('g', 5, 60_000);
    const waits = [q.wait(undefined, FAR()), q.wait(undefined, FAR())];
    q.clear(new GatewayError('ERR_X', 'closing', 'gateway', 503, 'none'));
    assert.deepEqual(await Promise.all(waits.map(code)), ['ERR_X', 'ERR_X']);
    assert.equal(q.length, 0);
  });

  it('stays exact over many waits, wakes and departures (compaction)', async () => {
    const q = new AdmissionQueue('g', 1000, 60_000);
    const controllers: AbortController[] = [];
    const outcomes: Promise<string>[] = [];
    for (let i = 0; i < 300; i++) {
      const c = new AbortController();
      controllers.push(c);
      outcomes.push(code(q.wait(c.signal, FAR())));
    }
    for (let i = 0; i < 300; i += 3) controllers[i]?.abort();
    for (let i = 0; i < 200; i++) q.wake();
    assert.equal(q.length, 0);
    const results = await Promise.all(outcomes);
    assert.equal(results.filter((r) => r === 'resolved').length, 200);
    assert.equal(results.filter((r) => r === 'ERR_CLIENT_GONE').length, 100);
  });
});
