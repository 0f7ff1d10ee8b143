/**
 * HTTP clients for the gateway's front: node:http for ordinary requests (each on its own
 * connection, `Connection: close`), and a raw socket for what node:http would not let a test
 * observe (100 Continue, bytes after a HEAD response's head, a connection closed mid-body).
 */
import { randomBytes } from 'node:crypto';
import { type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { connectOptions } from '../../support/ports.ts';

export interface HttpOptions {
  readonly method?: string;
  /** Path and query as sent (node:http does not re-encode it). */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string | number>>;
  /** A body with Content-Length. */
  readonly body?: string | Buffer;
  /** A body sent as these chunks with Transfer-Encoding: chunked (no Content-Length). */
  readonly chunks?: readonly Buffer[];
}

export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Sends the request and resolves once the response head arrived; the body is left to read. */
export function openRequest(baseUrl: string, options: HttpOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${options.path}`, {
      method: options.method ?? 'GET',
      agent: false,
      headers: { Connection: 'close', ...options.headers },
      timeout: 30_000,
    });
    req.once('timeout', () => req.destroy(new Error(`no response to ${options.path} within 30 s`)));
    req.once('error', reject);
    req.once('response', resolve);
    if (options.chunks !== undefined) {
      for (const chunk of options.chunks) req.write(chunk);
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

/** One request, the whole response; rejects when the response body is cut short. */
export async function httpRequest(baseUrl: string, options: HttpOptions): Promise<HttpResult> {
  const res = await openRequest(baseUrl, options);
  const parts: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) parts.push(chunk);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) };
}

export async function httpJson<T = Record<string, unknown>>(
  baseUrl: string,
  options: HttpOptions,
): Promise<{ status: number; headers: IncomingHttpHeaders; json: T }> {
  const result = await httpRequest(baseUrl, options);
  let json: T;
  try {
    json = JSON.parse(result.body.toString('utf8')) as T;
  } catch {
    throw new Error(`not JSON (status ${result.status}): ${result.body.toString('latin1', 0, 500)}`);
  }
  return { status: result.status, headers: result.headers, json };
}

// ---------------------------------------------------------------------------------------------

/**
 * A client socket whose every received byte the test can inspect as it arrives. Waits are
 * bounded (a safety net so a broken gateway fails the test instead of hanging it; never a
 * timing assertion).
 */
export class RawConnection {
  readonly socket: Socket;
  private readonly received: Buffer[] = [];
  private receivedLength = 0;
  private waiters: Array<() => void> = [];
  /** Set once the gateway closed the connection (or it broke). */
  closedFlag = false;
  /** An error the socket saw (ECONNRESET when the gateway aborted it). */
  error: Error | undefined;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      this.receivedLength += chunk.length;
      this.wake();
    });
    socket.on('error', (error) => {
      this.error = error;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.closedFlag = true;
        this.wake();
        resolve();
      });
    });
  }

  static open(address: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(connectOptions(address));
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Everything received so far. */
  data(): Buffer {
    return Buffer.concat(this.received, this.receivedLength);
  }

  /** Waits until `done(data)` holds; rejects if the connection closes first or after `timeoutMs`. */
  async readUntil(done: (data: Buffer) => boolean, what: string, timeoutMs = 15_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const data = this.data();
      if (done(data)) return data;
      if (this.closedFlag) {
        throw new Error(
          `connection closed before ${what}; got ${JSON.stringify(data.toString('latin1', 0, 300))}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`gave up waiting for ${what}`);
      await this.nextEvent(left);
    }
  }

  /** Waits for the gateway to close the connection; returns every byte received. */
  async readToClose(timeoutMs = 15_000): Promise<Buffer> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([this.closed, timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.socket.destroy();
      throw new Error(`connection not closed; got ${JSON.stringify(this.data().toString('latin1', 0, 300))}`);
    }
    return this.data();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private nextEvent(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Index just past the blank line ending the first response head in `data`, or -1. */
export function headEnd(data: Buffer, from = 0): number {
  const at = data.indexOf('\r\n\r\n', from);
  return at === -1 ? -1 : at + 4;
}

// ---------------------------------------------------------------------------------------------

export interface MultipartPart {
  readonly name: string;
  readonly value: string | Buffer;
  /** Makes the part a file upload. */
  readonly filename?: string;
  readonly contentType?: string;
}

/** A multipart/form-data body (RFC 7578) and its Content-Type. */
export function multipartBody(parts: readonly MultipartPart[]): { body: Buffer; contentType: string } {
  const boundary = `----portico${randomBytes(12).toString('hex')}`;
  const pieces: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    head += '\r\n';
    if (part.contentType !== undefined) head += `Content-Type: ${part.contentType}\r\n`;
    head += '\r\n';
    pieces.push(Buffer.from(head, 'utf8'), Buffer.from(part.value), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(pieces), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Splits `data` into chunks of varying sizes (deterministic), for chunked uploads. */
export function splitIntoChunks(data: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    out.push(data.subarray(at, at + size));
    at += size;
  }
  return out;
}
