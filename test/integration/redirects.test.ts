/**
 * Responses that the client does not get as they are, for SCGI and FastCGI backends:
 * X-Accel-Redirect to an internal location (and ignore_headers turning it off), httpd's
 * internal redirect of a local Location on a 200 (proxy_pass, default on; a location's
 * internal_redirect), the redirect loop stopped after 10, unsafe targets refused (404),
 * X-Sendfile inside a root (with ranges and 304) and outside one (refused, header never
 * leaked), and error_page with intercept_errors (=CODE, the original status, a URL) and for
 * Portico's own errors.
 */
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import {
  type ScriptedBackend,
  type ScriptedExchange,
  startScriptedBackend,
} from './support/scripted-backend.ts';

/** What the backend answers, by DOCUMENT_URI (the path after internal redirects). */
function answer(files: string, outside: string) {
  return (ex: ScriptedExchange): void => {
    const full = ex.get('DOCUMENT_URI') ?? ex.get('SCRIPT_NAME') ?? '';
    // Keyed by the last segment, so /pages/missing and /missing answer alike.
    const uri = full.startsWith('/protected/') ? full : full.slice(full.lastIndexOf('/'));
    const method = ex.get('REQUEST_METHOD');
    const head = (extra: string) => `Content-Type: text/plain\r\n${extra === '' ? '' : `${extra}\r\n`}\r\n`;
    const replies: Record<string, string> = {
      '/accel': head('X-Accel-Redirect: /protected/file?via=accel'),
      '/protected/file': `${head('')}protected ${method} ${ex.get('QUERY_STRING')} ${ex.get('REQUEST_URI')}`,
      '/accel-unsafe': head('X-Accel-Redirect: /protected/../etc/passwd'),
      '/loop': head('X-Accel-Redirect: /loop'),
      '/local': 'Location: /protected/file?via=location\r\n\r\n',
      '/sendfile': `${head(`X-Sendfile: ${join(files, 'doc.txt')}\r\nX-Extra: kept`)}backend body, dropped`,
      '/sendfile-out': `${head(`X-Sendfile: ${outside}`)}nope`,
      '/sendfile-link': `${head(`X-Sendfile: ${join(files, 'link.txt')}`)}nope`,
      '/sendfile-dots': `${head(`X-Sendfile: ${files}/../outside.txt`)}nope`,
      '/sendfile-nul': `${head(`X-Sendfile: ${files}/doc.txt\0.png`)}nope`,
      '/missing': 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nbackend 404 page',
      '/broken': 'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nbackend 500 page',
      '/teapot': 'Status: 418 Teapot\r\nContent-Type: text/plain\r\n\r\nshort',
      '/oops-page': `${head('')}oops page for ${ex.get('REQUEST_URI')}`,
    };
    ex.stdout(replies[uri] ?? `Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno ${full}`);
    ex.end();
  };
}

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`diverted responses (${protocol})`, () => {
    let dir: TempDir;
    let backend: ScriptedBackend;
    let gw: TestGateway;

    before(async () => {
      dir = await makeTempDir('redirects');
      const files = join(dir.path, 'files');
      const www = join(dir.path, 'www');
      await mkdir(files);
      await mkdir(www);
      await writeFile(join(files, 'doc.txt'), 'the document, served from disk\n');
      await writeFile(join(dir.path, 'outside.txt'), 'outside the root');
      await symlink(join(dir.path, 'outside.txt'), join(files, 'link.txt'));
      await writeFile(join(www, '404.html'), '<p>custom not found</p>');
      backend = await startScriptedBackend(protocol, answer(files, join(dir.path, 'outside.txt')));
      const pass = { pass: backend.address };
      const scheme = protocol === 'scgi' ? 'scgi' : 'fcgi';
      gw = await startTestGateway({
        root: www,
        locations: [
          { match: '/', [protocol]: pass },
          { match: '/protected/', internal: true, [protocol]: pass },
          { match: '= /oops-page', internal: true, [protocol]: pass },
          { match: '/ignored/', [protocol]: { ...pass, ignore_headers: ['X-Accel-Redirect'] } },
          { match: '/follow/', [protocol]: { ...pass, internal_redirect: true } },
          { match: '/files/', [protocol]: { ...pass, sendfile: true, sendfile_roots: [files] } },
          { match: '/noroots/', [protocol]: { ...pass, sendfile: true } },
          {
            match: '/pages/',
            [protocol]: { ...pass, intercept_errors: true },
            error_page: { '404': '/404.html', '500': '=200 /oops-page', '418': 'https://example.org/teapot' },
          },
          { match: '/passed/', [protocol]: pass, error_page: { '404': '/404.html' } },
          { match: '/nolocation-page/', error_page: { '404': '=410 /404.html' } },
          { match: '= /404.html', internal: true },
        ],
        proxy_pass: [{ path: '/apache/', url: `${scheme}://${backend.address}/` }],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
      await dir?.cleanup();
    });

    it('X-Accel-Redirect: served by the internal location, as GET, with its args; $request_uri kept', async () => {
      const res = await httpRequest(gw.url, {
        path: '/accel',
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'data',
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'protected GET via=accel /accel');
      assert.equal(res.headers['x-accel-redirect'], undefined);
    });

    it('an internal location cannot be reached from outside', async () => {
      assert.equal((await httpRequest(gw.url, { path: '/protected/file' })).status, 404);
    });

    it('ignore_headers X-Accel-Redirect: the response passes as it is (header hidden)', async () => {
      const res = await httpRequest(gw.url, { path: '/ignored/accel' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), '');
      assert.equal(res.headers['x-accel-redirect'], undefined);
    });

    it('an unsafe target is a 404; a redirect loop stops at 10 with 500', async () => {
      assert.equal((await httpRequest(gw.url, { path: '/accel-unsafe' })).status, 404);
      assert.equal((await httpRequest(gw.url, { path: '/loop' })).status, 500);
    });

    it('a local Location without Status: 302 on a location; followed with internal_redirect on, and on proxy_pass', async () => {
      const plain = await httpRequest(gw.url, { path: '/local' });
      assert.equal(plain.status, 302);
      assert.equal(plain.headers.location, '/protected/file?via=location');
      const followed = await httpRequest(gw.url, { path: '/follow/local' });
      assert.equal(followed.status, 200);
      assert.match(followed.body.toString(), /^protected GET via=location /);
      const apache = await httpRequest(gw.url, { path: '/apache/local' });
      assert.equal(apache.status, 200);
      assert.match(apache.body.toString(), /^protected GET via=location /);
    });

    it('X-Sendfile inside a root: the file, not the body; ranges and 304 work; the header never leaks', async () => {
      const res = await httpRequest(gw.url, { path: '/files/sendfile' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'the document, served from disk\n');
      assert.equal(res.headers['content-type'], 'text/plain');
      assert.equal(res.headers['x-extra'], 'kept');
      assert.equal(res.headers['x-sendfile'], undefined);
      const part = await httpRequest(gw.url, { path: '/files/sendfile', headers: { range: 'bytes=4-11' } });
      assert.equal(part.status, 206);
      assert.equal(part.body.toString(), 'document');
      const again = await httpRequest(gw.url, {
        path: '/files/sendfile',
        headers: { 'if-none-match': String(res.headers.etag) },
      });
      assert.equal(again.status, 304);
      const since = await httpRequest(gw.url, {
        path: '/files/sendfile',
        headers: { 'if-modified-since': String(res.headers['last-modified']) },
      });
      assert.equal(since.status, 304);
      const head = await httpRequest(gw.url, { path: '/files/sendfile', method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
    });

    it('X-Sendfile outside a root (absolute, .., symlink) or without roots: refused, nothing leaked', async () => {
      for (const path of [
        '/files/sendfile-out',
        '/files/sendfile-dots',
        '/files/sendfile-link',
        '/files/sendfile-nul',
        '/noroots/sendfile',
      ]) {
        const res = await httpRequest(gw.url, { path });
        // A NUL never gets past the response-head parser (502); the others are refused.
        assert.ok([500, 502, 403, 404].includes(res.status), `${path}: ${res.status}`);
        assert.doesNotMatch(res.body.toString(), /outside the root|served from disk|nope/);
        assert.equal(res.headers['x-sendfile'], undefined);
      }
      assert.ok(
        gw.log.lines.some((l) => /X-Sendfile .* refused: no sendfile_roots configured/.test(l.message)),
      );
    });

    it('error_page with intercept_errors: the page with the original status, =200, a URL', async () => {
      const missing = await httpRequest(gw.url, { path: '/pages/missing' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.toString(), '<p>custom not found</p>');
      const broken = await httpRequest(gw.url, { path: '/pages/broken' });
      assert.equal(broken.status, 200);
      assert.equal(broken.body.toString(), 'oops page for /pages/broken');
      const teapot = await httpRequest(gw.url, { path: '/pages/teapot' });
      assert.equal(teapot.status, 302);
      assert.equal(teapot.headers.location, 'https://example.org/teapot');
    });

    it("without intercept_errors the backend's 404 passes; Portico's own 404 gets the page (=410)", async () => {
      const passed = await httpRequest(gw.url, { path: '/passed/missing' });
      assert.equal(passed.status, 404);
      assert.equal(passed.body.toString(), 'backend 404 page');
      const own = await httpRequest(gw.url, { path: '/nolocation-page/none.txt' });
      assert.equal(own.status, 410);
      assert.equal(own.body.toString(), '<p>custom not found</p>');
    });
  });
}
