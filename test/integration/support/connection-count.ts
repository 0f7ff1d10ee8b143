/**
 * Counts the connections a backend server has open, for tests of max_conns: from its
 * 'connection' event until the backend is done with it, which is its own end sent (an SCGI
 * backend answers, then closes) or the gateway's end seen (a kept FastCGI connection the gateway
 * closed). Counting to the socket's 'close' would add the TCP teardown, which races the
 * gateway's next connect.
 */
import type { Server, Socket } from 'node:net';

export interface ConnectionCount {
  /** Open now. */
  readonly open: number;
  /** Open at once, at most (reset it between phases of a test). */
  maxOpen: number;
  /** Accepted in all. */
  readonly total: number;
}

export function countConnections(server: Server): ConnectionCount {
  const c = { open: 0, maxOpen: 0, total: 0 };
  server.on('connection', (socket: Socket) => {
    c.total++;
    c.open++;
    c.maxOpen = Math.max(c.maxOpen, c.open);
    let counted = true;
    const done = (): void => {
      if (counted) c.open--;
      counted = false;
    };
    socket.once('finish', done);
    socket.once('end', done);
    socket.once('close', done);
  });
  return c;
}
