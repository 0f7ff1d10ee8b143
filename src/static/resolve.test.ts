import assert from 'node:assert/strict';
import { test } from 'node:test';
import { confineFilePath, StaticRoot } from './resolve.ts';

const s = (b: Buffer | undefined) => b?.toString('latin1');

test('root: root + uri, trailing slash of root or uri handled', () => {
  const r = new StaticRoot({ kind: 'root', root: '/srv/www/' });
  assert.equal(s(r.pathFor('/a/b.txt')), '/srv/www/a/b.txt');
  assert.equal(s(r.pathFor('/')), '/srv/www/');
  assert.equal(s(r.pathFor('/dir/')), '/srv/www/dir/');
  assert.equal(s(new StaticRoot({ kind: 'root', root: '/' }).pathFor('/etc/x')), '/etc/x');
});

test('root: raw latin1 bytes become the same bytes in the path (non-UTF-8 names)', () => {
  const r = new StaticRoot({ kind: 'root', root: '/srv' });
  const p = r.pathFor('/caf\xe9-\xc3\xa9')!;
  assert.deepEqual([...p.subarray(5)], [0x63, 0x61, 0x66, 0xe9, 0x2d, 0xc3, 0xa9]);
  assert.equal(r.pathFor('/\u0100'), undefined);
});

test('alias: the location prefix is replaced', () => {
  const a = new StaticRoot({ kind: 'alias', alias: '/data/w/', prefix: '/i/' });
  assert.equal(s(a.pathFor('/i/x/y.png')), '/data/w/x/y.png');
  assert.equal(s(a.pathFor('/i/')), '/data/w/');
  const b = new StaticRoot({ kind: 'alias', alias: '/data/w/', prefix: '/i' });
  assert.equal(s(b.pathFor('/i/x')), '/data/w/x');
  assert.equal(s(b.pathFor('/i')), '/data/w/');
});

test('alias traversal (off-by-slash) and prefix escapes are refused', () => {
  // location /i { alias /data/w/; }  GET /i../etc/passwd -> /data/w/../etc/passwd in nginx.
  const a = new StaticRoot({ kind: 'alias', alias: '/data/w/', prefix: '/i' });
  assert.equal(a.pathFor('/i../etc/passwd'), undefined);
  assert.equal(a.pathFor('/i..'), undefined);
  assert.equal(a.pathFor('/i.'), undefined);
  // location /i/ { alias /data/w; }  GET /i/x -> /data/wx in nginx: outside the alias dir.
  const b = new StaticRoot({ kind: 'alias', alias: '/data/w', prefix: '/i/' });
  assert.equal(b.pathFor('/i/x'), undefined);
  assert.equal(s(b.pathFor('/i/')), '/data/w');
});

test('alias-exact (regex location): the alias is the file for the uri, extended for index names', () => {
  const a = new StaticRoot({
    kind: 'alias-exact',
    alias: '/data/img/a/b.png',
    uri: '/images/a/b.png',
    boundary: '/data/img/',
  });
  assert.equal(s(a.pathFor('/images/a/b.png')), '/data/img/a/b.png');
  assert.equal(a.pathFor('/other'), undefined);
  const d = new StaticRoot({
    kind: 'alias-exact',
    alias: '/data/img/d/',
    uri: '/images/d/',
    boundary: '/data/img',
  });
  assert.equal(s(d.pathFor('/images/d/index.html')), '/data/img/d/index.html');
  // The substituted alias itself must stay under the boundary.
  const e = new StaticRoot({
    kind: 'alias-exact',
    alias: '/data/img/../etc',
    uri: '/x',
    boundary: '/data/img',
  });
  assert.equal(e.pathFor('/x'), undefined);
});

test('defence in depth: NUL, control bytes, dot segments, encoded leftovers, relative uris', () => {
  const r = new StaticRoot({ kind: 'root', root: '/srv' });
  for (const uri of [
    '/a\0b',
    '/a\nb',
    '/a\x7fb',
    '/../etc/passwd',
    '/a/../../etc',
    '/a/./b',
    '/a/..',
    '/a%2f..%2fb',
    '/a%2Fb',
    '/a%5cb',
    '/%2e%2e/x',
    '/a%00',
    'a/b',
    '',
  ]) {
    assert.equal(r.pathFor(uri), undefined, JSON.stringify(uri));
  }
  // Dots inside names are fine.
  assert.equal(s(r.pathFor('/a..b/.c/...')), '/srv/a..b/.c/...');
});

test('confineFilePath: X-Sendfile paths under one of the roots only', () => {
  const roots = [
    new StaticRoot({ kind: 'root', root: '/srv/files' }),
    new StaticRoot({ kind: 'root', root: '/tmp/x' }),
  ];
  assert.equal(confineFilePath('/srv/files/a/b.pdf', roots)?.uri, '/a/b.pdf');
  assert.equal(confineFilePath('/tmp/x/y', roots)?.root, roots[1]);
  assert.equal(confineFilePath('/srv/filesX/a', roots), undefined);
  assert.equal(confineFilePath('/srv/files/../etc/passwd', roots), undefined);
  assert.equal(confineFilePath('/srv/files', roots), undefined);
  assert.equal(confineFilePath('/etc/passwd', roots), undefined);
});
