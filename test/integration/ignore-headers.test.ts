/**
 * nginx `ignore_headers`: every value turns the header's special meaning off and nothing else;
 * the header is still passed (Expires, Cache-Control, Set-Cookie, Vary) or hidden
 * (X-Accel-*) as usual. X-Accel-Limit-Rate ignored: a response the header would pace at one
 * byte a second arrives whole. (X-Accel-Redirect, -Charset, -Buffering are in their own tests;
 * the cache-validity rules these values switch off are unit-tested in
 * src/proxy/cache-validity.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import { type ScriptedBackend, startScriptedBackend } from './support/scripted-backend.ts';

const ALL = [
  'X-Accel-Redirect',
  'X-Accel-Expires',
  'X-Accel-Limit-Rate',
  'X-Accel-Buffering',
  'X-Accel-Charset',
  'Expires',
  'Cache-Control',
  'Set-Cookie',
  'Vary',
];

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`ignore_headers (${protocol})`, () => {
    let backend: ScriptedBackend;
    let gw: TestGateway;

    before(async () => {
      backend = await startScriptedBackend(protocol, (ex) => {
        ex.stdout(
          'Content-Type: text/plain\r\nExpires: Thu, 01 Jan 2099 00:00:00 GMT\r\nCache-Control: max-age=60\r\n' +
            'Set-Cookie: s=1\r\nVary: Accept\r\nX-Accel-Expires: 30\r\nX-Accel-Limit-Rate: 1\r\n' +
            'X-Accel-Buffering: no\r\nX-Accel-Redirect: /elsewhere\r\n\r\n' +
            'x'.repeat(100_000),
        );
        ex.end();
      });
      gw = await startTestGateway({
        locations: [{ match: '/', [protocol]: { pass: backend.address, ignore_headers: ALL } }],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
    });

    it('every value ignored: the response passes whole, headers passed or hidden as usual', async () => {
      const res = await httpRequest(gw.url, { path: '/x' });
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 100_000);
      assert.equal(res.headers.expires, 'Thu, 01 Jan 2099 00:00:00 GMT');
      assert.equal(res.headers['cache-control'], 'max-age=60');
      assert.deepEqual(res.headers['set-cookie'], ['s=1']);
      assert.equal(res.headers.vary, 'Accept');
      for (const hidden of [
        'x-accel-expires',
        'x-accel-limit-rate',
        'x-accel-buffering',
        'x-accel-redirect',
      ]) {
        assert.equal(res.headers[hidden], undefined, hidden);
      }
    });
  });
}
