/**
 * limit_rate with response buffering on, for SCGI and FastCGI: nginx paces only its writes to
 * the client, so the backend is read as fast as it answers (memory, then the temp file) and
 * its connection is released long before a paced client has the body (an ordering test: the
 * backend's end comes while the client holds a small part). And nginx `*_limit_rate`, the
 * pace of reading a buffered backend, checked at the client with a lower bound only (a slow
 * machine can only make it slower).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { type IncomingMessage, request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import {
  type ScriptedBackend,
  type ScriptedExchange,
  startScriptedBackend,
} from './support/scripted-backend.ts';

const PIECE = Buffer.alloc(64 * 1024);
for (let i = 0; i < PIECE.length; i++) PIECE[i] = i % 251;
/** 6 MiB, sent whole at 16 MiB/s. */
const PACED_TOTAL = 96 * PIECE.length;
/** 16 MiB, more than loopback buffers hold: at 64 KiB/s the client would need four minutes. */
const SLOW_TOTAL = 256 * PIECE.length;
/** 16 MiB read at 4 MiB/s: about 3 s after the first second's worth. */
const READ_TOTAL = SLOW_TOTAL;
const READ_RATE = 4 * 1024 * 1024;

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`limit_rate with buffering on (${protocol})`, () => {
    let temp: TempDir;
    let backend: ScriptedBackend;
    let gw: TestGateway;
    /** Per path: the order in which the backend finished and the client ended. */
    const events = new Map<string, string[]>();
    const done = new Map<string, number>();

    async function answer(ex: ScriptedExchange, path: string, total: number): Promise<void> {
      ex.stdout(`Content-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
      let written = 0;
      while (written < total && !ex.gatewayClosed) {
        const ok = ex.stdout(PIECE);
        written += PIECE.length;
        if (!ok) await Promise.race([once(ex.socket, 'drain'), ex.closed]);
      }
      ex.end();
      await ex.closed;
      if (written >= total) {
        done.set(path, performance.now());
        events.get(path)?.push('backend done');
      }
    }

    before(async () => {
      temp = await makeTempDir('buffered-pacing');
      backend = await startScriptedBackend(protocol, async (ex) => {
        const path = ex.get('DOCUMENT_URI') ?? '';
        await answer(ex, path, path.startsWith('/fast/') ? PACED_TOTAL : SLOW_TOTAL);
      });
      const pass = { pass: backend.address, temp_path: temp.path };
      gw = await startTestGateway({
        locations: [
          { match: '/slow/', limit_rate: '64k', [protocol]: pass },
          { match: '/fast/', limit_rate: '16m', limit_rate_after: '1m', [protocol]: pass },
          { match: '/unbuffered/', limit_rate: '64k', [protocol]: { ...pass, buffering: false } },
          { match: '/read/', [protocol]: { ...pass, limit_rate: String(READ_RATE) } },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
      await temp?.cleanup();
    });

    function get(path: string): Promise<IncomingMessage> {
      events.set(path, []);
      return new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(`${gw.url}${path}`, resolve);
        req.on('error', reject);
        req.end();
      });
    }

    async function untilDone(path: string, tries: number): Promise<boolean> {
      for (let i = 0; i < tries && !done.has(path); i++) await delay(25);
      return done.has(path);
    }

    it('a 16 MiB response paced at 64k: the backend is done while the client has a small part', async () => {
      const res = await get('/slow/x');
      let received = 0;
      res.on('data', (c: Buffer) => {
        received += c.length;
      });
      assert.equal(await untilDone('/slow/x', 800), true, 'the backend finished while the client is paced');
      assert.ok(received < SLOW_TOTAL / 4, `the client had ${received} bytes when the backend was done`);
      assert.ok(
        gw.log.lines.some((l) => l.level === 'warn' && /buffered to a temporary file/.test(l.message)),
      );
      res.destroy();
      await once(res, 'close');
    });

    it('paced and buffered: the whole body arrives intact, after the backend was done', async () => {
      const res = await get('/fast/x');
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      await once(res, 'end');
      events.get('/fast/x')?.push('client end');
      const body = Buffer.concat(chunks);
      assert.equal(body.length, PACED_TOTAL);
      for (let at = 0; at < body.length; at += PIECE.length) {
        assert.ok(body.subarray(at, at + PIECE.length).equals(PIECE), `bytes at ${at}`);
      }
      assert.deepEqual(events.get('/fast/x'), ['backend done', 'client end']);
      assert.deepEqual(await readdir(temp.path), []);
    });

    it('buffering off: limit_rate still holds the backend (it is not done while the client is paced)', async () => {
      const res = await get('/unbuffered/x');
      let received = 0;
      res.on('data', (c: Buffer) => {
        received += c.length;
      });
      // The backend can get ahead only by what the sockets hold; it cannot finish.
      assert.equal(await untilDone('/unbuffered/x', 40), false);
      assert.ok(received < SLOW_TOTAL);
      res.destroy();
      await once(res, 'close');
    });

    it(`${protocol}.limit_rate: the backend is read at that pace (lower bound) and the body is whole`, async () => {
      const start = performance.now();
      const res = await get('/read/x');
      let received = 0;
      res.on('data', (c: Buffer) => {
        received += c.length;
      });
      await once(res, 'end');
      const took = performance.now() - start;
      assert.equal(received, READ_TOTAL);
      assert.equal(await untilDone('/read/x', 400), true);
      // Measured at the client: the gateway cannot send what it has not read, whatever the
      // loopback buffers between it and the backend hold. nginx lets a second's worth go first.
      const least = ((READ_TOTAL - READ_RATE) * 1000) / READ_RATE - 100;
      assert.ok(took >= least, `the body took ${Math.round(took)} ms (at least ${least})`);
    });
  });
}
