/**
 * FastCGI multiplexing through the gateway, against Portico's own FastCGI server (which says
 * FCGI_MPXS_CONNS=1 and counts its connections) and real php-fpm (which says 0): 50 concurrent
 * requests over one connection with every answer matched to its request, a client that leaves
 * does not disturb the others, a slow reader does not stall them, and `auto` stays on one
 * request per connection with php-fpm.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { request as httpGet } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createFastCgiServer, type FastCgiServer } from '../../src/backend/index.ts';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { makeTempDir, type TempDir, unixSocketPath } from '../support/ports.ts';
import { type ConnectionCount, countConnections } from './support/connection-count.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(what(), 'condition never held');
}

describe('multiplexing with a backend that can (FCGI_MPXS_CONNS=1)', () => {
  let backend: FastCgiServer;
  let gw: TestGateway;
  let connections = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  /** Requests under /hold/ wait here until the test releases them. */
  const held: Array<() => void> = [];
  let aborted = 0;

  before(async () => {
    backend = createFastCgiServer(async (req, res) => {
      const uri = String(req.env.REQUEST_URI);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      req.signal.addEventListener('abort', () => aborted++);
      try {
        if (uri.startsWith('/hold/')) await new Promise<void>((resolve) => held.push(resolve));
        res.setHeader('Content-Type', 'text/plain');
        if (uri.startsWith('/big/')) {
          // 4 MiB in 64 KiB pieces, for a client that does not read.
          const piece = Buffer.alloc(64 * 1024, 0x61);
          for (let i = 0; i < 64 && !req.signal.aborted; i++) {
            if (!res.write(piece)) await once(res, 'drain').catch(() => undefined);
          }
          res.end();
          return;
        }
        res.end(`answer to ${uri}`);
      } finally {
        inFlight--;
      }
    });
    backend.on('connection', (_s: Socket) => {
      connections++;
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const address = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gw = await startTestGateway({
      upstreams: { app: { protocol: 'fastcgi', multiplex: 'on', servers: [{ address }] } },
      locations: [{ match: '/', fastcgi: { pass: 'app', keep_conn: true } }],
    });
  });

  after(async () => {
    for (const h of held.splice(0)) h();
    await gw?.close();
    backend.closeAllConnections();
    backend.close();
  });

  it('50 concurrent requests over one connection, every answer matched to its request', async () => {
    const before = connections;
    const pending = Array.from({ length: 50 }, (_, i) => httpRequest(gw.url, { path: `/hold/${i}` }));
    await until(() => held.length === 50);
    assert.equal(maxInFlight, 50);
    // Release in reverse: answers come back out of order on the shared connection.
    for (const release of held.splice(0).reverse()) release();
    const results = await Promise.all(pending);
    results.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), `answer to /hold/${i}`);
    });
    assert.equal(connections - before, 1);
  });

  it('a client that leaves: its request is aborted (FCGI_ABORT_REQUEST), the others finish', async () => {
    const before = aborted;
    const others = [0, 1, 2].map((i) => httpRequest(gw.url, { path: `/hold/stay${i}` }));
    const leaving = httpGet(`${gw.url}/hold/leave`);
    leaving.on('error', () => {});
    leaving.end();
    await until(() => held.length === 4);
    leaving.destroy();
    await until(() => aborted === before + 1);
    for (const release of held.splice(0)) release();
    for (const [i, r] of (await Promise.all(others)).entries()) {
      assert.equal(r.body.toString(), `answer to /hold/stay${i}`);
    }
  });

  it('a client that does not read a big answer does not stall the others on the connection', async () => {
    const stuck = httpGet(`${gw.url}/big/1`);
    stuck.on('response', (res) => res.pause());
    stuck.on('error', () => {});
    stuck.end();
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 5; i++) {
      const r = await httpRequest(gw.url, { path: `/quick/${i}` });
      assert.equal(r.body.toString(), `answer to /quick/${i}`);
    }
    stuck.destroy();
  });

  it('gateway.upstreams() still counts the requests per member', () => {
    const m = gw.upstreams().find((g) => g.name === 'app')?.members[0];
    assert.ok((m?.requests ?? 0) >= 59);
    assert.equal(m?.active, 0);
  });
});

