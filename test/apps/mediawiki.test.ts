/**
 * MediaWiki (Debian's package) on SQLite, installed by its own maintenance/install.php into a
 * temp dir, with php-fpm through Portico's `php` preset: create an account, log in, create and
 * edit a page, see its history, upload a file and get it back byte-identical. Pages are read
 * through MediaWiki's PATH_INFO article paths (/index.php/Title); the account, login, edit
 * and upload go through api.php, MediaWiki's own entry point for clients.
 *
 * The code tree is a hard-linked copy of /usr/share/mediawiki (a plain copy when /tmp is on
 * another filesystem) with its own LocalSettings.php and images directory; nothing of the
 * system install is changed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from '../integration/support/gateway.ts';
import { Browser, TINY_PNG } from './support/browser.ts';

const run = promisify(execFile);
const MEDIAWIKI = '/usr/share/mediawiki/index.php';
/** What Debian's conf.d would load for MediaWiki (php-fpm runs with -n in tests). */
const MEDIAWIKI_EXTENSIONS = [
  'ctype',
  'iconv',
  'mbstring',
  'xml',
  'dom',
  'xmlreader',
  'simplexml',
  'fileinfo',
  'intl',
  'pdo',
  'pdo_sqlite',
  'sqlite3',
];
const peer = requirePeer('php-fpm + mediawiki + php-sqlite3', [PHP_FPM_PATH, MEDIAWIKI]);

interface Json {
  [key: string]: unknown;
}

