/**
 * Opens many keep-alive clients to a gateway and leaves them idle, so the bench can read the
 * gateway's memory per connection. Each client sends one GET, reads the whole response (so the
 * gateway has really set the connection up) and then stays open. Run as its own process (10,000
 * sockets need their own descriptors), pinned beside the load generator:
 *
 *   node bench/load/idle-clients.ts PORT PATH COUNT DEADLINE_MS HOLD_MS
 *
 * Prints "IDLEJSON {opened, failed, ms}" once every client is open or failed (or the deadline
 * passed), holds them HOLD_MS (or until SIGTERM), closes them and exits. Bounded in count and
 * time; at most 200 connects in flight at once so the gateway's listen backlog never overflows.
 */
import { connect, type Socket } from 'node:net';

const [portArg, path = '/', countArg, deadlineArg, holdArg] = process.argv.slice(2);
const port = Number(portArg);
const count = Math.min(Number(countArg), 15_000);
const deadlineMs = Math.min(Number(deadlineArg), 120_000);
const holdMs = Math.min(Number(holdArg), 120_000);
if (!Number.isInteger(port) || !(count > 0) || !(deadlineMs > 0) || !(holdMs > 0)) {
  process.stderr.write('usage: node bench/load/idle-clients.ts PORT PATH COUNT DEADLINE_MS HOLD_MS\n');
  process.exit(2);
}

const IN_FLIGHT = 200;
const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 'latin1');
const sockets: Socket[] = [];
let started = 0;
let opened = 0;
let failed = 0;
let reported = false;
const t0 = performance.now();
const deadline = setTimeout(report, deadlineMs);

function report(): void {
  if (reported) return;
  reported = true;
  clearTimeout(deadline);
  const ms = Math.round(performance.now() - t0);
  process.stdout.write(`IDLEJSON ${JSON.stringify({ opened, failed, ms })}\n`);
  setTimeout(finish, holdMs);
}

function finish(): void {
  for (const socket of sockets) socket.destroy();
  process.exit(0);
}

process.once('SIGTERM', finish);

function settle(): void {
  if (opened + failed === count) report();
  else if (!reported) openMore();
}

function openOne(): void {
  started++;
  const socket = connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  let done = false;
  // The hello body is the last thing in the response: seeing it means the response is whole.
  let seen = '';
  socket.once('connect', () => socket.write(request));
  socket.on('data', (chunk: Buffer) => {
    if (done) return;
    seen = (seen + chunk.toString('latin1')).slice(-64);
    if (seen.includes('Hello, world!')) {
      done = true;
      opened++;
      settle();
    }
  });
  const fail = (): void => {
    if (done) return;
    done = true;
    failed++;
    settle();
  };
  socket.once('error', fail);
  socket.once('close', fail);
}

function openMore(): void {
  while (started < count && started - opened - failed < IN_FLIGHT) openOne();
}

openMore();
