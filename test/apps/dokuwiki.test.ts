/**
 * DokuWiki (Debian's package) with php-fpm through Portico's `php` preset: log in with the
 * login form's security token, create and edit a page, find it with the search, upload an
 * image through the media manager (multipart) and fetch it back byte-identical through
 * fetch.php, all on DokuWiki's PATH_INFO URLs (userewrite 2: /doku.php/namespace:page).
 *
 * The wiki is a private copy in a temp dir (code from /usr/share/dokuwiki, configuration and
 * data copied, a preload.php pointing at them); the system install is never touched.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from '../integration/support/gateway.ts';
import { Browser, inputValue, TINY_PNG } from './support/browser.ts';

const run = promisify(execFile);
const DOKUWIKI = '/usr/share/dokuwiki/doku.php';
const peer = requirePeer('php-fpm + dokuwiki', [PHP_FPM_PATH, DOKUWIKI]);

describe('DokuWiki through the php preset', { skip: peer.skip }, () => {
  let dir: TempDir;
  let fpm: PhpFpm;
  let gw: TestGateway;
  let browser: Browser;
  const word = `porticoword${Date.now().toString(36)}`;

  before(async () => {
    dir = await makeTempDir('dokuwiki');
    const d = dir.path;
    // -L: the package links lib/plugins, lib/tpl and conf files into /var/lib and /etc.
    await run('cp', ['-rL', '/usr/share/dokuwiki', join(d, 'app')]);
    await run('cp', ['-rL', '/etc/dokuwiki', join(d, 'conf')]);
    await run('cp', ['-rL', '/var/lib/dokuwiki/data', join(d, 'data')]);
    await writeFile(join(d, 'app', 'inc', 'preload.php'), `<?php\ndefine('DOKU_CONF', '${d}/conf/');\n`);
    await writeFile(
      join(d, 'conf', 'local.php'),
      `<?php
$conf['title'] = 'Portico test wiki';
$conf['savedir'] = '${d}/data';
$conf['useacl'] = 1;
$conf['superuser'] = '@admin';
$conf['userewrite'] = 2;
$conf['useslash'] = 0;
$conf['securecookie'] = 0;
$conf['updatecheck'] = 0;
`,
    );
    const { stdout: hash } = await run('php', ['-r', 'echo password_hash("s3cret-pass", PASSWORD_BCRYPT);']);
    await writeFile(join(d, 'conf', 'users.auth.php'), `admin:${hash}:Admin:admin@example.org:admin,user\n`);
    await writeFile(join(d, 'conf', 'acl.auth.php'), '*\t@ALL\t1\n*\t@user\t16\n');
    fpm = await startPhpFpm({ listen: 'unix', docroot: join(d, 'app'), poolOptions: { pm_max_children: 2 } });
    gw = await startTestGateway({
      locations: [
        {
          match: '/',
          root: join(d, 'app'),
          php: {
            pass: fpm.address,
            front_controller: '/doku.php',
            // DokuWiki's own .htaccess refuses these; install.php is not for the public.
            deny: ['^/(bin|inc|vendor|conf|data)/', '^/install\\.php'],
          },
        },
      ],
    });
    browser = new Browser(gw.url);
  });

  after(async () => {
    await gw?.close();
    await fpm?.stop();
    await dir?.cleanup();
  });

  it('shows the start page, and refuses its private directories', async () => {
    const start = await browser.get('/doku.php/start');
    assert.equal(start.status, 200);
    assert.match(start.text, /Portico test wiki/);
    assert.equal((await browser.get('/inc/init.php')).status, 403);
    assert.equal((await browser.get('/install.php')).status, 403);
  });

  it('logs in with the form and its security token', async () => {
    const form = await browser.get('/doku.php/start?do=login');
    const sectok = inputValue(form.text, 'sectok');
    assert.ok(sectok !== undefined, 'login form has a sectok');
    const done = await browser.follow(
      await browser.postForm('/doku.php/start', {
        do: 'login',
        id: 'start',
        u: 'admin',
        p: 's3cret-pass',
        sectok,
      }),
    );
    assert.equal(done.status, 200);
    assert.match(done.text, /do=logout|Log Out/i);
  });

  it('creates a page, edits it, and shows the edit', async () => {
    for (const [round, text] of [
      [1, `====== Portico ======\nFirst version with ${word}.`],
      [2, `====== Portico ======\nSecond version with ${word} and more.`],
    ] as const) {
      // DokuWiki keys revisions by the second: a second edit in the same second replaces the first.
      if (round === 2) await new Promise((r) => setTimeout(r, 1100));
      const editor = await browser.get('/doku.php/playground:portico?do=edit');
      assert.equal(editor.status, 200, `editor ${round}`);
      const fields: Record<string, string> = {
        id: 'playground:portico',
        wikitext: text,
        summary: `round ${round}`,
      };
      for (const name of ['sectok', 'changecheck', 'date', 'prefix', 'suffix', 'rev', 'target']) {
        const v = inputValue(editor.text, name);
        if (v !== undefined) fields[name] = v;
      }
      fields['do[save]'] = '1';
      const saved = await browser.follow(await browser.postForm('/doku.php/playground:portico', fields));
      assert.equal(saved.status, 200);
    }
    const page = await browser.get('/doku.php/playground:portico');
    assert.match(page.text, /Second version with/);
    const revisions = await browser.get('/doku.php/playground:portico?do=revisions');
    assert.match(revisions.text, /round 1/);
    assert.match(revisions.text, /round 2/);
  });

  it('finds the page with the search (after the indexer ran)', async () => {
    await browser.get('/lib/exe/taskrunner.php?id=playground:portico');
    const results = await browser.get(`/doku.php/start?do=search&q=${word}`);
    assert.equal(results.status, 200);
    assert.match(results.text, /playground:portico|playground\/portico|Portico/);
  });

  it('uploads an image (multipart) and fetch.php returns it byte-identical', async () => {
    const manager = await browser.get('/doku.php/start?do=media&ns=playground');
    const sectok = inputValue(manager.text, 'sectok');
    assert.ok(sectok !== undefined);
    const upload = await browser.postMultipart(
      `/lib/exe/ajax.php?call=mediaupload&ns=playground&sectok=${sectok}`,
      { mediaid: 'pixel.png', ow: '1' },
      { field: 'qqfile', name: 'pixel.png', type: 'image/png', data: TINY_PNG },
    );
    assert.equal(upload.status, 200, upload.text);
    assert.match(upload.text, /"success":\s*true/);
    const image = await browser.get('/lib/exe/fetch.php?media=playground:pixel.png');
    assert.equal(image.status, 200);
    assert.equal(image.headers['content-type'], 'image/png');
    assert.deepEqual(image.body, TINY_PNG);
  });
});
