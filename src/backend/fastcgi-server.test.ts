import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { ManagementName, ProtocolStatus, RecordType, Role } from '../protocol/fastcgi/constants.ts';
import {
  encodeAbortRequest,
  encodeBeginRequest,
  encodeEndOfStream,
  encodeFastCgiRequestHead,
  encodeGetValues,
  encodeParams,
  encodeStream,
  frameStream,
} from '../protocol/fastcgi/encode.ts';
import { decodePairs } from '../protocol/fastcgi/pairs.ts';
import { Prng } from '../util/prng.ts';
import type { BackendRequest } from './request.ts';
import { cgiParams, FastCgiTestClient, parseCgiResponse } from './test-support/clients.ts';
import { deferred, startFastCgi } from './test-support/servers.ts';

async function readAll(req: BackendRequest): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** One whole request (BEGIN_REQUEST, PARAMS, STDIN) in one buffer. */
function request(id: number, method: string, uri: string, body?: Buffer, keepConn = false): Buffer {
  return encodeFastCgiRequestHead(id, cgiParams(method, uri, [], body), keepConn, body ?? Buffer.alloc(0));
}

describe('FastCGI server', () => {
  it('answers a GET with a CGI response, END_REQUEST 0, then closes (KEEP_CONN clear)', async (t) => {
    const s = await startFastCgi((req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.end(
        JSON.stringify({ method: req.method, url: req.url, headers: req.headers, env: req.env.SERVER_NAME }),
      );
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(
      encodeFastCgiRequestHead(
        1,
        cgiParams('GET', '/hello?x=1', [
          ['HTTP_ACCEPT_LANGUAGE', 'fr'],
          ['CONTENT_TYPE', ''],
        ]),
        false,
        Buffer.alloc(0),
      ),
    );
    const reply = await client.reply(1);
    await client.closed;
    assert.equal(reply.appStatus, 0);
    assert.equal(reply.protocolStatus, ProtocolStatus.REQUEST_COMPLETE);
    const res = parseCgiResponse(reply.stdout);
    assert.equal(res.status, 200);
    assert.equal(res.reason, 'OK');
    assert.deepEqual(res.headers.get('set-cookie'), ['a=1', 'b=2']);
    const json = JSON.parse(res.body.toString());
    assert.deepEqual(json, {
      method: 'GET',
      url: '/hello?x=1',
      headers: { host: 'example.test', 'accept-language': 'fr' },
      env: 'example.test',
    });
    assert.deepEqual(s.errors, []);
  });

  it('streams a POST body to the handler and echoes it', async (t) => {
    const s = await startFastCgi(async (req, res) => {
      const body = await readAll(req);
      res.writeHead(201, 'Made', { 'X-Length': body.length });
      res.end(body);
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    const body = Buffer.from('name=portico&kind=gateway');
    client.write(request(1, 'POST', '/form', body));
    const res = parseCgiResponse((await client.reply(1)).stdout);
    assert.equal(res.status, 201);
    assert.equal(res.reason, 'Made');
    assert.deepEqual(res.headers.get('x-length'), [String(body.length)]);
    assert.deepEqual(res.body, body);
  });

  it('takes a 5 MB body in randomly sized STDIN records, sha256 checked by the handler', async (t) => {
    const prng = new Prng();
    const body = prng.bytes(5 * 1024 * 1024);
    const expected = createHash('sha256').update(body).digest('hex');
    const s = await startFastCgi(async (req, res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of req) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      res.end(`${bytes} ${hash.digest('hex')}`);
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(encodeBeginRequest(1, Role.RESPONDER, false));
    client.write(encodeParams(1, cgiParams('PUT', '/upload', [], body)));
    for (let at = 0; at < body.length; ) {
      const n = Math.min(prng.int(1, 65535), body.length - at);
      client.write(frameStream(RecordType.STDIN, 1, body.subarray(at, at + n)));
      at += n;
    }
    client.write(encodeEndOfStream(RecordType.STDIN, 1));
    const reply = await client.reply(1);
    assert.equal(
      parseCgiResponse(reply.stdout).body.toString(),
      `${body.length} ${expected}`,
      `seed ${prng.seed}`,
    );
  });

  it('streams a response in steps, each step reaching the client before the next is written', async (t) => {
    const acks = [deferred(), deferred(), deferred()];
    const s = await startFastCgi(async (_req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.flushHeaders();
      for (let i = 0; i < acks.length; i++) {
        res.write(`step ${i}\n`);
        await acks[i]!.promise;
      }
      res.end('done\n');
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(request(1, 'GET', '/stream'));
    await client.waitStdout(1, (d) => d.includes('\r\n\r\n'));
    for (let i = 0; i < acks.length; i++) {
      const seen = await client.waitStdout(1, (d) => d.toString().includes(`step ${i}\n`));
      assert.ok(!seen.toString().includes(`step ${i + 1}`));
      acks[i]!.resolve();
    }
    const res = parseCgiResponse((await client.reply(1)).stdout);
    assert.equal(res.body.toString(), 'step 0\nstep 1\nstep 2\ndone\n');
  });

  it('applies backpressure to res.write while the client does not read', async (t) => {
    const sawFalse = deferred<number>();
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const hash = createHash('sha256');
    const s = await startFastCgi(async (_req, res) => {
      let written = 0;
      // Until the socket and res buffers are full: the client is not reading.
      while (res.write(chunk)) {
        hash.update(chunk);
        written += chunk.length;
        if (written > 512 * 1024 * 1024) throw new Error('no backpressure');
      }
      hash.update(chunk);
      written += chunk.length;
      sawFalse.resolve(written);
      await once(res, 'drain');
      for (let i = 0; i < 4; i++) {
        res.write(chunk);
        hash.update(chunk);
      }
      res.end();
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.socket.pause();
    client.write(request(1, 'GET', '/big'));
    const written = await sawFalse.promise;
    client.socket.resume();
    const reply = await client.reply(1);
    const body = parseCgiResponse(reply.stdout).body;
    assert.equal(body.length, written + 4 * chunk.length);
    assert.equal(createHash('sha256').update(body).digest('hex'), hash.digest('hex'));
  });

  it('keeps the connection for 3 sequential KEEP_CONN requests', async (t) => {
    let connections = 0;
    const s = await startFastCgi((req, res) => res.end(`you asked ${req.url}`));
    s.server.on('connection', () => connections++);
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    for (let i = 1; i <= 3; i++) {
      client.write(request(1, 'GET', `/n/${i}`, undefined, true));
      const reply = await client.reply(1);
      assert.equal(parseCgiResponse(reply.stdout).body.toString(), `you asked /n/${i}`);
      // The id is free again after END_REQUEST: the client reuses it.
      client.forget(1);
    }
    assert.equal(client.socket.destroyed, false);
    assert.equal(connections, 1);
    // The web server owns the connection: closing it is fine.
    client.close();
  });

  it('answers GET_VALUES with the known names only, and UNKNOWN_TYPE for other management types', async (t) => {
    const s = await startFastCgi(() => {}, { maxConns: 7, maxReqs: 21 });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    t.after(() => client.close());
    client.write(
      encodeGetValues([
        ManagementName.MAX_CONNS,
        'FCGI_SOMETHING',
        ManagementName.MAX_REQS,
        ManagementName.MPXS_CONNS,
      ]),
    );
    const result = await client.nextManagement();
    assert.equal(result.type, RecordType.GET_VALUES_RESULT);
    assert.deepEqual(decodePairs(result.content), [
      ['FCGI_MAX_CONNS', '7'],
      ['FCGI_MAX_REQS', '21'],
      ['FCGI_MPXS_CONNS', '1'],
    ]);
    // A management record type nobody defined (spec 4.2).
    const header = Buffer.from([1, 42, 0, 0, 0, 0, 0, 0]);
    client.write(header);
    const unknown = await client.nextManagement();
    assert.equal(unknown.type, RecordType.UNKNOWN_TYPE);
    assert.equal(unknown.content[0], 42);
  });

  it('serves 50 multiplexed requests on one connection, records interleaved, answers matched to ids', async (t) => {
    const prng = new Prng();
    const s = await startFastCgi(async (req, res) => {
      const body = await readAll(req);
      // Finish in a scrambled order.
      for (let i = Number(req.env.DELAY); i > 0; i--) await new Promise((r) => setImmediate(r));
      res.end(`${req.url} ${createHash('sha256').update(body).digest('hex')}`);
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    t.after(() => client.close());
    const streams: Buffer[][] = [];
    const expected = new Map<number, string>();
    for (let id = 1; id <= 50; id++) {
      const body = prng.bytes(prng.int(0, 100_000));
      const params = cgiParams('POST', `/req/${id}`, [['DELAY', String(prng.int(0, 20))]], body);
      const records: Buffer[] = [encodeBeginRequest(id, Role.RESPONDER, true), encodeParams(id, params)];
      for (let at = 0; at < body.length; ) {
        const n = Math.min(prng.int(1, 20_000), body.length - at);
        records.push(Buffer.concat(frameStream(RecordType.STDIN, id, body.subarray(at, at + n))));
        at += n;
      }
      records.push(encodeEndOfStream(RecordType.STDIN, id));
      streams.push(records);
      expected.set(id, `/req/${id} ${createHash('sha256').update(body).digest('hex')}`);
    }
    // Interleave whole records from random requests (each request's own order is kept).
    while (streams.some((r) => r.length > 0)) {
      const open = streams.filter((r) => r.length > 0);
      client.write(open[prng.int(0, open.length - 1)]!.shift()!);
    }
    const replies = await Promise.all([...expected.keys()].map((id) => client.reply(id)));
    for (const reply of replies) {
      assert.equal(reply.appStatus, 0);
      assert.equal(
        parseCgiResponse(reply.stdout).body.toString(),
        expected.get(reply.id),
        `seed ${prng.seed}`,
      );
    }
    assert.equal(s.server.activeRequests, 0);
  });

  it('refuses a second concurrent request with CANT_MPX_CONN when multiplex is off', async (t) => {
    const release = deferred();
    const s = await startFastCgi(
      async (_req, res) => {
        await release.promise;
        res.end('first');
      },
      { multiplex: false },
    );
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(request(1, 'GET', '/one', undefined, true));
    client.write(request(2, 'GET', '/two', undefined, true));
    const refused = await client.reply(2);
    assert.equal(refused.protocolStatus, ProtocolStatus.CANT_MPX_CONN);
    assert.equal(refused.stdout.length, 0);
    release.resolve();
    const first = await client.reply(1);
    assert.equal(parseCgiResponse(first.stdout).body.toString(), 'first');
    client.close();
  });

  it('refuses roles other than Responder with UNKNOWN_ROLE, and requests past maxReqs with OVERLOADED', async (t) => {
    const release = deferred();
    const s = await startFastCgi(
      async (_req, res) => {
        await release.promise;
        res.end();
      },
      { maxReqs: 1 },
    );
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    t.after(() => client.close());
    client.write(encodeFastCgiRequestHead(1, cgiParams('GET', '/'), true, Buffer.alloc(0), Role.AUTHORIZER));
    assert.equal((await client.reply(1)).protocolStatus, ProtocolStatus.UNKNOWN_ROLE);
    client.write(request(2, 'GET', '/a', undefined, true));
    client.write(request(3, 'GET', '/b', undefined, true));
    assert.equal((await client.reply(3)).protocolStatus, ProtocolStatus.OVERLOADED);
    release.resolve();
    assert.equal((await client.reply(2)).protocolStatus, ProtocolStatus.REQUEST_COMPLETE);
  });

  it('fires the signal on ABORT_REQUEST and ends the request with END_REQUEST', async (t) => {
    const started = deferred();
    const aborted = deferred<unknown>();
    const s = await startFastCgi((req, res) => {
      req.signal.addEventListener('abort', () => aborted.resolve(req.signal.reason));
      res.write('partial');
      started.resolve();
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    t.after(() => client.close());
    client.write(request(1, 'GET', '/slow', undefined, true));
    await started.promise;
    client.write(encodeAbortRequest(1));
    const reason = (await aborted.promise) as { code: string; status: number };
    assert.equal(reason.code, 'ERR_BACKEND_ABORTED');
    assert.equal(reason.status, 499);
    const reply = await client.reply(1);
    assert.equal(reply.protocolStatus, ProtocolStatus.REQUEST_COMPLETE);
    assert.equal(s.server.activeRequests, 0);
  });

  it('fires the signal when the connection drops', async (t) => {
    const aborted = deferred<unknown>();
    const started = deferred();
    const s = await startFastCgi((req) => {
      req.signal.addEventListener('abort', () => aborted.resolve(req.signal.reason));
      started.resolve();
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(request(1, 'GET', '/'));
    await started.promise;
    client.close();
    assert.equal(((await aborted.promise) as { code: string }).code, 'ERR_BACKEND_CONNECTION_CLOSED');
  });

  it('sends res.stderr as STDERR records, terminated before END_REQUEST', async (t) => {
    const s = await startFastCgi((_req, res) => {
      res.stderr.write('warning: something odd\n');
      res.end('body');
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(request(1, 'GET', '/'));
    const reply = await client.reply(1);
    assert.equal(reply.stderr.toString(), 'warning: something odd\n');
    assert.equal(reply.stderrRecords, 2);
    assert.equal(parseCgiResponse(reply.stdout).body.toString(), 'body');
  });

  it('turns a throwing handler into a 500 with appStatus 1, without crashing', async (t) => {
    const s = await startFastCgi((req, res) => {
      if (req.url === '/sync') throw new Error('boom');
      if (req.url === '/late') {
        res.write('half');
        return Promise.reject(new Error('late boom'));
      }
      res.setHeader('X-Leak', 'no');
      return Promise.reject(new Error('async boom'));
    });
    t.after(() => s.close());
    for (const url of ['/sync', '/async']) {
      const client = await FastCgiTestClient.connect(s.address);
      client.write(request(1, 'GET', url));
      const reply = await client.reply(1);
      assert.equal(reply.appStatus, 1);
      const res = parseCgiResponse(reply.stdout);
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('x-leak'), undefined);
    }
    const client = await FastCgiTestClient.connect(s.address);
    client.write(request(1, 'GET', '/late'));
    const late = await client.reply(1);
    assert.equal(late.appStatus, 1);
    assert.equal(parseCgiResponse(late.stdout).status, 200);
    assert.equal(parseCgiResponse(late.stdout).body.toString(), 'half');
    assert.deepEqual(
      s.errors.map((e) => (e as Error).message),
      ['boom', 'async boom', 'late boom'],
    );
  });

  it('refuses params over maxParamsBytes with 431, keeping the connection usable', async (t) => {
    const s = await startFastCgi((_req, res) => res.end('ok'), { maxParamsBytes: 1024 });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    t.after(() => client.close());
    client.write(
      encodeFastCgiRequestHead(
        1,
        cgiParams('GET', '/', [['HTTP_COOKIE', 'x'.repeat(2000)]]),
        true,
        Buffer.alloc(0),
      ),
    );
    const refused = await client.reply(1);
    assert.equal(parseCgiResponse(refused.stdout).status, 431);
    assert.equal(refused.appStatus, 1);
    client.write(request(2, 'GET', '/', undefined, true));
    assert.equal(parseCgiResponse((await client.reply(2)).stdout).body.toString(), 'ok');
  });

  it('fails the body when STDIN is shorter than CONTENT_LENGTH', async (t) => {
    const failure = deferred<unknown>();
    const s = await startFastCgi(async (req, res) => {
      try {
        await readAll(req);
      } catch (error) {
        failure.resolve(error);
      }
      res.end();
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(encodeBeginRequest(1, Role.RESPONDER, false));
    client.write(encodeParams(1, cgiParams('POST', '/', [['CONTENT_LENGTH', '10']])));
    client.write(encodeStream(RecordType.STDIN, 1, Buffer.from('short'), true));
    assert.equal(((await failure.promise) as { code: string }).code, 'ERR_BACKEND_BODY_LENGTH');
    await client.reply(1);
  });

  it('closes the connection on a malformed record and reports it', async (t) => {
    const s = await startFastCgi(() => {});
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    client.write(Buffer.from([2, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
    await client.closed;
    assert.equal((s.errors[0] as { code: string }).code, 'ERR_FCGI_VERSION');
  });

  it('refuses connections from addresses outside webServerAddrs', async (t) => {
    const s = await startFastCgi(() => {}, { webServerAddrs: ['10.9.8.7'] });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    await client.closed;
  });
});