describe('multiplex: auto asks the application first', () => {
  let mpx: FastCgiServer;
  let mpxConnections = 0;
  let gw: TestGateway;

  before(async () => {
    mpx = createFastCgiServer((req, res) => {
      res.end(String(req.env.REQUEST_URI));
    });
    mpx.on('connection', () => {
      mpxConnections++;
    });
    mpx.listen(0, '127.0.0.1');
    await once(mpx, 'listening');
    gw = await startTestGateway({
      upstreams: {
        app: {
          protocol: 'fastcgi',
          servers: [{ address: `127.0.0.1:${(mpx.address() as AddressInfo).port}` }],
        },
      },
      locations: [{ match: '/', fastcgi: { pass: 'app', keep_conn: true } }],
    });
  });

  after(async () => {
    await gw?.close();
    mpx.closeAllConnections();
    mpx.close();
  });

  it('says yes: after the GET_VALUES answer, concurrent requests share one connection', async () => {
    // The first request starts the question and goes on an ordinary connection.
    assert.equal((await httpRequest(gw.url, { path: '/first' })).status, 200);
    let shared = false;
    for (let round = 0; round < 200 && !shared; round++) {
      const start = mpxConnections;
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => httpRequest(gw.url, { path: `/r${round}-${i}` })),
      );
      for (const [i, r] of results.entries()) assert.equal(r.body.toString(), `/r${round}-${i}`);
      shared = mpxConnections - start <= 1;
      if (!shared) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(shared, 'requests never shared a connection');
  });
});

describe('max_conns with multiplexing: it caps connections, not requests', () => {
  let backend: FastCgiServer;
  let gw: TestGateway;
  let conns: ConnectionCount;
  const held: Array<() => void> = [];

  before(async () => {
    backend = createFastCgiServer(async (req, res) => {
      const uri = String(req.env.REQUEST_URI);
      if (uri.startsWith('/hold/')) await new Promise<void>((resolve) => held.push(resolve));
      let length = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) length += chunk.length;
      res.end(length > 0 ? `${length} bytes to ${uri}` : `answer to ${uri}`);
    });
    conns = countConnections(backend);
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const address = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gw = await startTestGateway({
      upstreams: {
        // keepalive 0: the first request's own connection closes, so only the shared one is left.
        app: { protocol: 'fastcgi', multiplex: 'auto', keepalive: 0, servers: [{ address, max_conns: 1 }] },
      },
      locations: [{ match: '/', fastcgi: { pass: 'app', keep_conn: true } }],
    });
  });

  after(async () => {
    for (const h of held.splice(0)) h();
    await gw?.close();
    backend.closeAllConnections();
    backend.close();
  });

  const member = () => gw.upstreams().find((g) => g.name === 'app')?.members[0];

  it('the question and the first request share the one place; then 50 requests at once on one connection', async () => {
    assert.equal(member()?.requestCap, 1, 'one request per connection until the application answers');
    assert.equal((await httpRequest(gw.url, { path: '/first' })).status, 200);
    assert.equal(conns.maxOpen, 1, 'the GET_VALUES connection counted against max_conns');
    await until(() => (member()?.requestCap ?? 0) > 1);
    // min(max_conns x 128 per connection, FCGI_MAX_REQS 1024 as the server says).
    assert.equal(member()?.requestCap, 128);
    await until(() => conns.open === 0);
    const pending = Array.from({ length: 50 }, (_, i) => httpRequest(gw.url, { path: `/hold/${i}` }));
    await until(() => held.length === 50);
    for (const release of held.splice(0)) release();
    const results = await Promise.all(pending);
    results.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), `answer to /hold/${i}`);
    });
    assert.equal(conns.maxOpen, 1);
  });

  it("a request that needs a connection of its own gets the shared one's place once it is idle", async () => {
    await httpRequest(gw.url, { path: '/warm' });
    await until(() => (member()?.requestCap ?? 0) > 1);
    const shared = httpRequest(gw.url, { path: '/hold/shared' });
    await until(() => held.length === 1);
    // A body above 64 KiB is not sent inline: it needs a connection of its own, and the only
    // place below max_conns is the multiplexed connection's.
    const upload = httpRequest(gw.url, {
      method: 'POST',
      path: '/upload',
      body: Buffer.alloc(100 * 1024, 0x62),
    });
    await until(() => (member()?.queued ?? 0) === 1);
    const next = httpRequest(gw.url, { path: '/after' });
    held.shift()?.();
    assert.equal((await shared).body.toString(), 'answer to /hold/shared');
    const u = await upload;
    assert.equal(u.status, 200);
    assert.equal(u.body.toString(), `${100 * 1024} bytes to /upload`);
    assert.equal((await next).body.toString(), 'answer to /after');
    assert.equal(conns.maxOpen, 1);
    assert.equal(member()?.queued, 0);
  });
});

