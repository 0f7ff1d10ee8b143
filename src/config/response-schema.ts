/**
 * The keys that decide what happens to a backend's answer before the client gets it: nginx
 * `ignore_headers` and `error_page`, httpd's ProxySCGIInternalRedirect / ProxySCGISendfile
 * (and their FastCGI counterparts). Part of the location, proxy_pass and top-level schemas.
 */
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { parseErrorPageValue } from '../proxy/error-pages.ts';
import { describeValue } from './fields.ts';

/** nginx `*_ignore_headers` values. */
export const IGNORABLE_HEADERS = [
  'X-Accel-Redirect',
  'X-Accel-Expires',
  'X-Accel-Limit-Rate',
  'X-Accel-Buffering',
  'X-Accel-Charset',
  'Expires',
  'Cache-Control',
  'Set-Cookie',
  'Vary',
] as const;

export function ignoreHeaders() {
  return z
    .array(z.enum(IGNORABLE_HEADERS))
    .default([])
    .meta({ description: 'nginx *_ignore_headers: backend headers whose special meaning is not acted on' });
}

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * httpd's `On | Off | HEADERNAME` form: false/off -> undefined, true/on -> `defaultHeader`, a
 * header name -> that name.
 */
export function onOffOrHeader(defaultHeader: string, fallback: boolean, what: string) {
  return z
    .union([z.boolean(), z.string()], {
      error: (i) => `expected on, off or a header name, got ${describeValue(i.input)}`,
    })
    .superRefine((v, c) => {
      if (typeof v === 'string' && !['on', 'off'].includes(v.toLowerCase()) && !TOKEN_RE.test(v)) {
        c.addIssue({ code: 'custom', message: `expected on, off or a header name, got ${describeValue(v)}` });
      }
    })
    .prefault(fallback)
    .transform((v): string | undefined => {
      if (v === true || (typeof v === 'string' && v.toLowerCase() === 'on')) return defaultHeader;
      if (v === false || (typeof v === 'string' && v.toLowerCase() === 'off')) return undefined;
      return v;
    })
    .meta({ description: what });
}

/** Directories X-Sendfile may serve from (absolute). */
export function sendfileRoots() {
  return z
    .array(
      z.string().refine((p) => isAbsolute(p), {
        error: (i) => `expected an absolute path, got ${describeValue(i.input)}`,
      }),
    )
    .default([])
    .meta({ description: 'directories X-Sendfile may serve files from (none: X-Sendfile is refused)' });
}

/** nginx `error_page`: `{ "404 410": "/gone.html", "502 504": "=200 /fallback", "500": "https://..." }`. */
export function errorPages() {
  return z
    .record(
      z.string().regex(/^\s*[3-5]\d\d(\s+[3-5]\d\d)*\s*$/, {
        error: (i) => `expected status codes 300..599 separated by spaces, got ${describeValue(i.input)}`,
      }),
      z.string().superRefine((value, c) => {
        const parsed = parseErrorPageValue(value);
        if (typeof parsed === 'string') c.addIssue({ code: 'custom', message: parsed });
      }),
    )
    .optional()
    .transform((map) =>
      map === undefined
        ? undefined
        : Object.entries(map).map(([codes, value]) => {
            const parsed = parseErrorPageValue(value) as Exclude<
              ReturnType<typeof parseErrorPageValue>,
              string
            >;
            return { codes: codes.trim().split(/\s+/).map(Number), ...parsed };
          }),
    )
    .meta({ description: 'nginx error_page: status codes -> "[=[code]] /uri | @name | URL"' });
}
