/**
 * PooledExchange: connections go back to the pool as the transport says, and a kept connection
 * that the backend closed (seen only when the next request is sent) is replaced once,
 * transparently. The backend is a scripted FastCGI peer that decides, per connection and per
 * request, to answer, to close, or to reset.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { CgiResponseHead } from '../cgi/response-head.ts';
import { type GatewayError, UpstreamError } from '../errors.ts';
import { ConnectionPool, type ConnectionPoolSettings } from '../pool/connection-pool.ts';
import { encodeEndRequest, encodeStream, ProtocolStatus, RecordType } from '../protocol/fastcgi/index.ts';
import type { ExchangeRequest, ExchangeSink, RequestBody } from './exchange.ts';
import { type PooledExchange, runExchangeWithPool } from './pooled-exchange.ts';

type Action = 'answer' | 'close' | 'reset' | 'partial' | 'silent';

/** The empty STDIN record: the end of a request from the gateway. */
const STDIN_END = Buffer.from([1, 5, 0, 1, 0, 0, 0, 0]);

class ScriptedPeer {
  readonly server: Server;
  connections = 0;
  /** Decides what to do with request `req` (1-based) on connection `conn` (1-based). */
  script: (conn: number, req: number) => Action = () => 'answer';
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  private accept(socket: Socket): void {
    const conn = ++this.connections;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let requests = 0;
    let acted = false;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // A stale connection is found dead at the first byte of the next request.
      if (!acted) {
        acted = true;
        const action = this.script(conn, requests + 1);
        if (action === 'close') return void socket.end();
        if (action === 'reset') return void socket.resetAndDestroy();
      }
      let end = buffered.indexOf(STDIN_END);
      while (end !== -1) {
        const size = end + STDIN_END.length;
        buffered = buffered.subarray(size);
        requests++;
        acted = false;
        const action = this.script(conn, requests);
        const text = `conn ${conn} req ${requests} bytes ${size}`;
        if (action === 'answer') {
          socket.write(
            Buffer.concat([
              encodeStream(RecordType.STDOUT, 1, Buffer.from(`Status: 200\r\n\r\n${text}`), true),
              encodeEndRequest(1, 0, ProtocolStatus.REQUEST_COMPLETE),
            ]),
          );
        } else if (action === 'partial') {
          socket.end(encodeStream(RecordType.STDOUT, 1, Buffer.from('Status: 200\r\n\r\npart'), false));
        }
        end = buffered.indexOf(STDIN_END);
      }
    });
  }
}

interface Outcome {
  events: string[];
  body: string;
  error: GatewayError | undefined;
}

class CollectingSink implements ExchangeSink {
  readonly outcome: Outcome = { events: [], body: '', error: undefined };
  readonly done: Promise<Outcome>;
  private finish: (o: Outcome) => void = () => {};

  constructor() {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }
  onHead(head: CgiResponseHead): void {
    this.outcome.events.push(`head ${head.status}`);
  }
  onBody(chunk: Buffer): boolean {
    this.outcome.body += chunk.toString('latin1');
    return true;
  }
  onEnd(): void {
    this.outcome.events.push('end');
    this.finish(this.outcome);
  }
  onError(error: GatewayError): void {
    this.outcome.error = error;
    this.outcome.events.push(`error ${error.code}`);
    this.finish(this.outcome);
  }
  onStderr(): void {}
}

function request(
  body: RequestBody = { kind: 'none' },
  contentLength = 0,
  readTimeout = 10_000,
): ExchangeRequest {
  return {
    params: [['REQUEST_METHOD', 'GET']],
    contentLength,
    body,
    headLimit: 4096,
    sendTimeout: 10_000,
    readTimeout,
  };
}

