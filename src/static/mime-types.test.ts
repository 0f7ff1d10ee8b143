import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duplicateExtension, extendMimeTable, extensionOf, mimeTypeFor, withCharset } from './mime-types.ts';

test('types by extension, case-insensitive, from the last segment only', () => {
  assert.equal(mimeTypeFor('/a/index.html'), 'text/html');
  assert.equal(mimeTypeFor('/a/INDEX.HTM'), 'text/html');
  assert.equal(mimeTypeFor('/a/app.js'), 'application/javascript');
  assert.equal(mimeTypeFor('/a/x.tar.gz'), 'application/gzip');
  assert.equal(mimeTypeFor(Buffer.from('/a/p.PNG')), 'image/png');
  assert.equal(mimeTypeFor('/a/m.wasm'), 'application/wasm');
  assert.equal(mimeTypeFor('/a.d/README'), 'application/octet-stream');
  assert.equal(mimeTypeFor('/a/.htaccess'), 'application/octet-stream');
  assert.equal(mimeTypeFor('/a/x.unknownext', 'text/plain'), 'text/plain');
  assert.equal(extensionOf('/a.b/c'), '');
  assert.equal(extensionOf('/a/c.'), '');
});

test('charset only on nginx charset_types', () => {
  assert.equal(withCharset('text/html', 'utf-8'), 'text/html; charset=utf-8');
  assert.equal(withCharset('image/png', 'utf-8'), 'image/png');
  assert.equal(withCharset('text/html', undefined), 'text/html');
});

test('types of ones own: added to the built-in table, not replacing it (unlike nginx)', () => {
  const table = extendMimeTable({ 'text/x-php-source': ['PHPS'], 'text/plain': ['md'] });
  assert.equal(mimeTypeFor('/a/x.phps', 'text/plain', table), 'text/x-php-source');
  assert.equal(mimeTypeFor('/a/README.md', 'x/y', table), 'text/plain');
  assert.equal(mimeTypeFor('/a/p.png', 'x/y', table), 'image/png');
  assert.equal(mimeTypeFor('/a/README.md'), 'text/markdown', 'the built-in table is unchanged');
  assert.equal(extendMimeTable({}), extendMimeTable(undefined));
  const nested = extendMimeTable({ 'application/x-a': ['a1'] }, table);
  assert.equal(mimeTypeFor('/x.a1', 'x/y', nested), 'application/x-a');
  assert.equal(mimeTypeFor('/x.phps', 'x/y', nested), 'text/x-php-source');
});

test('an extension under two types is found', () => {
  assert.equal(duplicateExtension({ 'a/b': ['x', 'Y'], 'c/d': ['y'] }), 'y');
  assert.equal(duplicateExtension({ 'a/b': ['x'], 'c/d': ['y'] }), undefined);
});
