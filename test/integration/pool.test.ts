/**
 * FastCGI connection reuse end to end: the pool (src/pool/connection-pool.ts) and the pooled
 * exchange (src/transport/pooled-exchange.ts) against Portico's own FastCGI server, which honours
 * FCGI_KEEP_CONN and lets the test count its connections, and against a real php-fpm recycling
 * its worker at pm.max_requests. Driven through a small harness (params in, status and body out)
 * rather than the gateway, so each test controls the pool's settings directly.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createFastCgiServer, type FastCgiServer } from '../../src/backend/index.ts';
import type { BackendRequest, BackendResponse } from '../../src/backend/index.ts';
import type { CgiResponseHead } from '../../src/cgi/response-head.ts';
import type { GatewayError } from '../../src/errors.ts';
import { parseBackendAddress } from '../../src/pool/address.ts';
import { ConnectionPool, type ConnectionPoolSettings } from '../../src/pool/connection-pool.ts';
import { connectBackend } from '../../src/pool/connector.ts';
import type { Param } from '../../src/protocol/params.ts';
import type { ExchangeSink } from '../../src/transport/exchange.ts';
import { type PooledExchange, runExchangeWithPool } from '../../src/transport/pooled-exchange.ts';
import { PHP_FPM_PATH, type PhpFpm, requirePeer, startPhpFpm } from '../support/peers.ts';
import { makeTempDir, type TempDir } from '../support/ports.ts';

/** A pool for one backend address, connecting as the gateway does. */
function poolFor(address: string, settings: Partial<ConnectionPoolSettings> = {}): ConnectionPool {
  const target = parseBackendAddress(address);
  return new ConnectionPool(
    target.display,
    (signal, timeout) => connectBackend(target, timeout, signal),
    settings,
  );
}

interface Result {
  status: number;
  body: string;
  error: GatewayError | undefined;
  exchange: PooledExchange;
}

interface SendOptions {
  readonly headLimit?: number;
  readonly readTimeout?: number;
  /** Called with each body chunk; return true to stop reading (the client went away). */
  readonly stopAfterBody?: boolean;
  /** Stop at the head, as for HEAD or 304 (the writer needs no body). */
  readonly stopAtHead?: boolean;
}

/** The response writer's part: collects the response; can stop early like a departing client. */
class Collector implements ExchangeSink {
  status = 0;
  body = '';
  error: GatewayError | undefined;
  exchange: PooledExchange | undefined;
  readonly done: Promise<void>;
  private finish: () => void = () => {};
  private readonly options: SendOptions;

  constructor(options: SendOptions) {
    this.options = options;
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }
  onHead(head: CgiResponseHead): void {
    this.status = head.status;
    if (this.options.stopAtHead) this.stop();
  }
  onBody(chunk: Buffer): boolean {
    this.body += chunk.toString('latin1');
    if (this.options.stopAfterBody) this.stop();
    return true;
  }
  onEnd(): void {
    this.finish();
  }
  onError(error: GatewayError): void {
    this.error = error;
    this.finish();
  }
  onStderr(): void {}
  private stop(): void {
    this.exchange?.abort();
    this.finish();
  }
}

async function send(
  pool: ConnectionPool,
  params: readonly Param[],
  options: SendOptions = {},
): Promise<Result> {
  const sink = new Collector(options);
  const exchange = await runExchangeWithPool(pool, {
    protocol: 'fastcgi',
    request: {
      params,
      contentLength: 0,
      body: { kind: 'none' },
      headLimit: options.headLimit ?? 4096,
      sendTimeout: 10_000,
      readTimeout: options.readTimeout ?? 10_000,
    },
    sink,
  });
  sink.exchange = exchange;
  await sink.done;
  return { status: sink.status, body: sink.body, error: sink.error, exchange };
}

const get = (uri: string): Param[] => [
  ['REQUEST_METHOD', 'GET'],
  ['REQUEST_URI', uri],
];

