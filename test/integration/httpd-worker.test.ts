/**
 * httpd ProxyPass worker semantics through the gateway: statuses (a failed connect or broken
 * exchange is 503, a malformed header 500, where nginx locations say 502), `retry` (a worker
 * whose connect failed answers 503 without trying until retry passes), `max` + `acquire` (the
 * wait for a slot), `smax` (idle kept connections).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createFastCgiServer, type FastCgiServer } from '../../src/backend/index.ts';
import { getFreePort } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import { type ScriptedBackend, startScriptedBackend } from './support/scripted-backend.ts';

describe('httpd statuses and retry on ProxyPass workers', () => {
  let gw: TestGateway;
  let inErrorPort: number;
  let retryZeroPort: number;
  let malformed: ScriptedBackend;
  const late: Server[] = [];
  let lateConnections = 0;

  before(async () => {
    inErrorPort = await getFreePort();
    retryZeroPort = await getFreePort();
    malformed = await startScriptedBackend('fastcgi', (ex) => {
      ex.stdout('this is not a header line\r\n\r\n');
      ex.end();
    });
    gw = await startTestGateway({
      proxy_pass: [
        { path: '/dead/', url: `fcgi://127.0.0.1:${inErrorPort}/` },
        { path: '/retry0/', url: `fcgi://127.0.0.1:${retryZeroPort}/`, retry: 0 },
        { path: '/malformed/', url: `fcgi://${malformed.address}/` },
      ],
      locations: [
        { match: '/nginx-dead/', fastcgi: { pass: `127.0.0.1:${inErrorPort}` } },
        { match: '/nginx-malformed/', fastcgi: { pass: malformed.address } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await malformed?.close();
    for (const s of late) {
      s.close();
      await once(s, 'close');
    }
  });

  /** Starts answering on `port` (after the gateway saw it refuse), counting connections. */
  async function listenLate(port: number): Promise<void> {
    const server = createServer((socket: Socket) => {
      lateConnections++;
      socket.destroy();
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    late.push(server);
  }

  it('a refused connect: 503 on a ProxyPass worker, 502 on an nginx location', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/dead/x' })).status, 503);
    assert.equal((await httpRequest(gw.url, { path: '/nginx-dead/x' })).status, 502);
  });

  it('a malformed response header: 500 on a ProxyPass worker (httpd), 502 on a location (nginx)', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/malformed/x' })).status, 500);
    assert.equal((await httpRequest(gw.url, { path: '/nginx-malformed/x' })).status, 502);
  });

  it('retry: the worker in error answers 503 without connecting; retry 0 tries every time', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/retry0/x' })).status, 503);
    await listenLate(inErrorPort);
    await listenLate(retryZeroPort);
    const before = lateConnections;
    // /dead/ failed its connect in the first test: in error for retry (60s), nothing is tried.
    const dead = await httpRequest(gw.url, { path: '/dead/again' });
    assert.equal(dead.status, 503);
    assert.equal(lateConnections, before);
    // retry 0: tried again (the late backend hangs up: still an error, but it was reached).
    await httpRequest(gw.url, { path: '/retry0/again' });
    assert.equal(lateConnections, before + 1);
  });
});

describe('max, acquire and smax on a ProxyPass worker', () => {
  let backend: FastCgiServer;
  let gw: TestGateway;
  let connections = 0;
  let closed = 0;
  const held: Array<() => void> = [];
  let arrivals: Array<() => void> = [];

  before(async () => {
    backend = createFastCgiServer(async (req, res) => {
      if (String(req.env.REQUEST_URI).includes('hold')) {
        await new Promise<void>((resolve) => {
          held.push(resolve);
          for (const a of arrivals.splice(0)) a();
        });
      }
      res.setHeader('Content-Type', 'text/plain');
      res.end(String(req.env.REQUEST_URI));
    });
    backend.on('connection', (socket: Socket) => {
      connections++;
      socket.on('close', () => closed++);
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const address = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gw = await startTestGateway({
      proxy_pass: [
        { path: '/one/', url: `fcgi://${address}/`, max: 1, acquire: '20ms' },
        { path: '/kept/', url: `fcgi://${address}/`, enablereuse: true, smax: 1 },
      ],
    });
  });

  after(async () => {
    for (const h of held.splice(0)) h();
    await gw?.close();
    backend.closeAllConnections();
    backend.close();
  });

  async function heldCount(n: number): Promise<void> {
    while (held.length < n) await new Promise<void>((r) => arrivals.push(r));
  }

  it('max 1: a second request waits acquire, then 503; the first completes', async () => {
    const first = httpRequest(gw.url, { path: '/one/hold' });
    await heldCount(1);
    const second = await httpRequest(gw.url, { path: '/one/other' });
    assert.equal(second.status, 503);
    held.shift()?.();
    assert.equal((await first).status, 200);
  });

  it('smax 1: after a burst of 3, one connection is kept and reused, the others closed', async () => {
    arrivals = [];
    // The previous test's connections (no reuse there) are closed first.
    while (closed < connections) await new Promise((r) => setTimeout(r, 5));
    const startConnections = connections;
    const startClosed = closed;
    const burst = [0, 1, 2].map((i) => httpRequest(gw.url, { path: `/kept/hold${i}` }));
    await heldCount(3);
    for (const h of held.splice(0)) h();
    for (const r of await Promise.all(burst)) assert.equal(r.status, 200);
    assert.equal(connections - startConnections, 3);
    while (closed - startClosed < 2) await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < 3; i++)
      assert.equal((await httpRequest(gw.url, { path: `/kept/seq${i}` })).status, 200);
    assert.equal(connections - startConnections, 3);
    assert.equal(closed - startClosed, 2);
  });
});
