import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { AccessLog, type AccessRecord, localTime } from './access-log.ts';

const RECORD: AccessRecord = {
  remoteAddr: '127.0.0.1',
  time: new Date(2026, 10, 22, 6, 59, 0),
  requestLine: 'GET /index.php?a=1 HTTP/1.1',
  status: 200,
  bodyBytes: 612,
  referer: undefined,
  userAgent: 'curl/8.0',
  upstreamAddr: '127.0.0.1:9000',
  upstreamSeconds: 0.0123,
  requestId: '0123456789abcdef',
};

function line(format: 'combined' | 'upstream', record: AccessRecord): string {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => {
    text += c.toString('latin1');
  });
  new AccessLog(out, format).write(record);
  return text;
}

test("combined is nginx's combined format", () => {
  assert.equal(
    line('combined', RECORD),
    `127.0.0.1 - - [${localTime(RECORD.time)}] "GET /index.php?a=1 HTTP/1.1" 200 612 "-" "curl/8.0"\n`,
  );
  assert.match(localTime(RECORD.time), /^22\/Nov\/2026:06:59:00 [+-]\d{4}$/);
});

test('upstream adds $upstream_addr, $upstream_response_time and $request_id', () => {
  assert.match(line('upstream', RECORD), /" 127\.0\.0\.1:9000 0\.012 0123456789abcdef\n$/);
  assert.match(
    line('upstream', { ...RECORD, upstreamAddr: '', upstreamSeconds: undefined }),
    /" - - 0123456789abcdef\n$/,
  );
});

test('every server tried is listed, as nginx lists $upstream_addr and $upstream_response_time', () => {
  assert.match(
    line('upstream', {
      ...RECORD,
      upstreamAddr: '127.0.0.1:9000, 127.0.0.1:9001',
      upstreamSeconds: [0.0012, 0.0345],
    }),
    /" 127\.0\.0\.1:9000, 127\.0\.0\.1:9001 0\.001, 0\.035 0123456789abcdef\n$/,
  );
});

test('quotes, backslashes and control bytes are escaped as nginx does', () => {
  const text = line('combined', { ...RECORD, userAgent: 'a"b\\c\nd\xff', requestLine: 'GET /\x01 HTTP/1.1' });
  assert.equal(text.split('\n').length, 2);
  assert.match(text, /"GET \/\\x01 HTTP\/1\.1"/);
  assert.match(text, /"a\\x22b\\x5Cc\\x0Ad\\xFF"/);
});
