/**
 * When a FastCGI exchange hands its connection back as reusable (semantics.md C.1.11, E13).
 * Real loopback sockets; the backend's bytes are emitted on the gateway's socket directly, so
 * the test chooses exactly which bytes arrive in which read.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { CgiResponseHead } from '../cgi/response-head.ts';
import type { GatewayError } from '../errors.ts';
import {
  encodeEndRequest,
  encodeStream,
  FCGI_HEADER_LEN,
  ProtocolStatus,
  RecordType,
} from '../protocol/fastcgi/index.ts';
import { Prng } from '../util/prng.ts';
import type { ExchangeRequest, ExchangeSink, RequestBody } from './exchange.ts';
import { FastCgiExchange, type FastCgiExchangeOptions } from './fastcgi-exchange.ts';
import { ScgiExchange } from './scgi-exchange.ts';

class RecordingSink implements ExchangeSink {
  readonly events: string[] = [];
  body = '';
  error: GatewayError | undefined;
  onHeadHook: (() => void) | undefined;

  onHead(head: CgiResponseHead): void {
    this.events.push(`head ${head.status}`);
    this.onHeadHook?.();
  }
  onBody(chunk: Buffer): boolean {
    this.body += chunk.toString('latin1');
    return true;
  }
  onEnd(): void {
    this.events.push('end');
  }
  onError(error: GatewayError): void {
    this.error = error;
    this.events.push(`error ${error.code}`);
  }
  onStderr(): void {}
}

interface Released {
  calls: { reusable: boolean; events: number }[];
}

const NONE: RequestBody = { kind: 'none' };

function request(body: RequestBody = NONE, contentLength = 0): ExchangeRequest {
  return {
    params: [['REQUEST_METHOD', 'GET']],
    contentLength,
    body,
    headLimit: 4096,
    sendTimeout: 10_000,
    readTimeout: 10_000,
  };
}

function stdout(text: string, close = true): Buffer {
  return encodeStream(RecordType.STDOUT, 1, Buffer.from(text, 'latin1'), close);
}

const END = encodeEndRequest(1, 0, ProtocolStatus.REQUEST_COMPLETE);
const RESPONSE = Buffer.concat([stdout('Status: 200\r\nContent-Type: text/plain\r\n\r\nhello'), END]);

describe('FastCgiExchange connection reuse', () => {
  let server: Server;
  let port: number;
  const received: Buffer[][] = [];
  const sockets: Socket[] = [];

  before(async () => {
    server = createServer((peer) => {
      sockets.push(peer);
      const chunks: Buffer[] = [];
      received.push(chunks);
      peer.on('data', (chunk: Buffer) => chunks.push(chunk));
      peer.on('error', () => {});
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  async function socket(): Promise<Socket> {
    const s = connect({ port, host: '127.0.0.1' });
    sockets.push(s);
    await once(s, 'connect');
    return s;
  }

  async function run(
    options: FastCgiExchangeOptions & { release?: boolean },
    chunks: readonly Buffer[],
    sink = new RecordingSink(),
    req = request(),
  ): Promise<{ sink: RecordingSink; released: Released; socket: Socket; exchange: FastCgiExchange }> {
    const s = await socket();
    const released: Released = { calls: [] };
    const exchange = new FastCgiExchange(s, req, sink, {
      ...options,
      ...(options.release === false
        ? {}
        : { onRelease: (_s, reusable) => released.calls.push({ reusable, events: sink.events.length }) }),
    });
    exchange.start();
    for (const chunk of chunks) s.emit('data', chunk);
    return { sink, released, socket: s, exchange };
  }

  it('sets FCGI_KEEP_CONN only when asked', async () => {
    const before = received.length;
    const a = await run({ keepConn: true }, []);
    const b = await run({}, []);
    while (received.length < before + 2 || received.slice(before).some((c) => c.length === 0)) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const flags = received.slice(before).map((chunks) => Buffer.concat(chunks)[FCGI_HEADER_LEN + 2]);
    assert.deepEqual(flags.sort(), [0, 1]);
    a.socket.destroy();
    b.socket.destroy();
  });

  it('a clean END_REQUEST at the end of a read: reusable, clean and paused, released before onEnd', async () => {
    const fresh = await socket();
    const baseline = new Map(
      ['data', 'end', 'error', 'timeout', 'drain'].map((e) => [e, fresh.listenerCount(e)]),
    );
    fresh.destroy();
    const { sink, released, socket: kept } = await run({ keepConn: true }, [RESPONSE]);
    assert.deepEqual(sink.events, ['head 200', 'end']);
    assert.equal(sink.body, 'hello');
    assert.deepEqual(released.calls, [{ reusable: true, events: 1 }]);
    assert.equal(kept.destroyed, false);
    assert.equal(kept.isPaused(), true);
    for (const event of ['data', 'end', 'error', 'timeout', 'drain']) {
      assert.equal(kept.listenerCount(event), baseline.get(event), `no '${event}' listener left`);
    }
    assert.ok(!kept.timeout, 'no timeout set');
    kept.emit('end');
    kept.destroy();
    assert.equal(released.calls.length, 1, 'released exactly once');
  });

  it('records cut at any byte: reusable iff nothing follows END_REQUEST in its read', async () => {
    for (let round = 0; round < 40; round++) {
      const rng = new Prng();
      const extra = rng.int(0, 1) === 0 ? 0 : rng.int(1, 20);
      const whole = Buffer.concat([
        stdout('Content-Type: text/plain\r\n\r\n', false),
        stdout('x'.repeat(rng.int(0, 3000)), false),
        encodeStream(RecordType.STDERR, 1, Buffer.from('warn\n'), false),
        stdout('tail'),
        END,
        rng.bytes(extra),
      ]);
      const chunks: Buffer[] = [];
      const boundaries = new Set<number>();
      for (let at = 0; at < whole.length; ) {
        const n = rng.int(1, 64);
        chunks.push(whole.subarray(at, at + n));
        at = Math.min(at + n, whole.length);
        boundaries.add(at);
      }
      const { sink, released, socket } = await run({ keepConn: true }, chunks);
      assert.deepEqual(sink.events, ['head 200', 'end'], `seed ${rng.seed}`);
      assert.ok(sink.body.endsWith('tail'), `seed ${rng.seed}`);
      assert.equal(released.calls.length, 1, `seed ${rng.seed}`);
      // Extra bytes in a later read reach the pool's idle listener instead (dropped there).
      const endsItsRead = boundaries.has(whole.length - extra);
      assert.equal(released.calls[0]?.reusable, endsItsRead, `seed ${rng.seed}`);
      socket.destroy();
    }
  });

  it('extra bytes after END_REQUEST in the same read: the response stands, the connection goes', async () => {
    const { sink, released, socket } = await run({ keepConn: true }, [
      Buffer.concat([RESPONSE, stdout('x')]),
    ]);
    assert.deepEqual(sink.events, ['head 200', 'end']);
    assert.deepEqual(released.calls, [{ reusable: false, events: 1 }]);
    assert.equal(socket.destroyed, true);
  });

  it('a partial record header after END_REQUEST: not reusable', async () => {
    const { released } = await run({ keepConn: true }, [Buffer.concat([RESPONSE, Buffer.from([1, 6])])]);
    assert.equal(released.calls[0]?.reusable, false);
  });

  it('garbage after END_REQUEST: the response ends, the connection goes', async () => {
    const { sink, released } = await run({ keepConn: true }, [Buffer.concat([RESPONSE, Buffer.alloc(8, 9)])]);
    assert.deepEqual(sink.events, ['head 200', 'end']);
    assert.equal(released.calls[0]?.reusable, false);
  });

  it('END_REQUEST without the empty STDOUT before it (as php-fpm sends it): reusable', async () => {
    const { sink, released } = await run({ keepConn: true }, [
      Buffer.concat([stdout('Status: 200\r\n\r\nhi', false), END]),
    ]);
    assert.deepEqual(sink.events, ['head 200', 'end']);
    assert.equal(released.calls[0]?.reusable, true);
  });

  it('STDOUT after its empty record: a protocol error, not reusable', async () => {
    const { sink, released } = await run({ keepConn: true }, [
      Buffer.concat([stdout('Status: 200\r\n\r\nhi'), stdout('more', false), END]),
    ]);
    assert.deepEqual(sink.events, ['head 200', 'error ERR_FCGI_STDOUT_AFTER_END']);
    assert.equal(released.calls[0]?.reusable, false);
  });

  it('END_REQUEST with an error status: not reusable, the sink gets the error', async () => {
    const { sink, released } = await run({ keepConn: true }, [
      encodeEndRequest(1, 0, ProtocolStatus.OVERLOADED),
    ]);
    assert.deepEqual(sink.events, ['error ERR_FCGI_OVERLOADED']);
    assert.deepEqual(released.calls, [{ reusable: false, events: 0 }]);
  });

  it('a protocol error: not reusable', async () => {
    const { released, socket } = await run({ keepConn: true }, [Buffer.concat([stdout('no head end'), END])]);
    assert.equal(released.calls[0]?.reusable, false);
    assert.equal(socket.destroyed, true);
  });

  it('abort mid-response (client gone): not reusable, nothing reported', async () => {
    const { sink, released, socket, exchange } = await run({ keepConn: true }, [
      stdout('Status: 200\r\n\r\npart', false),
    ]);
    exchange.abort();
    socket.emit('data', Buffer.concat([stdout(''), END]));
    assert.deepEqual(sink.events, ['head 200']);
    assert.deepEqual(released.calls, [{ reusable: false, events: 1 }]);
    assert.equal(socket.destroyed, true);
  });

  it('a response cut short by the writer at its head (HEAD, 304): not reusable', async () => {
    const sink = new RecordingSink();
    let exchange: FastCgiExchange | undefined;
    sink.onHeadHook = () => exchange?.abort();
    const s = await socket();
    const released: boolean[] = [];
    exchange = new FastCgiExchange(s, request(), sink, {
      keepConn: true,
      onRelease: (_s, reusable) => released.push(reusable),
    });
    exchange.start();
    s.emit('data', RESPONSE);
    assert.deepEqual(released, [false]);
  });

  it('the backend closes before END_REQUEST: not reusable', async () => {
    const { sink, released, socket } = await run({ keepConn: true }, [
      stdout('Status: 200\r\n\r\npart', false),
    ]);
    socket.emit('end');
    assert.deepEqual(sink.events, ['head 200', 'error ERR_UPSTREAM_TRUNCATED']);
    assert.equal(released.calls[0]?.reusable, false);
  });

  it('END_REQUEST while the request body is still being sent: not reusable', async () => {
    const source = new PassThrough();
    source.write('abc');
    const body: RequestBody = { kind: 'stream', source, length: 10 };
    const { released, socket } = await run({ keepConn: true }, [], new RecordingSink(), request(body, 10));
    await new Promise((resolve) => setImmediate(resolve));
    socket.emit('data', RESPONSE);
    assert.equal(released.calls[0]?.reusable, false);
    assert.equal(socket.destroyed, true);
  });

  it('without keepConn, or without onRelease, the socket is destroyed', async () => {
    const a = await run({}, [RESPONSE]);
    assert.deepEqual(a.released.calls, [{ reusable: false, events: 1 }]);
    assert.equal(a.socket.destroyed, true);
    const b = await run({ keepConn: true, release: false }, [RESPONSE]);
    assert.deepEqual(b.sink.events, ['head 200', 'end']);
    assert.equal(b.socket.destroyed, true);
  });

  it('SCGI never reuses', async () => {
    const s = await socket();
    const released: boolean[] = [];
    const sink = new RecordingSink();
    new ScgiExchange(s, request(), sink, { onRelease: (_s, reusable) => released.push(reusable) }).start();
    s.emit('data', Buffer.from('Status: 200 OK\r\n\r\nhi'));
    s.emit('end');
    assert.deepEqual(sink.events, ['head 200', 'end']);
    assert.deepEqual(released, [false]);
  });
});
