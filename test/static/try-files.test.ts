/**
 * Path resolution and nginx try_files / index / directory-redirect decisions over a real
 * node:http server, plus traversal and symlink escapes at both the HTTP level and the API.
 */

import assert from 'node:assert/strict';
import { lchown, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { serveFile } from '../../src/static/serve.ts';
import { StaticRoot } from '../../src/static/resolve.ts';
import { compileIndex, compileTryFiles, tryFiles } from '../../src/static/try-files.ts';
import { get, INDEX_HTML, makeTree, SECRET, type Site, startSite, TEXT, type Tree } from './fixture.ts';

/** nginx's braced variable syntax, spelled so it is not mistaken for a JS template. */
const BRACED_URI = ['$', '{uri}'].join('');

let tree: Tree;
let site: Site;
let root: StaticRoot;

before(async () => {
  tree = await makeTree();
  root = new StaticRoot({ kind: 'root', root: tree.root });
  site = await startSite({ root });
});

after(async () => {
  await site?.close();
  await tree?.tmp.cleanup();
});

/** Run `fn` with the site configured as `config` (and the default root unless given). */
async function withConfig(config: Partial<Site['config']>, fn: () => Promise<void>): Promise<void> {
  site.config = { root, ...config };
  try {
    await fn();
  } finally {
    site.config = { root };
  }
}

test('no try_files: file, 404, directory 301 (args kept, escaped), index, 403 without index', async () => {
  assert.equal((await get(site.port, '/hello.txt')).body.toString(), TEXT);
  assert.equal((await get(site.port, '/missing')).status, 404);
  assert.equal((await get(site.port, '/hello.txt/')).status, 404);
  const dir = await get(site.port, '/dir?x=1');
  assert.equal(dir.status, 301);
  assert.equal(dir.headers.location, '/dir/?x=1');
  assert.equal((await get(site.port, '/a%20b')).headers.location, '/a%20b/');
  const index = await get(site.port, '/dir/');
  assert.equal(index.status, 200);
  assert.equal(index.body.toString(), INDEX_HTML);
  assert.equal(index.headers['x-static-uri'], '/dir/index.html');
  assert.equal(index.headers['content-type'], 'text/html');
  assert.equal((await get(site.port, '/dir/sub/')).status, 403);
  assert.equal((await get(site.port, '/nodir/')).status, 404);
});

test('index list: first found wins, an index is an internal redirect (index.php reaches the backend)', async () => {
  await withConfig({ index: compileIndex(['index.php', 'index.html']) }, async () => {
    // index.php does not exist in dir/, index.html does.
    assert.equal((await get(site.port, '/dir/')).body.toString(), INDEX_HTML);
  });
  await withConfig({ index: compileIndex(['nothing.html', '/fallback.php']) }, async () => {
    assert.equal((await get(site.port, '/dir/sub/?a=b')).body.toString(), 'backend /fallback.php?a=b');
  });
  // serveIndex: the file itself, no redirect.
  const d = await tryFiles('/dir/', { root, serveIndex: true });
  assert.equal(d.kind, 'file');
  assert.equal(d.kind === 'file' && d.uri, '/dir/index.html');
});

test('try_files $uri =404', async () => {
  await withConfig({ tryFiles: compileTryFiles(['$uri', '=404']) }, async () => {
    assert.equal((await get(site.port, '/hello.txt')).status, 200);
    assert.equal((await get(site.port, '/missing')).status, 404);
    // A directory does not match a file entry.
    assert.equal((await get(site.port, '/dir')).status, 404);
  });
});

test('try_files $uri $uri/ =404: directories get the 301 and then the index', async () => {
  await withConfig({ tryFiles: compileTryFiles(['$uri', '$uri/', '=404']) }, async () => {
    const r = await get(site.port, '/dir');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/dir/');
    assert.equal((await get(site.port, '/dir/')).body.toString(), INDEX_HTML);
    assert.equal((await get(site.port, '/dir/sub/')).status, 403);
    assert.equal((await get(site.port, '/missing/')).status, 404);
  });
});

test('try_files with a URI fallback: internal redirect, args replaced by a ? in it, else kept', async () => {
  await withConfig({ tryFiles: compileTryFiles(['$uri', '$uri/', '/index.php?q=$uri']) }, async () => {
    assert.equal((await get(site.port, '/missing?x=1')).body.toString(), 'backend /index.php?q=/missing');
    assert.equal((await get(site.port, '/hello.txt')).body.toString(), TEXT);
  });
  await withConfig({ tryFiles: compileTryFiles(['$uri', '/index.php']) }, async () => {
    assert.equal((await get(site.port, '/missing?x=1')).body.toString(), 'backend /index.php?x=1');
  });
});

test('try_files with other templates, a named location and =CODE', async () => {
  await withConfig({ tryFiles: compileTryFiles(['$uri', `${BRACED_URI}.html`, '@app']) }, async () => {
    const page = await get(site.port, '/page');
    assert.equal(page.body.toString(), '<p>page</p>\n');
    assert.equal(page.headers['content-type'], 'text/html');
    assert.equal((await get(site.port, '/nothing')).body.toString(), 'named @app /nothing');
  });
  await withConfig({ tryFiles: compileTryFiles(['/maintenance.html', '=503']) }, async () => {
    assert.equal((await get(site.port, '/hello.txt')).status, 503);
  });
});

test('try_files in a backend location returns pass with the new $uri', async () => {
  const d = await tryFiles('/hello.txt', {
    root,
    tryFiles: compileTryFiles(['$uri', '=404']),
    handler: 'backend',
  });
  assert.equal(d.kind, 'pass');
  assert.equal(d.kind === 'pass' && d.uri, '/hello.txt');
  const missing = await tryFiles('/x.php', {
    root,
    tryFiles: compileTryFiles(['$uri', '=404']),
    handler: 'backend',
  });
  assert.deepEqual(missing, { kind: 'status', code: 404, reason: 'try_files fallback' });
});

test('alias: the location prefix is replaced by the alias directory', async () => {
  const alias = new StaticRoot({ kind: 'alias', alias: `${tree.root}/dir/`, prefix: '/docs/' });
  await withConfig({ root: alias }, async () => {
    assert.equal((await get(site.port, '/docs/index.html')).body.toString(), INDEX_HTML);
    assert.equal((await get(site.port, '/docs/')).body.toString(), INDEX_HTML);
  });
});

test('traversal refused at the HTTP level: .., encoded dots and slashes, NUL', async () => {
  for (const path of [
    '/../outside/secret.txt',
    '/%2e%2e/outside/secret.txt',
    '/dir/..%2f..%2foutside/secret.txt',
    '/%2E%2E%2Foutside%2Fsecret.txt',
    '/hello.txt%00.png',
  ]) {
    const r = await get(site.port, path);
    assert.ok(r.status === 400 || r.status === 403 || r.status === 404, `${path}: ${r.status}`);
    assert.ok(!r.body.toString().includes(SECRET.trim()), path);
  }
});

test('traversal refused by the API itself (defence in depth, inputs the decoder never saw)', async () => {
  for (const uri of [
    '/../outside/secret.txt',
    '/dir/../../outside/secret.txt',
    '/hello.txt\0.png',
    '/%2e%2e/x',
  ]) {
    const found = await root.lookup(uri);
    assert.equal(found.kind, 'forbidden', JSON.stringify(uri));
  }
  // alias off-by-slash: location /i { alias <root>/dir/; } + /i../hello.txt would be <root>/hello.txt.
  const alias = new StaticRoot({ kind: 'alias', alias: `${tree.root}/dir/`, prefix: '/i' });
  assert.equal((await alias.lookup('/i../hello.txt')).kind, 'forbidden');
  const d = await tryFiles('/i../hello.txt', { root: alias, tryFiles: compileTryFiles(['$uri', '=404']) });
  assert.equal(d.kind, 'status');
});

test('symlinks: inside the root served, out of the root refused (file and directory)', async () => {
  assert.equal((await get(site.port, '/link-inside')).body.toString(), TEXT);
  assert.equal((await get(site.port, '/link-outside')).status, 403);
  assert.equal((await get(site.port, '/linkdir-outside/secret.txt')).status, 403);
  await withConfig({ tryFiles: compileTryFiles(['$uri', '=404']) }, async () => {
    assert.equal((await get(site.port, '/link-outside')).status, 404);
  });
});

test('symlink policies: always follows, never refuses any link, owner-match compares owners', async () => {
  const always = new StaticRoot({ kind: 'root', root: tree.root }, { symlinks: 'always' });
  await withConfig({ root: always }, async () => {
    assert.equal((await get(site.port, '/link-outside')).body.toString(), SECRET);
  });
  const never = new StaticRoot({ kind: 'root', root: tree.root }, { symlinks: 'never' });
  await withConfig({ root: never }, async () => {
    assert.equal((await get(site.port, '/link-inside')).status, 403);
    assert.equal((await get(site.port, '/hello.txt')).status, 200);
  });
  // A root that is itself a symlink (deploy `current -> release`) is fine for every policy.
  const viaLink = join(tree.tmp.path, 'current');
  await symlink(tree.root, viaLink);
  for (const symlinks of ['inside-root', 'never'] as const) {
    const linked = new StaticRoot({ kind: 'root', root: viaLink }, { symlinks });
    assert.equal((await linked.lookup('/hello.txt')).kind, 'file', symlinks);
    assert.equal((await linked.lookup('/link-outside')).kind, 'forbidden', symlinks);
  }
  const owner = new StaticRoot({ kind: 'root', root: tree.root }, { symlinks: 'owner-match' });
  assert.equal((await owner.lookup('/link-outside')).kind, 'file', 'same owner: followed');
  if (process.getuid?.() === 0) {
    await lchown(join(tree.root, 'link-outside'), 65534, 65534);
    assert.equal((await owner.lookup('/link-outside')).kind, 'forbidden');
    assert.equal((await owner.lookup('/link-inside')).kind, 'file');
  }
});

test('serveFile re-checks the opened descriptor (a symlink swapped in after the lookup)', async () => {
  const res = { headersSent: false } as unknown as Parameters<typeof serveFile>[1];
  const r = await serveFile(
    { method: 'GET', headers: {} },
    res,
    { path: join(tree.root, 'link-outside') },
    { root },
  );
  if (process.platform === 'linux')
    assert.deepEqual(r, { sent: false, status: 403, reason: 'symlink not allowed' });
  const missing = await serveFile({ method: 'GET', headers: {} }, res, { path: join(tree.root, 'nope') });
  assert.deepEqual(missing, { sent: false, status: 404, reason: 'ENOENT' });
});

test('a FIFO under the root is a 404 and never blocks the open', { skip: false }, async (t) => {
  if (!tree.hasFifo) {
    t.skip('no mkfifo');
    return;
  }
  assert.equal((await get(site.port, '/fifo')).status, 404);
  const res = { headersSent: false } as unknown as Parameters<typeof serveFile>[1];
  const r = await serveFile({ method: 'GET', headers: {} }, res, { path: join(tree.root, 'fifo') });
  assert.deepEqual(r, { sent: false, status: 404, reason: 'not a regular file' });
});
