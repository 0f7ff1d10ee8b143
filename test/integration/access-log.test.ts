/** The access log through the real gateway: one line per request, with the upstream address. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir } from '../support/ports.ts';
import { startScgiRecorder } from '../support/recording-backend.ts';
import { startTestGateway } from './support/gateway.ts';

async function waitForLines(file: string, count: number): Promise<string[]> {
  for (let i = 0; i < 200; i++) {
    const lines = (await readFile(file, 'latin1').catch(() => '')).split('\n').filter(Boolean);
    if (lines.length >= count) return lines;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${file} never had ${count} lines`);
}

test('access_log format upstream: status, bytes, upstream address and time, request id', async () => {
  const dir = await makeTempDir('access-log');
  const recorder = await startScgiRecorder();
  const file = join(dir.path, 'access.log');
  const gw = await startTestGateway({
    access_log: { path: file, format: 'upstream' },
    locations: [{ match: '/app/', scgi: { pass: recorder.address } }],
  });
  try {
    await fetch(`${gw.url}/app/x?q=1`, { headers: { 'user-agent': 'test-agent', referer: 'http://r/' } });
    await fetch(`${gw.url}/nowhere`);
    const [hit, miss] = await waitForLines(file, 2);
    assert.match(
      hit ?? '',
      new RegExp(
        `^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] "GET /app/x\\?q=1 HTTP/1\\.1" 200 2 "http://r/" "test-agent" ${recorder.address.replace(/\./g, '\\.')} \\d+\\.\\d{3} [0-9a-f]{32}$`,
      ),
    );
    assert.match(miss ?? '', /"GET \/nowhere HTTP\/1\.1" 404 [1-9]\d* "-" "[^"]*" - - [0-9a-f]{32}$/);
  } finally {
    await gw.close();
    await recorder.close();
    await dir.cleanup();
  }
});
