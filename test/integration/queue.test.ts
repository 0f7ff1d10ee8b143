/**
 * max_conns with the group's queue (nginx Plus `queue N timeout=T`), through the gateway: the
 * cap holds however many clients come, queued requests are served as slots free up, and a
 * full queue or an expired wait is a 503. The headline case is real php-fpm with
 * pm.max_children = 4 behind max_conns 4: 200 concurrent clients, not one 5xx.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type BackendHandler,
  createFastCgiServer,
  createScgiServer,
  type FastCgiServer,
  type ScgiServer,
} from '../../src/backend/index.ts';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { type ConnectionCount, countConnections } from './support/connection-count.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest, openRequest, RawConnection } from './support/http.ts';
import {
  type ScriptedBackend,
  type ScriptedExchange,
  startScriptedBackend,
} from './support/scripted-backend.ts';

const HEAD = 'Status: 200 OK\r\nContent-Type: text/plain\r\n';

/** A backend that holds each request until the test lets it go, counting what it holds. */
class HeldBackend {
  backend!: ScriptedBackend;
  held: Array<() => void> = [];
  open = 0;
  maxOpen = 0;
  private arrivals: Array<() => void> = [];

  async start(protocol: 'scgi' | 'fastcgi'): Promise<void> {
    this.backend = await startScriptedBackend(protocol, (ex) => this.hold(ex));
  }

  private async hold(ex: ScriptedExchange): Promise<void> {
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    await new Promise<void>((resolve) => {
      this.held.push(resolve);
      for (const w of this.arrivals.splice(0)) w();
    });
    this.open--;
    ex.stdout(`${HEAD}\r\n${ex.get('REQUEST_URI')}`);
    ex.end();
  }

  /** Resolves once `n` requests are held. */
  async until(n: number): Promise<void> {
    while (this.held.length < n) await new Promise<void>((r) => this.arrivals.push(r));
  }

  releaseOne(): void {
    this.held.shift()?.();
  }

