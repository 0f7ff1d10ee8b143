/**
 * Active health checks through the gateway: probes in the member's own protocol take a member
 * out after `fails` bad answers and put it back after `passes` good ones, with the transitions
 * in the error log; request probes (status and body), FastCGI GET_VALUES and TCP probes; real
 * php-fpm's ping.path; and no probe after the gateway closed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { MemberSnapshot } from '../../src/balancer/group.ts';
import { createFastCgiServer, type FastCgiServer } from '../../src/backend/index.ts';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { getFreePort, makeTempDir, type TempDir } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';

/** A FastCGI app whose /health answer the test switches; other paths answer its name. */
class App {
  healthy = true;
  probes = 0;
  server!: FastCgiServer;
  address = '';
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }

  async start(): Promise<void> {
    this.server = createFastCgiServer((req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      if (req.env.SCRIPT_NAME === '/health') {
        this.probes++;
        res.statusCode = this.healthy ? 200 : 503;
        res.end(this.healthy ? 'all good' : 'sick');
        return;
      }
      res.end(this.name);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.address = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(what(), 'condition never held');
}

function member(gw: TestGateway, group: string, index: number): MemberSnapshot {
  const m = gw.upstreams().find((g) => g.name === group)?.members[index];
  assert.ok(m !== undefined);
  return m;
}

describe('request probes take a member out and put it back', () => {
  const a = new App('a');
  const b = new App('b');
  let gw: TestGateway;

  before(async () => {
    await a.start();
    await b.start();
    gw = await startTestGateway({
      upstreams: {
        app: {
          protocol: 'fastcgi',
          health_check: {
            uri: '/health',
            interval: '100ms',
            timeout: '100ms',
            fails: 2,
            passes: 2,
            body: 'good',
          },
          servers: [{ address: a.address }, { address: b.address }],
        },
      },
      locations: [{ match: '/', fastcgi: { pass: 'app' } }],
    });
  });

  after(async () => {
    await gw?.close();
    a.close();
    b.close();
  });

  async function names(n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await httpRequest(gw.url, { path: `/r${i}` })).body.toString());
    return out;
  }

  it('both healthy: both take requests', async () => {
    await until(() => member(gw, 'app', 0).checkPasses >= 1 && member(gw, 'app', 1).checkPasses >= 1);
    assert.deepEqual([...new Set(await names(4))].sort(), ['a', 'b']);
  });

  it('a failing its checks: taken out (logged with the reason), requests go to b', async () => {
    a.healthy = false;
    await until(() => member(gw, 'app', 0).health === 'unhealthy');
    assert.deepEqual([...new Set(await names(6))], ['b']);
    const m = member(gw, 'app', 0);
    assert.equal(m.state, 'failed');
    assert.equal(m.lastCheckError, 'status 503');
    assert.ok(
      gw.log.lines.some(
        (l) =>
          l.level === 'warn' &&
          /server 127\.0\.0\.1:\d+: health check failed \(status 503\), taken out/.test(l.message),
      ),
    );
  });

  it('a passing again: back in rotation after `passes` good checks (logged)', async () => {
    a.healthy = true;
    await until(() => member(gw, 'app', 0).health === 'healthy');
    assert.ok(member(gw, 'app', 0).checkPasses >= 2);
    assert.deepEqual([...new Set(await names(4))].sort(), ['a', 'b']);
    assert.ok(gw.log.lines.some((l) => l.level === 'notice' && /back in rotation/.test(l.message)));
  });

  it('no probe once the gateway is closed', async () => {
    await gw.close();
    const seen = a.probes + b.probes;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(a.probes + b.probes, seen);
  });
});

describe('get_values and tcp probes', () => {
  const good = new App('good');
  let silent: Server;
  let silentAddress = '';
  let deadPort = 0;
  let gw: TestGateway;

  before(async () => {
    await good.start();
    // Accepts and closes at once: not a FastCGI server.
    silent = createServer((s) => s.destroy());
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    silentAddress = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    deadPort = await getFreePort();
    const check = (type: string) => ({ type, interval: '100ms', timeout: '100ms' });
    gw = await startTestGateway({
      upstreams: {
        values: {
          protocol: 'fastcgi',
          health_check: check('get_values'),
          servers: [{ address: good.address }, { address: silentAddress }],
        },
        tcp: {
          protocol: 'scgi',
          health_check: check('tcp'),
          servers: [{ address: `127.0.0.1:${deadPort}` }, { address: silentAddress }],
        },
      },
      locations: [
        { match: '/values/', fastcgi: { pass: 'values' } },
        { match: '/tcp/', scgi: { pass: 'tcp' } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    good.close();
    silent.close();
  });

  it('get_values: the FastCGI server passes, a socket that hangs up fails', async () => {
    await until(
      () => member(gw, 'values', 0).checkPasses >= 1 && member(gw, 'values', 1).health === 'unhealthy',
    );
    assert.equal(member(gw, 'values', 0).health, 'healthy');
    for (let i = 0; i < 3; i++)
      assert.equal((await httpRequest(gw.url, { path: `/values/${i}` })).body.toString(), 'good');
  });

  it('tcp: a port nobody listens on fails, a listening one passes', async () => {
    await until(() => member(gw, 'tcp', 0).health === 'unhealthy' && member(gw, 'tcp', 1).checkPasses >= 1);
    assert.match(member(gw, 'tcp', 0).lastCheckError, /ECONNREFUSED/);
    assert.equal(member(gw, 'tcp', 1).health, 'healthy');
  });
});

const phpFpm = requirePeer('php-fpm', PHP_FPM_PATH);

describe('php-fpm ping.path as the health check', { skip: phpFpm.skip }, () => {
  let docroot: TempDir;
  let fpm: PhpFpm;
  let gw: TestGateway;

  before(async () => {
    docroot = await makeTempDir('hc-php');
    fpm = await startPhpFpm({ listen: 'tcp', docroot: docroot.path, poolOptions: { ping_path: '/ping' } });
    const check = (body: string) => ({ uri: '/ping', body, interval: '100ms', timeout: '100ms' });
    gw = await startTestGateway({
      upstreams: {
        pong: { protocol: 'fastcgi', health_check: check('pong'), servers: [{ address: fpm.address }] },
        pang: { protocol: 'fastcgi', health_check: check('pang'), servers: [{ address: fpm.address }] },
      },
      locations: [{ match: '/', fastcgi: { pass: 'pong' } }],
    });
  });

  after(async () => {
    await gw?.close();
    await fpm?.stop();
    await docroot?.cleanup();
  });

  it('"pong" passes; a wrong expectation fails with the reason; a stopped pool fails', async () => {
    await until(() => member(gw, 'pong', 0).checkPasses >= 1 && member(gw, 'pang', 0).health === 'unhealthy');
    assert.equal(member(gw, 'pong', 0).health, 'healthy');
    assert.equal(member(gw, 'pang', 0).lastCheckError, 'body does not contain "pang"');
    await fpm.stop();
    await until(() => member(gw, 'pong', 0).health === 'unhealthy');
  });
});
