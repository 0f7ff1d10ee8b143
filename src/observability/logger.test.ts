import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { MAX_LOG_LINE_BYTES, StreamLogger } from './logger.ts';

function capture(level: 'debug' | 'info' | 'error') {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { logger: new StreamLogger(out, level), lines: () => chunks.join('').split('\n').filter(Boolean) };
}

test('lines below the configured level are dropped', () => {
  const { logger, lines } = capture('error');
  logger.log('info', 'not shown');
  logger.log('error', 'shown');
  assert.equal(logger.enabled('warn'), false);
  assert.equal(lines().length, 1);
  assert.match(lines()[0] ?? '', /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[error\] shown$/);
});

test('fields follow the message: request id and backend, as operators grep for them', () => {
  const { logger, lines } = capture('debug');
  logger.log('error', 'upstream timed out', {
    requestId: 'abc',
    backend: '127.0.0.1:9000',
    skipped: undefined,
  });
  assert.match(lines()[0] ?? '', /\[error\] upstream timed out, requestId: abc, backend: 127\.0\.0\.1:9000$/);
});

test('control bytes from a backend or client cannot forge a log line', () => {
  const { logger, lines } = capture('debug');
  logger.log('error', 'FastCGI sent in stderr: "x\n2026/01/01 00:00:00 [error] forged\r"', {
    requestId: 'a\nb',
  });
  assert.equal(lines().length, 1);
  assert.match(lines()[0] ?? '', /x\\x0a2026.*forged\\x0d".*requestId: a\\x0ab$/);
});

test('one line is bounded in size', () => {
  const { logger, lines } = capture('debug');
  logger.log('error', 'x'.repeat(MAX_LOG_LINE_BYTES * 4));
  const line = lines()[0] ?? '';
  assert.ok(line.length <= MAX_LOG_LINE_BYTES + 20, `line of ${line.length}`);
  assert.match(line, /\.\.\.\[truncated\]$/);
});
