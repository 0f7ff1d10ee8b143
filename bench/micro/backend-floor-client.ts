/**
 * The least any Node process does per proxied request on the backend side, with no HTTP front,
 * routing or environment: for SCGI a connection per request (connect, one write, read to the
 * backend's close, close), for FastCGI a request and its answer over kept connections. Run by
 * backend-floor.ts in a process of its own, pinned as the gateways are; prints one JSON line
 * with requests/s and CPU microseconds (user, system) per request.
 *
 * `http-scgi` / `http-fcgi` add the least HTTP front: a node:http server on LISTEN_PORT whose
 * every request costs one such backend exchange, answered with the backend's body as is (no
 * parsing, routing, environment or checks): the cheapest gateway node:http allows.
 *
 *   node bench/micro/backend-floor-client.ts scgi|fcgi HOST:PORT [connections] [seconds]
 *   node bench/micro/backend-floor-client.ts http-scgi|http-fcgi HOST:PORT LISTEN_PORT
 */
import { createServer, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';

const [mode = '', address = '', connectionsArg = '50', secondsArg = '3'] = process.argv.slice(2);
const colon = address.lastIndexOf(':');
const host = address.slice(0, colon);
const port = Number(address.slice(colon + 1));
const connections = Number(connectionsArg);
const seconds = Number(secondsArg);

function scgiRequest(): Buffer {
  const head = ['CONTENT_LENGTH', '0', 'SCGI', '1', 'REQUEST_METHOD', 'GET', 'REQUEST_URI', '/scgi/']
    .map((s) => `${s}\0`)
    .join('');
  return Buffer.from(`${Buffer.byteLength(head)}:${head},`, 'latin1');
}

function fcgiRecord(type: number, content: Buffer): Buffer {
  const header = Buffer.from([1, type, 0, 1, content.length >> 8, content.length & 0xff, 0, 0]);
  return Buffer.concat([header, content]);
}

function fcgiRequest(): Buffer {
  const params = [
    ['REQUEST_METHOD', 'GET'],
    ['SCRIPT_FILENAME', '/fcgi/'],
    ['REQUEST_URI', '/fcgi/'],
    ['CONTENT_LENGTH', '0'],
  ].map(([name = '', value = '']) =>
    Buffer.concat([Buffer.from([name.length, value.length]), Buffer.from(name + value, 'latin1')]),
  );
  return Buffer.concat([
    fcgiRecord(1, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0])), // BEGIN_REQUEST, responder, KEEP_CONN
    fcgiRecord(4, Buffer.concat(params)),
    fcgiRecord(4, Buffer.alloc(0)),
    fcgiRecord(5, Buffer.alloc(0)),
  ]);
}

let completed = 0;
let stopping = false;

function fail(error: Error): never {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

const SCGI_REQUEST = scgiRequest();
function scgiLoop(): void {
  if (stopping) return;
  const socket = connect({ host, port, noDelay: true });
  socket.on('connect', () => socket.write(SCGI_REQUEST));
  socket.on('data', () => {});
  socket.on('end', () => {
    completed++;
    socket.destroy();
    scgiLoop();
  });
  socket.on('error', fail);
}

const FCGI_REQUEST = fcgiRequest();
function fcgiConnection(): void {
  const socket: Socket = connect({ host, port, noDelay: true });
  let pending: Buffer = Buffer.alloc(0);
  socket.on('connect', () => socket.write(FCGI_REQUEST));
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    while (pending.length - offset >= 8) {
      const length = pending.readUInt16BE(offset + 4) + (pending[offset + 6] ?? 0);
      if (pending.length - offset < 8 + length) break;
      const type = pending[offset + 1];
      offset += 8 + length;
      if (type === 3) {
        completed++;
        if (!stopping) socket.write(FCGI_REQUEST);
      }
    }
    pending = pending.subarray(offset);
  });
  socket.on('error', fail);
}

if (mode.startsWith('http-')) {
  serveHttp(mode === 'http-scgi' ? 'scgi' : 'fcgi', Number(connectionsArg));
} else {
  await measureLoops();
}

/** A FastCGI connection lent to one HTTP request at a time; answers end at END_REQUEST. */
class KeptFcgi {
  private readonly socket: Socket;
  private pending: Buffer = Buffer.alloc(0);
  private body: Buffer[] = [];
  private readonly idle: KeptFcgi[];
  response: ServerResponse | undefined;
  constructor(idle: KeptFcgi[]) {
    this.idle = idle;
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', fail);
  }
  send(response: ServerResponse): void {
    this.response = response;
    this.socket.write(FCGI_REQUEST);
  }
  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    while (this.pending.length - offset >= 8) {
      const length = this.pending.readUInt16BE(offset + 4);
      const padding = this.pending[offset + 6] ?? 0;
      if (this.pending.length - offset < 8 + length + padding) break;
      const type = this.pending[offset + 1];
      if (type === 6) this.body.push(this.pending.subarray(offset + 8, offset + 8 + length));
      offset += 8 + length + padding;
      if (type === 3) {
        const response = this.response;
        this.response = undefined;
        const body = Buffer.concat(this.body);
        this.body = [];
        this.idle.push(this);
        response?.end(body);
      }
    }
    this.pending = this.pending.subarray(offset);
  }
}

function serveHttp(protocol: 'scgi' | 'fcgi', listenPort: number): void {
  const idle: KeptFcgi[] = [];
  const server = createServer({ keepAliveTimeout: 75_000 }, (_request, response) => {
    response.setHeader('Content-Type', 'text/plain');
    if (protocol === 'fcgi') {
      (idle.pop() ?? new KeptFcgi(idle)).send(response);
      return;
    }
    const socket = connect({ host, port, noDelay: true });
    const chunks: Buffer[] = [];
    socket.on('connect', () => socket.write(SCGI_REQUEST));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      socket.destroy();
      response.end(Buffer.concat(chunks));
    });
    socket.on('error', fail);
  });
  server.listen(listenPort, '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}

async function measureLoops(): Promise<void> {
  for (let i = 0; i < connections; i++) {
    if (mode === 'scgi') scgiLoop();
    else fcgiConnection();
  }
  await new Promise((resolve) => setTimeout(resolve, 1000)); // warm-up
  const cpu0 = process.cpuUsage();
  const done0 = completed;
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const requests = completed - done0;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  stopping = true;
  process.stdout.write(
    `${JSON.stringify({ rps: requests / elapsed, userUs: cpu.user / requests, systemUs: cpu.system / requests })}\n`,
  );
  process.exit(0);
}
