/**
 * The response a handler writes: a Writable with node:http's header API, producing a CGI
 * response (RFC 3875 6): `Status: 200 OK` + header lines + a blank line, then the body. The
 * protocol framing (FastCGI STDOUT records, raw SCGI bytes) is the transport's.
 *
 * Like node:http, the head is fixed at `writeHead()` or the first `write()`/`end()` and reaches
 * the wire with the first body bytes (or at once with `flushHeaders()`). Backpressure: a write's
 * callback waits until the socket took the bytes, so `write()` returns false while the web
 * server does not read. Misuse (a write after end) is reported to the server's onError, never
 * thrown at the process as an unhandled 'error' event.
 */
import { STATUS_CODES } from 'node:http';
import { Writable } from 'node:stream';
import { EncodeError, GatewayError } from '../errors.ts';
import { checkHeaderName, checkHeaderValue, checkReason } from './http-fields.ts';

export type WriteCallback = (error?: Error | null) => void;
export type HeaderValue = string | number | readonly string[];

/** How a response reaches its web server; one implementation per protocol. */
export interface ResponseTransport {
  /** Sends pieces in order (the head first, once). Calls `callback` when the socket takes more. */
  sendBody(chunks: Buffer[], callback: WriteCallback): void;
  /** Sends the last pieces and ends the response (FastCGI END_REQUEST, SCGI close). */
  sendEnd(chunks: Buffer[], callback: WriteCallback): void;
  /**
   * The handler failed. FastCGI: END_REQUEST will carry appStatus 1. `headersSent`: the head
   * is fixed, so no 500 can replace it; SCGI then resets the connection so the web server sees
   * a broken response rather than a short one that looks complete.
   */
  handlerFailed(headersSent: boolean): void;
  /** The diagnostics stream (FastCGI STDERR records; SCGI has none, so the process's stderr). */
  openStderr(): Writable;
}

function headersSent(what: string): GatewayError {
  return new GatewayError(
    'ERR_BACKEND_HEADERS_SENT',
    `cannot ${what} after the response head was sent`,
    'gateway',
    500,
    'none',
  );
}

function stringValues(name: string, value: HeaderValue): string | string[] {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') {
    checkHeaderValue(name, value);
    return value;
  }
  if (!Array.isArray(value)) {
    throw new EncodeError('ERR_BACKEND_HEADER_VALUE', `response header ${name} has no valid value`);
  }
  const out: string[] = [];
  for (const item of value) {
    const s = String(item);
    checkHeaderValue(name, s);
    out.push(s);
  }
  return out;
}

export class BackendResponse extends Writable {
  /** The status sent with the head (100..999; 1xx only 101: a CGI response has one head). */
  statusCode = 200;
  /** The reason phrase; empty for the standard one. */
  statusMessage = '';
  private readonly transport: ResponseTransport;
  /** lower-case name -> [name as given, value as given, value as strings]. */
  private readonly fields = new Map<string, [string, HeaderValue, string | string[]]>();
  private headBuilt = false;
  /** The serialized head, until a write takes it. */
  private pendingHead: Buffer | undefined = undefined;
  private stderrStream: Writable | undefined = undefined;

  constructor(transport: ResponseTransport, onError: (error: unknown) => void) {
    super();
    this.transport = transport;
    this.on('error', onError);
  }

  /** True once the head is fixed (writeHead, or the first write / end). */
  get headersSent(): boolean {
    return this.headBuilt;
  }

  /** FastCGI: a stream of STDERR records (the web server logs them). SCGI: the process's stderr. */
  get stderr(): Writable {
    this.stderrStream ??= this.transport.openStderr();
    return this.stderrStream;
  }

  /** The stderr stream if it was opened, for the transport to end it before the response. */
  get openedStderr(): Writable | undefined {
    return this.stderrStream;
  }

  setHeader(name: string, value: HeaderValue): this {
    if (this.headBuilt) throw headersSent('set a header');
    checkHeaderName(name);
    const lower = name.toLowerCase();
    if (lower === 'status') {
      throw new EncodeError(
        'ERR_BACKEND_STATUS_HEADER',
        'set statusCode / statusMessage or call writeHead() instead of a Status header',
      );
    }
    this.fields.set(lower, [name, value, stringValues(name, value)]);
    return this;
  }

