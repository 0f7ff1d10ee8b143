/**
 * The floor under issue 3's targets: what nginx spends per proxied hello request, what Portico
 * spends, and the least a Node process spends on the backend side alone (no HTTP front:
 * backend-floor-client.ts), all as CPU microseconds per request read from /proc (user +
 * system) on the same machine in the same minutes. Each process runs on core 0 with the C
 * backends and wrk on core 1, as the bench pins them; rounds alternate so drift on a shared
 * machine hits all three; medians are printed. If the Node floor alone costs more than
 * nginx's whole request, no one-process Node gateway can match nginx on that workload.
 *
 *   node bench/micro/backend-floor.ts [--rounds 3] [--seconds 3]
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBackends, startBackends } from '../backends.ts';
import { nginx } from '../gateways/nginx.ts';
import { portico, porticoNode } from '../gateways/portico.ts';
import type { Gateway, RunningGateway } from '../gateways/types.ts';
import { runWrk } from '../load/wrk.ts';
import {
  cpuMs,
  freePort,
  GATEWAY_CPU,
  processTree,
  runCommand,
  type Started,
  startProcess,
  waitForListener,
} from '../proc.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '3' } },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const REPO = resolve(import.meta.dirname, '..', '..');
const NODE = porticoNode(REPO);
const CONNECTIONS = 50;
const WORKLOADS = [
  { name: 'scgi-hello', route: 'scgi', protocol: 'scgi' },
  { name: 'fcgi-hello', route: 'fcgi', protocol: 'fcgi' },
] as const;

type Row = Record<string, number[]>;
const usPerRequest: Row = {};
const record = (key: string, value: number): void => {
  usPerRequest[key] ??= [];
  usPerRequest[key]?.push(value);
};

/** CPU microseconds per request of a gateway process under wrk on one route. */
async function gatewayCost(gateway: Started, port: number, route: string): Promise<number> {
  const url = `http://127.0.0.1:${port}/${route}/`;
  await runWrk({ url, connections: CONNECTIONS, seconds: 1 });
  const pids = processTree(gateway.pid);
  const before = cpuMs(pids);
  const result = await runWrk({ url, connections: CONNECTIONS, seconds });
  const spent = cpuMs(pids) - before;
  if (result.status + result.connect + result.read + result.write > 0) {
    throw new Error(`${url}: wrk reported errors`);
  }
  return (spent * 1000) / result.requests;
}

async function floorCost(protocol: string, address: string): Promise<number> {
  const script = join(import.meta.dirname, 'backend-floor-client.ts');
  const { code, output } = await runCommand(
    'taskset',
    ['-c', GATEWAY_CPU, NODE, script, protocol, address, String(CONNECTIONS), String(seconds)],
    { timeoutMs: (seconds + 30) * 1000 },
  );
  if (code !== 0) throw new Error(`floor client failed: ${output}`);
  const line = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as { userUs: number; systemUs: number };
  return line.userUs + line.systemUs;
}

await buildBackends(REPO);
const backends = await startBackends(REPO, NODE);
const dirs: string[] = [];
const gateways: { gateway: Gateway; running: RunningGateway; port: number }[] = [];
const minimal: { protocol: string; process: Started; port: number }[] = [];
try {
  for (const gateway of [nginx, portico]) {
    if (!gateway.check().available) throw new Error(`${gateway.name} is not available`);
    const dir = mkdtempSync(join(tmpdir(), `portico-floor-${gateway.name}-`));
    chmodSync(dir, 0o755);
    dirs.push(dir);
    const port = await freePort();
    const running = await gateway.start({
      port,
      dir,
      backends: backends.addresses,
      repo: REPO,
      cpu: GATEWAY_CPU,
    });
    gateways.push({ gateway, running, port });
    await waitForListener(`127.0.0.1:${port}`, 10_000, running.process);
  }
  for (const workload of WORKLOADS) {
    const address = backends.addresses[workload.route];
    if (address === undefined) throw new Error(`no backend for ${workload.route}`);
    const port = await freePort();
    const started = startProcess({
      name: `minimal node:http gateway (${workload.protocol})`,
      command: NODE,
      args: [
        join(import.meta.dirname, 'backend-floor-client.ts'),
        `http-${workload.protocol}`,
        address,
        String(port),
      ],
      cpu: GATEWAY_CPU,
    });
    minimal.push({ protocol: workload.protocol, process: started, port });
    await waitForListener(`127.0.0.1:${port}`, 10_000, started);
  }
  for (let round = 0; round < rounds; round++) {
    for (const workload of WORKLOADS) {
      for (const { gateway, running, port } of gateways) {
        const us = await gatewayCost(running.process, port, workload.route);
        record(`${workload.name} ${gateway.name}`, us);
        process.stderr.write(`round ${round + 1} ${workload.name} ${gateway.name}: ${us.toFixed(1)} us\n`);
      }
      const gateway = minimal.find((m) => m.protocol === workload.protocol);
      if (gateway !== undefined) {
        const us = await gatewayCost(gateway.process, gateway.port, workload.route);
        record(`${workload.name} node-http-floor`, us);
        process.stderr.write(
          `round ${round + 1} ${workload.name} minimal node:http gateway: ${us.toFixed(1)} us\n`,
        );
      }
      const address = backends.addresses[workload.route];
      if (address === undefined) throw new Error(`no backend for ${workload.route}`);
      const us = await floorCost(workload.protocol, address);
      record(`${workload.name} node-floor`, us);
      process.stderr.write(`round ${round + 1} ${workload.name} node floor: ${us.toFixed(1)} us\n`);
    }
  }
} finally {
  await Promise.all(gateways.map(({ running }) => running.process.stop()));
  await Promise.all(minimal.map((m) => m.process.stop()));
  await backends.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
process.stdout.write('CPU microseconds per request (user + system), medians\n');
process.stdout.write(
  'workload     nginx  Portico  Node backend side alone  minimal node:http gateway  nginx / minimal\n',
);
for (const workload of WORKLOADS) {
  const n = median(usPerRequest[`${workload.name} nginx`] ?? []);
  const p = median(usPerRequest[`${workload.name} portico`] ?? []);
  const f = median(usPerRequest[`${workload.name} node-floor`] ?? []);
  const h = median(usPerRequest[`${workload.name} node-http-floor`] ?? []);
  process.stdout.write(
    `${workload.name.padEnd(11)} ${n.toFixed(1).padStart(6)}  ${p.toFixed(1).padStart(7)}  ${f.toFixed(1).padStart(23)}  ${h.toFixed(1).padStart(25)}  ${`×${(n / h).toFixed(2)}`.padStart(15)}\n`,
  );
}
process.stdout.write(
  'nginx / minimal: the most req/s any one-process node:http gateway could reach against nginx, CPU-bound.\n',
);
