/**
 * A backend that sends its response head and then waits (server-sent events, long polling):
 * the client gets the head at once, not with the first body byte. An ordering test: the
 * backend writes its body only after the client has seen the head.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { startTestGateway } from './support/gateway.ts';

test('a head flushed alone reaches the client before any body byte exists', async () => {
  let sendBody: (() => void) | undefined;
  const backend = createServer((socket: Socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.write('Status: 200 OK\r\nContent-Type: text/event-stream\r\n\r\n');
      sendBody = () => socket.end('data: 1\n\n');
    });
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const port = (backend.address() as { port: number }).port;
  const gw = await startTestGateway({ locations: [{ match: '/', scgi: { pass: `127.0.0.1:${port}` } }] });
  try {
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      get(`${gw.url}/events`, resolve).on('error', reject);
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    assert.ok(sendBody, 'the backend has sent only its head');
    sendBody();
    let body = '';
    for await (const chunk of res as AsyncIterable<Buffer>) body += chunk.toString();
    assert.equal(body, 'data: 1\n\n');
  } finally {
    await gw.close();
    backend.close();
  }
});
