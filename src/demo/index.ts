/**
 * The embedded demo that `npm start` (`portico serve --demo`) runs: one SCGI and one FastCGI
 * backend built on src/backend, each on a Unix socket in a private temp directory, and the
 * gateway in front of them with an embedded config. The CLI prints the URLs it returns.
 *
 * Port: `options.port`, else $PORT, else 8080; when that port is taken, an ephemeral one.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFastCgiServer } from '../backend/fastcgi-server.ts';
import { createScgiServer } from '../backend/scgi-server.ts';
import { parseConfigObject } from '../config/load.ts';
import { startGateway } from '../server/gateway.ts';
import { createDemoHandler } from './pages.ts';

export interface DemoOptions {
  /** Where the gateway listens (127.0.0.1). Default: $PORT, else 8080. 0: any free port. */
  readonly port?: number;
  /** No access log, errors only (tests). */
  readonly quiet?: boolean;
  /** Pause between the lines of the stream pages. Default 300 ms. */
  readonly streamIntervalMs?: number;
}

export interface DemoHandle {
  readonly urls: string[];
  close(): Promise<void>;
}

const DEFAULT_PORT = 8080;
/** Uploads up to 20 MiB: enough to try a photo or two, small enough for a demo. */
const MAX_UPLOAD = 20 * 1024 * 1024;

function defaultPort(): number {
  const env = process.env.PORT;
  if (env !== undefined && /^[0-9]{1,5}$/.test(env) && Number(env) <= 65535) return Number(env);
  return DEFAULT_PORT;
}

function demoConfig(dir: string, port: number, quiet: boolean): unknown {
  return {
    listen: [`127.0.0.1:${port}`],
    server_name: 'portico-demo',
    root: dir,
    client_max_body_size: MAX_UPLOAD,
    client_body_temp_path: join(dir, 'body'),
    error_log: { path: 'stderr', level: quiet ? 'error' : 'notice' },
    access_log: { path: quiet ? 'off' : 'stdout' },
    locations: [
      { match: '= /', scgi: { pass: `unix:${join(dir, 'scgi.sock')}` } },
      { match: '/scgi/', scgi: { pass: `unix:${join(dir, 'scgi.sock')}` } },
      // keep_conn: the FastCGI backend keeps its connections (FCGI_KEEP_CONN), as PHP-FPM setups do.
      { match: '/fcgi/', fastcgi: { pass: `unix:${join(dir, 'fcgi.sock')}`, keep_conn: true } },
    ],
  };
}

async function listenOn(server: Server, path: string): Promise<void> {
  server.listen(path);
  await once(server, 'listening');
}

async function closeServer(server: Server & { closeAllConnections(): void }): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}

export async function startDemo(options: DemoOptions = {}): Promise<DemoHandle> {
  const quiet = options.quiet ?? false;
  const pages = { streamIntervalMs: options.streamIntervalMs ?? 300 };
  const dir = await mkdtemp(join(tmpdir(), 'portico-demo-'));
  const onError = (error: unknown): void => {
    if (!quiet) console.error('portico demo backend:', error);
  };
  const scgi = createScgiServer(createDemoHandler('scgi', pages), { onError, maxBodyBytes: MAX_UPLOAD });
  const fcgi = createFastCgiServer(createDemoHandler('fastcgi', pages), {
    onError,
    maxBodyBytes: MAX_UPLOAD,
  });
  const stopBackends = async (): Promise<void> => {
    await Promise.all([closeServer(scgi), closeServer(fcgi)]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await listenOn(scgi, join(dir, 'scgi.sock'));
    await listenOn(fcgi, join(dir, 'fcgi.sock'));
    const port = options.port ?? defaultPort();
    let gateway: Awaited<ReturnType<typeof startGateway>>;
    try {
      gateway = await startGateway(parseConfigObject(demoConfig(dir, port, quiet)));
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EADDRINUSE' || port === 0) throw error;
      gateway = await startGateway(parseConfigObject(demoConfig(dir, 0, quiet)));
    }
    let closing: Promise<void> | undefined;
    return {
      urls: gateway.urls,
      close(): Promise<void> {
        closing ??= gateway.close(1000).finally(stopBackends);
        return closing;
      },
    };
  } catch (error) {
    await stopBackends();
    throw error;
  }
}
