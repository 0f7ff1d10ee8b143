import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configJsonSchema } from './json-schema.ts';

type JsonObject = Record<string, unknown>;
const props = (o: unknown): JsonObject => (o as { properties: JsonObject }).properties;

test('the JSON Schema describes what users write, strictly', () => {
  const schema = configJsonSchema();
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(schema.additionalProperties, false);
  const top = props(schema);
  for (const key of [
    'listen',
    'server_name',
    'root',
    'client_max_body_size',
    'upstreams',
    'locations',
    'proxy_pass',
  ]) {
    assert.ok(key in top, key);
  }
  // Defaults appear as written (nginx notation), not as parsed numbers.
  assert.equal((top.client_max_body_size as JsonObject).default, '1m');
  assert.equal((top.keepalive_timeout as JsonObject).default, '75s');
  const location = (top.locations as { items: JsonObject }).items;
  assert.equal(location.additionalProperties, false);
  const fastcgi = props(props(location).fastcgi);
  assert.ok('split_path_info' in fastcgi && 'pass' in fastcgi && 'read_timeout' in fastcgi);
});

test('the JSON Schema is plain JSON', () => {
  const schema = configJsonSchema();
  assert.deepEqual(JSON.parse(JSON.stringify(schema)), schema);
});
