/**
 * The gateway benchmark: `npm run bench [-- --quick] [--only portico,nginx] [--workload fcgi-hello]`.
 *
 * Starts the backends (bench/backends.ts), then each installed gateway in turn with one worker
 * and its own generated config (bench/gateways/), runs the workloads (bench/workloads.ts)
 * against it with wrk and the probes, stops it, and prints one table per workload with every
 * figure beside nginx's from the same run. Writes bench/results/<timestamp>.json and one SVG
 * chart per workload. The gateway is pinned to core 0, wrk and the backends to core 1. Every
 * process it starts is stopped by pid, also on Ctrl-C. A gateway that is not installed is
 * skipped with the reason printed.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type Backends, buildBackends, startBackends } from './backends.ts';
import { versionOf } from './gateways/common.ts';
import { GATEWAYS } from './gateways/index.ts';
import { porticoNode } from './gateways/portico.ts';
import type { Gateway, RunningGateway } from './gateways/types.ts';
import { WRK } from './load/wrk.ts';
import { measure, type Result } from './measure.ts';
import { CORES, foreignCpuMs, foreignTicks, freePort, GATEWAY_CPU, LOAD_CPU } from './proc.ts';
import { Progress } from './progress.ts';
import { formatTables, type RatedResult, rate } from './report.ts';
import { workloadChart } from './svg.ts';
import { type RunSettings, settingsFor, WORKLOADS, type Workload } from './workloads.ts';

const USAGE = `usage: node bench/run.ts [--quick] [--only GATEWAY[,..]] [--workload NAME[,..]]
                         [--duration SECONDS] [--warmup SECONDS] [--quiet-wait SECONDS] [--markdown]
       node bench/run.ts --report bench/results/TIMESTAMP.json [--markdown]   (print a saved run)
gateways:  ${GATEWAYS.map((g) => g.name).join(', ')}
workloads: ${WORKLOADS.map((w) => w.name).join(', ')}
`;

const REPO = resolve(import.meta.dirname, '..');

function parse() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      workload: { type: 'string', multiple: true },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'quiet-wait': { type: 'string' },
      markdown: { type: 'boolean', default: false },
      report: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  const list = (v: string[] | undefined): string[] | undefined =>
    v
      ?.flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const seconds = (v: string | undefined, name: string, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > 600)
      throw new Error(`--${name} takes whole seconds, ${min}..600`);
    return n;
  };
  const only = list(values.only);
  const workloads = list(values.workload);
  for (const name of only ?? []) {
    if (!GATEWAYS.some((g) => g.name === name)) throw new Error(`unknown gateway ${name}\n${USAGE}`);
  }
  for (const name of workloads ?? []) {
    if (!WORKLOADS.some((w) => w.name === name)) throw new Error(`unknown workload ${name}\n${USAGE}`);
  }
  return {
    help: values.help,
    quick: values.quick,
    markdown: values.markdown,
    report: values.report,
    only,
    workloads,
    duration: seconds(values.duration, 'duration', 1),
    warmup: seconds(values.warmup, 'warmup', 0),
    quietWait: seconds(values['quiet-wait'], 'quiet-wait', 0),
  };
}

function machine(): Record<string, unknown> {
  const cpu = cpus()[0]?.model ?? 'unknown';
  const git = (args: string[]): string | undefined => {
    try {
      return execFileSync('git', args, {
        cwd: REPO,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return undefined;
    }
  };
  return {
    cpu,
    cores: CORES,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    pinning: CORES >= 2 ? { gateway: GATEWAY_CPU, loadAndBackends: LOAD_CPU } : 'none (one core)',
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: (git(['status', '--porcelain', '--', 'src']) ?? '') !== '',
  };
}

/** Which workloads a gateway runs, or why not. */
function plan(g: Gateway, workloads: readonly Workload[], missing: Readonly<Record<string, string>>) {
  return workloads.map((w) => {
    let reason: string | undefined;
    if (!g.routes.includes(w.route))
      reason = `${g.name} has no ${w.route.includes('scgi') ? 'SCGI' : w.route} support`;
    else if (g.reuseOnly === true && !w.reuse) reason = 'not a connection-reuse workload';
    else if (missing[w.route] !== undefined) reason = missing[w.route];
    return { workload: w, reason };
  });
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
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
  if (args.report !== undefined) return printSaved(args.report, args.markdown);
  process.chdir(REPO);
  const settings = settingsFor(args.quick, args.duration, args.warmup, args.quietWait);
  const workloads = WORKLOADS.filter((w) =>
    args.workloads !== undefined ? args.workloads.includes(w.name) : !args.quick || w.quick,
  );
  const gateways = GATEWAYS.filter((g) => args.only === undefined || args.only.includes(g.name));
  const node = porticoNode(REPO);
  const started = new Date();
  const versions: Record<string, string | undefined> = {
    node: versionOf(node, ['--version'], /v(\S+)/),
    wrk: versionOf(WRK, ['-v'], /wrk (\S+)/),
    cc: versionOf('cc', ['--version'], /^(.*)$/m),
  };
  const skipped: { gateway: string; reason: string }[] = [];
  const available: Gateway[] = [];
  for (const g of gateways) {
    const a = g.check();
    if (a.available) {
      available.push(g);
      versions[g.name] = a.version;
    } else {
      skipped.push({ gateway: g.name, reason: a.reason ?? 'not available' });
      process.stderr.write(`skipping ${g.name}: ${a.reason}\n`);
    }
  }
  if (versions.wrk === undefined) {
    process.stderr.write(`wrk is not installed (apt-get install wrk): ${WRK}\n`);
    return 1;
  }

  await buildBackends(REPO);
  const backends = await startBackends(REPO, node);
  const results: Result[] = [];
  const plans = available.map((g) => ({ gateway: g, items: plan(g, workloads, backends.missing) }));
  const total = plans.reduce((n, p) => n + p.items.filter((i) => i.reason === undefined).length, 0);
  const progress = new Progress(total);
  try {
    for (const { gateway: g, items } of plans) {
      for (const item of items) {
        if (item.reason !== undefined) {
          results.push({
            gateway: g.name,
            workload: item.workload.name,
            status: 'skipped',
            reason: item.reason,
            notes: [],
          });
        }
      }
      const runnable = items.filter((i) => i.reason === undefined).map((i) => i.workload);
      if (runnable.length > 0) await runGateway(g, runnable, { backends, settings, progress, results, node });
    }
  } finally {
    progress.end();
    await backends.stop();
  }

  const rated = rate(results);
  const ran = workloads.filter((w) => rated.some((r) => r.workload === w.name));
  process.stdout.write(`${formatTables(rated, ran, settings)}\n`);
  if (args.markdown) process.stdout.write(`\n${formatTables(rated, ran, settings, true)}\n`);

  const stamp = started
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-');
  const outDir = join(REPO, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const meta = {
    date: started.toISOString(),
    command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    seconds: Math.round((Date.now() - started.getTime()) / 1000),
    machine: machine(),
    versions,
    settings,
    gateways: available.map((g) => ({ name: g.name, description: g.description })),
    skipped,
  };
  const jsonPath = join(outDir, `${stamp}.json`);
  writeFileSync(jsonPath, `${JSON.stringify({ meta, workloads: ran, results: rated }, null, 2)}\n`);
  const subtitle = `${meta.date.slice(0, 16).replace('T', ' ')} UTC · ${String(meta.machine.cpu).trim()} · ${CORES} cores · ${args.quick ? 'quick' : 'full'} run`;
  for (const w of ran)
    writeFileSync(join(outDir, `${stamp}-${w.name}.svg`), workloadChart(w, rated, subtitle));
  process.stdout.write(
    `\nwrote ${jsonPath} and ${ran.length} SVG chart(s) in ${outDir} (${meta.seconds} s)\n`,
  );
  return 0;
}

interface RunContext {
  readonly backends: Backends;
  readonly settings: RunSettings;
  readonly progress: Progress;
  readonly results: Result[];
  readonly node: string;
}

/** Starts a gateway in a fresh temp dir, or records why it did not start. */
async function launch(
  g: Gateway,
  ctx: RunContext,
): Promise<{ running: RunningGateway; port: number; dir: string } | string> {
  const dir = mkdtempSync(join(tmpdir(), `portico-bench-${g.name}-`));
  chmodSync(dir, 0o755); // nginx's and httpd's workers run as another user
  const port = await freePort();
  ctx.progress.step(g.name, 'starting');
  try {
    const running = await g.start({
      port,
      dir,
      backends: ctx.backends.addresses,
      repo: REPO,
      cpu: GATEWAY_CPU,
    });
    return { running, port, dir };
  } catch (error) {
    const log = tail(join(dir, 'error.log'));
    rmSync(dir, { recursive: true, force: true });
    return `did not start: ${error instanceof Error ? error.message : String(error)}${log ? ` | log: ${log}` : ''}`;
  }
}

/** Runs the workloads on one gateway; a workload marked `fresh` gets a newly started one. */
async function runGateway(g: Gateway, runnable: readonly Workload[], ctx: RunContext): Promise<void> {
  let current: { running: RunningGateway; port: number; dir: string } | undefined;
  let used = false;
  const stop = async (): Promise<void> => {
    if (current === undefined) return;
    await current.running.process.stop();
    rmSync(current.dir, { recursive: true, force: true });
    current = undefined;
  };
  try {
    for (const [i, w] of runnable.entries()) {
      if (w.fresh === true && used) await stop();
      if (current === undefined) {
        const launched = await launch(g, ctx);
        if (typeof launched === 'string') {
          ctx.progress.note(`${g.name} ${launched}`);
          for (const rest of runnable.slice(i)) {
            ctx.progress.skip();
            ctx.results.push({
              gateway: g.name,
              workload: rest.name,
              status: 'failed',
              reason: launched,
              notes: [],
            });
          }
          return;
        }
        current = launched;
        used = false;
      }
      used = true;
      const note = g.note(w.route);
      const notes = note === undefined ? [] : [note];
      ctx.progress.next(g.name, w.name);
      await waitForQuiet(ctx);
      try {
        const backendPid = ctx.backends.pids[w.route];
        const target = {
          gateway: g.name,
          pid: current.running.process.pid,
          port: current.port,
          notes,
          ...(backendPid === undefined ? {} : { backendPid }),
          repo: REPO,
          node: ctx.node,
        };
        const result = await measure(w, target, ctx.settings, (text, seconds) =>
          ctx.progress.phase(text, seconds),
        );
        ctx.results.push(result);
        ctx.progress.done(result);
      } catch (error) {
        const logPath = current.running.logPath;
        const log = logPath === undefined ? '' : tail(logPath);
        const reason = `${error instanceof Error ? error.message : String(error)}${log ? ` | log: ${log}` : ''}`;
        ctx.results.push({ gateway: g.name, workload: w.name, status: 'failed', reason, notes });
        ctx.progress.note(`${g.name} ${w.name} failed: ${reason}`);
      }
    }
  } finally {
    await stop();
  }
}

/** Waits (bounded by settings.quietWaitS) until other processes use less than 5 % CPU. */
async function waitForQuiet(ctx: RunContext): Promise<void> {
  const deadline = Date.now() + ctx.settings.quietWaitS * 1000;
  while (Date.now() < deadline) {
    const before = foreignTicks();
    await delay(500);
    const pct = Math.round((foreignCpuMs(before, foreignTicks()) / 500) * 100);
    if (pct < 5) return;
    ctx.progress.phase(`waiting for a quiet machine (other processes at ${pct}% CPU)`);
  }
}

/** Prints the tables of a saved run (bench/results/<timestamp>.json) again. */
function printSaved(path: string, markdown: boolean): number {
  const saved = JSON.parse(readFileSync(path, 'utf8')) as {
    meta: { settings: RunSettings };
    workloads: Workload[];
    results: RatedResult[];
  };
  process.stdout.write(`${formatTables(saved.results, saved.workloads, saved.meta.settings, markdown)}\n`);
  return 0;
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-3).join(' / ').slice(0, 600);
  } catch {
    return '';
  }
}

process.exitCode = await main();
