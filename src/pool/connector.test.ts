import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { GatewayError } from '../errors.ts';
import { connectBackend, type SocketTarget } from './connector.ts';

async function listener(): Promise<{ target: SocketTarget; peers: Socket[]; close: () => Promise<void> }> {
  const peers: Socket[] = [];
  const server = createServer((s) => peers.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    target: { transport: 'tcp', host: '127.0.0.1', port, display: `127.0.0.1:${port}` },
    peers,
    close: async () => {
      for (const p of peers) p.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('connectBackend socket options', () => {
  it('localAddress is the source the backend sees (nginx *_bind)', async () => {
    const l = await listener();
    try {
      const socket = await connectBackend(l.target, 5000, undefined, { localAddress: '127.0.0.2' });
      assert.equal(socket.localAddress, '127.0.0.2');
      while (l.peers.length === 0) await new Promise((r) => setImmediate(r));
      assert.equal(l.peers[0]?.remoteAddress, '127.0.0.2');
      socket.destroy();
    } finally {
      await l.close();
    }
  });

  it('keepAlive turns SO_KEEPALIVE on once connected; without it, it is left alone', async (t) => {
    const l = await listener();
    const calls: boolean[] = [];
    const original = Socket.prototype.setKeepAlive;
    t.after(() => {
      Socket.prototype.setKeepAlive = original;
    });
    Socket.prototype.setKeepAlive = function (this: Socket, ...args: unknown[]) {
      calls.push(args[0] === true);
      return (original as (...a: unknown[]) => Socket).apply(this, args);
    } as typeof original;
    try {
      (await connectBackend(l.target, 5000, undefined, { keepAlive: true })).destroy();
      assert.deepEqual(calls, [true]);
      (await connectBackend(l.target, 5000)).destroy();
      assert.deepEqual(calls, [true]);
    } finally {
      await l.close();
    }
  });

  it('a refused connect is an UpstreamError naming the address', async () => {
    const l = await listener();
    const target = l.target;
    await l.close();
    await assert.rejects(
      connectBackend(target, 5000),
      (e: unknown) =>
        e instanceof GatewayError && e.code === 'ERR_UPSTREAM_CONNECT' && e.message.includes(target.display),
    );
  });
});
