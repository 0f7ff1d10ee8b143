/**
 * Recording SCGI and FastCGI backends: they accept connections, record the environment exactly as
 * it arrived (an ordered list of [name, value], duplicates kept) plus the body, and answer a fixed
 * CGI response. Used to learn what real nginx sends, and later to check what Portico sends.
 *
 * The parsing is deliberately hand-written and independent of src/protocol: a reference that
 * shares code with the thing under test would share its bugs. Names and values are latin1
 * strings, one char per byte, so every byte on the wire is visible.
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { listenBackend } from './backend-listener.ts';

export type EnvList = Array<[string, string]>;

export interface RecordedRequest {
  readonly protocol: 'scgi' | 'fastcgi';
  readonly env: EnvList;
  readonly body: Buffer;
  /** 1-based index of the connection it came on (FastCGI keep-conn puts several on one). */
  readonly connection: number;
  /** FastCGI only: BEGIN_REQUEST's request id, role and FCGI_KEEP_CONN flag. */
  readonly requestId?: number;
  readonly role?: number;
  readonly keepConn?: boolean;
}

export interface RecordingBackend extends AsyncDisposable {
  /** "127.0.0.1:PORT" or "unix:/path", as nginx's scgi_pass / fastcgi_pass take it. */
  readonly address: string;
  readonly requests: readonly RecordedRequest[];
  /** Malformed input seen (the connection is then closed without an answer). */
  readonly errors: readonly Error[];
  /** Resolves with the next request recorded after this call. */
  nextRequest(): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export interface RecorderOptions {
  readonly listen?: 'tcp' | 'unix';
  /** Dir for the unix socket (default: a fresh temp dir, removed on close). */
  readonly dir?: string;
  /** The CGI response to send (default: `Status: 200 OK`, text/plain, body "ok"). */
  readonly response?: string | Buffer;
}

export const DEFAULT_RECORDER_RESPONSE = 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok';

function latin1Bytes(data: string | Buffer): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
}

/** A test recorder is no production server, but it still refuses to grow without bound. */
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------

/** Chunks kept as received; bytes are copied only when a whole field is taken. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Byte at offset `i` (i < length). */
  at(i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i]!;
      i -= c.length;
    }
    throw new RangeError('ByteQueue.at past end');
  }

  /** Removes and returns the first n bytes (n <= length). */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const want = n - filled;
      if (c.length <= want) {
        c.copy(out, filled);
        filled += c.length;
        this.chunks.shift();
      } else {
        c.copy(out, filled, 0, want);
        this.chunks[0] = c.subarray(want);
        filled += want;
      }
    }
    this.length -= n;
    return out;
  }
}

type Feed = (queue: ByteQueue) => void;
type ConnectionHandler = (socket: Socket, connection: number, record: (r: RecordedRequest) => void) => Feed;

async function startRecorder(
  options: RecorderOptions,
  prefix: string,
  handler: ConnectionHandler,
): Promise<RecordingBackend> {
  const requests: RecordedRequest[] = [];
  const errors: Error[] = [];
  const waiters: Array<(r: RecordedRequest) => void> = [];
  let connections = 0;
  const record = (r: RecordedRequest): void => {
    requests.push(r);
    for (const w of waiters.splice(0)) w(r);
  };

  const server: Server = createServer((socket) => {
    const queue = new ByteQueue();
    const feed = handler(socket, ++connections, record);
    socket.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      if (queue.length > MAX_REQUEST_BYTES) {
        errors.push(new Error(`${prefix}: request larger than ${MAX_REQUEST_BYTES} bytes`));
        socket.destroy();
        return;
      }
      try {
        feed(queue);
      } catch (err) {
        errors.push(err as Error);
        socket.destroy();
      }
    });
    socket.on('error', () => {}); // the peer may reset; that is no test failure by itself
  });

  const { address, close } = await listenBackend(server, {
    listen: options.listen,
    dir: options.dir,
    prefix,
    socketName: `${prefix}.sock`,
  });
  return {
    address,
    requests,
    errors,
    nextRequest: () => new Promise((resolve) => waiters.push(resolve)),
    close,
    [Symbol.asyncDispose]: close,
  };
}

// ---------------------------------------------------------------------------------------------
// SCGI: "<len>:" netstring of NUL-terminated name/value pairs, ",", then CONTENT_LENGTH body bytes.

