/**
 * What a leaner HTTP/1.1 front could gain (issue 3 item 4: measure before deciding): a hello
 * answer from node:http against one from a minimal loop on node:net, each in its own process
 * pinned as the bench pins gateways (core 0, wrk on core 1), 50 keep-alive clients. Rounds
 * alternate the two so drift on a shared machine hits both; the medians are printed.
 *
 *   node bench/micro/http-front.ts [--rounds 3] [--seconds 3]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runWrk } from '../load/wrk.ts';
import { freePort, GATEWAY_CPU, startProcess, waitForListener } from '../proc.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '3' } },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const server = join(import.meta.dirname, 'http-front-server.ts');
const results: Record<string, number[]> = { http: [], raw: [] };

for (let round = 0; round < rounds; round++) {
  for (const mode of ['http', 'raw'] as const) {
    const port = await freePort();
    const p = startProcess({
      name: mode,
      command: process.execPath,
      args: [server, mode, String(port)],
      cpu: GATEWAY_CPU,
    });
    try {
      await waitForListener(`127.0.0.1:${port}`, 10_000, p);
      await runWrk({ url: `http://127.0.0.1:${port}/`, connections: 50, seconds: 1 });
      const r = await runWrk({ url: `http://127.0.0.1:${port}/`, connections: 50, seconds });
      results[mode]?.push(r.requests / r.durationS);
      process.stderr.write(
        `round ${round + 1} ${mode}: ${Math.round(r.requests / r.durationS)} req/s, p99 ${(r.p99 / 1000).toFixed(2)} ms\n`,
      );
    } finally {
      await p.stop();
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const http = median(results.http ?? []);
const raw = median(results.raw ?? []);
process.stdout.write(
  `node:http ${Math.round(http)} req/s, minimal node:net loop ${Math.round(raw)} req/s: x${(raw / http).toFixed(2)}\n`,
);
