/**
 * The server side of bench/micro/http-front.ts: a hello answer over node:http, or over a
 * minimal HTTP/1.1 loop on node:net (find the end of the head, answer a fixed response; GET
 * only, no body, keep-alive). Not a gateway: it measures what the HTTP front alone costs.
 *
 *   node bench/micro/http-front-server.ts http|raw PORT
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';

const [mode, portText] = process.argv.slice(2);
const port = Number(portText);
const BODY = 'Hello, world!';

if (mode === 'http') {
  createHttpServer({ keepAliveTimeout: 75_000 }, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
    res.end(BODY);
  }).listen(port, '127.0.0.1');
} else {
  const response = Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`,
  );
  const END = Buffer.from('\r\n\r\n');
  createNetServer({ noDelay: true }, (socket: Socket) => {
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      let data = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      let at = data.indexOf(END);
      let answers = 0;
      while (at !== -1) {
        answers++;
        data = data.subarray(at + 4);
        at = data.indexOf(END);
      }
      pending = data.length > 0 ? data : undefined;
      if (answers === 1) socket.write(response);
      else if (answers > 1) socket.write(Buffer.concat(Array(answers).fill(response)));
    });
    socket.on('error', () => socket.destroy());
  }).listen(port, '127.0.0.1');
}
