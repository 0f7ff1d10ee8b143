/**
 * serveFile over a real node:http server: types, validators, conditional requests, ranges,
 * HEAD, methods, and a file truncated while it is sent.
 */

import assert from 'node:assert/strict';
import { stat, truncate, utimes } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FILE_TRUNCATED } from '../../src/static/file-body.ts';
import { formatHttpDate } from '../../src/static/http-date.ts';
import { StaticRoot } from '../../src/static/resolve.ts';
import {
  BIG_SIZE,
  get,
  LATIN1_NAME,
  makeTree,
  type Site,
  startSite,
  TEXT,
  type Tree,
  UNICODE_NAME,
} from './fixture.ts';

let tree: Tree;
let site: Site;
let root: StaticRoot;
const MTIME = 1_700_000_000; // a whole second, so Last-Modified round-trips exactly

before(async () => {
  tree = await makeTree();
  await utimes(join(tree.root, 'hello.txt'), MTIME, MTIME);
  root = new StaticRoot({ kind: 'root', root: tree.root });
  site = await startSite({ root });
});

after(async () => {
  await site?.close();
  await tree?.tmp.cleanup();
});

const helloEtag = `"${MTIME.toString(16)}-${TEXT.length.toString(16)}"`;

test('200 with content types by extension and the default type', async () => {
  const cases: Array<[string, string]> = [
    ['/hello.txt', 'text/plain'],
    ['/page.html', 'text/html'],
    ['/style.css', 'text/css'],
    ['/app.js', 'application/javascript'],
    ['/image.png', 'image/png'],
    ['/data.bin', 'application/octet-stream'],
    ['/empty.txt', 'text/plain'],
  ];
  for (const [path, type] of cases) {
    const r = await get(site.port, path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['content-type'], type, path);
    assert.equal(r.headers['accept-ranges'], 'bytes', path);
  }
});

test('bodies are byte-exact: text, binary, empty, unicode and non-UTF-8 names', async () => {
  const hello = await get(site.port, '/hello.txt');
  assert.equal(hello.body.toString(), TEXT);
  assert.equal(hello.headers['content-length'], String(TEXT.length));
  const bin = await get(site.port, '/data.bin');
  assert.ok(bin.body.equals(tree.binary));
  const empty = await get(site.port, '/empty.txt');
  assert.equal(empty.headers['content-length'], '0');
  assert.equal(empty.body.length, 0);
  const uni = await get(site.port, `/${encodeURIComponent(UNICODE_NAME)}`);
  assert.equal(uni.status, 200);
  assert.equal(uni.body.toString(), 'unicode name\n');
  const latin = await get(site.port, `/${[...LATIN1_NAME].map((b) => `%${b.toString(16)}`).join('')}`);
  assert.equal(latin.status, 200);
  assert.equal(latin.body.toString(), 'latin1 name\n');
});

test('ETag is nginx style and Last-Modified is the mtime', async () => {
  const r = await get(site.port, '/hello.txt');
  assert.equal(r.headers.etag, helloEtag);
  assert.equal(r.headers['last-modified'], formatHttpDate(MTIME * 1000));
});

test('304 on If-None-Match (weak comparison) and on If-Modified-Since', async () => {
  const cases: Array<Record<string, string>> = [
    { 'if-none-match': helloEtag },
    { 'if-none-match': `"zzz", W/${helloEtag}` },
    { 'if-none-match': '*' },
    { 'if-modified-since': formatHttpDate(MTIME * 1000) },
    { 'if-modified-since': formatHttpDate((MTIME + 3600) * 1000) },
  ];
  for (const h of cases) {
    const r = await get(site.port, '/hello.txt', h);
    assert.equal(r.status, 304, JSON.stringify(h));
    assert.equal(r.body.length, 0);
    assert.equal(r.headers.etag, helloEtag);
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers['content-type'], undefined);
  }
  // An older date or another tag: the full file. If-None-Match wins over If-Modified-Since.
  assert.equal(
    (await get(site.port, '/hello.txt', { 'if-modified-since': formatHttpDate((MTIME - 1) * 1000) })).status,
    200,
  );
  assert.equal(
    (
      await get(site.port, '/hello.txt', {
        'if-none-match': '"x"',
        'if-modified-since': formatHttpDate(MTIME * 1000),
      })
    ).status,
    200,
  );
});

