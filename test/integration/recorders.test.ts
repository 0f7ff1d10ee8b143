/**
 * Portico in front of the recording SCGI and FastCGI backends (test/support, independent of
 * src/protocol): the exact environment and body each protocol receives for encoded queries,
 * forms, chunked uploads, HEAD, Expect: 100-continue and a `Proxy:` header.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { parseHttpResponse, rawHttpRequest } from '../support/raw-clients.ts';
import {
  type EnvList,
  type RecordingBackend,
  startFastCgiRecorder,
  startScgiRecorder,
} from '../support/recording-backend.ts';
import { logLines, showLog, startTestGateway, type TestGateway } from './support/gateway.ts';
import { headEnd, httpRequest, RawConnection, splitIntoChunks } from './support/http.ts';

function values(env: EnvList, name: string): string[] {
  return env.filter(([n]) => n === name).map(([, v]) => v);
}

function only(env: EnvList, name: string): string | undefined {
  const found = values(env, name);
  assert.ok(found.length <= 1, `${name} appears ${found.length} times`);
  return found[0];
}

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`${protocol} recorder through Portico`, () => {
    let root: TempDir;
    let rec: RecordingBackend;
    let unixRec: RecordingBackend;
    let gw: TestGateway;
    const start = protocol === 'scgi' ? startScgiRecorder : startFastCgiRecorder;

    before(async () => {
      root = await makeTempDir('recorder-root');
      rec = await start();
      unixRec = await start({ listen: 'unix' });
      gw = await startTestGateway({
        root: root.path,
        client_max_body_size: '1m',
        locations: [
          { match: '/', [protocol]: { pass: rec.address } },
          { match: '/unix/', [protocol]: { pass: unixRec.address } },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await rec?.close();
      await unixRec?.close();
      await root?.cleanup();
    });

    it('GET with an encoded query: QUERY_STRING and REQUEST_URI raw, DOCUMENT_URI decoded', async () => {
      const query = 'q=%20x%2By&z=%3D&e=caf%C3%A9&p=a+b';
      const target = `/caf%C3%A9/a%20b.txt?${query}`;
      const next = rec.nextRequest();
      const res = await rawHttpRequest(gw.address, { method: 'GET', target });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'ok');
      const { env, body } = await next;
      assert.equal(only(env, 'QUERY_STRING'), query);
      assert.equal(only(env, 'REQUEST_URI'), target);
      // Latin1 strings of the raw bytes: the UTF-8 é is two bytes.
      assert.equal(only(env, 'DOCUMENT_URI'), '/caf\xc3\xa9/a b.txt');
      assert.equal(only(env, 'DOCUMENT_ROOT'), root.path);
      assert.equal(only(env, 'REQUEST_METHOD'), 'GET');
      assert.equal(body.length, 0);
      if (protocol === 'scgi') {
        assert.deepEqual(env[0], ['CONTENT_LENGTH', '0']);
        assert.deepEqual(values(env, 'SCGI'), ['1']);
      } else {
        assert.equal(only(env, 'CONTENT_LENGTH'), '');
        assert.equal(only(env, 'SCRIPT_FILENAME'), `${root.path}/caf\xc3\xa9/a b.txt`);
      }
    });

    it('GET over a unix socket backend', async () => {
      const next = unixRec.nextRequest();
      const res = await httpRequest(gw.url, { path: '/unix/x?y=1' });
      assert.equal(res.status, 200);
      const { env } = await next;
      assert.equal(only(env, 'REQUEST_URI'), '/unix/x?y=1');
      assert.equal(rec.requests.filter((r) => only(r.env, 'REQUEST_URI') === '/unix/x?y=1').length, 0);
    });

    it('urlencoded POST: body intact, CONTENT_LENGTH and CONTENT_TYPE exact', async () => {
      const body = 'a=1&b=%20two&c=caf%C3%A9';
      const next = rec.nextRequest();
      const res = await httpRequest(gw.url, {
        method: 'POST',
        path: '/form',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body,
      });
      assert.equal(res.status, 200);
      const got = await next;
      assert.equal(got.body.toString('latin1'), body);
      assert.equal(only(got.env, 'CONTENT_LENGTH'), String(body.length));
      assert.equal(only(got.env, 'CONTENT_TYPE'), 'application/x-www-form-urlencoded');
      assert.equal(only(got.env, 'REQUEST_METHOD'), 'POST');
    });

    for (const size of [10, 200_000]) {
      it(`a chunked upload of ${size} bytes arrives with CONTENT_LENGTH ${size} and the body intact`, async () => {
        const data = randomBytes(size);
        const next = rec.nextRequest();
        const res = await httpRequest(gw.url, {
          method: 'PUT',
          path: '/upload',
          headers: { 'Content-Type': 'application/octet-stream' },
          chunks: splitIntoChunks(data, [3, 4096, 1, 50_000]),
        });
        assert.equal(res.status, 200);
        const got = await next;
        assert.equal(only(got.env, 'CONTENT_LENGTH'), String(size));
        assert.equal(got.body.length, size);
        assert.ok(got.body.equals(data), 'body differs');
      });
    }

    it('a chunked upload over client_max_body_size is refused with 413 and never reaches the backend', async () => {
      const before = rec.requests.length;
      const conn = await RawConnection.open(gw.address);
      conn.write('POST /big HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const frame = Buffer.concat([
        Buffer.from(`${chunk.length.toString(16)}\r\n`),
        chunk,
        Buffer.from('\r\n'),
      ]);
      // 1 MiB + 64 KiB: the gateway answers once the limit is passed.
      for (let i = 0; i < 17 && !conn.closedFlag; i++) conn.write(frame);
      const data = await conn.readToClose();
      assert.equal(parseHttpResponse(data).status, 413);
      assert.equal(rec.requests.length, before);
      assert.equal(logLines(gw.log, 'info', /too large body/).length > 0, true, showLog(gw.log));
    });

    it('a client that goes away mid chunked upload: the gateway logs it and serves the next request', async () => {
      const before = rec.requests.length;
      const conn = await RawConnection.open(gw.address);
      // The 100 says the gateway is reading the body: the abort then lands mid-body.
      conn.write(
        'POST /gone HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n',
      );
      await conn.readUntil((d) => headEnd(d) > 0, '100 Continue');
      conn.write('5\r\nhello\r\n');
      conn.destroy();
      const logged = () => gw.log.lines.find((l) => l.fields?.request === 'POST /gone');
      for (let i = 0; i < 500 && logged() === undefined; i++) await delay(10);
      // The client's doing, logged as nginx does: info, not an internal error.
      assert.equal(logged()?.level, 'info', showLog(gw.log));
      assert.match(logged()?.message ?? '', /client prematurely closed/);
      const res = await httpRequest(gw.url, { path: '/after' });
      assert.equal(res.status, 200);
      assert.equal(rec.requests.length, before + 1);
    });

    it('HEAD: headers reach the client, the body the backend sent does not', async () => {
      const next = rec.nextRequest();
      const conn = await RawConnection.open(gw.address);
      conn.write('HEAD /head HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      const data = await conn.readToClose();
      const end = headEnd(data);
      assert.ok(end > 0);
      const res = parseHttpResponse(data, true);
      assert.equal(res.status, 200);
      assert.equal(res.headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1], 'text/plain');
      assert.equal(data.length, end, `body bytes after a HEAD response: ${data.toString('latin1', end)}`);
      assert.equal(only((await next).env, 'REQUEST_METHOD'), 'HEAD');
    });

    it('Expect: 100-continue: 100, then the body goes to the backend, then the response', async () => {
      const body = randomBytes(5000);
      const next = rec.nextRequest();
      const conn = await RawConnection.open(gw.address);
      conn.write(
        `POST /expect HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
      const interim = await conn.readUntil((d) => headEnd(d) > 0, '100 Continue');
      assert.match(interim.toString('latin1'), /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
      conn.write(body);
      const data = await conn.readToClose();
      const res = parseHttpResponse(data.subarray(headEnd(interim)));
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'ok');
      const got = await next;
      assert.ok(got.body.equals(body));
      assert.equal(only(got.env, 'CONTENT_LENGTH'), String(body.length));
    });

    it('Expect: 100-continue over client_max_body_size: 413, no 100, connection closed, backend untouched', async () => {
      const before = rec.requests.length;
      const conn = await RawConnection.open(gw.address);
      conn.write(
        'POST /expect HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n',
      );
      const data = await conn.readToClose();
      assert.doesNotMatch(data.toString('latin1'), /100 Continue/);
      const res = parseHttpResponse(data);
      assert.equal(res.status, 413);
      assert.equal(rec.requests.length, before);
    });

    it('a Proxy: header never reaches the backend (httpoxy); other headers do', async () => {
      const next = rec.nextRequest();
      const res = await rawHttpRequest(gw.address, {
        method: 'GET',
        target: '/env',
        headers: [
          ['Host', 'localhost'],
          ['Proxy', 'http://attacker.example:3128'],
          ['X-Portico-Test', 'yes'],
        ],
      });
      assert.equal(res.status, 200);
      const { env } = await next;
      assert.deepEqual(values(env, 'HTTP_PROXY'), []);
      assert.equal(only(env, 'HTTP_X_PORTICO_TEST'), 'yes');
    });
  });
}
