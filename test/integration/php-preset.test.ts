/**
 * The `php` location preset against real php-fpm: a front controller with pretty URLs,
 * PATH_INFO split only at a script that exists, static files served directly, directories,
 * dotfiles and the deny list refused, PHP_VALUE, and the requests that must never reach PHP:
 * a missing .php, an upload with a .php tail (`/uploads/x.jpg/y.php`, the cgi.fix_pathinfo
 * hole) and the CVE-2019-11043 pattern (`%0a` in the path). php-fpm's status and ping pages
 * through ordinary locations. Requests reaching php-fpm are counted by the gateway.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { rawHttpRequest } from '../support/raw-clients.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpJson, httpRequest } from './support/http.ts';

const phpFpm = requirePeer('php-fpm', PHP_FPM_PATH);

/** The smallest valid JPEG header and a PHP payload: what an attacker uploads as x.jpg. */
const POLYGLOT = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
  Buffer.from('<?php echo "PWNED"; ?>'),
]);

const DUMP = `<?php
header('Content-Type: application/json');
echo json_encode([
  'script' => basename(__FILE__),
  'SCRIPT_NAME' => $_SERVER['SCRIPT_NAME'] ?? null,
  'SCRIPT_FILENAME' => $_SERVER['SCRIPT_FILENAME'] ?? null,
  'PATH_INFO' => $_SERVER['PATH_INFO'] ?? null,
  'PATH_TRANSLATED' => $_SERVER['PATH_TRANSLATED'] ?? null,
  'REQUEST_URI' => $_SERVER['REQUEST_URI'] ?? null,
  'DOCUMENT_ROOT' => $_SERVER['DOCUMENT_ROOT'] ?? null,
  'PHP_SELF' => $_SERVER['PHP_SELF'] ?? null,
  'memory_limit' => ini_get('memory_limit'),
]);
`;

