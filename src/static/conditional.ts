/**
 * Validators and preconditions for a static file (RFC 9110 8.8, 13): the nginx-style ETag, the
 * entity-tag list parser, and the evaluation order of RFC 9110 13.2.2.
 *
 * nginx's not_modified filter answers `If-Modified-Since` only on an exact date match by
 * default (`if_modified_since exact`); we follow RFC 9110 13.1.3 (304 when Last-Modified is not
 * later than the date, nginx's `if_modified_since before`), which gives the same answer when a
 * client echoes our Last-Modified and the right one when a cache sends a later date.
 */

import { parseHttpDate } from './http-date.ts';

/** What a file's validators are computed from. */
export interface ValidatorSource {
  readonly size: number;
  readonly mtimeMs: number;
}

/** nginx's ETag: `"<mtime seconds hex>-<size hex>"` (ngx_http_set_etag), a strong validator. */
export function makeEtag(stat: ValidatorSource): string {
  return `"${Math.floor(stat.mtimeMs / 1000).toString(16)}-${stat.size.toString(16)}"`;
}

/** Seconds of the file's Last-Modified (HTTP dates have one-second resolution). */
export function mtimeSeconds(stat: ValidatorSource): number {
  return Math.floor(stat.mtimeMs / 1000);
}

/** One entity-tag of a list: its opaque-tag (quotes included) and whether it is weak. */
export interface EntityTag {
  readonly tag: string;
  readonly weak: boolean;
}

/**
 * Parse `If-Match` / `If-None-Match`: `*` or `1#entity-tag`. An etagc may be a comma, so the
 * list is split by scanning quoted strings, not by `split(',')`. Returns '*', the tags, or
 * undefined when the field is malformed (then it is ignored, as a field we cannot parse).
 */
export function parseEtagList(value: string): '*' | EntityTag[] | undefined {
  const s = value.trim();
  if (s === '*') return '*';
  const out: EntityTag[] = [];
  let i = 0;
  const n = s.length;
  for (;;) {
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
    if (i >= n) break;
    let weak = false;
    if (s[i] === 'W' && s[i + 1] === '/') {
      weak = true;
      i += 2;
    }
    if (s[i] !== '"') return undefined;
    const end = s.indexOf('"', i + 1);
    if (end === -1) return undefined;
    out.push({ tag: s.slice(i, end + 1), weak });
    i = end + 1;
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
    if (i < n && s[i] !== ',') return undefined;
  }
  return out.length === 0 ? undefined : out;
}

/** Strong comparison (RFC 9110 8.8.3.2): both strong and the same opaque-tag. */
function strongMatch(list: '*' | EntityTag[], etag: string): boolean {
  if (list === '*') return true;
  for (const t of list) if (!t.weak && t.tag === etag) return true;
  return false;
}

/** Weak comparison: the opaque-tags are equal, weakness ignored. */
function weakMatch(list: '*' | EntityTag[], etag: string): boolean {
  if (list === '*') return true;
  for (const t of list) if (t.tag === etag) return true;
  return false;
}

/** The request fields a precondition looks at (node:http's lower-cased header names). */
export interface ConditionalHeaders {
  readonly 'if-match'?: string | undefined;
  readonly 'if-none-match'?: string | undefined;
  readonly 'if-modified-since'?: string | undefined;
  readonly 'if-unmodified-since'?: string | undefined;
  readonly 'if-range'?: string | undefined;
}

/** `ok`: go on (maybe with a range); 304 or 412: answer that, without a body. */
export type PreconditionOutcome = 'ok' | 304 | 412;

/**
 * RFC 9110 13.2.2, steps 1-4, for a representation that exists with `etag` and `mtime`
 * (seconds); `etag` undefined when the caller turned ETags off (then If-Match can only match
 * `*`). `isGetOrHead` selects 304 (GET/HEAD) or 412 (other methods) for If-None-Match.
 */
export function evaluatePreconditions(
  headers: ConditionalHeaders,
  etag: string | undefined,
  mtime: number | undefined,
  isGetOrHead: boolean,
): PreconditionOutcome {
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    // Step 1. A malformed If-Match cannot be satisfied: failing closed protects the write
    // (lost-update) case the field exists for.
    const list = parseEtagList(ifMatch);
    if (list === undefined || !(list === '*' || (etag !== undefined && strongMatch(list, etag)))) return 412;
  } else {
    // Step 2: only without If-Match.
    const ius = headers['if-unmodified-since'];
    if (ius !== undefined && mtime !== undefined) {
      const date = parseHttpDate(ius);
      if (!Number.isNaN(date) && mtime > date) return 412;
    }
  }
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    // Step 3: a malformed field is ignored (the full response is always a safe answer).
    const list = parseEtagList(ifNoneMatch);
    if (list !== undefined && (list === '*' || (etag !== undefined && weakMatch(list, etag)))) {
      return isGetOrHead ? 304 : 412;
    }
  } else if (isGetOrHead) {
    // Step 4: only without If-None-Match, only for GET/HEAD.
    const ims = headers['if-modified-since'];
    if (ims !== undefined && mtime !== undefined) {
      const date = parseHttpDate(ims);
      if (!Number.isNaN(date) && mtime <= date) return 304;
    }
  }
  return 'ok';
}

/**
 * RFC 9110 13.1.5: may the Range be honoured? An entity-tag must match strongly (a weak one
 * never does); a date must equal Last-Modified exactly (as nginx compares it). Anything else,
 * including a malformed field, means "send the whole representation".
 */
export function ifRangeMatches(value: string, etag: string | undefined, mtime: number | undefined): boolean {
  const s = value.trim();
  if (s.startsWith('"') || s.startsWith('W/')) {
    if (etag === undefined) return false;
    const list = parseEtagList(s);
    return list !== undefined && list !== '*' && list.length === 1 && strongMatch(list, etag);
  }
  if (mtime === undefined) return false;
  const date = parseHttpDate(s);
  return !Number.isNaN(date) && date === mtime;
}
