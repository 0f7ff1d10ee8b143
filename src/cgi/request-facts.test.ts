import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientRequestError } from '../errors.ts';
import { makeRequestFacts } from './request-facts.ts';

describe('makeRequestFacts', () => {
  it('defaults to GET / from 127.0.0.1 with Host: localhost', () => {
    const f = makeRequestFacts();
    assert.equal(f.method, 'GET');
    assert.equal(f.rawTarget, '/');
    assert.equal(f.path, '/');
    assert.equal(f.args, '');
    assert.deepEqual(f.headers, ['Host', 'localhost']);
    assert.equal(f.host, 'localhost');
    assert.equal(f.scheme, 'http');
    assert.equal(f.https, false);
    assert.equal(f.contentLength, '');
    assert.equal(f.contentType, '');
  });

  it('derives path, args, host and content type the way the HTTP front does', () => {
    const f = makeRequestFacts({
      rawTarget: '/a%20b/./c?x=1',
      headers: ['host', 'Ex.com', 'Content-Type', 'text/plain'],
      https: true,
    });
    assert.equal(f.path, '/a b/c');
    assert.equal(f.args, 'x=1');
    assert.equal(f.host, 'Ex.com');
    assert.equal(f.contentType, 'text/plain');
    assert.equal(f.scheme, 'https');
  });

  it('lets every field be overridden', () => {
    const f = makeRequestFacts({ path: '/x', host: 'h', scheme: 'http', https: true, captures: ['a', 'b'] });
    assert.equal(f.path, '/x');
    assert.equal(f.host, 'h');
    assert.equal(f.scheme, 'http');
    assert.deepEqual(f.captures, ['a', 'b']);
  });

  it('refuses a bad target like the front would', () => {
    assert.throws(() => makeRequestFacts({ rawTarget: '/a%0a' }), ClientRequestError);
  });
});
