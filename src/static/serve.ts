/**
 * Send one file as an HTTP response: content type, validators, preconditions (RFC 9110 13),
 * byte ranges (RFC 9110 14), HEAD, streamed from one open descriptor with backpressure.
 *
 * The file is opened once and everything (length, ETag, Last-Modified, the bytes) comes from
 * that descriptor, so a rename or replace between lookup and send cannot mix two files. The
 * open uses O_NONBLOCK: a FIFO planted under the root would otherwise block the open until a
 * writer appears (nginx opens with O_NONBLOCK for the same reason); the fstat then refuses it.
 *
 * A file that shrinks while it is sent yields fewer bytes than the Content-Length already
 * promised: the response is then destroyed (the connection closes mid-body), never ended, so a
 * client or a cache cannot take a short body for a complete one (nginx: "file ... was
 * truncated" and the request is aborted). A file that grows is sent up to the length given.
 * The bytes flow through `FileBodyReadable` (file-body.ts), one pipeline per response.
 */

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { IncomingHttpHeaders, OutgoingHttpHeader, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { evaluatePreconditions, ifRangeMatches, makeEtag, mtimeSeconds } from './conditional.ts';
import { formatHttpDate } from './http-date.ts';
import { type MimeTable, mimeTypeFor, withCharset } from './mime-types.ts';
import { type BodySegment, FileBodyReadable } from './file-body.ts';
import { type ByteRange, contentRange, parseRange, planMultipart } from './range.ts';
import type { StaticRoot } from './resolve.ts';

/** nginx has no default limit (`max_ranges` unset); a bound keeps the multipart work linear and small. */
export const DEFAULT_MAX_RANGES = 32;
/** Read size: large enough for few syscalls, small enough to keep many clients in memory. */
export const DEFAULT_READ_CHUNK = 64 * 1024;

/**
 * Framing belongs to this response alone: a backend's Content-Length (X-Sendfile) must not
 * reach a 304, nor a Transfer-Encoding or Content-Range any answer of ours.
 */
const FRAMING: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'content-range']);

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

export interface ServeFileOptions {
  /** Content-Type to send (X-Sendfile keeps the backend's); default from the extension. */
  readonly contentType?: string | undefined;
  /** nginx `default_type` for unknown extensions; default `application/octet-stream`. */
  readonly defaultType?: string | undefined;
  /** nginx `types`: extension -> type; default the built-in table. */
  readonly types?: MimeTable | undefined;
  /** nginx `charset`: appended to text types (see `withCharset`); default none. */
  readonly charset?: string | undefined;
  /**
   * Extra response fields, sent with every response this call writes (200, 206, 304, 412, 416).
   * The fields serveFile computes (Content-Type, ETag, Last-Modified, Accept-Ranges) win over
   * same-named ones here; Content-Length, Content-Range and Transfer-Encoding are dropped.
   */
  readonly headers?: Readonly<Record<string, OutgoingHttpHeader>> | undefined;
  /**
   * Status of the full response; default 200. Another status (X-Sendfile with a backend's 404
   * page) sends the whole file with it: no preconditions, no ranges.
   */
  readonly status?: number | undefined;
  /** Send ETag (default true) / Last-Modified (default true); off also disables their checks. */
  readonly etag?: boolean | undefined;
  readonly lastModified?: boolean | undefined;
  /** Evaluate If-Match & co (default true). */
  readonly conditional?: boolean | undefined;
  /** Honour Range (default true; nginx `max_ranges 0` turns it off). */
  readonly ranges?: boolean | undefined;
  /** More ranges than this: the whole file is sent (nginx `max_ranges`). */
  readonly maxRanges?: number | undefined;
  /**
   * `get-head` (default): other methods get a 405 result (nginx's static module);
   * `any`: every method gets the body (X-Sendfile answers a POST), ranges only for GET/HEAD.
   */
  readonly methods?: 'get-head' | 'any' | undefined;
  /** Re-check the opened descriptor against this root's symlink policy (see `verifyOpened`). */
  readonly root?: StaticRoot | undefined;
  /** The request's signal: aborts the transfer (the response is destroyed). */
  readonly signal?: AbortSignal | undefined;
  readonly readChunk?: number | undefined;
}

