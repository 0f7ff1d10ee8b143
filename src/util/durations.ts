/**
 * Durations in nginx notation (`ngx_parse_time` as used by the msec directives): integer
 * components with the units `y` (365d), `M` (30d), `w`, `d`, `h`, `m`, `s`, `ms`, each at
 * most once and in that order (`1h30m`, `1m30s`, `2s500ms`, spaces allowed between them);
 * a final component without a unit, or a bare number, is seconds (`60` = `60s`, `1m30`
 * = 90s). Results are milliseconds. nginx has no fractions (`1.5s` is an error; write
 * `1500ms`).
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Units in the only order nginx accepts them, with their length in milliseconds. */
const UNITS: readonly (readonly [unit: string, ms: number])[] = [
  ['y', 365 * DAY],
  ['M', 30 * DAY],
  ['w', 7 * DAY],
  ['d', DAY],
  ['h', HOUR],
  ['m', MINUTE],
  ['s', SECOND],
  ['ms', 1],
];

/**
 * The longest delay a Node timer honours: setTimeout clamps anything above 2^31-1 ms to
 * 1 ms (with a TimeoutOverflowWarning), so a longer timeout would fire at once.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** The accepted text form, for the JSON Schema (`pattern`) and editors; order is checked by the parser. */
export const DURATION_PATTERN = '^ *([0-9]+ *(ms|y|M|w|d|h|m|s)? *)+$';

const COMPONENT_RE = /([0-9]+) *(ms|y|M|w|d|h|m|s)? */y;

/**
 * Milliseconds for `500ms`, `60s`, `5m`, `1h`, `1d`, `1m30s` (or a non-negative integer
 * number of seconds); `undefined` when the text is not a duration (unknown unit, units
 * out of order or repeated, a unitless number before the last component, a result that
 * is not a safe integer).
 */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) return undefined;
    const ms = input * SECOND;
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  const text = input.trim();
  if (text === '') return undefined;
  let total = 0;
  let nextUnit = 0; // index into UNITS of the smallest unit still allowed
  let pos = 0;
  COMPONENT_RE.lastIndex = 0;
  while (pos < text.length) {
    COMPONENT_RE.lastIndex = pos;
    const m = COMPONENT_RE.exec(text);
    if (m === null) return undefined;
    pos = COMPONENT_RE.lastIndex;
    const value = Number(m[1]);
    const unit = m[2];
    let scale: number;
    if (unit === undefined) {
      // nginx: a number without a unit is seconds and must be the last component.
      if (pos !== text.length || nextUnit > UNITS.length - 2) return undefined;
      scale = SECOND;
    } else {
      const index = UNITS.findIndex(([u]) => u === unit);
      if (index < nextUnit) return undefined;
      nextUnit = index + 1;
      scale = UNITS[index]![1];
    }
    total += value * scale;
    if (!Number.isSafeInteger(total)) return undefined;
  }
  return total;
}

const FORMAT_UNITS: readonly (readonly [unit: string, ms: number])[] = [
  ['d', DAY],
  ['h', HOUR],
  ['m', MINUTE],
  ['s', SECOND],
  ['ms', 1],
];

/** nginx notation for a number of milliseconds: 90000 -> `1m30s`, 500 -> `500ms`, 0 -> `0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, scale] of FORMAT_UNITS) {
    if (rest >= scale) {
      const n = Math.floor(rest / scale);
      out += `${n}${unit}`;
      rest -= n * scale;
    }
  }
  return out;
}
