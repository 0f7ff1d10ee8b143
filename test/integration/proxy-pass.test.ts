/**
 * Apache-style `proxy_pass` rules (httpd ProxyPass / ProxyPassMatch) through Portico: in front
 * of a real php-fpm (ProxyFCGIBackendType GENERIC and FPM, the script under the docroot the
 * URL path names), and in front of the recorders to pin SCRIPT_NAME / PATH_INFO with
 * `pathinfo` unset and `first-dot` (semantics.md B.2, C.5, C.6).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import {
  type EnvList,
  type RecordingBackend,
  startFastCgiRecorder,
  startScgiRecorder,
} from '../support/recording-backend.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpJson, httpRequest } from './support/http.ts';
import { writePhpScripts } from './support/php-scripts.ts';

const phpFpm = requirePeer('php-fpm', PHP_FPM_PATH);

interface Dump {
  get: Record<string, unknown>;
  post: Record<string, unknown>;
  server: Record<string, string>;
}

describe('proxy_pass fcgi:// in front of php-fpm', { skip: phpFpm.skip }, () => {
  let docroot: TempDir;
  let fpm: PhpFpm;
  let gw: TestGateway;

  before(async () => {
    docroot = await makeTempDir('pp-docroot');
    await writePhpScripts(docroot.path);
    fpm = await startPhpFpm({ listen: 'tcp', docroot: docroot.path });
    gw = await startTestGateway({
      root: docroot.path,
      proxy_pass: [
        // ProxyPass /app/ fcgi://127.0.0.1:PORT/<docroot>/ + ProxyFCGIBackendType GENERIC
        { path: '/app/', url: `fcgi://${fpm.address}${docroot.path}/`, backend_type: 'GENERIC' },
        // The same with the default FPM type: SCRIPT_FILENAME keeps "proxy:fcgi://host:port".
        { path: '/fpm/', url: `fcgi://${fpm.address}${docroot.path}/` },
        // ProxyPassMatch ^/m/(.*\.php)$ fcgi://127.0.0.1:PORT/<docroot>/$1
        { match: '^/m/(.*\\.php)$', url: `fcgi://${fpm.address}${docroot.path}/$1`, backend_type: 'GENERIC' },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await fpm?.stop();
    await docroot?.cleanup();
  });

  it('GENERIC: SCRIPT_FILENAME is the file under the docroot, SCRIPT_NAME the request path', async () => {
    const { status, json } = await httpJson<Dump>(gw.url, { path: '/app/dump.php?x=1&y=%20z' });
    assert.equal(status, 200);
    assert.deepEqual(json.get, { x: '1', y: ' z' });
    assert.equal(json.server.SCRIPT_FILENAME, join(docroot.path, 'dump.php'));
    assert.equal(json.server.SCRIPT_NAME, '/app/dump.php');
    assert.equal(json.server.REQUEST_URI, '/app/dump.php?x=1&y=%20z');
    assert.equal(json.server.QUERY_STRING, 'x=1&y=%20z');
    assert.equal(json.server.GATEWAY_INTERFACE, 'CGI/1.1');
    assert.equal(json.server.PATH_INFO ?? '', '');
  });

  it('GENERIC: a urlencoded POST reaches $_POST', async () => {
    const { status, json } = await httpJson<Dump>(gw.url, {
      method: 'POST',
      path: '/app/dump.php',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'k=v%26w&n=1',
    });
    assert.equal(status, 200);
    assert.deepEqual(json.post, { k: 'v&w', n: '1' });
    assert.equal(json.server.CONTENT_LENGTH, '11');
  });

  it('FPM (default type): php-fpm resolves the proxy:fcgi:// SCRIPT_FILENAME to the same script', async () => {
    const { status, json } = await httpJson<Dump>(gw.url, { path: '/fpm/dump.php?via=fpm' });
    assert.equal(status, 200);
    assert.deepEqual(json.get, { via: 'fpm' });
    assert.equal(json.server.SCRIPT_FILENAME, join(docroot.path, 'dump.php'));
  });

  it('ProxyPassMatch with $1: the captured script runs', async () => {
    const { status, json } = await httpJson<Dump>(gw.url, { path: '/m/dump.php?m=1' });
    assert.equal(status, 200);
    assert.deepEqual(json.get, { m: '1' });
    assert.equal(json.server.SCRIPT_FILENAME, join(docroot.path, 'dump.php'));
  });

  it('a script that does not exist: php-fpm says 404, Portico passes it on', async () => {
    const res = await httpRequest(gw.url, { path: '/app/missing.php' });
    assert.equal(res.status, 404);
  });
});

function only(env: EnvList, name: string): string | undefined {
  const found = env.filter(([n]) => n === name).map(([, v]) => v);
  assert.ok(found.length <= 1, `${name} appears ${found.length} times`);
  return found[0];
}

describe('proxy_pass in front of the recorders: SCRIPT_NAME and PATH_INFO', () => {
  let root: TempDir;
  let scgi: RecordingBackend;
  let fcgi: RecordingBackend;
  let gw: TestGateway;

  before(async () => {
    root = await makeTempDir('pp-root');
    scgi = await startScgiRecorder();
    fcgi = await startFastCgiRecorder();
    gw = await startTestGateway({
      root: root.path,
      proxy_pass: [
        { path: '/app/', url: `scgi://${scgi.address}/` },
        { path: '/fd/', url: `scgi://${scgi.address}/`, pathinfo: 'first-dot' },
        { path: '/fcgi/', url: `fcgi://${fcgi.address}/` },
        { path: '/fcgi-fd/', url: `fcgi://${fcgi.address}/`, pathinfo: 'first-dot' },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await scgi?.close();
    await fcgi?.close();
    await root?.cleanup();
  });

  async function envFor(rec: RecordingBackend, path: string): Promise<EnvList> {
    const next = rec.nextRequest();
    const res = await httpRequest(gw.url, { path });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
    return (await next).env;
  }

  it('SCGI, pathinfo unset: SCRIPT_NAME is the whole path, no PATH_INFO (httpd without proxy-scgi-pathinfo)', async () => {
    const env = await envFor(scgi, '/app/x.py/extra/info?q=1');
    assert.deepEqual(env[0], ['CONTENT_LENGTH', '0']);
    assert.deepEqual(env[1], ['SCGI', '1']);
    assert.equal(only(env, 'SCRIPT_NAME'), '/app/x.py/extra/info');
    assert.equal(only(env, 'PATH_INFO'), undefined);
    assert.equal(only(env, 'PATH_TRANSLATED'), undefined);
    assert.equal(only(env, 'REQUEST_URI'), '/app/x.py/extra/info?q=1');
    assert.equal(only(env, 'QUERY_STRING'), 'q=1');
    assert.equal(only(env, 'SCRIPT_FILENAME'), `proxy:scgi://${scgi.address}/x.py/extra/info`);
    // mod_proxy_scgi strips GATEWAY_INTERFACE.
    assert.equal(only(env, 'GATEWAY_INTERFACE'), undefined);
  });

  it('SCGI, pathinfo first-dot: mod_proxy_scgi knows one mode, PATH_INFO = the backend path', async () => {
    const env = await envFor(scgi, '/fd/x.py/extra/info');
    assert.equal(only(env, 'PATH_INFO'), '/x.py/extra/info');
    assert.equal(only(env, 'SCRIPT_NAME'), '/fd');
    assert.equal(only(env, 'PATH_TRANSLATED'), `${root.path}/x.py/extra/info`);
  });

  it('FastCGI, pathinfo unset: SCRIPT_NAME is the whole path, no PATH_INFO, FPM-form SCRIPT_FILENAME', async () => {
    const env = await envFor(fcgi, '/fcgi/x.php/extra/info');
    assert.equal(only(env, 'SCRIPT_NAME'), '/fcgi/x.php/extra/info');
    assert.equal(only(env, 'PATH_INFO'), undefined);
    assert.equal(only(env, 'SCRIPT_FILENAME'), `proxy:fcgi://${fcgi.address}/x.php/extra/info`);
    assert.equal(only(env, 'GATEWAY_INTERFACE'), 'CGI/1.1');
  });

  it('FastCGI, pathinfo first-dot: split after the first dot', async () => {
    const env = await envFor(fcgi, '/fcgi-fd/x.php/extra/info');
    assert.equal(only(env, 'SCRIPT_NAME'), '/fcgi-fd/x.php');
    assert.equal(only(env, 'PATH_INFO'), '/extra/info');
    assert.equal(only(env, 'PATH_TRANSLATED'), `${root.path}/extra/info`);
  });

  it('a path outside every rule is 404 and reaches no backend', async () => {
    const before = scgi.requests.length + fcgi.requests.length;
    const res = await httpRequest(gw.url, { path: '/elsewhere/x.py' });
    assert.equal(res.status, 404);
    assert.equal(scgi.requests.length + fcgi.requests.length, before);
  });
});
