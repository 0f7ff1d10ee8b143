import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cookieValue, parseStickySession, StickySessionResolver } from './sticky.ts';

test('parseStickySession splits NAME|URLNAME; one name serves both', () => {
  assert.deepEqual(parseStickySession('JSESSIONID|jsessionid'), {
    cookie: 'JSESSIONID',
    urlParam: 'jsessionid',
  });
  assert.deepEqual(parseStickySession('ROUTEID'), { cookie: 'ROUTEID', urlParam: 'ROUTEID' });
});

test('cookie: the route follows the first separator', () => {
  const r = new StickySessionResolver({ cookie: 'JSESSIONID' });
  assert.deepEqual(r.resolve('/app/', 'a=1; JSESSIONID=0A1B2C.node1; b=2'), {
    route: 'node1',
    value: '0A1B2C.node1',
    source: 'cookie',
    name: 'JSESSIONID',
  });
  assert.equal(r.resolve('/', 'JSESSIONID=0A1B.n1.extra')?.route, 'n1.extra');
  assert.equal(r.resolve('/', 'JSESSIONID=noseparator'), undefined, 'no separator, no route');
  assert.equal(r.resolve('/', 'JSESSIONID=abc.'), undefined, 'empty route');
  assert.equal(r.resolve('/', 'other=x.y'), undefined);
  assert.equal(r.resolve('/', undefined), undefined);
});

test('cookie: names match whole and case-sensitively, at the start or after ; , or space', () => {
  assert.equal(cookieValue('XJSESSIONID=a.b; JSESSIONID=c.d', 'JSESSIONID'), 'c.d');
  assert.equal(cookieValue('JSESSIONID2=a.b', 'JSESSIONID'), undefined);
  assert.equal(cookieValue('jsessionid=a.b', 'JSESSIONID'), undefined);
  assert.equal(cookieValue('x=1,JSESSIONID = a.b ,y=2', 'JSESSIONID'), 'a.b');
  assert.equal(cookieValue('a=1;JSESSIONID=v,w', 'JSESSIONID'), 'v');
  assert.equal(cookieValue('JSESSIONID=', 'JSESSIONID'), undefined);
});

test('cookie: several Cookie headers are read as one', () => {
  const r = new StickySessionResolver({ cookie: 'ROUTEID' });
  assert.equal(r.resolve('/', ['a=1', 'ROUTEID=.r2'])?.route, 'r2');
});

test('URL parameter first, then cookie', () => {
  const r = new StickySessionResolver({ cookie: 'JSESSIONID', urlParam: 'jsessionid' });
  const got = r.resolve('/app/x?jsessionid=AB.url&y=1', 'JSESSIONID=CD.cookie');
  assert.equal(got?.route, 'url');
  assert.equal(got?.source, 'url');
  assert.equal(got?.name, 'jsessionid');
  assert.equal(r.resolve('/app/x?y=1', 'JSESSIONID=CD.cookie')?.route, 'cookie');
});

test('URL parameter: after ? & or ; only; the value ends at ? or &', () => {
  const r = new StickySessionResolver({ urlParam: 'sid' });
  assert.equal(r.resolve('/p?a=1&sid=x.r1&b=2', undefined)?.route, 'r1');
  assert.equal(r.resolve('/p?xsid=x.r1', undefined), undefined, 'a name must start a parameter');
  assert.equal(r.resolve('/app;sid=x.r2?q=1', undefined)?.route, 'r2', "Tomcat's path parameter");
  assert.equal(r.resolve('/p?sid=&sid=x.r3', undefined)?.route, 'r3', 'an empty value is skipped');
  assert.equal(r.resolve('/p?sid', undefined), undefined);
});

test('scolonpathdelim: ";" also ends the value', () => {
  const plain = new StickySessionResolver({ urlParam: 'jsessionid' });
  const scolon = new StickySessionResolver({ urlParam: 'jsessionid', scolonPathDelim: true });
  const target = '/app;jsessionid=AB.node7;foo=bar?x=1';
  assert.equal(plain.resolve(target, undefined)?.route, 'node7;foo=bar');
  assert.equal(scolon.resolve(target, undefined)?.route, 'node7');
});

test('stickysessionsep: another separator, or Off for the whole value', () => {
  assert.equal(
    new StickySessionResolver({ cookie: 'S', separator: '~' }).resolve('/', 'S=ab~r9')?.route,
    'r9',
  );
  assert.equal(
    new StickySessionResolver({ cookie: 'S', separator: false }).resolve('/', 'S=node3')?.route,
    'node3',
  );
});
