import type { Writable } from 'node:stream';

/** One finished request, as the access log needs it. */
export interface AccessRecord {
  readonly remoteAddr: string;
  readonly time: Date;
  readonly requestLine: string;
  readonly status: number;
  readonly bodyBytes: number;
  readonly referer: string | undefined;
  readonly userAgent: string | undefined;
  /** $upstream_addr: '' when no backend was contacted. */
  readonly upstreamAddr: string;
  /**
   * $upstream_response_time in seconds with millisecond resolution; undefined when none. A list
   * when several servers were tried, printed as nginx does: `0.001, 0.004`.
   */
  readonly upstreamSeconds: number | readonly number[] | undefined;
  readonly requestId: string;
}

export type AccessLogFormat = 'combined' | 'upstream';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * nginx's `combined` format, and `upstream`: combined plus `$upstream_addr
 * $upstream_response_time $request_id`. Values are escaped as nginx does (\xHH for `"`, `\`
 * and control bytes) so a client cannot forge a log line.
 */
export class AccessLog {
  private readonly out: Writable;
  private readonly format: AccessLogFormat;

  constructor(out: Writable, format: AccessLogFormat) {
    this.out = out;
    this.format = format;
  }

  write(r: AccessRecord): void {
    let line = `${r.remoteAddr} - - [${localTime(r.time)}] "${escapeField(r.requestLine)}" ${r.status} ${r.bodyBytes} "${escapeField(
      r.referer ?? '-',
    )}" "${escapeField(r.userAgent ?? '-')}"`;
    if (this.format === 'upstream') {
      const t = r.upstreamSeconds;
      const upstreamTime =
        t === undefined
          ? '-'
          : typeof t === 'number'
            ? t.toFixed(3)
            : t.length === 0
              ? '-'
              : t.map((s) => s.toFixed(3)).join(', ');
      line += ` ${r.upstreamAddr === '' ? '-' : r.upstreamAddr} ${upstreamTime} ${r.requestId}`;
    }
    this.out.write(`${line}\n`);
  }
}

const UNSAFE = /["\\\x00-\x1f\x7f-\xff]/g;
/** The same class without the global flag: test() keeps no lastIndex state between calls. */
const NEEDS_ESCAPE = /["\\\x00-\x1f\x7f-\xff]/;

function escapeField(value: string): string {
  // Almost every field needs nothing: a test is cheaper than replace() with a callback.
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(UNSAFE, (c) => `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** The last second formatted, and its text: under load every line of a second asks for it. */
let cachedSecond = Number.NaN;
let cachedText = '';

/**
 * `22/Nov/2026:06:59:00 +0000`, nginx's $time_local. Formatted once per second (eight local
 * time getters and a template cost more than the rest of the line); the UTC offset can only
 * change on a second boundary, so the cache cannot show a stale one.
 */
export function localTime(d: Date): string {
  const second = Math.floor(d.getTime() / 1000);
  if (second === cachedSecond) return cachedText;
  const text = formatLocalTime(d);
  cachedSecond = second;
  cachedText = text;
  return text;
}

function formatLocalTime(d: Date): string {
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${two(d.getHours())}:${two(
    d.getMinutes(),
  )}:${two(d.getSeconds())} ${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}
