/**
 * Micro-benchmarks of the per-request helpers the profiling pass looked at that bench/micro
 * does not cover: `node bench/profile/micro.ts [iterations-scale]`. Timing and output:
 * bench/micro/harness.ts. Compare versions of the code on one machine; not a pass/fail test.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { AccessLog, type AccessRecord } from '../../src/observability/access-log.ts';
import { bench } from '../micro/harness.ts';

const requestIdModule = '../../src/observability/request-id.ts';

let sink = 0;

/** A stream that drops what it is given (the log's formatting is what is timed). */
const discard = new Writable({
  write(chunk: Buffer | string, _encoding, callback) {
    sink += chunk.length;
    callback();
  },
});

const record: AccessRecord = {
  remoteAddr: '203.0.113.7',
  time: new Date(),
  requestLine: 'GET /index.php?page=2&sort=desc HTTP/1.1',
  status: 200,
  bodyBytes: 612,
  referer: 'https://example.com/',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  upstreamAddr: '127.0.0.1:9000',
  upstreamSeconds: 0.0123,
  requestId: '0123456789abcdef0123456789abcdef',
};
const combined = new AccessLog(discard, 'combined');
const upstream = new AccessLog(discard, 'upstream');

bench('access log line, combined', 300_000, () => combined.write(record));
bench('access log line, upstream', 300_000, () => upstream.write(record));
bench('request id: randomBytes(16).toString(hex)', 300_000, () => {
  sink += randomBytes(16).toString('hex').length;
});
// Absent before the pass that added it: the line is skipped then.
const loaded = await import(requestIdModule).catch(() => undefined);
if (loaded !== undefined) {
  const { newRequestId } = loaded as { newRequestId: () => string };
  bench('request id: newRequestId (batched draws)', 300_000, () => {
    sink += newRequestId().length;
  });
}

if (sink === 0) console.log('(unreachable)');
