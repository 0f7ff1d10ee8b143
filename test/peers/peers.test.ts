/**
 * Smoke tests of the real peers and of the harness itself: each peer answers through a raw
 * client, nginx in front of the recording backends shows what it sends, and every stop leaves no
 * process behind. A missing peer skips here and fails under CI=true (see requirePeer).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { type CapturedRequest, captureNginxEnv } from '../support/nginx-env.ts';
import { assertPeerAvailable, processGroupAlive } from '../support/peer-process.ts';
import {
  FCGIWRAP_PATH,
  NGINX_CONF_DIR,
  NGINX_PATH,
  PHP_FPM_PATH,
  requirePeer,
  startFcgiwrap,
  startNginx,
  startPhpFpm,
  startUwsgiPython,
  UWSGI_PATH,
  UWSGI_PYTHON3_PLUGIN,
  writeCgiScript,
} from '../support/peers.ts';
import { getFreePort, makeTempDir, tcpAddress } from '../support/ports.ts';
import { fastcgiRequest, type HeaderList, rawHttpRequest, scgiRequest } from '../support/raw-clients.ts';
import { type EnvList, startFastCgiRecorder, startScgiRecorder } from '../support/recording-backend.ts';

const phpFpm = requirePeer('php-fpm', PHP_FPM_PATH);
const fcgiwrap = requirePeer('fcgiwrap', FCGIWRAP_PATH);
const uwsgi = requirePeer('uwsgi-python3', [UWSGI_PATH, UWSGI_PYTHON3_PLUGIN]);
const nginx = requirePeer('nginx', NGINX_PATH);

/** Every value of `name`, in order (an env may legitimately repeat a name). */
function values(env: EnvList | null, name: string): string[] {
  return (env ?? []).filter(([n]) => n === name).map(([, v]) => v);
}

function only(env: EnvList | null, name: string): string {
  const found = values(env, name);
  assert.equal(found.length, 1, `${name} should appear exactly once in ${JSON.stringify(env)}`);
  return found[0]!;
}

/** A CGI response (head + body) split at the blank line. */
function cgiBody(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  return end < 0 ? text : text.slice(end + 4);
}

async function stopAndCheck(peer: { pid: number; stop(): Promise<void> }): Promise<void> {
  await peer.stop();
  assert.equal(processGroupAlive(peer.pid), false, `process group ${peer.pid} left behind`);
}

async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await makeTempDir(prefix);
  t.after(() => dir.cleanup());
  return dir.path;
}

describe('harness', () => {
  it('getFreePort returns a bindable ephemeral port', async () => {
    const port = await getFreePort();
    assert.ok(port > 0 && port < 65536);
  });

  it('requirePeer skips a missing peer outside CI and does not skip it under CI=true', (t) => {
    const saved = process.env.CI;
    t.after(() => {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    });
    delete process.env.CI;
    const missing = '/nonexistent/portico-peer';
    const local = requirePeer('imaginary-peer', missing);
    assert.equal(local.available, false);
    assert.match(String(local.skip), /imaginary-peer not installed/);
    process.env.CI = 'true';
    const ci = requirePeer('imaginary-peer', missing);
    assert.equal(ci.skip, false, 'under CI a missing peer must fail, not skip');
    assert.throws(() => assertPeerAvailable('imaginary-peer', missing), /imaginary-peer is not available/);
  });

  it('the SCGI recorder records env in order and the body, and answers', async (t) => {
    const rec = await startScgiRecorder({ listen: 'unix' });
    t.after(() => rec.close());
    const next = rec.nextRequest();
    const reply = await scgiRequest(
      rec.address,
      [
        ['REQUEST_METHOD', 'POST'],
        ['X', 'a\xffb'],
      ],
      'hello',
    );
    assert.equal(cgiBody(reply), 'ok');
    assert.deepEqual(rec.requests[0]?.env, [
      ['CONTENT_LENGTH', '5'],
      ['SCGI', '1'],
      ['REQUEST_METHOD', 'POST'],
      ['X', 'a\xffb'],
    ]);
    assert.equal(rec.requests[0]?.body.toString(), 'hello');
    assert.equal(await next, rec.requests[0]);
  });

  it('the FastCGI recorder decodes 1- and 4-byte lengths, STDIN, and answers', async (t) => {
    const rec = await startFastCgiRecorder();
    t.after(() => rec.close());
    const long = 'v'.repeat(300);
    const body = Buffer.alloc(70_000, 0x61); // more than one STDIN record
    const result = await fastcgiRequest(
      rec.address,
      [
        ['A', '1'],
        [`N${'n'.repeat(200)}`, long],
        ['E', ''],
      ],
      body,
    );
    assert.equal(cgiBody(result.stdout), 'ok');
    assert.equal(result.protocolStatus, 0);
    const got = rec.requests[0];
    assert.deepEqual(got?.env, [
      ['A', '1'],
      [`N${'n'.repeat(200)}`, long],
      ['E', ''],
    ]);
    assert.equal(got?.body.length, body.length);
    assert.equal(got?.keepConn, false);
    assert.equal(got?.role, 1);
  });
});

