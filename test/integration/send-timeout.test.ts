/**
 * nginx send_timeout: a client that stops reading a response is disconnected once it has
 * taken nothing for send_timeout, and the backend connection is closed with it, so a stalled
 * client cannot pin a backend worker forever.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { logLines, startTestGateway, type TestGateway } from './support/gateway.ts';

/** An SCGI backend that streams up to `limit` bytes, stopping when the gateway closes it. */
function streamingBackend(limit: number) {
  let closedResolve: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    closedResolve = resolve;
  });
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const server = createServer((socket: Socket) => {
    let sent = 0;
    socket.on('error', () => {});
    socket.once('close', () => closedResolve());
    socket.once('data', () => {
      socket.write('Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n');
      const pump = (): void => {
        while (sent < limit && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
    });
  });
  return { server, closed };
}

let gateway: TestGateway;
const backend = streamingBackend(512 * 1024 * 1024);

before(async () => {
  backend.server.listen(0, '127.0.0.1');
  await once(backend.server, 'listening');
  const port = (backend.server.address() as { port: number }).port;
  gateway = await startTestGateway({
    send_timeout: '200ms',
    locations: [{ match: '/', scgi: { pass: `127.0.0.1:${port}` } }],
  });
});

after(async () => {
  await gateway.close();
  backend.server.close();
});

test('a client that stops reading is disconnected after send_timeout, and the backend with it', async () => {
  const [host, port] = gateway.address.split(':') as [string, string];
  const client = connect({ host, port: Number(port) });
  client.on('error', () => {});
  await once(client, 'connect');
  client.write(`GET /big HTTP/1.1\r\nHost: ${gateway.address}\r\n\r\n`);
  // Read nothing: the gateway's writes back up, then send_timeout ends the response.
  client.pause();
  await backend.closed;
  const clientClosed = client.destroyed ? Promise.resolve() : once(client, 'close');
  client.resume();
  await clientClosed;
  assert.equal(logLines(gateway.log, 'info', /client timed out/).length, 1);
});
