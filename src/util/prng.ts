/**
 * A small seeded PRNG (mulberry32) for property tests: failures reproduce from the printed seed.
 */
export class Prng {
  private state: number;
  readonly seed: number;

  constructor(seed: number = (Math.random() * 2 ** 32) >>> 0) {
    this.seed = seed >>> 0;
    this.state = this.seed;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }

  /** Cut `data` into random pieces (views, no copies), some of them empty. */
  chunks(data: Buffer, maxPiece = 64): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < data.length) {
      const n = this.int(0, Math.min(maxPiece, data.length - at));
      out.push(data.subarray(at, at + n));
      at += n;
    }
    return out;
  }
}
