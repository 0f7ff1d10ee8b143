/**
 * A raw SCGI or FastCGI backend whose answer the test scripts byte by byte: half a head then a
 * close, a body shorter than its Content-Length, malformed heads, a slow stream that records when
 * the gateway hangs up. It reads the whole request first (so the gateway's writes never race the
 * script) with the recorders' independent parsers, then hands the test an exchange object.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { listenBackend } from '../../support/backend-listener.ts';
import {
  type EnvList,
  fcgiRecord,
  parseFastCgiParams,
  parseScgiHeaders,
} from '../../support/recording-backend.ts';

export type BackendProtocol = 'scgi' | 'fastcgi';

export interface ScriptedExchange {
  readonly protocol: BackendProtocol;
  readonly env: EnvList;
  readonly body: Buffer;
  /** FastCGI: the content length of each non-empty STDIN record, in order (SCGI: empty). */
  readonly stdinRecords: readonly number[];
  readonly socket: Socket;
  /** Response bytes: raw for SCGI, framed as FCGI_STDOUT records for FastCGI. */
  stdout(data: string | Buffer): boolean;
  /** FastCGI: FCGI_STDERR records. */
  stderr(data: string | Buffer): void;
  /** A clean end: SCGI closes; FastCGI sends the empty STDOUT and END_REQUEST, then closes. */
  end(): void;
  /** Closes the connection at once, without END_REQUEST. */
  destroy(): void;
  /** True once the gateway's side of the connection is gone. */
  readonly gatewayClosed: boolean;
  /** Resolves when the connection is closed (by either side). */
  readonly closed: Promise<void>;
  /** The env value of `name` (first occurrence) or undefined. */
  get(name: string): string | undefined;
}

export interface ScriptedBackend extends AsyncDisposable {
  readonly address: string;
  /** Connections accepted (a test that expects none checks this stays 0). */
  readonly connections: number;
  /** Resolves when the next connection (of any request state) is closed. */
  nextClose(): Promise<void>;
  readonly exchanges: readonly ScriptedExchange[];
  /** The next exchange whose request has fully arrived. */
  nextExchange(): Promise<ScriptedExchange>;
  close(): Promise<void>;
}

const FCGI_END_REQUEST = 3;
const FCGI_PARAMS = 4;
const FCGI_STDIN = 5;
const FCGI_STDOUT = 6;
const FCGI_STDERR = 7;
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;

function bytes(data: string | Buffer): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
}

/** The whole request once it arrived: env, body, request id; undefined while incomplete. */
function parseRequest(
  protocol: BackendProtocol,
  data: Buffer,
): { env: EnvList; body: Buffer; requestId: number; stdinRecords: number[] } | undefined {
  if (protocol === 'scgi') {
    const colon = data.indexOf(0x3a);
    if (colon < 0) return undefined;
    const headLength = Number(data.toString('latin1', 0, colon));
    const headEnd = colon + 1 + headLength;
    if (data.length < headEnd + 1) return undefined;
    const env = parseScgiHeaders(data.subarray(colon + 1, headEnd));
    const length = Number(env[0]?.[1] ?? '0');
    const bodyStart = headEnd + 1;
    if (data.length < bodyStart + length) return undefined;
    return { env, body: data.subarray(bodyStart, bodyStart + length), requestId: 0, stdinRecords: [] };
  }
  const params: Buffer[] = [];
  const stdin: Buffer[] = [];
  let at = 0;
  let requestId = 0;
  while (at + 8 <= data.length) {
    const type = data[at + 1]!;
    const id = data.readUInt16BE(at + 2);
    const length = data.readUInt16BE(at + 4);
    const total = 8 + length + data[at + 6]!;
    if (at + total > data.length) return undefined;
    const content = data.subarray(at + 8, at + 8 + length);
    at += total;
    if (type === 1) requestId = id;
    else if (type === FCGI_PARAMS) params.push(content);
    else if (type === FCGI_STDIN) {
      if (length === 0) {
        return {
          env: parseFastCgiParams(Buffer.concat(params)),
          body: Buffer.concat(stdin),
          requestId,
          stdinRecords: stdin.map((b) => b.length),
        };
      }
      stdin.push(content);
    }
  }
  return undefined;
}

export interface ScriptedBackendOptions {
  readonly listen?: 'tcp' | 'unix';
}

/** Starts a backend that runs `script` for each request once it fully arrived. */
export async function startScriptedBackend(
  protocol: BackendProtocol,
  script: (exchange: ScriptedExchange) => void | Promise<void>,
  options: ScriptedBackendOptions = {},
): Promise<ScriptedBackend> {
  const exchanges: ScriptedExchange[] = [];
  const waiters: Array<(e: ScriptedExchange) => void> = [];
  const closeWaiters: Array<() => void> = [];
  let connections = 0;

  // Not half-open: the gateway never half-closes, so its FIN means it is gone; close our side too.
  const server: Server = createServer((socket) => {
    connections++;
    let gatewayClosed = false;
    let resolveClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      resolveClosed = resolve;
    });
    socket.on('error', () => {}); // resets are what some tests provoke
    socket.on('end', () => {
      gatewayClosed = true;
    });
    socket.on('close', () => {
      gatewayClosed = true;
      resolveClosed();
      for (const w of closeWaiters.splice(0)) w();
    });
    const received: Buffer[] = [];
    let receivedLength = 0;
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      if (started) return;
      received.push(chunk);
      receivedLength += chunk.length;
      if (receivedLength > MAX_REQUEST_BYTES) {
        socket.destroy();
        return;
      }
      const request = parseRequest(protocol, Buffer.concat(received, receivedLength));
      if (request === undefined) return;
      started = true;
      const id = request.requestId;
      const exchange: ScriptedExchange = {
        protocol,
        env: request.env,
        body: Buffer.from(request.body),
        stdinRecords: request.stdinRecords,
        socket,
        stdout(data) {
          if (socket.destroyed) return false;
          const b = bytes(data);
          if (protocol === 'scgi') return socket.write(b);
          let ok = true;
          for (let at = 0; at < b.length; at += 65535) {
            ok = socket.write(fcgiRecord(FCGI_STDOUT, id, b.subarray(at, at + 65535)));
          }
          return ok;
        },
        stderr(data) {
          if (!socket.destroyed) socket.write(fcgiRecord(FCGI_STDERR, id, bytes(data)));
        },
        end() {
          if (socket.destroyed) return;
          if (protocol === 'fastcgi') {
            socket.write(fcgiRecord(FCGI_STDOUT, id, Buffer.alloc(0)));
            socket.write(fcgiRecord(FCGI_END_REQUEST, id, Buffer.alloc(8)));
          }
          socket.end();
        },
        destroy() {
          socket.destroy();
        },
        get gatewayClosed() {
          return gatewayClosed;
        },
        closed,
        get(name) {
          return request.env.find(([n]) => n === name)?.[1];
        },
      };
      exchanges.push(exchange);
      for (const w of waiters.splice(0)) w(exchange);
      void Promise.resolve(script(exchange)).catch(() => socket.destroy());
    });
  });

  const { address, close } = await listenBackend(server, {
    listen: options.listen,
    prefix: 'scripted',
    socketName: 'backend.sock',
  });
  return {
    address,
    get connections() {
      return connections;
    },
    nextClose: () => new Promise((resolve) => closeWaiters.push(resolve)),
    exchanges,
    nextExchange: () => new Promise((resolve) => waiters.push(resolve)),
    close,
    [Symbol.asyncDispose]: close,
  };
}
