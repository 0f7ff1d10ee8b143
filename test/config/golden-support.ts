/** Shared by the golden and CLI tests: what `portico check` prints, with machine paths made stable. */
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { formatIssue } from '../../src/cli/check.ts';
import { formatConfigSummary } from '../../src/cli/summary.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const GOLDEN = join(import.meta.dirname, 'golden');

/** Machine-specific paths become stable placeholders. */
export function normalise(text: string): string {
  return text.replaceAll(join(tmpdir(), 'portico-body'), '<tmpdir>/portico-body').replaceAll(`${REPO}/`, '');
}

/** What `portico check -c FILE` prints: the summary for a valid config, the issue lines for an invalid one. */
export async function checkOutput(file: string): Promise<string> {
  const display = relative(REPO, file);
  try {
    return normalise(formatConfigSummary(await loadConfigFile(file), display));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return normalise(`${error.issues.map(formatIssue).join('\n')}\n`);
  }
}
