/**
 * Upstream groups through the real gateway, with nginx's retry semantics (semantics.md C.1.7,
 * C.1.8): every next_upstream condition retried when listed and passed on when not, the limits
 * (tries, timeout, non-idempotent methods, a streamed body, response bytes already sent),
 * backups, a failed member's fail_timeout, smooth weighted round robin and ip_hash, the access
 * log's list of attempts and the members' counters.
 *
 * Most groups put the misbehaving member first and the good one as a `backup`: the first try
 * always goes to the primary and the retry to the backup, whatever the balancing credit.
 * Durations are short (300ms); no test asserts on time, they wait for events.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request as httpRequestRaw } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { parseConfigObject } from '../../src/config/load.ts';
import { MemoryLogger } from '../../src/observability/logger.ts';
import { RequestHandler } from '../../src/proxy/handler.ts';
import { createFront, drain, listen } from '../../src/server/listeners.ts';
import { compileRuntime } from '../../src/server/runtime.ts';
import { upstreamSnapshot } from '../../src/server/upstreams.ts';
import { getFreePort, makeTempDir, type TempDir } from '../support/ports.ts';
import { logLines, showLog, startTestGateway, type TestGateway } from './support/gateway.ts';
import { httpRequest } from './support/http.ts';
import {
  type ScriptedBackend,
  type ScriptedExchange,
  startScriptedBackend,
} from './support/scripted-backend.ts';

type Script = (ex: ScriptedExchange) => void | Promise<void>;

/** A backend whose behaviour a test can change, answering with its name by default. */
interface Member {
  readonly name: string;
  readonly backend: ScriptedBackend;
  readonly address: string;
  script: Script;
}

function answer(name: string, status = 200, extra = ''): Script {
  return (ex) => {
    ex.stdout(`Status: ${status}\r\nContent-Type: text/plain\r\nX-Backend: ${name}\r\n\r\n${name}${extra}`);
    ex.end();
  };
}

/** Echoes the request body, so a replayed body can be checked. */
function echo(name: string): Script {
  return (ex) => {
    ex.stdout(
      `Status: 200\r\nContent-Type: text/plain\r\nX-Backend: ${name}\r\n\r\n${ex.body.toString('latin1')}`,
    );
    ex.end();
  };
}

/** Closes the connection once the whole request arrived: no response head (`error`). */
const hangUp: Script = (ex) => ex.destroy();
/** Never answers (`timeout`, with a short read_timeout). */
const silent: Script = () => {};
/** An invalid response head (`invalid_header`). */
const badHead: Script = (ex) => {
  ex.stdout('Status: abc\r\nContent-Type: text/plain\r\n\r\nbody');
  ex.end();
};

async function member(protocol: 'scgi' | 'fastcgi', name: string): Promise<Member> {
  const m: Partial<Member> & { script: Script } = { name, script: answer(name) };
  const backend = await startScriptedBackend(protocol, (ex) => m.script(ex));
  return Object.assign(m, { backend, address: backend.address }) as Member;
}

function exchanges(...members: Member[]): number[] {
  return members.map((m) => m.backend.exchanges.length);
}

const ALL_CONDITIONS = [
  'error',
  'timeout',
  'invalid_header',
  'http_500',
  'http_502',
  'http_503',
  'http_504',
  'http_403',
  'http_404',
  'http_429',
] as const;
type Condition = (typeof ALL_CONDITIONS)[number];

/** What the first member does to provoke `condition`, and what the client sees when it is not retried. */
function provoke(condition: Condition, name: string): { script: Script; status: number } {
  if (condition === 'error') return { script: hangUp, status: 502 };
  if (condition === 'timeout') return { script: silent, status: 504 };
  if (condition === 'invalid_header') return { script: badHead, status: 502 };
  const status = Number(condition.slice(5));
  return { script: answer(name, status), status };
}

