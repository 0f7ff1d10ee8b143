/**
 * Static files in the pipeline (nginx's static, index and try_files modules): root and alias,
 * index, the directory redirect, try_files falling through to a FastCGI location by internal
 * redirect (an `internal` location is reachable that way only), =CODE and @name fallbacks,
 * `return`, conditional and range requests, and the paths that must never leave the root.
 */
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import { type ScriptedBackend, startScriptedBackend } from './support/scripted-backend.ts';

describe('static locations', () => {
  let root: TempDir;
  let outside: TempDir;
  let backend: ScriptedBackend;
  let gw: TestGateway;
  const www = () => join(root.path, 'www');

  before(async () => {
    root = await makeTempDir('static-root');
    outside = await makeTempDir('static-outside');
    const www = join(root.path, 'www');
    await mkdir(join(www, 'docs'), { recursive: true });
    await mkdir(join(www, 'empty'), { recursive: true });
    await writeFile(join(www, 'hello.txt'), 'hello, world\n');
    await writeFile(join(www, 'docs', 'index.html'), '<h1>docs</h1>');
    await writeFile(join(www, 'data.unknownext'), 'raw');
    await writeFile(join(www, 'notes.phps'), '<?php');
    await writeFile(join(www, 'notes.md'), '# notes');
    await mkdir(join(www, 'typed'));
    await writeFile(join(www, 'typed', 'a.phps'), '<?php');
    await writeFile(join(www, 'typed', 'b.unknownext'), 'raw');
    await writeFile(join(www, 'typed', 'c.css'), 'p{}');
    await writeFile(join(outside.path, 'secret.txt'), 'secret');
    await symlink(join(outside.path, 'secret.txt'), join(www, 'escape.txt'));
    await mkdir(join(root.path, 'assets'), { recursive: true });
    await writeFile(join(root.path, 'assets', 'app.css'), 'body{}');
    await mkdir(join(root.path, 'home', 'alice', 'public'), { recursive: true });
    await writeFile(join(root.path, 'home', 'alice', 'public', 'note.txt'), 'alice');
    await writeFile(join(root.path, 'home', 'alice', 'private.txt'), 'private');
    await writeFile(
      Buffer.from(`${join(root.path, 'home', 'alice', 'public')}/caf\xe9.txt`, 'latin1'),
      'latin1 name',
    );
    await symlink(join(outside.path, 'secret.txt'), join(root.path, 'home', 'alice', 'public', 'out.txt'));
    backend = await startScriptedBackend('fastcgi', (ex) => {
      const files = ex.get('FILES');
      ex.stdout(
        files !== undefined
          ? `Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n${files}`
          : `Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n${ex.get('SCRIPT_NAME')} ${ex.get('DOCUMENT_URI')} ${ex.get('REQUEST_URI')} ${ex.get('QUERY_STRING')}`,
      );
      ex.end();
    });
    await symlink(www, join(root.path, 'current'));
    const files = '$document_root|$request_filename|$realpath_root';
    gw = await startTestGateway({
      root: www,
      types: { 'text/x-php-source': ['phps'] },
      locations: [
        { match: '/typed/', types: { 'text/x-typed': ['phps', 'CSS'] }, default_type: 'application/x-none' },
        {
          match: '/aliased/',
          alias: join(root.path, 'assets/'),
          fastcgi: { pass: backend.address, params: { FILES: files } },
        },
        {
          match: '/linked/',
          root: join(root.path, 'current'),
          fastcgi: { pass: backend.address, params: { FILES: files } },
        },
        { match: '/', try_files: ['$uri', '$uri/', '/app.php?from=$uri'] },
        { match: '/static/', alias: join(root.path, 'assets/') },
        { match: '= /app.php', internal: true, fastcgi: { pass: backend.address } },
        { match: '/strict/', try_files: ['$uri', '=404'] },
        { match: '/named/', try_files: ['$uri', '@app'] },
        { match: '@app', fastcgi: { pass: backend.address } },
        { match: '~ ^/v/(\\w+)/', try_files: ['/$1.txt', '/app.php?cap=$1&$args$is_args$http_x_tag'] },
        { match: '~ ^/~(\\w+)(/.*)?$', alias: join(root.path, 'home/$1/public$2') },
        {
          match: '~ ^/legacy/(.+\\.php)$',
          alias: join(root.path, 'legacy/$1'),
          fastcgi: { pass: backend.address, params: { FILES: '$document_root|$request_filename' } },
        },
        { match: '/old/', return: { code: 301, url: 'https://example.org/new/' } },
        { match: '/forbidden/', return: 403 },
        { match: '/loop/', try_files: ['$uri', '/loop/again'] },
        { match: '/plain/', alias: `${www}/` },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
    await root?.cleanup();
    await outside?.cleanup();
  });

  it('a file: 200 with type, length, ETag and Last-Modified; HEAD has no body', async () => {
    const res = await httpRequest(gw.url, { path: '/hello.txt' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'hello, world\n');
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.equal(res.headers['content-length'], '13');
    assert.ok(res.headers.etag !== undefined && res.headers['last-modified'] !== undefined);
    const head = await httpRequest(gw.url, { path: '/hello.txt', method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  it('conditional GET (304) and a byte range (206)', async () => {
    const first = await httpRequest(gw.url, { path: '/hello.txt' });
    const again = await httpRequest(gw.url, {
      path: '/hello.txt',
      headers: { 'if-none-match': String(first.headers.etag) },
    });
    assert.equal(again.status, 304);
    const range = await httpRequest(gw.url, { path: '/hello.txt', headers: { range: 'bytes=0-4' } });
    assert.equal(range.status, 206);
    assert.equal(range.body.toString(), 'hello');
    assert.equal(range.headers['content-range'], 'bytes 0-4/13');
  });

  it('an unknown extension gets default_type (nginx: text/plain)', async () => {
    const res = await httpRequest(gw.url, { path: '/data.unknownext' });
    assert.equal(res.headers['content-type'], 'text/plain');
  });

  it('types: the server map over the built-in table, a location map and default_type over that', async () => {
    const type = async (path: string) => (await httpRequest(gw.url, { path })).headers['content-type'];
    assert.equal(await type('/notes.phps'), 'text/x-php-source');
    assert.equal(await type('/notes.md'), 'text/markdown', 'the built-in table is kept');
    assert.equal(await type('/typed/a.phps'), 'text/x-typed');
    assert.equal(await type('/typed/c.css'), 'text/x-typed', 'extensions are matched without case');
    assert.equal(await type('/typed/b.unknownext'), 'application/x-none');
    assert.equal(await type('/data.unknownext'), 'text/plain');
  });

  it('$document_root, $request_filename (alias + the rest of $uri) and $realpath_root reach params', async () => {
    const aliased = await httpRequest(gw.url, { path: '/aliased/x/app.php' });
    const assets = join(root.path, 'assets');
    assert.equal(aliased.body.toString(), `${assets}|${assets}/x/app.php|${realpathSync(assets)}`);
    const linked = await httpRequest(gw.url, { path: '/linked/y.php' });
    const current = join(root.path, 'current');
    assert.equal(linked.body.toString(), `${current}|${current}/linked/y.php|${realpathSync(www())}`);
  });

  it('a directory: 301 to the slash, then its index', async () => {
    const redirect = await httpRequest(gw.url, { path: '/plain/docs?x=1' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, '/plain/docs/?x=1');
    const index = await httpRequest(gw.url, { path: '/docs/' });
    assert.equal(index.status, 200);
    assert.equal(index.body.toString(), '<h1>docs</h1>');
  });

  it('alias maps the prefix to another directory', async () => {
    const res = await httpRequest(gw.url, { path: '/static/app.css' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/css');
    assert.equal(res.body.toString(), 'body{}');
  });

  it('alias in a regex location: the captures make the path, which stays under the literal directory', async () => {
    const note = await httpRequest(gw.url, { path: '/~alice/note.txt' });
    assert.equal(note.status, 200);
    assert.equal(note.body.toString(), 'alice');
    assert.equal(note.headers['content-type'], 'text/plain');
    // A name that is not UTF-8 reaches the file system byte for byte.
    const latin1 = await httpRequest(gw.url, { path: '/~alice/caf%E9.txt' });
    assert.equal(latin1.status, 200);
    assert.equal(latin1.body.toString(), 'latin1 name');
    assert.equal((await httpRequest(gw.url, { path: '/~alice/missing.txt' })).status, 404);
    assert.equal((await httpRequest(gw.url, { path: '/~bob/note.txt' })).status, 404);
    // A directory: 301 to the slash, then index (none here: 403).
    const dir = await httpRequest(gw.url, { path: '/~alice' });
    assert.equal(dir.status, 301);
    assert.equal(dir.headers.location, '/~alice/');
    assert.equal((await httpRequest(gw.url, { path: '/~alice/' })).status, 403);
    // Never outside: a symlink out, dot segments (resolved before matching), encoded slashes.
    assert.equal((await httpRequest(gw.url, { path: '/~alice/out.txt' })).status, 403);
    for (const path of ['/~alice/../private.txt', '/~alice/..%2fprivate.txt', '/~alice/%2e%2e/private.txt']) {
      const res = await httpRequest(gw.url, { path });
      // Refused, or (normalised to /private.txt, no file) the front controller: never the file.
      assert.notEqual(res.body.toString(), 'private', path);
      assert.doesNotMatch(res.body.toString(), /secret/, path);
    }
  });

  it('a regex location with alias and a backend: $document_root and $request_filename are the alias, captures in', async () => {
    const res = await httpRequest(gw.url, { path: '/legacy/a/b.php' });
    const file = join(root.path, 'legacy', 'a', 'b.php');
    assert.equal(res.body.toString(), `${file}|${file}`);
  });

  it('try_files falls through to the internal FastCGI location ($uri and $args as nginx)', async () => {
    const res = await httpRequest(gw.url, { path: '/blog/post-1?x=1' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), '/app.php /app.php /blog/post-1?x=1 from=/blog/post-1');
  });

  it('an internal location is not reachable from outside (404), however the path is written', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/app.php' })).status, 404);
    assert.equal((await httpRequest(gw.url, { path: '/plain/../app.php' })).status, 404);
    assert.equal((await httpRequest(gw.url, { path: '/%61pp.php' })).status, 404);
  });

  it('try_files names take nginx variables: captures, $args, $is_args, $http_*', async () => {
    const hit = await httpRequest(gw.url, { path: '/v/hello/x' });
    assert.equal(hit.status, 200);
    assert.equal(hit.body.toString(), 'hello, world\n');
    const miss = await httpRequest(gw.url, { path: '/v/nothing/x?q=1', headers: { 'x-tag': 't' } });
    assert.equal(miss.status, 200);
    assert.equal(miss.body.toString(), '/app.php /app.php /v/nothing/x?q=1 cap=nothing&q=1?t');
  });

  it('=404 and @name fallbacks', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/strict/nothing' })).status, 404);
    const named = await httpRequest(gw.url, { path: '/named/x?q=2' });
    assert.equal(named.status, 200);
    assert.match(named.body.toString(), /^\/named\/x \/named\/x \/named\/x\?q=2 q=2$/);
  });

  it('return: a redirect with its URL, or a status', async () => {
    const moved = await httpRequest(gw.url, { path: '/old/page' });
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, 'https://example.org/new/');
    assert.equal((await httpRequest(gw.url, { path: '/forbidden/x' })).status, 403);
  });

  it('an internal redirect cycle stops with 500', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/loop/x' })).status, 500);
  });

  it('never outside the root: symlinks out, dot segments, encoded slashes and NUL', async () => {
    assert.equal((await httpRequest(gw.url, { path: '/plain/escape.txt' })).status, 403);
    for (const target of [
      '/plain/%2e%2e/%2e%2e/etc/passwd',
      '/plain/..%2f..%2fetc/passwd',
      '/plain/hello.txt%00.php',
    ]) {
      const res = await httpRequest(gw.url, { path: target });
      // Refused, or (normalised to a path under the root that is no file) the front controller.
      const refused = [400, 403, 404].includes(res.status);
      assert.ok(refused || res.body.toString().startsWith('/app.php '), `${target}: ${res.status}`);
      assert.doesNotMatch(res.body.toString('latin1'), /root:|secret/);
    }
  });

  it('a method other than GET/HEAD on a file: 405 with Allow', async () => {
    const res = await httpRequest(gw.url, { path: '/plain/hello.txt', method: 'DELETE' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
  });
});
