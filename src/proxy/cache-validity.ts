/**
 * How long a backend response could be reused, by nginx's rules for a stored response
 * (semantics.md "Validity of a stored response"), honouring `ignore_headers`. The cache itself
 * comes later; the pipeline computes this now so its place is ready and `ignore_headers`
 * already means what nginx means:
 *
 *   X-Accel-Expires (N seconds, @T absolute, 0 never; the first one counts)
 *   > Cache-Control (private / no-cache / no-store: never; s-maxage over max-age; 0: never)
 *   > Expires (past or unparsable: never)
 *   and never with Set-Cookie, Vary: * or a Vary longer than 128 bytes.
 *
 * `undefined` validity means the response says nothing (the cache's `*_cache_valid` decides).
 */
import type { CgiResponseHead } from '../cgi/response-head.ts';
import { parseHttpDate } from '../static/http-date.ts';

export type Validity =
  | { readonly kind: 'never'; readonly reason: string }
  | { readonly kind: 'until'; readonly at: number }
  | { readonly kind: 'unset' };

/** `now` and the result in ms since the epoch. */
export function cacheValidity(head: CgiResponseHead, ignore: ReadonlySet<string>, now: number): Validity {
  const values = (name: string) => head.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
  if (!ignore.has('set-cookie') && values('set-cookie').length > 0)
    return { kind: 'never', reason: 'Set-Cookie' };
  if (!ignore.has('vary')) {
    const vary = values('vary').join(', ');
    if (/(^|,)\s*\*\s*(,|$)/.test(vary) || vary.length > 128) return { kind: 'never', reason: 'Vary' };
  }
  if (!ignore.has('x-accel-expires')) {
    const accel = values('x-accel-expires')[0]?.trim();
    if (accel !== undefined) {
      const m = /^(@?)(\d{1,15})$/.exec(accel);
      if (m !== null) {
        const n = Number(m[2]);
        if (m[1] === '@') return { kind: 'until', at: n * 1000 };
        return n === 0
          ? { kind: 'never', reason: 'X-Accel-Expires: 0' }
          : { kind: 'until', at: now + n * 1000 };
      }
    }
  }
  if (!ignore.has('cache-control')) {
    const cc = values('cache-control').join(', ').toLowerCase();
    if (cc !== '') {
      if (/private|no-cache|no-store/.test(cc)) return { kind: 'never', reason: 'Cache-Control' };
      const age = /(?:^|[,\s])s-maxage=([^,\s]*)/.exec(cc) ?? /(?:^|[,\s])max-age=([^,\s]*)/.exec(cc);
      if (age !== null) {
        const n = /^\d{1,15}$/.test(age[1] as string) ? Number(age[1]) : Number.NaN;
        if (!(n > 0)) return { kind: 'never', reason: 'Cache-Control max-age' };
        return { kind: 'until', at: now + n * 1000 };
      }
    }
  }
  if (!ignore.has('expires')) {
    const expires = values('expires')[0];
    if (expires !== undefined) {
      const at = parseHttpDate(expires) * 1000;
      if (Number.isNaN(at) || at <= now) return { kind: 'never', reason: 'Expires' };
      return { kind: 'until', at };
    }
  }
  return { kind: 'unset' };
}
