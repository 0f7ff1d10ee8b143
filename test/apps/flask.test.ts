/**
 * A real Python application (Flask, from Debian's python3-flask) served by uwsgi over SCGI and
 * over FastCGI through Portico: urlencoded and multipart forms, a redirect, a cookie round
 * trip, and a streamed response whose first chunk arrives before the last is written.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requirePeer, startUwsgiPython, UWSGI_PATH, type UwsgiPython } from '../support/peers.ts';
import { startTestGateway, type TestGateway } from '../integration/support/gateway.ts';
import { httpRequest } from '../integration/support/http.ts';

const APP = join(import.meta.dirname, 'fixtures', 'flask_app.py');
const FLASK = '/usr/lib/python3/dist-packages/flask/__init__.py';
const peer = requirePeer('uwsgi + python3-flask', [UWSGI_PATH, FLASK]);

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`Flask on uwsgi over ${protocol}`, { skip: peer.skip }, () => {
    let app: UwsgiPython;
    let gw: TestGateway;

    before(async () => {
      app = await startUwsgiPython({ protocol, app: APP, processes: 2 });
      // As examples/flask-uwsgi-*.yaml: a WSGI app routes on PATH_INFO, which the stock
      // params do not send; SCRIPT_NAME '' mounts the app at the root.
      gw = await startTestGateway({
        locations: [
          {
            match: '/',
            [protocol]: {
              pass: app.address,
              include_params: protocol === 'scgi' ? 'scgi_params' : 'fastcgi_params',
              params: { PATH_INFO: '$uri', SCRIPT_NAME: '' },
            },
          },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await app?.stop();
    });

    it('GET and an urlencoded form POST', async () => {
      assert.equal((await httpRequest(gw.url, { path: '/' })).body.toString(), 'flask ok');
      const res = await httpRequest(gw.url, {
        path: '/form',
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=J%C3%BCrgen&x=1',
      });
      assert.equal(res.body.toString(), 'hello Jürgen, 2 fields');
    });

    it('a multipart upload arrives byte-identical', async () => {
      const file = Buffer.alloc(300_000);
      for (let i = 0; i < file.length; i++) file[i] = (i * 31 + 7) & 0xff;
      const boundary = 'portico-boundary-7d3';
      const body = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="blob.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        ),
        file,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const res = await httpRequest(gw.url, {
        path: '/upload',
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        body,
      });
      assert.equal(
        res.body.toString(),
        `blob.bin ${file.length} ${createHash('sha256').update(file).digest('hex')}`,
      );
    });

    it('a redirect keeps its Location; a cookie set on login comes back', async () => {
      const go = await httpRequest(gw.url, { path: '/go' });
      assert.equal(go.status, 302);
      assert.match(String(go.headers.location), /\/landed\?x=1$/);
      const login = await httpRequest(gw.url, {
        path: '/login',
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'user=ada',
      });
      assert.equal(login.status, 302);
      const cookie = String(login.headers['set-cookie']?.[0] ?? '');
      assert.match(cookie, /^session=user-ada; HttpOnly; Path=\//);
      const me = await httpRequest(gw.url, {
        path: '/me',
        headers: { cookie: cookie.split(';')[0] as string },
      });
      assert.equal(me.body.toString(), 'me: user-ada');
    });

    it('a streamed response: the first chunk arrives before the response ends', async () => {
      const events = await new Promise<string[]>((resolve, reject) => {
        const seen: string[] = [];
        const req = request(`${gw.url}/stream`, (res) => {
          res.setEncoding('utf8');
          res.on('data', (c: string) => seen.push(`data:${c}`));
          res.on('end', () => {
            seen.push('end');
            resolve(seen);
          });
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(events.join('').replace(/data:/g, ''), 'chunk 0\nchunk 1\nchunk 2\nend');
      assert.ok(events.length >= 3, `arrived in ${events.length - 1} pieces`);
      assert.equal(events[0], 'data:chunk 0\n');
    });
  });
}
