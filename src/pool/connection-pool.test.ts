import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, it, mock } from 'node:test';
import { ClientRequestError, GatewayError, UpstreamError } from '../errors.ts';
import { Prng } from '../util/prng.ts';
import {
  type Connect,
  ConnectionPool,
  type ConnectionPoolSettings,
  type PooledConnection,
} from './connection-pool.ts';

/** What the pool touches of a net.Socket. */
class FakeSocket extends EventEmitter {
  static count = 0;
  readonly id = ++FakeSocket.count;
  destroyed = false;
  readable = true;
  readableLength = 0;
  flowing = false;

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.readable = false;
    process.nextTick(() => this.emit('close', false));
    return this;
  }

  pause(): this {
    this.flowing = false;
    return this;
  }

  resume(): this {
    this.flowing = true;
    return this;
  }
}

interface Harness {
  pool: ConnectionPool;
  sockets: FakeSocket[];
  /** Fail the next connects with this error. */
  failWith: Error | undefined;
  /** How many connects fail with `failWith` (then it is cleared). */
  failures: number;
}

function harness(settings: Partial<ConnectionPoolSettings> = {}): Harness {
  const h: Harness = {
    pool: undefined as unknown as ConnectionPool,
    sockets: [],
    failWith: undefined,
    failures: Number.POSITIVE_INFINITY,
  };
  const connect: Connect = async () => {
    const error = h.failWith;
    if (error !== undefined) {
      if (--h.failures <= 0) h.failWith = undefined;
      throw error;
    }
    const socket = new FakeSocket();
    h.sockets.push(socket);
    return socket as unknown as Socket;
  };
  h.pool = new ConnectionPool('test:9000', connect, settings);
  return h;
}