describe('PooledExchange', () => {
  const peer = new ScriptedPeer();
  let port: number;
  let pool: ConnectionPool;

  function newPool(settings: Partial<ConnectionPoolSettings> = {}): ConnectionPool {
    return new ConnectionPool(
      `127.0.0.1:${port}`,
      async () => {
        const s = connect({ host: '127.0.0.1', port });
        await once(s, 'connect');
        return s;
      },
      settings,
    );
  }

  async function exchange(req = request()): Promise<Outcome & { pooled: PooledExchange }> {
    const sink = new CollectingSink();
    const pooled = await runExchangeWithPool(pool, { protocol: 'fastcgi', request: req, sink });
    return { ...(await sink.done), pooled };
  }

  before(async () => {
    port = await peer.listen();
  });
  beforeEach(() => {
    pool?.close();
    pool = newPool();
    peer.script = () => 'answer';
  });
  after(() => {
    pool?.close();
    peer.close();
  });

  it('reuses the connection after a clean exchange', async () => {
    const first = peer.connections + 1;
    const a = await exchange();
    const b = await exchange();
    assert.match(a.body, new RegExp(`^conn ${first} req 1 bytes \\d+$`));
    assert.match(b.body, new RegExp(`^conn ${first} req 2 `));
    assert.equal(b.pooled.reused, true);
    assert.equal(pool.stats().connects, 1);
    // Per request, not the kept socket's running totals.
    assert.equal(b.pooled.bytesWritten, a.pooled.bytesWritten);
    assert.ok(b.pooled.bytesRead > 0 && b.pooled.bytesRead === a.pooled.bytesRead);
  });

  for (const action of ['close', 'reset'] as const) {
    it(`a kept connection found dead (${action}) at the next request: retried once on a new one`, async () => {
      const first = peer.connections + 1;
      peer.script = (conn, req) => (conn === first && req === 2 ? action : 'answer');
      await exchange();
      const b = await exchange();
      assert.deepEqual(b.events, ['head 200', 'end'], 'the sink never sees the stale failure');
      assert.match(b.body, new RegExp(`^conn ${first + 1} req 1 `));
      assert.equal(b.pooled.staleRetried, true);
      assert.equal(b.pooled.reused, false);
      assert.equal(pool.stats().connects, 2);
      assert.equal(pool.stats().idle, 1);
    });
  }

  it('a new connection that fails is not retried', async () => {
    peer.script = () => 'close';
    const a = await exchange();
    assert.deepEqual(a.events, ['error ERR_UPSTREAM_NO_HEAD']);
    assert.equal(a.pooled.staleRetried, false);
    assert.equal(pool.stats().open, 0);
  });

  it('retries once only: a second dead connection is the error', async () => {
    const first = peer.connections + 1;
    peer.script = (conn, req) => (conn === first && req === 2 ? 'close' : conn > first ? 'close' : 'answer');
    await exchange();
    const b = await exchange();
    assert.equal(b.pooled.staleRetried, true);
    assert.deepEqual(b.events, ['error ERR_UPSTREAM_NO_HEAD']);
  });

  it('after a byte of response, a failure is not retried', async () => {
    const first = peer.connections + 1;
    peer.script = (conn, req) => (conn === first && req === 2 ? 'partial' : 'answer');
    await exchange();
    const b = await exchange();
    assert.equal(b.pooled.staleRetried, false);
    assert.deepEqual(b.events, ['head 200', 'error ERR_UPSTREAM_TRUNCATED']);
  });

  it('a read timeout on a kept connection is not retried', async () => {
    const first = peer.connections + 1;
    peer.script = (conn, req) => (conn === first && req === 2 ? 'silent' : 'answer');
    await exchange();
    const b = await exchange(request({ kind: 'none' }, 0, 50));
    assert.equal(b.pooled.staleRetried, false);
    assert.deepEqual(b.events, ['error ERR_UPSTREAM_READ_TIMEOUT']);
    assert.equal(pool.stats().open, 0, 'the timed-out connection is closed, not kept');
  });

  it('an in-memory body is sent again whole on the retry', async () => {
    const first = peer.connections + 1;
    peer.script = (conn, req) => (conn === first && req === 2 ? 'close' : 'answer');
    const spill = { inMemory: true, length: 5000, memoryContents: () => Buffer.alloc(5000, 0x61) };
    const body = { kind: 'spooled', spill } as unknown as RequestBody;
    const a = await exchange(request(body, 5000));
    const b = await exchange(request(body, 5000));
    assert.equal(b.pooled.staleRetried, true);
    const size = (o: Outcome): string => o.body.split(' ')[5] as string;
    assert.equal(size(b), size(a), 'the retry carried the same request bytes');
  });

  it('a streamed body not yet started is sent on the retry; one that started is not retried', async () => {
    const first = peer.connections + 1;
    peer.script = (conn, req) => (conn === first && req >= 2 ? 'close' : 'answer');
    await exchange();
    // Nothing of the body has arrived from the client yet when the connection is found dead.
    const waiting = new PassThrough();
    const sink = new CollectingSink();
    const pooled = await runExchangeWithPool(pool, {
      protocol: 'fastcgi',
      request: request({ kind: 'stream', source: waiting, length: 3 }, 3),
      sink,
    });
    while (!pooled.staleRetried) await new Promise((resolve) => setImmediate(resolve));
    waiting.end('abc');
    const b = await sink.done;
    assert.deepEqual(b.events, ['head 200', 'end']);
    assert.match(b.body, new RegExp(`^conn ${first + 1} req 1 `));

    // A body already flowing when the connection dies cannot be replayed: the error stands.
    const second = peer.connections + 1;
    peer.script = (conn, req) => (conn === second && req === 2 ? 'close' : 'answer');
    pool.close();
    pool = newPool();
    await exchange();
    const flowing = new PassThrough();
    flowing.write('ab');
    const sink2 = new CollectingSink();
    const pooled2 = await runExchangeWithPool(pool, {
      protocol: 'fastcgi',
      request: request({ kind: 'stream', source: flowing, length: 3 }, 3),
      sink: sink2,
    });
    const c = await sink2.done;
    assert.equal(pooled2.staleRetried, false);
    assert.equal(c.error instanceof UpstreamError, true);
  });

  it('abort() during the exchange closes the connection and reports nothing', async () => {
    peer.script = () => 'silent';
    const sink = new CollectingSink();
    const pooled = await runExchangeWithPool(pool, { protocol: 'fastcgi', request: request(), sink });
    pooled.abort();
    assert.deepEqual(sink.outcome.events, []);
    assert.equal(pool.stats().open, 0);
  });

  it('runExchangeWithPool rejects with the connect error before the sink hears anything', async () => {
    const dead = new ConnectionPool('nowhere', async () => {
      throw new UpstreamError('ERR_UPSTREAM_CONNECT', 'connect() failed (ECONNREFUSED)');
    });
    const sink = new CollectingSink();
    await assert.rejects(runExchangeWithPool(dead, { protocol: 'fastcgi', request: request(), sink }), {
      code: 'ERR_UPSTREAM_CONNECT',
    });
    assert.deepEqual(sink.outcome.events, []);
  });

  it('FCGI_KEEP_CONN only when the pool keeps connections and the route allows it', async () => {
    pool.close();
    pool = newPool({ keepalive: 0 });
    const a = await exchange();
    const b = await exchange();
    assert.notEqual(a.body.split(' ')[1], b.body.split(' ')[1], 'a new connection each time');
    pool.close();
    pool = newPool();
    const sink = new CollectingSink();
    await runExchangeWithPool(pool, { protocol: 'fastcgi', request: request(), sink, keepConn: false });
    await sink.done;
    assert.equal(pool.stats().idle, 0, 'keep_conn off: closed after the response');
  });
});
