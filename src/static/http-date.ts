/**
 * HTTP-date (RFC 9110 5.6.7): format as IMF-fixdate, parse all three forms a recipient must
 * accept. Strict on purpose: `Date.parse` accepts "1" or "2001" and would turn garbage in
 * If-Modified-Since into a real date (RFC 9110 13.1.3: an invalid date is ignored).
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const LONG_DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

// IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
const IMF = /^([A-Z][a-z]{2}), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT
const RFC850 = /^([A-Z][a-z]{5,8}), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// asctime-date: Sun Nov  6 08:49:37 1994
const ASCTIME = /^([A-Z][a-z]{2}) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/** IMF-fixdate of a time in ms (sub-second part dropped). */
export function formatHttpDate(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toUTCString();
}

/**
 * Seconds since the epoch of an HTTP-date, or NaN when `value` is not one. A two-digit
 * rfc850 year is read as the nearest year not more than 50 years ahead (RFC 9110 5.6.7).
 */
export function parseHttpDate(value: string): number {
  const s = value.trim();
  let m = IMF.exec(s);
  if (m !== null) {
    if (!DAYS.includes(m[1]!)) return Number.NaN;
    return toSeconds(+m[4]!, m[3]!, +m[2]!, +m[5]!, +m[6]!, +m[7]!);
  }
  m = RFC850.exec(s);
  if (m !== null) {
    if (!LONG_DAYS.includes(m[1]!)) return Number.NaN;
    const yy = +m[4]!;
    const now = new Date().getUTCFullYear();
    let year = Math.floor(now / 100) * 100 + yy;
    if (year > now + 50) year -= 100;
    return toSeconds(year, m[3]!, +m[2]!, +m[5]!, +m[6]!, +m[7]!);
  }
  m = ASCTIME.exec(s);
  if (m !== null) {
    if (!DAYS.includes(m[1]!)) return Number.NaN;
    return toSeconds(+m[7]!, m[2]!, +m[3]!.trim(), +m[4]!, +m[5]!, +m[6]!);
  }
  return Number.NaN;
}

function toSeconds(year: number, mon: string, day: number, h: number, mi: number, sec: number): number {
  const month = MONTHS.indexOf(mon);
  // 60 is a leap second (RFC 5322 allows it); Date.UTC rolls it into the next minute.
  if (month < 0 || day < 1 || day > 31 || h > 23 || mi > 59 || sec > 60) return Number.NaN;
  const ms = Date.UTC(year, month, day, h, mi, sec);
  // Reject impossible days (31 Feb) instead of letting Date.UTC roll them over.
  if (new Date(ms).getUTCDate() !== day && sec !== 60) return Number.NaN;
  return ms / 1000;
}
