/**
 * The reference environment: run real nginx with a stock parameter file in front of a recording
 * backend, send requests byte-exactly, and return what nginx put on the wire for each.
 *
 * Version notes for what this machine's nginx sends (Debian 12, nginx 1.22.1):
 *
 * - nginx < 1.29.5 copies the client's Host header to HTTP_HOST like any other header (raw, with
 *   the port and case the client used). nginx >= 1.29.5 instead synthesises HTTP_HOST as
 *   `$host$is_request_port$request_port` (semantics.md, "Version-sensitive facts"). A comparison
 *   with Portico must pin which of the two it wants.
 * - Debian's security update 1.22.1-9+deb12u11 appends `scgi_param HTTP_HOST $host;` to
 *   /etc/nginx/scgi_params (and `fastcgi_param HTTP_HOST $host;` to fastcgi_params, NOT to
 *   fastcgi.conf). A configured HTTP_* param suppresses the client header, so with that file
 *   HTTP_HOST is `$host` (lower-cased, no port) at the end of the params, and the client Host
 *   header is not sent. Pass `dropParams: ['HTTP_HOST']` to get upstream nginx's stock file.
 * - nginx >= 1.23.0 merges repeated request headers (", ", or "; " for Cookie); 1.22 sends each
 *   occurrence as its own HTTP_* pair.
 * - nginx puts SCGI=1 where scgi_params has it (after DOCUMENT_ROOT), not second: only
 *   CONTENT_LENGTH, which the module generates, is guaranteed first.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { NGINX_CONF_DIR, startNginx } from './nginx.ts';
import { tcpAddress } from './ports.ts';
import { type RawHttpRequest, type RawHttpResponse, rawHttpRequest } from './raw-clients.ts';
import {
  type EnvList,
  type RecordedRequest,
  type RecordingBackend,
  startFastCgiRecorder,
  startScgiRecorder,
} from './recording-backend.ts';

export interface CaptureNginxEnvOptions {
  readonly protocol: 'scgi' | 'fastcgi';
  readonly requests: readonly RawHttpRequest[];
  /**
   * The stock parameter file to include: an absolute path or a name in /etc/nginx ("scgi_params",
   * "fastcgi.conf", "fastcgi_params"); null for none. Copied into nginx's temp dir first.
   */
  readonly paramsInclude: string | null;
  /** Param names whose lines are dropped from the copied include (e.g. Debian's HTTP_HOST). */
  readonly dropParams?: readonly string[];
  /** Directives appended inside the location, after the include (e.g. more *_param lines). */
  readonly extraNginxConf?: string;
  /** Directives for the server{} block (e.g. `underscores_in_headers on;`). */
  readonly serverConf?: string;
  /** `root` of the server (default /srv/portico-test: fixed so DOCUMENT_ROOT is stable; nginx
   *  needs no such dir to pass a request to a backend). */
  readonly root?: string;
  /** `server_name` (default "localhost"). */
  readonly serverName?: string;
}

export interface CapturedRequest {
  readonly request: RawHttpRequest;
  /** nginx's response to the client (e.g. 400 when nginx refused the request itself). */
  readonly response: RawHttpResponse;
  readonly status: number;
  /** The env nginx sent, or null when no request reached the backend. */
  readonly env: EnvList | null;
  readonly body: Buffer | null;
  /** Every backend request this client request caused (normally one). */
  readonly recorded: readonly RecordedRequest[];
  /** nginx's listening port (SERVER_PORT) and the client's port (REMOTE_PORT), to normalise. */
  readonly serverPort: number;
  readonly clientPort: number;
}

export const DEFAULT_CAPTURE_ROOT = '/srv/portico-test';

/** Runs nginx + a recorder for the duration of the call; sends the requests one after another. */
export async function captureNginxEnv(options: CaptureNginxEnvOptions): Promise<CapturedRequest[]> {
  const recorder: RecordingBackend =
    options.protocol === 'scgi'
      ? await startScgiRecorder({ listen: 'unix' })
      : await startFastCgiRecorder({ listen: 'unix' });
  try {
    const include = options.paramsInclude === null ? null : await readParams(options);
    const nginx = await startNginx({
      files: include === null ? {} : { [include.name]: include.text },
      conf: (ctx) =>
        [
          'server {',
          `    listen 127.0.0.1:${ctx.port};`,
          `    server_name ${options.serverName ?? 'localhost'};`,
          `    root ${options.root ?? DEFAULT_CAPTURE_ROOT};`,
          ...(options.serverConf ?? '').split('\n').map((l) => `    ${l}`),
          '    location / {',
          `        ${options.protocol}_pass ${recorder.address};`,
          ...(include === null ? [] : [`        include ${join(ctx.dir, include.name)};`]),
          ...(options.extraNginxConf ?? '').split('\n').map((l) => `        ${l}`),
          '    }',
          '}',
        ].join('\n'),
    });
    try {
      const results: CapturedRequest[] = [];
      for (const request of options.requests) {
        const before = recorder.requests.length;
        const response = await rawHttpRequest(tcpAddress(nginx.port), request);
        // nginx answers the client only after the backend answered, and the recorder records
        // before answering: whatever this request caused is already in the list.
        const recorded = recorder.requests.slice(before);
        results.push({
          request,
          response,
          status: response.status,
          env: recorded[0]?.env ?? null,
          body: recorded[0]?.body ?? null,
          recorded,
          serverPort: nginx.port,
          clientPort: response.clientPort,
        });
      }
      return results;
    } finally {
      await nginx.stop();
    }
  } finally {
    await recorder.close();
  }
}

async function readParams(options: CaptureNginxEnvOptions): Promise<{ name: string; text: string }> {
  const source = options.paramsInclude!;
  const path = isAbsolute(source) ? source : join(NGINX_CONF_DIR, source);
  let text = await readFile(path, 'utf8');
  const drop = new Set((options.dropParams ?? []).map((n) => n.toUpperCase()));
  if (drop.size > 0) {
    text = text
      .split('\n')
      .filter((line) => {
        const m = /^\s*(?:scgi|fastcgi|uwsgi)_param\s+(\S+)/.exec(line);
        return m === null || !drop.has(m[1]!.toUpperCase());
      })
      .join('\n');
  }
  return { name: `included-${path.split('/').pop()}`, text };
}
