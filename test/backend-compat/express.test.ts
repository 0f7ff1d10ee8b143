/**
 * An unmodified Express 5 app on Portico's backend library: `createFastCgiServer(fromNodeHttp(app))`
 * and `createScgiServer(fromNodeHttp(app))`, each behind the real gateway. Every assertion is on
 * what an HTTP client of the gateway sees: status, headers, body.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createScgiServer, fromNodeHttp } from '../../src/backend/index.ts';
import { cgiParams } from '../../src/backend/test-support/clients.ts';
import { encodeScgiHead } from '../../src/protocol/scgi/index.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { httpJson, httpRequest, openRequest } from '../integration/support/http.ts';
import {
  type AppBehindGateway,
  type Deferred,
  deferred,
  PROTOCOLS,
  readRest,
  readUntil,
  serveBehindGateway,
  sha256,
} from './support.ts';

interface StreamProbe {
  /** Opened by the test once the client has the first chunk; the app then writes the second. */
  readonly next: Deferred;
  /** The app's `res` emitted 'close' (finished or client gone); `finished` tells which. */
  readonly closed: Deferred<{ finished: boolean }>;
}

/** 64 KiB block number `i` of the /download body (deterministic, so the test can hash it). */
function block(i: number): Buffer {
  return Buffer.alloc(64 * 1024, createHash('sha256').update(String(i)).digest('hex'));
}

