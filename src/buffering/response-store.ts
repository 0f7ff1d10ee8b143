/**
 * nginx `*_store`: a complete 200 response saved as a file, written to a temp file beside the
 * target as the body passes and renamed into place only when the response ended complete (an
 * atomic rename: readers see the old file or the new one, never a part). A response cut short,
 * a backend error or a client that left removes the temp file. Permissions from
 * `*_store_access` (`user:rw group:rw all:r`); missing directories are created.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** `user:rw group:r all:r` -> 0o644; undefined when not of that form. */
export function parseStoreAccess(text: string): number | undefined {
  let mode = 0;
  for (const part of text.trim().split(/\s+/)) {
    const m = /^(user|group|all):(rw|r|w)$/.exec(part);
    if (m === null) return undefined;
    const bits = (m[2]?.includes('r') ? 4 : 0) | (m[2]?.includes('w') ? 2 : 0);
    const shift = m[1] === 'user' ? 6 : m[1] === 'group' ? 3 : 0;
    mode |= bits << shift;
  }
  return mode;
}

export class ResponseStore {
  private readonly target: string;
  private readonly temp: string;
  private readonly mode: number;
  private fd: number | undefined;
  private at = 0;

  /** Opens the temp file for `target` (created with its directories). Throws on I/O errors. */
  constructor(target: string, mode: number) {
    this.target = target;
    this.mode = mode;
    const dir = dirname(target);
    mkdirSync(dir, { recursive: true });
    this.temp = join(dir, `.portico-store-${process.pid}-${randomBytes(6).toString('hex')}`);
    this.fd = openSync(this.temp, 'wx', 0o600);
  }

  write(chunk: Buffer): void {
    const fd = this.fd;
    if (fd === undefined) return;
    let done = 0;
    while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done, this.at + done);
    this.at += chunk.length;
  }

  /** The response ended complete: the file takes its place. */
  commit(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    fchmodSync(fd, this.mode);
    closeSync(fd);
    renameSync(this.temp, this.target);
  }

  /** The response did not end complete: nothing is kept. Idempotent. */
  discard(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    closeSync(fd);
    try {
      unlinkSync(this.temp);
    } catch {
      // Already gone: nothing to keep either way.
    }
  }
}