describe('next_upstream: each condition is retried when listed, passed on when not', () => {
  let primary: Member;
  let backup: Member;
  let gw: TestGateway;
  const only = (c: string) => `/only-${c}/`;
  const allBut = (c: string) => `/all-but-${c}/`;

  before(async () => {
    primary = await member('fastcgi', 'A');
    backup = await member('fastcgi', 'B');
    const locations: Record<string, unknown>[] = [];
    for (const c of ALL_CONDITIONS) {
      const common = { pass: 'pair', read_timeout: '300ms' };
      locations.push({ match: only(c), fastcgi: { ...common, next_upstream: [c] } });
      locations.push({
        match: allBut(c),
        fastcgi: { ...common, next_upstream: ALL_CONDITIONS.filter((x) => x !== c) },
      });
    }
    locations.push({ match: '/off/', fastcgi: { pass: 'pair', next_upstream: 'off' } });
    gw = await startTestGateway({
      upstreams: {
        pair: {
          protocol: 'fastcgi',
          servers: [
            { address: primary.address, max_fails: 0 },
            { address: backup.address, backup: true, max_fails: 0 },
          ],
        },
      },
      locations,
    });
  });

  after(async () => {
    await gw?.close();
    await primary?.backend.close();
    await backup?.backend.close();
  });

  for (const c of ALL_CONDITIONS) {
    it(`${c}: listed -> the backup answers`, async () => {
      primary.script = provoke(c, 'A').script;
      const before = exchanges(primary, backup);
      const res = await httpRequest(gw.url, { path: `${only(c)}x` });
      assert.equal(res.status, 200, showLog(gw.log));
      assert.equal(res.body.toString(), 'B');
      assert.deepEqual(exchanges(primary, backup), [before[0]! + 1, before[1]! + 1]);
    });

    it(`${c}: not listed -> passed on, the backup never asked`, async () => {
      const { script, status } = provoke(c, 'A');
      primary.script = script;
      const before = exchanges(primary, backup);
      const res = await httpRequest(gw.url, { path: `${allBut(c)}x` });
      assert.equal(res.status, status, showLog(gw.log));
      if (c.startsWith('http_')) assert.equal(res.body.toString(), 'A', 'the backend response itself');
      assert.deepEqual(exchanges(primary, backup), [before[0]! + 1, before[1]!]);
    });
  }

  it('off: not even a connection error is passed on', async () => {
    primary.script = hangUp;
    const before = exchanges(primary, backup);
    const res = await httpRequest(gw.url, { path: '/off/x' });
    assert.equal(res.status, 502);
    assert.deepEqual(exchanges(primary, backup), [before[0]! + 1, before[1]!]);
  });
});

