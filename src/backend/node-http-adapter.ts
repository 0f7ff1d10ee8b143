/**
 * Runs a node:http request listener, `(req: http.IncomingMessage, res: http.ServerResponse)`,
 * as a BackendHandler, so Express, Koa, Fastify's router or any node:http app can be an SCGI
 * or FastCGI backend unmodified.
 *
 * Why a real http.Server: Express replaces req/res prototypes with ones inheriting from
 * IncomingMessage / ServerResponse and relies on their internals (headers, socket, writeHead,
 * 'finish'/'close' events, HEAD and 304 handling). Look-alike objects break in subtle ways, so
 * each CGI request becomes an HTTP/1.1 request written into an in-memory duplex that a private,
 * never-listening http.Server receives as a connection (`server.emit('connection', ...)`). The
 * HTTP/1.1 response it writes back is parsed (Http1ResponseParser) into the CGI response:
 * status, headers minus hop-by-hop fields, de-chunked body.
 *
 *   BackendRequest --body (chunked if length unknown)--> duplex --> http.Server --> listener
 *   BackendResponse <--CGI head + body-- parser <--HTTP/1.1-- duplex <-- ServerResponse
 *
 * Backpressure both ways: the duplex pair propagates it, and each side pauses its source when
 * a write returns false. When the request's signal fires (client gone), the duplex is
 * destroyed: the app sees its req 'aborted' / res 'close', as with a real disconnect.
 * The synthesised socket carries REMOTE_ADDR / REMOTE_PORT / SERVER_ADDR / SERVER_PORT and
 * `encrypted` when HTTPS=on, so `req.ip`, `req.protocol` and `req.secure` work.
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { type Duplex, duplexPair } from 'node:stream';
import { ClientRequestError } from '../errors.ts';
import type { BackendHandler } from './dispatch.ts';
import { type HeaderPair, Http1ResponseParser, type Http1ResponseHandler } from './http1-response-parser.ts';
import type { BackendRequest } from './request.ts';
import type { BackendResponse, HeaderValue } from './response.ts';

export type NodeHttpListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface NodeHttpAdapterOptions {
  /** Options for the private http.Server (e.g. `maxHeaderSize`, `insecureHTTPParser`). */
  readonly serverOptions?: ServerOptions;
  /** Largest response head accepted from the app. Default 256 KiB. */
  readonly maxResponseHeadBytes?: number;
}

/**
 * Request header fields that describe the hop, not the request: rebuilt here (Host, the body
 * framing, `Connection: close`) or meaningless on an in-memory connection. `expect` is
 * dropped because the web server already answered any 100-continue.
 */
const DROPPED_REQUEST_FIELDS = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'content-length',
  'http2-settings',
]);

/** Response fields that frame or manage the HTTP/1.1 hop to node:http (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A request target without spaces or controls (RFC 9112 3.2); anything else could split the request line. */
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;

function badRequest(message: string): ClientRequestError {
  return new ClientRequestError('ERR_BACKEND_HTTP_REQUEST', message, 400);
}

type BodyFraming = 'length' | 'chunked' | 'none';

/** The HTTP/1.1 request head for `req`, and how its body is framed. */
export function requestHead(req: BackendRequest): { head: Buffer; framing: BodyFraming } {
  const env = req.env;
  if (!TOKEN.test(req.method)) throw badRequest(`invalid method ${JSON.stringify(req.method.slice(0, 32))}`);
  if (!TARGET.test(req.url)) throw badRequest('invalid request target (space or control char)');
  let head = `${req.method} ${req.url} HTTP/1.1\r\nHost: ${host(env)}\r\n`;
  const headers = req.headers;
  for (const name in headers) {
    if (DROPPED_REQUEST_FIELDS.has(name)) continue;
    const value = headers[name]!;
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      throw badRequest(`invalid request header ${JSON.stringify(name.slice(0, 64))}`);
    }
    head += `${name}: ${value}\r\n`;
  }
  const length = env.CONTENT_LENGTH;
  let framing: BodyFraming = 'none';
  if (length !== undefined && /^[0-9]{1,15}$/.test(length)) {
    head += `content-length: ${length}\r\n`;
    framing = 'length';
  } else if (env.HTTP_TRANSFER_ENCODING !== undefined) {
    // No CONTENT_LENGTH but the client sent a body of unknown length (FastCGI streams it).
    head += 'transfer-encoding: chunked\r\n';
    framing = 'chunked';
  }
  head += 'connection: close\r\n\r\n';
  return { head: Buffer.from(head, 'latin1'), framing };
}

