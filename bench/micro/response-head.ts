/**
 * Micro-benchmark of CgiResponseHeadParser: typical PHP-FPM and SCGI heads, whole and cut into
 * chunks (the scratch-buffer path), and a head near nginx's 4 KiB buffer_size.
 *
 *   node bench/micro/response-head.ts [--json] [--iterations N]
 *
 * Bounded: every case runs a fixed number of iterations (default 200,000) after a warm-up.
 */
import { CgiResponseHeadParser } from '../../src/cgi/response-head.ts';
import { nsPerOp, printRow } from './harness.ts';

interface Case {
  readonly name: string;
  readonly chunks: readonly Buffer[];
  readonly allowStatusLine: boolean;
}

const args = process.argv.slice(2);
const json = args.includes('--json');
const at = args.indexOf('--iterations');
const iterations = at >= 0 ? Math.max(1, Number(args[at + 1]) || 0) : 200_000;

const php = Buffer.from(
  'X-Powered-By: PHP/8.3.12\r\n' +
    'Set-Cookie: PHPSESSID=0123456789abcdef0123456789; path=/; HttpOnly\r\n' +
    'Expires: Thu, 19 Nov 1981 08:52:00 GMT\r\n' +
    'Cache-Control: no-store, no-cache, must-revalidate\r\n' +
    'Pragma: no-cache\r\n' +
    'Content-type: text/html; charset=UTF-8\r\n' +
    '\r\n<!doctype html><html><body>hello</body></html>',
  'latin1',
);
const scgi = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\nVary: Accept\r\n\r\n{"ok":true,"n":1}',
  'latin1',
);
let big = '';
for (let i = 0; big.length < 3900; i++) big += `Set-Cookie: c${i}=${'v'.repeat(40)}; Path=/; Secure\r\n`;
const large = Buffer.from(`Status: 200 OK\r\nContent-Type: text/html\r\n${big}\r\nbody`, 'latin1');

function pieces(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

const cases: Case[] = [
  { name: 'php head, one chunk', chunks: [php], allowStatusLine: false },
  {
    name: 'php head, split in two',
    chunks: [php.subarray(0, 100), php.subarray(100)],
    allowStatusLine: false,
  },
  { name: 'php head, 64-byte chunks', chunks: pieces(php, 64), allowStatusLine: false },
  { name: 'scgi status line, one chunk', chunks: [scgi], allowStatusLine: true },
  { name: '4 KiB head, one chunk', chunks: [large], allowStatusLine: false },
  { name: '4 KiB head, 512-byte chunks', chunks: pieces(large, 512), allowStatusLine: false },
];

let sink = 0;

function runCase(c: Case): number {
  const parser = new CgiResponseHeadParser({ maxHeaderBytes: 4096, allowStatusLine: c.allowStatusLine });
  const parse = (): void => {
    parser.reset();
    for (const chunk of c.chunks) {
      const head = parser.push(chunk);
      if (head !== undefined) {
        sink += head.headers.length + head.rest.length;
        break;
      }
    }
  };
  return nsPerOp(iterations, parse, Math.min(iterations, 20_000));
}

const results = [];
for (const c of cases) {
  const ns = runCase(c);
  const bytes = c.chunks.reduce((sum, b) => sum + b.length, 0);
  const mbPerSec = Math.round(((bytes / ns) * 1e9) / 2 ** 20);
  if (!json) printRow(c.name, ns, `${String(mbPerSec).padStart(6)} MiB/s`);
  results.push({
    name: c.name,
    iterations,
    bytes,
    nsPerOp: Math.round(ns),
    opsPerSec: Math.round(1e9 / ns),
    mbPerSec,
  });
}

if (json) console.log(JSON.stringify({ bench: 'cgi/response-head', node: process.version, results, sink }));
