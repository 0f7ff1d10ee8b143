import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extensionOf, mimeTypeFor, withCharset } from './mime-types.ts';

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
