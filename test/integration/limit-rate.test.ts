/**
 * nginx limit_rate / limit_rate_after and the backend's X-Accel-Limit-Rate pace a download;
 * X-Accel-Charset adds a charset to a text type (ignore_headers turns it off). The pace is
 * checked with a lower bound only (a slow machine can only make it slower), never an upper
 * one. Buffering is on (the default), so the pace is taken between writes to the client
 * (buffered-pacing.test.ts shows the backend is not held); the last read is not held back,
 * and nginx's own limit lets a second's worth go at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import { type ScriptedBackend, startScriptedBackend } from './support/scripted-backend.ts';

const BODY = Buffer.alloc(300_000, 0x61);
/**
 * What may go out unpaced at the end: the last socket read of the backend (64 KiB), and under
 * load the pieces of a second one already decoded when the exchange paused.
 */
const UNPACED = 2 * 65_536;

/** The least time `bytes` can take at `rate` bytes/s, minus what may go unpaced and a margin. */
const least = (bytes: number, rate: number) => ((bytes - UNPACED) * 1000) / rate - 50;

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`limit_rate and X-Accel-* (${protocol})`, () => {
    let backend: ScriptedBackend;
    let gw: TestGateway;

    before(async () => {
      backend = await startScriptedBackend(protocol, (ex) => {
        const uri = ex.get('DOCUMENT_URI') ?? '';
        const extra = uri.endsWith('/accel') ? 'X-Accel-Limit-Rate: 204800\r\n' : '';
        if (uri.endsWith('/charset')) {
          ex.stdout('Content-Type: text/html\r\nX-Accel-Charset: koi8-r\r\n\r\n<p>x</p>');
        } else {
          ex.stdout(
            `Content-Type: application/octet-stream\r\n${extra}Content-Length: ${BODY.length}\r\n\r\n`,
          );
          ex.stdout(BODY);
        }
        ex.end();
      });
      const pass = { pass: backend.address };
      gw = await startTestGateway({
        locations: [
          { match: '/slow/', limit_rate: '200k', [protocol]: pass },
          { match: '/after/', limit_rate: '200k', limit_rate_after: '100k', [protocol]: pass },
          { match: '/free/', [protocol]: pass },
          { match: '/plain/', [protocol]: { ...pass, ignore_headers: ['X-Accel-Charset'] } },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
    });

    async function timed(path: string): Promise<number> {
      const start = performance.now();
      const res = await httpRequest(gw.url, { path });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, BODY);
      return performance.now() - start;
    }

    it('limit_rate 200k: the body is paced (lower bound), and delivered whole', async () => {
      assert.ok((await timed('/slow/x')) >= least(BODY.length, 204_800));
    });

    it('limit_rate_after 100k: only what follows the first 100 KB is paced', async () => {
      assert.ok((await timed('/after/x')) >= least(BODY.length - 102_400, 204_800));
    });

    it('X-Accel-Limit-Rate from the backend paces a location without limit_rate', async () => {
      assert.ok((await timed('/free/accel')) >= least(BODY.length, 204_800));
    });

    it('X-Accel-Charset adds the charset to a text type; ignore_headers turns it off', async () => {
      const res = await httpRequest(gw.url, { path: '/free/charset' });
      assert.equal(res.headers['content-type'], 'text/html; charset=koi8-r');
      assert.equal(res.headers['x-accel-charset'], undefined);
      const plain = await httpRequest(gw.url, { path: '/plain/charset' });
      assert.equal(plain.headers['content-type'], 'text/html');
    });
  });
}
