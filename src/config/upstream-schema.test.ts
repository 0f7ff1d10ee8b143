import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamGroup } from '../balancer/group.ts';
import { HostRegistry } from '../balancer/host-state.ts';
import { BALANCER_DEFAULTS } from '../balancer/options.ts';
import { ConfigError } from '../errors.ts';
import { parseDuration } from '../util/durations.ts';
import { DEFAULTS } from './defaults.ts';
import { parseConfigObject } from './load.ts';
import { relativeIssuePath, upstreamOptions } from './upstream-schema.ts';

function issuesOf(config: Record<string, unknown>): string[] {
  try {
    parseConfigObject(config);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected a ConfigError');
}

test('config defaults and the balancer library defaults agree', () => {
  const d = DEFAULTS.upstream;
  assert.equal(d.weight, BALANCER_DEFAULTS.weight);
  assert.equal(d.max_conns, BALANCER_DEFAULTS.max_conns);
  assert.equal(d.max_fails, BALANCER_DEFAULTS.max_fails);
  assert.equal(parseDuration(d.fail_timeout), BALANCER_DEFAULTS.fail_timeout);
  assert.equal(d.balance, BALANCER_DEFAULTS.balance);
  assert.equal(d.forcerecovery, BALANCER_DEFAULTS.forcerecovery);
  assert.equal(d.sticky_separator, BALANCER_DEFAULTS.sticky_separator);
});

test('a server gets every default; retry defaults to fail_timeout (nginx: one setting for both)', () => {
  const c = parseConfigObject({
    upstreams: {
      php: {
        protocol: 'fastcgi',
        servers: [{ address: '127.0.0.1:9000' }, { address: '127.0.0.1:9001', fail_timeout: '3s' }],
      },
    },
  });
  const php = c.upstreams.php!;
  assert.equal(php.balance, 'round_robin');
  assert.equal(php.forcerecovery, false);
  assert.deepEqual(php.servers[0], {
    address: '127.0.0.1:9000',
    weight: 1,
    max_conns: 0,
    max_fails: 1,
    fail_timeout: 10_000,
    retry: 10_000,
    backup: false,
    spare: false,
    down: false,
    drain: false,
    route: '',
    redirect: '',
    lbset: 0,
    resolve: false,
  });
  assert.equal(php.servers[1]!.retry, 3000);
});

test('a location gets nginx next_upstream defaults: error timeout, no try or time limit', () => {
  const c = parseConfigObject({ locations: [{ match: '/', scgi: { pass: '127.0.0.1:4000' } }] });
  const scgi = c.locations[0]!.scgi!;
  assert.deepEqual(scgi.next_upstream, ['error', 'timeout']);
  assert.equal(scgi.next_upstream_tries, 0);
  assert.equal(scgi.next_upstream_timeout, 0);
  const one = parseConfigObject({
    locations: [{ match: '/', scgi: { pass: '127.0.0.1:4000', next_upstream: 'off' } }],
  });
  assert.deepEqual(one.locations[0]!.scgi!.next_upstream, ['off']);
});

test('upstreamOptions builds a group the balancer accepts, addresses in display form', () => {
  const c = parseConfigObject({
    upstreams: {
      app: {
        protocol: 'scgi',
        balance: 'hash',
        hash: { key: '$request_uri', consistent: true },
        sticky: { cookie: 'ROUTEID' },
        servers: [{ address: 'scgi://127.0.0.1:4000', weight: 2 }, { address: '127.0.0.1:4001' }],
      },
    },
  });
  const options = upstreamOptions('app', c.upstreams.app!);
  assert.equal(options.servers[0]!.address, '127.0.0.1:4000');
  assert.deepEqual(options.hash, { consistent: true });
  assert.equal(options.sticky?.cookie, 'ROUTEID');
  const registry = new HostRegistry();
  const group = new UpstreamGroup(options, { registry });
  assert.equal(group.members.length, 2);
  assert.equal(group.members[0]!.key, 'scgi 127.0.0.1:4000');
  group.dispose();
  assert.equal(registry.size, 0);
});

test('the balancer issues are mapped onto the group key paths', () => {
  assert.deepEqual(relativeIssuePath('upstreams._.servers[12].weight'), ['servers', 12, 'weight']);
  assert.deepEqual(relativeIssuePath('upstreams._.sticky.separator'), ['sticky', 'separator']);
  assert.deepEqual(
    issuesOf({
      upstreams: {
        a: {
          protocol: 'scgi',
          servers: [{ address: '127.0.0.1:4000' }, { address: 'scgi://127.0.0.1:4000', weight: 0 }],
        },
      },
    }),
    [
      'upstreams.a.servers[1].address: "127.0.0.1:4000" is already servers[0] of this group',
      'upstreams.a.servers[1].weight: must be an integer from 1 to 1000000',
    ],
  );
});

test('hash, random and sticky must match the balance method and say where routes come from', () => {
  assert.deepEqual(
    issuesOf({
      upstreams: {
        a: {
          protocol: 'scgi',
          balance: 'least_conn',
          hash: { key: '$uri' },
          random: { two: true },
          sticky: { nofailover: true },
          servers: [{ address: '127.0.0.1:4000' }],
        },
      },
    }),
    [
      'upstreams.a.hash: hash applies with balance: hash, not least_conn',
      'upstreams.a.random: random applies with balance: random, not least_conn',
      'upstreams.a.sticky: sticky needs cookie, url_param or both',
    ],
  );
});
