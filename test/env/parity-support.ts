/**
 * Both sides of the nginx parity check: Portico in front of a recording backend (the twin of
 * captureNginxEnv), and the normalisations that make nginx's env comparable — only what differs
 * by construction (ports, SERVER_SOFTWARE) and what nginx 1.22 does that current nginx no longer
 * does (HTTP_HOST copied raw before 1.29.5, repeated headers unmerged before 1.23). Everything
 * else must be equal or be a named deliberate difference (nginx-parity.test.ts).
 *
 * The normalisations are written here from nginx's documented behaviour, not taken from src/:
 * a reference that shares code with the thing under test would share its bugs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseConfigObject } from '../../src/config/load.ts';
import { NullLogger } from '../../src/observability/logger.ts';
import { startGateway } from '../../src/server/gateway.ts';
import { type CapturedRequest, DEFAULT_CAPTURE_ROOT } from '../support/nginx-env.ts';
import { NGINX_PATH } from '../support/nginx.ts';
import { tcpAddress } from '../support/ports.ts';
import { type RawHttpRequest, rawHttpRequest } from '../support/raw-clients.ts';
import {
  type EnvList,
  type RecordingBackend,
  startFastCgiRecorder,
  startScgiRecorder,
} from '../support/recording-backend.ts';

export interface PorticoCaptureOptions {
  readonly protocol: 'scgi' | 'fastcgi';
  readonly requests: readonly RawHttpRequest[];
  readonly root?: string;
  readonly serverName?: string;
  /** More keys for the location's `scgi:` / `fastcgi:` block (`params`, `pass_request_body`). */
  readonly block?: Readonly<Record<string, unknown>>;
}

/** Portico with its default params in front of a recorder; the same result shape as nginx's. */
export async function capturePorticoEnv(options: PorticoCaptureOptions): Promise<CapturedRequest[]> {
  const recorder: RecordingBackend =
    options.protocol === 'scgi'
      ? await startScgiRecorder({ listen: 'unix' })
      : await startFastCgiRecorder({ listen: 'unix' });
  try {
    const config = parseConfigObject({
      listen: ['127.0.0.1:0'],
      root: options.root ?? DEFAULT_CAPTURE_ROOT,
      server_name: [options.serverName ?? 'localhost'],
      access_log: { path: 'off' },
      locations: [{ match: '/', [options.protocol]: { pass: recorder.address, ...options.block } }],
    });
    const gateway = await startGateway(config, { log: new NullLogger() });
    try {
      const port = Number(new URL(gateway.urls[0] ?? '').port);
      const results: CapturedRequest[] = [];
      for (const request of options.requests) {
        const before = recorder.requests.length;
        const response = await rawHttpRequest(tcpAddress(port), request);
        const recorded = recorder.requests.slice(before);
        results.push({
          request,
          response,
          status: response.status,
          env: recorded[0]?.env ?? null,
          body: recorded[0]?.body ?? null,
          recorded,
          serverPort: port,
          clientPort: response.clientPort,
        });
      }
      return results;
    } finally {
      await gateway.close(0);
    }
  } finally {
    await recorder.close();
  }
}

// ---------------------------------------------------------------------------------------------
// nginx's version

/** nginx's version as a number (1.22.1 -> 1_022_001), from `nginx -v`; 0 when unknown. */
export function nginxVersion(): number {
  const run = spawnSync(NGINX_PATH, ['-v'], { encoding: 'latin1' });
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(`${run.stderr ?? ''}${run.stdout ?? ''}`);
  return m === null ? 0 : Number(m[1]) * 1e6 + Number(m[2]) * 1e3 + Number(m[3]);
}

/** nginx >= 1.23.0 merges repeated request headers into one HTTP_* pair. */
export const MERGES_REPEATED_HEADERS = 1_023_000;
/** nginx >= 1.29.5 sends HTTP_HOST = $host$is_request_port$request_port, not the raw header. */
export const SYNTHESISES_HTTP_HOST = 1_029_005;

/**
 * Debian's additions to upstream's stock files: `HTTP_HOST $host` appended to scgi_params and
 * fastcgi_params by the security update 1.22.1-9+deb12u11, and `REMOTE_USER $remote_user` in
 * its fastcgi.conf / fastcgi_params. Upstream's files have neither (src/cgi/stock-params.test.ts
 * checks the rest line for line); pass these as captureNginxEnv's dropParams.
 */