describe('next_upstream limits', () => {
  let a: Member;
  let b: Member;
  let c: Member;
  let good: Member;
  let deadPort: number;
  let gw: TestGateway;

  before(async () => {
    [a, b, c, good] = await Promise.all([
      member('fastcgi', 'A'),
      member('fastcgi', 'B'),
      member('fastcgi', 'C'),
      member('fastcgi', 'G'),
    ]);
    deadPort = await getFreePort();
    const pair = (first: Member) => ({
      protocol: 'fastcgi',
      servers: [
        { address: first.address, max_fails: 0 },
        { address: good.address, backup: true, max_fails: 0 },
      ],
    });
    gw = await startTestGateway({
      upstreams: {
        three: {
          protocol: 'fastcgi',
          servers: [a, b, c].map((m) => ({ address: m.address, max_fails: 0 })),
        },
        pair: pair(a),
        dead: {
          protocol: 'fastcgi',
          servers: [
            { address: `127.0.0.1:${deadPort}`, max_fails: 0 },
            { address: good.address, backup: true, max_fails: 0 },
          ],
        },
        both503: {
          protocol: 'fastcgi',
          servers: [
            { address: a.address, max_fails: 0 },
            { address: b.address, backup: true, max_fails: 0 },
          ],
        },
      },
      locations: [
        { match: '/three/', fastcgi: { pass: 'three' } },
        { match: '/two-tries/', fastcgi: { pass: 'three', next_upstream_tries: 2 } },
        {
          match: '/deadline/',
          fastcgi: {
            pass: 'pair',
            read_timeout: '300ms',
            next_upstream: ['timeout'],
            next_upstream_timeout: '100ms',
          },
        },
        { match: '/post/', fastcgi: { pass: 'pair' } },
        { match: '/post-any/', fastcgi: { pass: 'pair', next_upstream: ['error', 'non_idempotent'] } },
        { match: '/dead/', fastcgi: { pass: 'dead' } },
        { match: '/last/', fastcgi: { pass: 'both503', next_upstream: ['http_503'] } },
        { match: '/all/', fastcgi: { pass: 'pair', next_upstream: ['error', 'http_500', 'non_idempotent'] } },
        {
          match: '/streamed/',
          fastcgi: {
            pass: 'pair',
            next_upstream: ['error', 'http_500', 'non_idempotent'],
            request_buffering: false,
          },
        },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    for (const m of [a, b, c, good]) await m?.backend.close();
  });

  it('tries: every member of the group once, then the last error', async () => {
    for (const m of [a, b, c]) m.script = hangUp;
    const before = exchanges(a, b, c);
    const res = await httpRequest(gw.url, { path: '/three/x' });
    assert.equal(res.status, 502);
    assert.deepEqual(
      exchanges(a, b, c).map((n, i) => n - before[i]!),
      [1, 1, 1],
    );
  });

  it('next_upstream_tries 2: two tries of three members', async () => {
    for (const m of [a, b, c]) m.script = hangUp;
    const before = exchanges(a, b, c);
    const res = await httpRequest(gw.url, { path: '/two-tries/x' });
    assert.equal(res.status, 502);
    const made = exchanges(a, b, c).reduce((sum, n, i) => sum + n - before[i]!, 0);
    assert.equal(made, 2);
  });

  it('next_upstream_timeout: a first try longer than it leaves no second one', async () => {
    a.script = silent;
    const before = exchanges(a, good);
    const res = await httpRequest(gw.url, { path: '/deadline/x' });
    assert.equal(res.status, 504);
    assert.deepEqual(exchanges(a, good), [before[0]! + 1, before[1]!]);
  });

  it('a listed status on the last try: the backend response goes to the client', async () => {
    a.script = answer('A', 503);
    b.script = answer('B', 503);
    const before = exchanges(a, b);
    const res = await httpRequest(gw.url, { path: '/last/x' });
    assert.equal(res.status, 503);
    assert.equal(res.body.toString(), 'B');
    assert.deepEqual(exchanges(a, b), [before[0]! + 1, before[1]! + 1]);
    b.script = answer('B');
  });

  it('POST: not passed on once sent', async () => {
    a.script = hangUp;
    const before = exchanges(a, good);
    const res = await httpRequest(gw.url, { path: '/post/x', method: 'POST' });
    assert.equal(res.status, 502);
    assert.deepEqual(exchanges(a, good), [before[0]! + 1, before[1]!]);
  });

  it('POST with non_idempotent: passed on, the spooled (chunked) body replayed whole', async () => {
    a.script = hangUp;
    good.script = echo('G');
    const body = Buffer.from(`${'x'.repeat(70_000)}END`);
    const res = await httpRequest(gw.url, {
      path: '/post-any/x',
      method: 'POST',
      chunks: [body.subarray(0, 1000), body.subarray(1000)],
    });
    assert.equal(res.status, 200, showLog(gw.log));
    assert.equal(res.headers['x-backend'], 'G');
    assert.ok(res.body.equals(body), 'the second member got the same body');
    good.script = answer('G');
  });

  it('POST to a member that refuses the connection: nothing was sent, so it is passed on', async () => {
    const res = await httpRequest(gw.url, { path: '/dead/x', method: 'POST', body: 'abc' });
    assert.equal(res.status, 200, showLog(gw.log));
    assert.equal(res.headers['x-backend'], 'G');
  });

  it('a body streamed to the backend (request_buffering off) is never sent twice', async () => {
    a.script = hangUp;
    const before = exchanges(a, good);
    // Larger than client_body_buffer_size (16k): streamed as it arrives, so it cannot be replayed.
    const body = 'streamed body '.repeat(2000);
    const res = await httpRequest(gw.url, { path: '/streamed/x', method: 'PUT', body });
    assert.equal(res.status, 502);
    assert.deepEqual(exchanges(a, good), [before[0]! + 1, before[1]!]);
  });

  it('with request_buffering on (the default) the same body was read whole first: replayed', async () => {
    a.script = hangUp;
    const before = exchanges(a, good);
    const body = 'buffered body '.repeat(2000);
    const res = await httpRequest(gw.url, { path: '/all/x', method: 'PUT', body });
    assert.equal(res.status, 200);
    assert.deepEqual(exchanges(a, good), [before[0]! + 1, before[1]! + 1]);
    assert.equal(good.backend.exchanges.at(-1)?.body.length, body.length);
  });

  it('no failover once response bytes went to the client', async () => {
    a.script = (ex) => {
      ex.stdout('Status: 200\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\npartial');
      ex.destroy();
    };
    const before = exchanges(a, good);
    await assert.rejects(httpRequest(gw.url, { path: '/all/x' }), /aborted|ECONNRESET|socket hang up/i);
    assert.deepEqual(exchanges(a, good), [before[0]! + 1, before[1]!]);
  });
});

describe('backups, failed members and fail_timeout', () => {
  let p1: Member;
  let p2: Member;
  let bk: Member;
  let f: Member;
  let g: Member;
  let gw: TestGateway;

  before(async () => {
    [p1, p2, bk, f, g] = await Promise.all([
      member('scgi', 'P1'),
      member('scgi', 'P2'),
      member('scgi', 'BK'),
      member('scgi', 'F'),
      member('scgi', 'G'),
    ]);
    gw = await startTestGateway({
      upstreams: {
        tiers: {
          protocol: 'scgi',
          servers: [
            { address: p1.address, fail_timeout: '60s' },
            { address: p2.address, fail_timeout: '60s' },
            { address: bk.address, backup: true },
          ],
        },
        quick: {
          protocol: 'scgi',
          servers: [
            { address: f.address, fail_timeout: '300ms' },
            { address: g.address, backup: true },
          ],
        },
        standby: {
          protocol: 'scgi',
          servers: [
            { address: p1.address, down: true },
            { address: bk.address, backup: true },
          ],
        },
        nobody: { protocol: 'scgi', servers: [{ address: p1.address, down: true }] },
      },
      locations: [
        { match: '/tiers/', scgi: { pass: 'tiers' } },
        { match: '/quick/', scgi: { pass: 'quick' } },
        { match: '/standby/', scgi: { pass: 'standby' } },
        { match: '/nobody/', scgi: { pass: 'nobody' } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    for (const m of [p1, p2, bk, f, g]) await m?.backend.close();
  });

  it('the backup is not used while a primary is usable', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await httpRequest(gw.url, { path: '/tiers/x' });
      assert.equal(res.status, 200);
      seen.add(String(res.headers['x-backend']));
    }
    assert.deepEqual([...seen].sort(), ['P1', 'P2']);
    assert.equal(bk.backend.connections, 0);
  });

  it('both primaries fail: the backup answers, and keeps answering while they are out', async () => {
    p1.script = hangUp;
    p2.script = hangUp;
    const before = gw.log.lines.length;
    const res = await httpRequest(gw.url, { path: '/tiers/x' });
    assert.equal(res.status, 200, showLog(gw.log));
    assert.equal(res.headers['x-backend'], 'BK');
    const disabled = logLines(gw.log, 'warn', /upstream server temporarily disabled/).filter(
      (l) => gw.log.lines.indexOf(l) >= before,
    );
    assert.equal(disabled.length, 2, showLog(gw.log));
    const seen = [p1.backend.connections, p2.backend.connections];
    for (let i = 0; i < 3; i++) {
      const again = await httpRequest(gw.url, { path: '/tiers/x' });
      assert.equal(again.headers['x-backend'], 'BK');
    }
    assert.deepEqual([p1.backend.connections, p2.backend.connections], seen, 'failed members not contacted');
    p1.script = answer('P1');
    p2.script = answer('P2');
  });

  it('primaries marked down: the backup serves', async () => {
    const res = await httpRequest(gw.url, { path: '/standby/x' });
    assert.equal(res.headers['x-backend'], 'BK');
  });

  it('no member usable: 502 "no live upstreams", the group name in the log', async () => {
    const before = gw.log.lines.length;
    const res = await httpRequest(gw.url, { path: '/nobody/x' });
    assert.equal(res.status, 502);
    const lines = logLines(gw.log, 'error', /no live upstreams/).filter(
      (l) => gw.log.lines.indexOf(l) >= before,
    );
    assert.equal(lines.length, 1, showLog(gw.log));
    assert.equal(lines[0]!.fields?.backend, 'nobody');
  });

  it('a failed member is tried again once its fail_timeout has passed', async () => {
    f.script = hangUp;
    const first = await httpRequest(gw.url, { path: '/quick/x' });
    assert.equal(first.headers['x-backend'], 'G');
    f.script = answer('F');
    // Wait for the event (F answering again), polling; a broken recovery fails at the deadline.
    const deadline = Date.now() + 10_000;
    let backendName = '';
    while (Date.now() < deadline) {
      const res = await httpRequest(gw.url, { path: '/quick/x' });
      backendName = String(res.headers['x-backend']);
      if (backendName === 'F') break;
      await delay(50);
    }
    assert.equal(backendName, 'F', 'F came back');
  });
});

/** nginx's smooth weighted round robin, for the expected order. */
function swrr(weights: readonly number[], n: number): number[] {
  const current = weights.map(() => 0);
  const total = weights.reduce((a, b) => a + b, 0);
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      current[i]! += weights[i]!;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    out.push(best);
  }
  return out;
}

/** GET through a given client address (127.x.y.z all reach the loopback listener). */
function getFrom(url: string, localAddress: string): Promise<{ status: number; backend: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequestRaw(
      url,
      { agent: false, localAddress, headers: { Connection: 'close' } },
      (res) => {
        res.resume();
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, backend: String(res.headers['x-backend']) }),
        );
      },
    );
    req.once('error', reject);
    req.end();
  });
}

