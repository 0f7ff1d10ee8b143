/**
 * The HTTP view of a CGI request (RFC 3875 4.1) and the checks on response header fields.
 *
 * A CGI environment flattens the request: headers become `HTTP_*` variables (4.1.18), the
 * body's type and length become CONTENT_TYPE / CONTENT_LENGTH (4.1.3, 4.1.2), the target is
 * split into SCRIPT_NAME, PATH_INFO and QUERY_STRING. node:http apps expect `req.url` and
 * lower-case `req.headers`, so both are rebuilt here.
 */
import { EncodeError } from '../errors.ts';
import type { Param } from '../protocol/params.ts';

/** RFC 9110 5.6.2 token: what a field name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * What a field value or reason phrase may not contain: CR, LF, NUL and the other controls
 * except HTAB, and chars above U+00FF, which are not one byte. This is node:http's own rule;
 * CR/LF would split the response (CVE-2023-38709, semantics.md E7).
 */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export function checkHeaderName(name: string): void {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    throw new EncodeError(
      'ERR_BACKEND_HEADER_NAME',
      `invalid response header name ${JSON.stringify(String(name).slice(0, 64))}`,
    );
  }
}

export function checkHeaderValue(name: string, value: string): void {
  if (INVALID_VALUE.test(value)) {
    throw new EncodeError(
      'ERR_BACKEND_HEADER_VALUE',
      `response header ${name} has a control char (CR, LF, NUL, ...) or a char above U+00FF`,
    );
  }
}

export function checkReason(reason: string): void {
  if (typeof reason !== 'string' || INVALID_VALUE.test(reason)) {
    throw new EncodeError(
      'ERR_BACKEND_STATUS_MESSAGE',
      'the status message has a control char (CR, LF, NUL, ...) or a char above U+00FF',
    );
  }
}

/**
 * The environment as an object. Duplicate names: the last wins, as PHP and libfcgi's getenv
 * see them. A null prototype so a variable named `__proto__` or `constructor` is just data.
 */
export function envFromParams(params: readonly Param[]): Readonly<Record<string, string>> {
  const env: Record<string, string> = Object.create(null);
  for (let i = 0; i < params.length; i++) {
    const param = params[i]!;
    env[param[0]] = param[1];
  }
  return Object.freeze(env);
}

/**
 * node:http-style headers: `HTTP_ACCEPT_LANGUAGE` -> `accept-language`, plus `content-type`
 * and `content-length` from CONTENT_TYPE / CONTENT_LENGTH, which override any `HTTP_CONTENT_*`
 * (RFC 3875 4.1.18: those two are not repeated as HTTP_ variables). Empty CONTENT_* are "not
 * sent" (nginx passes `CONTENT_LENGTH ""` for a request without a body).
 */
export function headersFromEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  for (const name in env) {
    if (name.length > 5 && name.startsWith('HTTP_')) {
      headers[name.slice(5).toLowerCase().replaceAll('_', '-')] = env[name]!;
    }
  }
  const type = env.CONTENT_TYPE;
  if (type !== undefined && type !== '') headers['content-type'] = type;
  const length = env.CONTENT_LENGTH;
  if (length !== undefined && length !== '') headers['content-length'] = length;
  return headers;
}

/**
 * The request target: REQUEST_URI (nginx and httpd send it; not in RFC 3875), else rebuilt
 * from SCRIPT_NAME + PATH_INFO + `?` QUERY_STRING, else `/`.
 */
export function urlFromEnv(env: Readonly<Record<string, string>>): string {
  const uri = env.REQUEST_URI;
  if (uri !== undefined && uri !== '') return uri;
  const path = (env.SCRIPT_NAME ?? '') + (env.PATH_INFO ?? '');
  const query = env.QUERY_STRING;
  const target = path === '' ? '/' : path;
  return query !== undefined && query !== '' ? `${target}?${query}` : target;
}

/**
 * The body length CONTENT_LENGTH announces: a number, `undefined` when absent or empty, or
 * `NaN` when it is not digits (the caller refuses the request).
 */
export function contentLengthFromEnv(env: Readonly<Record<string, string>>): number | undefined {
  const value = env.CONTENT_LENGTH;
  if (value === undefined || value === '') return undefined;
  return /^[0-9]{1,15}$/.test(value) ? Number(value) : Number.NaN;
}
