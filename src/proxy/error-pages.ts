/**
 * nginx `error_page code ... [=[response]] uri`: the answer for a status, as an internal
 * redirect to a URI (the method becomes GET, HEAD stays HEAD) or a redirect to a full URL
 * (302, or the `=code` given). `=code` sets the status the client gets; a bare `=` takes the
 * status of what the URI answers; without it the original status stays. Applied to Portico's
 * own errors always, and to backend responses with `intercept_errors`. Once per request:
 * nginx's `recursive_error_pages off`.
 */
import type { Diversion } from './diversion.ts';

export interface ErrorPageSpec {
  /** Status codes this page answers (300..599). */
  readonly codes: readonly number[];
  /** `/uri?args`, `@name` or `http(s)://...`. */
  readonly target: string;
  /** `=code`: this status; `=`: the target's own; undefined: the original status. */
  readonly override: number | 'target' | undefined;
}

/** Parses nginx's value form: `[=[code]] target`. */
export function parseErrorPageValue(
  value: string,
): { target: string; override: number | 'target' | undefined } | string {
  const m = /^(?:=(\d{3})?\s+)?(\S+)$/.exec(value.trim());
  if (m === null) return `expected "[=[code]] uri", got ${JSON.stringify(value)}`;
  const target = m[2] as string;
  if (!/^(\/|@|https?:\/\/)/.test(target))
    return `error_page target ${JSON.stringify(target)} is not a /uri, @name or URL`;
  const override = value.trim().startsWith('=') ? (m[1] === undefined ? 'target' : Number(m[1])) : undefined;
  return { target, override };
}

export class ErrorPages {
  private readonly byCode = new Map<number, ErrorPageSpec>();

  constructor(specs: readonly ErrorPageSpec[]) {
    for (const spec of specs)
      for (const code of spec.codes) if (!this.byCode.has(code)) this.byCode.set(code, spec);
  }

  has(status: number): boolean {
    return this.byCode.has(status);
  }

  /** The diversion for `status`, or undefined when no page is configured for it. */
  divert(status: number): Diversion | undefined {
    const spec = this.byCode.get(status);
    if (spec === undefined) return undefined;
    if (/^https?:\/\//.test(spec.target)) {
      const code =
        typeof spec.override === 'number' && spec.override >= 300 && spec.override < 400
          ? spec.override
          : 302;
      return { kind: 'external', status: code, location: spec.target };
    }
    const forced =
      spec.override === undefined ? status : spec.override === 'target' ? undefined : spec.override;
    return { kind: 'redirect', target: spec.target, via: `error_page ${status}`, status: forced };
  }
}
