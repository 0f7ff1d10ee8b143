/**
 * Request paths that must never reach a backend: control bytes (CVE-2019-11043 rides on a
 * decoded %0a; NUL splits the env) and dot segments climbing above the root. Each is a 400 from
 * Portico, and the backend sees no connection at all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { rawHttpRequest } from '../support/raw-clients.ts';
import {
  type RecordingBackend,
  startFastCgiRecorder,
  startScgiRecorder,
} from '../support/recording-backend.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';

const REFUSED: ReadonlyArray<readonly [what: string, target: string]> = [
  ['an encoded LF (%0a)', '/index.php%0a/info.php'],
  ['an encoded CR (%0d)', '/a%0db.php'],
  ['an encoded NUL (%00)', '/shell.jpg%00.php'],
  ['/../etc/passwd', '/../etc/passwd'],
  ['/a/../../etc/passwd', '/a/../../etc/passwd'],
  ['an encoded traversal (/%2e%2e/etc/passwd)', '/%2e%2e/etc/passwd'],
  ['an encoded slash traversal (/a/..%2f..%2fetc/passwd)', '/a/..%2f..%2fetc/passwd'],
  ['a bad escape (%zz)', '/a%zzb'],
];

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`request paths Portico refuses before the ${protocol} backend`, () => {
    let root: TempDir;
    let rec: RecordingBackend;
    let connections = 0;
    let gw: TestGateway;

    before(async () => {
      root = await makeTempDir('paths-root');
      rec = await (protocol === 'scgi' ? startScgiRecorder() : startFastCgiRecorder());
      gw = await startTestGateway({
        root: root.path,
        locations: [{ match: '/', [protocol]: { pass: rec.address } }],
      });
    });

    after(async () => {
      await gw?.close();
      await rec?.close();
      await root?.cleanup();
    });

    for (const [what, target] of REFUSED) {
      it(`${what} -> 400, backend never contacted`, async () => {
        const res = await rawHttpRequest(gw.address, { method: 'GET', target });
        assert.equal(res.status, 400);
        assert.equal(rec.requests.length, connections, 'the backend got a request');
      });
    }

    it('dot segments that stay inside the root are resolved, as nginx does', async () => {
      const next = rec.nextRequest();
      const res = await rawHttpRequest(gw.address, { method: 'GET', target: '/a/./b/../c%2e/d?x=/../y' });
      assert.equal(res.status, 200);
      const { env } = await next;
      connections++;
      assert.equal(env.find(([n]) => n === 'DOCUMENT_URI')?.[1], '/a/c./d');
      assert.equal(env.find(([n]) => n === 'REQUEST_URI')?.[1], '/a/./b/../c%2e/d?x=/../y');
      assert.equal(env.find(([n]) => n === 'QUERY_STRING')?.[1], 'x=/../y');
    });
  });
}