  releaseAll(): void {
    for (const r of this.held.splice(0)) r();
  }
}

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`max_conns and the queue (${protocol})`, () => {
    const held = new HeldBackend();
    let gw: TestGateway;

    before(async () => {
      await held.start(protocol);
      const server = { address: held.backend.address, max_conns: 2 };
      gw = await startTestGateway({
        upstreams: {
          capped: { protocol, servers: [server] },
          short: { protocol, queue: { size: 10, timeout: '20ms' }, servers: [{ ...server, max_conns: 1 }] },
          tiny: { protocol, queue: { size: 1 }, servers: [{ ...server, max_conns: 1 }] },
          noqueue: { protocol, queue: { size: 0 }, servers: [{ ...server, max_conns: 1 }] },
        },
        locations: ['capped', 'short', 'tiny', 'noqueue'].map((name) => ({
          match: `/${name}/`,
          [protocol]: { pass: name },
        })),
      });
    });

    after(async () => {
      held.releaseAll();
      await gw?.close();
      await held.backend?.close();
    });

    function queued(name: string): number {
      return gw.upstreams().find((g) => g.name === name)?.queued ?? -1;
    }

    function member(name: string) {
      return gw.upstreams().find((g) => g.name === name)?.members[0];
    }

    it('200 concurrent clients: never more than max_conns at the backend, every one served', async () => {
      held.maxOpen = 0;
      const results = Array.from({ length: 200 }, (_, i) => httpRequest(gw.url, { path: `/capped/${i}` }));
      await held.until(2);
      // Let them through one at a time: each release frees a slot for the oldest waiter.
      for (let served = 0; served < 200; served++) {
        await held.until(1);
        held.releaseOne();
      }
      const done = await Promise.all(results);
      assert.deepEqual(
        done.map((r) => r.status),
        Array(200).fill(200),
      );
      assert.equal(held.maxOpen, 2);
      assert.equal(queued('capped'), 0);
    });

    it('a wait past the queue timeout is a 503; the request holding the slot still completes', async () => {
      const first = httpRequest(gw.url, { path: '/short/first' });
      await held.until(1);
      const second = await httpRequest(gw.url, { path: '/short/second' });
      assert.equal(second.status, 503);
      held.releaseOne();
      assert.equal((await first).status, 200);
    });

    it('a full queue answers 503 at once; the queued request is served when the slot frees', async () => {
      const first = httpRequest(gw.url, { path: '/tiny/first' });
      await held.until(1);
      const waiting = httpRequest(gw.url, { path: '/tiny/waiting' });
      while (queued('tiny') < 1) await new Promise((r) => setImmediate(r));
      const refused = await httpRequest(gw.url, { path: '/tiny/refused' });
      assert.equal(refused.status, 503);
      held.releaseOne();
      await held.until(1);
      held.releaseOne();
      assert.equal((await first).status, 200);
      const w = await waiting;
      assert.equal(w.status, 200);
      assert.equal(w.body.toString(), '/tiny/waiting');
    });

    it('a client that leaves while queued leaves the queue: it never reaches the backend, the next one is served', async () => {
      const first = httpRequest(gw.url, { path: '/tiny/first' });
      await held.until(1);
      const leaver = await RawConnection.open(gw.address);
      leaver.write('GET /tiny/leaver HTTP/1.1\r\nHost: x\r\n\r\n');
      while (queued('tiny') < 1) await new Promise((r) => setImmediate(r));
      assert.equal(member('tiny')?.queued, 1, 'counted on the member it waits for');
      leaver.socket.destroy();
      while (queued('tiny') > 0) await new Promise((r) => setImmediate(r));
      assert.equal(member('tiny')?.queued, 0);
      // The place it held is free: the queue (size 1) takes another request.
      const next = httpRequest(gw.url, { path: '/tiny/next' });
      while (queued('tiny') < 1) await new Promise((r) => setImmediate(r));
      held.releaseOne();
      await held.until(1);
      held.releaseOne();
      assert.equal((await first).status, 200);
      const n = await next;
      assert.equal(n.status, 200);
      assert.equal(n.body.toString(), '/tiny/next');
      assert.ok(!held.backend.exchanges.some((ex) => ex.get('REQUEST_URI') === '/tiny/leaver'));
    });

    it('queue size 0: at max_conns the request fails at once, as nginx without a queue (502)', async () => {
      const first = httpRequest(gw.url, { path: '/noqueue/first' });
      await held.until(1);
      const second = await httpRequest(gw.url, { path: '/noqueue/second' });
      assert.equal(second.status, 502);
      held.releaseOne();
      assert.equal((await first).status, 200);
    });
  });
}

/**
 * Portico's own SCGI / FastCGI servers, counting the connections open at the backend (busy and
 * idle): max_conns caps them, kept connections included, whatever the number of clients.
 */
class CountingBackend {
  server!: ScgiServer | FastCgiServer;
  count!: ConnectionCount;
  address = '';

