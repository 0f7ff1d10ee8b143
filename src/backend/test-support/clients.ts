/**
 * Raw test clients for the backend servers, built from the protocol encoders: a FastCGI client
 * that can interleave records of many request ids on one connection, and a one-shot SCGI
 * client. Responses are kept as bytes and parsed with a deliberately simple CGI head splitter.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { RecordType } from '../../protocol/fastcgi/constants.ts';
import { FastCgiRecordDecoder, type FastCgiRecordHandler } from '../../protocol/fastcgi/decoder.ts';
import { decodeEndRequest } from '../../protocol/fastcgi/bodies.ts';
import { encodeScgiHead } from '../../protocol/scgi/encode.ts';
import type { Param } from '../../protocol/params.ts';

export type Address = { port: number; host?: string } | { path: string };

export interface CgiResponse {
  readonly status: number;
  readonly reason: string;
  /** lower-case name -> values in order. */
  readonly headers: Map<string, string[]>;
  readonly body: Buffer;
}

/** Splits a CGI response at its blank line; `Status: NNN reason` gives the status. */
export function parseCgiResponse(data: Buffer): CgiResponse {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no CGI head in ${JSON.stringify(data.toString('latin1', 0, 200))}`);
  const headers = new Map<string, string[]>();
  let status = 200;
  let reason = '';
  for (const line of data.toString('latin1', 0, end).split('\r\n')) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'status') {
      status = Number(value.slice(0, 3));
      reason = value.slice(4);
      continue;
    }
    const list = headers.get(name) ?? [];
    list.push(value);
    headers.set(name, list);
  }
  return { status, reason, headers, body: data.subarray(end + 4) };
}

export async function connectTo(address: Address): Promise<Socket> {
  const socket =
    'path' in address ? connect(address.path) : connect(address.port, address.host ?? '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

export interface FastCgiReply {
  readonly id: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  /** How many STDERR records (the empty terminator included) arrived. */
  readonly stderrRecords: number;
  readonly appStatus: number;
  readonly protocolStatus: number;
}

interface Pending {
  stdout: Buffer[];
  stderr: Buffer[];
  stderrRecords: number;
  stdoutEnded: boolean;
  waiters: { resolve: (reply: FastCgiReply) => void; reject: (error: Error) => void }[];
  reply: FastCgiReply | undefined;
}

export interface ManagementRecord {
  readonly type: number;
  readonly content: Buffer;
}

/** A FastCGI web-server side that keeps the records it receives by request id. */
export class FastCgiTestClient implements FastCgiRecordHandler {
  readonly socket: Socket;
  private readonly decoder = new FastCgiRecordDecoder(this);
  private readonly pending = new Map<number, Pending>();
  private readonly management: ManagementRecord[] = [];
  private managementWaiters: ((r: ManagementRecord) => void)[] = [];
  /** Every piece of STDOUT in arrival order, for step-by-step tests. */
  readonly stdoutEvents: { id: number; data: Buffer }[] = [];
  private stdoutListeners: (() => void)[] = [];
  readonly closed: Promise<void>;
  /** Set when the server sent something this client could not decode. */
  error: unknown = undefined;

  constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        for (const [id, p] of this.pending) {
          for (const w of p.waiters) w.reject(new Error(`connection closed before END_REQUEST ${id}`));
          p.waiters = [];
        }
        resolve();
      }),
    );
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk);
      } catch (error) {
        this.error = error;
        socket.destroy();
      }
    });
  }

  static async connect(address: Address): Promise<FastCgiTestClient> {
    return new FastCgiTestClient(await connectTo(address));
  }

  write(data: Buffer | Buffer[]): void {
    for (const piece of Array.isArray(data) ? data : [data]) this.socket.write(piece);
  }

  /** Resolves with request `id`'s reply once its END_REQUEST arrived. */
  reply(id: number): Promise<FastCgiReply> {
    const p = this.entry(id);
    if (p.reply !== undefined) return Promise.resolve(p.reply);
    if (this.socket.destroyed) return Promise.reject(new Error(`connection closed before END_REQUEST ${id}`));
    return new Promise((resolve, reject) => p.waiters.push({ resolve, reject }));
  }

  /** Resolves with the next management record (GET_VALUES_RESULT, UNKNOWN_TYPE). */
  nextManagement(): Promise<ManagementRecord> {
    const record = this.management.shift();
    if (record !== undefined) return Promise.resolve(record);
    return new Promise((resolve) => this.managementWaiters.push(resolve));
  }

  /** Forgets what was received for `id`, so the id can be used again (after END_REQUEST). */
  forget(id: number): void {
    this.pending.delete(id);
  }

  /** STDOUT received so far for `id`. */
  stdoutSoFar(id: number): Buffer {
    return Buffer.concat(this.entry(id).stdout);
  }

  /** Resolves once `predicate` holds for the STDOUT received so far for `id`. */
  async waitStdout(id: number, predicate: (stdout: Buffer) => boolean): Promise<Buffer> {
    for (;;) {
      const data = this.stdoutSoFar(id);
      if (predicate(data)) return data;
      if (this.socket.destroyed) throw new Error('connection closed while waiting for STDOUT');
      await new Promise<void>((resolve) => this.stdoutListeners.push(resolve));
    }
  }

  close(): void {
    this.socket.destroy();
  }

  onRecord(type: number, requestId: number, content: Buffer): void {
    if (requestId === 0) {
      const record = { type, content: Buffer.from(content) };
      const waiter = this.managementWaiters.shift();
      if (waiter !== undefined) waiter(record);
      else this.management.push(record);
      return;
    }
    const p = this.entry(requestId);
    if (p.reply !== undefined) throw new Error(`record type ${type} for ended request ${requestId}`);
    switch (type) {
      case RecordType.STDOUT:
        if (content.length === 0) p.stdoutEnded = true;
        else {
          if (p.stdoutEnded) throw new Error('STDOUT after its end');
          p.stdout.push(Buffer.from(content));
          this.stdoutEvents.push({ id: requestId, data: Buffer.from(content) });
          const listeners = this.stdoutListeners;
          this.stdoutListeners = [];
          for (const l of listeners) l();
        }
        return;
      case RecordType.STDERR:
        p.stderrRecords++;
        if (content.length > 0) p.stderr.push(Buffer.from(content));
        return;
      case RecordType.END_REQUEST: {
        const end = decodeEndRequest(content);
        p.reply = {
          id: requestId,
          stdout: Buffer.concat(p.stdout),
          stderr: Buffer.concat(p.stderr),
          stderrRecords: p.stderrRecords,
          appStatus: end.appStatus,
          protocolStatus: end.protocolStatus,
        };
        for (const w of p.waiters) w.resolve(p.reply);
        p.waiters = [];
        return;
      }
      default:
        throw new Error(`unexpected record type ${type}`);
    }
  }

  private entry(id: number): Pending {
    let p = this.pending.get(id);
    if (p === undefined) {
      p = { stdout: [], stderr: [], stderrRecords: 0, stdoutEnded: false, waiters: [], reply: undefined };
      this.pending.set(id, p);
    }
    return p;
  }
}

/** CGI params for a request, the way nginx's fastcgi_params would send them. */
export function cgiParams(method: string, uri: string, extra: readonly Param[] = [], body?: Buffer): Param[] {
  const q = uri.indexOf('?');
  const params: Param[] = [
    ['REQUEST_METHOD', method],
    ['REQUEST_URI', uri],
    ['SCRIPT_NAME', q < 0 ? uri : uri.slice(0, q)],
    ['QUERY_STRING', q < 0 ? '' : uri.slice(q + 1)],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['REMOTE_ADDR', '127.0.0.1'],
    ['REMOTE_PORT', '50000'],
    ['SERVER_NAME', 'example.test'],
    ['SERVER_PORT', '80'],
    ['HTTP_HOST', 'example.test'],
  ];
  if (body !== undefined) params.push(['CONTENT_LENGTH', String(body.length)]);
  return params.concat(extra);
}

/** One SCGI request; resolves with everything the server sent before closing. */
export async function scgiExchange(
  address: Address,
  params: readonly Param[],
  body: Buffer = Buffer.alloc(0),
): Promise<{ data: Buffer; reset: boolean }> {
  const socket = await connectTo(address);
  const received: Buffer[] = [];
  let reset = false;
  socket.on('data', (d: Buffer) => received.push(d));
  socket.on('error', () => {
    reset = true;
  });
  const withoutLength = params.filter(([name]) => name !== 'CONTENT_LENGTH');
  socket.write(encodeScgiHead(withoutLength, body.length));
  socket.write(body);
  await new Promise((resolve) => socket.once('close', resolve));
  return { data: Buffer.concat(received), reset };
}
