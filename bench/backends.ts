/**
 * The backends every gateway is put in front of: the C FastCGI and SCGI servers of
 * bench/backends/ (compiled here with the system cc -O2 into bench/bin/, git-ignored) and the
 * project's own Node libraries (src/backend). All on the load generator's core, so the
 * gateway has its core to itself.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendAddresses, Route } from './gateways/types.ts';
import { freePort, LOAD_CPU, runCommand, type Started, startProcess, waitForListener } from './proc.ts';

const PROGRAMS = ['fcgi-hello', 'scgi-hello'] as const;

/** Compiles a C backend when its binary is missing or older than its sources. */
export async function buildBackends(repo: string): Promise<void> {
  const src = join(repo, 'bench', 'backends');
  const bin = join(repo, 'bench', 'bin');
  mkdirSync(bin, { recursive: true });
  const common = statSync(join(src, 'common.h')).mtimeMs;
  for (const name of PROGRAMS) {
    const source = join(src, `${name}.c`);
    const target = join(bin, name);
    if (existsSync(target)) {
      const built = statSync(target).mtimeMs;
      if (built > statSync(source).mtimeMs && built > common) continue;
    }
    const { code, output } = await runCommand('cc', ['-O2', '-Wall', '-o', target, source], {
      timeoutMs: 60_000,
    });
    if (code !== 0) throw new Error(`cc failed for ${source}:\n${output}`);
  }
}

export interface Backends {
  readonly addresses: Partial<BackendAddresses>;
  /** Backend processes per route, for their CPU figures. */
  readonly pids: Readonly<Partial<Record<Route, number>>>;
  /** Why a route has no backend (the Node libraries missing, say). */
  readonly missing: Readonly<Partial<Record<Route, string>>>;
  stop(): Promise<void>;
}

export async function startBackends(repo: string, node: string): Promise<Backends> {
  // 0755: Apache's children run as www-data and must reach the unix socket inside.
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-backends-'));
  chmodSync(dir, 0o755);
  const started: Started[] = [];
  const addresses: Partial<Record<Route, string>> = {};
  const pids: Partial<Record<Route, number>> = {};
  const missing: Partial<Record<Route, string>> = {};
  const bin = join(repo, 'bench', 'bin');
  const c = async (route: Route, program: string, address: string): Promise<void> => {
    const p = startProcess({
      name: `${program} ${address}`,
      command: join(bin, program),
      args: [address],
      cpu: LOAD_CPU,
    });
    started.push(p);
    await waitForListener(address, 5000, p);
    addresses[route] = address;
    pids[route] = p.pid;
  };
  try {
    await c('fcgi', 'fcgi-hello', `127.0.0.1:${await freePort()}`);
    await c('fcgi-unix', 'fcgi-hello', `unix:${join(dir, 'fcgi.sock')}`);
    // Its own process: httpd shares one worker per backend URL, and the stream route needs
    // different proxy settings (flushing) from the hello route.
    await c('fcgi-stream', 'fcgi-hello', `127.0.0.1:${await freePort()}`);
    await c('scgi', 'scgi-hello', `127.0.0.1:${await freePort()}`);
    const script = join(repo, 'bench', 'backends', 'node-backends.ts');
    if (
      existsSync(join(repo, 'src', 'backend', 'fastcgi-server.ts')) &&
      existsSync(join(repo, 'src', 'backend', 'scgi-server.ts'))
    ) {
      const fcgiPort = await freePort();
      const scgiPort = await freePort();
      const p = startProcess({
        name: 'node backends',
        command: node,
        args: [script, String(fcgiPort), String(scgiPort)],
        cpu: LOAD_CPU,
        cwd: repo,
      });
      started.push(p);
      await waitForListener(`127.0.0.1:${fcgiPort}`, 10_000, p);
      await waitForListener(`127.0.0.1:${scgiPort}`, 10_000, p);
      addresses['node-fcgi'] = `127.0.0.1:${fcgiPort}`;
      addresses['node-scgi'] = `127.0.0.1:${scgiPort}`;
      pids['node-fcgi'] = p.pid;
      pids['node-scgi'] = p.pid;
    } else {
      missing['node-fcgi'] = missing['node-scgi'] =
        'src/backend has no createFastCgiServer / createScgiServer';
    }
  } catch (error) {
    await Promise.all(started.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    addresses,
    pids,
    missing,
    async stop() {
      await Promise.all(started.map((p) => p.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