describe('php-fpm', { skip: phpFpm.skip }, () => {
  async function docroot(t: TestContext): Promise<string> {
    const dir = await tempDir(t, 'php-docroot');
    await writeFile(
      join(dir, 'index.php'),
      "<?php header('Content-Type: text/plain'); echo 'php ', $_SERVER['REQUEST_METHOD'], ' ', $_GET['a'] ?? '-', ' ', file_get_contents('php://input');\n",
    );
    return dir;
  }

  const params = (root: string, query: string): HeaderList => [
    ['SCRIPT_FILENAME', join(root, 'index.php')],
    ['SCRIPT_NAME', '/index.php'],
    ['REQUEST_METHOD', 'POST'],
    ['QUERY_STRING', query],
    ['CONTENT_TYPE', 'text/plain'],
    ['CONTENT_LENGTH', '4'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ];

  for (const listen of ['tcp', 'unix'] as const) {
    it(`answers a PHP script over ${listen}`, async (t) => {
      const root = await docroot(t);
      const fpm = await startPhpFpm({ listen, docroot: root, catchWorkersOutput: true });
      t.after(() => fpm.stop());
      assert.match(fpm.address, listen === 'tcp' ? /^127\.0\.0\.1:\d+$/ : /^unix:\//);
      const result = await fastcgiRequest(fpm.address, params(root, 'a=1'), 'body');
      assert.equal(cgiBody(result.stdout), 'php POST 1 body', result.stderr.toString());
      await stopAndCheck(fpm);
    });
  }

  it('serves ping_path and status_path from poolOptions', async (t) => {
    const root = await docroot(t);
    const fpm = await startPhpFpm({
      listen: 'unix',
      docroot: root,
      poolOptions: { pm_max_children: 1, pm_max_requests: 5, ping_path: '/ping', status_path: '/status' },
    });
    t.after(() => fpm.stop());
    const ping = await fastcgiRequest(fpm.address, [
      ['SCRIPT_NAME', '/ping'],
      ['SCRIPT_FILENAME', '/ping'],
      ['REQUEST_METHOD', 'GET'],
    ]);
    assert.equal(cgiBody(ping.stdout), 'pong');
    const status = await fastcgiRequest(fpm.address, [
      ['SCRIPT_NAME', '/status'],
      ['SCRIPT_FILENAME', '/status'],
      ['REQUEST_METHOD', 'GET'],
      ['QUERY_STRING', ''],
    ]);
    assert.match(cgiBody(status.stdout), /process manager:\s+static/);
    await stopAndCheck(fpm);
  });
});

describe('fcgiwrap', { skip: fcgiwrap.skip }, () => {
  for (const listen of ['unix', 'tcp'] as const) {
    it(`runs a shell CGI script over ${listen}`, async (t) => {
      const wrap = await startFcgiwrap({ listen, children: 2 });
      t.after(() => wrap.stop());
      const script = await writeCgiScript(
        wrap.dir,
        'hello.cgi',
        '#!/bin/sh\nprintf "Status: 201 Created\\r\\nContent-Type: text/plain\\r\\n\\r\\n"\nprintf "cgi %s %s" "$REQUEST_METHOD" "$QUERY_STRING"\n',
      );
      const result = await fastcgiRequest(wrap.address, [
        ['SCRIPT_FILENAME', script],
        ['SCRIPT_NAME', '/hello.cgi'],
        ['REQUEST_METHOD', 'GET'],
        ['QUERY_STRING', 'a=1'],
        ['GATEWAY_INTERFACE', 'CGI/1.1'],
      ]);
      assert.match(result.stdout.toString('latin1'), /^Status: 201 Created\r\n/);
      assert.equal(cgiBody(result.stdout), 'cgi GET a=1');
      await stopAndCheck(wrap);
    });
  }
});

describe('uwsgi (python3)', { skip: uwsgi.skip }, () => {
  const WSGI_APP = `def application(environ, start_response):
    body = environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'wsgi ' + environ['REQUEST_METHOD'].encode() + b' ' + environ.get('QUERY_STRING', '').encode() + b' ' + body]
`;
  const env: HeaderList = [
    ['REQUEST_METHOD', 'POST'],
    ['QUERY_STRING', 'a=1'],
    ['PATH_INFO', '/x'],
    ['SCRIPT_NAME', ''],
    ['SERVER_NAME', 'localhost'],
    ['SERVER_PORT', '80'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REQUEST_URI', '/x?a=1'],
  ];

  it('runs a WSGI app over SCGI (tcp)', async (t) => {
    const app = join(await tempDir(t, 'wsgi'), 'app.py');
    await writeFile(app, WSGI_APP);
    const peer = await startUwsgiPython({ protocol: 'scgi', app });
    t.after(() => peer.stop());
    const reply = await scgiRequest(peer.address, env, 'data');
    assert.equal(cgiBody(reply), 'wsgi POST a=1 data', peer.output());
    await stopAndCheck(peer);
  });

  it('runs a WSGI app over FastCGI (unix)', async (t) => {
    const app = join(await tempDir(t, 'wsgi'), 'app.py');
    await writeFile(app, WSGI_APP);
    const peer = await startUwsgiPython({ protocol: 'fastcgi', app, listen: 'unix', processes: 2 });
    t.after(() => peer.stop());
    const result = await fastcgiRequest(peer.address, [['CONTENT_LENGTH', '4'], ...env], 'data');
    assert.equal(cgiBody(result.stdout), 'wsgi POST a=1 data', peer.output());
    await stopAndCheck(peer);
  });
});

describe('nginx (reference)', { skip: nginx.skip }, () => {
  it('in front of the SCGI recorder with include scgi_params: GET /x?a=1', async (t) => {
    const rec = await startScgiRecorder({ listen: 'unix' });
    t.after(() => rec.close());
    const server = await startNginx({
      conf: `server {
    listen 127.0.0.1:{{port}};
    server_name localhost;
    root /srv/portico-test;
    location / {
        scgi_pass ${rec.address};
        include ${NGINX_CONF_DIR}/scgi_params;
    }
}`,
    });
    t.after(() => server.stop());
    const res = await rawHttpRequest(tcpAddress(server.port), { method: 'GET', target: '/x?a=1' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
    const env = rec.requests[0]?.env ?? null;
    // SCGI spec: CONTENT_LENGTH first. nginx generates it; SCGI=1 comes from scgi_params.
    assert.deepEqual(env?.[0], ['CONTENT_LENGTH', '0']);
    assert.equal(only(env, 'SCGI'), '1');
    assert.equal(only(env, 'REQUEST_METHOD'), 'GET');
    assert.equal(only(env, 'QUERY_STRING'), 'a=1');
    assert.equal(only(env, 'REQUEST_URI'), '/x?a=1');
    assert.equal(only(env, 'DOCUMENT_URI'), '/x');
    assert.equal(only(env, 'DOCUMENT_ROOT'), '/srv/portico-test');
    assert.equal(only(env, 'SERVER_PORT'), String(server.port));
    assert.equal(only(env, 'REMOTE_PORT'), String(res.clientPort));
    assert.equal(only(env, 'HTTP_HOST'), 'localhost');
    await stopAndCheck(server);
  });

  it('captureNginxEnv with fastcgi.conf: SCRIPT_FILENAME first, client Host copied (nginx < 1.29.5)', async () => {
    const [get, post] = await captureNginxEnv({
      protocol: 'fastcgi',
      paramsInclude: 'fastcgi.conf',
      requests: [
        { method: 'GET', target: '/x?a=1', headers: [['Host', 'LocalHost:8080']] },
        { method: 'POST', target: '/form.php', headers: { 'Content-Type': 'text/plain' }, body: 'abc' },
      ],
    });
    assert.ok(get && post);
    assert.equal(get.status, 200);
    assert.deepEqual(get.env?.[0], ['SCRIPT_FILENAME', '/srv/portico-test/x']);
    assert.equal(only(get.env, 'QUERY_STRING'), 'a=1');
    assert.equal(only(get.env, 'CONTENT_LENGTH'), '');
    assert.equal(only(get.env, 'GATEWAY_INTERFACE'), 'CGI/1.1');
    assert.equal(only(get.env, 'HTTP_CONNECTION'), 'close');
    const version = /^nginx\/(\d+)\.(\d+)\.(\d+)$/.exec(only(get.env, 'SERVER_SOFTWARE'));
    assert.ok(version, 'fastcgi.conf sends SERVER_SOFTWARE nginx/VERSION');
    const [major, minor, patch] = version.slice(1).map(Number) as [number, number, number];
    if (major * 1e6 + minor * 1e3 + patch < 1_029_005) {
      // fastcgi.conf has no HTTP_HOST param (not even in Debian's patched files): the header is copied raw.
      assert.equal(only(get.env, 'HTTP_HOST'), 'LocalHost:8080');
    }
    assert.equal(only(post.env, 'REQUEST_METHOD'), 'POST');
    assert.equal(only(post.env, 'CONTENT_LENGTH'), '3');
    assert.equal(only(post.env, 'CONTENT_TYPE'), 'text/plain');
    assert.equal(post.body?.toString(), 'abc');
  });

  it('captureNginxEnv with scgi_params minus HTTP_HOST: POST body, and requests nginx refuses', async () => {
    const results: CapturedRequest[] = await captureNginxEnv({
      protocol: 'scgi',
      paramsInclude: `${NGINX_CONF_DIR}/scgi_params`,
      dropParams: ['HTTP_HOST'],
      extraNginxConf: 'scgi_param X_EXTRA extra;',
      requests: [
        { method: 'POST', target: '/p', headers: [['Host', 'example.test']], body: 'hello' },
        // HTTP/1.1 without Host: nginx answers 400 itself, nothing reaches the backend.
        { method: 'GET', target: '/', defaultHeaders: false, headers: [['Connection', 'close']] },
      ],
    });
    const [post, bad] = results;
    assert.ok(post && bad);
    assert.deepEqual(post.env?.[0], ['CONTENT_LENGTH', '5']);
    assert.equal(post.body?.toString(), 'hello');
    assert.equal(only(post.env, 'X_EXTRA'), 'extra');
    assert.equal(only(post.env, 'HTTP_HOST'), 'example.test');
    assert.equal(bad.status, 400);
    assert.equal(bad.env, null);
    assert.equal(bad.recorded.length, 0);
  });

  it('in front of php-fpm with fastcgi.conf serves a PHP script end to end', {
    skip: phpFpm.skip,
  }, async (t) => {
    const root = await tempDir(t, 'php-docroot');
    await writeFile(join(root, 'env.php'), "<?php echo $_SERVER['SCRIPT_NAME'], ' ', $_GET['a'];\n");
    const fpm = await startPhpFpm({ listen: 'unix', docroot: root });
    t.after(() => fpm.stop());
    const server = await startNginx({
      conf: `server {
    listen 127.0.0.1:{{port}};
    root ${root};
    location ~ \\.php$ {
        include ${NGINX_CONF_DIR}/fastcgi.conf;
        fastcgi_pass ${fpm.address};
    }
}`,
    });
    t.after(() => server.stop());
    const res = await rawHttpRequest(tcpAddress(server.port), { method: 'GET', target: '/env.php?a=42' });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.body.toString(), '/env.php 42');
    await stopAndCheck(server);
    await stopAndCheck(fpm);
  });
});
