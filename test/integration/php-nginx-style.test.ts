/**
 * The classic nginx PHP configuration, without the preset, against real php-fpm:
 *
 *   location / { try_files $uri $uri/ /index.php?$query_string; }
 *   location ~ /\. { return 404; }
 *   location ~ \.php$ { try_files $uri =404; fastcgi_pass ...; include fastcgi.conf; }
 *
 * Static files and the backend in nginx's division of labour: a file is served by the static
 * location, anything else reaches the front controller by try_files' internal redirect through
 * location matching, and `try_files $uri =404` in the PHP location is what keeps a missing
 * script (and `/uploads/x.jpg/y.php`, the cgi.fix_pathinfo hole) away from php-fpm. php-fpm's
 * access log (one worker) proves what ran.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpJson, httpRequest } from './support/http.ts';

const phpFpm = requirePeer('php-fpm', PHP_FPM_PATH);

const DUMP = `<?php
header('Content-Type: application/json');
echo json_encode([
  'script' => basename(__FILE__),
  'SCRIPT_NAME' => $_SERVER['SCRIPT_NAME'] ?? null,
  'SCRIPT_FILENAME' => $_SERVER['SCRIPT_FILENAME'] ?? null,
  'REQUEST_URI' => $_SERVER['REQUEST_URI'] ?? null,
  'DOCUMENT_URI' => $_SERVER['DOCUMENT_URI'] ?? null,
  'QUERY_STRING' => $_SERVER['QUERY_STRING'] ?? null,
  'page' => $_GET['page'] ?? null,
]);
`;

describe('nginx-style PHP locations (try_files + location ~ \\.php$) with php-fpm', {
  skip: phpFpm.skip,
}, () => {
  let docroot: TempDir;
  let fpm: PhpFpm;
  let gw: TestGateway;
  let sentinels = 0;

  before(async () => {
    docroot = await makeTempDir('php-nginx-style');
    const d = docroot.path;
    await writeFile(join(d, 'index.php'), DUMP);
    await writeFile(join(d, 'info.php'), DUMP);
    await mkdir(join(d, 'uploads'));
    await writeFile(join(d, 'uploads', 'x.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x3c, 0x3f]));
    await writeFile(join(d, 'app.js'), 'console.log(1)');
    await writeFile(join(d, '.env.php'), '<?php echo "SECRET";');
    fpm = await startPhpFpm({
      listen: 'unix',
      docroot: d,
      poolOptions: { pm_max_children: 1, access_log: true },
    });
    gw = await startTestGateway({
      root: d,
      locations: [
        { match: '/', try_files: ['$uri', '$uri/', '/index.php?$query_string'] },
        // Regexes are tried in order (nginx): the dotfile rule goes before the PHP one, or
        // /.env.php would run.
        { match: '~ /\\.', return: 404 },
        {
          match: '~ \\.php$',
          try_files: ['$uri', '=404'],
          fastcgi: { pass: fpm.address, include_params: 'fastcgi.conf' },
        },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await fpm?.stop();
    await docroot?.cleanup();
  });

  /** php-fpm's access log once a sentinel request is in it (one worker: in request order). */
  async function fpmLog(): Promise<string> {
    const mark = `/info.php?sentinel=${++sentinels}`;
    assert.equal((await httpRequest(gw.url, { path: mark })).status, 200);
    for (let i = 0; i < 500; i++) {
      const text = await readFile(fpm.accessLogPath, 'latin1').catch(() => '');
      if (text.includes(`GET ${mark} 200`)) return text;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`php-fpm never logged ${mark}`);
  }

  it('a pretty URL reaches the front controller by internal redirect, its query kept', async () => {
    const res = await httpJson<Record<string, string>>(gw.url, { path: '/blog/hello?page=2' });
    assert.equal(res.status, 200);
    assert.equal(res.json.script, 'index.php');
    assert.equal(res.json.SCRIPT_NAME, '/index.php');
    assert.equal(res.json.SCRIPT_FILENAME, join(docroot.path, 'index.php'));
    assert.equal(res.json.DOCUMENT_URI, '/index.php');
    assert.equal(res.json.REQUEST_URI, '/blog/hello?page=2');
    assert.equal(res.json.QUERY_STRING, 'page=2');
    assert.equal(res.json.page, '2');
  });

  it('a script that exists runs; a static file is served by the static location', async () => {
    const info = await httpJson<Record<string, string>>(gw.url, { path: '/info.php' });
    assert.equal(info.json.script, 'info.php');
    const js = await httpRequest(gw.url, { path: '/app.js' });
    assert.equal(js.status, 200);
    assert.equal(js.headers['content-type'], 'application/javascript');
    assert.equal(js.body.toString(), 'console.log(1)');
    const again = await httpRequest(gw.url, {
      path: '/app.js',
      headers: { 'if-none-match': String(js.headers.etag) },
    });
    assert.equal(again.status, 304);
  });

  it('try_files $uri =404 keeps missing scripts and /uploads/x.jpg/y.php from php-fpm', async () => {
    const before = await fpmLog();
    assert.equal((await httpRequest(gw.url, { path: '/missing.php' })).status, 404);
    assert.equal((await httpRequest(gw.url, { path: '/uploads/x.jpg/y.php' })).status, 404);
    assert.equal((await httpRequest(gw.url, { path: '/.env.php' })).status, 404);
    const after = await fpmLog();
    const ran = after.slice(before.length).trim().split('\n');
    assert.equal(ran.length, 1, ran.join('\n'));
    assert.doesNotMatch(after, /missing|x\.jpg|\.env/);
  });
});
