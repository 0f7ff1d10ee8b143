/**
 * `node bench/profile/summarise.ts FILE.cpuprofile [--top 30] [--from US] [--to US] [--json]`:
 * self and total time by category, file and function of a `node --cpu-prof` profile (see
 * cpuprofile.ts). `--from` / `--to` keep only the samples in that window of the profile's
 * clock (microseconds, CLOCK_MONOTONIC; bench/profile/run.ts passes the load's window so
 * start-up and shutdown do not count).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type CpuProfile, formatSummary, summarise } from './cpuprofile.ts';

const REPO = resolve(import.meta.dirname, '..', '..');

function main(): number {
  const { values, positionals } = parseArgs({
    options: {
      top: { type: 'string', default: '30' },
      from: { type: 'string' },
      to: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) {
    process.stderr.write(
      'usage: node bench/profile/summarise.ts FILE.cpuprofile [--top N] [--from US] [--to US] [--json]\n',
    );
    return 2;
  }
  const top = Number(values.top);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const summary = summarise(profile, REPO, {
    ...(values.from === undefined ? {} : { fromUs: Number(values.from) }),
    ...(values.to === undefined ? {} : { toUs: Number(values.to) }),
  });
  process.stdout.write(
    values.json
      ? `${JSON.stringify(summary, null, 2)}\n`
      : `${formatSummary(summary, Number.isInteger(top) && top > 0 ? top : 30)}\n`,
  );
  return 0;
}

process.exitCode = main();
