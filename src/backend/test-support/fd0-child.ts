/**
 * Child process for the fd 0 test: started with a listening socket as its stdin, the way
 * fcgistarter and FastCGI process managers start applications (FCGI_LISTENSOCK_FILENO).
 * argv[2] is `fastcgi` or `scgi`. Prints `ready` once it accepts connections.
 */
import { createFastCgiServer } from '../fastcgi-server.ts';
import { inheritedListenSocket } from '../listen.ts';
import type { BackendRequest } from '../request.ts';
import type { BackendResponse } from '../response.ts';
import { createScgiServer } from '../scgi-server.ts';

const target = inheritedListenSocket();
if (target === undefined) {
  process.stderr.write('fd 0 is not a socket\n');
  process.exit(3);
}
const handler = (req: BackendRequest, res: BackendResponse): void => {
  res.end(`pid ${process.pid} ${req.url}`);
};
const server = process.argv[2] === 'scgi' ? createScgiServer(handler) : createFastCgiServer(handler);
server.listen(target, () => process.stdout.write('ready\n'));
