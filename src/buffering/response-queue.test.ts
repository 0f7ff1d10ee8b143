import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { levelDir, ResponseQueue } from './response-queue.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-queue-'));
  dirs.push(dir);
  return dir;
}

function drain(queue: ResponseQueue): Buffer {
  const out: Buffer[] = [];
  for (let chunk = queue.shift(); chunk !== undefined; chunk = queue.shift()) out.push(chunk);
  return Buffer.concat(out);
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('ResponseQueue', () => {
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('levelDir takes each level from the end of the name, as nginx', () => {
    assert.equal(levelDir('/t', '00000123457', [1, 2]), join('/t', '7', '45'));
    assert.equal(levelDir('/t', 'abcdef', [2, 2, 1]), join('/t', 'ef', 'cd', 'b'));
    assert.equal(levelDir('/t', 'abc', []), '/t');
    assert.equal(levelDir('/t', 'abc', undefined), '/t');
  });

  it('temp_path levels: the temp file is made in hashed subdirectories (and unlinked at once)', () => {
    const dir = tempDir();
    const queue = new ResponseQueue({ memoryLimit: 10, maxFileBytes: 1 << 20, tempDir: dir, levels: [1, 2] });
    const data = bytes(5000, 1);
    queue.push(data.subarray(0, 8));
    queue.push(data.subarray(8));
    assert.equal(queue.hasFile, true);
    const [first] = readdirSync(dir);
    assert.match(first ?? '', /^[0-9a-f]$/);
    const [second] = readdirSync(join(dir, first as string));
    assert.match(second ?? '', /^[0-9a-f]{2}$/);
    assert.ok(statSync(join(dir, first as string, second as string)).isDirectory());
    assert.deepEqual(readdirSync(join(dir, first as string, second as string)), [], 'unlinked at creation');
    assert.ok(drain(queue).equals(data));
    queue.dispose();
  });

  it('temp_file_write_size: small pieces are written to the file in whole writes, and read back in order', () => {
    const dir = tempDir();
    const queue = new ResponseQueue({ memoryLimit: 0, maxFileBytes: 1 << 20, tempDir: dir, writeSize: 4096 });
    const data = bytes(10_000, 2);
    for (let at = 0; at < 3000; at += 100) queue.push(data.subarray(at, at + 100));
    assert.equal(queue.fileBytesWritten, 0, 'under 4096 bytes: nothing written yet');
    for (let at = 3000; at < 9000; at += 100) queue.push(data.subarray(at, at + 100));
    assert.equal(queue.fileBytesWritten, 8192, 'two whole writes of 4096');
    assert.equal(queue.length, 9000);
    // The reader gets the written part from the file, then the staged rest from memory.
    queue.push(data.subarray(9000));
    assert.ok(drain(queue).equals(data));
    assert.equal(queue.length, 0);
    assert.equal(queue.hasFile, false);
  });

  it('without temp_file_write_size every piece is written as it comes', () => {
    const queue = new ResponseQueue({ memoryLimit: 0, maxFileBytes: 1 << 20, tempDir: tempDir() });
    const data = bytes(1000, 3);
    queue.push(data.subarray(0, 100));
    assert.equal(queue.fileBytesWritten, 100);
    queue.push(data.subarray(100));
    assert.ok(drain(queue).equals(data));
  });

  it('interleaved pushes and shifts keep the order through memory, file and stage', () => {
    const queue = new ResponseQueue({
      memoryLimit: 300,
      maxFileBytes: 1 << 20,
      tempDir: tempDir(),
      writeSize: 512,
    });
    const data = bytes(20_000, 4);
    const out: Buffer[] = [];
    let at = 0;
    let step = 0;
    while (at < data.length) {
      const n = 37 + ((step * 97) % 700);
      queue.push(data.subarray(at, Math.min(data.length, at + n)));
      at += n;
      if (step++ % 3 === 0) {
        const chunk = queue.shift();
        if (chunk !== undefined) out.push(chunk);
      }
    }
    out.push(drain(queue));
    assert.ok(Buffer.concat(out).equals(data));
    queue.dispose();
  });
});
