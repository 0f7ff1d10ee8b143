/**
 * Upstream servers given by host name: every address is used in turn, a dead address is
 * passed over within the same connect, and `resolve: true` looks the name up again so a
 * changed record takes effect without a restart (nginx `server NAME resolve`). The names are
 * served by an injected lookup (the gateway's `lookup` option); the backends are Portico's own
 * FastCGI servers on 127.0.0.1 and 127.0.0.2, same port, each answering with its address.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createFastCgiServer, type FastCgiServer } from '../../src/backend/index.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';

/** A FastCGI server answering with the address it listens on. */
function addressServer(address: string): FastCgiServer {
  return createFastCgiServer((_req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(address);
  });
}

describe('upstream servers by host name', () => {
  const servers: FastCgiServer[] = [];
  let port = 0;
  let gw: TestGateway;
  /** What `dyn.test` resolves to; the test changes it. */
  let dynamic: readonly string[] | Error = ['127.0.0.1'];

  before(async () => {
    const one = addressServer('127.0.0.1');
    one.listen(0, '127.0.0.1');
    await once(one, 'listening');
    port = (one.address() as AddressInfo).port;
    const two = addressServer('127.0.0.2');
    two.listen(port, '127.0.0.2');
    await once(two, 'listening');
    servers.push(one, two);
    const lookup = async (host: string): Promise<readonly string[]> => {
      if (host === 'both.test') return ['127.0.0.1', '127.0.0.2'];
      if (host === 'half.test') return ['127.0.0.3', '127.0.0.1'];
      if (host === 'dyn.test') {
        if (dynamic instanceof Error) throw dynamic;
        return dynamic;
      }
      throw Object.assign(new Error(`no such host ${host}`), { code: 'ENOTFOUND' });
    };
    gw = await startTestGateway(
      {
        upstreams: {
          both: { protocol: 'fastcgi', servers: [{ address: `both.test:${port}` }] },
          half: { protocol: 'fastcgi', servers: [{ address: `half.test:${port}` }] },
          dyn: {
            protocol: 'fastcgi',
            resolve_interval: '5ms',
            servers: [{ address: `dyn.test:${port}`, resolve: true }],
          },
          none: { protocol: 'fastcgi', servers: [{ address: `none.test:${port}` }] },
        },
        locations: ['both', 'half', 'dyn', 'none'].map((name) => ({
          match: `/${name}/`,
          fastcgi: { pass: name },
        })),
      },
      { lookup },
    );
  });

  after(async () => {
    await gw?.close();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });

  /** The address of the backend that answered. */
  async function servedBy(path: string): Promise<string> {
    const res = await httpRequest(gw.url, { path });
    assert.equal(res.status, 200, res.body.toString());
    return res.body.toString();
  }

  it('every address of the name takes requests in turn', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push(await servedBy(`/both/${i}`));
    assert.deepEqual(seen, ['127.0.0.1', '127.0.0.2', '127.0.0.1', '127.0.0.2']);
  });

  it('an address that refuses is passed over within the connect: no client error', async () => {
    for (let i = 0; i < 4; i++) assert.equal(await servedBy(`/half/${i}`), '127.0.0.1');
  });

  it('resolve: a changed record is used without a restart; a failed lookup keeps the last set', async () => {
    assert.equal(await servedBy('/dyn/a'), '127.0.0.1');
    dynamic = ['127.0.0.2'];
    let answer = '';
    for (let i = 0; i < 500 && answer !== '127.0.0.2'; i++) {
      answer = await servedBy(`/dyn/b${i}`);
      if (answer !== '127.0.0.2') await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(answer, '127.0.0.2');
    dynamic = Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' });
    while (
      !gw.log.lines.some((l) =>
        /could not resolve "dyn.test" \(ESERVFAIL\), keeping 127.0.0.2/.test(l.message),
      )
    ) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await servedBy('/dyn/c'), '127.0.0.2');
    assert.ok(
      gw.log.lines.some((l) => /"dyn.test" now resolves to 127.0.0.2 \(was 127.0.0.1\)/.test(l.message)),
    );
  });

  it('a name that does not resolve: 502 with the reason in the error log', async () => {
    const res = await httpRequest(gw.url, { path: '/none/x' });
    assert.equal(res.status, 502);
    assert.ok(gw.log.lines.some((l) => /host "none.test" could not be resolved/.test(l.message)));
  });
});
