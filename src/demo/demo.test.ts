import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { Prng } from '../util/prng.ts';
import { startDemo } from './index.ts';
import { DEMO_PAGES } from './pages.ts';

async function get(url: string, init?: RequestInit): Promise<{ status: number; text: string }> {
  const res = await fetch(url, init);
  return { status: res.status, text: await res.text() };
}

describe('demo', () => {
  it('serves every page through the gateway to its SCGI or FastCGI backend', async (t) => {
    const demo = await startDemo({ port: 0, quiet: true, streamIntervalMs: 1 });
    t.after(() => demo.close());
    const base = demo.urls[0]!;
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);

    const index = await get(base);
    assert.equal(index.status, 200);
    for (const [href] of DEMO_PAGES) assert.ok(index.text.includes(`href="${href}"`), href);

    const scgiEnv = await get(`${base}scgi/env?x=1`);
    assert.equal(scgiEnv.status, 200);
    assert.match(scgiEnv.text, /<td>SCGI<\/td><td>1<\/td>/);
    assert.match(scgiEnv.text, /<td>QUERY_STRING<\/td><td>x=1<\/td>/);
    const fcgiEnv = await get(`${base}fcgi/env`);
    assert.equal(fcgiEnv.status, 200);
    assert.match(fcgiEnv.text, /<td>REQUEST_URI<\/td><td>\/fcgi\/env<\/td>/);
    assert.doesNotMatch(fcgiEnv.text, /<td>SCGI<\/td>/);

    for (const form of ['scgi/form', 'fcgi/form']) {
      assert.match((await get(`${base}${form}`)).text, /<form method="post"/);
      const posted = await get(`${base}${form}`, {
        method: 'POST',
        body: new URLSearchParams({ name: 'Grace <script>', message: 'héllo' }),
      });
      assert.equal(posted.status, 200);
      assert.ok(posted.text.includes('<td>name</td><td>Grace &lt;script&gt;</td>'), form);
      assert.ok(posted.text.includes('<td>message</td><td>héllo</td>'), form);
    }

    for (const stream of ['scgi/stream', 'fcgi/stream']) {
      const { status, text } = await get(`${base}${stream}`);
      assert.equal(status, 200);
      assert.equal(text.match(/<p>line \d+ of 10/g)?.length, 10, stream);
      assert.ok(text.includes('<p>done.</p>'));
    }
  });

  it('takes a multipart upload and shows name, size and sha256 of each file', async (t) => {
    const demo = await startDemo({ port: 0, quiet: true });
    t.after(() => demo.close());
    const base = demo.urls[0]!;
    assert.match((await get(`${base}fcgi/upload`)).text, /enctype="multipart\/form-data"/);
    const prng = new Prng();
    const one = prng.bytes(300_000);
    const two = prng.bytes(1234);
    const body = new FormData();
    body.append('description', 'two files');
    body.append('files', new Blob([one]), 'one.bin');
    body.append('files', new Blob([two], { type: 'text/plain' }), 'two.txt');
    const { status, text } = await get(`${base}fcgi/upload`, { method: 'POST', body });
    assert.equal(status, 200);
    for (const [name, data] of [
      ['one.bin', one],
      ['two.txt', two],
    ] as const) {
      const sha = createHash('sha256').update(data).digest('hex');
      assert.ok(text.includes(`<td>${name}</td>`), name);
      assert.ok(
        text.includes(`<td>${data.length}</td><td>${sha}</td>`),
        `${name} size and sha256, seed ${prng.seed}`,
      );
    }
    assert.ok(text.includes('<td>description</td><td>two files</td>'));
    const refused = await get(`${base}fcgi/upload`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      body: '--b\r\nContent-Disposition: form-data; name="x"\r\n\r\ncut short',
    });
    assert.equal(refused.status, 400);
  });

  it('flushes a streamed page line by line: the first line arrives long before the second is written', async (t) => {
    const demo = await startDemo({ port: 0, quiet: true, streamIntervalMs: 60_000 });
    t.after(() => demo.close());
    for (const stream of ['scgi/stream', 'fcgi/stream']) {
      const abort = new AbortController();
      const res = await fetch(`${demo.urls[0]}${stream}`, { signal: abort.signal });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while (!text.includes('line 1 of 10')) {
        const { value, done } = await reader.read();
        assert.equal(done, false, `${stream} ended early`);
        text += decoder.decode(value, { stream: true });
      }
      assert.ok(!text.includes('line 2 of 10'));
      abort.abort();
    }
  });

  it('falls back to an ephemeral port when the one asked for is taken', async (t) => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    t.after(() => blocker.close());
    const taken = (blocker.address() as AddressInfo).port;
    const demo = await startDemo({ port: taken, quiet: true });
    t.after(() => demo.close());
    const port = Number(new URL(demo.urls[0]!).port);
    assert.notEqual(port, taken);
    assert.equal((await get(demo.urls[0]!)).status, 200);
  });
});
