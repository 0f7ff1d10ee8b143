/**
 * A temp document tree and a tiny node:http server that drives the static API the way the
 * gateway pipeline will: decode the path once, `tryFiles`, then `serveFile` or the decision's
 * status / redirect; internal redirects re-enter (bounded), `.php` uris stand for a backend.
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, symlink, truncate, writeFile } from 'node:fs/promises';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { decodeRequestPath, splitRequestTarget } from '../../src/cgi/path.ts';
import { type ServeFileOptions, type ServeResult, serveFile } from '../../src/static/serve.ts';
import type { StaticRoot } from '../../src/static/resolve.ts';
import { type CompiledTryFiles, escapePath, tryFiles } from '../../src/static/try-files.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';

export const TEXT = 'Hello, static world!\n';
export const INDEX_HTML = '<!doctype html><title>dir</title>\n';
export const SECRET = 'outside the root\n';
export const UNICODE_NAME = 'café ☕.txt';
/** A name that is not UTF-8: `caf` + 0xE9 (latin1 é) + `.txt`. */
export const LATIN1_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]);
export const BIG_SIZE = 64 * 1024 * 1024;

export interface Tree {
  readonly tmp: TempDir;
  readonly root: string;
  readonly outside: string;
  readonly binary: Buffer;
  readonly hasFifo: boolean;
}

/**
 * root/ hello.txt, data.bin (binary), empty.txt, café ☕.txt, caf\xe9.txt, page.html, style.css,
 *       app.js, image.png, big.bin (sparse), link-inside -> hello.txt,
 *       link-outside -> ../outside/secret.txt, linkdir-outside -> ../outside,
 *       dir/index.html, dir/sub/, "a b/", fifo (when mkfifo exists)
 * outside/ secret.txt
 */
export async function makeTree(): Promise<Tree> {
  const tmp = await makeTempDir('static');
  const root = join(tmp.path, 'root');
  const outside = join(tmp.path, 'outside');
  await mkdir(join(root, 'dir', 'sub'), { recursive: true });
  await mkdir(join(root, 'a b'));
  await mkdir(outside);
  const binary = randomBytes(100_000);
  await writeFile(join(root, 'hello.txt'), TEXT);
  await writeFile(join(root, 'data.bin'), binary);
  await writeFile(join(root, 'empty.txt'), '');
  await writeFile(join(root, UNICODE_NAME), 'unicode name\n');
  await writeFile(Buffer.concat([Buffer.from(`${root}/`), LATIN1_NAME]), 'latin1 name\n');
  await writeFile(join(root, 'page.html'), '<p>page</p>\n');
  await writeFile(join(root, 'style.css'), 'p{}\n');
  await writeFile(join(root, 'app.js'), 'void 0;\n');
  await writeFile(join(root, 'image.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  await writeFile(join(root, 'big.bin'), '');
  await truncate(join(root, 'big.bin'), BIG_SIZE); // sparse: no disk used
  await writeFile(join(root, 'dir', 'index.html'), INDEX_HTML);
  await writeFile(join(outside, 'secret.txt'), SECRET);
  await symlink('hello.txt', join(root, 'link-inside'));
  await symlink('../outside/secret.txt', join(root, 'link-outside'));
  await symlink('../outside', join(root, 'linkdir-outside'));
  let hasFifo = false;
  try {
    execFileSync('mkfifo', [join(root, 'fifo')]);
    hasFifo = true;
  } catch {
    // no mkfifo on this system: the FIFO test is skipped
  }
  return { tmp, root, outside, binary, hasFifo };
}

/** What the test server does with a request; tests swap it between cases. */
export interface SiteConfig {
  root: StaticRoot;
  tryFiles?: CompiledTryFiles | undefined;
  index?: readonly string[] | undefined;
  serveIndex?: boolean | undefined;
  serve?: ServeFileOptions | undefined;
}

export interface Site {
  config: SiteConfig;
  /** What the last serveFile call returned. */
  lastResult: ServeResult | undefined;
  /**
   * What serveFile returned, by request target: a test waiting for its own request's result
   * cannot be misled by an earlier test's request that settles late.
   */
  readonly results: Map<string, ServeResult>;
  readonly port: number;
  close(): Promise<void>;
}

export async function startSite(config: SiteConfig): Promise<Site> {
  const site: SiteState = { config, lastResult: undefined, results: new Map() };
  const server: Server = createServer((req, res) => {
    handle(site, req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(site, {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

interface SiteState {
  config: SiteConfig;
  lastResult: ServeResult | undefined;
  readonly results: Map<string, ServeResult>;
}

async function handle(site: SiteState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const config = site.config;
  const target = splitRequestTarget(req.url ?? '/');
  let uri: string;
  try {
    uri = decodeRequestPath(target.rawPath);
  } catch {
    res.writeHead(400).end('bad path');
    return;
  }
  let args = target.args;
  for (let redirects = 0; redirects < 10; redirects++) {
    if (uri.endsWith('.php')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`backend ${uri}?${args}`);
      return;
    }
    const d = await tryFiles(uri, {
      root: config.root,
      tryFiles: config.tryFiles,
      index: config.index,
      args,
      serveIndex: config.serveIndex,
    });
    switch (d.kind) {
      case 'file': {
        res.setHeader('x-static-uri', escapePath(d.uri));
        const r = await serveFile(req, res, d, { root: config.root, ...config.serve });
        site.lastResult = r;
        site.results.set(req.url ?? '', r);
        if (!r.sent) res.writeHead(r.status, r.status === 405 ? { allow: 'GET, HEAD' } : {}).end(r.reason);
        return;
      }
      case 'redirect-internal':
        if (d.named) {
          res.writeHead(200).end(`named ${d.uri} ${uri}`);
          return;
        }
        uri = d.uri;
        args = d.args;
        continue;
      case 'status':
        res.writeHead(d.code).end(d.reason);
        return;
      case 'directory-redirect':
        res.writeHead(301, { location: d.location }).end();
        return;
      case 'pass':
        res.writeHead(200).end(`pass ${d.uri}`);
        return;
    }
  }
  res.writeHead(500).end('redirect cycle');
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request with the path sent exactly as given. */
export function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