  async start(protocol: 'scgi' | 'fastcgi', handler: BackendHandler): Promise<void> {
    this.server = protocol === 'scgi' ? createScgiServer(handler) : createFastCgiServer(handler);
    this.count = countConnections(this.server);
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.address = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

/** 16 MiB: more than the sockets between gateway and client hold. */
const BIG = 16 * 1024 * 1024;

/** Answers after a turn of the event loop, so that concurrent requests overlap; /big: BIG bytes. */
const echoUri: BackendHandler = async (req, res) => {
  await new Promise((r) => setImmediate(r));
  res.setHeader('Content-Type', 'text/plain');
  const uri = String(req.env.REQUEST_URI);
  if (!uri.endsWith('/big')) {
    res.end(uri);
    return;
  }
  const piece = Buffer.alloc(64 * 1024, 0x61);
  for (let sent = 0; sent < BIG && !req.signal.aborted; sent += piece.length) {
    if (!res.write(piece)) await once(res, 'drain');
  }
  res.end();
};

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`max_conns counts connections at the backend (${protocol}, Portico's own server)`, () => {
    const backend = new CountingBackend();
    let gw: TestGateway;

    before(async () => {
      await backend.start(protocol, echoUri);
      gw = await startTestGateway({
        upstreams: {
          // Multiplexing is the next test's; here, one request per connection.
          app: { protocol, multiplex: 'off', servers: [{ address: backend.address, max_conns: 4 }] },
          one: { protocol, multiplex: 'off', servers: [{ address: backend.address, max_conns: 1 }] },
        },
        locations: ['app', 'one'].map((pass) => ({
          match: pass === 'app' ? '/' : '/one/',
          [protocol]: protocol === 'fastcgi' ? { pass, keep_conn: true } : { pass },
        })),
      });
    });

    after(async () => {
      await gw?.close();
      await backend.close();
    });

    it('200 concurrent clients: at most 4 connections open at once (kept ones included), every answer its own', async () => {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => httpRequest(gw.url, { path: `/c/${i}` })),
      );
      results.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), `/c/${i}`);
      });
      assert.ok(backend.count.maxOpen <= 4, `connections open at once: ${backend.count.maxOpen}`);
      // FastCGI keeps them: a handful of connections carried the 200 requests.
      if (protocol === 'fastcgi') assert.ok(backend.count.total <= 4, `connections: ${backend.count.total}`);
      else assert.equal(backend.count.total, 200);
    });

    it('a client slow to read a buffered answer does not hold the place: the backend is done with it', async () => {
      // max_conns 1: the big answer's request held the place until its client read it all.
      const slow = await openRequest(gw.url, { path: '/one/big' });
      slow.pause();
      const other = await httpRequest(gw.url, { path: '/one/other' });
      assert.equal(other.status, 200);
      assert.equal(other.body.toString(), '/one/other');
      let length = 0;
      for await (const chunk of slow as AsyncIterable<Buffer>) length += chunk.length;
      assert.equal(length, BIG);
    });
  });
}

const phpFpm = requirePeer('php-fpm', PHP_FPM_PATH);

describe('php-fpm pm.max_children = 4 behind max_conns 4', { skip: phpFpm.skip }, () => {
  let docroot: TempDir;
  let fpm: PhpFpm;
  let gw: TestGateway;

  before(async () => {
    docroot = await makeTempDir('queue-php');
    // A little work per request, so that requests overlap and the cap is reached.
    await writeFile(
      join(docroot.path, 'work.php'),
      '<?php usleep(2000); echo getmypid(), " ", $_GET["i"];\n',
    );
    fpm = await startPhpFpm({ listen: 'tcp', docroot: docroot.path, poolOptions: { pm_max_children: 4 } });
    gw = await startTestGateway({
      root: docroot.path,
      upstreams: { php: { protocol: 'fastcgi', servers: [{ address: fpm.address, max_conns: 4 }] } },
      locations: [{ match: '~ \\.php$', fastcgi: { pass: 'php', keep_conn: true } }],
    });
  });

  after(async () => {
    await gw?.close();
    await fpm?.stop();
    await docroot?.cleanup();
  });

  it('200 concurrent clients: zero 5xx, every answer its own, at most 4 php-fpm workers used', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => httpRequest(gw.url, { path: `/work.php?i=${i}` })),
    );
    const statuses = new Map<number, number>();
    for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    assert.deepEqual([...statuses], [[200, 200]]);
    const pids = new Set<string>();
    results.forEach((r, i) => {
      const [pid, echoed] = r.body.toString().split(' ');
      assert.equal(echoed, String(i));
      pids.add(pid as string);
    });
    assert.ok(pids.size <= 4, `workers seen: ${pids.size}`);
    const member = gw.upstreams().find((g) => g.name === 'php')?.members[0];
    assert.equal(member?.failures, 0);
  });
});
