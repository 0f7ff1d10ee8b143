import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { RecordType, Role } from '../protocol/fastcgi/constants.ts';
import {
  encodeBeginRequest,
  encodeEndOfStream,
  encodeParams,
  frameStream,
} from '../protocol/fastcgi/encode.ts';
import { encodeFastCgiRequestHead } from '../protocol/fastcgi/encode.ts';
import type { Param } from '../protocol/params.ts';
import { Prng } from '../util/prng.ts';
import { fromNodeHttp } from './node-http-adapter.ts';
import { cgiParams, FastCgiTestClient, parseCgiResponse, scgiExchange } from './test-support/clients.ts';
import { deferred, startFastCgi, startScgi } from './test-support/servers.ts';

/** Only node:http APIs, the way Express and friends use them underneath. */
function app(req: IncomingMessage, res: ServerResponse): void {
  const parts: Buffer[] = [];
  req.on('data', (d: Buffer) => parts.push(d));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    if (req.url === '/echo') {
      res.statusCode = 201;
      res.statusMessage = 'Echoed';
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Sha', createHash('sha256').update(body).digest('hex'));
      // Two writes, no Content-Length: node:http answers chunked.
      res.write(body.subarray(0, 10));
      res.end(body.subarray(10));
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        headers: req.headers,
        remoteAddress: req.socket.remoteAddress,
        remotePort: req.socket.remotePort,
        encrypted: (req.socket as { encrypted?: boolean }).encrypted ?? false,
        body: body.toString(),
      }),
    );
  });
}

async function fcgi(address: { port: number }, params: Param[], body?: Buffer) {
  const client = await FastCgiTestClient.connect(address);
  client.write(encodeFastCgiRequestHead(1, params, false, body ?? Buffer.alloc(0)));
  const reply = await client.reply(1);
  return { reply, res: parseCgiResponse(reply.stdout) };
}

describe('fromNodeHttp', () => {
  it('runs a node:http listener behind FastCGI: method, url, headers, socket fields', async (t) => {
    const s = await startFastCgi(fromNodeHttp(app));
    t.after(() => s.close());
    const { reply, res } = await fcgi(
      s.address,
      cgiParams('GET', '/info?x=1', [
        ['HTTP_ACCEPT', 'text/html'],
        ['HTTP_CONNECTION', 'keep-alive'],
        ['HTTPS', 'on'],
        ['SERVER_PORT', '443'],
      ]),
    );
    assert.equal(reply.appStatus, 0);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('connection'), undefined);
    assert.equal(res.headers.get('transfer-encoding'), undefined);
    const json = JSON.parse(res.body.toString());
    assert.deepEqual(json, {
      method: 'GET',
      url: '/info?x=1',
      httpVersion: '1.1',
      headers: { host: 'example.test', accept: 'text/html', connection: 'close' },
      remoteAddress: '127.0.0.1',
      remotePort: 50000,
      encrypted: true,
      body: '',
    });
  });

  it('passes a body both ways and de-chunks the response, keeping status, reason and repeated headers', async (t) => {
    const body = new Prng().bytes(1024 * 1024);
    const s = await startFastCgi(fromNodeHttp(app));
    t.after(() => s.close());
    const { res } = await fcgi(s.address, cgiParams('POST', '/echo', [], body), body);
    assert.equal(res.status, 201);
    assert.equal(res.reason, 'Echoed');
    assert.deepEqual(res.headers.get('set-cookie'), ['a=1', 'b=2']);
    assert.deepEqual(res.headers.get('x-sha'), [createHash('sha256').update(body).digest('hex')]);
    assert.equal(res.headers.get('transfer-encoding'), undefined);
    assert.deepEqual(res.body, body);
  });

  it('sends a body of unknown length (no CONTENT_LENGTH) chunked to the app', async (t) => {
    const s = await startFastCgi(fromNodeHttp(app));
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    const params = cgiParams('POST', '/info', [['HTTP_TRANSFER_ENCODING', 'chunked']]);
    client.write(encodeBeginRequest(1, Role.RESPONDER, false));
    client.write(encodeParams(1, params));
    client.write(frameStream(RecordType.STDIN, 1, Buffer.from('hello ')));
    client.write(frameStream(RecordType.STDIN, 1, Buffer.from('world')));
    client.write(encodeEndOfStream(RecordType.STDIN, 1));
    const json = JSON.parse(parseCgiResponse((await client.reply(1)).stdout).body.toString());
    assert.equal(json.body, 'hello world');
    assert.equal(json.headers['transfer-encoding'], 'chunked');
  });

  it('forwards a streamed response step by step', async (t) => {
    const acks = [deferred(), deferred()];
    const s = await startFastCgi(
      fromNodeHttp(async (_req, res) => {
        res.setHeader('Content-Type', 'text/plain');
        for (let i = 0; i < acks.length; i++) {
          res.write(`step ${i}\n`);
          await acks[i]!.promise;
        }
        res.end('end\n');
      }),
    );
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(encodeFastCgiRequestHead(1, cgiParams('GET', '/'), false, Buffer.alloc(0)));
    for (let i = 0; i < acks.length; i++) {
      await client.waitStdout(1, (d) => d.toString().includes(`step ${i}\n`));
      acks[i]!.resolve();
    }
    assert.equal(parseCgiResponse((await client.reply(1)).stdout).body.toString(), 'step 0\nstep 1\nend\n');
  });

  it('answers HEAD with the head only', async (t) => {
    const s = await startFastCgi(fromNodeHttp(app));
    t.after(() => s.close());
    const { res } = await fcgi(s.address, cgiParams('HEAD', '/info'));
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers.get('content-type'), ['application/json']);
    assert.equal(res.body.length, 0);
  });

  it('refuses header values that would split the synthesised request (400), without calling the app', async (t) => {
    let called = false;
    const s = await startFastCgi(
      fromNodeHttp((_req, res) => {
        called = true;
        res.end();
      }),
    );
    t.after(() => s.close());
    const { reply, res } = await fcgi(s.address, cgiParams('GET', '/', [['HTTP_X_EVIL', 'a\r\nX-Admin: 1']]));
    assert.equal(res.status, 400);
    assert.equal(reply.appStatus, 1);
    assert.equal(called, false);
    const target = await fcgi(s.address, cgiParams('GET', '/a b HTTP/1.1\r\nX: y'));
    assert.equal(target.res.status, 400);
  });

  it('tells the app when the web server goes away', async (t) => {
    const started = deferred();
    const closed = deferred();
    const s = await startFastCgi(
      fromNodeHttp((req, res) => {
        res.on('close', () => closed.resolve());
        req.resume();
        res.write('waiting');
        started.resolve();
      }),
    );
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(encodeFastCgiRequestHead(1, cgiParams('GET', '/'), false, Buffer.alloc(0)));
    await started.promise;
    client.close();
    await closed.promise;
  });

  it('runs behind SCGI too', async (t) => {
    const s = await startScgi(fromNodeHttp(app));
    t.after(() => s.close());
    const { data } = await scgiExchange(s.address, cgiParams('POST', '/info'), Buffer.from('scgi body'));
    const json = JSON.parse(parseCgiResponse(data).body.toString());
    assert.equal(json.body, 'scgi body');
    assert.equal(json.headers['content-length'], '9');
  });
});
