/**
 * Golden files: each `golden/NAME.yaml` is loaded, and what `portico check` would print (the
 * summary, or one `file:line:col: key.path: message` line per issue) must equal
 * `golden/NAME.expected`. `UPDATE_GOLDEN=1 node --test test/config/golden.test.ts` rewrites
 * the expected files; review the diff before committing.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { checkOutput, GOLDEN, REPO } from './golden-support.ts';

const UPDATE = process.env.UPDATE_GOLDEN === '1';

const names = readdirSync(GOLDEN)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

test('there are golden configs, valid and invalid', () => {
  assert.ok(names.some((n) => n.startsWith('error-')));
  assert.ok(names.some((n) => !n.startsWith('error-')));
});

for (const name of names) {
  test(`golden: ${name}`, async () => {
    const file = join(GOLDEN, name);
    const expectedFile = file.replace(/\.yaml$/, '.expected');
    const actual = await checkOutput(file);
    if (UPDATE) writeFileSync(expectedFile, actual);
    assert.ok(existsSync(expectedFile), `missing ${relative(REPO, expectedFile)} (run with UPDATE_GOLDEN=1)`);
    assert.equal(actual, readFileSync(expectedFile, 'utf8'));
    // error-*.yaml must fail and the others must pass, whatever the expected file says.
    assert.equal(actual.startsWith('configuration '), !name.startsWith('error-'), 'valid/invalid mismatch');
  });
}
