/** `portico check`: validate a config and say what would run, or list every problem. */
import { loadConfigFile } from '../config/load.ts';
import type { PorticoConfig } from '../config/schema.ts';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { formatConfigSummary } from './summary.ts';

/** `file:line:col: key.path: message`, one line per issue (position omitted when unknown). */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return `${where}: ${issue.path}: ${issue.message}`;
}

export type LoadOutcome = { readonly config: PorticoConfig } | { readonly exitCode: number };

/** Load a config, printing every issue to stderr when it is invalid. */
export async function loadOrReport(file: string): Promise<LoadOutcome> {
  try {
    return { config: await loadConfigFile(file) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.issues.map(formatIssue).join('\n')}\n`);
    const n = error.issues.length;
    process.stderr.write(`portico: ${file}: ${n} error${n === 1 ? '' : 's'}\n`);
    return { exitCode: 1 };
  }
}

export async function runCheck(file: string): Promise<number> {
  const outcome = await loadOrReport(file);
  if ('exitCode' in outcome) return outcome.exitCode;
  process.stdout.write(formatConfigSummary(outcome.config, file));
  return 0;
}