function host(env: Readonly<Record<string, string>>): string {
  const given = env.HTTP_HOST;
  if (given !== undefined && given !== '' && FIELD_VALUE.test(given)) return given;
  const name = env.SERVER_NAME;
  if (name === undefined || name === '' || !TOKEN.test(name.replaceAll(':', ''))) return 'localhost';
  const port = env.SERVER_PORT;
  const standard = env.HTTPS === 'on' ? '443' : '80';
  return port !== undefined && /^[0-9]{1,5}$/.test(port) && port !== standard ? `${name}:${port}` : name;
}

/** Gives the in-memory socket the fields apps read from a TCP socket. */
function decorateSocket(socket: Duplex, env: Readonly<Record<string, string>>): void {
  const port = (value: string | undefined): number | undefined =>
    value !== undefined && /^[0-9]{1,5}$/.test(value) ? Number(value) : undefined;
  Object.defineProperties(socket, {
    remoteAddress: { value: env.REMOTE_ADDR, configurable: true },
    remotePort: { value: port(env.REMOTE_PORT), configurable: true },
    remoteFamily: { value: env.REMOTE_ADDR?.includes(':') ? 'IPv6' : 'IPv4', configurable: true },
    localAddress: { value: env.SERVER_ADDR, configurable: true },
    localPort: { value: port(env.SERVER_PORT), configurable: true },
    encrypted: { value: env.HTTPS === 'on' ? true : undefined, configurable: true },
    setTimeout: { value: socketNoop, configurable: true },
    setNoDelay: { value: socketNoop, configurable: true },
    setKeepAlive: { value: socketNoop, configurable: true },
  });
}

function socketNoop(this: Duplex): Duplex {
  return this;
}

/** A node:http request listener as a BackendHandler (for Express, Koa, Fastify's router, ...). */
export function fromNodeHttp(
  listener: NodeHttpListener,
  options: NodeHttpAdapterOptions = {},
): BackendHandler {
  // Timeouts belong to the web server in front and to our servers: none here.
  const server = createServer(
    { requestTimeout: 0, keepAliveTimeout: 0, maxHeaderSize: 1024 * 1024, ...options.serverOptions },
    listener,
  );
  const maxHead = options.maxResponseHeadBytes ?? 256 * 1024;
  return (req, res) => new Bridge(server, req, res, maxHead).run();
}

/** One request's trip through the private http.Server. */
class Bridge implements Http1ResponseHandler {
  private readonly server: Server;
  private readonly req: BackendRequest;
  private readonly res: BackendResponse;
  private readonly parser: Http1ResponseParser;
  private readonly local: Duplex;
  private readonly remote: Duplex;
  private chunked = false;
  /** The handler's promise is resolved or rejected. */
  private settled = false;
  /** The duplex pair is destroyed. */
  private closed = false;
  private resolve: () => void = noop;
  private reject: (error: unknown) => void = noop;

