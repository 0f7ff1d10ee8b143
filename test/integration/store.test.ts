/**
 * nginx `*_store`: a complete 200 GET response is saved under the root (or a template path)
 * through a temp file renamed into place, with `store_access` permissions; a 404, a response
 * cut short, and a HEAD are never stored, and no temp file is left behind. SCGI and FastCGI.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import { type ScriptedBackend, startScriptedBackend } from './support/scripted-backend.ts';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`store (${protocol})`, () => {
    let root: TempDir;
    let backend: ScriptedBackend;
    let gw: TestGateway;

    before(async () => {
      root = await makeTempDir('store');
      backend = await startScriptedBackend(protocol, (ex) => {
        const uri = ex.get('DOCUMENT_URI') ?? '';
        if (uri.endsWith('/missing')) {
          ex.stdout('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno');
        } else if (uri.endsWith('/cut')) {
          ex.stdout('Content-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly part');
          ex.destroy();
          return;
        } else {
          ex.stdout(`Content-Type: text/plain\r\n\r\ncontent of ${uri}`);
        }
        ex.end();
      });
      const pass = { pass: backend.address };
      gw = await startTestGateway({
        root: root.path,
        locations: [
          { match: '/pages/', [protocol]: { ...pass, store: true } },
          {
            match: '/tpl/',
            [protocol]: {
              ...pass,
              store: `${root.path}/by-template$uri.html`,
              store_access: 'user:rw group:r all:r',
            },
          },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
      await root?.cleanup();
    });

    it('a complete 200 is saved under root + URI, mode user:rw (0600)', async () => {
      const res = await httpRequest(gw.url, { path: '/pages/a/b.txt' });
      assert.equal(res.body.toString(), 'content of /pages/a/b.txt');
      const file = join(root.path, 'pages', 'a', 'b.txt');
      assert.equal(await readFile(file, 'utf8'), 'content of /pages/a/b.txt');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
    });

    it('a template path and store_access user:rw group:r all:r (0644)', async () => {
      await httpRequest(gw.url, { path: '/tpl/page' });
      const file = join(root.path, 'by-template', 'tpl', 'page.html');
      assert.equal(await readFile(file, 'utf8'), 'content of /tpl/page');
      assert.equal((await stat(file)).mode & 0o777, 0o644);
    });

    it('never stored: a 404, a response cut short, a HEAD; no temp file is left', async () => {
      assert.equal((await httpRequest(gw.url, { path: '/pages/missing' })).status, 404);
      await httpRequest(gw.url, { path: '/pages/cut' }).catch(() => undefined);
      await httpRequest(gw.url, { path: '/pages/head.txt', method: 'HEAD' });
      assert.equal(await exists(join(root.path, 'pages', 'missing')), false);
      assert.equal(await exists(join(root.path, 'pages', 'cut')), false);
      assert.equal(await exists(join(root.path, 'pages', 'head.txt')), false);
      const left = (await readdir(join(root.path, 'pages'))).filter((f) => f.startsWith('.portico-store'));
      assert.deepEqual(left, []);
    });
  });
}
