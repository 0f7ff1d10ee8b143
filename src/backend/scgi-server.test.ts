import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { encodeScgiHead } from '../protocol/scgi/encode.ts';
import { Prng } from '../util/prng.ts';
import type { BackendRequest } from './request.ts';
import { cgiParams, connectTo, parseCgiResponse, scgiExchange } from './test-support/clients.ts';
import { deferred, startScgi } from './test-support/servers.ts';

async function readAll(req: BackendRequest): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('SCGI server', () => {
  it('answers a GET with a CGI response and closes the connection', async (t) => {
    const s = await startScgi((req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.end(`${req.method} ${req.url} ${req.headers.host} ${req.env.SCGI}`);
    });
    t.after(() => s.close());
    const { data, reset } = await scgiExchange(s.address, cgiParams('GET', '/a/b?c=d'));
    assert.equal(reset, false);
    const res = parseCgiResponse(data);
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers.get('content-type'), ['text/plain']);
    assert.equal(res.body.toString(), 'GET /a/b?c=d example.test 1');
  });

  it('streams a POST body to the handler and echoes it', async (t) => {
    const s = await startScgi(async (req, res) => {
      const body = await readAll(req);
      res.writeHead(200, { 'Content-Length': body.length });
      res.end(body);
    });
    t.after(() => s.close());
    const body = Buffer.from('What is the answer to life?');
    const { data } = await scgiExchange(s.address, cgiParams('POST', '/deepthought'), body);
    assert.deepEqual(parseCgiResponse(data).body, body);
  });

  it('takes a 5 MB body, sha256 checked by the handler', async (t) => {
    const prng = new Prng();
    const body = prng.bytes(5 * 1024 * 1024);
    const s = await startScgi(async (req, res) => {
      const hash = createHash('sha256');
      for await (const chunk of req) hash.update(chunk as Buffer);
      res.end(hash.digest('hex'));
    });
    t.after(() => s.close());
    const { data } = await scgiExchange(s.address, cgiParams('PUT', '/big'), body);
    assert.equal(parseCgiResponse(data).body.toString(), createHash('sha256').update(body).digest('hex'));
  });

  it('streams a response in steps, with backpressure while the client does not read', async (t) => {
    const sawFalse = deferred<number>();
    const step = deferred();
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    const s = await startScgi(async (_req, res) => {
      res.flushHeaders();
      res.write('first step\n');
      await step.promise;
      let written = 0;
      while (res.write(chunk)) {
        written += chunk.length;
        if (written > 512 * 1024 * 1024) throw new Error('no backpressure');
      }
      sawFalse.resolve(written + chunk.length);
      await once(res, 'drain');
      res.end('last\n');
    });
    t.after(() => s.close());
    const socket = await connectTo(s.address);
    const received: Buffer[] = [];
    let text = '';
    const firstStep = deferred();
    socket.on('data', (d: Buffer) => {
      received.push(d);
      text += d.toString('latin1');
      if (text.includes('first step\n')) firstStep.resolve();
    });
    socket.write(encodeScgiHead(cgiParams('GET', '/stream'), 0));
    await firstStep.promise;
    socket.pause();
    step.resolve();
    const written = await sawFalse.promise;
    socket.resume();
    await once(socket, 'close');
    const res = parseCgiResponse(Buffer.concat(received));
    assert.equal(res.body.length, 'first step\n'.length + written + 'last\n'.length);
    assert.equal(res.body.subarray(-6).toString(), 'blast\n');
  });

  it('fires the signal when the web server closes the connection', async (t) => {
    const started = deferred();
    const aborted = deferred<unknown>();
    const s = await startScgi((req) => {
      req.signal.addEventListener('abort', () => aborted.resolve(req.signal.reason));
      started.resolve();
    });
    t.after(() => s.close());
    const socket = await connectTo(s.address);
    socket.write(encodeScgiHead(cgiParams('GET', '/'), 0));
    await started.promise;
    socket.destroy();
    assert.equal(((await aborted.promise) as { code: string }).code, 'ERR_BACKEND_CONNECTION_CLOSED');
  });

  it('turns a throwing handler into a 500, and resets the connection when the head was sent', async (t) => {
    const s = await startScgi((req, res) => {
      if (req.url === '/late') {
        res.write('half');
        throw new Error('late boom');
      }
      throw new Error('boom');
    });
    t.after(() => s.close());
    const early = await scgiExchange(s.address, cgiParams('GET', '/early'));
    assert.equal(parseCgiResponse(early.data).status, 500);
    const late = await scgiExchange(s.address, cgiParams('GET', '/late'));
    assert.equal(late.reset, true);
    assert.deepEqual(
      s.errors.map((e) => (e as Error).message),
      ['boom', 'late boom'],
    );
  });

  it('refuses a header block over maxHeaderBytes with 431 and a malformed one with 400', async (t) => {
    const s = await startScgi((_req, res) => res.end('unreachable'), { maxHeaderBytes: 512 });
    t.after(() => s.close());
    const big = await scgiExchange(s.address, cgiParams('GET', '/', [['HTTP_COOKIE', 'x'.repeat(600)]]));
    assert.equal(parseCgiResponse(big.data).status, 431);
    const socket = await connectTo(s.address);
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.write('12:CONTENT_LENGTH,');
    await once(socket, 'close');
    assert.equal(parseCgiResponse(Buffer.concat(received)).status, 400);
    assert.deepEqual(
      s.errors.map((e) => (e as { code: string }).code),
      ['ERR_SCGI_HEADERS_TOO_LARGE', 'ERR_SCGI_HEADERS'],
    );
  });

  it('refuses a body over maxBodyBytes with 413 before running the handler', async (t) => {
    let ran = false;
    const s = await startScgi(
      (_req, res) => {
        ran = true;
        res.end();
      },
      { maxBodyBytes: 10 },
    );
    t.after(() => s.close());
    const { data } = await scgiExchange(s.address, cgiParams('POST', '/'), Buffer.alloc(11));
    assert.equal(parseCgiResponse(data).status, 413);
    assert.equal(ran, false);
  });
});