export const DEBIAN_ADDED_PARAMS: readonly string[] = ['HTTP_HOST', 'REMOTE_USER'];

// ---------------------------------------------------------------------------------------------
// Normalisation

const isHeaderPair = ([name]: readonly [string, string]): boolean => name.startsWith('HTTP_');

/**
 * nginx 1.23+: repeated headers become one pair at the first one's place, values joined with
 * `, ` (`; ` for Cookie). Applied to what nginx < 1.23 sent. (nginx groups by the header's name;
 * the HTTP_* name stands for it here, which is the same as long as no `_` names are let in.)
 */
export function mergeRepeatedHeaders(env: EnvList): EnvList {
  const out: EnvList = [];
  const at = new Map<string, number>();
  for (const [name, value] of env) {
    const first = name.startsWith('HTTP_') ? at.get(name) : undefined;
    if (first === undefined) {
      if (name.startsWith('HTTP_')) at.set(name, out.length);
      out.push([name, value]);
    } else {
      const sep = name === 'HTTP_COOKIE' ? '; ' : ', ';
      out[first] = [name, `${out[first]![1]}${sep}${value}`];
    }
  }
  return out;
}

/**
 * nginx 1.29.5's `$host$is_request_port$request_port` for a Host header nginx accepted: host
 * lower-cased without a trailing dot, `:port` only when the client gave one; no Host: the
 * server name (ngx_http_validate_host, ngx_http_variable_host).
 */
export function synthesisedHost(rawHost: string | undefined, serverName: string): string {
  if (rawHost === undefined || rawHost === '') return serverName;
  const close = rawHost.startsWith('[') ? rawHost.indexOf(']') + 1 : 0;
  const colon = rawHost.indexOf(':', close);
  let host = colon === -1 ? rawHost : rawHost.slice(0, colon);
  const port = colon === -1 ? '' : rawHost.slice(colon + 1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.toLowerCase() + (port === '' ? '' : `:${Number(port)}`);
}

/**
 * nginx < 1.29.5 copies the client's Host to HTTP_HOST where the header came; 1.29.5 sends the
 * synthesised value after the params instead (semantics.md B.1 step 3). The stock sets have no
 * HTTP_* param, so the params end where the first HTTP_* pair starts.
 */
export function synthesiseHttpHost(env: EnvList, serverName: string): EnvList {
  const raw = env.find(([n]) => n === 'HTTP_HOST')?.[1];
  const out = env.filter(([n]) => n !== 'HTTP_HOST');
  const first = out.findIndex(isHeaderPair);
  out.splice(first === -1 ? out.length : first, 0, ['HTTP_HOST', synthesisedHost(raw, serverName)]);
  return out;
}

/** What nginx at `version` sent, as current nginx (>= 1.29.5) would send it. */
export function asCurrentNginx(env: EnvList, version: number, serverName: string): EnvList {
  let out = env;
  if (version < MERGES_REPEATED_HEADERS) out = mergeRepeatedHeaders(out);
  if (version < SYNTHESISES_HTTP_HOST) out = synthesiseHttpHost(out, serverName);
  return out;
}

export interface Ports {
  readonly serverPort: number;
  readonly clientPort: number;
}

/**
 * Values that differ by construction: the two gateways listen on different ports, the client
 * connects from different ports, and each names itself in SERVER_SOFTWARE. Each is checked to
 * be what it must be before it is replaced by a placeholder.
 */
export function normaliseByConstruction(env: EnvList, ports: Ports, software: RegExp): EnvList {
  return env.map(([name, value]): [string, string] => {
    switch (name) {
      case 'SERVER_PORT':
        assert.equal(value, String(ports.serverPort), 'SERVER_PORT is the listening port');
        return [name, '<server port>'];
      case 'REMOTE_PORT':
        assert.equal(value, String(ports.clientPort), "REMOTE_PORT is the client's port");
        return [name, '<client port>'];
      case 'SERVER_ADDR':
        assert.equal(value, '127.0.0.1', 'SERVER_ADDR is the listening address');
        return [name, '<server addr>'];
      case 'SERVER_SOFTWARE':
        assert.match(value, software);
        return [name, '<software>'];
      default:
        return [name, value];
    }
  });
}

/** A compact one-line-per-pair rendering for assertion messages. */
export function showEnv(env: EnvList | null): string {
  if (env === null) return '(no backend request)';
  return env
    .map(([n, v]) => `  ${n}=${JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v)}`)
    .join('\n');
}
