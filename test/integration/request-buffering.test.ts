/**
 * A body that fits client_body_buffer_size is read whole before the backend is contacted (nginx's
 * request buffering): a slow client holds no backend connection, and head + body go out together.
 * A larger body of known length is streamed as it arrives.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startScgiRecorder } from '../support/recording-backend.ts';
import { startTestGateway, type TestGateway } from './support/gateway.ts';
import { RawConnection } from './support/http.ts';

let recorder: Awaited<ReturnType<typeof startScgiRecorder>>;
let gw: TestGateway;

before(async () => {
  recorder = await startScgiRecorder();
  gw = await startTestGateway({
    client_body_buffer_size: '1k',
    locations: [
      { match: '/', scgi: { pass: recorder.address } },
      { match: '/stream/', scgi: { pass: recorder.address, request_buffering: false } },
    ],
  });
});

after(async () => {
  await gw.close();
  await recorder.close();
});

/** Sends a head with Expect: 100-continue and half the body; resolves once Portico wanted the body. */
async function startSlowUpload(size: number, path = '/slow'): Promise<{ conn: RawConnection; rest: string }> {
  const body = 'x'.repeat(size);
  const conn = await RawConnection.open(gw.address);
  conn.write(
    `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: ${size}\r\nExpect: 100-continue\r\n\r\n`,
  );
  // Portico answers 100 Continue once it has routed the request and wants the body.
  await conn.readUntil((d) => d.includes('100 Continue'), '100 Continue');
  conn.write(body.slice(0, size / 2));
  return { conn, rest: body.slice(size / 2) };
}

async function quickRequest(): Promise<number> {
  const next = recorder.nextRequest();
  const res = await fetch(`${gw.url}/quick`);
  await res.text();
  return (await next).connection;
}

test('a small body is read whole first: the backend sees no connection until it is complete', async () => {
  const before = recorder.requests.length;
  const { conn, rest } = await startSlowUpload(512);
  // Another request completes meanwhile; had the slow upload been connected already, it would
  // have taken the backend's next connection number.
  const quick = await quickRequest();
  assert.equal(quick, before + 1);
  const next = recorder.nextRequest();
  conn.write(rest);
  const slow = await next;
  assert.equal(slow.connection, before + 2);
  assert.equal(slow.body.toString(), 'x'.repeat(512));
  assert.equal(slow.env.find(([n]) => n === 'CONTENT_LENGTH')?.[1], '512');
  await conn.readUntil((d) => d.includes('HTTP/1.1 200'), 'response');
  conn.destroy();
});

test('request_buffering on (default): a body larger than client_body_buffer_size is read whole first (temp file)', async () => {
  const before = recorder.requests.length;
  const { conn, rest } = await startSlowUpload(4096);
  const quick = await quickRequest();
  assert.equal(quick, before + 1, 'the upload holds no backend connection while it arrives');
  const next = recorder.nextRequest();
  conn.write(rest);
  const slow = await next;
  assert.equal(slow.connection, before + 2);
  assert.equal(slow.body.toString(), 'x'.repeat(4096));
  assert.equal(slow.env.find(([n]) => n === 'CONTENT_LENGTH')?.[1], '4096');
  await conn.readUntil((d) => d.includes('HTTP/1.1 200'), 'response');
  conn.destroy();
});

test('request_buffering off: a body larger than client_body_buffer_size is streamed: the backend is contacted at once', async () => {
  const before = recorder.requests.length;
  const { conn, rest } = await startSlowUpload(4096, '/stream/slow');
  const quick = await quickRequest();
  assert.equal(quick, before + 2, 'the streamed upload took the backend connection first');
  const next = recorder.nextRequest();
  conn.write(rest);
  const slow = await next;
  assert.equal(slow.connection, before + 1);
  assert.equal(slow.body.length, 4096);
  await conn.readUntil((d) => d.includes('HTTP/1.1 200'), 'response');
  conn.destroy();
});