  constructor(server: Server, req: BackendRequest, res: BackendResponse, maxHead: number) {
    this.server = server;
    this.req = req;
    this.res = res;
    this.parser = new Http1ResponseParser(this, req.method === 'HEAD', maxHead);
    [this.local, this.remote] = duplexPair();
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      let request: { head: Buffer; framing: BodyFraming };
      try {
        request = requestHead(this.req);
      } catch (error) {
        this.settle(error);
        return;
      }
      const { head, framing } = request;
      if (this.req.signal.aborted) {
        this.settle(undefined);
        return;
      }
      this.req.signal.addEventListener('abort', this.onAbort);
      const local = this.local;
      local.on('data', this.onResponseData);
      local.on('end', this.onResponseEnd);
      local.on('error', noop);
      this.remote.on('error', noop);
      decorateSocket(this.remote, this.req.env);
      this.server.emit('connection', this.remote);
      local.write(head);
      if (framing === 'none') {
        // No body announced: whatever the web server sent is not part of the HTTP request.
        this.req.resume();
        return;
      }
      this.chunked = framing === 'chunked';
      this.req.on('data', this.onRequestData);
      this.req.on('end', this.onRequestEnd);
      this.req.on('error', this.onRequestError);
    });
  }

  // Http1ResponseHandler

  onHead(status: number, reason: string, headers: HeaderPair[]): void {
    const res = this.res;
    const listed = new Set<string>();
    for (const [name, value] of headers) {
      if (name.toLowerCase() === 'connection') {
        for (const token of value.split(',')) listed.add(token.trim().toLowerCase());
      }
    }
    const fields = new Map<string, [string, string[]]>();
    for (const [name, value] of headers) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
      const field = fields.get(lower);
      if (field === undefined) fields.set(lower, [name, [value]]);
      else field[1].push(value);
    }
    res.statusCode = status;
    res.statusMessage = reason;
    for (const [name, values] of fields.values()) {
      const value: HeaderValue = values.length === 1 ? values[0]! : values;
      res.setHeader(name, value);
    }
    // The app decided when its head went out (flushHeaders, a first write): so do we.
    res.flushHeaders();
  }

  onBody(data: Buffer): void {
    if (!this.res.write(data)) {
      this.local.pause();
      this.res.once('drain', this.onResponseDrain);
    }
  }

  onComplete(): void {
    this.res.end();
    // The CGI response is whole, but node:http may not be done with its ServerResponse: the
    // body's last byte arrives with the last res.write(), before the app's res.end() (send /
    // Express's res.sendFile pipe a file whose 'end' comes a tick later). Destroying the socket
    // now would be a client disconnect to the app ('close' before 'finish': sendFile reports
    // ECONNABORTED). So the duplex stays until node:http closes its side, which it does after
    // 'finish' since the request said `Connection: close` (onResponseEnd).
    this.req.off('data', this.onRequestData);
    this.res.off('drain', this.onResponseDrain);
    this.local.resume();
    this.settle(undefined, false);
  }

  // Events

  private readonly onResponseData = (chunk: Buffer): void => {
    try {
      this.parser.push(chunk);
    } catch (error) {
      this.settle(error);
    }
  };

  private readonly onResponseEnd = (): void => {
    try {
      this.parser.end();
    } catch (error) {
      this.settle(error);
      return;
    }
    this.close();
  };

  private readonly onResponseDrain = (): void => {
    if (!this.settled) this.local.resume();
  };

  private readonly onRequestData = (chunk: Buffer): void => {
    const local = this.local;
    let ok: boolean;
    if (this.chunked) {
      local.write(`${chunk.length.toString(16)}\r\n`);
      local.write(chunk);
      ok = local.write('\r\n');
    } else {
      ok = local.write(chunk);
    }
    if (!ok) {
      this.req.pause();
      local.once('drain', this.onRequestDrain);
    }
  };

  private readonly onRequestDrain = (): void => {
    if (!this.settled) this.req.resume();
  };

  private readonly onRequestEnd = (): void => {
    // The duplex is not ended: node:http would take EOF for a client gone and drop the response.
    if (this.chunked && !this.settled) this.local.write('0\r\n\r\n');
  };

  private readonly onRequestError = (): void => {
    // The body failed (client gone, length mismatch): the app sees its connection close.
    this.settle(undefined);
  };

  private readonly onAbort = (): void => {
    this.settle(undefined);
  };

  /**
   * Settles the handler's promise once: a failure rejects (the dispatcher answers 500 or cuts
   * the response). `close` false keeps the duplex for node:http to finish with (onComplete).
   */
  private settle(error: unknown, close = true): void {
    if (close) this.close();
    if (this.settled) return;
    this.settled = true;
    this.req.off('data', this.onRequestData);
    if (error === undefined) this.resolve();
    else this.reject(error);
  }

  /** Destroys the duplex pair: the app's req and res see their connection close. */
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.req.signal.removeEventListener('abort', this.onAbort);
    this.req.off('data', this.onRequestData);
    this.local.destroy();
    this.remote.destroy();
  }
}

function noop(): void {}
