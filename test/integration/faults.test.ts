/**
 * Backends that misbehave, SCGI and FastCGI, scripted byte by byte: nothing listening, a close
 * in the middle of the head, a body shorter than its Content-Length or cut before
 * FCGI_END_REQUEST, malformed heads; and a client that leaves mid-response. A broken head is a
 * 502 with the reason in the error log; a broken body, once the head went out, aborts the
 * client connection so the truncation is visible (semantics.md E6, E18).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { getFreePort, makeTempDir, type TempDir } from '../support/ports.ts';
import { parseHttpResponse, rawHttpRequest } from '../support/raw-clients.ts';
import { logLines, showLog, startTestGateway, type TestGateway } from './support/gateway.ts';
import { headEnd, httpRequest, RawConnection } from './support/http.ts';
import {
  type ScriptedBackend,
  type ScriptedExchange,
  startScriptedBackend,
} from './support/scripted-backend.ts';

const HEAD = 'Status: 200 OK\r\nContent-Type: text/plain\r\n';

describe('backend down', () => {
  let root: TempDir;
  let gw: TestGateway;
  let port: number;

  before(async () => {
    root = await makeTempDir('faults-root');
    port = await getFreePort();
    gw = await startTestGateway({
      root: root.path,
      locations: [
        { match: '/scgi/', scgi: { pass: `127.0.0.1:${port}` } },
        { match: '/fastcgi/', fastcgi: { pass: `127.0.0.1:${port}` } },
        { match: '/unix/', fastcgi: { pass: `unix:${join(root.path, 'nobody.sock')}` } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await root?.cleanup();
  });

  for (const prefix of ['/scgi/', '/fastcgi/', '/unix/']) {
    it(`nothing listening (${prefix}) -> 502, the connect failure in the error log`, async () => {
      const res = await httpRequest(gw.url, { path: `${prefix}x` });
      assert.equal(res.status, 502);
      const lines = logLines(gw.log, 'error', /connect\(\) to .* failed \((ECONNREFUSED|ENOENT)\)/).filter(
        (l) => l.fields?.request === `GET ${prefix}x`,
      );
      assert.equal(lines.length, 1, showLog(gw.log));
      assert.match(String(lines[0]?.fields?.requestId), /^[0-9a-f]{32}$/);
    });
  }
});

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`misbehaving ${protocol} backend`, () => {
    let root: TempDir;
    let backend: ScriptedBackend;
    let gw: TestGateway;
    /** What the backend does with the next request; set by each test. */
    let script: (ex: ScriptedExchange) => void | Promise<void> = (ex) => ex.end();

    before(async () => {
      root = await makeTempDir('faults-root');
      backend = await startScriptedBackend(protocol, (ex) => script(ex));
      gw = await startTestGateway({
        root: root.path,
        locations: [{ match: '/', [protocol]: { pass: backend.address } }],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
      await root?.cleanup();
    });

    /** Error-log lines logged since log index `from`. */
    function errorsSince(from: number): string[] {
      return gw.log.lines
        .slice(from)
        .filter((l) => l.level === 'error')
        .map((l) => l.message);
    }

    it('a well-behaved answer passes (control)', async () => {
      script = (ex) => {
        ex.stdout(`${HEAD}\r\nfine`);
        ex.end();
      };
      const res = await httpRequest(gw.url, { path: '/control' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'fine');
    });

    it('closing in the middle of the head -> 502, the reason in the error log', async () => {
      const before = gw.log.lines.length;
      script = (ex) => {
        ex.stdout('Status: 200 OK\r\nContent-Ty');
        ex.destroy();
      };
      const res = await httpRequest(gw.url, { path: '/half-head' });
      assert.equal(res.status, 502);
      const lines = gw.log.lines.slice(before).filter((l) => l.level === 'error');
      assert.equal(lines.length, 1, showLog(gw.log));
      assert.match(lines[0]!.message, /prematurely closed|before (its|the response) header/);
      assert.equal(lines[0]!.fields?.backend, backend.address);
      assert.match(String(lines[0]!.fields?.requestId), /^[0-9a-f]{32}$/);
    });

    const MALFORMED: ReadonlyArray<readonly [string, string]> = [
      ['a NUL in a header value', `${HEAD}X-Bad: a\0b\r\n\r\nbody`],
      ['a bare CR in the head', `${HEAD}X-A: 1\rX-Injected: 1\r\n\r\nbody`],
      ['a space in a header name', `${HEAD}Bad Name: x\r\n\r\nbody`],
      ['a line without a colon', `${HEAD}garbage\r\n\r\nbody`],
      ['an invalid Status', 'Status: abc\r\nContent-Type: text/plain\r\n\r\nbody'],
      ['no blank line before the end', `${HEAD}X-A: 1\r\n`],
    ];
    for (const [what, head] of MALFORMED) {
      it(`a malformed head (${what}) -> 502 with the reason logged`, async () => {
        const before = gw.log.lines.length;
        script = (ex) => {
          ex.stdout(head);
          ex.end();
        };
        const res = await httpRequest(gw.url, { path: '/malformed' });
        assert.equal(res.status, 502, `${what}: got ${res.status} ${res.body.toString('latin1')}`);
        assert.doesNotMatch(res.body.toString('latin1'), /^body$/);
        const lines = gw.log.lines.slice(before).filter((l) => l.level === 'error');
        assert.equal(lines.length, 1, showLog(gw.log));
        assert.equal(lines[0]!.fields?.backend, backend.address);
      });
    }

    it('a body shorter than its Content-Length aborts the client connection', async () => {
      script = (ex) => {
        ex.stdout(`${HEAD}Content-Length: 100\r\n\r\n0123456789`);
        ex.end();
      };
      const before = gw.log.lines.length;
      const conn = await RawConnection.open(gw.address);
      conn.write('GET /short HTTP/1.1\r\nHost: localhost\r\n\r\n');
      // Keep-alive is on: a clean response would leave the connection open; an abort closes it.
      const data = await conn.readToClose();
      const end = headEnd(data);
      assert.ok(end > 0, `no head: ${data.toString('latin1')}`);
      const res = parseHttpResponse(data.subarray(0, end), true);
      assert.equal(res.status, 200);
      assert.equal(res.headers.find(([n]) => n.toLowerCase() === 'content-length')?.[1], '100');
      assert.equal(data.subarray(end).toString(), '0123456789');
      assert.equal(
        errorsSince(before).filter((m) => /prematurely closed/.test(m)).length,
        1,
        showLog(gw.log),
      );
      await assert.rejects(
        httpRequest(gw.url, { path: '/short' }),
        /aborted|ECONNRESET|socket hang up|premature/i,
      );
    });

    it('bytes past the Content-Length are dropped', async () => {
      script = (ex) => {
        ex.stdout(`${HEAD}Content-Length: 5\r\n\r\nhelloEXTRA BYTES`);
        ex.end();
      };
      const res = await rawHttpRequest(gw.address, { method: 'GET', target: '/long' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'hello');
    });

    if (protocol === 'fastcgi') {
      it('a connection closed before FCGI_END_REQUEST aborts the client connection (no clean end)', async () => {
        script = async (ex) => {
          ex.stdout(`${HEAD}\r\npart one,`);
          ex.stdout(' part two');
          ex.destroy();
        };
        const before = gw.log.lines.length;
        const conn = await RawConnection.open(gw.address);
        conn.write('GET /truncated HTTP/1.1\r\nHost: localhost\r\n\r\n');
        const data = await conn.readToClose();
        const end = headEnd(data);
        assert.ok(end > 0);
        const head = parseHttpResponse(data.subarray(0, end), true);
        assert.equal(head.headers.find(([n]) => n.toLowerCase() === 'transfer-encoding')?.[1], 'chunked');
        // A clean chunked response ends with the zero-size chunk; this one must not.
        assert.doesNotMatch(data.subarray(end).toString('latin1'), /(^|\r\n)0\r\n\r\n$/);
        assert.equal(
          errorsSince(before).filter((m) => /FCGI_END_REQUEST/.test(m)).length,
          1,
          showLog(gw.log),
        );
      });

      it('FastCGI stderr lines reach the error log with the request id and backend address', async () => {
        const before = gw.log.lines.length;
        script = (ex) => {
          ex.stderr('first line\nsecond ');
          ex.stderr('line\r\n');
          ex.stderr('unterminated');
          ex.stdout(`${HEAD}\r\nok`);
          ex.end();
        };
        const res = await httpRequest(gw.url, { path: '/stderr' });
        assert.equal(res.status, 200);
        const lines = gw.log.lines.slice(before).filter((l) => /FastCGI sent in stderr/.test(l.message));
        assert.deepEqual(
          lines.map((l) => l.message),
          [
            'FastCGI sent in stderr: "first line"',
            'FastCGI sent in stderr: "second line"',
            'FastCGI sent in stderr: "unterminated"',
          ],
        );
        const ids = new Set(lines.map((l) => l.fields?.requestId));
        assert.equal(ids.size, 1);
        assert.match(String([...ids][0]), /^[0-9a-f]{32}$/);
        for (const l of lines) assert.equal(l.fields?.backend, backend.address);
      });
    }

    it('a client that disconnects mid-response aborts the backend request', async () => {
      let finishedStreaming = false;
      script = async (ex) => {
        ex.stdout(`${HEAD}\r\n`);
        const chunk = Buffer.alloc(8192, 0x78);
        // Slow and bounded: at most 2000 chunks; a gateway that never hangs up lets it finish.
        for (let i = 0; i < 2000 && !ex.gatewayClosed; i++) {
          ex.stdout(chunk);
          await delay(5);
        }
        if (!ex.gatewayClosed) {
          finishedStreaming = true;
          ex.end();
        }
      };
      const next = backend.nextExchange();
      const conn = await RawConnection.open(gw.address);
      conn.write('GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await conn.readUntil((d) => headEnd(d) > 0 && d.length > headEnd(d) + 8192, 'some body');
      conn.destroy();
      const ex = await next;
      await ex.closed;
      assert.equal(
        finishedStreaming,
        false,
        'the backend streamed to the end: nobody told it the client left',
      );
      assert.equal(ex.gatewayClosed, true);
    });
  });
}