  getHeader(name: string): HeaderValue | undefined {
    return this.fields.get(name.toLowerCase())?.[1];
  }

  hasHeader(name: string): boolean {
    return this.fields.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    if (this.headBuilt) throw headersSent('remove a header');
    this.fields.delete(name.toLowerCase());
  }

  getHeaderNames(): string[] {
    return [...this.fields.keys()];
  }

  getHeaders(): Record<string, HeaderValue> {
    const out: Record<string, HeaderValue> = Object.create(null);
    for (const [lower, field] of this.fields) out[lower] = field[1];
    return out;
  }

  /**
   * Fixes the status and the headers (`headers` are set over those from setHeader, as in
   * node:http). The head goes out with the first body bytes, or now with flushHeaders().
   */
  writeHead(
    statusCode: number,
    reason?: string | Record<string, HeaderValue>,
    headers?: Record<string, HeaderValue>,
  ): this {
    if (this.headBuilt) throw headersSent('write the head');
    if (typeof reason === 'object' && reason !== null) {
      headers = reason;
      reason = undefined;
    }
    this.statusCode = statusCode;
    if (reason !== undefined) this.statusMessage = reason;
    if (headers !== undefined) {
      for (const name of Object.keys(headers)) this.setHeader(name, headers[name]!);
    }
    this.buildHead();
    return this;
  }

  /** Sends the head now (a long-polling or streaming response shows its status early). */
  flushHeaders(): void {
    if (!this.headBuilt) this.buildHead();
    const head = this.pendingHead;
    if (head === undefined || this.writableEnded) return;
    this.pendingHead = undefined;
    this.transport.sendBody([head], noop);
  }

  override write(
    chunk: unknown,
    encoding?: BufferEncoding | WriteCallback,
    callback?: WriteCallback,
  ): boolean {
    // The head is built here, not in _write, so a bad status throws at the caller.
    if (!this.headBuilt && !this.writableEnded) this.buildHead();
    return super.write(chunk, encoding as BufferEncoding, callback);
  }

  override end(chunk?: unknown, encoding?: BufferEncoding | (() => void), callback?: () => void): this {
    if (!this.headBuilt && !this.writableEnded) this.buildHead();
    return super.end(chunk, encoding as BufferEncoding, callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    const head = this.takeHead();
    this.transport.sendBody(head === undefined ? [chunk] : [head, chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: WriteCallback): void {
    const head = this.takeHead();
    const out: Buffer[] = head === undefined ? [] : [head];
    for (let i = 0; i < chunks.length; i++) out.push(chunks[i]!.chunk);
    this.transport.sendBody(out, callback);
  }

  override _final(callback: WriteCallback): void {
    const head = this.takeHead();
    this.transport.sendEnd(head === undefined ? [] : [head], callback);
  }

  private takeHead(): Buffer | undefined {
    if (!this.headBuilt) this.buildHead();
    const head = this.pendingHead;
    this.pendingHead = undefined;
    return head;
  }

  private buildHead(): void {
    const status = this.statusCode;
    if (!Number.isInteger(status) || status < 100 || status > 999 || (status < 200 && status !== 101)) {
      throw new EncodeError(
        'ERR_BACKEND_STATUS',
        `invalid status code ${String(status)} (100..999; of 1xx only 101, a CGI response has one head)`,
      );
    }
    const reason = this.statusMessage || STATUS_CODES[status] || 'Unknown';
    checkReason(reason);
    let head = `Status: ${status} ${reason}\r\n`;
    for (const field of this.fields.values()) {
      const name = field[0];
      const value = field[2];
      if (typeof value === 'string') head += `${name}: ${value}\r\n`;
      else for (let i = 0; i < value.length; i++) head += `${name}: ${value[i]}\r\n`;
    }
    head += '\r\n';
    this.pendingHead = Buffer.from(head, 'latin1');
    this.headBuilt = true;
  }
}

function noop(): void {}
