/**
 * FastCGI connection reuse through the gateway: with `keep_conn: on` requests share one kept
 * connection to the backend (FCGI_KEEP_CONN), without it every request has its own, as nginx.
 * The backend is Portico's own FastCGI server, which counts its connections.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { createFastCgiServer, type FastCgiServer } from '../../src/backend/index.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';

let backend: FastCgiServer;
let connections = 0;
let gw: TestGateway;

before(async () => {
  backend = createFastCgiServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`${req.env.REQUEST_URI} ${req.env.FCGI_CONN ?? ''}`);
  });
  backend.on('connection', (_socket: Socket) => {
    connections++;
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const address = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
  gw = await startTestGateway({
    // One request per connection is what is measured here; multiplexing has its own tests.
    upstreams: { app: { protocol: 'fastcgi', keepalive: 4, multiplex: 'off', servers: [{ address }] } },
    locations: [
      { match: '/kept/', fastcgi: { pass: 'app', keep_conn: true } },
      { match: '/single/', fastcgi: { pass: 'app' } },
    ],
  });
});

after(async () => {
  await gw.close();
  backend.closeAllConnections();
  backend.close();
});

// First, while nothing is kept yet: a kept connection would also serve a keep_conn-off request
// once (as from nginx's keepalive cache), after which the backend closes it.
test('keep_conn off (nginx default): a connection per request', async () => {
  const before = connections;
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${gw.url}/single/${i}`);
    assert.equal(res.status, 200);
    await res.text();
  }
  assert.equal(connections - before, 5);
});

test('keep_conn on: 20 sequential requests over one backend connection', async () => {
  const before = connections;
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${gw.url}/kept/${i}`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), new RegExp(`^/kept/${i} `));
  }
  assert.equal(connections - before, 1);
});

test('keep_conn on under concurrency: answers match their requests, connections stay few', async () => {
  const before = connections;
  const results = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const res = await fetch(`${gw.url}/kept/c${i}`);
      return { i, body: await res.text() };
    }),
  );
  for (const { i, body } of results) assert.match(body, new RegExp(`^/kept/c${i} `));
  assert.ok(connections - before <= 40);
  // Sequential requests afterwards reuse what is kept: no new connection.
  const kept = connections;
  for (let i = 0; i < 5; i++) await (await fetch(`${gw.url}/kept/after${i}`)).text();
  assert.equal(connections, kept);
});