describe("connection reuse with Portico's own FastCGI server", () => {
  let server: FastCgiServer;
  let address: string;
  let pool: ConnectionPool;
  const connections = { opened: 0, open: 0, maxOpen: 0 };
  const aborted: string[] = [];
  let releaseHold: () => void = () => {};

  async function handler(req: BackendRequest, res: BackendResponse): Promise<void> {
    const path = req.url;
    if (path === '/hold') {
      await new Promise<void>((resolve) => {
        releaseHold = resolve;
      });
      res.end('held');
    } else if (path === '/stream') {
      req.signal.addEventListener('abort', () => aborted.push(path));
      res.write('first chunk');
      await new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve()));
      // Ended, not left open: src/backend keeps a half-closed connection until the response ends.
      res.end();
    } else if (path === '/big-head') {
      res.setHeader('X-Big', 'x'.repeat(2000));
      res.end('never seen');
    } else if (path === '/slow') {
      await new Promise((resolve) => setTimeout(resolve, 1));
      res.end('slow');
    } else {
      res.end(`hello ${path}`);
    }
  }

  before(async () => {
    server = createFastCgiServer(handler);
    server.on('connection', (socket) => {
      connections.opened++;
      connections.open++;
      connections.maxOpen = Math.max(connections.maxOpen, connections.open);
      socket.on('close', () => connections.open--);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(async () => {
    pool?.close();
    // Let the server see the previous test's connections close before counting again.
    while (connections.open > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    connections.opened = 0;
    connections.maxOpen = 0;
    pool = poolFor(address);
  });

  after(async () => {
    pool?.close();
    server.closeAllConnections();
    server.close();
  });

  it('N sequential requests travel over one kept connection', async () => {
    for (let i = 0; i < 50; i++) {
      const r = await send(pool, get(`/n${i}`));
      assert.equal(r.status, 200);
      assert.equal(r.body, `hello /n${i}`);
    }
    assert.equal(connections.opened, 1);
    assert.equal(pool.stats().connects, 1);
    assert.equal(pool.stats().reuses, 49);
    assert.equal(pool.stats().idle, 1);
  });

  it('200 concurrent requests with max_conns 4: never more than 4 connections, all served via the queue', async () => {
    pool.close();
    pool = poolFor(address, { maxConns: 4, queue: 200 });
    const all = Array.from({ length: 200 }, (_, i) => send(pool, get(i % 2 === 0 ? '/slow' : `/c${i}`)));
    assert.equal(pool.stats().queued, 196, 'the rest wait in the queue');
    const results = await Promise.all(all);
    for (const [i, r] of results.entries()) {
      assert.equal(r.error, undefined);
      assert.equal(r.status, 200);
      assert.equal(r.body, i % 2 === 0 ? 'slow' : `hello /c${i}`);
    }
    assert.ok(connections.maxOpen <= 4, `${connections.maxOpen} connections open at once`);
    assert.ok(pool.stats().connects <= 4);
    assert.equal(pool.stats().queued, 0);
  });

  it('a wait in the queue longer than queue_timeout is a 503', async () => {
    pool.close();
    pool = poolFor(address, { maxConns: 1, queue: 5, queueTimeout: 100 });
    const held = send(pool, get('/hold'));
    await assert.rejects(send(pool, get('/queued')), (error: GatewayError) => {
      assert.equal(error.code, 'ERR_UPSTREAM_QUEUE_TIMEOUT');
      assert.equal(error.status, 503);
      return true;
    });
    releaseHold();
    assert.equal((await held).body, 'held');
    assert.equal((await send(pool, get('/after'))).body, 'hello /after');
    assert.equal(connections.opened, 1);
  });

  it('never reused after an error (a response head over the limit)', async () => {
    assert.equal((await send(pool, get('/a'))).status, 200);
    const bad = await send(pool, get('/big-head'), { headLimit: 512 });
    assert.equal(bad.error?.code, 'ERR_CGI_HEAD_TOO_BIG');
    assert.equal(bad.exchange.reused, true);
    const next = await send(pool, get('/b'));
    assert.equal(next.exchange.reused, false);
    assert.equal(connections.opened, 2);
  });

  it('never reused after a client abort mid-response; the backend sees the abort', async () => {
    assert.equal((await send(pool, get('/a'))).status, 200);
    const cut = await send(pool, get('/stream'), { stopAfterBody: true });
    assert.equal(cut.body, 'first chunk');
    while (!aborted.includes('/stream')) await new Promise((resolve) => setTimeout(resolve, 5));
    const next = await send(pool, get('/b'));
    assert.equal(next.exchange.reused, false);
    assert.equal(connections.opened, 2);
    assert.equal(pool.stats().open, 1);
  });

  it('never reused after a short read (the writer stopped at the head, as for HEAD)', async () => {
    const head = await send(pool, get('/h'), { stopAtHead: true });
    assert.equal(head.status, 200);
    const next = await send(pool, get('/b'));
    assert.equal(next.exchange.reused, false);
    assert.equal(connections.opened, 2);
  });
});

const phpFpm = requirePeer('php-fpm', PHP_FPM_PATH);

describe('connection reuse with php-fpm', { skip: phpFpm.skip }, () => {
  let docroot: TempDir;
  const script = (root: string): Param[] => [
    ['REQUEST_METHOD', 'GET'],
    ['SCRIPT_FILENAME', join(root, 'pid.php')],
    ['SCRIPT_NAME', '/pid.php'],
    ['REQUEST_URI', '/pid.php'],
    ['QUERY_STRING', ''],
  ];

  before(async () => {
    docroot = await makeTempDir('php-pool');
    await writeFile(join(docroot.path, 'pid.php'), '<?php echo getmypid();\n');
  });
  after(async () => {
    await docroot?.cleanup();
  });

  for (const listen of ['tcp', 'unix'] as const) {
    it(`over ${listen}: sequential requests reuse one connection (php-fpm ends STDOUT with END_REQUEST alone)`, async () => {
      const fpm: PhpFpm = await startPhpFpm({
        listen,
        docroot: docroot.path,
        poolOptions: { pm_max_children: 1 },
      });
      const pool = poolFor(fpm.address);
      try {
        const pids = new Set<string>();
        for (let i = 0; i < 10; i++) {
          const r = await send(pool, script(docroot.path));
          assert.equal(r.error, undefined);
          assert.equal(r.status, 200);
          pids.add(r.body);
        }
        assert.equal(pool.stats().connects, 1);
        assert.equal(pids.size, 1);
      } finally {
        pool.close();
        await fpm.stop();
      }
    });
  }

  it('a kept connection php-fpm closes at pm.max_requests is replaced without a client error', async (t) => {
    const fpm = await startPhpFpm({
      listen: 'tcp',
      docroot: docroot.path,
      poolOptions: { pm_max_children: 1, pm_max_requests: 2 },
    });
    const pool = poolFor(fpm.address, { maxConns: 1, queue: 100 });
    try {
      const pids = new Set<string>();
      let retries = 0;
      // Sequential: the close is usually seen while the connection is idle (dropped there).
      for (let i = 0; i < 8; i++) {
        const r = await send(pool, script(docroot.path));
        assert.equal(r.error, undefined, `request ${i}: ${r.error?.message}`);
        assert.equal(r.status, 200);
        pids.add(r.body);
        if (r.exchange.staleRetried) retries++;
      }
      // Queued: a connection handed straight to the next request races php-fpm's close.
      const burst = await Promise.all(Array.from({ length: 20 }, () => send(pool, script(docroot.path))));
      for (const r of burst) {
        assert.equal(r.error, undefined, r.error?.message);
        assert.equal(r.status, 200);
        pids.add(r.body);
        if (r.exchange.staleRetried) retries++;
      }
      assert.ok(pids.size >= 14, `the worker was recycled (${pids.size} pids)`);
      t.diagnostic(`${retries} stale kept connections replaced, ${pool.stats().connects} connections`);
    } finally {
      pool.close();
      await fpm.stop();
    }
  });
});
