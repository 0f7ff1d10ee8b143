/**
 * nginx response buffering (`buffering`, `buffers`, `max_temp_file_size`, X-Accel-Buffering),
 * for SCGI and FastCGI: with a client that does not read, a buffered response frees the
 * backend's connection as soon as the backend is done (memory, then a temp file, logged and
 * removed); with no temp file allowed, or buffering off, the backend waits for the client
 * instead; and a backend that flushes a chunk and waits for the client to see it never
 * deadlocks, buffering on or off (nothing is held back to fill a buffer).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

/** More than loopback socket buffers hold (several MiB each way), so the client really lags. */
const TOTAL = 48 * 1024 * 1024;
const PIECE = Buffer.alloc(64 * 1024, 0x62);

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`response buffering (${protocol})`, () => {
    let temp: TempDir;
    let backend: ScriptedBackend;
    let gw: TestGateway;
    /** Bytes the backend got to write, and whether it finished, per path. */
    const progress = new Map<string, { written: number; done: boolean }>();
    /** The ordering test: released when the client has seen the first chunk. */
    let seenFirst: () => void = () => {};

    async function bigAnswer(ex: ScriptedExchange, path: string, extraHead = ''): Promise<void> {
      const state = { written: 0, done: false };
      progress.set(path, state);
      ex.stdout(`Content-Type: application/octet-stream\r\nContent-Length: ${TOTAL}\r\n${extraHead}\r\n`);
      while (state.written < TOTAL && !ex.gatewayClosed) {
        const ok = ex.stdout(PIECE);
        state.written += PIECE.length;
        if (!ok) await Promise.race([once(ex.socket, 'drain'), ex.closed]);
      }
      ex.end();
      await ex.closed;
      state.done = true;
    }

    before(async () => {
      temp = await makeTempDir('response-buffering');
      await writeFile(join(temp.path, 'a-file'), 'not a directory');
      backend = await startScriptedBackend(protocol, async (ex) => {
        const path = ex.get('DOCUMENT_URI') ?? '';
        if (path.endsWith('/flush')) {
          ex.stdout('Content-Type: text/plain\r\n\r\nfirst;');
          await new Promise<void>((resolve) => {
            seenFirst = resolve;
          });
          ex.stdout('second');
          ex.end();
          return;
        }
        await bigAnswer(ex, path, path.endsWith('/accel-yes') ? 'X-Accel-Buffering: yes\r\n' : '');
      });
      const pass = { pass: backend.address };
      gw = await startTestGateway({
        locations: [
          { match: '/on/', [protocol]: { ...pass, temp_path: temp.path } },
          {
            match: '/levels/',
            [protocol]: {
              ...pass,
              temp_path: `${temp.path}/levels 1 2`,
              buffers: '4 8k',
              busy_buffers_size: '16k',
              temp_file_write_size: '64k',
            },
          },
          // A "directory" under a regular file: the temp file can never be made.
          { match: '/broken/', [protocol]: { ...pass, temp_path: `${temp.path}/a-file/tmp` } },
          { match: '/nofile/', [protocol]: { ...pass, max_temp_file_size: 0 } },
          { match: '/off/', [protocol]: { ...pass, buffering: false } },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
      await temp?.cleanup();
    });

    /** Starts a GET and leaves the response unread; `read()` then consumes it all. */
    async function stalledGet(path: string): Promise<{ read: () => Promise<number> }> {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(`${gw.url}${path}`, resolve);
        req.on('error', reject);
        req.end();
      });
      res.pause();
      return {
        read: async () => {
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
          });
          res.resume();
          await once(res, 'end');
          return n;
        },
      };
    }

    /** Waits until the backend's progress for `path` stops changing (it finished or is blocked). */
    async function settled(path: string): Promise<{ written: number; done: boolean }> {
      let last = -1;
      for (let i = 0; i < 200; i++) {
        await delay(50);
        const p = progress.get(path);
        if (p?.done) return p;
        if (p !== undefined && p.written === last) return p;
        last = p?.written ?? -1;
      }
      return progress.get(path) ?? { written: 0, done: false };
    }

    it('on: the backend finishes while the client reads nothing; the rest spills to a temp file', async () => {
      const client = await stalledGet('/on/big');
      let p = progress.get('/on/big');
      for (let i = 0; i < 400 && !p?.done; i++) {
        await delay(25);
        p = progress.get('/on/big');
      }
      assert.equal(p?.done, true, 'the backend connection closed before the client read');
      assert.equal(await client.read(), TOTAL);
      assert.ok(
        gw.log.lines.some((l) => l.level === 'warn' && /buffered to a temporary file/.test(l.message)),
      );
      assert.deepEqual(await readdir(temp.path), ['a-file']);
    });

    it('a temp file that cannot be made: the response is cut (logged), the gateway goes on', async () => {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(`${gw.url}/broken/big`, resolve);
        req.on('error', reject);
        req.end();
      });
      res.pause();
      res.on('error', () => {}); // the cut: 'aborted'
      const closed = new Promise<void>((resolve) => res.on('close', resolve));
      let n = 0;
      let failed = false;
      for (let i = 0; i < 400 && !failed; i++) {
        await delay(25);
        failed = gw.log.lines.some(
          (l) => l.level === 'error' && /cannot be buffered to a temporary file/.test(l.message),
        );
      }
      assert.equal(failed, true);
      res.on('data', (c: Buffer) => {
        n += c.length;
      });
      res.resume();
      await closed;
      assert.ok(n < TOTAL, 'the client never gets a whole response');
      const flush = await new Promise<number>((resolve, reject) => {
        const req = request(`${gw.url}/on/flush`, (r) => {
          r.on('data', () => seenFirst());
          r.on('end', () => resolve(r.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(flush, 200);
    });

    it('temp_path with levels 1 2, busy_buffers_size, temp_file_write_size: the body spills whole, in hashed subdirectories', async () => {
      const client = await stalledGet('/levels/big');
      let p = progress.get('/levels/big');
      for (let i = 0; i < 400 && !p?.done; i++) {
        await delay(25);
        p = progress.get('/levels/big');
      }
      assert.equal(p?.done, true, 'the backend connection closed before the client read');
      assert.equal(await client.read(), TOTAL);
      // nginx's layout: temp_path/X/YY/file, X and YY taken from the end of the file name (a
      // new file, and name, each time the queue spills again); every file was unlinked when it
      // was created.
      const level1 = await readdir(join(temp.path, 'levels'));
      assert.ok(level1.length >= 1);
      for (const one of level1) {
        assert.match(one, /^[0-9a-f]$/);
        const level2 = await readdir(join(temp.path, 'levels', one));
        assert.ok(level2.length >= 1);
        for (const two of level2) {
          assert.match(two, /^[0-9a-f]{2}$/);
          assert.deepEqual(await readdir(join(temp.path, 'levels', one, two)), []);
        }
      }
    });

    it('max_temp_file_size 0: no file; past the memory buffers the backend waits for the client', async () => {
      const client = await stalledGet('/nofile/big');
      const p = await settled('/nofile/big');
      assert.equal(p.done, false);
      assert.ok(p.written < TOTAL);
      assert.equal(await client.read(), TOTAL);
    });

    it('off: the backend waits for the client; X-Accel-Buffering: yes turns buffering on', async () => {
      const client = await stalledGet('/off/big');
      const p = await settled('/off/big');
      assert.equal(p.done, false);
      assert.equal(await client.read(), TOTAL);
      const accel = await stalledGet('/off/accel-yes');
      let q = progress.get('/off/accel-yes');
      for (let i = 0; i < 400 && !q?.done; i++) {
        await delay(25);
        q = progress.get('/off/accel-yes');
      }
      assert.equal(q?.done, true);
      assert.equal(await accel.read(), TOTAL);
    });

    for (const mode of ['on', 'off'] as const) {
      it(`${mode}: a flushed chunk reaches the client before the backend sends more (no deadlock)`, async () => {
        const body = await new Promise<string>((resolve, reject) => {
          const req = request(`${gw.url}/${mode}/flush`, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
              text += c;
              if (text === 'first;') seenFirst();
            });
            res.on('end', () => resolve(text));
          });
          req.on('error', reject);
          req.end();
        });
        assert.equal(body, 'first;second');
      });
    }
  });
}
