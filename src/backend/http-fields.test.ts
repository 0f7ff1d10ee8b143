import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentLengthFromEnv, envFromParams, headersFromEnv, urlFromEnv } from './http-fields.ts';

describe('http-fields', () => {
  it('builds a null-prototype, frozen env where the last duplicate wins', () => {
    const env = envFromParams([
      ['A', '1'],
      ['__proto__', 'x'],
      ['A', '2'],
    ]);
    assert.equal(env.A, '2');
    assert.equal(env['__proto__' as string], 'x');
    assert.equal(Object.getPrototypeOf(env), null);
    assert.ok(Object.isFrozen(env));
  });

  it('rebuilds lower-case headers from HTTP_* and CONTENT_*', () => {
    const env = envFromParams([
      ['HTTP_HOST', 'example.test'],
      ['HTTP_X_FORWARDED_FOR', '10.0.0.1'],
      ['HTTP_CONTENT_TYPE', 'ignored/type'],
      ['CONTENT_TYPE', 'text/plain'],
      ['CONTENT_LENGTH', '12'],
      ['HTTP_', 'no name'],
      ['SERVER_NAME', 'not a header'],
    ]);
    assert.deepEqual(
      { ...headersFromEnv(env) },
      {
        host: 'example.test',
        'x-forwarded-for': '10.0.0.1',
        'content-type': 'text/plain',
        'content-length': '12',
      },
    );
  });

  it('leaves out empty CONTENT_TYPE and CONTENT_LENGTH (nginx sends them empty)', () => {
    const env = envFromParams([
      ['CONTENT_TYPE', ''],
      ['CONTENT_LENGTH', ''],
    ]);
    assert.deepEqual({ ...headersFromEnv(env) }, {});
    assert.equal(contentLengthFromEnv(env), undefined);
  });

  it('takes REQUEST_URI as the url, else rebuilds it', () => {
    assert.equal(urlFromEnv(envFromParams([['REQUEST_URI', '/a%20b?x=1']])), '/a%20b?x=1');
    assert.equal(
      urlFromEnv(
        envFromParams([
          ['SCRIPT_NAME', '/app.php'],
          ['PATH_INFO', '/extra'],
          ['QUERY_STRING', 'q=1'],
        ]),
      ),
      '/app.php/extra?q=1',
    );
    assert.equal(urlFromEnv(envFromParams([['QUERY_STRING', '']])), '/');
    assert.equal(urlFromEnv(envFromParams([['QUERY_STRING', 'a']])), '/?a');
  });

  it('parses CONTENT_LENGTH as digits only', () => {
    assert.equal(contentLengthFromEnv(envFromParams([['CONTENT_LENGTH', '42']])), 42);
    assert.ok(Number.isNaN(contentLengthFromEnv(envFromParams([['CONTENT_LENGTH', '-1']]))));
    assert.ok(Number.isNaN(contentLengthFromEnv(envFromParams([['CONTENT_LENGTH', '1e3']]))));
  });
});
