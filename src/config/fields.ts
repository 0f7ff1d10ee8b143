/**
 * zod building blocks for the config schema: nginx sizes and durations, on/off flags,
 * regexes checked at load time, strict objects whose unknown keys get a suggestion, and
 * the error map that words every issue for a person reading `portico check`.
 */
import { z } from 'zod';
import { DURATION_PATTERN, formatDuration, MAX_TIMER_MS, parseDuration } from '../util/durations.ts';
import { parseSize, SIZE_PATTERN } from '../util/sizes.ts';
import { captureGroupCount, compileConfigRegex, compilePlainRegex } from './match.ts';

/** Short, stable rendering of a value in a message. */
export function describeValue(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'an empty value';
  if (typeof input === 'string') {
    const text = input.length > 60 ? `${input.slice(0, 57)}...` : input;
    return JSON.stringify(text);
  }
  if (typeof input === 'number' || typeof input === 'boolean') return String(input);
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return typeof input;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

/** The per-parse error map: every message a config author can see, except the custom ones. */
export function configErrorMap(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}, got ${describeValue(issue.input)}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') return `needs at least ${min} item${min === 1 ? '' : 's'}`;
      if (issue.origin === 'string')
        return min === 1 ? 'must not be empty' : `needs at least ${min} characters`;
      return issue.inclusive ? `must be at least ${min}` : `must be greater than ${min}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array') return `allows at most ${max} items`;
      return issue.inclusive ? `must be at most ${max}` : `must be less than ${max}`;
    }
    case 'unrecognized_keys':
      return issue.keys.map((k) => `unknown key ${JSON.stringify(k)}`).join('\n');
    case 'invalid_format':
      return `invalid value ${describeValue(issue.input)}`;
    default:
      return undefined;
  }
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** `unknown key "read_timout" (did you mean "read_timeout"?)`, else the list of allowed keys. */
export function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of allowed) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const close = best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3));
  const hint = close ? `did you mean ${JSON.stringify(best)}?` : `allowed: ${allowed.join(', ')}`;
  return `unknown key ${JSON.stringify(key)} (${hint})`;
}

/**
 * A strict object: unknown keys are errors everywhere. The message holds one line per
 * unknown key, in `issue.keys` order, which the loader splits to point at each key.
 */
export function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((k) => unknownKeyMessage(k, allowed)).join('\n')
        : undefined,
  });
}

/** nginx size notation (`512`, `4k`, `10m`, `1g`; a number = bytes) -> bytes. */
export function size(options: { readonly min?: number } = {}) {
  const min = options.min ?? 0;
  return z
    .union(
      [
        z.int({ error: (i) => `expected a size in bytes, got ${describeValue(i.input)}` }).min(0),
        z.string().regex(new RegExp(SIZE_PATTERN), {
          error: (i) => `invalid size ${describeValue(i.input)} (expected 512, 4k, 10m or 1g)`,
        }),
      ],
      { error: (i) => `expected a size (512, 4k, 10m, 1g), got ${describeValue(i.input)}` },
    )
    .transform((value, ctx) => {
      const bytes = parseSize(value);
      if (bytes === undefined) {
        ctx.issues.push({
          code: 'custom',
          input: value,
          message: `size ${describeValue(value)} is too large`,
        });
        return z.NEVER;
      }
      if (bytes < min) {
        const message = min === 1 ? 'must not be 0' : `must be at least ${min} bytes`;
        ctx.issues.push({ code: 'custom', input: value, message });
        return z.NEVER;
      }
      return bytes;
    })
    .meta({ description: 'nginx size: 512, 4k, 10m, 1g (a number is bytes)' });
}

/** nginx time notation (`500ms`, `60s`, `5m`, `1h`, `1m30s`; a number = seconds) -> milliseconds. */
export function duration() {
  return z
    .union(
      [
        z.int({ error: (i) => `expected a duration in seconds, got ${describeValue(i.input)}` }).min(0),
        z.string().regex(new RegExp(DURATION_PATTERN), {
          error: (i) =>
            `invalid duration ${describeValue(i.input)} (expected 500ms, 60s, 5m, 1h, 1d or 1m30s)`,
        }),
      ],
      { error: (i) => `expected a duration (500ms, 60s, 5m, 1h), got ${describeValue(i.input)}` },
    )
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.issues.push({
          code: 'custom',
          input: value,
          message: `invalid duration ${describeValue(value)} (units y M w d h m s ms, largest first, each once)`,
        });
        return z.NEVER;
      }
      if (ms > MAX_TIMER_MS) {
        ctx.issues.push({
          code: 'custom',
          input: value,
          message: `duration ${describeValue(value)} is longer than ${formatDuration(MAX_TIMER_MS)}, the longest Node timer`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description: 'nginx duration: 500ms, 60s, 5m, 1h, 1d, 1m30s (a number is seconds)' });
}

const flagMessage = (input: unknown): string =>
  `expected true, false, on or off, got ${describeValue(input)}`;

/** nginx `on | off`, or a YAML boolean. */
export function flag() {
  return z
    .union([z.boolean(), z.enum(['on', 'off'], { error: (i) => flagMessage(i.input) })], {
      error: (i) => flagMessage(i.input),
    })
    .transform((value) => value === true || value === 'on');
}

/**
 * A regex validated at load time (nginx compiles regexes when it reads the config). `pcre`:
 * the router's dialect (locations, ProxyPassMatch); else a plain RegExp (split_path_info).
 */
export function regex(options: { readonly captures?: number; readonly pcre?: boolean } = {}) {
  return z.string().superRefine((source, ctx) => {
    const re = options.pcre === true ? compileConfigRegex(source) : compilePlainRegex(source);
    if (!re.ok) {
      ctx.addIssue({ code: 'custom', message: re.message });
      return;
    }
    const want = options.captures;
    if (want !== undefined) {
      const have = captureGroupCount(re.value);
      if (have !== want) {
        ctx.addIssue({
          code: 'custom',
          message: `needs exactly ${want} capture groups, has ${have} (nginx: "pattern must have ${want} captures")`,
        });
      }
    }
  });
}

/** An HTTP field name (RFC 9110 token), as `hide_header` / `pass_header` take. */
export function headerName() {
  return z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, {
    error: (i) => `invalid header name ${describeValue(i.input)}`,
  });
}

/** A custom issue at a key (`at: 'key'`) rather than at its value. */
export function keyIssue(path: PropertyKey[], message: string) {
  return { code: 'custom' as const, message, path, params: { at: 'key' } };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
