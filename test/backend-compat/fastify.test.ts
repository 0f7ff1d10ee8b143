/**
 * An unmodified Fastify 5 app on Portico's backend library, through its two documented entry
 * points: the handler Fastify passes to `serverFactory`, and `fastify.routing` after `ready()`.
 * Served by `createFastCgiServer(fromNodeHttp(...))` and `createScgiServer(...)` behind the real
 * gateway; every assertion is on what an HTTP client of the gateway sees.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import type { NodeHttpListener } from '../../src/backend/index.ts';
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
  /** Opened by the test once the client has the first chunk; the app then writes the rest. */
  readonly next: Deferred;
  /** The app's raw response emitted 'close'; `finished` tells whether it had ended. */
  readonly closed: Deferred<{ finished: boolean }>;
}

/** A realistic small Fastify app, registered the way one would before `app.listen()`. */
function registerRoutes(app: FastifyInstance, probes: StreamProbe[]): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', String(request.id));
  });

  app.get<{ Params: { id: string }; Querystring: { fields?: string } }>(
    '/users/:id',
    async (request, reply) => {
      const id = Number(request.params.id);
      if (!Number.isInteger(id) || id <= 0) {
        return reply.code(404).send({ error: 'no such user', id: request.params.id });
      }
      return { id, name: `user${id}`, fields: request.query.fields ?? null };
    },
  );
  app.get<{ Params: { id: string; post: string } }>('/users/:id/posts/:post', async (request) => ({
    user: request.params.id,
    post: request.params.post,
    query: request.query,
  }));

  app.post(
    '/json',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } },
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ received: request.body, type: request.headers['content-type'] }),
  );
  app.post('/form', async (request) => ({ received: request.body }));
  // The default bodyLimit is 1 MiB; this route takes 4.
  app.post('/upload', { bodyLimit: 4 * 1024 * 1024 }, async (request) => {
    const body = request.body as Buffer;
    return { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };
  });
  app.post('/upload-small', async (request) => ({ bytes: (request.body as Buffer).length }));

  app.get('/whoami', async (request) => ({
    ip: request.ip,
    protocol: request.protocol,
    hostname: request.hostname,
    port: request.port,
    userAgent: request.headers['user-agent'],
  }));

  app.get('/cookies', async (request, reply) => {
    const cookies: Record<string, string> = {};
    for (const part of (request.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0) cookies[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
    }
    reply.header('Set-Cookie', ['session=abc; Path=/; HttpOnly', 'theme=dark; Path=/']);
    return { cookies };
  });

  app.get('/old', async (_request, reply) => reply.redirect('/users/42'));
  app.get('/away', async (_request, reply) => reply.redirect('https://example.com/elsewhere', 301));

  app.get('/stream', (request, reply) => {
    const probe: StreamProbe = { next: deferred(), closed: deferred() };
    probes.push(probe);
    reply.raw.on('close', () => probe.closed.resolve({ finished: reply.raw.writableFinished }));
    const body = new PassThrough();
    body.write('chunk-1\n');
    void probe.next.promise.then(() => {
      if (request.raw.destroyed) return;
      body.write('chunk-2\n');
      setTimeout(() => body.end('chunk-3\n'), 20);
    });
    return reply.type('text/plain').send(body as Readable);
  });

  app.get('/boom', async () => {
    throw new Error('async failure');
  });
  app.get('/teapot', async () => {
    const error = new Error('short and stout') as Error & { statusCode: number };
    error.statusCode = 418;
    throw error;
  });

  app.setNotFoundHandler(async (request, reply) =>
    reply.code(404).send({ error: 'not found', url: request.url }),
  );
  app.setErrorHandler(async (error: Error & { statusCode?: number }, _request, reply) => {
    const status = error.statusCode ?? 500;
    return reply.code(status).send({ error: status === 500 ? 'internal' : error.message, status });
  });
}