describe('php preset with php-fpm', { skip: phpFpm.skip }, () => {
  let docroot: TempDir;
  let fpm: PhpFpm;
  let gw: TestGateway;

  before(async () => {
    docroot = await makeTempDir('php-app');
    const d = docroot.path;
    await writeFile(join(d, 'index.php'), DUMP);
    await writeFile(join(d, 'info.php'), DUMP);
    await mkdir(join(d, 'admin'));
    await writeFile(join(d, 'admin', 'index.php'), DUMP);
    await mkdir(join(d, 'uploads'));
    await writeFile(join(d, 'uploads', 'x.jpg'), POLYGLOT);
    await writeFile(join(d, 'style.css'), 'body { color: red }');
    await writeFile(join(d, '.env'), 'SECRET=1');
    await mkdir(join(d, '.well-known'));
    await writeFile(join(d, '.well-known', 'security.txt'), 'Contact: x');
    await mkdir(join(d, 'vendor'));
    await writeFile(join(d, 'vendor', 'lib.php'), DUMP);
    fpm = await startPhpFpm({
      listen: 'unix',
      docroot: d,
      poolOptions: { pm_max_children: 2, ping_path: '/ping', status_path: '/status' },
    });
    gw = await startTestGateway({
      locations: [
        { match: '= /ping', fastcgi: { pass: fpm.address } },
        { match: '= /status', fastcgi: { pass: fpm.address } },
        {
          match: '/',
          root: d,
          php: { pass: fpm.address, deny: ['^/vendor/'], php_value: { memory_limit: '77M' } },
        },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await fpm?.stop();
    await docroot?.cleanup();
  });

  /** Requests php-fpm got through the preset location so far. */
  function phpRequests(): number {
    const group = gw.upstreams().find((g) => g.members[0]?.address.includes('php-fpm.sock'));
    return group?.members.reduce((n, m) => n + m.requests, 0) ?? 0;
  }

  it('pretty URLs go to the front controller; REQUEST_URI is the one asked', async () => {
    const res = await httpJson<Record<string, string>>(gw.url, { path: '/blog/2026/hello?x=1' });
    assert.equal(res.status, 200);
    assert.equal(res.json.script, 'index.php');
    assert.equal(res.json.SCRIPT_NAME, '/index.php');
    assert.equal(res.json.SCRIPT_FILENAME, join(docroot.path, 'index.php'));
    assert.equal(res.json.REQUEST_URI, '/blog/2026/hello?x=1');
    assert.equal(res.json.DOCUMENT_ROOT, docroot.path);
    assert.equal(res.json.PATH_INFO, null);
    // The counter the "never reach PHP" checks rely on does count.
    assert.ok(phpRequests() >= 1);
  });

  it('PATH_INFO is split at a script that exists', async () => {
    const res = await httpJson<Record<string, string>>(gw.url, { path: '/info.php/a/b' });
    assert.equal(res.json.script, 'info.php');
    assert.equal(res.json.SCRIPT_NAME, '/info.php');
    assert.equal(res.json.PATH_INFO, '/a/b');
    assert.equal(res.json.PATH_TRANSLATED, `${docroot.path}/a/b`);
    assert.equal(res.json.PHP_SELF, '/info.php/a/b');
  });

  it('PHP_VALUE reaches PHP', async () => {
    const res = await httpJson<Record<string, string>>(gw.url, { path: '/info.php' });
    assert.equal(res.json.memory_limit, '77M');
  });

  it('static files are served directly, with 304 and ranges', async () => {
    const before = phpRequests();
    const css = await httpRequest(gw.url, { path: '/style.css' });
    assert.equal(css.status, 200);
    assert.equal(css.headers['content-type'], 'text/css');
    const again = await httpRequest(gw.url, {
      path: '/style.css',
      headers: { 'if-none-match': String(css.headers.etag) },
    });
    assert.equal(again.status, 304);
    const part = await httpRequest(gw.url, { path: '/style.css', headers: { range: 'bytes=0-3' } });
    assert.equal(part.body.toString(), 'body');
    const jpeg = await httpRequest(gw.url, { path: '/uploads/x.jpg' });
    assert.equal(jpeg.headers['content-type'], 'image/jpeg');
    assert.deepEqual(jpeg.body, POLYGLOT);
    assert.equal(phpRequests(), before);
  });

  it('a directory: 301 to the slash when it has index.php, then its index.php runs', async () => {
    const moved = await httpRequest(gw.url, { path: '/admin?tab=2' });
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, '/admin/?tab=2');
    const res = await httpJson<Record<string, string>>(gw.url, { path: '/admin/' });
    assert.equal(res.json.SCRIPT_NAME, '/admin/index.php');
  });

  it('never reach PHP: a missing .php, /uploads/x.jpg/y.php, the CVE-2019-11043 pattern', async () => {
    const before = phpRequests();
    assert.equal((await httpRequest(gw.url, { path: '/missing.php' })).status, 404);
    assert.equal((await httpRequest(gw.url, { path: '/missing.php/with/info' })).status, 404);
    const upload = await httpRequest(gw.url, { path: '/uploads/x.jpg/y.php' });
    assert.equal(upload.status, 404);
    assert.doesNotMatch(upload.body.toString(), /PWNED/);
    // CVE-2019-11043: a %0a breaks nginx's fastcgi_split_path_info regex; here a control byte
    // in the path is refused when it is decoded.
    for (const target of [
      '/index.php%0a.php',
      `/index.php/PHP_VALUE%0Asession.auto_start=1;;;?${'Q'.repeat(1500)}`,
    ]) {
      const raw = await rawHttpRequest(gw.address, { method: 'GET', target, headers: [['Host', 'x']] });
      assert.equal(raw.status, 400, target);
    }
    assert.equal(phpRequests(), before);
  });

  it('dotfiles and the deny list are refused; /.well-known is served', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/.env' })).status, 403);
    assert.equal((await httpRequest(gw.url, { path: '/.git/config' })).status, 403);
    assert.equal((await httpRequest(gw.url, { path: '/vendor/lib.php' })).status, 403);
    const wk = await httpRequest(gw.url, { path: '/.well-known/security.txt' });
    assert.equal(wk.status, 200);
    assert.equal(wk.body.toString(), 'Contact: x');
  });

  it("php-fpm's ping and status pages through ordinary locations", async () => {
    const ping = await httpRequest(gw.url, { path: '/ping' });
    assert.equal(ping.status, 200);
    assert.equal(ping.body.toString(), 'pong');
    const text = await httpRequest(gw.url, { path: '/status' });
    assert.match(text.body.toString(), /^pool:\s+portico$/m);
    assert.match(text.body.toString(), /^process manager:\s+static$/m);
    const status = await httpJson<Record<string, unknown>>(gw.url, { path: '/status?json' });
    assert.equal(status.json.pool, 'portico');
    assert.equal(status.json['process manager'], 'static');
  });
});