/** The request fields serveFile reads (an IncomingMessage fits). */
export interface ServeRequest {
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/**
 * - `sent: true`: a response was written (`complete` false when it was cut: client gone, file
 *   truncated, read error, abort); `bytes` counts body bytes handed to the response;
 * - `sent: false`: nothing was written; the caller answers `status` (error_page applies; for
 *   405 add `Allow: GET, HEAD`).
 */
export type ServeResult =
  | {
      readonly sent: true;
      readonly status: number;
      readonly bytes: number;
      readonly complete: boolean;
      /** Why the body was cut, when `complete` is false. */
      readonly error?: unknown;
    }
  | {
      readonly sent: false;
      readonly status: 403 | 404 | 405 | 500;
      readonly reason: string;
      readonly error?: unknown;
    };

function openFailure(err: unknown): ServeResult {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') {
    return { sent: false, status: 404, reason: code };
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP')
    return { sent: false, status: 403, reason: code };
  return { sent: false, status: 500, reason: code ?? 'open failed', error: err };
}

/** Serve the file at `file.path` (a Buffer of raw bytes or a string) as the response to `req`. */
export async function serveFile(
  req: ServeRequest,
  res: ServerResponse,
  file: { readonly path: Buffer | string },
  options: ServeFileOptions = {},
): Promise<ServeResult> {
  const method = req.method ?? 'GET';
  const isGetOrHead = method === 'GET' || method === 'HEAD';
  if (!isGetOrHead && options.methods !== 'any')
    return { sent: false, status: 405, reason: 'method not allowed' };
  if (res.headersSent) return { sent: false, status: 500, reason: 'response head already sent' };
  const path = typeof file.path === 'string' ? Buffer.from(file.path, 'utf8') : file.path;
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (err) {
    return openFailure(err);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { sent: false, status: 404, reason: 'not a regular file' };
    if (options.root !== undefined && !(await options.root.verifyOpened(handle.fd, path))) {
      return { sent: false, status: 403, reason: 'symlink not allowed' };
    }
    return await respond(req, res, handle, st.size, st.mtimeMs, path, method, options);
  } catch (err) {
    if (!res.headersSent) return { sent: false, status: 500, reason: 'read failed', error: err };
    res.destroy();
    return { sent: true, status: res.statusCode, bytes: 0, complete: false, error: err };
  } finally {
    await handle.close().catch(() => {});
  }
}

async function respond(
  req: ServeRequest,
  res: ServerResponse,
  handle: FileHandle,
  size: number,
  mtimeMs: number,
  path: Buffer,
  method: string,
  options: ServeFileOptions,
): Promise<ServeResult> {
  const status = options.status ?? 200;
  const isHead = method === 'HEAD';
  const isGetOrHead = isHead || method === 'GET';
  const validators = { size, mtimeMs };
  const etag = options.etag === false ? undefined : makeEtag(validators);
  const mtime = options.lastModified === false ? undefined : mtimeSeconds(validators);

  if (options.headers !== undefined) {
    for (const [name, value] of Object.entries(options.headers)) {
      if (!FRAMING.has(name.toLowerCase())) res.setHeader(name, value);
    }
  }
  if (etag !== undefined) res.setHeader('ETag', etag);
  if (mtime !== undefined) res.setHeader('Last-Modified', formatHttpDate(mtime * 1000));

  const h = req.headers;
  if (status === 200 && options.conditional !== false) {
    const outcome = evaluatePreconditions(
      {
        'if-match': h['if-match'],
        'if-none-match': h['if-none-match'],
        'if-modified-since': h['if-modified-since'],
        'if-unmodified-since': h['if-unmodified-since'],
      },
      etag,
      mtime,
      isGetOrHead,
    );
    if (outcome === 304) {
      // RFC 9110 15.4.5: the validators and caching fields stay, the content fields go.
      res.writeHead(304);
      res.end();
      return { sent: true, status: 304, bytes: 0, complete: true };
    }
    if (outcome === 412) return emptyAnswer(res, 412, undefined);
  }

  const type =
    options.contentType ??
    withCharset(mimeTypeFor(path, options.defaultType, options.types), options.charset);
  const rangesOn = status === 200 && isGetOrHead && options.ranges !== false;
  if (rangesOn) res.setHeader('Accept-Ranges', 'bytes');

  const rangeField = h.range;
  const ifRange = single(h['if-range']);
  if (
    rangesOn &&
    rangeField !== undefined &&
    (ifRange === undefined || ifRangeMatches(ifRange, etag, mtime))
  ) {
    const parsed = parseRange(rangeField, size, options.maxRanges ?? DEFAULT_MAX_RANGES);
    if (parsed.kind === 'unsatisfiable') {
      res.removeHeader('Accept-Ranges');
      return emptyAnswer(res, 416, `bytes */${size}`);
    }
    if (parsed.kind === 'ranges') {
      return parsed.ranges.length === 1
        ? sendSingleRange(res, handle, parsed.ranges[0]!, size, type, isHead, options)
        : sendMultipart(res, handle, parsed.ranges, size, type, isHead, options);
    }
  }

  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', size);
  res.writeHead(status);
  return sendBody(res, handle, size === 0 ? [] : [{ start: 0, end: size - 1 }], status, isHead, options);
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** 412 / 416: no content, only the validators (and Content-Range for 416). */
function emptyAnswer(res: ServerResponse, status: number, range: string | undefined): ServeResult {
  if (range !== undefined) res.setHeader('Content-Range', range);
  res.setHeader('Content-Length', 0);
  res.writeHead(status);
  res.end();
  return { sent: true, status, bytes: 0, complete: true };
}

function sendSingleRange(
  res: ServerResponse,
  handle: FileHandle,
  range: ByteRange,
  size: number,
  type: string,
  isHead: boolean,
  options: ServeFileOptions,
): Promise<ServeResult> {
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Range', contentRange(range, size));
  res.setHeader('Content-Length', range.end - range.start + 1);
  res.writeHead(206);
  return sendBody(res, handle, [range], 206, isHead, options);
}

function sendMultipart(
  res: ServerResponse,
  handle: FileHandle,
  ranges: readonly ByteRange[],
  size: number,
  type: string,
  isHead: boolean,
  options: ServeFileOptions,
): Promise<ServeResult> {
  const plan = planMultipart(ranges, size, type, randomBytes(12).toString('hex'));
  res.setHeader('Content-Type', plan.contentType);
  res.setHeader('Content-Length', plan.length);
  res.writeHead(206);
  const segments: BodySegment[] = [];
  for (const part of plan.parts) segments.push(part.head, part.range);
  segments.push(plan.tail);
  return sendBody(res, handle, segments, 206, isHead, options);
}

/**
 * Stream the body (nothing for HEAD) and end the response; on any failure (client gone, read
 * error, file truncated, abort) the pipeline destroys the response, so a short body is never
 * framed as a complete one.
 */
async function sendBody(
  res: ServerResponse,
  handle: FileHandle,
  segments: readonly BodySegment[],
  status: number,
  isHead: boolean,
  options: ServeFileOptions,
): Promise<ServeResult> {
  if (isHead || segments.length === 0) {
    res.end();
    return { sent: true, status, bytes: 0, complete: true };
  }
  const body = new FileBodyReadable(handle, segments, options.readChunk ?? DEFAULT_READ_CHUNK);
  try {
    await (options.signal === undefined
      ? pipeline(body, res)
      : pipeline(body, res, { signal: options.signal }));
  } catch (error) {
    if (!res.destroyed) res.destroy();
    return { sent: true, status, bytes: body.bytes, complete: false, error };
  }
  return { sent: true, status, bytes: body.bytes, complete: true };
}
