import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BufferedWriter } from './buffered-writer.ts';

/** A client socket that holds what it is given until `send()` says the kernel took it. */
class FakeResponse {
  writableLength = 0;
  writableNeedDrain = false;
  readonly out: Buffer[] = [];
  private readonly inFlight: Array<{ length: number; cb: (() => void) | undefined }> = [];

  write(chunk: Buffer, cb?: () => void): boolean {
    this.out.push(Buffer.from(chunk));
    this.writableLength += chunk.length;
    this.inFlight.push({ length: chunk.length, cb });
    return true;
  }

  /** The socket sends its oldest chunk. */
  send(): void {
    const first = this.inFlight.shift();
    if (first === undefined) return;
    this.writableLength -= first.length;
    first.cb?.();
  }
}

describe('BufferedWriter busy_buffers_size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-writer-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('hands the socket at most busy_buffers_size unsent bytes; the rest waits and goes as the socket sends', () => {
    const res = new FakeResponse();
    let wakes = 0;
    let writer: BufferedWriter | undefined;
    writer = new BufferedWriter(res as unknown as ServerResponse, {
      queue: { memoryLimit: 1 << 20, maxFileBytes: 0, tempDir: dir, busyBytes: 8192 },
      onWake: () => {
        wakes++;
        writer?.flush();
      },
    });
    const piece = Buffer.alloc(4096, 0x61);
    for (let i = 0; i < 6; i++) assert.equal(writer.write(piece), 'ok');
    assert.equal(res.writableLength, 8192, 'two pieces busy, four queued');
    assert.equal(writer.pending, 4 * 4096);
    assert.equal(writer.clientFull, true);
    res.send();
    assert.equal(wakes, 1);
    assert.equal(res.writableLength, 8192);
    assert.equal(writer.pending, 3 * 4096);
    for (let i = 0; i < 5; i++) res.send();
    assert.equal(writer.pending, 0);
    assert.equal(Buffer.concat(res.out).length, 6 * 4096);
  });

  it("without busy_buffers_size Node's high-water mark decides (every piece goes to the socket)", () => {
    const res = new FakeResponse();
    const writer = new BufferedWriter(res as unknown as ServerResponse, {
      queue: { memoryLimit: 1 << 20, maxFileBytes: 0, tempDir: dir },
    });
    const piece = Buffer.alloc(4096, 0x62);
    for (let i = 0; i < 6; i++) writer.write(piece);
    assert.equal(res.writableLength, 6 * 4096);
    assert.equal(writer.pending, 0);
  });
});
