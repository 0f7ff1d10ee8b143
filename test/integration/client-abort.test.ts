/**
 * nginx `ignore_client_abort`: off (the default), a client that leaves aborts the backend
 * request (its connection is closed); on, the backend's answer is read to its end and dropped,
 * so an application that must finish what it started (a payment, a long write) is not cut.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { type ScriptedBackend, startScriptedBackend } from './support/scripted-backend.ts';

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`ignore_client_abort (${protocol})`, () => {
    let backend: ScriptedBackend;
    let gw: TestGateway;
    /** How each exchange ended, by path: 'finished' or 'cut' (the gateway closed first). */
    const endings = new Map<string, string>();
    const waiters = new Map<string, () => void>();

    before(async () => {
      backend = await startScriptedBackend(protocol, async (ex) => {
        const path = ex.get('DOCUMENT_URI') ?? '';
        ex.stdout('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst chunk\n');
        for (let i = 0; i < 20; i++) {
          await delay(20);
          if (ex.gatewayClosed) break;
          ex.stdout(`chunk ${i}\n`);
        }
        endings.set(path, ex.gatewayClosed ? 'cut' : 'finished');
        if (!ex.gatewayClosed) ex.end();
        waiters.get(path)?.();
      });
      gw = await startTestGateway({
        locations: [
          { match: '/default/', [protocol]: { pass: backend.address } },
          { match: '/ignore/', [protocol]: { pass: backend.address, ignore_client_abort: true } },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
    });

    /** Reads the first chunk, then goes away; resolves with how the backend's exchange ended. */
    async function leaveEarly(path: string): Promise<string> {
      const ended = new Promise<void>((resolve) => waiters.set(path, resolve));
      await new Promise<void>((resolve, reject) => {
        const req = request(`${gw.url}${path}`, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        req.on('close', resolve);
        req.end();
        setTimeout(() => reject(new Error('no first chunk')), 10_000).unref();
      });
      await ended;
      return endings.get(path) ?? 'unknown';
    }

    it('off: the client leaving cuts the backend exchange', async () => {
      assert.equal(await leaveEarly('/default/x'), 'cut');
    });

    it('on: the backend runs to its end, its answer dropped', async () => {
      assert.equal(await leaveEarly('/ignore/x'), 'finished');
    });
  });
}
