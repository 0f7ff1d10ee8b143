/** Small helpers the gateway modules share. */
import { accessSync, constants } from 'node:fs';
import { spawnSync } from 'node:child_process';

/**
 * The gateway's binary: the path in the environment variable `env` when it is set (and only
 * that one, so `PORTICO_BENCH_CADDY=/nonexistent` shows the skip), else the first of
 * `paths` that exists and is executable.
 */
export function findExecutable(env: string, paths: readonly string[]): string | undefined {
  const override = process.env[env];
  for (const path of override !== undefined && override !== '' ? [override] : paths) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  return undefined;
}

/** The first capture of `pattern` in a command's stdout + stderr (nginx -v writes to stderr). */
export function versionOf(command: string, args: readonly string[], pattern: RegExp): string | undefined {
  const run = spawnSync(command, [...args], { encoding: 'latin1', timeout: 5000 });
  return pattern.exec(`${run.stdout ?? ''}${run.stderr ?? ''}`)?.[1];
}

/** A host:port backend address split for configs that want them apart. */
export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** Largest request body the gateways accept: the 10 MiB upload workload plus room. */
export const MAX_BODY_MIB = 32;

/** Requests per client connection before the gateway closes it; high, so wrk rarely reconnects. */
export const KEEPALIVE_REQUESTS = 100_000;

/** Connections a gateway must accept at once: 10,000 idle clients plus the backends' side. */
export const MAX_CONNECTIONS = 16_000;