describe('MediaWiki on SQLite through the php preset', { skip: peer.skip }, () => {
  let dir: TempDir;
  let fpm: PhpFpm;
  let gw: TestGateway;
  let browser: Browser;
  const user = `Tester${Date.now().toString(36)}`;
  const password = 'Portico-test-pass-42';

  async function api(params: Record<string, string>, post = false): Promise<Json> {
    const query = new URLSearchParams({ format: 'json', formatversion: '2', ...params });
    const page = post
      ? await browser.postForm('/api.php', Object.fromEntries(query))
      : await browser.get(`/api.php?${query}`);
    assert.equal(page.status, 200, page.text.slice(0, 300));
    return JSON.parse(page.text) as Json;
  }

  async function token(type: string): Promise<string> {
    const r = (await api({ action: 'query', meta: 'tokens', type })) as {
      query: { tokens: Record<string, string> };
    };
    return r.query.tokens[`${type}token`] as string;
  }

  before(async () => {
    dir = await makeTempDir('mediawiki');
    const app = join(dir.path, 'app');
    try {
      await run('cp', ['-al', '/usr/share/mediawiki', app]);
    } catch {
      await rm(app, { recursive: true, force: true });
      await run('cp', ['-a', '/usr/share/mediawiki', app]);
    }
    // Our own LocalSettings.php and images (the package links both into /var/lib/mediawiki).
    await rm(join(app, 'LocalSettings.php'), { force: true });
    await rm(join(app, 'images'), { force: true, recursive: true });
    await mkdir(join(app, 'images'));
    await mkdir(join(dir.path, 'db'));
    await run('php', [
      join(app, 'maintenance', 'install.php'),
      '--dbtype=sqlite',
      `--dbpath=${join(dir.path, 'db')}`,
      '--server=http://127.0.0.1',
      '--scriptpath=',
      '--lang=en',
      '--pass=Admin-pass-1234567',
      `--confpath=${app}`,
      'Portico Wiki',
      'Admin',
    ]);
    fpm = await startPhpFpm({
      listen: 'unix',
      docroot: app,
      poolOptions: { pm_max_children: 2 },
      extensions: MEDIAWIKI_EXTENSIONS,
    });
    gw = await startTestGateway({
      locations: [
        {
          match: '/',
          root: app,
          php: {
            pass: fpm.address,
            // What MediaWiki's .htaccess files refuse.
            deny: [
              '^/(includes|maintenance|languages|vendor|cache|extensions-core/[^/]+/tests)/',
              '^/(LocalSettings|composer)',
            ],
          },
        },
      ],
    });
    await appendFile(
      join(app, 'LocalSettings.php'),
      `\n$wgServer = '${gw.url}';\n$wgArticlePath = '/index.php/$1';\n$wgEnableUploads = true;\n` +
        `$wgGroupPermissions['*']['createaccount'] = true;\n$wgGroupPermissions['user']['upload'] = true;\n` +
        `$wgPasswordAttemptThrottle = false;\n$wgAccountCreationThrottle = 0;\n$wgShowExceptionDetails = true;\n`,
    );
    browser = new Browser(gw.url);
  });

  after(async () => {
    await gw?.close();
    await fpm?.stop();
    await dir?.cleanup();
  });

  it('serves the main page through its PATH_INFO article path; refuses its code directories', async () => {
    const main = await browser.get('/index.php/Main_Page');
    assert.equal(main.status, 200, main.text.slice(0, 2000));
    assert.match(main.text, /MediaWiki has been installed/);
    assert.equal((await browser.get('/includes/WebStart.php')).status, 403);
    assert.equal((await browser.get('/LocalSettings.php')).status, 403);
  });

  it('creates an account, then logs in with it', async () => {
    const created = (await api(
      {
        action: 'createaccount',
        username: user,
        password,
        retype: password,
        createreturnurl: `${gw.url}/`,
        createtoken: await token('createaccount'),
      },
      true,
    )) as { createaccount: { status: string } };
    assert.equal(created.createaccount.status, 'PASS', JSON.stringify(created));
    // A fresh session, as a returning user.
    browser = new Browser(gw.url);
    const login = (await api(
      {
        action: 'clientlogin',
        username: user,
        password,
        loginreturnurl: `${gw.url}/`,
        logintoken: await token('login'),
      },
      true,
    )) as { clientlogin: { status: string; username: string } };
    assert.equal(login.clientlogin.status, 'PASS', JSON.stringify(login));
    const who = (await api({ action: 'query', meta: 'userinfo' })) as {
      query: { userinfo: { name: string } };
    };
    assert.equal(who.query.userinfo.name, user);
  });

  it('creates a page, edits it, and shows both revisions in its history', async () => {
    for (const [i, text] of [
      'First text of the Portico page.',
      'Second, edited text of the Portico page.',
    ].entries()) {
      const r = (await api(
        { action: 'edit', title: 'Portico_test', text, summary: `edit ${i + 1}`, token: await token('csrf') },
        true,
      )) as { edit: { result: string } };
      assert.equal(r.edit.result, 'Success', JSON.stringify(r));
    }
    const page = await browser.get('/index.php/Portico_test');
    assert.equal(page.status, 200);
    assert.match(page.text, /Second, edited text/);
    const history = await browser.get('/index.php?title=Portico_test&action=history');
    assert.match(history.text, /edit 1/);
    assert.match(history.text, /edit 2/);
  });

  it('uploads a file (multipart) and serves it back byte-identical', async () => {
    const upload = await browser.postMultipart(
      '/api.php',
      {
        action: 'upload',
        format: 'json',
        filename: 'Portico_pixel.png',
        ignorewarnings: '1',
        token: await token('csrf'),
      },
      { field: 'file', name: 'Portico_pixel.png', type: 'image/png', data: TINY_PNG },
    );
    assert.equal(upload.status, 200);
    const result = JSON.parse(upload.text) as { upload?: { result: string; imageinfo?: { url: string } } };
    assert.equal(result.upload?.result, 'Success', upload.text);
    const url = new URL(String(result.upload?.imageinfo?.url), gw.url);
    const image = await browser.get(url.pathname);
    assert.equal(image.status, 200);
    assert.equal(image.headers['content-type'], 'image/png');
    assert.deepEqual(image.body, TINY_PNG);
  });
});