describe('multiplex: auto asks again after a failure (the application replaced by one that cannot)', () => {
  let dir: TempDir;
  let path: string;
  let first: FastCgiServer;
  let second: FastCgiServer | undefined;
  let gw: TestGateway;
  const held: Array<() => void> = [];

  before(async () => {
    dir = await makeTempDir('mpx-reask');
    path = unixSocketPath(dir.path, 'app.sock');
    first = createFastCgiServer(async (req, res) => {
      const uri = String(req.env.REQUEST_URI);
      if (uri.startsWith('/hold/')) await new Promise<void>((resolve) => held.push(resolve));
      res.end(`first ${uri}`);
    });
    first.listen(path);
    await once(first, 'listening');
    gw = await startTestGateway({
      upstreams: {
        app: { protocol: 'fastcgi', multiplex: 'auto', servers: [{ address: `unix:${path}`, max_conns: 2 }] },
      },
      locations: [{ match: '/', fastcgi: { pass: 'app', keep_conn: true } }],
    });
  });

  after(async () => {
    for (const h of held.splice(0)) h();
    await gw?.close();
    second?.closeAllConnections();
    second?.close();
    await dir?.cleanup();
  });

  const member = () => gw.upstreams().find((g) => g.name === 'app')?.members[0];

  it('a multiplexed connection lost with a request on it: asked again, and the new answer (no) is kept', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/warm' })).status, 200);
    await until(() => (member()?.requestCap ?? 0) > 2);
    const lost = httpRequest(gw.url, { path: '/hold/lost' });
    await until(() => held.length === 1);
    first.closeAllConnections();
    await new Promise((r) => first.close(r));
    assert.equal((await lost).status, 502);
    assert.equal(member()?.requestCap, 2, 'the answer is forgotten: one request per connection again');

    // Another program at the same address, which does not multiplex (as php-fpm).
    await rm(path, { force: true });
    second = createFastCgiServer(
      async (req, res) => {
        await new Promise((r) => setImmediate(r));
        res.end(`second ${String(req.env.REQUEST_URI)}`);
      },
      { multiplex: false },
    );
    const conns = countConnections(second);
    second.listen(path);
    await once(second, 'listening');
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => httpRequest(gw.url, { path: `/r${round}/${i}` })),
      );
      results.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), `second /r${round}/${i}`);
      });
    }
    assert.equal(member()?.requestCap, 2);
    assert.ok(conns.maxOpen <= 2, `connections open at once: ${conns.maxOpen}`);
  });
});

describe('multiplexed connections and the question honour bind (nginx fastcgi_bind)', () => {
  let backend: FastCgiServer;
  let gw: TestGateway;
  const sources: string[] = [];

  before(async () => {
    backend = createFastCgiServer((req, res) => res.end(String(req.env.REQUEST_URI)));
    backend.on('connection', (socket: Socket) => sources.push(String(socket.remoteAddress)));
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const address = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gw = await startTestGateway({
      upstreams: { app: { protocol: 'fastcgi', multiplex: 'auto', servers: [{ address }] } },
      locations: [{ match: '/', fastcgi: { pass: 'app', keep_conn: true, bind: '127.0.0.5' } }],
    });
  });

  after(async () => {
    await gw?.close();
    backend.closeAllConnections();
    backend.close();
  });

  it('every connection, the GET_VALUES one and the shared ones, comes from the bound address', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/first' })).status, 200);
    await until(() => (gw.upstreams().find((g) => g.name === 'app')?.members[0]?.requestCap ?? 0) > 0);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => httpRequest(gw.url, { path: `/m${i}` })),
    );
    for (const [i, r] of results.entries()) assert.equal(r.body.toString(), `/m${i}`);
    assert.ok(sources.length >= 2, `connections: ${sources.length}`);
    assert.deepEqual(new Set(sources), new Set(['127.0.0.5']));
  });
});

const phpFpm = requirePeer('php-fpm', PHP_FPM_PATH);

describe('multiplex: auto with php-fpm (FCGI_MPXS_CONNS=0)', { skip: phpFpm.skip }, () => {
  let docroot: TempDir;
  let fpm: PhpFpm;
  let gw: TestGateway;

  before(async () => {
    docroot = await makeTempDir('mpx-php');
    await writeFile(join(docroot.path, 'pid.php'), '<?php usleep(1000); echo getmypid();\n');
    fpm = await startPhpFpm({ listen: 'tcp', docroot: docroot.path, poolOptions: { pm_max_children: 3 } });
    gw = await startTestGateway({
      root: docroot.path,
      // max_conns = pm.max_children: an idle kept connection pins a php-fpm worker.
      upstreams: {
        php: { protocol: 'fastcgi', multiplex: 'auto', servers: [{ address: fpm.address, max_conns: 3 }] },
      },
      locations: [{ match: '~ \\.php$', fastcgi: { pass: 'php', keep_conn: true } }],
    });
  });

  after(async () => {
    await gw?.close();
    await fpm?.stop();
    await docroot?.cleanup();
  });

  it('falls back to one request per connection: every request answered, no error', async () => {
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(
        Array.from({ length: 6 }, () => httpRequest(gw.url, { path: '/pid.php' })),
      );
      for (const r of results) assert.equal(r.status, 200);
      await new Promise((r) => setTimeout(r, 20));
    }
    const member = gw.upstreams().find((g) => g.name === 'php')?.members[0];
    assert.equal(member?.failures, 0);
    assert.equal(member?.requestCap, 3, 'php-fpm said no: max_conns requests, one per connection');
  });
});
