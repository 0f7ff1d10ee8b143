/**
 * `portico serve`: run the gateway (or the demo) until SIGTERM/SIGINT. The first signal
 * stops accepting and drains for up to shutdown_timeout; a second one exits at once, for
 * the operator who does not want to wait.
 */
import { constants } from 'node:os';
import cluster from 'node:cluster';
import { ConfigError } from '../errors.ts';
import { resolveWorkers, runPrimary, SHUTDOWN_MESSAGE } from '../server/cluster.ts';
import { formatIssue, loadOrReport } from './check.ts';

interface Running {
  readonly urls: readonly string[];
  close(deadlineMs?: number): Promise<void>;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Resolve on the first signal; exit the process on the second. */
function untilSignal(): { readonly signal: Promise<NodeJS.Signals>; dispose(): void } {
  let received = false;
  let resolveSignal!: (signal: NodeJS.Signals) => void;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    resolveSignal = resolve;
  });
  const onSignal = (name: NodeJS.Signals): void => {
    if (received) {
      process.stderr.write(`portico: ${name} again, exiting now\n`);
      process.exit(128 + (constants.signals[name] ?? 15));
    }
    received = true;
    resolveSignal(name);
  };
  // A cluster worker is also told by its primary (workers: N); a repeat of that is no hurry.
  const onMessage = (message: unknown): void => {
    if (message !== SHUTDOWN_MESSAGE || received) return;
    received = true;
    resolveSignal('SIGTERM');
  };
  for (const name of SIGNALS) process.on(name, onSignal);
  process.on('message', onMessage);
  return {
    signal,
    dispose: () => {
      for (const name of SIGNALS) process.off(name, onSignal);
      process.off('message', onMessage);
    },
  };
}

async function runUntilSignal(
  start: () => Promise<Running>,
  deadlineMs: number | undefined,
): Promise<number> {
  // Listen for signals before starting, so a signal during start-up is not the default kill.
  const waiter = untilSignal();
  let running: Running;
  try {
    running = await start();
  } catch (error) {
    waiter.dispose();
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.issues.map(formatIssue).join('\n')}\n`);
    } else {
      const message = error instanceof Error ? error.message : String(error);
      const code = (error as { code?: unknown } | null)?.code;
      process.stderr.write(
        `portico: cannot start: ${message}${typeof code === 'string' ? ` (${code})` : ''}\n`,
      );
    }
    return 1;
  }
  const name = await waiter.signal;
  process.stderr.write(`portico: ${name}, shutting down\n`);
  try {
    await running.close(deadlineMs);
  } finally {
    waiter.dispose();
  }
  return 0;
}

export async function runServe(file: string): Promise<number> {
  const outcome = await loadOrReport(file);
  if ('exitCode' in outcome) return outcome.exitCode;
  const { config } = outcome;
  const workers = resolveWorkers(config.workers);
  if (workers > 1 && cluster.isPrimary) {
    return runPrimary({ workers, log: (line) => process.stderr.write(`${line}\n`) });
  }
  const { startGateway } = await import('../server/gateway.ts');
  const status = await runUntilSignal(
    () => startGateway(config, { configFile: file }),
    config.shutdown_timeout,
  );
  // A cluster worker's IPC channel would keep it alive after the drain.
  if (cluster.isWorker && process.connected) process.disconnect();
  return status;
}

/** The demo's contract (src/demo/index.ts). */
interface DemoModule {
  startDemo(options?: { port?: number }): Promise<Running>;
}

/**
 * The demo module is loaded through a variable specifier so that the CLI type-checks and runs
 * `check`/`schema` in a tree without it; TypeScript still rewrites `.ts` to `.js` for dist.
 */
const DEMO_MODULE = '../demo/index.ts';

export async function runDemo(port: number | undefined): Promise<number> {
  let demo: DemoModule;
  try {
    demo = (await import(DEMO_MODULE)) as DemoModule;
  } catch (error) {
    // Only the demo module itself missing; a broken import inside it is a real error.
    const missing = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
    if (!missing || !String((error as Error).message).includes('/demo/index.')) throw error;
    process.stderr.write('portico: the demo is not part of this build\n');
    return 1;
  }
  const { startDemo } = demo;
  return runUntilSignal(async () => {
    const demo = await startDemo(port === undefined ? {} : { port });
    for (const url of demo.urls) process.stdout.write(`portico demo: ${url}\n`);
    return demo;
  }, undefined);
}
