/**
 * nginx's `*_next_upstream` decision (ngx_http_upstream.c `ngx_http_upstream_next`,
 * `ngx_http_upstream_test_next`; semantics.md C.1.7, C.1.8): after a failed attempt, whether
 * the request goes to another member of the group. A pure function of the attempt's facts, so
 * the attempt loop (handler.ts) only gathers them.
 *
 * A retry needs all of:
 *   - the condition listed (`error`, `timeout`, `invalid_header`, `http_NNN`); POST, LOCK and
 *     PATCH once the request was sent also need `non_idempotent` (nginx ORs FT_NON_IDEMPOTENT
 *     into the condition);
 *   - another try left: tries = members not down (backups included), capped by
 *     next_upstream_tries; for `http_NNN` nginx asks `tries > 1`, the same thing said before
 *     the current try is counted off;
 *   - next_upstream_timeout (0 = none) not reached since the first attempt started;
 *   - no request body streamed from the client once sending started (nginx: `request_sent &&
 *     request_body_no_buffering`): those bytes are gone; a spooled body is replayed;
 *   - nothing of the response sent to the client: the caller never asks after that.
 *
 * What counts against the member is separate (health.ts): error, timeout and invalid_header
 * always; http_NNN only when it caused a retry; 403 and 404 never.
 */
import type { FailureKind } from '../errors.ts';

/** Bits of nginx's NGX_HTTP_UPSTREAM_FT_* mask, ours to number. */
export const NEXT_UPSTREAM = {
  error: 1 << 0,
  timeout: 1 << 1,
  invalid_header: 1 << 2,
  http_500: 1 << 3,
  http_502: 1 << 4,
  http_503: 1 << 5,
  http_504: 1 << 6,
  http_403: 1 << 7,
  http_404: 1 << 8,
  http_429: 1 << 9,
  non_idempotent: 1 << 10,
  off: 1 << 11,
} as const;

export type NextUpstreamName = keyof typeof NEXT_UPSTREAM;

/** A location's next_upstream settings, compiled. */
export interface NextUpstreamRules {
  /** OR of NEXT_UPSTREAM bits; `off` leaves 0. */
  readonly mask: number;
  /** next_upstream_tries; 0 = the group's own count. */
  readonly tries: number;
  /** next_upstream_timeout in ms; 0 = none. */
  readonly timeout: number;
}

export function compileNextUpstream(
  values: readonly string[],
  tries: number,
  timeout: number,
): NextUpstreamRules {
  let mask = 0;
  for (const v of values) {
    if (v === 'off') return { mask: 0, tries, timeout };
    const bit = NEXT_UPSTREAM[v as NextUpstreamName];
    if (bit === undefined) throw new TypeError(`unknown next_upstream value "${v}"`);
    mask |= bit;
  }
  return { mask, tries, timeout };
}

/** The nginx defaults: `error timeout`, no limit on tries or time. */
export const DEFAULT_NEXT_UPSTREAM: NextUpstreamRules = compileNextUpstream(['error', 'timeout'], 0, 0);

/** The condition bit of an error kind; 0 for what is never retried (the client's fault, ours). */
export function errorCondition(kind: FailureKind): number {
  switch (kind) {
    case 'error':
      return NEXT_UPSTREAM.error;
    case 'timeout':
      return NEXT_UPSTREAM.timeout;
    case 'invalid_header':
      return NEXT_UPSTREAM.invalid_header;
    default:
      return 0;
  }
}

/** The condition bit of a backend status; 0 for a status no next_upstream value names. */
export function statusCondition(status: number): number {
  switch (status) {
    case 500:
      return NEXT_UPSTREAM.http_500;
    case 502:
      return NEXT_UPSTREAM.http_502;
    case 503:
      return NEXT_UPSTREAM.http_503;
    case 504:
      return NEXT_UPSTREAM.http_504;
    case 403:
      return NEXT_UPSTREAM.http_403;
    case 404:
      return NEXT_UPSTREAM.http_404;
    case 429:
      return NEXT_UPSTREAM.http_429;
    default:
      return 0;
  }
}

/** nginx: "requests with a non-idempotent method (POST, LOCK, PATCH)". */
export function isNonIdempotent(method: string): boolean {
  return method === 'POST' || method === 'LOCK' || method === 'PATCH';
}

/** What the attempt loop knows when an attempt failed. */
export interface AttemptFacts {
  /** The condition bit (errorCondition / statusCondition); 0 is never retried. */
  readonly condition: number;
  /** Attempts made so far, this one included. */
  readonly attempts: number;
  /** Most attempts for this request (group tries capped by next_upstream_tries). */
  readonly maxTries: number;
  /** ms since the first attempt started. */
  readonly elapsed: number;
  readonly method: string;
  /** The request (head or body) started going to the backend on this attempt. */
  readonly requestSent: boolean;
  /** The client's body was streamed to the backend, not spooled: it cannot be sent again. */
  readonly bodyStreamed: boolean;
}

export function mayRetry(rules: NextUpstreamRules, facts: AttemptFacts): boolean {
  if (facts.condition === 0 || facts.attempts >= facts.maxTries) return false;
  let wanted = facts.condition;
  if (facts.requestSent && isNonIdempotent(facts.method)) wanted |= NEXT_UPSTREAM.non_idempotent;
  if ((rules.mask & wanted) !== wanted) return false;
  if (facts.requestSent && facts.bodyStreamed) return false;
  return !(rules.timeout > 0 && facts.elapsed >= rules.timeout);
}

/** Tries a request gets: the group's count, capped by next_upstream_tries (nginx). */
export function maxTries(groupTries: number, rules: NextUpstreamRules): number {
  const n = rules.tries > 0 && rules.tries < groupTries ? rules.tries : groupTries;
  return n < 1 ? 1 : n;
}
