/**
 * Micro-benchmarks of the protocol codecs: `node bench/micro/codecs.ts [iterations-scale]`.
 * Timing and output: harness.ts.
 */
import {
  decodePairs,
  encodeEndOfStream,
  encodeEndRequest,
  encodeFastCgiRequestHead,
  encodePairs,
  encodeParams,
  encodeScgiHead,
  encodeStream,
  FastCgiRecordDecoder,
  type FastCgiRecordHandler,
  type Param,
  RecordType,
  ScgiRequestDecoder,
  type ScgiRequestHandler,
} from '../../src/protocol/index.ts';
import { bench } from './harness.ts';

/** A typical PHP request: nginx's fastcgi.conf plus a browser's headers (~1.3 KB). */
const ENV: Param[] = [
  ['SCRIPT_FILENAME', '/var/www/html/index.php'],
  ['QUERY_STRING', 'page=2&sort=desc'],
  ['REQUEST_METHOD', 'GET'],
  ['CONTENT_TYPE', ''],
  ['CONTENT_LENGTH', ''],
  ['SCRIPT_NAME', '/index.php'],
  ['REQUEST_URI', '/index.php?page=2&sort=desc'],
  ['DOCUMENT_URI', '/index.php'],
  ['DOCUMENT_ROOT', '/var/www/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'https'],
  ['HTTPS', 'on'],
  ['GATEWAY_INTERFACE', 'CGI/1.1'],
  ['SERVER_SOFTWARE', 'portico/0.1.0'],
  ['REMOTE_ADDR', '203.0.113.7'],
  ['REMOTE_PORT', '53211'],
  ['SERVER_ADDR', '198.51.100.2'],
  ['SERVER_PORT', '443'],
  ['SERVER_NAME', 'example.com'],
  ['REDIRECT_STATUS', '200'],
  ['HTTP_HOST', 'example.com'],
  ['HTTP_USER_AGENT', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'],
  ['HTTP_ACCEPT', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
  ['HTTP_ACCEPT_LANGUAGE', 'en-GB,en;q=0.5'],
  ['HTTP_ACCEPT_ENCODING', 'gzip, deflate, br, zstd'],
  ['HTTP_COOKIE', `session=${'a1b2c3d4'.repeat(8)}; theme=dark; consent=${'x'.repeat(150)}`],
  ['HTTP_UPGRADE_INSECURE_REQUESTS', '1'],
  ['HTTP_SEC_FETCH_DEST', 'document'],
  ['HTTP_SEC_FETCH_MODE', 'navigate'],
  ['HTTP_SEC_FETCH_SITE', 'none'],
];
const SCGI_ENV = ENV.filter(([name]) => name !== 'CONTENT_LENGTH');
const BIG_ENV: Param[] = [];
for (let i = 0; i < 200; i++) BIG_ENV.push([`HTTP_X_BIG_${i}`, 'v'.repeat(1000)]);
const SMALL_BODY = Buffer.alloc(1024, 0x61);

class NullFcgi implements FastCgiRecordHandler {
  bytes = 0;
  onRecord(_type: number, _requestId: number, content: Buffer): void {
    this.bytes += content.length;
  }
}

class NullScgi implements ScgiRequestHandler {
  bytes = 0;
  onHeaders(headers: Param[]): void {
    this.bytes += headers.length;
  }
  onBody(data: Buffer): void {
    this.bytes += data.length;
  }
  onEnd(): void {}
}

/** A 64 KiB response: STDOUT in 8 KiB writes, empty STDOUT, END_REQUEST; fed in 16 KiB reads. */
const response = Buffer.concat([
  ...Array.from({ length: 8 }, () => encodeStream(RecordType.STDOUT, 1, Buffer.alloc(8192, 0x62), false)),
  encodeEndOfStream(RecordType.STDOUT, 1),
  encodeEndRequest(1, 0, 0),
]);
const responseChunks: Buffer[] = [];
for (let at = 0; at < response.length; at += 16384) responseChunks.push(response.subarray(at, at + 16384));

/** Small-record traffic: 100 records of 10 bytes in one chunk. */
const chatty = Buffer.concat(
  Array.from({ length: 100 }, () => encodeStream(RecordType.STDOUT, 1, Buffer.alloc(10, 0x63), false)),
);

const scgiRequest = encodeScgiHead(SCGI_ENV, SMALL_BODY.length, SMALL_BODY);
const pairs = encodePairs(ENV);

let sink = 0;

bench('encodeScgiHead (30 params, 1.3 KB)', 200_000, () => {
  sink += encodeScgiHead(SCGI_ENV, 0).length;
});
bench('encodeScgiHead + 1 KiB inline body', 200_000, () => {
  sink += encodeScgiHead(SCGI_ENV, SMALL_BODY.length, SMALL_BODY).length;
});
bench('encodeParams (30 params)', 200_000, () => {
  sink += encodeParams(1, ENV).length;
});
bench('encodeFastCgiRequestHead (30 params, no body)', 200_000, () => {
  sink += encodeFastCgiRequestHead(1, ENV, false, Buffer.alloc(0)).length;
});
bench('encodeParams (200 params, 200 KB, 4 records)', 2_000, () => {
  sink += encodeParams(1, BIG_ENV).length;
});
bench('decodePairs (30 params)', 200_000, () => {
  sink += decodePairs(pairs).length;
});
const fcgiHandler = new NullFcgi();
bench('FastCgiRecordDecoder 64 KiB response, 16K reads', 50_000, () => {
  const decoder = new FastCgiRecordDecoder(fcgiHandler);
  for (const chunk of responseChunks) decoder.push(chunk);
});
bench('FastCgiRecordDecoder 100 x 10-byte records', 50_000, () => {
  new FastCgiRecordDecoder(fcgiHandler).push(chatty);
});
const scgiHandler = new NullScgi();
bench('ScgiRequestDecoder (30 headers + 1 KiB body)', 100_000, () => {
  new ScgiRequestDecoder(scgiHandler).push(scgiRequest);
});

if (sink + fcgiHandler.bytes + scgiHandler.bytes === -1) console.log('unreachable');
