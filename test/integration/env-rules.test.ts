/**
 * Environment rules through the gateway: set_env_if (Apache ProxyFCGISetEnvIf, for SCGI and
 * FastCGI locations and proxy_pass rules alike) and fastcgi catch_stderr (nginx: a stderr line
 * matching before the head makes the response invalid, 502 or the next server).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type TempDir } from '../support/ports.ts';
import { logLines, showLog, startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import {
  type ScriptedBackend,
  type ScriptedExchange,
  startScriptedBackend,
} from './support/scripted-backend.ts';

const HEAD = 'Status: 200 OK\r\nContent-Type: text/plain\r\n';

/** Answers with the env as `NAME=value` lines. */
function echoEnv(ex: ScriptedExchange): void {
  ex.stdout(`${HEAD}\r\n${ex.env.map(([n, v]) => `${n}=${v}`).join('\n')}\n`);
  ex.end();
}

function envOf(body: Buffer): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of body.toString('latin1').split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const name = line.slice(0, eq);
    out.set(name, [...(out.get(name) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

const RULES = [
  { if: 'true', set: 'FIXED', value: '/example' },
  { if: "reqenv('REQUEST_URI') =~ m|^/rules/(\\w+)/(\\d+)|", set: 'ROUTE', value: '$1-$2 %{QUERY_STRING}' },
  { if: '-n %{HTTP_X_DROP}', set: '!QUERY_STRING' },
  { if: 'false', set: '!REQUEST_METHOD' },
  { if: '%{HTTP_X_NUMBER} -gt 0', set: 'POSITIVE' },
];

for (const protocol of ['scgi', 'fastcgi'] as const) {
  describe(`set_env_if with ${protocol}`, () => {
    let root: TempDir;
    let backend: ScriptedBackend;
    let gw: TestGateway;

    before(async () => {
      root = await makeTempDir('env-rules');
      backend = await startScriptedBackend(protocol, echoEnv);
      gw = await startTestGateway({
        root: root.path,
        locations: [{ match: '/rules/', [protocol]: { pass: backend.address, set_env_if: RULES } }],
        proxy_pass: [
          {
            path: '/apache/',
            url: `${protocol === 'scgi' ? 'scgi' : 'fcgi'}://${backend.address}/srv/`,
            set_env_if: [
              {
                if: "reqenv('SCRIPT_FILENAME') =~ m#^proxy:\\w+://[^/]+(/.*)$#",
                set: 'SCRIPT_FILENAME',
                value: '$1',
              },
            ],
          },
        ],
      });
    });

    after(async () => {
      await gw?.close();
      await backend?.close();
      await root?.cleanup();
    });

    it('sets, overrides and unsets as the rules say, with captures', async () => {
      const res = await httpRequest(gw.url, {
        path: '/rules/page/42?x=1',
        headers: { 'x-drop': 'yes', 'x-number': '7' },
      });
      assert.equal(res.status, 200);
      const env = envOf(res.body);
      assert.deepEqual(env.get('FIXED'), ['/example']);
      assert.deepEqual(env.get('ROUTE'), ['page-42 x=1']);
      assert.equal(env.has('QUERY_STRING'), false);
      assert.deepEqual(env.get('REQUEST_METHOD'), ['GET']);
      // Set without a value: sent, empty.
      assert.deepEqual(env.get('POSITIVE'), ['']);
    });

    it('rules whose condition is false leave the environment alone', async () => {
      const res = await httpRequest(gw.url, { path: '/rules/other?y=2', headers: { 'x-number': '-1' } });
      const env = envOf(res.body);
      assert.equal(env.has('ROUTE'), false);
      assert.equal(env.has('POSITIVE'), false);
      assert.deepEqual(env.get('QUERY_STRING'), ['y=2']);
    });

    it('a condition that cannot be evaluated is a 503, the backend never asked', async () => {
      const before = backend.exchanges.length;
      const res = await httpRequest(gw.url, { path: '/rules/x', headers: { 'x-number': 'many' } });
      assert.equal(res.status, 503);
      assert.equal(backend.exchanges.length, before);
      assert.equal(
        logLines(gw.log, 'error', /set_env_if condition for POSITIVE failed/).length,
        1,
        showLog(gw.log),
      );
    });

    it('proxy_pass rules rewrite the httpd environment (SCRIPT_FILENAME without proxy:)', async () => {
      const res = await httpRequest(gw.url, { path: '/apache/index.php' });
      assert.deepEqual(envOf(res.body).get('SCRIPT_FILENAME'), ['/srv/index.php']);
    });
  });
}

describe('fastcgi catch_stderr', () => {
  let root: TempDir;
  let bad: ScriptedBackend;
  let good: ScriptedBackend;
  let gw: TestGateway;
  let script: (ex: ScriptedExchange) => void = (ex) => ex.end();

  before(async () => {
    root = await makeTempDir('catch-stderr');
    bad = await startScriptedBackend('fastcgi', (ex) => script(ex));
    good = await startScriptedBackend('fastcgi', (ex) => {
      ex.stdout(`${HEAD}\r\nfrom the second server`);
      ex.end();
    });
    gw = await startTestGateway({
      root: root.path,
      upstreams: {
        pair: {
          protocol: 'fastcgi',
          servers: [{ address: bad.address }, { address: good.address, backup: true }],
        },
      },
      locations: [
        { match: '/one/', fastcgi: { pass: bad.address, catch_stderr: ['PHP Fatal error'] } },
        {
          match: '/next/',
          fastcgi: { pass: 'pair', catch_stderr: ['PHP Fatal error'], next_upstream: ['invalid_header'] },
        },
        { match: '/plain/', fastcgi: { pass: bad.address } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await bad?.close();
    await good?.close();
    await root?.cleanup();
  });

  const fatalThenHead = (ex: ScriptedExchange): void => {
    // php-fpm's form: one STDERR record, no newline, then the page PHP printed anyway.
    ex.stderr('PHP message: PHP Fatal error:  Uncaught Error in /srv/index.php:3');
    ex.stdout(`${HEAD}\r\nhalf a page`);
    ex.end();
  };

  it('a matching stderr line before the head is a 502 with the reason logged', async () => {
    script = fatalThenHead;
    const res = await httpRequest(gw.url, { path: '/one/x' });
    assert.equal(res.status, 502);
    assert.doesNotMatch(res.body.toString(), /half a page/);
    assert.equal(logLines(gw.log, 'error', /matched catch_stderr/).length >= 1, true, showLog(gw.log));
  });

  it('is invalid_header for next_upstream: the next server answers', async () => {
    script = fatalThenHead;
    const res = await httpRequest(gw.url, { path: '/next/x' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'from the second server');
  });

  it('after the head, a matching line is only logged', async () => {
    script = (ex) => {
      ex.stdout(`${HEAD}\r\nstarted`);
      ex.stderr('PHP Fatal error: late\n');
      ex.stdout(' and finished');
      ex.end();
    };
    const res = await httpRequest(gw.url, { path: '/one/late' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'started and finished');
  });

  it('without catch_stderr the same answer passes', async () => {
    script = fatalThenHead;
    const res = await httpRequest(gw.url, { path: '/plain/x' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'half a page');
  });
});
