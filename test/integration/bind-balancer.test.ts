/**
 * Outgoing source address (nginx `*_bind`, httpd ProxySourceAddress), httpd `balancer://NAME`
 * URLs on proxy_pass (a group from `upstreams`), and httpd `enablereuse` (FastCGI connection
 * reuse on a ProxyPass worker, off by default as in mod_proxy_fcgi).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createFastCgiServer, type FastCgiServer } from '../../src/backend/index.ts';
import { getFreePort } from '../support/ports.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import {
  type ScriptedBackend,
  type ScriptedExchange,
  startScriptedBackend,
} from './support/scripted-backend.ts';

const HEAD = 'Status: 200 OK\r\nContent-Type: text/plain\r\n';

/** Answers with the peer address the backend saw and two env values. */
function whoAmI(tag: string) {
  return (ex: ScriptedExchange): void => {
    ex.stdout(
      `${HEAD}\r\n${tag} ${ex.socket.remoteAddress} ${ex.get('SCRIPT_FILENAME') ?? '-'} ${ex.get('REQUEST_URI')}`,
    );
    ex.end();
  };
}

describe('bind / bind', () => {
  const backends: ScriptedBackend[] = [];
  let gw: TestGateway;

  before(async () => {
    const scgi = await startScriptedBackend('scgi', whoAmI('scgi'));
    const fcgi = await startScriptedBackend('fastcgi', whoAmI('fcgi'));
    backends.push(scgi, fcgi);
    gw = await startTestGateway({
      locations: [
        { match: '/scgi-bound/', scgi: { pass: scgi.address, bind: '127.0.0.2' } },
        { match: '/fcgi-bound/', fastcgi: { pass: fcgi.address, bind: '127.0.0.3' } },
        { match: '/fcgi-off/', fastcgi: { pass: fcgi.address, bind: 'off' } },
      ],
      proxy_pass: [{ path: '/apache/', url: `fcgi://${fcgi.address}/srv/`, bind: '127.0.0.4' }],
    });
  });

  after(async () => {
    await gw?.close();
    for (const b of backends) await b.close();
  });

  for (const [path, source] of [
    ['/scgi-bound/x', '127.0.0.2'],
    ['/fcgi-bound/x', '127.0.0.3'],
    ['/apache/x', '127.0.0.4'],
    ['/fcgi-off/x', '127.0.0.1'],
  ] as const) {
    it(`${path}: the backend sees the connection from ${source}`, async () => {
      const res = await httpRequest(gw.url, { path });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString().split(' ')[1], source);
    });
  }

  it('a bind address that is not an IP is a config error', async () => {
    await assert.rejects(
      startTestGateway({ locations: [{ match: '/', scgi: { pass: '127.0.0.1:9', bind: 'localhost' } }] }),
      /locations\[0\]\.scgi\.bind: bind must be an IP address or off/,
    );
  });
});

describe('proxy_pass balancer://NAME', () => {
  let a: ScriptedBackend;
  let b: ScriptedBackend;
  let gw: TestGateway;
  let downPort: number;

  before(async () => {
    a = await startScriptedBackend('fastcgi', whoAmI('a'));
    b = await startScriptedBackend('fastcgi', whoAmI('b'));
    downPort = await getFreePort();
    gw = await startTestGateway({
      upstreams: {
        cluster: { protocol: 'fastcgi', servers: [{ address: a.address }, { address: b.address }] },
        // Named by `localhost` (the system resolver, /etc/hosts), bound by the location below.
        local: { protocol: 'fastcgi', servers: [{ address: `localhost:${a.address.split(':')[1]}` }] },
        halfdown: {
          protocol: 'fastcgi',
          servers: [{ address: `127.0.0.1:${downPort}` }, { address: b.address }],
        },
      },
      locations: [
        { match: '/bound-group/', fastcgi: { pass: 'cluster', bind: '127.0.0.2' } },
        { match: '/local/', fastcgi: { pass: 'local' } },
      ],
      proxy_pass: [
        { path: '/app/', url: 'balancer://cluster/srv/' },
        { path: '/bound-balancer/', url: 'balancer://cluster/srv/', bind: '127.0.0.3' },
        { path: '/generic/', url: 'balancer://cluster/srv/', backend_type: 'GENERIC' },
        { path: '/failover/', url: 'balancer://halfdown/srv/' },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await a?.close();
    await b?.close();
  });

  it('requests are spread over the group; the URL path maps as ProxyPass does', async () => {
    const tags: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await httpRequest(gw.url, { path: `/app/index.php?i=${i}` });
      assert.equal(res.status, 200);
      const [tag, , filename] = res.body.toString().split(' ');
      tags.push(tag as string);
      // FPM form names the group, as httpd's proxy:balancer:// (php-fpm strips it).
      assert.equal(filename, 'proxy:balancer://cluster/srv/index.php');
    }
    assert.deepEqual(tags.sort(), ['a', 'a', 'b', 'b']);
  });

  it('GENERIC: SCRIPT_FILENAME is the plain path', async () => {
    const res = await httpRequest(gw.url, { path: '/generic/x.php' });
    assert.equal(res.body.toString().split(' ')[2], '/srv/x.php');
  });

  it('a member that refuses the connection: another member answers', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await httpRequest(gw.url, { path: `/failover/${i}` });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString().split(' ')[0], 'b');
    }
  });

  it('bind applies to every member of a group, from a location and from proxy_pass', async () => {
    for (let i = 0; i < 4; i++) {
      const loc = await httpRequest(gw.url, { path: `/bound-group/${i}` });
      assert.equal(loc.status, 200);
      assert.equal(loc.body.toString().split(' ')[1], '127.0.0.2');
      const pp = await httpRequest(gw.url, { path: `/bound-balancer/${i}` });
      assert.equal(pp.status, 200);
      assert.equal(pp.body.toString().split(' ')[1], '127.0.0.3');
    }
  });

  it('a member named localhost is found through the system resolver', async () => {
    const res = await httpRequest(gw.url, { path: '/local/x' });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.body.toString().split(' ')[0], 'a');
  });

  it('an unknown balancer is a config error naming the key', async () => {
    await assert.rejects(
      startTestGateway({ proxy_pass: [{ path: '/x/', url: 'balancer://nope/' }] }),
      /proxy_pass\[0\]\.url: unknown balancer "nope"/,
    );
  });
});

describe('proxy_pass enablereuse', () => {
  let backend: FastCgiServer;
  let connections = 0;
  let gw: TestGateway;

  before(async () => {
    backend = createFastCgiServer((req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.end(String(req.env.REQUEST_URI));
    });
    backend.on('connection', (_socket: Socket) => {
      connections++;
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const address = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gw = await startTestGateway({
      proxy_pass: [
        { path: '/reuse/', url: `fcgi://${address}/`, enablereuse: true },
        { path: '/noreuse/', url: `fcgi://${address}/` },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    backend.closeAllConnections();
    backend.close();
  });

  it('off (httpd default): a connection per request', async () => {
    const before = connections;
    for (let i = 0; i < 4; i++)
      assert.equal((await httpRequest(gw.url, { path: `/noreuse/${i}` })).status, 200);
    assert.equal(connections - before, 4);
  });

  it('on: sequential requests share one kept connection', async () => {
    const before = connections;
    for (let i = 0; i < 6; i++) {
      const res = await httpRequest(gw.url, { path: `/reuse/${i}` });
      assert.equal(res.body.toString(), `/reuse/${i}`);
    }
    assert.equal(connections - before, 1);
  });
});