/** Splits an SCGI header block (the netstring's content) into ordered pairs. */
export function parseScgiHeaders(block: Buffer): EnvList {
  const env: EnvList = [];
  let at = 0;
  while (at < block.length) {
    const nameEnd = block.indexOf(0, at);
    const valueEnd = nameEnd < 0 ? -1 : block.indexOf(0, nameEnd + 1);
    if (valueEnd < 0) throw new Error('SCGI: header block does not end with a NUL-terminated value');
    env.push([block.toString('latin1', at, nameEnd), block.toString('latin1', nameEnd + 1, valueEnd)]);
    at = valueEnd + 1;
  }
  return env;
}

export function startScgiRecorder(options: RecorderOptions = {}): Promise<RecordingBackend> {
  const response = latin1Bytes(options.response ?? DEFAULT_RECORDER_RESPONSE);
  return startRecorder(options, 'scgi-recorder', (socket, connection, record) => {
    let headLength = -1; // netstring length once its digits and ':' arrived
    let env: EnvList | undefined;
    let bodyLength = 0;
    let done = false;
    return (queue) => {
      if (done) return; // one request per connection (SCGI); ignore anything after it
      if (headLength < 0) {
        let colon = -1;
        for (let i = 0; i < queue.length && i < 11; i++) {
          const b = queue.at(i);
          if (b === 0x3a) {
            colon = i;
            break;
          }
          if (b < 0x30 || b > 0x39) throw new Error(`SCGI: bad netstring length byte 0x${b.toString(16)}`);
        }
        if (colon < 0) {
          if (queue.length >= 11) throw new Error('SCGI: netstring length longer than 10 digits');
          return;
        }
        const digits = queue.take(colon + 1).toString('latin1', 0, colon);
        if (digits.length === 0 || (digits.length > 1 && digits.startsWith('0'))) {
          throw new Error(`SCGI: bad netstring length "${digits}"`);
        }
        headLength = Number(digits);
      }
      if (env === undefined) {
        if (queue.length < headLength + 1) return;
        const block = queue.take(headLength + 1);
        if (block[headLength] !== 0x2c) throw new Error('SCGI: netstring not terminated by ","');
        env = parseScgiHeaders(block.subarray(0, headLength));
        const first = env[0];
        if (first === undefined || first[0] !== 'CONTENT_LENGTH' || !/^(0|[1-9][0-9]*)$/.test(first[1])) {
          throw new Error(`SCGI: first header is not a valid CONTENT_LENGTH: ${JSON.stringify(first)}`);
        }
        bodyLength = Number(first[1]);
      }
      if (queue.length < bodyLength) return;
      done = true;
      record({ protocol: 'scgi', env, body: queue.take(bodyLength), connection });
      socket.end(response);
    };
  });
}

// ---------------------------------------------------------------------------------------------
// FastCGI (spec 1.0): 8-byte record headers; BEGIN_REQUEST, PARAMS stream (name-value pairs with
// 1- or 4-byte lengths) ended by an empty PARAMS record, STDIN stream ended by an empty record.

const FCGI_BEGIN_REQUEST = 1;
const FCGI_ABORT_REQUEST = 2;
const FCGI_END_REQUEST = 3;
const FCGI_PARAMS = 4;
const FCGI_STDIN = 5;
const FCGI_STDOUT = 6;
const FCGI_GET_VALUES = 9;
const FCGI_GET_VALUES_RESULT = 10;
const FCGI_UNKNOWN_TYPE = 11;

/** Decodes a complete FastCGI name-value pair stream into ordered pairs. */
export function parseFastCgiParams(data: Buffer): EnvList {
  const env: EnvList = [];
  let at = 0;
  const readLength = (): number => {
    if (at >= data.length) throw new Error('FastCGI: truncated name-value length');
    const b = data[at]!;
    if (b < 0x80) {
      at += 1;
      return b;
    }
    if (at + 4 > data.length) throw new Error('FastCGI: truncated 4-byte name-value length');
    const n = data.readUInt32BE(at) & 0x7fffffff;
    at += 4;
    return n;
  };
  while (at < data.length) {
    const nameLength = readLength();
    const valueLength = readLength();
    if (at + nameLength + valueLength > data.length)
      throw new Error('FastCGI: name-value pair past the stream end');
    const name = data.toString('latin1', at, at + nameLength);
    at += nameLength;
    env.push([name, data.toString('latin1', at, at + valueLength)]);
    at += valueLength;
  }
  return env;
}

