/**
 * Per-request body backpressure on a multiplexed FastCGI connection. FastCGI has no flow
 * control per request: a request whose handler does not read may hold bodyBufferBytes while
 * the others flow; past that the connection pauses ('pause') or that body fails ('abort').
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { RecordType, Role } from '../protocol/fastcgi/constants.ts';
import {
  encodeBeginRequest,
  encodeEndOfStream,
  encodeParams,
  frameStream,
} from '../protocol/fastcgi/encode.ts';
import { Prng } from '../util/prng.ts';
import type { BackendRequest } from './request.ts';
import { cgiParams, FastCgiTestClient, parseCgiResponse } from './test-support/clients.ts';
import { deferred, startFastCgi } from './test-support/servers.ts';

const BOUND = 256 * 1024;

async function sha(req: BackendRequest): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of req) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function stdin(id: number, body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += 16384) {
    out.push(Buffer.concat(frameStream(RecordType.STDIN, id, body.subarray(at, at + 16384))));
  }
  return out;
}

function begin(client: FastCgiTestClient, id: number, body: Buffer): void {
  client.write(encodeBeginRequest(id, Role.RESPONDER, true));
  client.write(encodeParams(id, cgiParams('POST', `/r${id}`, [], body)));
}

/** Resolves once `req` holds at least `bytes` unread. */
async function holding(req: BackendRequest, bytes: number): Promise<void> {
  while (req.readableLength < bytes) await new Promise((r) => setImmediate(r));
}

describe('FastCGI body backpressure per request', () => {
  it('lets a request flow while another one, not reading, holds less than bodyBufferBytes', async (t) => {
    const prng = new Prng();
    const slowBody = prng.bytes(1024 * 1024);
    const fastBody = prng.bytes(1024 * 1024);
    const release = deferred();
    let slowHeld = 0;
    const s = await startFastCgi(async (req, res) => {
      if (req.url === '/r1') {
        await release.promise;
        slowHeld = req.readableLength;
      }
      res.end(await sha(req));
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    t.after(() => client.close());
    begin(client, 1, slowBody);
    begin(client, 2, fastBody);
    // 100 KiB of the slow body, all of the fast one, then the rest of the slow one.
    const slow = stdin(1, slowBody);
    const head = slow.splice(0, 7);
    client.write(head);
    client.write(stdin(2, fastBody));
    client.write(encodeEndOfStream(RecordType.STDIN, 2));
    const fast = await client.reply(2);
    assert.equal(
      parseCgiResponse(fast.stdout).body.toString(),
      createHash('sha256').update(fastBody).digest('hex'),
    );
    client.write(slow);
    client.write(encodeEndOfStream(RecordType.STDIN, 1));
    release.resolve();
    const reply = await client.reply(1);
    assert.ok(slowHeld <= BOUND + 65536, `held ${slowHeld}`);
    assert.equal(
      parseCgiResponse(reply.stdout).body.toString(),
      createHash('sha256').update(slowBody).digest('hex'),
    );
  });

  it("'pause': a request holding bodyBufferBytes pauses the connection until it reads", async (t) => {
    const prng = new Prng();
    const slowBody = prng.bytes(2 * 1024 * 1024);
    const fastBody = prng.bytes(64 * 1024);
    const held = deferred<number>();
    const proceed = deferred();
    let fastDone = false;
    const s = await startFastCgi(async (req, res) => {
      if (req.url === '/r1') {
        await holding(req, BOUND);
        held.resolve(req.readableLength);
        await proceed.promise;
      }
      const digest = await sha(req);
      if (req.url === '/r2') fastDone = true;
      res.end(digest);
    });
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    t.after(() => client.close());
    begin(client, 1, slowBody);
    begin(client, 2, fastBody);
    client.write(stdin(1, slowBody));
    client.write(encodeEndOfStream(RecordType.STDIN, 1));
    client.write(stdin(2, fastBody));
    client.write(encodeEndOfStream(RecordType.STDIN, 2));
    const bytes = await held.promise;
    // The fast request's bytes are behind the slow one's on the wire: it cannot be done yet.
    assert.equal(fastDone, false);
    assert.ok(bytes < BOUND + 128 * 1024, `held ${bytes}`);
    proceed.resolve();
    const [one, two] = await Promise.all([client.reply(1), client.reply(2)]);
    assert.equal(
      parseCgiResponse(one.stdout).body.toString(),
      createHash('sha256').update(slowBody).digest('hex'),
    );
    assert.equal(
      parseCgiResponse(two.stdout).body.toString(),
      createHash('sha256').update(fastBody).digest('hex'),
    );
  });

  it("'abort': a request holding bodyBufferBytes fails its body, the others keep flowing", async (t) => {
    const prng = new Prng();
    const slowBody = prng.bytes(2 * 1024 * 1024);
    const fastBody = prng.bytes(512 * 1024);
    const release = deferred();
    const s = await startFastCgi(
      async (req, res) => {
        if (req.url === '/r1') await release.promise;
        try {
          res.end(await sha(req));
        } catch (error) {
          res.statusCode = (error as { status: number }).status;
          res.end((error as { code: string }).code);
        }
      },
      { bodyOverflow: 'abort' },
    );
    t.after(() => s.close());
    const client = await FastCgiTestClient.connect(s.address);
    t.after(() => client.close());
    begin(client, 1, slowBody);
    begin(client, 2, fastBody);
    client.write(stdin(1, slowBody));
    client.write(encodeEndOfStream(RecordType.STDIN, 1));
    client.write(stdin(2, fastBody));
    client.write(encodeEndOfStream(RecordType.STDIN, 2));
    const two = await client.reply(2);
    assert.equal(
      parseCgiResponse(two.stdout).body.toString(),
      createHash('sha256').update(fastBody).digest('hex'),
    );
    release.resolve();
    const one = parseCgiResponse((await client.reply(1)).stdout);
    assert.equal(one.status, 503);
    assert.equal(one.body.toString(), 'ERR_BACKEND_BODY_OVERFLOW');
  });
});