/** A realistic small Express app, written as one would for `app.listen()`. */
function buildApp(files: string, probes: StreamProbe[], sendFileOutcomes: Promise<string>[]) {
  const app = express();
  app.set('etag', 'strong');

  const users = express.Router();
  users.get('/:id', (req, res) => {
    const id = Number(req.params.id);
    if (!Number.isInteger(id) || id <= 0) {
      res.status(404).json({ error: 'no such user', id: req.params.id });
      return;
    }
    res.json({ id, name: `user${id}`, fields: req.query.fields ?? null });
  });
  users.get('/:id/posts/:post', (req, res) => {
    res.json({ user: req.params.id, post: req.params.post, query: req.query });
  });
  app.use('/users', users);

  app.post('/json', express.json(), (req, res) => {
    res.status(201).json({ received: req.body, type: req.get('content-type') });
  });
  app.post('/form', express.urlencoded({ extended: false }), (req, res) => {
    res.json({ received: req.body });
  });
  app.post('/raw', express.raw({ type: 'application/octet-stream', limit: '4mb' }), (req, res) => {
    const body = req.body as Buffer;
    res.json({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  });
  app.post('/upload', (req, res, next) => {
    // Streamed: the app never holds the body.
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    req.on('error', next);
    req.on('end', () => res.json({ bytes, sha256: hash.digest('hex'), length: req.get('content-length') }));
  });

  app.get('/whoami', (req, res) => {
    res.json({
      ip: req.ip,
      protocol: req.protocol,
      secure: req.secure,
      hostname: req.hostname,
      userAgent: req.get('user-agent'),
    });
  });

  app.get('/cookies', (req, res) => {
    const cookies: Record<string, string> = {};
    for (const part of (req.get('cookie') ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0) cookies[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
    }
    res.cookie('session', 'abc 123', { httpOnly: true, path: '/', sameSite: 'lax' });
    res.cookie('theme', 'dark');
    res.json({ cookies });
  });

  app.get('/old', (_req, res) => res.redirect('/users/42'));
  app.get('/away', (_req, res) => res.redirect(301, 'https://example.com/elsewhere'));

  app.get('/stream', (_req, res) => {
    const probe: StreamProbe = { next: deferred(), closed: deferred() };
    probes.push(probe);
    res.on('close', () => probe.closed.resolve({ finished: res.writableFinished }));
    res.type('text/plain');
    res.write('chunk-1\n');
    void probe.next.promise.then(() => {
      if (res.destroyed) return;
      res.write('chunk-2\n');
      setTimeout(() => res.end('chunk-3\n'), 20);
    });
  });

  // Server-sent events: the head and an opening comment go out before any event exists.
  // (The comment matters behind Portico: see docs/backend.md, a head alone waits for a body byte.)
  app.get('/events', (_req, res) => {
    const probe: StreamProbe = { next: deferred(), closed: deferred() };
    probes.push(probe);
    res.on('close', () => probe.closed.resolve({ finished: res.writableFinished }));
    res.set('Content-Type', 'text/event-stream');
    res.set('Cache-Control', 'no-cache');
    res.flushHeaders();
    res.write(':ok\n\n');
    void probe.next.promise.then(() => res.end('event: hello\ndata: 1\n\n'));
  });

  // 8 MB written as fast as the client reads: res.write() returns false, the app waits for 'drain'.
  app.get('/download', async (_req, res) => {
    res.type('application/octet-stream');
    for (let i = 0; i < 128; i++) {
      if (!res.write(block(i))) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  });

  // 103 Early Hints and trailers: node:http sends them; a CGI response has room for neither.
  app.get('/extras', (_req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.set('Trailer', 'X-Checksum');
    res.type('text/plain');
    res.write('body');
    res.addTrailers({ 'X-Checksum': 'abc' });
    res.end();
  });

  app.get('/file', (_req, res, next) => {
    const outcome = deferred<string>();
    sendFileOutcomes.push(outcome.promise);
    res.sendFile(join(files, 'data.bin'), (error) => {
      outcome.resolve(error === undefined ? 'sent' : `${(error as { code?: string }).code}`);
      // Express's documented pattern; after an abort the head is out and this is a no-op.
      if (error !== undefined && !res.headersSent) next(error);
    });
  });

  app.get('/boom', () => {
    throw new Error('sync failure');
  });
  app.get('/boom-async', async () => {
    await Promise.resolve();
    throw new Error('async failure');
  });

  // Express's documented error middleware: four parameters.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (error as { status?: number }).status ?? 500;
    res.status(status).json({ error: status === 500 ? 'internal' : (error as Error).message, status });
  });
  return app;
}

for (const protocol of PROTOCOLS) {
  describe(`Express behind Portico over ${protocol} (fromNodeHttp)`, () => {
    let served: AppBehindGateway;
    let files: TempDir;
    const probes: StreamProbe[] = [];
    const sendFileOutcomes: Promise<string>[] = [];
    const fileData = randomBytes(300_000);
    let url = '';

    before(async () => {
      files = await makeTempDir('express-files');
      await writeFile(join(files.path, 'data.bin'), fileData);
      served = await serveBehindGateway(protocol, buildApp(files.path, probes, sendFileOutcomes));
      url = served.gw.url;
    });

    after(async () => {
      await served?.close();
      await files?.cleanup();
    });

    it('routes with params and a query string; res.json', async () => {
      const { status, headers, json } = await httpJson(url, { path: '/users/7?fields=name' });
      assert.equal(status, 200);
      assert.match(String(headers['content-type']), /^application\/json; charset=utf-8$/);
      assert.equal(headers['x-powered-by'], 'Express');
      assert.deepEqual(json, { id: 7, name: 'user7', fields: 'name' });

      const nested = await httpJson(url, { path: '/users/3/posts/hello%20world?a=1&b=two' });
      assert.equal(nested.status, 200);
      assert.deepEqual(nested.json, { user: '3', post: 'hello world', query: { a: '1', b: 'two' } });
    });

    it('res.status(404) from a route, and the 404 of an unmatched path', async () => {
      const missing = await httpJson(url, { path: '/users/0' });
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.json, { error: 'no such user', id: '0' });

      const unmatched = await httpRequest(url, { path: '/no/such/route' });
      assert.equal(unmatched.status, 404);
      assert.match(unmatched.body.toString(), /Cannot GET \/no\/such\/route/);
      assert.match(String(unmatched.headers['content-type']), /^text\/html/);
    });

    it('express.json(): a JSON body parsed; malformed JSON is a 400 from the error middleware', async () => {
      const payload = { name: 'Zoë', tags: ['a', 'b'], nested: { n: 1.5 } };
      const ok = await httpJson(url, {
        method: 'POST',
        path: '/json',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(payload),
      });
      assert.equal(ok.status, 201);
      assert.deepEqual(ok.json, { received: payload, type: 'application/json' });

      const bad = await httpJson(url, {
        method: 'POST',
        path: '/json',
        headers: { 'Content-Type': 'application/json' },
        body: '{"name": ',
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.status, 400);
    });

    it('express.urlencoded(): a form body parsed', async () => {
      const { status, json } = await httpJson(url, {
        method: 'POST',
        path: '/form',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'user=ann+lee&note=a%26b%3Dc&empty=',
      });
      assert.equal(status, 200);
      assert.deepEqual(json, { received: { user: 'ann lee', note: 'a&b=c', empty: '' } });
    });

    it('cookies: the Cookie header reaches the app; two Set-Cookie lines reach the client', async () => {
      const { status, headers, json } = await httpJson(url, {
        path: '/cookies',
        headers: { Cookie: 'a=1; b=hello%20there' },
      });
      assert.equal(status, 200);
      assert.deepEqual(json, { cookies: { a: '1', b: 'hello there' } });
      assert.deepEqual(headers['set-cookie'], [
        'session=abc%20123; Path=/; HttpOnly; SameSite=Lax',
        'theme=dark; Path=/',
      ]);
    });

    it('req.ip, req.protocol, req.hostname come from the CGI variables', async () => {
      const { json } = await httpJson(url, {
        path: '/whoami',
        headers: { Host: 'shop.example:8080', 'User-Agent': 'compat-test/1' },
      });
      assert.deepEqual(json, {
        ip: '127.0.0.1',
        protocol: 'http',
        secure: false,
        hostname: 'shop.example',
        userAgent: 'compat-test/1',
      });
    });

    it('res.redirect: a local 302 and an absolute 301 pass through with their Location', async () => {
      const local = await httpRequest(url, { path: '/old' });
      assert.equal(local.status, 302);
      assert.equal(local.headers.location, '/users/42');
      assert.match(local.body.toString(), /Redirecting to \/users\/42/);

      const away = await httpRequest(url, { path: '/away' });
      assert.equal(away.status, 301);
      assert.equal(away.headers.location, 'https://example.com/elsewhere');
    });

    it('ETag on res.json; a conditional GET gets 304 with no body; HEAD gets the head only', async () => {
      const first = await httpRequest(url, { path: '/users/9' });
      const etag = first.headers.etag;
      assert.equal(typeof etag, 'string');
      const again = await httpRequest(url, { path: '/users/9', headers: { 'If-None-Match': etag! } });
      assert.equal(again.status, 304);
      assert.equal(again.body.length, 0);
      assert.equal(again.headers.etag, etag);

      const head = await httpRequest(url, { method: 'HEAD', path: '/users/9' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(first.body.length));
      assert.equal(head.body.length, 0);
    });

    it('a streamed response: each res.write reaches the client before the app writes the next', async () => {
      const before = probes.length;
      const res = await openRequest(url, { path: '/stream' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      // The app is blocked until the test opens the gate: this proves chunk-1 was not buffered.
      assert.equal(await readUntil(res, 'chunk-1\n'), 'chunk-1\n');
      const probe = probes[before]!;
      probe.next.resolve();
      assert.equal(await readRest(res), 'chunk-2\nchunk-3\n');
      assert.deepEqual(await probe.closed.promise, { finished: true });
    });

    it("a client that leaves mid-stream: the app's res emits 'close' unfinished", async () => {
      const before = probes.length;
      const res = await openRequest(url, { path: '/stream' });
      await readUntil(res, 'chunk-1\n');
      res.destroy();
      const probe = probes[before]!;
      assert.deepEqual(await probe.closed.promise, { finished: false });
    });

    it('server-sent events: the head and the opening comment arrive before any event', async () => {
      const before = probes.length;
      // openRequest resolves on the response head, while the app still waits for the test.
      const res = await openRequest(url, { path: '/events' });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.equal(await readUntil(res, ':ok\n\n'), ':ok\n\n');
      probes[before]!.next.resolve();
      assert.equal(await readRest(res), 'event: hello\ndata: 1\n\n');
      assert.deepEqual(await probes[before]!.closed.promise, { finished: true });
    });

    it('an 8 MB download written under backpressure arrives whole', async () => {
      const hash = createHash('sha256');
      for (let i = 0; i < 128; i++) hash.update(block(i));
      const res = await httpRequest(url, { path: '/download' });
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 128 * 64 * 1024);
      assert.equal(sha256(res.body), hash.digest('hex'));
    });

    it('OPTIONS: Express answers with the Allow header of the route', async () => {
      const res = await httpRequest(url, { method: 'OPTIONS', path: '/users/1' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.allow, 'GET, HEAD');
      assert.equal(res.body.toString(), 'GET, HEAD');
    });

    it('103 Early Hints and trailers are dropped (a CGI response has one head, no trailers)', async () => {
      const res = await httpRequest(url, { path: '/extras' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'body');
      assert.equal(res.headers.link, undefined);
      assert.equal(res.headers['x-checksum'], undefined);
      assert.deepEqual(served.backendErrors, []);
    });

    it('a 2 MB upload: the app computes its sha256 (streamed, and with express.raw)', async () => {
      const data = randomBytes(2 * 1024 * 1024);
      for (const path of ['/upload', '/raw']) {
        const { status, json } = await httpJson(url, {
          method: 'POST',
          path,
          headers: { 'Content-Type': 'application/octet-stream' },
          body: data,
        });
        assert.equal(status, 200, path);
        assert.equal(json.bytes, data.length, path);
        assert.equal(json.sha256, sha256(data), path);
      }
      // Chunked from the client: the gateway passes CONTENT_LENGTH, the app sees a length.
      const chunks = [data.subarray(0, 1000), data.subarray(1000, 1_500_000), data.subarray(1_500_000)];
      const chunked = await httpJson(url, { method: 'POST', path: '/upload', chunks });
      assert.equal(chunked.status, 200);
      assert.equal(chunked.json.sha256, sha256(data));
      assert.equal(chunked.json.length, String(data.length));
    });

    it('res.sendFile: whole file, and a Range request gets 206', async () => {
      const before = sendFileOutcomes.length;
      const whole = await httpRequest(url, { path: '/file' });
      assert.equal(whole.status, 200);
      assert.equal(whole.headers['content-length'], String(fileData.length));
      assert.equal(whole.headers['accept-ranges'], 'bytes');
      assert.equal(sha256(whole.body), sha256(fileData));

      const part = await httpRequest(url, { path: '/file', headers: { Range: 'bytes=100-199' } });
      assert.equal(part.status, 206);
      assert.equal(part.headers['content-range'], `bytes 100-199/${fileData.length}`);
      assert.deepEqual(part.body, fileData.subarray(100, 200));
      // The app saw both transfers complete, not ECONNABORTED: its socket stayed open until
      // node:http finished the response (the adapter used to close it at the last body byte).
      assert.deepEqual(await Promise.all(sendFileOutcomes.slice(before)), ['sent', 'sent']);
    });

    it('a thrown error and a rejected async handler: 500 from the error middleware', async () => {
      for (const path of ['/boom', '/boom-async']) {
        const { status, json } = await httpJson(url, { path });
        assert.equal(status, 500, path);
        assert.deepEqual(json, { error: 'internal', status: 500 }, path);
      }
      // Express handled them: nothing reached the backend server's onError.
      assert.deepEqual(served.backendErrors, []);
    });
  });
}

describe('Express on the SCGI server alone (no gateway): a head flushed alone', () => {
  it('res.flushHeaders() with no body yet: the CGI head goes out at once', async (t) => {
    const gate = deferred();
    const app = express();
    app.get('/events', (_req, res) => {
      res.set('Content-Type', 'text/event-stream');
      res.flushHeaders();
      void gate.promise.then(() => res.end('data: 1\n\n'));
    });
    const server = createScgiServer(fromNodeHttp(app));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(async () => {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    });
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    socket.write(encodeScgiHead(cgiParams('GET', '/events'), 0));
    let got = '';
    for await (const chunk of socket as AsyncIterable<Buffer>) {
      got += chunk.toString('latin1');
      if (got.includes('\r\n\r\n')) break; // the head is complete while the app still waits
    }
    assert.match(got, /^Status: 200 OK\r\n/);
    assert.match(got, /\r\nContent-Type: text\/event-stream; charset=utf-8\r\n/);
    assert.ok(got.endsWith('\r\n\r\n'), 'nothing of the body yet');
    gate.resolve();
    socket.destroy();
  });
});
