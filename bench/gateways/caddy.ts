/**
 * Caddy (Debian's caddy package) with reverse_proxy's fastcgi transport; it has no SCGI. A
 * JSON config in the run's temp dir (admin endpoint off, automatic HTTPS off), GOMAXPROCS=1 so
 * the Go runtime runs one worker thread of Go code, HOME and XDG dirs in the temp dir so it
 * writes nothing elsewhere.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, waitForListener } from '../proc.ts';
import { findExecutable, versionOf } from './common.ts';
import type { Availability, Gateway, GatewayContext, Route, RunningGateway } from './types.ts';

const BINARY = findExecutable('PORTICO_BENCH_CADDY', ['/usr/bin/caddy', '/usr/local/bin/caddy']);

function dial(address: string): string {
  return address.startsWith('unix:') ? `unix/${address.slice(5)}` : address;
}

export function caddyConfig(ctx: GatewayContext, routes: readonly Route[]): unknown {
  const handlers = [];
  for (const route of routes) {
    const address = ctx.backends[route];
    if (address === undefined || route.includes('scgi')) continue;
    handlers.push({
      match: [{ path: [`/${route}/*`] }],
      handle: [
        {
          handler: 'reverse_proxy',
          transport: { protocol: 'fastcgi' },
          upstreams: [{ dial: dial(address) }],
          // Streaming: flush every write to the client at once.
          ...(route === 'fcgi-stream' ? { flush_interval: -1 } : {}),
        },
      ],
    });
  }
  return {
    admin: { disabled: true },
    logging: {
      logs: { default: { level: 'ERROR', writer: { output: 'file', filename: join(ctx.dir, 'error.log') } } },
    },
    storage: { module: 'file_system', root: ctx.dir },
    apps: {
      http: {
        servers: {
          bench: {
            listen: [`127.0.0.1:${ctx.port}`],
            automatic_https: { disable: true },
            routes: handlers,
          },
        },
      },
    },
  };
}

export const caddy: Gateway = {
  name: 'caddy',
  description: 'Caddy, GOMAXPROCS=1, reverse_proxy with the fastcgi transport (no SCGI in Caddy)',
  routes: ['fcgi', 'fcgi-unix', 'fcgi-stream', 'node-fcgi'],
  note: () => 'FastCGI connection per request',
  check(): Availability {
    if (BINARY === undefined)
      return { available: false, reason: 'Caddy is not installed (apt-get install caddy)' };
    const version = versionOf(BINARY, ['version'], /v?(\d+\.\d+\.\d+\S*)/);
    return { available: true, ...(version === undefined ? {} : { version }) };
  },
  async start(ctx: GatewayContext): Promise<RunningGateway> {
    const confPath = join(ctx.dir, 'caddy.json');
    writeFileSync(confPath, JSON.stringify(caddyConfig(ctx, caddy.routes), null, 2));
    const started = startProcess({
      name: 'caddy',
      command: BINARY!,
      args: ['run', '--config', confPath],
      cpu: ctx.cpu,
      cwd: ctx.dir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin',
        HOME: ctx.dir,
        XDG_DATA_HOME: join(ctx.dir, 'data'),
        XDG_CONFIG_HOME: join(ctx.dir, 'config'),
        GOMAXPROCS: '1',
      },
    });
    await waitForListener(`127.0.0.1:${ctx.port}`, 15_000, started);
    return { process: started, logPath: join(ctx.dir, 'error.log') };
  },
};
