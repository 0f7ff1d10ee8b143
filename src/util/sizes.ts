/**
 * Sizes in nginx notation (`ngx_parse_size`): decimal digits with an optional unit
 * `k`/`K` (1024), `m`/`M` (1024²) or `g`/`G` (1024³); a bare number is bytes. nginx has
 * no fractions, signs or spaces, and neither do we, so `1.5m` is an error, not 1 MiB.
 */

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/** The accepted text form, for the JSON Schema (`pattern`) and editors. */
export const SIZE_PATTERN = '^[0-9]+[kKmMgG]?$';

const SIZE_RE = /^([0-9]+)([kKmMgG]?)$/;

/**
 * Bytes for `512`, `4k`, `10m`, `1g` (or a non-negative integer number of bytes);
 * `undefined` when the text is not a size or the result is not a safe integer.
 */
export function parseSize(input: string | number): number | undefined {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  }
  const m = SIZE_RE.exec(input);
  if (m === null) return undefined;
  const digits = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  const scale = unit === 'k' ? KIB : unit === 'm' ? MIB : unit === 'g' ? GIB : 1;
  const bytes = digits * scale;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The shortest exact nginx notation for a byte count: 1048576 -> `1m`, 1536 -> `1536`. */
export function formatSize(bytes: number): string {
  if (bytes !== 0) {
    if (bytes % GIB === 0) return `${bytes / GIB}g`;
    if (bytes % MIB === 0) return `${bytes / MIB}m`;
    if (bytes % KIB === 0) return `${bytes / KIB}k`;
  }
  return String(bytes);
}
