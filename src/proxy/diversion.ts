/**
 * Backend responses that the client does not get as they are (nginx's upstream header
 * processing, httpd's mod_proxy_scgi / mod_proxy_fcgi post-processing), decided from the head
 * alone, before anything is written:
 *
 * - `X-Accel-Redirect: /uri?args` (nginx, unless ignore_headers lists it): an internal
 *   redirect to the URI, which may be a location marked `internal`;
 * - X-Sendfile (httpd ProxySCGISendfile / the FastCGI equivalent, off by default): the named
 *   file is served from one of the configured roots, the backend's body dropped;
 * - a local `Location` on a 200 (httpd ProxySCGIInternalRedirect, on by default for
 *   proxy_pass): an internal redirect;
 * - a status with an `error_page`, when `intercept_errors` is on: the error page instead.
 *
 * The pipeline then aborts the exchange (its body is not wanted) and routes again.
 */
import type { CgiResponseHead } from '../cgi/response-head.ts';
import type { ErrorPages } from './error-pages.ts';

export interface ResponseRules {
  /** nginx X-Accel-Redirect is acted on (not in ignore_headers). */
  readonly xAccelRedirect: boolean;
  /** The header whose local URL on a 200 is followed (httpd: Location); undefined: off. */
  readonly internalRedirect: string | undefined;
  /** The header naming a file to send (httpd: X-Sendfile); undefined: off. */
  readonly sendfile: string | undefined;
  /** error_page applies to backend responses (nginx intercept_errors). */
  readonly interceptErrors: boolean;
  readonly errorPages: ErrorPages | undefined;
  /** X-Accel-Limit-Rate and X-Accel-Charset are acted on (not in ignore_headers). */
  readonly xAccelLimitRate: boolean;
  readonly xAccelCharset: boolean;
  /** ignore_headers, lower-case: their special meaning is off (cache-validity.ts reads it too). */
  readonly ignoredHeaders: ReadonlySet<string>;
}

export type Diversion =
  /** Route `target` (a URI with its query) again, internally. */
  | {
      readonly kind: 'redirect';
      readonly target: string;
      readonly via: string;
      readonly status?: number | undefined;
    }
  /** Send `location` to the client with `status` (error_page to a full URL: 302). */
  | { readonly kind: 'external'; readonly status: number; readonly location: string }
  /** Serve the file `path` (X-Sendfile) with the backend's status and headers. */
  | { readonly kind: 'sendfile'; readonly path: string; readonly head: CgiResponseHead };

function header(head: CgiResponseHead, lower: string): string | undefined {
  for (const [name, value] of head.headers) if (name.toLowerCase() === lower) return value;
  return undefined;
}

export function divertResponse(head: CgiResponseHead, rules: ResponseRules): Diversion | undefined {
  if (rules.xAccelRedirect) {
    const target = header(head, 'x-accel-redirect');
    if (target !== undefined && target !== '') return { kind: 'redirect', target, via: 'X-Accel-Redirect' };
  }
  if (rules.sendfile !== undefined) {
    const path = header(head, rules.sendfile.toLowerCase());
    if (path !== undefined && path !== '') return { kind: 'sendfile', path, head };
  }
  if (rules.internalRedirect !== undefined && head.status === 200) {
    const name = rules.internalRedirect.toLowerCase();
    const target =
      name === 'location' ? (head.locationKind === 'local' ? head.location : undefined) : header(head, name);
    if (target?.startsWith('/')) return { kind: 'redirect', target, via: rules.internalRedirect };
  }
  if (rules.interceptErrors && head.status >= 300 && rules.errorPages !== undefined) {
    return rules.errorPages.divert(head.status);
  }
  return undefined;
}
