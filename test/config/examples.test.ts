/**
 * Every configuration in examples/ loads and compiles, so the examples never rot: what
 * `portico check` does, without starting anything.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile } from '../../src/config/load.ts';
import { compileRuntime } from '../../src/server/runtime.ts';
import { REPO } from './golden-support.ts';

const dir = join(REPO, 'examples');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

test('there are examples', () => {
  assert.ok(files.length > 0);
});

for (const file of files) {
  test(`examples/${file} loads and compiles`, async () => {
    const config = await loadConfigFile(join(dir, file));
    compileRuntime(config).dispose();
  });
}