/** One FastCGI record, padded to a multiple of 8 as the spec recommends. */
export function fcgiRecord(type: number, requestId: number, content: Buffer): Buffer {
  const padding = (8 - (content.length % 8)) % 8;
  const out = Buffer.alloc(8 + content.length + padding);
  out[0] = 1;
  out[1] = type;
  out.writeUInt16BE(requestId, 2);
  out.writeUInt16BE(content.length, 4);
  out[6] = padding;
  content.copy(out, 8);
  return out;
}

/** STDOUT records (<= 65535 bytes each), the empty STDOUT, END_REQUEST (complete, status 0). */
function fcgiResponse(requestId: number, response: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < response.length; at += 65535) {
    out.push(fcgiRecord(FCGI_STDOUT, requestId, response.subarray(at, at + 65535)));
  }
  out.push(fcgiRecord(FCGI_STDOUT, requestId, Buffer.alloc(0)));
  out.push(fcgiRecord(FCGI_END_REQUEST, requestId, Buffer.alloc(8))); // appStatus 0, REQUEST_COMPLETE
  return out;
}

interface FcgiState {
  requestId: number;
  role: number;
  keepConn: boolean;
  params: Buffer[];
  paramsDone: boolean;
  stdin: Buffer[];
}

export function startFastCgiRecorder(options: RecorderOptions = {}): Promise<RecordingBackend> {
  const response = latin1Bytes(options.response ?? DEFAULT_RECORDER_RESPONSE);
  return startRecorder(options, 'fastcgi-recorder', (socket, connection, record) => {
    let state: FcgiState | undefined;
    let closed = false;
    return (queue) => {
      while (!closed && queue.length >= 8) {
        const contentLength = (queue.at(4) << 8) | queue.at(5);
        const total = 8 + contentLength + queue.at(6);
        if (queue.length < total) return;
        const rec = queue.take(total);
        if (rec[0] !== 1) throw new Error(`FastCGI: record version ${rec[0]}, want 1`);
        const type = rec[1]!;
        const requestId = rec.readUInt16BE(2);
        const content = rec.subarray(8, 8 + contentLength);
        if (type === FCGI_GET_VALUES) {
          socket.write(fcgiRecord(FCGI_GET_VALUES_RESULT, 0, Buffer.alloc(0)));
          continue;
        }
        if (type === FCGI_BEGIN_REQUEST) {
          if (state !== undefined) throw new Error('FastCGI: BEGIN_REQUEST while a request is active');
          if (contentLength !== 8) throw new Error(`FastCGI: BEGIN_REQUEST body of ${contentLength} bytes`);
          state = {
            requestId,
            role: content.readUInt16BE(0),
            keepConn: (content[2]! & 1) === 1,
            params: [],
            paramsDone: false,
            stdin: [],
          };
          continue;
        }
        if (type !== FCGI_PARAMS && type !== FCGI_STDIN && type !== FCGI_ABORT_REQUEST) {
          const unknown = Buffer.alloc(8);
          unknown[0] = type;
          socket.write(fcgiRecord(FCGI_UNKNOWN_TYPE, 0, unknown));
          continue;
        }
        if (state === undefined || requestId !== state.requestId) {
          throw new Error(`FastCGI: record type ${type} for request ${requestId} without BEGIN_REQUEST`);
        }
        if (type === FCGI_ABORT_REQUEST) {
          socket.write(fcgiRecord(FCGI_END_REQUEST, requestId, Buffer.alloc(8)));
          if (!state.keepConn) {
            closed = true;
            socket.end();
          }
          state = undefined;
          continue;
        }
        if (type === FCGI_PARAMS) {
          if (state.paramsDone) throw new Error('FastCGI: PARAMS after the empty PARAMS record');
          if (contentLength === 0) state.paramsDone = true;
          else state.params.push(Buffer.from(content));
          continue;
        }
        // STDIN
        if (contentLength > 0) {
          state.stdin.push(Buffer.from(content));
          continue;
        }
        if (!state.paramsDone) throw new Error('FastCGI: end of STDIN before the end of PARAMS');
        record({
          protocol: 'fastcgi',
          env: parseFastCgiParams(Buffer.concat(state.params)),
          body: Buffer.concat(state.stdin),
          connection,
          requestId: state.requestId,
          role: state.role,
          keepConn: state.keepConn,
        });
        const reply = fcgiResponse(state.requestId, response);
        if (state.keepConn) {
          for (const b of reply) socket.write(b);
        } else {
          // Without FCGI_KEEP_CONN the application closes the connection after END_REQUEST.
          closed = true;
          socket.end(Buffer.concat(reply));
        }
        state = undefined;
      }
    };
  });
}
