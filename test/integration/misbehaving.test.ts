/**
 * Members that misbehave in the ways the other upstream tests do not cover, for SCGI and
 * FastCGI: a close in the middle of the head (an `error`, passed to the next server when
 * listed), a close in the middle of the body (bytes went out: never retried, the client sees a
 * truncated response), and a member that answers slowly but steadily (read_timeout is between
 * two reads, so it is served whole and never retried).
 */
import assert from 'node:assert/strict';
import { request as httpGet } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import {
  type ScriptedBackend,
  type ScriptedExchange,
  startScriptedBackend,
} from './support/scripted-backend.ts';

type Script = (ex: ScriptedExchange) => void | Promise<void>;

const HEAD = 'Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n';

/** Resolves with how the response ended: 'complete' or 'aborted', and the bytes seen. */
function fetchRaw(url: string): Promise<{ status: number; body: string; ended: 'complete' | 'aborted' }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ended: 'complete' }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body, ended: 'aborted' }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body, ended: 'aborted' }));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`misbehaving ${protocol} members`, () => {
    let a: ScriptedBackend;
    let b: ScriptedBackend;
    let gw: TestGateway;
    let scriptA: Script = () => {};

    before(async () => {
      a = await startScriptedBackend(protocol, (ex) => scriptA(ex));
      b = await startScriptedBackend(protocol, (ex) => {
        ex.stdout(`${HEAD}\r\nfrom b ok!`);
        ex.end();
      });
      const servers = [
        { address: a.address, max_fails: 0 },
        { address: b.address, backup: true, max_fails: 0 },
      ];
      gw = await startTestGateway({
        upstreams: { pair: { protocol, servers } },
        locations: [
          {
            match: '/retry/',
            [protocol]: { pass: 'pair', next_upstream: ['error', 'timeout'], read_timeout: '300ms' },
          },
          { match: '/noretry/', [protocol]: { pass: 'pair', next_upstream: 'off', read_timeout: '300ms' } },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await a?.close();
      await b?.close();
    });

    it('closes in the middle of the head: the next server answers (error listed)', async () => {
      scriptA = (ex) => {
        ex.stdout('Status: 200 OK\r\nContent-Ty');
        setImmediate(() => ex.destroy());
      };
      const res = await httpRequest(gw.url, { path: '/retry/head' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'from b ok!');
    });

    it('closes in the middle of the head, next_upstream off: 502', async () => {
      const res = await httpRequest(gw.url, { path: '/noretry/head' });
      assert.equal(res.status, 502);
    });

    it('closes in the middle of the body: never retried, the client sees the truncation', async () => {
      const before = b.exchanges.length;
      scriptA = async (ex) => {
        ex.stdout(`${HEAD}\r\nfrom`);
        await delay(20);
        ex.destroy();
      };
      const res = await fetchRaw(`${gw.url}/retry/body`);
      assert.equal(res.status, 200);
      assert.equal(res.ended, 'aborted');
      assert.equal(res.body, 'from');
      assert.equal(b.exchanges.length, before);
    });

    it('answers slowly but steadily (each pause under read_timeout): served whole, not retried', async () => {
      const before = b.exchanges.length;
      scriptA = async (ex) => {
        ex.stdout(`${HEAD}\r\n`);
        for (const piece of ['sl', 'ow', ' a', 'ns', 'wr']) {
          await delay(100);
          if (ex.gatewayClosed) return;
          ex.stdout(piece);
        }
        ex.end();
      };
      const res = await fetchRaw(`${gw.url}/retry/slow`);
      assert.deepEqual(res, { status: 200, body: 'slow answr', ended: 'complete' });
      assert.equal(b.exchanges.length, before);
    });
  });
}
