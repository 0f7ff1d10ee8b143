/**
 * Random and malformed input from the web server side: the servers never throw out of an
 * event handler, never hang (every connection closes once the peer has sent EOF), and never
 * keep requests counted after the connection is gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../errors.ts';
import { RecordType, Role } from '../protocol/fastcgi/constants.ts';
import { encodeBeginRequest, encodeParams, encodeStream } from '../protocol/fastcgi/encode.ts';
import { encodeRecordHeader, paddingFor } from '../protocol/fastcgi/record.ts';
import { encodeScgiHead } from '../protocol/scgi/encode.ts';
import { Prng } from '../util/prng.ts';
import { cgiParams, connectTo } from './test-support/clients.ts';
import { startFastCgi, startScgi } from './test-support/servers.ts';

function randomRecord(prng: Prng): Buffer {
  const id = prng.int(0, 3);
  switch (prng.int(0, 6)) {
    case 0:
      return encodeBeginRequest(
        Math.max(id, 1),
        prng.int(0, 4) === 0 ? Role.FILTER : Role.RESPONDER,
        prng.int(0, 1) === 1,
      );
    case 1:
      return encodeParams(
        Math.max(id, 1),
        cgiParams('POST', '/f', [], prng.int(0, 1) ? prng.bytes(prng.int(0, 50)) : undefined),
      );
    case 2:
      return encodeStream(
        RecordType.STDIN,
        Math.max(id, 1),
        prng.bytes(prng.int(0, 300)),
        prng.int(0, 1) === 1,
      );
    default: {
      // Any type, any id, random content and padding; now and then a bad version byte.
      const content = prng.bytes(prng.int(0, 40));
      const padding = prng.int(0, 1) ? paddingFor(content.length) : prng.int(0, 20);
      const header = encodeRecordHeader(1, id, content.length, padding);
      header[1] = prng.int(0, 14);
      if (prng.int(0, 30) === 0) header[0] = 2;
      return Buffer.concat([header, content, Buffer.alloc(padding)]);
    }
  }
}

async function sendAndClose(address: { port: number }, data: Buffer, prng: Prng): Promise<void> {
  const socket = await connectTo(address);
  socket.on('error', () => {});
  socket.resume();
  const closed = new Promise((resolve) => socket.once('close', resolve));
  for (const piece of prng.chunks(data, 500)) socket.write(piece);
  socket.end();
  await closed;
}

describe('servers under random input', () => {
  it('FastCGI: random record streams', async (t) => {
    const prng = new Prng();
    const s = await startFastCgi(async (req, res) => {
      if (prng.int(0, 1)) for await (const _ of req);
      res.end('ok');
    });
    t.after(() => s.close());
    for (let round = 0; round < 150; round++) {
      const records: Buffer[] = [];
      for (let n = prng.int(1, 20); n > 0; n--) records.push(randomRecord(prng));
      await sendAndClose(s.address, Buffer.concat(records), prng);
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(s.server.activeRequests, 0, `seed ${prng.seed}`);
    for (const error of s.errors)
      assert.ok(error instanceof GatewayError, `seed ${prng.seed}: ${String(error)}`);
  });

  it('SCGI: random and truncated requests', async (t) => {
    const prng = new Prng();
    const s = await startScgi(async (req, res) => {
      for await (const _ of req);
      res.end('ok');
    });
    t.after(() => s.close());
    for (let round = 0; round < 150; round++) {
      let data = encodeScgiHead(cgiParams('POST', '/s'), prng.int(0, 100));
      data = Buffer.concat([data, prng.bytes(prng.int(0, 120))]);
      if (prng.int(0, 2) === 0) data = data.subarray(0, prng.int(0, data.length));
      if (prng.int(0, 3) === 0) data[prng.int(0, Math.max(0, data.length - 1))] = prng.int(0, 255);
      await sendAndClose(s.address, data, prng);
    }
    for (const error of s.errors)
      assert.ok(error instanceof GatewayError, `seed ${prng.seed}: ${String(error)}`);
  });
});
