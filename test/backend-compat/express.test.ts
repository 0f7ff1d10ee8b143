/**
 * An unmodified Express 5 app on Portico's backend library: `createFastCgiServer(fromNodeHttp(app))`
 * and `createScgiServer(fromNodeHttp(app))`, each behind the real gateway. Every assertion is on
 * what an HTTP client of the gateway sees: status, headers, body.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express, { type NextFunction, type Request, type Response } from 'express';
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
