/**
 * Byte-exact test clients: HTTP/1.x over a raw socket (so odd targets, header order, duplicates
 * and bodies reach the server exactly as written: node:http would validate and rewrite them), and
 * one-shot SCGI and FastCGI requests for talking to peers directly. Hand-written and independent
 * of src/protocol, like the recording backends.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { connectOptions } from './ports.ts';

export type HeaderList = Array<[string, string]>;

export interface RawHttpRequest {
  readonly method: string;
  /** The request target exactly as sent: "/x?a=1", "//a/../b", "http://h/p", "*". */
  readonly target: string;
  /** In order, duplicates allowed; values are sent as latin1. */
  readonly headers?: HeaderList | Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Default "HTTP/1.1". */
  readonly httpVersion?: string;
  /**
   * Default true: add `Host: localhost` first when there is no Host header (HTTP/1.1 only),
   * `Content-Length` when a body is given without Content-Length/Transfer-Encoding, and
   * `Connection: close` when there is no Connection header (the client reads to EOF). All three
   * reach a gateway like any client header, so compare two gateways with identical requests.
   */
  readonly defaultHeaders?: boolean;
}

export interface RawHttpResponse {
  readonly status: number;
  readonly statusLine: string;
  readonly headers: HeaderList;
  /** De-chunked when the response was chunked. */
  readonly body: Buffer;
  /** The local port of the client socket: the gateway's REMOTE_PORT. */
  readonly clientPort: number;
}

/** Strings are byte strings here: one char, one byte. */
export function latin1Bytes(data: string | Buffer): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
}

export function headerList(headers: RawHttpRequest['headers']): HeaderList {
  if (headers === undefined) return [];
  if (Array.isArray(headers)) return headers.map(([n, v]) => [n, v]);
  return Object.entries(headers);
}

/** The exact bytes rawHttpRequest sends for `req`. */
export function encodeHttpRequest(req: RawHttpRequest): Buffer {
  const headers = headerList(req.headers);
  const version = req.httpVersion ?? 'HTTP/1.1';
  const body = req.body === undefined ? undefined : latin1Bytes(req.body);
  if (req.defaultHeaders !== false) {
    const has = (name: string): boolean => headers.some(([n]) => n.toLowerCase() === name);
    if (!has('host') && version === 'HTTP/1.1') headers.unshift(['Host', 'localhost']);
    if (body !== undefined && !has('content-length') && !has('transfer-encoding')) {
      headers.push(['Content-Length', String(body.length)]);
    }
    if (!has('connection')) headers.push(['Connection', 'close']);
  }
  let head = `${req.method} ${req.target} ${version}\r\n`;
  for (const [n, v] of headers) head += `${n}: ${v}\r\n`;
  head += '\r\n';
  const headBytes = Buffer.from(head, 'latin1');
  return body === undefined ? headBytes : Buffer.concat([headBytes, body]);
}

/** Sends one request and reads the response to EOF (bounded by `timeoutMs`, default 10 s). */
export async function rawHttpRequest(
  address: string,
  req: RawHttpRequest,
  options: { timeoutMs?: number } = {},
): Promise<RawHttpResponse> {
  const { data, clientPort } = await exchange(address, [encodeHttpRequest(req)], options.timeoutMs ?? 10_000);
  return { ...parseHttpResponse(data, req.method === 'HEAD'), clientPort };
}

export function parseHttpResponse(data: Buffer, headRequest = false): Omit<RawHttpResponse, 'clientPort'> {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0)
    throw new Error(`incomplete HTTP response: ${JSON.stringify(data.toString('latin1', 0, 200))}`);
  const lines = data.toString('latin1', 0, end).split('\r\n');
  const statusLine = lines[0] ?? '';
  const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1] ?? Number.NaN);
  const headers: HeaderList = lines.slice(1).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  let body = data.subarray(end + 4);
  const chunked = headers.some(([n, v]) => n.toLowerCase() === 'transfer-encoding' && /chunked/i.test(v));
  if (headRequest || status === 204 || status === 304) body = Buffer.alloc(0);
  else if (chunked) body = dechunk(body);
  return { status, statusLine, headers, body };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) throw new Error('truncated chunked response');
    const size = Number.parseInt(data.toString('latin1', at, lineEnd).split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) throw new Error('bad chunk size');
    at = lineEnd + 2;
    if (size === 0) return Buffer.concat(parts);
    parts.push(data.subarray(at, at + size));
    at += size + 2;
  }
}

