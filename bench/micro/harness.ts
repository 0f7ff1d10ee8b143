/**
 * The timing loop and report line the micro benches share. Bounded: a case runs exactly its
 * iteration count after an untimed warm-up (so V8 has optimised the code under test before the
 * clock starts). Numbers compare versions of our own code on one machine; they are not a
 * pass/fail test.
 */

/** Calls `fn(i)` `warmup` times untimed, then `iterations` times timed; returns ns per call. */
export function nsPerOp(
  iterations: number,
  fn: (i: number) => void,
  warmup = Math.min(iterations, 1000),
): number {
  for (let i = 0; i < warmup; i++) fn(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / iterations;
}

/** One aligned line: name, ops/s, ns/op, then `extra` (e.g. MiB/s, hit counts). */
export function printRow(name: string, ns: number, extra = ''): void {
  const ops = String(Math.round(1e9 / ns)).padStart(10);
  console.log(
    `${name.padEnd(46)} ${ops} ops/s ${ns.toFixed(1).padStart(9)} ns/op${extra ? ` ${extra}` : ''}`,
  );
}

/**
 * Times and prints one case for the benches whose only argument is an iteration scale
 * (`node bench/micro/codecs.ts 0.1` for a quick run): `iterations` is multiplied by it.
 */
export function bench(name: string, iterations: number, fn: () => void): void {
  const scale = Number(process.argv[2] ?? 1) || 1;
  printRow(name, nsPerOp(Math.max(1, Math.round(iterations * scale)), fn));
}
