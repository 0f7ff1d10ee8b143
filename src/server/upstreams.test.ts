import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestCap } from './upstreams.ts';

test('requestCap: max_conns alone, or max_conns multiplexed connections within FCGI_MAX_REQS', () => {
  assert.equal(requestCap(4, undefined), 4, 'one request per connection');
  assert.equal(requestCap(0, undefined), 0, 'no max_conns: no cap');
  assert.equal(requestCap(4, { perConnection: 128, total: 1024 }), 512);
  assert.equal(requestCap(4, { perConnection: 50, total: 50 }), 50, 'FCGI_MAX_REQS is for all connections');
  assert.equal(requestCap(0, { perConnection: 50, total: 50 }), 50, 'the application says what it takes');
  assert.equal(requestCap(2, { perConnection: 128, total: undefined }), 256, 'multiplex: on asks nothing');
  assert.equal(requestCap(0, { perConnection: 128, total: undefined }), 0);
});
