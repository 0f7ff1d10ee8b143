/**
 * Byte ranges of a backend's response (nginx's range filter on upstream responses): served
 * when the backend says `Accept-Ranges: bytes`, or always with `force_ranges`, for a 200 of
 * known length to a GET with a single range (nginx serves one range of an uncached upstream
 * response; several, or a syntax it does not take, get the whole body). If-Range is compared
 * with the backend's ETag (strong) or Last-Modified.
 */
import type { CgiResponseHead } from '../cgi/response-head.ts';
import { ifRangeMatches } from '../static/conditional.ts';
import { parseHttpDate } from '../static/http-date.ts';
import { parseRange } from '../static/range.ts';

export interface RangeRequest {
  readonly range: string | undefined;
  readonly ifRange: string | undefined;
}

export type RangePlan =
  | { readonly kind: 'none' }
  | { readonly kind: 'range'; readonly start: number; readonly end: number; readonly size: number }
  | { readonly kind: 'unsatisfiable'; readonly size: number };

const NONE: RangePlan = { kind: 'none' };

function header(head: CgiResponseHead, lower: string): string | undefined {
  for (const [name, value] of head.headers) if (name.toLowerCase() === lower) return value;
  return undefined;
}

export function planUpstreamRange(
  request: RangeRequest,
  method: string,
  head: CgiResponseHead,
  force: boolean,
): RangePlan {
  if (request.range === undefined || method !== 'GET' || head.status !== 200) return NONE;
  const size = head.contentLength;
  if (size === undefined) return NONE;
  const accept = header(head, 'accept-ranges');
  if (!force && (accept === undefined || accept.trim().toLowerCase() !== 'bytes')) return NONE;
  if (request.ifRange !== undefined) {
    const etag = header(head, 'etag');
    const modified = header(head, 'last-modified');
    const mtime = modified === undefined ? undefined : parseHttpDate(modified);
    if (!ifRangeMatches(request.ifRange, etag, Number.isNaN(mtime) ? undefined : mtime)) return NONE;
  }
  const parsed = parseRange(request.range, size, 1);
  if (parsed.kind === 'unsatisfiable') return { kind: 'unsatisfiable', size };
  if (parsed.kind !== 'ranges') return NONE;
  const r = parsed.ranges[0];
  return r === undefined ? NONE : { kind: 'range', start: r.start, end: r.end, size };
}
