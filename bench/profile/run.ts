/**
 * CPU profile of Portico under the hello workloads:
 *
 *   node bench/profile/run.ts [--workload fcgi-hello,scgi-hello] [--duration 10] [--warmup 2]
 *                             [--connections 50] [--interval 250] [--top 30] [--out DIR]
 *                             [--access-log] [--perf]
 *
 * For each workload: starts the bench's C backend (bench/bin/, built as `npm run bench` builds
 * it) and `node --cpu-prof src/cli/main.ts serve` with the bench's own generated config
 * (bench/gateways/portico.ts), pinned as the bench pins them (gateway on core 0, wrk and the
 * backend on core 1); warms up with wrk, then loads it with wrk for --duration seconds, stops it
 * with SIGTERM so node writes the profile, and summarises the samples taken while the measured
 * wrk ran (start-up, warm-up and shutdown left out): self and total time by category, file and
 * function. Also prints req/s and the gateway's CPU per 1,000 requests from /proc.
 *
 * `--perf` samples with `perf record -g` instead (perf.ts): what --cpu-prof shows as one native
 * frame (connect, writev, close) split into the kernel work behind it. `--access-log` turns on
 * the access log, which Portico's defaults have on and the bench has off.
 *
 * Writes DIR/<workload>.cpuprofile (open it in Chrome DevTools or speedscope), <workload>.txt
 * (the summary) and <workload>.json; DIR defaults to a fresh temp dir. Every process is stopped
 * by its pid (SIGTERM, then SIGKILL to its group), also when the run fails or is interrupted.
 */
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBackends } from '../backends.ts';
import { porticoNode, porticoYaml } from '../gateways/portico.ts';
import type { Route } from '../gateways/types.ts';
import { runWrk } from '../load/wrk.ts';
import {
  cpuMs,
  freePort,
  GATEWAY_CPU,
  LOAD_CPU,
  type Started,
  startProcess,
  waitForListener,
} from '../proc.ts';
import { WORKLOADS, type Workload } from '../workloads.ts';
import { type CpuProfile, formatSummary, summarise } from './cpuprofile.ts';
import { PERF_NODE_FLAGS, perfRecord, perfSummary, perfUnavailable } from './perf.ts';

const REPO = resolve(import.meta.dirname, '..', '..');

/** Workloads served by a C backend over TCP or a unix socket. */
const PROGRAMS: Partial<Record<Route, string>> = {
  fcgi: 'fcgi-hello',
  'fcgi-unix': 'fcgi-hello',
  scgi: 'scgi-hello',
};

const USAGE = `usage: node bench/profile/run.ts [--workload NAME[,..]] [--duration S] [--warmup S]
                                [--connections N] [--interval US] [--top N] [--out DIR]
                                [--access-log] [--perf]
  --access-log  profile with the access log on (combined, to a file), as Portico's defaults have it
  --perf        perf record -g instead of --cpu-prof: the kernel's share, by syscall (Linux, root)
workloads: ${WORKLOADS.filter((w) => w.kind === 'wrk' && PROGRAMS[w.route] !== undefined)
  .map((w) => w.name)
  .join(', ')}
`;

