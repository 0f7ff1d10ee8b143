/**
 * Streaming latency: the time from the moment the backend writes a chunk to the moment the
 * client reads it through the gateway. The bench backend starts every chunk with "@T" and the
 * CLOCK_MONOTONIC nanoseconds of its write; Node's process.hrtime.bigint() reads the same
 * clock, so the difference is the gateway's delay (plus two loopback hops). One request at a
 * time over a fresh connection; every request is bounded in time.
 */
import { connect } from 'node:net';

export interface StreamProbeOptions {
  readonly port: number;
  /** Path up to the query, e.g. /fcgi-stream/stream */
  readonly path: string;
  readonly requests: number;
  readonly chunks: number;
  readonly intervalMs: number;
}

export interface StreamProbeResult {
  /** Microseconds, one per chunk received. */
  readonly delaysUs: number[];
  readonly requests: number;
  readonly expectedChunks: number;
  readonly receivedChunks: number;
  /** Requests that failed: no 200, short of chunks, or timed out. */
  readonly errors: number;
  readonly bytes: number;
  readonly seconds: number;
}

const MARKER = /@T(\d{20})/g;
const MARKER_LENGTH = 22;

function probeOne(
  options: StreamProbeOptions,
  delays: number[],
): Promise<{ ok: boolean; chunks: number; bytes: number }> {
  const timeoutMs = options.chunks * options.intervalMs + 5000;
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: options.port });
    socket.setNoDelay(true);
    let tail = '';
    let head = '';
    let chunks = 0;
    let bytes = 0;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.once('connect', () => {
      socket.write(
        `GET ${options.path}?n=${options.chunks}&ms=${options.intervalMs} HTTP/1.1\r\n` +
          'Host: 127.0.0.1\r\nConnection: close\r\n\r\n',
      );
    });
    socket.on('data', (data: Buffer) => {
      const now = process.hrtime.bigint();
      bytes += data.length;
      const text = tail + data.toString('latin1');
      if (head.length < 12) head += text.slice(0, 12);
      MARKER.lastIndex = 0;
      for (let m = MARKER.exec(text); m !== null; m = MARKER.exec(text)) {
        // A marker wholly inside the carried-over tail was counted with the previous read.
        if (m.index + MARKER_LENGTH <= tail.length) continue;
        delays.push(Number(now - BigInt(m[1]!)) / 1000);
        chunks++;
      }
      tail = text.slice(-(MARKER_LENGTH - 1));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ ok: head.startsWith('HTTP/1.1 200') && chunks === options.chunks, chunks, bytes });
    });
    socket.once('error', () => undefined);
  });
}

export async function runStreamProbe(options: StreamProbeOptions): Promise<StreamProbeResult> {
  const delaysUs: number[] = [];
  let errors = 0;
  let received = 0;
  let bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < options.requests; i++) {
    const one = await probeOne(options, delaysUs);
    if (!one.ok) errors++;
    received += one.chunks;
    bytes += one.bytes;
  }
  return {
    delaysUs,
    requests: options.requests,
    expectedChunks: options.requests * options.chunks,
    receivedChunks: received,
    errors,
    bytes,
    seconds: (performance.now() - t0) / 1000,
  };
}