const fake = (c: PooledConnection): FakeSocket => c.socket as unknown as FakeSocket;
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ConnectionPool', () => {
  afterEach(() => mock.timers.reset());

  it('opens a connection on demand and reuses a released one', async () => {
    const { pool, sockets } = harness();
    assert.equal(sockets.length, 0, 'nothing is opened ahead of need');
    const a = await pool.acquire();
    assert.equal(a.reused, false);
    assert.equal(a.requests, 1);
    pool.release(a, true);
    assert.deepEqual(pool.stats(), { open: 1, idle: 1, active: 0, queued: 0, connects: 1, reuses: 0 });
    assert.equal(fake(a).flowing, true, 'idle sockets flow so an EOF or a stray byte is seen at once');
    const b = await pool.acquire();
    assert.equal(b.socket, a.socket);
    assert.equal(b.reused, true);
    assert.equal(b.requests, 2);
    assert.equal(fake(b).flowing, false, 'lent paused: the exchange resumes it');
    assert.equal(fake(b).listenerCount('data'), 0, 'no idle listener left on a lent socket');
    assert.equal(sockets.length, 1);
    assert.deepEqual(pool.stats(), { open: 1, idle: 0, active: 1, queued: 0, connects: 1, reuses: 1 });
  });

  it('lends the most recently used idle connection first (LIFO)', async () => {
    const { pool } = harness();
    const [a, b, c] = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    pool.release(a as PooledConnection, true);
    pool.release(b as PooledConnection, true);
    pool.release(c as PooledConnection, true);
    assert.equal((await pool.acquire()).socket, c?.socket);
    assert.equal((await pool.acquire()).socket, b?.socket);
    assert.equal((await pool.acquire()).socket, a?.socket);
  });

  it('keeps at most `keepalive` idle connections, closing the least recently used', async () => {
    const { pool } = harness({ keepalive: 2 });
    const [a, b, c] = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    pool.release(a as PooledConnection, true);
    pool.release(b as PooledConnection, true);
    pool.release(c as PooledConnection, true);
    assert.equal(fake(a as PooledConnection).destroyed, true);
    assert.equal(fake(b as PooledConnection).destroyed, false);
    assert.equal(pool.stats().idle, 2);
    assert.equal(pool.stats().open, 2);
  });

  it('closes an idle connection after keepaliveTimeout', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const { pool } = harness({ keepaliveTimeout: 5000 });
    const a = await pool.acquire();
    pool.release(a, true);
    mock.timers.tick(4999);
    assert.equal(fake(a).destroyed, false);
    mock.timers.tick(1);
    assert.equal(fake(a).destroyed, true);
    assert.deepEqual(pool.stats().open, 0);
    const b = await pool.acquire();
    assert.notEqual(b.socket, a.socket);
    assert.equal(b.reused, false);
  });

  it('a connection reused before its idle timeout does not time out while lent', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const { pool } = harness({ keepaliveTimeout: 1000 });
    const a = await pool.acquire();
    pool.release(a, true);
    mock.timers.tick(900);
    const b = await pool.acquire();
    mock.timers.tick(5000);
    assert.equal(fake(b).destroyed, false);
  });

  it('closes a connection after keepaliveRequests requests', async () => {
    const { pool, sockets } = harness({ keepaliveRequests: 3 });
    for (let i = 1; i <= 3; i++) {
      const c = await pool.acquire();
      assert.equal(c.requests, i);
      pool.release(c, true);
    }
    assert.equal(sockets[0]?.destroyed, true);
    assert.equal(pool.stats().open, 0);
    const next = await pool.acquire();
    assert.equal(next.reused, false);
    assert.equal(sockets.length, 2);
  });

  it('release(conn, false) destroys the connection', async () => {
    const { pool } = harness();
    const a = await pool.acquire();
    pool.release(a, false);
    assert.equal(fake(a).destroyed, true);
    assert.deepEqual(pool.stats().open, 0);
    assert.equal((await pool.acquire()).reused, false);
  });

  it('keepalive 0 never keeps a connection', async () => {
    const { pool } = harness({ keepalive: 0 });
    assert.equal(pool.reusesConnections, false);
    const a = await pool.acquire();
    pool.release(a, true);
    assert.equal(fake(a).destroyed, true);
  });

  it('a second release of the same connection is ignored', async () => {
    const { pool } = harness();
    const a = await pool.acquire();
    pool.release(a, true);
    pool.release(a, false);
    assert.equal(fake(a).destroyed, false);
    assert.equal(pool.stats().idle, 1);
    assert.equal(pool.stats().open, 1);
  });

  it('a connection that failed while lent is never kept', async () => {
    const { pool } = harness();
    const a = await pool.acquire();
    fake(a).emit('error', new Error('ECONNRESET'));
    pool.release(a, true);
    assert.equal(fake(a).destroyed, true);
    assert.equal(pool.stats().open, 0);
  });

  it('never keeps a socket with unread buffered bytes', async () => {
    const { pool } = harness();
    const a = await pool.acquire();
    fake(a).readableLength = 3;
    pool.release(a, true);
    assert.equal(fake(a).destroyed, true);
  });

  for (const [event, arg] of [
    ['end', undefined],
    ['data', Buffer.from('stray')],
    ['close', false],
    ['error', new Error('ECONNRESET')],
  ] as const) {
    it(`drops an idle connection at once on '${event}'`, async () => {
      const { pool } = harness();
      const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
      pool.release(a as PooledConnection, true);
      pool.release(b as PooledConnection, true);
      fake(b as PooledConnection).emit(event, arg);
      assert.equal(fake(b as PooledConnection).destroyed, true);
      assert.deepEqual(pool.stats().idle, 1);
      assert.deepEqual(pool.stats().open, 1);
      assert.equal((await pool.acquire()).socket, a?.socket, 'the next acquire skips it');
    });
  }

  it('skips an idle socket found closed at acquire', async () => {
    const { pool } = harness();
    const a = await pool.acquire();
    pool.release(a, true);
    fake(a).readable = false;
    const b = await pool.acquire();
    assert.notEqual(b.socket, a.socket);
    assert.equal(pool.stats().open, 1);
  });

  describe('maxConns and the queue', () => {
    it('never opens more than maxConns; waiters get released connections in order', async () => {
      const { pool, sockets } = harness({ maxConns: 2, queue: 10 });
      const a = await pool.acquire();
      const b = await pool.acquire();
      const order: number[] = [];
      const w1 = pool.acquire().then((c) => {
        order.push(1);
        return c;
      });
      const w2 = pool.acquire().then((c) => {
        order.push(2);
        return c;
      });
      assert.deepEqual(pool.stats(), { open: 2, idle: 0, active: 2, queued: 2, connects: 2, reuses: 0 });
      pool.release(a, true);
      const c1 = await w1;
      assert.equal(c1.socket, a.socket, 'a kept connection is handed straight to the first waiter');
      assert.equal(c1.reused, true);
      pool.release(b, false);
      const c2 = await w2;
      assert.notEqual(c2.socket, b.socket, 'a closed one frees a place: the waiter connects');
      assert.deepEqual(order, [1, 2]);
      assert.equal(sockets.length, 3);
      assert.equal(pool.stats().open, 2);
      assert.equal(pool.stats().queued, 0);
    });

    it('a full queue fails at once with a 503', async () => {
      const { pool } = harness({ maxConns: 1, queue: 1 });
      await pool.acquire();
      const waiting = pool.acquire();
      await assert.rejects(pool.acquire(), (error: unknown) => {
        assert.ok(error instanceof GatewayError);
        assert.equal(error.code, 'ERR_UPSTREAM_QUEUE_FULL');
        assert.equal(error.status, 503);
        assert.equal(error.failure, 'none');
        return true;
      });
      assert.equal(pool.stats().queued, 1);
      pool.close();
      await assert.rejects(waiting);
    });

    it('queue 0: nothing waits', async () => {
      const { pool } = harness({ maxConns: 1, queue: 0 });
      await pool.acquire();
      await assert.rejects(pool.acquire(), { code: 'ERR_UPSTREAM_QUEUE_FULL' });
    });

    it('a wait longer than queueTimeout fails with a 503 (ERR_UPSTREAM_QUEUE_TIMEOUT)', async () => {
      mock.timers.enable({ apis: ['setTimeout'] });
      const { pool } = harness({ maxConns: 1, queue: 5, queueTimeout: 2000 });
      const a = await pool.acquire();
      const waiting = pool.acquire();
      mock.timers.tick(2000);
      await assert.rejects(waiting, (error: unknown) => {
        assert.ok(error instanceof GatewayError);
        assert.equal(error.constructor, GatewayError);
        assert.equal(error.code, 'ERR_UPSTREAM_QUEUE_TIMEOUT');
        assert.equal(error.source, 'backend');
        assert.equal(error.status, 503);
        assert.equal(error.failure, 'none');
        return true;
      });
      assert.equal(pool.stats().queued, 0);
      pool.release(a, true);
      assert.equal(pool.stats().idle, 1, 'the timed-out waiter does not take it');
    });

    it('a client that leaves while queued leaves the queue', async () => {
      const { pool } = harness({ maxConns: 1, queue: 5 });
      const a = await pool.acquire();
      const abort = new AbortController();
      const waiting = pool.acquire(abort.signal);
      abort.abort();
      await assert.rejects(waiting, (error: unknown) => {
        assert.ok(error instanceof ClientRequestError);
        assert.equal(error.code, 'ERR_CLIENT_GONE');
        return true;
      });
      assert.equal(pool.stats().queued, 0);
      pool.release(a, true);
      assert.equal(pool.stats().idle, 1);
    });

    it("waiting requests are added to the member's counter while they wait, whichever way they leave", async () => {
      const counter = { queued: 0 };
      const pool = new ConnectionPool(
        'test:9000',
        async () => new FakeSocket() as unknown as Socket,
        { maxConns: 1, queue: 5 },
        counter,
      );
      const a = await pool.acquire();
      const abort = new AbortController();
      const leaving = pool.acquire(abort.signal);
      const served = pool.acquire();
      const closed = pool.acquire();
      assert.equal(counter.queued, 3);
      abort.abort();
      await assert.rejects(leaving);
      assert.equal(counter.queued, 2);
      pool.release(a, true);
      await served;
      assert.equal(counter.queued, 1);
      pool.close();
      await assert.rejects(closed, { code: 'ERR_POOL_CLOSED' });
      assert.equal(counter.queued, 0);
    });

    it('a connection lent for good is asked back (once) when a request waits for its place', async () => {
      const { pool } = harness({ maxConns: 1, queue: 5 });
      let asked = 0;
      const shared = await pool.acquire(undefined, { reclaim: () => asked++ });
      assert.equal(shared.reused, false);
      const waiting = pool.acquire();
      const second = pool.acquire();
      assert.equal(asked, 1, 'asked once, however many wait');
      pool.release(shared, false);
      const c = await waiting;
      assert.notEqual(c.socket, shared.socket);
      pool.release(c, true);
      assert.equal((await second).socket, c.socket, 'an ordinary connection is kept and handed on');
    });

    it('a failed connect frees its place for the next one', async () => {
      const h = harness({ maxConns: 1, queue: 5 });
      h.failWith = new UpstreamError('ERR_UPSTREAM_CONNECT', 'refused');
      await assert.rejects(h.pool.acquire(), { code: 'ERR_UPSTREAM_CONNECT' });
      assert.equal(h.pool.stats().open, 0);
      h.failWith = undefined;
      const a = await h.pool.acquire();
      assert.equal(a.reused, false);
      assert.equal(h.pool.stats().open, 1);
    });

    it('a failed connect for a waiter is that waiter’s error; the next waiter tries again', async () => {
      const h = harness({ maxConns: 1, queue: 5 });
      const a = await h.pool.acquire();
      const w1 = h.pool.acquire();
      const w2 = h.pool.acquire();
      h.failWith = new UpstreamError('ERR_UPSTREAM_CONNECT', 'refused');
      h.failures = 1;
      h.pool.release(a, false);
      await assert.rejects(w1, { code: 'ERR_UPSTREAM_CONNECT' });
      assert.equal((await w2).reused, false);
      assert.equal(h.pool.stats().open, 1);
    });
  });

  describe('fresh acquires (the stale-connection retry)', () => {
    it('skip the idle connections', async () => {
      const { pool } = harness();
      const a = await pool.acquire();
      pool.release(a, true);
      const b = await pool.acquire(undefined, { fresh: true });
      assert.notEqual(b.socket, a.socket);
      assert.equal(pool.stats().idle, 1);
    });

    it('at the cap, replace the least recently used idle connection', async () => {
      const { pool } = harness({ maxConns: 2 });
      const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
      pool.release(a as PooledConnection, true);
      pool.release(b as PooledConnection, true);
      const c = await pool.acquire(undefined, { fresh: true });
      assert.equal(fake(a as PooledConnection).destroyed, true);
      assert.equal(fake(b as PooledConnection).destroyed, false);
      assert.equal(c.reused, false);
      assert.equal(pool.stats().open, 2);
    });

    it('a queued fresh waiter gets a new connection, not the released one', async () => {
      const { pool } = harness({ maxConns: 1, queue: 5 });
      const a = await pool.acquire();
      const waiting = pool.acquire(undefined, { fresh: true });
      pool.release(a, true);
      const c = await waiting;
      assert.equal(fake(a).destroyed, true);
      assert.notEqual(c.socket, a.socket);
      assert.equal(pool.stats().open, 1);
    });
  });

  it('close(): idle connections closed, waiters and later acquires fail, lent ones close on release', async () => {
    const { pool } = harness({ maxConns: 2, queue: 5 });
    const [a, b] = await Promise.all([pool.acquire(), pool.acquire()]);
    pool.release(a as PooledConnection, true);
    const c = await pool.acquire();
    const waiting = pool.acquire();
    pool.release(c, true);
    pool.close();
    await assert.rejects(pool.acquire(), { code: 'ERR_POOL_CLOSED', status: 503 });
    await waiting.then((w) => pool.release(w, true)); // handed over before the close
    pool.release(b as PooledConnection, true);
    assert.equal(fake(b as PooledConnection).destroyed, true);
    assert.deepEqual(pool.stats(), { ...pool.stats(), open: 0, idle: 0, queued: 0 });
  });

  it('close() fails requests still queued', async () => {
    const { pool } = harness({ maxConns: 1, queue: 5 });
    await pool.acquire();
    const waiting = pool.acquire();
    pool.close();
    await assert.rejects(waiting, { code: 'ERR_POOL_CLOSED' });
    assert.equal(pool.stats().queued, 0);
  });

  it('rejects invalid settings', () => {
    assert.throws(() => harness({ maxConns: -1 }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => harness({ keepalive: 1.5 }), { code: 'ERR_INVALID_OPTION' });
  });

  it('random operations keep the invariants (cap, counts, no closed socket lent, no double lending)', async () => {
    for (let round = 0; round < 20; round++) {
      const rng = new Prng();
      const maxConns = rng.int(1, 4);
      const h = harness({
        maxConns,
        queue: rng.int(0, 6),
        keepalive: rng.int(0, 4),
        keepaliveRequests: rng.int(1, 5),
      });
      const lent = new Set<PooledConnection>();
      const pending: Promise<void>[] = [];
      for (let step = 0; step < 200; step++) {
        const op = rng.int(0, 9);
        if (op < 4) {
          pending.push(
            h.pool.acquire().then(
              (c) => {
                assert.ok(!lent.has(c), `seed ${rng.seed}: lent twice`);
                assert.equal(fake(c).destroyed, false, `seed ${rng.seed}: closed socket lent`);
                lent.add(c);
              },
              (error: unknown) => {
                assert.ok(error instanceof GatewayError, `seed ${rng.seed}`);
                assert.equal(error.code, 'ERR_UPSTREAM_QUEUE_FULL');
              },
            ),
          );
        } else if (op < 8 && lent.size > 0) {
          const c = [...lent][rng.int(0, lent.size - 1)] as PooledConnection;
          lent.delete(c);
          h.pool.release(c, rng.int(0, 3) > 0);
        } else if (op === 8) {
          const idle = h.sockets.filter((s) => !s.destroyed && s.flowing);
          if (idle.length > 0) (idle[rng.int(0, idle.length - 1)] as FakeSocket).emit('end');
        } else {
          await tick();
        }
        const s = h.pool.stats();
        assert.ok(s.open <= maxConns, `seed ${rng.seed}: ${s.open} open > ${maxConns}`);
        assert.equal(s.open, s.idle + s.active, `seed ${rng.seed}`);
        const alive = h.sockets.filter((x) => !x.destroyed).length;
        assert.ok(alive <= s.open, `seed ${rng.seed}: ${alive} sockets alive, ${s.open} counted`);
      }
      // Release everything: every waiter is served, then the pool empties on close.
      let settled = false;
      void Promise.all(pending).then(() => (settled = true));
      while (!settled || lent.size > 0) {
        for (const c of lent) h.pool.release(c, true);
        lent.clear();
        await tick();
      }
      assert.equal(h.pool.stats().active, 0, `seed ${rng.seed}`);
      h.pool.close();
      assert.equal(h.pool.stats().open, 0, `seed ${rng.seed}`);
      assert.equal(h.sockets.filter((x) => !x.destroyed).length, 0, `seed ${rng.seed}`);
    }
  });
});