/** Writes `chunks`, half-closes nothing, reads until the peer closes; rejects on timeout. */
function exchange(
  address: string,
  chunks: readonly Buffer[],
  timeoutMs: number,
): Promise<{ data: Buffer; clientPort: number }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(connectOptions(address));
    const received: Buffer[] = [];
    let clientPort = 0;
    socket.setTimeout(timeoutMs, () => {
      socket.destroy(new Error(`no response from ${address} within ${timeoutMs} ms`));
    });
    socket.once('connect', () => {
      clientPort = socket.localPort ?? 0;
      for (const c of chunks) socket.write(c);
    });
    socket.on('data', (d: Buffer) => received.push(d));
    socket.once('error', reject);
    socket.once('close', (hadError) => {
      if (!hadError) resolve({ data: Buffer.concat(received), clientPort });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// SCGI

/** One SCGI request: CONTENT_LENGTH (from the body) first, SCGI=1, then `env`. Returns all bytes. */
export async function scgiRequest(
  address: string,
  env: HeaderList,
  body: string | Buffer = Buffer.alloc(0),
  options: { timeoutMs?: number } = {},
): Promise<Buffer> {
  const bodyBytes = latin1Bytes(body);
  const pairs: HeaderList = [['CONTENT_LENGTH', String(bodyBytes.length)], ['SCGI', '1'], ...env];
  const block = Buffer.from(pairs.map(([n, v]) => `${n}\0${v}\0`).join(''), 'latin1');
  const head = Buffer.concat([Buffer.from(`${block.length}:`), block, Buffer.from(',')]);
  return (await exchange(address, [head, bodyBytes], options.timeoutMs ?? 10_000)).data;
}

// ---------------------------------------------------------------------------------------------
// FastCGI

export interface FastCgiResult {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly appStatus: number;
  readonly protocolStatus: number;
}

function record(type: number, content: Buffer): Buffer {
  const padding = (8 - (content.length % 8)) % 8;
  const out = Buffer.alloc(8 + content.length + padding);
  out[0] = 1;
  out[1] = type;
  out.writeUInt16BE(1, 2);
  out.writeUInt16BE(content.length, 4);
  out[6] = padding;
  content.copy(out, 8);
  return out;
}

function nvLength(n: number): Buffer {
  if (n < 128) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

/** The request bytes: BEGIN_REQUEST (responder, no keep-conn), PARAMS, empty PARAMS, STDIN, empty STDIN. */
export function encodeFastCgiRequest(params: HeaderList, stdin: Buffer): Buffer[] {
  const begin = Buffer.alloc(8);
  begin.writeUInt16BE(1, 0); // FCGI_RESPONDER
  const nv: Buffer[] = [];
  for (const [n, v] of params) {
    const name = Buffer.from(n, 'latin1');
    const value = Buffer.from(v, 'latin1');
    nv.push(nvLength(name.length), nvLength(value.length), name, value);
  }
  const paramBytes = Buffer.concat(nv);
  const out = [record(1, begin)];
  for (let at = 0; at < paramBytes.length; at += 65535)
    out.push(record(4, paramBytes.subarray(at, at + 65535)));
  out.push(record(4, Buffer.alloc(0)));
  for (let at = 0; at < stdin.length; at += 65535) out.push(record(5, stdin.subarray(at, at + 65535)));
  out.push(record(5, Buffer.alloc(0)));
  return out;
}

/** One FastCGI responder request (id 1, connection closed by the app); collects STDOUT/STDERR. */
export async function fastcgiRequest(
  address: string,
  params: HeaderList,
  stdin: string | Buffer = Buffer.alloc(0),
  options: { timeoutMs?: number } = {},
): Promise<FastCgiResult> {
  const request = encodeFastCgiRequest(params, latin1Bytes(stdin));
  const { data } = await exchange(address, request, options.timeoutMs ?? 10_000);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let at = 0;
  while (at + 8 <= data.length) {
    const type = data[at + 1]!;
    const length = data.readUInt16BE(at + 4);
    const content = data.subarray(at + 8, at + 8 + length);
    at += 8 + length + data[at + 6]!;
    if (type === 6) stdout.push(content);
    else if (type === 7) stderr.push(content);
    else if (type === 3) {
      return {
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr),
        appStatus: content.readUInt32BE(0),
        protocolStatus: content[4]!,
      };
    }
  }
  throw new Error(`FastCGI: connection closed without END_REQUEST; stdout so far: ${Buffer.concat(stdout)}`);
}
