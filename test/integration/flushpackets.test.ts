/**
 * httpd's flushpackets / flushwait / iobuffersize on proxy_pass entries, for SCGI and FastCGI,
 * as ordering tests: `on` (Portico's default) sends a chunk before the backend sends more;
 * `off` gathers up to iobuffersize (then writes, so a backend waiting for the client does not
 * deadlock) or the end; `auto` writes once flushwait passes without backend data. FastCGI
 * request bodies go in STDIN records of at most iobuffersize (ProxyIOBufferSize server-wide).
 */
import assert from 'node:assert/strict';
import { type IncomingMessage, request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import {
  type ScriptedBackend,
  type ScriptedExchange,
  startScriptedBackend,
} from './support/scripted-backend.ts';

const HEAD = 'Content-Type: text/plain\r\n\r\n';
const FIRST = Buffer.alloc(1500, 0x61);

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`flushpackets and iobuffersize (${protocol})`, () => {
    let backend: ScriptedBackend;
    let gw: TestGateway;
    /** Released by the client when it saw what the backend waits for. */
    let release: () => void = () => {};
    const gate = () =>
      new Promise<void>((resolve) => {
        release = resolve;
      });

    async function script(ex: ScriptedExchange): Promise<void> {
      const uri = ex.get('REQUEST_URI') ?? '';
      if (uri.endsWith('/gate')) {
        // One chunk, then nothing until the client has seen enough of it.
        ex.stdout(HEAD);
        ex.stdout(FIRST);
        await gate();
        ex.stdout('tail');
      } else if (uri.endsWith('/pause')) {
        // Two chunks with a pause: a gateway that writes at once sends the first alone.
        ex.stdout(`${HEAD}first;`);
        await delay(100);
        ex.stdout('second');
      } else if (uri.endsWith('/burst')) {
        ex.stdout(`${HEAD}a`);
        await delay(20);
        ex.stdout('b');
        await gate();
        ex.stdout('c');
      } else {
        ex.stdout(`${HEAD}${ex.body.length} bytes in ${ex.stdinRecords.length} records`);
      }
      ex.end();
    }

    before(async () => {
      backend = await startScriptedBackend(protocol, script);
      const url = (path: string) => `${protocol === 'scgi' ? 'scgi' : 'fcgi'}://${backend.address}${path}`;
      gw = await startTestGateway({
        proxy_iobuffersize: 2048,
        proxy_pass: [
          { path: '/on/', url: url('/on/') },
          { path: '/off/', url: url('/off/'), flushpackets: 'off' },
          { path: '/off1k/', url: url('/off1k/'), flushpackets: 'off', iobuffersize: 1024 },
          { path: '/auto/', url: url('/auto/'), flushpackets: 'auto', flushwait: '1000ms' },
          { path: '/io512/', url: url('/io512/'), iobuffersize: 512 },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
    });

    /** The response's data events, in order; `onData` may release the backend's gate. */
    function chunks(path: string, onData?: (seen: number) => void): Promise<Buffer[]> {
      return new Promise<Buffer[]>((resolve, reject) => {
        const req = request(`${gw.url}${path}`, (res: IncomingMessage) => {
          const out: Buffer[] = [];
          let seen = 0;
          res.on('data', (c: Buffer) => {
            out.push(c);
            seen += c.length;
            onData?.(seen);
          });
          res.on('end', () => resolve(out));
        });
        req.on('error', reject);
        req.end();
      });
    }

    it('on (default): a chunk reaches the client before the backend sends more', async () => {
      const got = await chunks('/on/gate', (seen) => {
        if (seen >= FIRST.length) release();
      });
      assert.equal(Buffer.concat(got).toString(), `${FIRST}tail`);
    });

    it('off: bytes wait for the end (less than iobuffersize); the first the client sees is everything', async () => {
      const got = await chunks('/off/pause');
      assert.equal(got[0]?.toString(), 'first;second');
    });

    it('off, iobuffersize 1024: 1024 bytes go when gathered, the rest waits for more or the end', async () => {
      let atFirst = -1;
      const got = await chunks('/off1k/gate', (seen) => {
        if (atFirst < 0 && seen >= 1024) {
          atFirst = seen;
          // The backend sends its tail only now: no deadlock though 476 bytes are held.
          release();
        }
      });
      assert.equal(atFirst, 1024);
      assert.equal(Buffer.concat(got).toString(), `${FIRST}tail`);
    });

    it('auto: bytes arriving within flushwait are gathered, and go once the backend is quiet', async () => {
      const got = await chunks('/auto/burst', () => release());
      assert.equal(got[0]?.toString(), 'ab');
      assert.equal(Buffer.concat(got).toString(), 'abc');
    });

    if (protocol === 'fastcgi') {
      it('request bodies go in STDIN records of at most iobuffersize (entry, then proxy_iobuffersize)', async () => {
        const body = Buffer.alloc(5000, 0x7a);
        const own = await httpRequest(gw.url, { method: 'POST', path: '/io512/x', body });
        assert.equal(own.body.toString(), '5000 bytes in 10 records');
        const server = await httpRequest(gw.url, { method: 'POST', path: '/on/x', body });
        assert.equal(server.body.toString(), '5000 bytes in 3 records');
      });
    }
  });
}