describe('balancing through the gateway', () => {
  let members: Member[];
  let gw: TestGateway;
  const WEIGHTS = [5, 1, 3];

  before(async () => {
    members = await Promise.all(['W0', 'W1', 'W2'].map((n) => member('fastcgi', n)));
    gw = await startTestGateway({
      upstreams: {
        weighted: {
          protocol: 'fastcgi',
          servers: members.map((m, i) => ({ address: m.address, weight: WEIGHTS[i] })),
        },
        sticky: {
          protocol: 'fastcgi',
          balance: 'ip_hash',
          servers: members.map((m) => ({ address: m.address })),
        },
      },
      locations: [
        { match: '/weighted/', fastcgi: { pass: 'weighted' } },
        { match: '/sticky/', fastcgi: { pass: 'sticky' } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    for (const m of members ?? []) await m.backend.close();
  });

  it('60 requests follow smooth weighted round robin exactly (weights 5, 1, 3)', async () => {
    const order: string[] = [];
    for (let i = 0; i < 60; i++) {
      const res = await httpRequest(gw.url, { path: '/weighted/x' });
      assert.equal(res.status, 200);
      order.push(String(res.headers['x-backend']));
    }
    assert.deepEqual(
      order,
      swrr(WEIGHTS, 60).map((i) => `W${i}`),
    );
  });

  it('ip_hash: each client network keeps its member; different networks spread', async () => {
    const chosen = new Map<string, string>();
    for (let net = 0; net < 12; net++) {
      const address = `127.0.${net}.7`;
      for (let k = 0; k < 3; k++) {
        const res = await getFrom(`${gw.url}/sticky/x`, address);
        assert.equal(res.status, 200);
        const first = chosen.get(address);
        if (first === undefined) chosen.set(address, res.backend);
        else assert.equal(res.backend, first, `${address} moved`);
      }
    }
    assert.ok(new Set(chosen.values()).size >= 2, `all networks on one member: ${[...chosen.values()]}`);
    // The same /24 hashes alike: .7 and .200 of one network share a member.
    const again = await getFrom(`${gw.url}/sticky/x`, '127.0.3.200');
    assert.equal(again.backend, chosen.get('127.0.3.7'));
  });
});

/** A script that keeps each request open until the test releases it. */
function holding(name: string): { script: Script; arrived: () => Promise<void>; release: () => void } {
  const held: ScriptedExchange[] = [];
  let waiter: (() => void) | undefined;
  return {
    script: (ex) => {
      held.push(ex);
      waiter?.();
    },
    arrived: () =>
      held.length > 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiter = resolve;
          }),
    release: () => {
      for (const ex of held.splice(0)) answer(name)(ex);
    },
  };
}

describe('in-flight limits, least_conn, hash and sticky sessions through the gateway', () => {
  let m0: Member;
  let m1: Member;
  let gw: TestGateway;

  before(async () => {
    [m0, m1] = await Promise.all([member('scgi', 'M0'), member('scgi', 'M1')]);
    gw = await startTestGateway({
      upstreams: {
        capped: {
          protocol: 'scgi',
          servers: [
            { address: m0.address, max_conns: 1 },
            { address: m1.address, backup: true },
          ],
        },
        fewest: {
          protocol: 'scgi',
          balance: 'least_conn',
          servers: [{ address: m0.address }, { address: m1.address }],
        },
        hashed: {
          protocol: 'scgi',
          balance: 'hash',
          hash: { key: '$request_uri', consistent: true },
          servers: [{ address: m0.address }, { address: m1.address }],
        },
        sessions: {
          protocol: 'scgi',
          sticky: { cookie: 'ROUTEID', url_param: 'routeid', nofailover: true },
          servers: [
            { address: m0.address, route: 'a', drain: true },
            { address: m1.address, route: 'b' },
          ],
        },
      },
      locations: [
        { match: '/capped/', scgi: { pass: 'capped' } },
        { match: '/fewest/', scgi: { pass: 'fewest' } },
        { match: '/hashed/', scgi: { pass: 'hashed' } },
        { match: '/sessions/', scgi: { pass: 'sessions' } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await m0?.backend.close();
    await m1?.backend.close();
  });

  it('max_conns: a member at its limit is skipped while the request runs, then used again', async () => {
    const hold = holding('M0');
    m0.script = hold.script;
    const first = httpRequest(gw.url, { path: '/capped/slow' });
    await hold.arrived();
    const second = await httpRequest(gw.url, { path: '/capped/x' });
    assert.equal(second.headers['x-backend'], 'M1', 'M0 is busy with its one allowed request');
    hold.release();
    assert.equal((await first).headers['x-backend'], 'M0');
    m0.script = answer('M0');
    const third = await httpRequest(gw.url, { path: '/capped/x' });
    assert.equal(third.headers['x-backend'], 'M0');
  });

  it('least_conn: the member with a request in flight is passed over', async () => {
    const hold0 = holding('M0');
    const hold1 = holding('M1');
    m0.script = hold0.script;
    m1.script = hold1.script;
    // Whichever member takes the first request, the next three go to the other one.
    const [before0] = exchanges(m0);
    const first = httpRequest(gw.url, { path: '/fewest/slow' });
    await Promise.race([hold0.arrived(), hold1.arrived()]);
    const busy = m0.backend.exchanges.length > before0! ? 'M0' : 'M1';
    m0.script = answer('M0');
    m1.script = answer('M1');
    for (let i = 0; i < 3; i++) {
      const res = await httpRequest(gw.url, { path: '/fewest/x' });
      assert.notEqual(res.headers['x-backend'], busy);
    }
    hold0.release();
    hold1.release();
    assert.equal((await first).headers['x-backend'], busy);
  });

  it('hash $request_uri: one URI keeps its member, URIs spread over both', async () => {
    const chosen = new Map<string, string>();
    for (let i = 0; i < 16; i++) {
      for (let k = 0; k < 2; k++) {
        const res = await httpRequest(gw.url, { path: `/hashed/${i}` });
        const first = chosen.get(String(i));
        if (first === undefined) chosen.set(String(i), String(res.headers['x-backend']));
        else assert.equal(res.headers['x-backend'], first);
      }
    }
    assert.equal(new Set(chosen.values()).size, 2);
  });

  it('sticky: the route from the URL parameter, else the cookie; a draining member only by route', async () => {
    for (let i = 0; i < 4; i++) {
      const plain = await httpRequest(gw.url, { path: '/sessions/x' });
      assert.equal(plain.headers['x-backend'], 'M1', 'M0 drains: no new sessions');
    }
    const byCookie = await httpRequest(gw.url, {
      path: '/sessions/x',
      headers: { Cookie: 'other=1; ROUTEID=0A1B.a' },
    });
    assert.equal(byCookie.headers['x-backend'], 'M0');
    const byUrl = await httpRequest(gw.url, {
      path: '/sessions/x?routeid=0A1B.a',
      headers: { Cookie: 'ROUTEID=0A1B.b' },
    });
    assert.equal(byUrl.headers['x-backend'], 'M0', 'the URL parameter is read first');
  });

  it('sticky nofailover: the session member unusable -> 503, not another member', async () => {
    m0.script = hangUp;
    const before = exchanges(m0, m1);
    const res = await httpRequest(gw.url, { path: '/sessions/x', headers: { Cookie: 'ROUTEID=s.a' } });
    assert.equal(res.status, 503, showLog(gw.log));
    assert.deepEqual(exchanges(m0, m1), [before[0]! + 1, before[1]!], 'M1 never asked');
    // M0 is now out for its fail_timeout: not even contacted.
    const connections = m0.backend.connections;
    const again = await httpRequest(gw.url, { path: '/sessions/x', headers: { Cookie: 'ROUTEID=s.a' } });
    assert.equal(again.status, 503);
    assert.equal(m0.backend.connections, connections);
    const other = await httpRequest(gw.url, { path: '/sessions/x', headers: { Cookie: 'ROUTEID=s.b' } });
    assert.equal(other.headers['x-backend'], 'M1');
    m0.script = answer('M0');
  });
});

describe('the access log lists every attempt; counters per member', () => {
  let bad: Member;
  let good: Member;
  let tmp: TempDir;
  let gw: TestGateway;
  let logFile: string;

  before(async () => {
    [bad, good] = await Promise.all([member('scgi', 'X'), member('scgi', 'Y')]);
    bad.script = hangUp;
    tmp = await makeTempDir('upstream-log');
    logFile = join(tmp.path, 'access.log');
    gw = await startTestGateway({
      access_log: { path: logFile, format: 'upstream' },
      upstreams: {
        pair: {
          protocol: 'scgi',
          servers: [
            { address: bad.address, max_fails: 0 },
            { address: good.address, backup: true },
          ],
        },
        nobody: { protocol: 'scgi', servers: [{ address: bad.address, down: true }] },
      },
      locations: [
        { match: '/pair/', scgi: { pass: 'pair' } },
        { match: '/nobody/', scgi: { pass: 'nobody' } },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await bad?.backend.close();
    await good?.backend.close();
    await tmp?.cleanup();
  });

  async function logLine(path: string): Promise<string> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const text = await readFile(logFile, 'latin1').catch(() => '');
      const line = text.split('\n').find((l) => l.includes(`GET ${path} `));
      if (line !== undefined) return line;
      await delay(20);
    }
    throw new Error(`no access log line for ${path}`);
  }

  it('$upstream_addr and $upstream_response_time: "a, b" and "t1, t2"', async () => {
    const res = await httpRequest(gw.url, { path: '/pair/logged' });
    assert.equal(res.status, 200);
    const line = await logLine('/pair/logged');
    assert.ok(line.includes(` ${bad.address}, ${good.address} `), line);
    assert.match(line, / \d+\.\d{3}, \d+\.\d{3} [0-9a-f]{32}$/);
  });

  it('no live upstreams: the group name is the address logged', async () => {
    const res = await httpRequest(gw.url, { path: '/nobody/logged' });
    assert.equal(res.status, 502);
    const line = await logLine('/nobody/logged');
    assert.match(line, / 502 .* nobody \d+\.\d{3} [0-9a-f]{32}$/);
  });
});

describe('member counters through the runtime (the library API)', () => {
  it('requests, failures, active, bytes in and out per member', async () => {
    const [bad, good] = await Promise.all([member('fastcgi', 'X'), member('fastcgi', 'Y')]);
    bad.script = hangUp;
    const runtime = compileRuntime(
      parseConfigObject({
        listen: ['127.0.0.1:0'],
        upstreams: {
          pair: {
            protocol: 'fastcgi',
            servers: [
              { address: bad.address, max_fails: 2 },
              { address: good.address, backup: true },
            ],
          },
        },
        locations: [{ match: '/', fastcgi: { pass: 'pair' } }],
      }),
    );
    const handler = new RequestHandler({
      router: runtime.router,
      limits: runtime.limits,
      sendTimeout: runtime.sendTimeout,
      log: new MemoryLogger(),
      accessLog: undefined,
    });
    const server = createFront(runtime.front, handler.handle);
    const url = (await listen(server, runtime.listen[0]!)).replace(/\/$/, '');
    try {
      for (let i = 0; i < 2; i++) {
        const res = await httpRequest(url, { path: '/x', method: 'POST', body: 'hello' });
        assert.equal(res.status, 502, 'POST sent: not passed on');
      }
      const ok = await httpRequest(url, { path: '/x' });
      assert.equal(ok.status, 200);
      const [pair] = upstreamSnapshot(runtime);
      assert.ok(pair !== undefined);
      assert.equal(pair.name, 'pair');
      const [x, y] = pair.members;
      assert.equal(x?.requests, 2);
      assert.equal(x?.failures, 2);
      assert.equal(x?.state, 'failed', 'max_fails 2 reached');
      assert.equal(y?.requests, 1);
      assert.equal(y?.failures, 0);
      for (const m of [x, y]) {
        assert.equal(m?.active, 0);
        assert.ok((m?.bytesOut ?? 0) > 0, 'bytes sent to the backend');
      }
      assert.equal(x?.bytesIn, 0);
      assert.ok((y?.bytesIn ?? 0) > 0, 'bytes received from the backend');
    } finally {
      await drain([server], 1000);
      await bad.backend.close();
      await good.backend.close();
      runtime.dispose();
      assert.equal(runtime.upstreams.registry.size, 0);
    }
  });
});
