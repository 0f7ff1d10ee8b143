import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  captureGroupCount,
  compileConfigRegex,
  locationIdentity,
  locationsInMatchOrder,
  maxCaptureReference,
  parseLocationMatch,
} from './match.ts';

test('the five location forms of nginx', () => {
  assert.deepEqual(parseLocationMatch('/app/'), { ok: true, value: { modifier: '', pattern: '/app/' } });
  assert.deepEqual(parseLocationMatch('= /x'), { ok: true, value: { modifier: '=', pattern: '/x' } });
  assert.deepEqual(parseLocationMatch('^~ /static/'), {
    ok: true,
    value: { modifier: '^~', pattern: '/static/' },
  });
  assert.deepEqual(parseLocationMatch('~ \\.php$'), {
    ok: true,
    value: { modifier: '~', pattern: '\\.php$' },
  });
  assert.deepEqual(parseLocationMatch('~* \\.PHP$'), {
    ok: true,
    value: { modifier: '~*', pattern: '\\.PHP$' },
  });
  assert.deepEqual(parseLocationMatch('@fallback'), {
    ok: true,
    value: { modifier: '@', pattern: '@fallback' },
  });
  // nginx also takes the modifier glued to its argument.
  assert.deepEqual(parseLocationMatch('~\\.php$'), {
    ok: true,
    value: { modifier: '~', pattern: '\\.php$' },
  });
});

test('bad locations are refused with a reason', () => {
  for (const [text, why] of [
    ['', /no URI/],
    ['=', /no URI/],
    ['app/', /must start with/],
    ['@', /invalid named location/],
    ['~ (', /invalid regular expression "\(": Unterminated group/],
  ] as const) {
    const r = parseLocationMatch(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.message, why);
  }
});

test('capture groups are counted like PCRE counts them (named ones too)', () => {
  const re = (s: string) => {
    const r = compileConfigRegex(s);
    assert.ok(r.ok);
    return r.value;
  };
  assert.equal(captureGroupCount(re('^(.+\\.php)(/.*)$')), 2);
  assert.equal(captureGroupCount(re('^(.+)$')), 1);
  assert.equal(captureGroupCount(re('^(?:a)(?<x>b)$')), 1);
  assert.equal(captureGroupCount(re('\\(')), 0);
  const insensitive = compileConfigRegex('x', true);
  assert.ok(insensitive.ok);
  assert.equal(insensitive.value.flags, 'i');
});

test('location regexes take the PCRE forms the router translates: (?i) and (?P<name>)', () => {
  const caseless = compileConfigRegex('(?i)\\.php$');
  assert.ok(caseless.ok);
  assert.ok(caseless.value.test('/X.PHP'));
  const named = compileConfigRegex('^/(?P<app>[a-z]+)/');
  assert.ok(named.ok);
  assert.equal(captureGroupCount(named.value), 1);
});

test('regexes run on the path bytes, without the u flag', () => {
  const r = compileConfigRegex('^/caf.$');
  assert.ok(r.ok);
  assert.equal(r.value.unicode, false);
});

test('maxCaptureReference finds $N in a url template', () => {
  assert.equal(maxCaptureReference('fcgi://h/var/www/$1'), 1);
  assert.equal(maxCaptureReference('/$2/$1'), 2);
  assert.equal(maxCaptureReference('/plain'), 0);
});

test('duplicate identity: /a and ^~ /a are the same location, = /a is not', () => {
  const id = (s: string) => {
    const r = parseLocationMatch(s);
    assert.ok(r.ok);
    return locationIdentity(r.value);
  };
  assert.equal(id('/a'), id('^~ /a'));
  assert.notEqual(id('= /a'), id('/a'));
  assert.equal(id('~ /a'), undefined);
});

test('match order: exact, prefixes longest first, regexes in config order, named last', () => {
  const locations = [
    '@named',
    '/',
    '~ \\.php$',
    '/app/',
    '= /',
    '^~ /static/',
    '~* \\.css$',
    '/app/admin/',
  ].map((match) => ({
    match,
  }));
  assert.deepEqual(
    locationsInMatchOrder(locations).map((l) => l.match),
    ['= /', '/app/admin/', '^~ /static/', '/app/', '/', '~ \\.php$', '~* \\.css$', '@named'],
  );
});