/** Fastify's documented serverFactory: it hands over its request handler; the server never listens. */
async function viaServerFactory(
  probes: StreamProbe[],
): Promise<{ app: FastifyInstance; listener: NodeHttpListener }> {
  let listener: NodeHttpListener | undefined;
  const app = Fastify({
    logger: false,
    serverFactory: (handler) => {
      listener = handler;
      return createServer(handler);
    },
  });
  registerRoutes(app, probes);
  await app.ready();
  assert.ok(listener !== undefined);
  return { app, listener };
}

/** `fastify.routing`, documented as the router's entry point for a request/response pair. */
async function viaRouting(
  probes: StreamProbe[],
): Promise<{ app: FastifyInstance; listener: NodeHttpListener }> {
  const app = Fastify({ logger: false });
  registerRoutes(app, probes);
  await app.ready();
  return { app, listener: app.routing };
}

const ENTRIES = { serverFactory: viaServerFactory, routing: viaRouting } as const;

for (const protocol of PROTOCOLS) {
  for (const [entry, start] of Object.entries(ENTRIES)) {
    describe(`Fastify (${entry}) behind Portico over ${protocol} (fromNodeHttp)`, () => {
      let served: AppBehindGateway;
      let app: FastifyInstance;
      const probes: StreamProbe[] = [];
      let url = '';

      before(async () => {
        const started = await start(probes);
        app = started.app;
        // FastCGI with FCGI_KEEP_CONN: one backend connection carries request after request.
        served = await serveBehindGateway(
          protocol,
          started.listener,
          protocol === 'fastcgi' ? { keep_conn: true } : {},
        );
        url = served.gw.url;
      });

      after(async () => {
        await served?.close();
        await app?.close();
      });

      it('routes with params and a query string; an object reply is JSON; onRequest hook headers', async () => {
        const { status, headers, json } = await httpJson(url, { path: '/users/7?fields=name' });
        assert.equal(status, 200);
        assert.equal(headers['content-type'], 'application/json; charset=utf-8');
        assert.match(String(headers['x-request-id']), /^req-/);
        assert.deepEqual(json, { id: 7, name: 'user7', fields: 'name' });

        const nested = await httpJson(url, { path: '/users/3/posts/hello%20world?a=1&b=two' });
        assert.equal(nested.status, 200);
        assert.deepEqual(nested.json, { user: '3', post: 'hello world', query: { a: '1', b: 'two' } });
      });

      it('reply.code(404) from a route, and the not-found handler for an unmatched path', async () => {
        const missing = await httpJson(url, { path: '/users/0' });
        assert.equal(missing.status, 404);
        assert.deepEqual(missing.json, { error: 'no such user', id: '0' });

        const unmatched = await httpJson(url, { path: '/no/such/route?x=1' });
        assert.equal(unmatched.status, 404);
        assert.deepEqual(unmatched.json, { error: 'not found', url: '/no/such/route?x=1' });
      });

      it('a JSON body validated by the route schema; invalid: 400; malformed: 400', async () => {
        const payload = { name: 'Zoë', tags: ['a', 'b'] };
        const ok = await httpJson(url, {
          method: 'POST',
          path: '/json',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(payload),
        });
        assert.equal(ok.status, 201);
        assert.deepEqual(ok.json, { received: payload, type: 'application/json' });

        for (const body of ['{"tags": []}', '{"name": ']) {
          const bad = await httpJson(url, {
            method: 'POST',
            path: '/json',
            headers: { 'Content-Type': 'application/json' },
            body,
          });
          assert.equal(bad.status, 400, body);
          assert.equal(bad.json.status, 400, body);
        }
      });

      it('a urlencoded form through a content-type parser', async () => {
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
        assert.deepEqual(headers['set-cookie'], ['session=abc; Path=/; HttpOnly', 'theme=dark; Path=/']);
      });

      it('request.ip, request.protocol, request.hostname and port', async () => {
        const { json } = await httpJson(url, {
          path: '/whoami',
          headers: { Host: 'shop.example:8080', 'User-Agent': 'compat-test/1' },
        });
        assert.deepEqual(json, {
          ip: '127.0.0.1',
          protocol: 'http',
          hostname: 'shop.example',
          port: 8080,
          userAgent: 'compat-test/1',
        });
      });

      it('reply.redirect: a local 302 and an absolute 301 pass through with their Location', async () => {
        const local = await httpRequest(url, { path: '/old' });
        assert.equal(local.status, 302);
        assert.equal(local.headers.location, '/users/42');

        const away = await httpRequest(url, { path: '/away' });
        assert.equal(away.status, 301);
        assert.equal(away.headers.location, 'https://example.com/elsewhere');
      });

      it('HEAD on a GET route: the head with Content-Length, no body', async () => {
        const get = await httpRequest(url, { path: '/users/9' });
        const head = await httpRequest(url, { method: 'HEAD', path: '/users/9' });
        assert.equal(head.status, 200);
        assert.equal(head.headers['content-length'], String(get.body.length));
        assert.equal(head.headers['content-type'], 'application/json; charset=utf-8');
        assert.equal(head.body.length, 0);
      });

      it('a streamed reply: each chunk reaches the client before the app writes the next', async () => {
        const before = probes.length;
        const res = await openRequest(url, { path: '/stream' });
        assert.equal(res.statusCode, 200);
        assert.match(String(res.headers['content-type']), /^text\/plain/);
        // The app waits for the test's gate: chunk-1 was not held back anywhere on the way.
        assert.equal(await readUntil(res, 'chunk-1\n'), 'chunk-1\n');
        const probe = probes[before]!;
        probe.next.resolve();
        assert.equal(await readRest(res), 'chunk-2\nchunk-3\n');
        assert.deepEqual(await probe.closed.promise, { finished: true });
      });

      it("a client that leaves mid-stream: the app's raw response closes unfinished", async () => {
        const before = probes.length;
        const res = await openRequest(url, { path: '/stream' });
        await readUntil(res, 'chunk-1\n');
        res.destroy();
        assert.deepEqual(await probes[before]!.closed.promise, { finished: false });
      });

      it("a 2 MB upload: the app computes its sha256; over the default bodyLimit: Fastify's 413", async () => {
        const data = randomBytes(2 * 1024 * 1024);
        const headers = { 'Content-Type': 'application/octet-stream' };
        const { status, json } = await httpJson(url, {
          method: 'POST',
          path: '/upload',
          headers,
          body: data,
        });
        assert.equal(status, 200);
        assert.deepEqual(json, { bytes: data.length, sha256: sha256(data) });

        const chunks = [data.subarray(0, 1000), data.subarray(1000, 1_500_000), data.subarray(1_500_000)];
        const chunked = await httpJson(url, { method: 'POST', path: '/upload', headers, chunks });
        assert.equal(chunked.status, 200);
        assert.equal(chunked.json.sha256, sha256(data));

        const tooBig = await httpJson(url, { method: 'POST', path: '/upload-small', headers, body: data });
        assert.equal(tooBig.status, 413);
        assert.equal(tooBig.json.status, 413);
      });

      it('a thrown error: 500 from the error handler; an error with statusCode keeps it', async () => {
        const boom = await httpJson(url, { path: '/boom' });
        assert.equal(boom.status, 500);
        assert.deepEqual(boom.json, { error: 'internal', status: 500 });
        const teapot = await httpJson(url, { path: '/teapot' });
        assert.equal(teapot.status, 418);
        assert.deepEqual(teapot.json, { error: 'short and stout', status: 418 });
        assert.deepEqual(served.backendErrors, []);
      });

      it('20 requests at once: each gets its own answer', async () => {
        const ids = Array.from({ length: 20 }, (_, i) => i + 1);
        const replies = await Promise.all(ids.map((id) => httpJson(url, { path: `/users/${id}` })));
        assert.deepEqual(
          replies.map((r) => r.json.id),
          ids,
        );
      });
    });
  }
}
