/**
 * The project's own backend libraries as a bench workload: a FastCGI and an SCGI server from
 * src/backend answering "Hello, world!" (the same bytes as the C backends), in one Node
 * process. Run by bench/backends.ts: `node bench/backends/node-backends.ts FCGI_PORT SCGI_PORT`;
 * prints "ready" once both listen, stops on SIGTERM.
 */
import type { BackendRequest } from '../../src/backend/request.ts';
import type { BackendResponse } from '../../src/backend/response.ts';
import { createFastCgiServer } from '../../src/backend/fastcgi-server.ts';
import { createScgiServer } from '../../src/backend/scgi-server.ts';

const fcgiPort = Number(process.argv[2]);
const scgiPort = Number(process.argv[3]);
if (!Number.isInteger(fcgiPort) || !Number.isInteger(scgiPort)) {
  process.stderr.write('usage: node bench/backends/node-backends.ts FCGI_PORT SCGI_PORT\n');
  process.exit(2);
}

const BODY = Buffer.from('Hello, world!');

function hello(_req: BackendRequest, res: BackendResponse): void {
  res.setHeader('Content-Type', 'text/plain');
  res.setHeader('Content-Length', BODY.length);
  res.end(BODY);
}

const fcgi = createFastCgiServer(hello, { maxConns: 16384, maxReqs: 16384 });
const scgi = createScgiServer(hello, { maxConns: 16384 });
let listening = 0;
const ready = (): void => {
  if (++listening === 2) process.stdout.write('ready\n');
};
fcgi.listen({ host: '127.0.0.1', port: fcgiPort, backlog: 4096 }, ready);
scgi.listen({ host: '127.0.0.1', port: scgiPort, backlog: 4096 }, ready);
// Spawned detached by the bench: if the bench dies without stopping us, we are reparented; exit.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
process.once('SIGTERM', () => {
  fcgi.close();
  scgi.close();
  fcgi.closeAllConnections();
  scgi.closeAllConnections();
  setTimeout(() => process.exit(0), 200).unref();
});
