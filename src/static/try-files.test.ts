import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { compileIndex, compileTryFiles, escapePath, expandUriOnly } from './try-files.ts';

test('compileTryFiles: directory entries lose their slash, fallbacks by kind', () => {
  assert.deepEqual(compileTryFiles(['$uri', '$uri/', '/index.php?q=$uri']), {
    entries: [
      { source: '$uri', testDir: false },
      { source: '$uri', testDir: true },
    ],
    fallback: { kind: 'uri', source: '/index.php?q=$uri' },
  });
  assert.deepEqual(compileTryFiles(['$uri', '=404']).fallback, { kind: 'code', code: 404 });
  assert.deepEqual(compileTryFiles(['$uri', '@app']).fallback, { kind: 'named', name: '@app' });
  // "/" alone is a file entry (nginx only strips a slash from longer names).
  assert.deepEqual(compileTryFiles(['/', '=404']).entries, [{ source: '/', testDir: false }]);
});

test('compileTryFiles / compileIndex refuse what nginx refuses', () => {
  for (const list of [
    ['$uri'],
    ['$uri', '=abc'],
    ['$uri', '=1000'],
    ['$uri', '=0'],
    ['$uri', '@'],
    ['', '=404'],
  ]) {
    assert.throws(
      () => compileTryFiles(list, { path: 'locations[0].try_files' }),
      ConfigError,
      list.join(' '),
    );
  }
  assert.throws(() => compileTryFiles(['$uri', 'relative']), ConfigError);
  assert.throws(() => compileIndex([]), ConfigError);
  assert.throws(() => compileIndex(['/abs.php', 'index.html']), ConfigError);
  assert.throws(() => compileIndex(['']), ConfigError);
  assert.deepEqual(compileIndex(['index.html', '/fallback.php']), ['index.html', '/fallback.php']);
});

/** nginx's braced variable syntax, spelled so it is not mistaken for a JS template. */
const BRACED_URI = ['$', '{uri}'].join('');

test('expandUriOnly: $uri and the braced form, not $uri_x', () => {
  assert.equal(expandUriOnly('$uri', '/a'), '/a');
  assert.equal(expandUriOnly(`${BRACED_URI}.html`, '/a'), '/a.html');
  assert.equal(expandUriOnly('/x?q=$uri&$uri_x', '/a'), '/x?q=/a&$uri_x');
  assert.equal(expandUriOnly('/static', '/a'), '/static');
});

test('escapePath: nginx NGX_ESCAPE_URI set', () => {
  assert.equal(escapePath('/a b/%/?/#/\xe9'), '/a%20b/%25/%3F/%23/%E9');
  assert.equal(escapePath('/plain/path-1.txt'), '/plain/path-1.txt');
});
