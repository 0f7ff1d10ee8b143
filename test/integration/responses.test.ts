/**
 * The backend's response head as the client gets it: header bytes passed exactly, repeated
 * headers kept, nginx's hidden headers and the backend's hop-by-hop headers dropped and
 * Transfer-Encoding refused (CVE-2024-24795, semantics.md E6), an SCGI status line accepted, a local Location made a 302; and the
 * read_timeout answered with 504.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { rawHttpRequest } from '../support/raw-clients.ts';
import { logLines, showLog, startTestGateway, type TestGateway } from './support/gateway.ts';
import { RawConnection } from './support/http.ts';
import { type ScriptedBackend, startScriptedBackend } from './support/scripted-backend.ts';

const RESPONSES: Readonly<Record<string, string>> = {
  '/bytes': 'Content-Type: text/plain\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\nok',
  '/cookies':
    'Content-Type: text/plain\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nVary: Accept\r\nVary: Cookie\r\n\r\nok',
  '/hidden':
    'Status: 200 OK\r\nX-Accel-Redirect: /internal\r\nX-Accel-Buffering: no\r\nX-Accel-Expires: 10\r\nContent-Type: text/plain\r\n\r\nok',
  '/hop-by-hop':
    'Content-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\n\r\nraw body',
  '/transfer-encoding': 'Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nraw body, not chunked',
  '/status': 'Status: 418 I Am A Teapot\r\nContent-Type: text/plain\r\n\r\nshort and stout',
  '/local': 'Location: /elsewhere?x=1\r\n\r\n',
  '/absolute': 'Location: https://example.com/x\r\nContent-Type: text/plain\r\n\r\nmoved',
};

function header(res: { headers: Array<[string, string]> }, name: string): string[] {
  return res.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`response heads from a ${protocol} backend through Portico`, () => {
    let root: TempDir;
    let backend: ScriptedBackend;
    let gw: TestGateway;

    before(async () => {
      root = await makeTempDir('responses-root');
      backend = await startScriptedBackend(protocol, (ex) => {
        const uri = ex.get('REQUEST_URI') ?? '';
        if (uri === '/slow/hang') return; // never answers
        if (uri === '/statusline') ex.stdout('HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n\r\nmade');
        // `/x/` answers as `/x` does: the same response outside the exact locations below.
        else
          ex.stdout(RESPONSES[uri] ?? RESPONSES[uri.replace(/\/$/, '')] ?? 'Status: 404 Not Found\r\n\r\n');
        ex.end();
      });
      gw = await startTestGateway({
        root: root.path,
        locations: [
          // X-Accel-Redirect is acted on by default; these locations test the hiding alone.
          { match: '/', [protocol]: { pass: backend.address, ignore_headers: ['X-Accel-Redirect'] } },
          { match: '/slow/', [protocol]: { pass: backend.address, read_timeout: '200ms' } },
          {
            match: '= /hidden',
            [protocol]: {
              pass: backend.address,
              hide_header: ['Vary'],
              pass_header: ['X-Accel-Expires'],
              ignore_headers: ['X-Accel-Redirect'],
            },
          },
          { match: '= /cookies', [protocol]: { pass: backend.address, hide_header: ['Set-Cookie'] } },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
      await root?.cleanup();
    });

    const get = (target: string) => rawHttpRequest(gw.address, { method: 'GET', target });

    it('header bytes pass unchanged (latin1 in, latin1 out)', async () => {
      const res = await get('/bytes');
      assert.equal(res.status, 200);
      assert.deepEqual(header(res, 'x-name'), ['caf\xc3\xa9 \xff']);
    });

    it('repeated headers stay separate and in order', async () => {
      const res = await get('/cookies/');
      assert.deepEqual(header(res, 'set-cookie'), ['a=1; Path=/', 'b=2']);
      assert.deepEqual(header(res, 'vary'), ['Accept', 'Cookie']);
    });

    it('hide_header hides every copy of a header; pass_header un-hides a default-hidden one', async () => {
      const cookies = await get('/cookies');
      assert.deepEqual(header(cookies, 'set-cookie'), []);
      assert.deepEqual(header(cookies, 'vary'), ['Accept', 'Cookie']);
      const hidden = await get('/hidden');
      assert.deepEqual(header(hidden, 'x-accel-expires'), ['10']);
      assert.deepEqual(header(hidden, 'x-accel-redirect'), []);
      assert.deepEqual(header(hidden, 'status'), []);
    });

    it("nginx's hidden headers (Status, X-Accel-*) do not reach the client", async () => {
      const res = await get('/hidden/');
      assert.equal(res.status, 200);
      for (const name of ['status', 'x-accel-redirect', 'x-accel-buffering', 'x-accel-expires']) {
        assert.deepEqual(header(res, name), [], name);
      }
      assert.equal(res.body.toString(), 'ok');
    });

    it("the backend's hop-by-hop headers are dropped; Portico frames the response itself", async () => {
      const conn = await RawConnection.open(gw.address);
      conn.write(
        'GET /hop-by-hop HTTP/1.1\r\nHost: x\r\n\r\nGET /hop-by-hop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      const data = (await conn.readToClose()).toString('latin1');
      // The backend's "Connection: close" must not close the client's keep-alive connection.
      const heads = data.split('raw body');
      assert.equal(heads.length, 3, data);
      assert.match(heads[0] ?? '', /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(heads[0] ?? '', /\r\nConnection: keep-alive\r\n/);
      assert.match(heads[0] ?? '', /\r\nContent-Length: 8\r\n/);
      assert.doesNotMatch(data, /Upgrade:|h2c|timeout=5/);
    });

    it('a Transfer-Encoding header from a CGI backend is refused: 502 (the transport frames the body)', async () => {
      const res = await get('/transfer-encoding');
      assert.equal(res.status, 502);
      assert.equal(logLines(gw.log, 'error', /Transfer-Encoding/).length >= 1, true, showLog(gw.log));
    });

    it('Status: 418 with its reason phrase', async () => {
      const res = await get('/status');
      assert.equal(res.statusLine, 'HTTP/1.1 418 I Am A Teapot');
      assert.equal(res.body.toString(), 'short and stout');
    });

    it('a Location without Status becomes a 302 (nginx), local or absolute', async () => {
      const local = await get('/local');
      assert.equal(local.status, 302);
      assert.deepEqual(header(local, 'location'), ['/elsewhere?x=1']);
      const absolute = await get('/absolute');
      assert.equal(absolute.status, 302);
      assert.deepEqual(header(absolute, 'location'), ['https://example.com/x']);
    });

    if (protocol === 'scgi') {
      it('an SCGI backend may answer with an HTTP status line (nginx accepts it)', async () => {
        const res = await get('/statusline');
        assert.equal(res.status, 201);
        assert.equal(res.body.toString(), 'made');
      });
    } else {
      it('a FastCGI backend\'s "HTTP/" first line is ignored, as nginx does', async () => {
        const res = await get('/statusline');
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), 'made');
      });
    }

    it('a backend that never answers: 504 after read_timeout, logged with the backend', async () => {
      const res = await get('/slow/hang');
      assert.equal(res.status, 504);
      const lines = logLines(gw.log, 'error', /timed out while reading/);
      assert.ok(lines.length >= 1, showLog(gw.log));
      assert.equal(lines.at(-1)?.fields?.backend, backend.address);
    });
  });
}
