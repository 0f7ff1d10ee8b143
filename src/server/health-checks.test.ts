import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { makeGroup } from '../balancer/test-support.ts';
import { HealthChecker, type HealthCheckSettings, probeParams } from './health-checks.ts';

const SETTINGS: HealthCheckSettings = {
  kind: 'get_values',
  uri: '/',
  params: [],
  interval: 60_000,
  timeout: 60_000,
  fails: 1,
  passes: 1,
  status: [],
  body: undefined,
};

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('stop() cuts a probe in flight: its socket is closed and no timer is left', async () => {
  // A backend that accepts and never answers: without stop() the probe would wait 60 s.
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    s.resume();
    accepted.push(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const { group, members } = makeGroup([1]);
  const probes: Socket[] = [];
  const before = timers();
  const checker = new HealthChecker(group, SETTINGS, async () => {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    probes.push(socket);
    return socket;
  });
  checker.start();
  while (accepted.length === 0) await new Promise((r) => setImmediate(r));
  checker.stop();
  assert.equal(probes.length, 1);
  assert.equal(probes[0]?.destroyed, true);
  await once(accepted[0] as Socket, 'close');
  await new Promise((r) => setImmediate(r));
  assert.equal(timers(), before, 'the probe timeout and the next check are gone');
  // The cut probe is not a failed check: the member keeps its state.
  assert.equal(members[0]?.health, 'healthy');
  assert.equal(members[0]?.checkFails, 0);
  server.close();
});

test('stop() while a probe is connecting: the socket it gets is closed at once', async () => {
  const server = createServer((s) => s.resume());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const { group } = makeGroup([1]);
  let socket: Socket | undefined;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const connected = new Promise<void>((resolveConnected) => {
    const checker = new HealthChecker(group, SETTINGS, async () => {
      socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      await gate;
      resolveConnected();
      return socket;
    });
    checker.start();
    void (async () => {
      while (socket === undefined) await new Promise((r) => setImmediate(r));
      checker.stop();
      release();
    })();
  });
  await connected;
  await new Promise((r) => setImmediate(r));
  assert.equal(socket?.destroyed, true);
  server.close();
});

test('probeParams: a plain GET of the uri; extra params override the defaults', () => {
  const params = new Map(probeParams('/ping?full', [['SCRIPT_FILENAME', '/srv/ping.php']]));
  assert.equal(params.get('REQUEST_METHOD'), 'GET');
  assert.equal(params.get('SCRIPT_NAME'), '/ping');
  assert.equal(params.get('QUERY_STRING'), 'full');
  assert.equal(params.get('SCRIPT_FILENAME'), '/srv/ping.php');
});
