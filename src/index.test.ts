import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startScgiRecorder } from '../test/support/recording-backend.ts';
import { MemoryLogger, parseConfigObject, startGateway } from './index.ts';

test("the library API: a typed config object, a gateway, and the members' live counters", async () => {
  const backend = await startScgiRecorder();
  const gateway = await startGateway(
    parseConfigObject({
      listen: ['127.0.0.1:0'],
      access_log: { path: 'off' },
      upstreams: { app: { protocol: 'scgi', servers: [{ address: backend.address }] } },
      locations: [{ match: '/', scgi: { pass: 'app' } }],
    }),
    { log: new MemoryLogger() },
  );
  try {
    const res = await fetch(gateway.urls[0] as string);
    assert.equal(res.status, 200);
    await res.text();
    const groups = gateway.upstreams();
    const app = groups.find((g) => g.name === 'app');
    assert.ok(app, JSON.stringify(groups));
    assert.equal(JSON.stringify(app).includes('"requests":1'), true, JSON.stringify(app));
  } finally {
    await gateway.close(1000);
    await backend.close();
  }
});
