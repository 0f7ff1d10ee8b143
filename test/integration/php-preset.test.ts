/**
 * The `php` location preset against real php-fpm: a front controller with pretty URLs,
 * PATH_INFO split only at a script that exists, static files served directly, directories,
 * dotfiles and the deny list refused, PHP_VALUE, and the requests that must never reach PHP:
 * a missing .php, an upload with a .php tail (`/uploads/x.jpg/y.php`, the cgi.fix_pathinfo
 * hole) and the CVE-2019-11043 pattern (`%0a` in the path). php-fpm's status and ping pages
 * through ordinary locations. What reaches PHP is proven twice: the gateway's request count
 * and php-fpm's own access.log (one worker, so its log is in request order).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, realpath, rename, symlink, writeFile } from 'node:fs/promises';
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
  let outside: TempDir;
  let releases: TempDir;
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
    // A script outside the root, reachable only through a symlink planted in uploads/.
    outside = await makeTempDir('php-outside');
    await writeFile(join(outside.path, 'evil.php'), '<?php echo "PWNED";');
    await writeFile(join(outside.path, 'passwd'), 'root:x:0:0');
    await symlink(join(outside.path, 'evil.php'), join(d, 'uploads', 'evil.php'));
    await symlink(outside.path, join(d, 'uploads', 'out'));
    // A symlinked deploy: current -> releases/1, switched later.
    releases = await makeTempDir('php-releases');
    for (const n of ['1', '2']) {
      await mkdir(join(releases.path, n, 'rel'), { recursive: true });
      await writeFile(join(releases.path, n, 'rel', 'index.php'), DUMP);
    }
    await symlink(join(releases.path, '1'), join(releases.path, 'current'));
    fpm = await startPhpFpm({
      listen: 'unix',
      docroot: d,
      poolOptions: { pm_max_children: 1, ping_path: '/ping', status_path: '/status', access_log: true },
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
        {
          match: '/rel/',
          php: {
            root: join(releases.path, 'current'),
            pass: fpm.address,
            realpath_root: true,
            front_controller: '/rel/index.php',
          },
        },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await fpm?.stop();
    await docroot?.cleanup();
    await outside?.cleanup();
    await releases?.cleanup();
  });

  let sentinels = 0;
  /**
   * php-fpm's access log up to now: a sentinel request is made and waited for (bounded) in the
   * log; with one worker every earlier request php-fpm ran is logged before it.
   */
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
    const logBefore = await fpmLog();
    const before = phpRequests();
    assert.equal((await httpRequest(gw.url, { path: '/missing.php' })).status, 404);
    assert.equal((await httpRequest(gw.url, { path: '/missing.php/with/info' })).status, 404);
    const upload = await httpRequest(gw.url, { path: '/uploads/x.jpg/y.php' });
    assert.equal(upload.status, 404);
    assert.doesNotMatch(upload.body.toString(), /PWNED/);
    // CVE-2019-11043: a %0a breaks nginx's fastcgi_split_path_info regex; here a control byte
    // in the path is refused when it is decoded.
    // The exploit (phuip-fpizdam) pads the path and the query so that the empty PATH_INFO
    // points php-fpm's path_info arithmetic at its own buffer; both paddings, and %0d too.
    for (const target of [
      '/index.php%0a.php',
      '/index.php%0A',
      '/index.php%0d%0a',
      `/index.php/PHP_VALUE%0Asession.auto_start=1;;;?${'Q'.repeat(1500)}`,
      `/index.php/PHP%0Ais_the_shittiest_lang.php?${'Q'.repeat(1700)}`,
      `/${'A'.repeat(1200)}/index.php/${'B'.repeat(600)}%0a.php`,
      '/uploads/x.jpg%0a.php',
    ]) {
      const raw = await rawHttpRequest(gw.address, {
        method: 'GET',
        target,
        headers: [
          ['Host', 'x'],
          ['D-Pisos', `8${'='.repeat(300)}D`],
        ],
      });
      assert.equal(raw.status, 400, target.slice(0, 60));
    }
    // A missing script under a real directory, in another case, with a double extension.
    for (const path of ['/admin/missing.php', '/INDEX.PHP', '/uploads/x.jpg.php', '/missing.php.php']) {
      assert.equal((await httpRequest(gw.url, { path })).status, 404, path);
    }
    assert.equal(phpRequests(), before);
    // php-fpm's own log agrees: nothing ran between the two sentinels.
    const logAfter = await fpmLog();
    const ran = logAfter.slice(logBefore.length).trim().split('\n');
    assert.equal(ran.length, 1, ran.join('\n'));
    assert.match(ran[0] ?? '', /^GET \/info\.php\?sentinel=\d+ 200 /);
    assert.doesNotMatch(logAfter, /missing|x\.jpg|evil|Q{100}/);
  });

  it('traversal never leaves the root, and a symlinked script outside it never runs', async () => {
    const logBefore = await fpmLog();
    const before = phpRequests();
    // A link to a script outside the root is refused before php-fpm is asked.
    const evil = await httpRequest(gw.url, { path: '/uploads/evil.php' });
    assert.equal(evil.status, 403);
    assert.doesNotMatch(evil.body.toString(), /PWNED/);
    assert.equal((await httpRequest(gw.url, { path: '/uploads/out/passwd' })).status, 403);
    assert.equal((await httpRequest(gw.url, { path: '/uploads/out/evil.php' })).status, 403);
    for (const target of [
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/uploads/..%2f..%2f..%2f..%2fetc/passwd',
      '/uploads/%2e%2e%2f%2e%2e%2fetc/passwd',
      '/uploads/x.jpg%00.php',
      '/index.php%00.jpg',
      '/uploads/..%5c..%5cindex.php',
      '/%252e%252e/%252e%252e/etc/passwd',
    ]) {
      const raw = await rawHttpRequest(gw.address, { method: 'GET', target, headers: [['Host', 'x']] });
      assert.ok([400, 403, 404].includes(raw.status), `${target}: ${raw.status}`);
      assert.doesNotMatch(raw.body.toString('latin1'), /root:x|PWNED/);
    }
    assert.equal(phpRequests(), before);
    const logAfter = await fpmLog();
    assert.equal(logAfter.slice(logBefore.length).trim().split('\n').length, 1);
    // Dot segments that stay inside the root are resolved first, as nginx does: this is /info.php.
    const inside = await httpJson<Record<string, string>>(gw.url, { path: '/uploads/../info.php/x' });
    assert.equal(inside.json.SCRIPT_FILENAME, join(docroot.path, 'info.php'));
    assert.equal(inside.json.PATH_INFO, '/x');
  });

  it('php.root with realpath_root: PHP sees the release the link points to now', async () => {
    const first = await httpJson<Record<string, string>>(gw.url, { path: '/rel/some/page' });
    assert.equal(first.status, 200);
    const real1 = await realpath(join(releases.path, '1'));
    assert.equal(first.json.SCRIPT_FILENAME, join(real1, 'rel', 'index.php'));
    assert.equal(first.json.DOCUMENT_ROOT, real1);
    assert.equal(first.json.SCRIPT_NAME, '/rel/index.php');
    // Deploy: the link is switched atomically (rename over it).
    await symlink(join(releases.path, '2'), join(releases.path, 'next'));
    await rename(join(releases.path, 'next'), join(releases.path, 'current'));
    const second = await httpJson<Record<string, string>>(gw.url, { path: '/rel/some/page' });
    const real2 = await realpath(join(releases.path, '2'));
    assert.equal(second.json.SCRIPT_FILENAME, join(real2, 'rel', 'index.php'));
    assert.equal(second.json.DOCUMENT_ROOT, real2);
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
