/**
 * `workers: N`: N gateway processes sharing the listeners (nginx `worker_processes`), with
 * node:cluster. The primary only supervises: it forks the workers (each runs the whole
 * gateway; cluster hands the listening sockets out, TCP and unix alike), replaces a worker that
 * dies (after a backoff that doubles up to 5 s; five deaths within 30 s is a crash loop and
 * stops the replacing, logged), and on SIGTERM/SIGINT tells every worker to drain, then exits
 * once they all have. State is per worker, as in nginx: connection pools, balancer counters,
 * passive and active health.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';

/** `workers: auto` is the number of cores. */
export function resolveWorkers(workers: number | 'auto'): number {
  return workers === 'auto' ? Math.max(1, availableParallelism()) : workers;
}

/** The message the primary sends a worker to drain (a signal may reach it too). */
export const SHUTDOWN_MESSAGE = 'portico:shutdown';

const CRASH_WINDOW_MS = 30_000;
const CRASH_LIMIT = 5;
const MAX_BACKOFF_MS = 5_000;

export interface ClusterOptions {
  readonly workers: number;
  /** One line to the operator (stderr). */
  readonly log: (line: string) => void;
}

/** Runs the primary until every worker has exited; resolves to the exit status. */
export function runPrimary(options: ClusterOptions): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    let backoff = 100;
    const deaths: number[] = [];
    let failed = false;
    let running = 0;

    const fork = (): Worker => {
      running++;
      return cluster.fork();
    };
    const done = (): void => {
      if (running > 0) return;
      for (const s of ['SIGTERM', 'SIGINT'] as const) process.off(s, onSignal);
      resolve(failed ? 1 : 0);
    };
    const onSignal = (name: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      options.log(`portico: ${name}, draining ${running} workers`);
      for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(SHUTDOWN_MESSAGE);
      done();
    };
    cluster.on('exit', (worker, code, signal) => {
      running--;
      if (stopping) {
        done();
        return;
      }
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && now - (deaths[0] as number) > CRASH_WINDOW_MS) deaths.shift();
      const how = signal === null ? `code ${code}` : `signal ${signal}`;
      if (deaths.length >= CRASH_LIMIT) {
        options.log(
          `portico: worker ${worker.process.pid} exited (${how}); ${deaths.length} exits in 30 s, not restarting`,
        );
        failed = true;
        done();
        return;
      }
      options.log(`portico: worker ${worker.process.pid} exited (${how}); starting another in ${backoff} ms`);
      // Not unref'd: with every worker dead, this timer is what keeps the primary alive.
      setTimeout(() => {
        if (!stopping) fork();
      }, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    });
    for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, onSignal);
    for (let i = 0; i < options.workers; i++) fork();
  });
}
