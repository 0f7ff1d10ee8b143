import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import { GatewayError } from '../errors.ts';
import { Prng } from '../util/prng.ts';
import { type BodySegment, FILE_TRUNCATED, FileBodyReadable } from './file-body.ts';

let dir: string;
let file: string;
let data: Buffer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portico-file-body-'));
  file = join(dir, 'f.bin');
  data = new Prng(7).bytes(50_000);
  await writeFile(file, data);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function collect(out: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk);
      cb();
    },
  });
}

/** A consumer that takes its time (a tiny buffer, every write acknowledged later), as a slow client. */
function slowSink(out: Buffer[]): Writable {
  return new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk);
      setImmediate(cb);
    },
  });
}

test('property: random ranges, buffers between them and chunk sizes give exactly the expected bytes', async () => {
  const prng = new Prng();
  const handle = await open(file, 'r');
  try {
    for (let n = 0; n < 60; n++) {
      const segments: BodySegment[] = [];
      const expected: Buffer[] = [];
      const count = prng.int(0, 5);
      for (let i = 0; i < count; i++) {
        if (prng.int(0, 1) === 0) {
          const b = prng.bytes(prng.int(0, 20));
          segments.push(b);
          expected.push(b);
        }
        const start = prng.int(0, data.length - 1);
        const end = prng.int(start, Math.min(data.length - 1, start + prng.int(0, 20_000)));
        segments.push({ start, end });
        expected.push(data.subarray(start, end + 1));
      }
      const body = new FileBodyReadable(handle, segments, prng.int(1, 9000));
      const out: Buffer[] = [];
      await pipeline(body, n % 4 === 0 ? slowSink(out) : collect(out));
      const want = Buffer.concat(expected);
      assert.ok(Buffer.concat(out).equals(want), `seed ${prng.seed} case ${n}`);
      assert.equal(body.bytes, want.length);
    }
  } finally {
    await handle.close();
  }
});

test('a range past the end of the file is an error (truncation), never a short end', async () => {
  const handle = await open(file, 'r');
  try {
    const body = new FileBodyReadable(handle, [{ start: data.length - 10, end: data.length + 100 }], 4096);
    const out: Buffer[] = [];
    await assert.rejects(
      pipeline(body, collect(out)),
      (err: unknown) => err instanceof GatewayError && err.code === FILE_TRUNCATED,
    );
    assert.equal(Buffer.concat(out).length, 10);
  } finally {
    await handle.close();
  }
});

test('a closed descriptor is an error, not a hang', async () => {
  const handle = await open(file, 'r');
  await handle.close();
  const body = new FileBodyReadable(handle, [{ start: 0, end: 10 }], 4096);
  await assert.rejects(pipeline(body, new Writable({ write: (_c, _e, cb) => cb() })));
});
