/**
 * nginx `location` match strings and the regexes of the config.
 *
 * Location and ProxyPassMatch regexes are validated by the compiler the router runs
 * (proxy/locations.ts: PCRE's `(?i)` and `(?P<name>` translated, no `u` flag so that, like
 * PCRE without UTF mode, they see the decoded path as bytes), so `check` accepts exactly
 * what `serve` runs. split_path_info is a plain JavaScript RegExp, as cgi/path.ts compiles it.
 */
import { compileConfigRegex as compilePcreRegex } from '../proxy/locations.ts';
import type { Parsed } from './address.ts';

/** `=` exact, `^~` prefix that stops the regex search, `~` / `~*` regex, `` plain prefix, `@` named. */
export type LocationModifier = '' | '=' | '^~' | '~' | '~*' | '@';

export interface LocationMatch {
  readonly modifier: LocationModifier;
  /** The prefix, the exact URI, or the regex source. */
  readonly pattern: string;
}

const MATCH_RE = /^(=|\^~|~\*|~)?\s*(.*)$/s;

/** `"/prefix"`, `"= /exact"`, `"^~ /prefix"`, `"~ regex"`, `"~* regex"` (the space is optional, as in nginx). */
export function parseLocationMatch(text: string): Parsed<LocationMatch> {
  const m = MATCH_RE.exec(text);
  const modifier = (m?.[1] ?? '') as LocationModifier;
  const pattern = m?.[2] ?? '';
  if (pattern === '') return { ok: false, message: `location "${text}" has no URI or regex` };
  if (modifier === '~' || modifier === '~*') {
    const re = compileConfigRegex(pattern, modifier === '~*');
    return re.ok ? { ok: true, value: { modifier, pattern } } : re;
  }
  if (modifier === '' && pattern.startsWith('@')) {
    // nginx named locations: reached only by internal redirects (X-Accel-Redirect, error pages).
    if (pattern.length === 1 || /\s/.test(pattern))
      return { ok: false, message: `invalid named location "${text}"` };
    return { ok: true, value: { modifier: '@', pattern } };
  }
  if (!pattern.startsWith('/')) {
    return { ok: false, message: `location URI "${pattern}" must start with "/" (or use "~ regex")` };
  }
  return { ok: true, value: { modifier, pattern } };
}

/** V8: "Invalid regular expression: /(/: Unterminated group" -> "Unterminated group". */
function reason(text: string): string {
  return text.slice(text.lastIndexOf(': ') + 2);
}

/** A location or ProxyPassMatch regex (PCRE-like, see above). */
export function compileConfigRegex(source: string, caseInsensitive = false): Parsed<RegExp> {
  const re = compilePcreRegex(source, caseInsensitive);
  if (typeof re !== 'string') return { ok: true, value: re };
  return { ok: false, message: `invalid regular expression "${source}": ${reason(re)}` };
}

/** A plain JavaScript RegExp (split_path_info). */
export function compilePlainRegex(source: string): Parsed<RegExp> {
  try {
    return { ok: true, value: new RegExp(source) };
  } catch (error) {
    return {
      ok: false,
      message: `invalid regular expression "${source}": ${reason(String((error as Error).message))}`,
    };
  }
}

/** How many capture groups (numbered and named) a regex has. */
export function captureGroupCount(re: RegExp): number {
  // An empty alternative always matches, and exec reports one slot per group.
  return new RegExp(`${re.source}|`, re.flags).exec('')!.length - 1;
}

/** The highest `$N` reference in a template (`/var/www/$1` -> 1), 0 when none. */
export function maxCaptureReference(template: string): number {
  let max = 0;
  for (const m of template.matchAll(/\$([0-9])/g)) max = Math.max(max, Number(m[1]));
  return max;
}

/**
 * Two non-regex locations with the same URI are one location twice: nginx refuses
 * `duplicate location`, counting `/a` and `^~ /a` as the same, and `= /a` apart.
 */
export function locationIdentity(match: LocationMatch): string | undefined {
  if (match.modifier === '~' || match.modifier === '~*') return undefined;
  return `${match.modifier === '=' ? '=' : ''}${match.pattern}`; // @name starts with @, apart from paths
}

/**
 * Locations in the order nginx considers them (ngx_http_core_find_location): exact URIs;
 * prefixes, longest first (the longest match is remembered, and `^~` on it skips the
 * regexes); regexes in config order (the first match wins, else the remembered prefix);
 * named locations last (never matched by path).
 */
export function locationsInMatchOrder<T extends { readonly match: string }>(locations: readonly T[]): T[] {
  const parsed = locations.map((location, index) => {
    const m = parseLocationMatch(location.match);
    return { location, index, match: m.ok ? m.value : { modifier: '' as const, pattern: location.match } };
  });
  const rank = (modifier: LocationModifier): number =>
    modifier === '=' ? 0 : modifier === '' || modifier === '^~' ? 1 : modifier === '@' ? 3 : 2;
  parsed.sort((a, b) => {
    const ra = rank(a.match.modifier);
    const rb = rank(b.match.modifier);
    if (ra !== rb) return ra - rb;
    if (ra === 1 && a.match.pattern.length !== b.match.pattern.length) {
      return b.match.pattern.length - a.match.pattern.length;
    }
    return a.index - b.index;
  });
  return parsed.map((p) => p.location);
}