test('412 on If-Match mismatch and If-Unmodified-Since before the mtime', async () => {
  assert.equal((await get(site.port, '/hello.txt', { 'if-match': '"nope"' })).status, 412);
  assert.equal((await get(site.port, '/hello.txt', { 'if-match': `W/${helloEtag}` })).status, 412);
  assert.equal((await get(site.port, '/hello.txt', { 'if-match': helloEtag })).status, 200);
  const ius = { 'if-unmodified-since': formatHttpDate((MTIME - 60) * 1000) };
  const r = await get(site.port, '/hello.txt', ius);
  assert.equal(r.status, 412);
  assert.equal(r.body.length, 0);
  assert.equal(
    (await get(site.port, '/hello.txt', { 'if-unmodified-since': formatHttpDate(MTIME * 1000) })).status,
    200,
  );
});

test('single range: 206 with Content-Range and the exact bytes', async () => {
  const r = await get(site.port, '/data.bin', { range: 'bytes=100-199' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes 100-199/${tree.binary.length}`);
  assert.equal(r.headers['content-length'], '100');
  assert.equal(r.headers['content-type'], 'application/octet-stream');
  assert.ok(r.body.equals(tree.binary.subarray(100, 200)));
  const suffix = await get(site.port, '/data.bin', { range: 'bytes=-10' });
  assert.ok(suffix.body.equals(tree.binary.subarray(tree.binary.length - 10)));
  const open = await get(site.port, '/hello.txt', { range: 'bytes=7-' });
  assert.equal(open.body.toString(), TEXT.slice(7));
});

/** Split a multipart/byteranges body into parts: headers and data. */
function parseMultipart(body: Buffer, boundary: string): Array<{ headers: string; data: Buffer }> {
  const delim = Buffer.from(`\r\n--${boundary}`);
  const parts: Array<{ headers: string; data: Buffer }> = [];
  let at = body.indexOf(delim);
  assert.equal(at, 0, 'body starts with the first delimiter');
  for (;;) {
    at += delim.length;
    if (body.subarray(at, at + 2).toString() === '--') {
      assert.equal(body.subarray(at).toString(), '--\r\n');
      return parts;
    }
    const headEnd = body.indexOf('\r\n\r\n', at);
    const next = body.indexOf(delim, headEnd);
    parts.push({
      headers: body.subarray(at + 2, headEnd).toString(),
      data: body.subarray(headEnd + 4, next),
    });
    at = next;
  }
}

test('multiple ranges: multipart/byteranges with one part per range, exact Content-Length', async () => {
  const r = await get(site.port, '/data.bin', { range: 'bytes=0-9, 500-519, -5' });
  assert.equal(r.status, 206);
  const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(String(r.headers['content-type']));
  assert.ok(m, String(r.headers['content-type']));
  assert.equal(r.headers['content-length'], String(r.body.length));
  const parts = parseMultipart(r.body, m[1]!);
  const size = tree.binary.length;
  assert.deepEqual(
    parts.map((p) => p.headers),
    [
      `Content-Type: application/octet-stream\r\nContent-Range: bytes 0-9/${size}`,
      `Content-Type: application/octet-stream\r\nContent-Range: bytes 500-519/${size}`,
      `Content-Type: application/octet-stream\r\nContent-Range: bytes ${size - 5}-${size - 1}/${size}`,
    ],
  );
  assert.ok(parts[0]!.data.equals(tree.binary.subarray(0, 10)));
  assert.ok(parts[1]!.data.equals(tree.binary.subarray(500, 520)));
  assert.ok(parts[2]!.data.equals(tree.binary.subarray(size - 5)));
});

test('many ranges stay bounded: over max_ranges or over the size, the whole file is sent', async () => {
  const many = Array.from({ length: 40 }, (_, i) => `${i}-${i}`).join(',');
  const r = await get(site.port, '/data.bin', { range: `bytes=${many}` });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, tree.binary.length);
  const overlap = await get(site.port, '/hello.txt', { range: 'bytes=0-,0-,0-' });
  assert.equal(overlap.status, 200);
});

test('416 with Content-Range: bytes */size when no range is satisfiable', async () => {
  const r = await get(site.port, '/hello.txt', { range: 'bytes=1000-2000' });
  assert.equal(r.status, 416);
  assert.equal(r.headers['content-range'], `bytes */${TEXT.length}`);
  assert.equal(r.body.length, 0);
  assert.equal((await get(site.port, '/empty.txt', { range: 'bytes=0-0' })).status, 416);
  // A malformed Range is ignored, not refused.
  assert.equal((await get(site.port, '/hello.txt', { range: 'bytes=5-1' })).status, 200);
});

test('If-Range: a matching validator gives the range, a stale one the whole file', async () => {
  const range = { range: 'bytes=0-4' };
  assert.equal((await get(site.port, '/hello.txt', { ...range, 'if-range': helloEtag })).status, 206);
  assert.equal(
    (await get(site.port, '/hello.txt', { ...range, 'if-range': formatHttpDate(MTIME * 1000) })).status,
    206,
  );
  const stale = await get(site.port, '/hello.txt', { ...range, 'if-range': '"old-etag"' });
  assert.equal(stale.status, 200);
  assert.equal(stale.body.toString(), TEXT);
  assert.equal((await get(site.port, '/hello.txt', { ...range, 'if-range': `W/${helloEtag}` })).status, 200);
  assert.equal(
    (await get(site.port, '/hello.txt', { ...range, 'if-range': formatHttpDate((MTIME - 5) * 1000) })).status,
    200,
  );
});

test('HEAD: the GET headers, no body', async () => {
  const r = await get(site.port, '/data.bin', {}, 'HEAD');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(tree.binary.length));
  assert.equal(r.body.length, 0);
  const ranged = await get(site.port, '/data.bin', { range: 'bytes=0-9' }, 'HEAD');
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers['content-length'], '10');
  assert.equal(ranged.body.length, 0);
});

test('other methods: 405 with Allow (nginx static module)', async () => {
  const r = await get(site.port, '/hello.txt', {}, 'POST');
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, 'GET, HEAD');
});

test('caller options: Content-Type (X-Sendfile keeps the backend one), extra headers, charset, status', async () => {
  site.config = {
    root,
    serve: { contentType: 'application/pdf', headers: { 'cache-control': 'max-age=60', etag: '"x"' } },
  };
  try {
    const r = await get(site.port, '/hello.txt');
    assert.equal(r.headers['content-type'], 'application/pdf');
    assert.equal(r.headers['cache-control'], 'max-age=60');
    assert.equal(r.headers.etag, helloEtag, 'computed fields win');
    const nm = await get(site.port, '/hello.txt', { 'if-none-match': helloEtag });
    assert.equal(nm.status, 304);
    assert.equal(nm.headers['cache-control'], 'max-age=60');
    assert.equal(nm.headers['content-length'], undefined, 'a backend length never reaches a 304');
    assert.equal(r.headers['content-length'], String(TEXT.length));
    assert.equal(r.headers['transfer-encoding'], undefined);
    site.config = { root, serve: { charset: 'utf-8', status: 404, etag: false, lastModified: false } };
    const s = await get(site.port, '/hello.txt', { range: 'bytes=0-1', 'if-none-match': '*' });
    assert.equal(s.status, 404);
    assert.equal(s.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(s.body.toString(), TEXT);
    assert.equal(s.headers.etag, undefined);
    assert.equal(s.headers['last-modified'], undefined);
  } finally {
    site.config = { root };
  }
});

test('a file truncated while it is sent: the response is cut, never ended short', async () => {
  const path = join(tree.root, 'big.bin');
  site.results.delete('/big.bin');
  const outcome = await new Promise<{ complete: boolean; received: number; length: number }>(
    (resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: site.port, path: '/big.bin', agent: false }, (res) => {
        let received = 0;
        const length = Number(res.headers['content-length']);
        res.once('data', (chunk: Buffer) => {
          received += chunk.length;
          res.pause();
          truncate(path, 1000).then(() => {
            res.on('data', (c: Buffer) => {
              received += c.length;
            });
            res.resume();
          }, reject);
        });
        res.on('error', () => {}); // "aborted": the expected end
        res.on('close', () => resolve({ complete: res.complete, received, length }));
      });
      req.on('error', reject);
      req.end();
    },
  );
  assert.equal(outcome.length, BIG_SIZE);
  assert.equal(outcome.complete, false);
  assert.ok(outcome.received < BIG_SIZE, `${outcome.received} < ${BIG_SIZE}`);
  assert.equal((await stat(path)).size, 1000);
  // The server saw the short read and reported an incomplete 200 (its promise may settle after
  // the client saw the close: wait for it, boundedly).
  for (let i = 0; i < 3000 && !site.results.has('/big.bin'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const last = site.results.get('/big.bin');
  assert.ok(last?.sent === true && last.status === 200 && !last.complete, JSON.stringify(last));
  assert.ok(last.bytes < BIG_SIZE);
  assert.equal((last.error as { code?: string } | undefined)?.code, FILE_TRUNCATED);
});

test('an aborted request signal cuts the transfer (the response is destroyed, not ended)', async () => {
  site.config = { root, serve: { signal: AbortSignal.abort() } };
  try {
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port: site.port, path: '/data.bin', agent: false }, (res) => {
        res.on('error', () => {});
        res.on('data', () => {});
        res.on('close', () => resolve(res.complete ? 'complete' : 'cut'));
      });
      req.on('error', () => resolve('cut'));
      req.end();
    });
    assert.equal(outcome, 'cut');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(site.lastResult?.sent === true && site.lastResult.complete, false);
  } finally {
    site.config = { root };
  }
});