function parse() {
  const { values } = parseArgs({
    options: {
      workload: { type: 'string', multiple: true },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string' },
      interval: { type: 'string', default: '250' },
      top: { type: 'string', default: '30' },
      out: { type: 'string' },
      perf: { type: 'boolean', default: false },
      'access-log': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const int = (v: string, name: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} takes an integer ${min}..${max}`);
    return n;
  };
  const names = (values.workload ?? ['fcgi-hello,scgi-hello']).flatMap((s) => s.split(',')).filter(Boolean);
  const workloads = names.map((name) => {
    const w = WORKLOADS.find((x) => x.name === name);
    if (w === undefined || w.kind !== 'wrk' || PROGRAMS[w.route] === undefined)
      throw new Error(`no such workload for profiling: ${name}`);
    return w;
  });
  return {
    help: values.help,
    workloads,
    duration: int(values.duration, 'duration', 1, 120),
    warmup: int(values.warmup, 'warmup', 0, 60),
    connections:
      values.connections === undefined ? undefined : int(values.connections, 'connections', 1, 10_000),
    interval: int(values.interval, 'interval', 50, 10_000),
    top: int(values.top, 'top', 1, 1000),
    out: values.out,
    perf: values.perf,
    accessLog: values['access-log'],
  };
}

type Args = ReturnType<typeof parse>;

/** The profile clock: V8 stamps samples with CLOCK_MONOTONIC microseconds, as process.hrtime. */
function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

async function startBackend(route: Route, dir: string): Promise<{ process: Started; address: string }> {
  const program = PROGRAMS[route]!;
  const address = route === 'fcgi-unix' ? `unix:${join(dir, 'fcgi.sock')}` : `127.0.0.1:${await freePort()}`;
  const p = startProcess({
    name: `${program} ${address}`,
    command: join(REPO, 'bench', 'bin', program),
    args: [address],
    cpu: LOAD_CPU,
  });
  await waitForListener(address, 5000, p);
  return { process: p, address };
}

interface Outcome {
  readonly text: string;
}

/** The bench's generated config, with the access log turned on when asked. */
function config(w: Workload, port: number, dir: string, backend: string, accessLog: boolean): string {
  const yaml = porticoYaml({ port, dir, backends: { [w.route]: backend }, repo: REPO, cpu: GATEWAY_CPU }, [
    w.route,
  ]);
  if (!accessLog) return yaml;
  const on = `access_log: { path: ${JSON.stringify(join(dir, 'access.log'))}, format: combined }`;
  const changed = yaml.replace(/^access_log: .*$/m, on);
  if (changed === yaml) throw new Error('bench/gateways/portico.ts no longer writes an access_log line');
  return changed;
}

async function profileOne(w: Workload, args: Args, out: string): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), `portico-profile-${w.name}-`));
  const started: Started[] = [];
  try {
    const backend = await startBackend(w.route, dir);
    started.push(backend.process);
    const port = await freePort();
    const conf = join(dir, 'portico.yaml');
    writeFileSync(conf, config(w, port, dir, backend.address, args.accessLog));
    const profDir = join(dir, 'prof');
    mkdirSync(profDir);
    const flags = args.perf
      ? [...PERF_NODE_FLAGS]
      : ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-interval=${args.interval}`];
    const gateway = startProcess({
      name: 'portico',
      command: porticoNode(REPO),
      args: [...flags, 'src/cli/main.ts', 'serve', '-c', conf],
      cpu: GATEWAY_CPU,
      cwd: REPO,
    });
    started.push(gateway);
    await waitForListener(`127.0.0.1:${port}`, 15_000, gateway);
    const url = `http://127.0.0.1:${port}${w.path}`;
    const connections = args.connections ?? w.connections;
    if (args.warmup > 0) await runWrk({ url, connections, seconds: args.warmup });
    const cpuBefore = cpuMs([gateway.pid]);
    const fromUs = nowUs();
    const perfData = join(out, `${w.name}.perf.data`);
    const [wrk] = await Promise.all([
      runWrk({ url, connections, seconds: args.duration }),
      args.perf ? perfRecord(gateway.pid, args.duration, perfData) : undefined,
    ]);
    const toUs = nowUs();
    const cpu = cpuMs([gateway.pid]) - cpuBefore;
    const requestsPerSecond = wrk.requests / wrk.durationS;
    const errors = wrk.connect + wrk.read + wrk.write + wrk.timeout + wrk.status;
    const cpuMsPer1k = wrk.requests === 0 ? 0 : (cpu * 1000) / wrk.requests;
    const head = [
      `${w.name}: ${w.title}${args.accessLog ? ', access log on' : ''}`,
      `${Math.round(requestsPerSecond)} req/s, ${connections} connections, ${args.duration} s, ${errors} errors; gateway CPU ${cpuMsPer1k.toFixed(1)} ms per 1k requests (${Math.round((cpu / (wrk.durationS * 1000)) * 100)} %)`,
    ].join('\n');
    let body: string;
    if (args.perf) {
      // The map file must still exist while perf report resolves JIT frames: report first.
      body = `perf record -F 999 -g over the measured run\n\n${await perfSummary(perfData, gateway.pid, args.top)}`;
      await gateway.stop();
    } else {
      await gateway.stop();
      const code = await gateway.exited;
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
      if (files.length !== 1) {
        throw new Error(`no profile written (exit ${code}): ${gateway.output().trim().slice(-500)}`);
      }
      const target = join(out, `${w.name}.cpuprofile`);
      copyFileSync(join(profDir, files[0]!), target);
      const profile = JSON.parse(readFileSync(target, 'utf8')) as CpuProfile;
      const summary = summarise(profile, REPO, { fromUs, toUs });
      body = `profile window: the measured wrk run; ${args.interval} us sampling (the profiler's own cost included)\n\n${formatSummary(summary, args.top)}`;
      writeFileSync(
        join(out, `${w.name}.json`),
        `${JSON.stringify({ workload: w.name, requestsPerSecond, cpuMsPer1k, errors, window: { fromUs, toUs }, summary }, null, 1)}\n`,
      );
    }
    const text = `${head}\n${body}\n`;
    writeFileSync(join(out, `${w.name}${args.perf ? '.perf' : ''}.txt`), text);
    return { text };
  } finally {
    await Promise.all(started.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  process.chdir(REPO);
  if (args.perf) {
    const why = await perfUnavailable();
    if (why !== undefined) {
      process.stderr.write(`--perf: ${why}\n`);
      return 1;
    }
  }
  await buildBackends(REPO);
  const out = args.out === undefined ? mkdtempSync(join(tmpdir(), 'portico-profile-')) : resolve(args.out);
  mkdirSync(out, { recursive: true });
  for (const w of args.workloads) {
    process.stderr.write(`profiling ${w.name} (${args.warmup} s warm-up, ${args.duration} s measured)...\n`);
    const outcome = await profileOne(w, args, out);
    process.stdout.write(`${outcome.text}\n`);
  }
  process.stdout.write(`wrote the profiles and summaries to ${out}\n`);
  return 0;
}

process.exitCode = await main();
