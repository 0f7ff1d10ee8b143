/**
 * Portico in front of a real uwsgi running a Python WSGI app, over SCGI and over FastCGI: the
 * WSGI environ the app builds from what Portico sent, and a POST body echoed back.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  requirePeer,
  startUwsgiPython,
  UWSGI_PATH,
  UWSGI_PYTHON3_PLUGIN,
  type UwsgiPython,
} from '../support/peers.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpJson } from './support/http.ts';

const uwsgi = requirePeer('uwsgi-python3', [UWSGI_PATH, UWSGI_PYTHON3_PLUGIN]);

/** Every str entry of environ (PEP 3333: latin1 strings), the body as latin1, and its length. */
const APP = `import json

def application(environ, start_response):
    length = int(environ.get('CONTENT_LENGTH') or 0)
    body = environ['wsgi.input'].read(length) if length else b''
    env = {k: v for k, v in environ.items() if isinstance(v, str)}
    out = json.dumps({'env': env, 'body': body.decode('latin1'), 'length': len(body)}).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(out)))])
    return [out]
`;

interface Echo {
  env: Record<string, string>;
  body: string;
  length: number;
}

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`uwsgi (Python WSGI) over ${protocol} through Portico`, { skip: uwsgi.skip }, () => {
    let dir: TempDir;
    let app: UwsgiPython;
    let gw: TestGateway;

    before(async () => {
      dir = await makeTempDir('wsgi-app');
      const file = join(dir.path, 'echo_app.py');
      await writeFile(file, APP);
      app = await startUwsgiPython({ protocol, app: file, listen: protocol === 'scgi' ? 'tcp' : 'unix' });
      gw = await startTestGateway({
        root: dir.path,
        locations: [{ match: '/', [protocol]: { pass: app.address } }],
      });
    });

    after(async () => {
      await gw?.close();
      await app?.stop();
      await dir?.cleanup();
    });

    it('GET: the WSGI environ carries the request as sent', async () => {
      const { status, json } = await httpJson<Echo>(gw.url, {
        path: '/hello/w%C3%B6rld?x=1&y=%2F',
        headers: { 'X-Portico-Test': 'yes', Proxy: 'http://attacker.example/' },
      });
      assert.equal(status, 200);
      const env = json.env;
      assert.equal(env.REQUEST_METHOD, 'GET');
      assert.equal(env.QUERY_STRING, 'x=1&y=%2F');
      assert.equal(env.REQUEST_URI, '/hello/w%C3%B6rld?x=1&y=%2F');
      assert.equal(env.DOCUMENT_URI, '/hello/w\xc3\xb6rld');
      assert.equal(env.HTTP_X_PORTICO_TEST, 'yes');
      assert.equal(env.HTTP_PROXY, undefined);
      assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(env['wsgi.url_scheme'], 'http');
      if (protocol === 'scgi') assert.equal(env.SCGI, '1');
      else assert.equal(env.GATEWAY_INTERFACE, 'CGI/1.1');
    });

    it('POST: the body is echoed back byte for byte', async () => {
      const data = randomBytes(100_000);
      const { status, json } = await httpJson<Echo>(gw.url, {
        method: 'POST',
        path: '/echo',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: data,
      });
      assert.equal(status, 200);
      assert.equal(json.length, data.length);
      assert.equal(json.env.CONTENT_LENGTH, String(data.length));
      assert.equal(json.env.CONTENT_TYPE, 'application/octet-stream');
      assert.ok(Buffer.from(json.body, 'latin1').equals(data), 'echoed body differs');
    });

    it('a chunked POST reaches the app with its exact CONTENT_LENGTH', async () => {
      const parts = [Buffer.from('alpha,'), Buffer.from('beta,'), Buffer.from('gamma')];
      const { status, json } = await httpJson<Echo>(gw.url, { method: 'POST', path: '/echo', chunks: parts });
      assert.equal(status, 200);
      assert.equal(json.env.CONTENT_LENGTH, '16');
      assert.equal(json.body, 'alpha,beta,gamma');
    });
  });
}
