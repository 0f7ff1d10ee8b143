import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluatePreconditions, ifRangeMatches, makeEtag, parseEtagList } from './conditional.ts';
import { formatHttpDate } from './http-date.ts';

const stat = { size: 1234, mtimeMs: 1_700_000_000_500 };
const etag = makeEtag(stat);
const mtime = 1_700_000_000;
const at = (s: number) => formatHttpDate(s * 1000);

test('ETag is nginx-style "<mtime hex>-<size hex>"', () => {
  assert.equal(etag, `"${(1_700_000_000).toString(16)}-4d2"`);
  assert.equal(makeEtag({ size: 0, mtimeMs: 0 }), '"0-0"');
});

test('entity-tag lists: *, weak tags, commas inside tags, malformed lists', () => {
  assert.equal(parseEtagList(' * '), '*');
  assert.deepEqual(parseEtagList('"a", W/"b" ,"c,d"'), [
    { tag: '"a"', weak: false },
    { tag: '"b"', weak: true },
    { tag: '"c,d"', weak: false },
  ]);
  assert.deepEqual(parseEtagList('"a",,"b"'), [
    { tag: '"a"', weak: false },
    { tag: '"b"', weak: false },
  ]);
  for (const bad of ['a', '"a', '"a" "b"', 'W/a', '', ',']) assert.equal(parseEtagList(bad), undefined, bad);
});

test('RFC 9110 13.2.2 order: If-Match before If-Unmodified-Since before If-None-Match before If-Modified-Since', () => {
  const ev = (h: Record<string, string>, getOrHead = true) =>
    evaluatePreconditions(h, etag, mtime, getOrHead);
  assert.equal(ev({}), 'ok');
  // If-Match: strong comparison, * matches, a weak tag never does, malformed fails closed.
  assert.equal(ev({ 'if-match': etag }), 'ok');
  assert.equal(ev({ 'if-match': '*' }), 'ok');
  assert.equal(ev({ 'if-match': `W/${etag}` }), 412);
  assert.equal(ev({ 'if-match': '"other"' }), 412);
  assert.equal(ev({ 'if-match': 'garbage' }), 412);
  // If-Unmodified-Since is ignored when If-Match is present.
  assert.equal(ev({ 'if-match': etag, 'if-unmodified-since': at(mtime - 10) }), 'ok');
  assert.equal(ev({ 'if-unmodified-since': at(mtime - 10) }), 412);
  assert.equal(ev({ 'if-unmodified-since': at(mtime) }), 'ok');
  assert.equal(ev({ 'if-unmodified-since': 'not a date' }), 'ok');
  // If-None-Match: weak comparison; 304 for GET/HEAD, 412 otherwise.
  assert.equal(ev({ 'if-none-match': etag }), 304);
  assert.equal(ev({ 'if-none-match': `"x", W/${etag}` }), 304);
  assert.equal(ev({ 'if-none-match': '*' }), 304);
  assert.equal(ev({ 'if-none-match': etag }, false), 412);
  assert.equal(ev({ 'if-none-match': '"x"' }), 'ok');
  // If-Modified-Since is ignored when If-None-Match is present, and for other methods.
  assert.equal(ev({ 'if-none-match': '"x"', 'if-modified-since': at(mtime) }), 'ok');
  assert.equal(ev({ 'if-modified-since': at(mtime) }), 304);
  assert.equal(ev({ 'if-modified-since': at(mtime + 60) }), 304);
  assert.equal(ev({ 'if-modified-since': at(mtime - 1) }), 'ok');
  assert.equal(ev({ 'if-modified-since': at(mtime) }, false), 'ok');
  assert.equal(ev({ 'if-modified-since': '1' }), 'ok');
  // A failed If-Match wins over a matching If-None-Match.
  assert.equal(ev({ 'if-match': '"x"', 'if-none-match': etag }), 412);
});

test('without ETags, If-Match only matches *', () => {
  assert.equal(evaluatePreconditions({ 'if-match': '"a"' }, undefined, mtime, true), 412);
  assert.equal(evaluatePreconditions({ 'if-match': '*' }, undefined, mtime, true), 'ok');
});

test('If-Range: strong entity-tag or the exact Last-Modified date', () => {
  assert.equal(ifRangeMatches(etag, etag, mtime), true);
  assert.equal(ifRangeMatches(`W/${etag}`, etag, mtime), false);
  assert.equal(ifRangeMatches('"other"', etag, mtime), false);
  assert.equal(ifRangeMatches(at(mtime), etag, mtime), true);
  assert.equal(ifRangeMatches(at(mtime + 1), etag, mtime), false);
  assert.equal(ifRangeMatches('junk', etag, mtime), false);
  assert.equal(ifRangeMatches(at(mtime), etag, undefined), false);
});
