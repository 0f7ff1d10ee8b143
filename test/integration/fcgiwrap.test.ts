/**
 * Portico in front of a real fcgiwrap running a shell CGI script: the environment the script
 * sees, a POST body on its stdin, and (fcgiwrap -f) its stderr in Portico's error log.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  type Fcgiwrap,
  FCGIWRAP_PATH,
  requirePeer,
  startFcgiwrap,
  writeCgiScript,
} from '../support/peers.ts';
import { logLines, showLog, startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';

const fcgiwrap = requirePeer('fcgiwrap', FCGIWRAP_PATH);

/** Prints a few variables one per line as NAME=VALUE, then the body it read from stdin. */
const ENV_SCRIPT = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\nX-Script: env\\r\\n\\r\\n'
for name in REQUEST_METHOD QUERY_STRING REQUEST_URI DOCUMENT_URI SCRIPT_NAME SCRIPT_FILENAME \\
  CONTENT_LENGTH CONTENT_TYPE GATEWAY_INTERFACE SERVER_PROTOCOL HTTP_X_PORTICO_TEST HTTP_PROXY; do
  eval "value=\\\${$name-UNSET}"
  printf '%s=%s\\n' "$name" "$value"
done
printf -- '--body--\\n'
head -c "\${CONTENT_LENGTH:-0}"
`;

const STDERR_SCRIPT = `#!/bin/sh
echo "cgi-stderr-marker $QUERY_STRING" >&2
printf 'Content-Type: text/plain\\r\\n\\r\\ndone\\n'
`;

function parseEnv(text: string): { env: Record<string, string>; body: string } {
  const [head = '', body = ''] = text.split('--body--\n');
  const env: Record<string, string> = {};
  for (const line of head.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return { env, body };
}

describe('fcgiwrap running a shell CGI script through Portico', { skip: fcgiwrap.skip }, () => {
  let wrap: Fcgiwrap;
  let gw: TestGateway;

  before(async () => {
    wrap = await startFcgiwrap({ listen: 'unix', stderrOverFastcgi: true });
    await writeCgiScript(wrap.dir, 'env.cgi', ENV_SCRIPT);
    await writeCgiScript(wrap.dir, 'stderr.cgi', STDERR_SCRIPT);
    gw = await startTestGateway({
      root: wrap.dir,
      locations: [{ match: '~ \\.cgi$', fastcgi: { pass: wrap.address } }],
    });
  });

  after(async () => {
    await gw?.close();
    await wrap?.stop();
  });

  it('GET: the script sees the CGI environment (fastcgi.conf), not the Proxy header', async () => {
    const res = await httpRequest(gw.url, {
      path: '/env.cgi?a=%20b&c',
      headers: { 'X-Portico-Test': 'hello', Proxy: 'http://attacker.example/' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-script'], 'env');
    const { env, body } = parseEnv(res.body.toString('latin1'));
    assert.equal(env.REQUEST_METHOD, 'GET');
    assert.equal(env.QUERY_STRING, 'a=%20b&c');
    assert.equal(env.REQUEST_URI, '/env.cgi?a=%20b&c');
    assert.equal(env.DOCUMENT_URI, '/env.cgi');
    assert.equal(env.SCRIPT_NAME, '/env.cgi');
    assert.equal(env.SCRIPT_FILENAME, `${wrap.dir}/env.cgi`);
    assert.equal(env.GATEWAY_INTERFACE, 'CGI/1.1');
    assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.equal(env.HTTP_X_PORTICO_TEST, 'hello');
    assert.equal(env.HTTP_PROXY, 'UNSET');
    assert.equal(body, '');
  });

  it('POST: the body reaches the script on stdin, CONTENT_LENGTH and CONTENT_TYPE set', async () => {
    const data = `${randomBytes(40_000).toString('hex')}\nend`;
    const res = await httpRequest(gw.url, {
      method: 'POST',
      path: '/env.cgi',
      headers: { 'Content-Type': 'text/plain' },
      body: data,
    });
    assert.equal(res.status, 200);
    const { env, body } = parseEnv(res.body.toString('latin1'));
    assert.equal(env.REQUEST_METHOD, 'POST');
    assert.equal(env.CONTENT_LENGTH, String(data.length));
    assert.equal(env.CONTENT_TYPE, 'text/plain');
    assert.equal(body, data);
  });

  it('a chunked POST reaches the script whole, with its CONTENT_LENGTH', async () => {
    const parts = ['one,', 'two,', 'three'].map((s) => Buffer.from(s));
    const res = await httpRequest(gw.url, { method: 'POST', path: '/env.cgi', chunks: parts });
    assert.equal(res.status, 200);
    const { env, body } = parseEnv(res.body.toString('latin1'));
    assert.equal(env.CONTENT_LENGTH, '13');
    assert.equal(body, 'one,two,three');
  });

  it("the script's stderr (fcgiwrap -f: FCGI_STDERR) is in the error log with request id and backend", async () => {
    const marker = randomBytes(6).toString('hex');
    const res = await httpRequest(gw.url, { path: `/stderr.cgi?${marker}` });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'done\n');
    const lines = logLines(gw.log, 'error', new RegExp(`cgi-stderr-marker ${marker}`));
    assert.equal(lines.length, 1, showLog(gw.log));
    assert.equal(lines[0]!.message, `FastCGI sent in stderr: "cgi-stderr-marker ${marker}"`);
    assert.match(String(lines[0]!.fields?.requestId), /^[0-9a-f]{32}$/);
    assert.equal(lines[0]!.fields?.backend, wrap.address);
  });
});
