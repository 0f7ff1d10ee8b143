/**
 * What happens to the client connection across requests and when the client leaves early:
 * one keep-alive connection carrying ordinary, HEAD, 304, 204, failing and redirecting
 * responses in order; and a client that goes away mid-upload (Content-Length, streamed), whose
 * backend connection must close and whose departure is the client's doing in the log.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { rawHttpRequest } from '../support/raw-clients.ts';
import { showLog, startTestGateway, type TestGateway } from './support/gateway.ts';
import { RawConnection } from './support/http.ts';
import { type ScriptedBackend, startScriptedBackend } from './support/scripted-backend.ts';

interface Parsed {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Splits a stream of HTTP/1.1 responses (Content-Length, chunked, or no body) in order. */
function parseResponses(data: Buffer, methods: readonly string[]): Parsed[] {
  const out: Parsed[] = [];
  let at = 0;
  for (const method of methods) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const lines = data.toString('latin1', at, end).split('\r\n');
    const status = Number(lines[0]?.split(' ')[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    at = end + 4;
    let body = '';
    if (method !== 'HEAD' && status !== 204 && status !== 304) {
      const length = headers.get('content-length');
      if (length !== undefined) {
        body = data.toString('latin1', at, at + Number(length));
        at += Number(length);
      } else if (headers.get('transfer-encoding') === 'chunked') {
        for (;;) {
          const lineEnd = data.indexOf('\r\n', at);
          const size = Number.parseInt(data.toString('latin1', at, lineEnd), 16);
          at = lineEnd + 2;
          if (size === 0) {
            at += 2;
            break;
          }
          body += data.toString('latin1', at, at + size);
          at += size + 2;
        }
      }
    }
    out.push({ status, headers, body });
  }
  assert.equal(at, data.length, `bytes left over: ${JSON.stringify(data.toString('latin1', at, at + 200))}`);
  return out;
}

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`client connections through Portico (${protocol})`, () => {
    let root: TempDir;
    let backend: ScriptedBackend;
    let gw: TestGateway;

    before(async () => {
      root = await makeTempDir('connections-root');
      backend = await startScriptedBackend(protocol, (ex) => {
        const uri = ex.get('REQUEST_URI');
        if (uri === '/304') ex.stdout('Status: 304 Not Modified\r\nETag: "x"\r\n\r\nNOT SENT');
        else if (uri === '/204') ex.stdout('Status: 204 No Content\r\n\r\nNOT SENT');
        else if (uri === '/bad') ex.stdout('Bad Head\r\n\r\n');
        else if (uri === '/local') ex.stdout('Location: /elsewhere\r\n\r\n');
        else if (uri === '/big-head') ex.stdout(`X-Big: ${'a'.repeat(10_000)}\r\n\r\nNOT SENT`);
        else if (uri === '/upload')
          return; // never answers: the client leaves first
        else
          ex.stdout(`Content-Type: text/plain\r\n\r\n${ex.get('REQUEST_METHOD')} ${uri} ${ex.body.length}`);
        ex.end();
      });
      gw = await startTestGateway({
        root: root.path,
        locations: [
          { match: '/', [protocol]: { pass: backend.address } },
          // Streamed uploads: the backend is contacted before the body is complete.
          { match: '/upload', [protocol]: { pass: backend.address, request_buffering: false } },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
      await root?.cleanup();
    });

    it('one keep-alive connection carries every kind of response, in order', async () => {
      const requests: Array<[string, string]> = [
        ['GET', 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n'],
        ['HEAD', 'HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n'],
        ['GET', 'GET /304 HTTP/1.1\r\nHost: x\r\n\r\n'],
        ['GET', 'GET /204 HTTP/1.1\r\nHost: x\r\n\r\n'],
        ['GET', 'GET /bad HTTP/1.1\r\nHost: x\r\n\r\n'],
        ['GET', 'GET /local HTTP/1.1\r\nHost: x\r\n\r\n'],
        ['GET', 'GET /big-head HTTP/1.1\r\nHost: x\r\n\r\n'],
        ['POST', 'POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'],
        ['GET', 'GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
      ];
      const conn = await RawConnection.open(gw.address);
      for (const [, bytes] of requests) conn.write(bytes);
      const responses = parseResponses(
        await conn.readToClose(),
        requests.map(([m]) => m),
      );
      assert.deepEqual(
        responses.map((r) => r.status),
        [200, 200, 304, 204, 502, 302, 502, 200, 200],
      );
      assert.equal(responses[0]?.body, 'GET /a 0');
      assert.equal(responses[1]?.headers.get('content-type'), 'text/plain');
      assert.equal(responses[2]?.headers.get('etag'), '"x"');
      assert.equal(responses[5]?.headers.get('location'), '/elsewhere');
      assert.equal(responses[7]?.body, 'POST /c 5');
      assert.equal(responses[8]?.body, 'GET /d 0');
      assert.equal(responses[8]?.headers.get('connection'), 'close');
    });

    it('413 on Content-Length closes the connection: the unread body is never parsed as a next request (CVE-2022-22720)', async () => {
      const before = backend.exchanges.length;
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
      const conn = await RawConnection.open(gw.address);
      conn.write(`POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n${smuggled}`);
      const data = (await conn.readToClose()).toString('latin1');
      assert.match(data, /^HTTP\/1\.1 413 /);
      assert.equal(data.match(/HTTP\/1\.1 /g)?.length, 1, data);
      assert.match(data, /\r\nConnection: close\r\n/);
      assert.equal(backend.exchanges.length, before);
    });

    it('a client that leaves mid-upload: the backend connection closes, the log blames the client', async () => {
      const before = gw.log.lines.length;
      const connections = backend.connections;
      const closed = backend.nextClose();
      const conn = await RawConnection.open(gw.address);
      conn.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n');
      conn.write(Buffer.alloc(100_000, 0x7a));
      // The body streams to the backend as it arrives: wait until the gateway connected.
      for (let i = 0; i < 500 && backend.connections === connections; i++) await delay(10);
      assert.equal(backend.connections, connections + 1);
      conn.destroy();
      await closed;
      const logged = () => gw.log.lines.slice(before).filter((l) => l.level !== 'debug');
      for (let i = 0; i < 500 && logged().length === 0; i++) await delay(10);
      // nginx: "client prematurely closed connection" at info; never an error blamed on the
      // backend (a balancer would count it as the backend's failure).
      assert.deepEqual(
        logged().map((l) => l.level),
        ['info'],
        showLog(gw.log),
      );
      assert.match(logged()[0]?.message ?? '', /client/);
    });
  });
}

describe('gateway listeners', () => {
  let root: TempDir;
  let backend: ScriptedBackend;
  let gw: TestGateway;

  before(async () => {
    root = await makeTempDir('listen-root');
    backend = await startScriptedBackend('scgi', (ex) => {
      ex.stdout(`Content-Type: text/plain\r\n\r\n${ex.get('REMOTE_ADDR')}|${ex.get('SERVER_PORT')}`);
      ex.end();
    });
    gw = await startTestGateway({
      root: root.path,
      listen: [`unix:${join(root.path, 'portico.sock')}`, '[::1]:0'],
      locations: [{ match: '/', scgi: { pass: backend.address } }],
    });
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
    await root?.cleanup();
  });

  it('a unix socket listener serves requests', async () => {
    assert.equal(gw.urls[0], `unix:${join(root.path, 'portico.sock')}`);
    const res = await rawHttpRequest(gw.urls[0]!, { method: 'GET', target: '/x' });
    assert.equal(res.status, 200);
  });

  it('an IPv6 listener serves requests; REMOTE_ADDR is ::1', async () => {
    const url = gw.urls[1]!;
    assert.match(url, /^http:\/\/\[::1\]:\d+\/$/);
    const address = url.replace(/^http:\/\//, '').replace(/\/$/, '');
    const res = await rawHttpRequest(address, { method: 'GET', target: '/y' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), `::1|${address.split(':').at(-1)}`);
  });
});
