/**
 * Portico in front of Portico's own backend libraries (src/backend: createScgiServer,
 * createFastCgiServer): the same handler over both protocols, large bodies both ways by
 * sha256, FastCGI stderr, and a client leaving mid-response firing the backend's abort signal.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo, Server } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createFastCgiServer, createScgiServer } from '../../src/backend/index.ts';
import type { BackendRequest, BackendResponse } from '../../src/backend/index.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { logLines, showLog, startTestGateway, type TestGateway } from './support/gateway.ts';
import { headEnd, httpJson, httpRequest, RawConnection } from './support/http.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A deterministic body of `size` bytes (block i is sha256("i") as hex). */
function pattern(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0, i = 0; at < size; i++)
    at += out.write(createHash('sha256').update(String(i)).digest('hex'), at);
  return out;
}

interface StreamProbe {
  aborted: boolean;
  finished: boolean;
  done: Promise<void>;
}

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`Portico's own ${protocol} server library through Portico`, () => {
    let root: TempDir;
    let server: Server;
    let gw: TestGateway;
    let probe: StreamProbe | undefined;
    const big = pattern(10 * 1024 * 1024);

    async function handler(req: BackendRequest, res: BackendResponse): Promise<void> {
      const path = req.url.split('?')[0];
      if (path === '/echo') {
        const hash = createHash('sha256');
        let length = 0;
        for await (const chunk of req as AsyncIterable<Buffer>) {
          hash.update(chunk);
          length += chunk.length;
        }
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            contentLength: req.env.CONTENT_LENGTH,
            query: req.env.QUERY_STRING,
            proxy: req.env.HTTP_PROXY ?? null,
            header: req.headers['x-portico-test'] ?? null,
            length,
            sha256: hash.digest('hex'),
          }),
        );
      } else if (path === '/big') {
        res.setHeader('Content-Type', 'application/octet-stream');
        if (req.url.endsWith('?cl')) res.setHeader('Content-Length', big.length);
        for (let at = 0; at < big.length; at += 100_000) {
          if (!res.write(big.subarray(at, at + 100_000))) {
            await new Promise<void>((resolve) => res.once('drain', resolve));
          }
        }
        res.end();
      } else if (path === '/stderr') {
        res.stderr.write(`node-stderr-marker ${req.env.QUERY_STRING}\n`);
        res.end('logged');
      } else if (path === '/stream') {
        let finish: () => void = () => {};
        const p: StreamProbe = { aborted: false, finished: false, done: new Promise((r) => (finish = r)) };
        probe = p;
        req.signal.addEventListener('abort', () => {
          p.aborted = true;
          finish();
        });
        res.setHeader('Content-Type', 'text/plain');
        // Slow and bounded: a gateway that never passes the client's departure on lets it finish.
        for (let i = 0; i < 2000 && !req.signal.aborted; i++) {
          res.write(Buffer.alloc(8192, 0x79));
          await delay(5);
        }
        if (!req.signal.aborted) {
          p.finished = true;
          res.end();
          finish();
        }
      } else {
        res.statusCode = 404;
        res.end('not here');
      }
    }

    before(async () => {
      root = await makeTempDir('node-backend-root');
      server = protocol === 'scgi' ? createScgiServer(handler) : createFastCgiServer(handler);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      gw = await startTestGateway({
        root: root.path,
        client_max_body_size: '32m',
        locations: [{ match: '/', [protocol]: { pass: `127.0.0.1:${port}` } }],
      });
    });

    after(async () => {
      await gw?.close();
      (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      await root?.cleanup();
    });

    it('GET: method, url, query and headers as the client sent them; no Proxy header', async () => {
      const { status, json } = await httpJson(gw.url, {
        path: '/echo?a=%20b',
        headers: { 'X-Portico-Test': 'yes', Proxy: 'http://attacker.example/' },
      });
      assert.equal(status, 200);
      assert.equal(json.method, 'GET');
      assert.equal(json.url, '/echo?a=%20b');
      assert.equal(json.query, 'a=%20b');
      assert.equal(json.header, 'yes');
      assert.equal(json.proxy, null);
    });

    it('a 20 MB upload: the backend confirms its sha256', async () => {
      const data = randomBytes(20 * 1024 * 1024);
      const { status, json } = await httpJson(gw.url, { method: 'POST', path: '/echo', body: data });
      assert.equal(status, 200);
      assert.equal(json.length, data.length);
      assert.equal(json.contentLength, String(data.length));
      assert.equal(json.sha256, sha256(data));
    });

    it('a chunked upload arrives with its exact CONTENT_LENGTH', async () => {
      const data = randomBytes(70_000);
      const chunks = [data.subarray(0, 1), data.subarray(1, 40_000), data.subarray(40_000)];
      const { status, json } = await httpJson(gw.url, { method: 'PUT', path: '/echo', chunks });
      assert.equal(status, 200);
      assert.equal(json.contentLength, String(data.length));
      assert.equal(json.sha256, sha256(data));
    });

    for (const withLength of [true, false]) {
      it(`a 10 MB response ${withLength ? 'with' : 'without'} Content-Length arrives whole`, async () => {
        const res = await httpRequest(gw.url, { path: withLength ? '/big?cl' : '/big' });
        assert.equal(res.status, 200);
        assert.equal(res.body.length, big.length);
        assert.equal(sha256(res.body), sha256(big));
      });
    }

    if (protocol === 'fastcgi') {
      it('res.stderr reaches the error log with the request id and the backend address', async () => {
        const marker = randomBytes(6).toString('hex');
        const res = await httpRequest(gw.url, { path: `/stderr?${marker}` });
        assert.equal(res.status, 200);
        const lines = logLines(gw.log, 'error', new RegExp(`node-stderr-marker ${marker}`));
        assert.equal(lines.length, 1, showLog(gw.log));
        assert.match(String(lines[0]!.fields?.requestId), /^[0-9a-f]{32}$/);
        assert.equal(lines[0]!.fields?.backend, `127.0.0.1:${(server.address() as AddressInfo).port}`);
      });
    }

    it("a client that leaves mid-response fires the backend request's abort signal", async () => {
      probe = undefined;
      const conn = await RawConnection.open(gw.address);
      conn.write('GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await conn.readUntil((d) => headEnd(d) > 0 && d.length > headEnd(d) + 8192, 'some body');
      conn.destroy();
      assert.ok(probe !== undefined);
      const p = probe as StreamProbe;
      await p.done;
      assert.equal(p.finished, false, 'the backend streamed to the end: nobody told it the client left');
      assert.equal(p.aborted, true);
    });
  });
}
