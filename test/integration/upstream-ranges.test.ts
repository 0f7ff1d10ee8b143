/**
 * Byte ranges of backend responses (nginx's range filter): served when the backend says
 * Accept-Ranges: bytes, or always with force_ranges; single range, 200 of known length, GET;
 * If-Range against the backend's ETag; 416 when unsatisfiable; several ranges get the whole
 * body. SCGI and FastCGI.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import { type ScriptedBackend, startScriptedBackend } from './support/scripted-backend.ts';

const BODY = 'abcdefghijklmnopqrstuvwxyz0123456789';

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`ranges of backend responses (${protocol})`, () => {
    let backend: ScriptedBackend;
    let gw: TestGateway;

    before(async () => {
      backend = await startScriptedBackend(protocol, (ex) => {
        const uri = ex.get('DOCUMENT_URI') ?? '';
        const accept = uri.endsWith('/accepting') ? 'Accept-Ranges: bytes\r\n' : '';
        const length = uri.endsWith('/unknown-length') ? '' : `Content-Length: ${BODY.length}\r\n`;
        ex.stdout(`Content-Type: text/plain\r\nETag: "v1"\r\n${accept}${length}\r\n${BODY}`);
        ex.end();
      });
      const pass = { pass: backend.address };
      gw = await startTestGateway({
        locations: [
          { match: '/plain/', [protocol]: pass },
          { match: '/forced/', [protocol]: { ...pass, force_ranges: true } },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
    });

    const get = (path: string, headers: Record<string, string>) => httpRequest(gw.url, { path, headers });

    it('without Accept-Ranges from the backend and without force_ranges: the whole body, 200', async () => {
      const res = await get('/plain/x', { range: 'bytes=0-3' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), BODY);
    });

    it('the backend says Accept-Ranges: bytes: 206 with the window', async () => {
      const res = await get('/plain/accepting', { range: 'bytes=2-5' });
      assert.equal(res.status, 206);
      assert.equal(res.headers['content-range'], `bytes 2-5/${BODY.length}`);
      assert.equal(res.body.toString(), 'cdef');
    });

    it('force_ranges: 206 for a suffix range; If-Range with the ETag honoured, a stale one ignored', async () => {
      const suffix = await get('/forced/x', { range: 'bytes=-4' });
      assert.equal(suffix.status, 206);
      assert.equal(suffix.body.toString(), '6789');
      assert.equal(suffix.headers['accept-ranges'], 'bytes');
      const fresh = await get('/forced/x', { range: 'bytes=0-0', 'if-range': '"v1"' });
      assert.equal(fresh.status, 206);
      assert.equal(fresh.body.toString(), 'a');
      const stale = await get('/forced/x', { range: 'bytes=0-0', 'if-range': '"v0"' });
      assert.equal(stale.status, 200);
      assert.equal(stale.body.toString(), BODY);
    });

    it('416 when unsatisfiable; several ranges or an unknown length: the whole body', async () => {
      const beyond = await get('/forced/x', { range: 'bytes=100-200' });
      assert.equal(beyond.status, 416);
      assert.equal(beyond.headers['content-range'], `bytes */${BODY.length}`);
      const many = await get('/forced/x', { range: 'bytes=0-1,4-5' });
      assert.equal(many.status, 200);
      assert.equal(many.body.toString(), BODY);
      const unknown = await get('/forced/unknown-length', { range: 'bytes=0-1' });
      assert.equal(unknown.status, 200);
      assert.equal(unknown.body.toString(), BODY);
    });
  });
}
