/**
 * Listening helpers shared by both servers.
 *
 * FastCGI process managers (the spec's FCGI_LISTENSOCK_FILENO, section 2.2), httpd's
 * fcgistarter (semantics.md C.9), mod_fcgid and spawn-fcgi start the application with a
 * listening socket as file descriptor 0. node's `server.listen({ fd: 0 })` adopts it (TCP or
 * Unix, guessed from the descriptor); `inheritedListenSocket()` says whether there is one.
 */
import { fstatSync, readFileSync, readlinkSync } from 'node:fs';

/** Unix socket flag `__SO_ACCEPTCON` in /proc/net/unix: the socket listens. */
const SO_ACCEPTCON = 0x10000;
/** TCP state 0A (TCP_LISTEN) in /proc/net/tcp{,6}. */
const TCP_LISTEN = '0A';

function procLines(file: string): string[] {
  try {
    return readFileSync(file, 'latin1').split('\n').slice(1);
  } catch {
    return [];
  }
}

/**
 * Linux: whether socket `inode` is listening, from /proc/net. `undefined` when /proc cannot
 * tell (another OS, or no such socket in this network namespace).
 */
function procListening(inode: string): boolean | undefined {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of procLines(file)) {
      const f = line.trim().split(/\s+/);
      if (f[9] === inode) return f[3] === TCP_LISTEN;
    }
  }
  for (const line of procLines('/proc/net/unix')) {
    const f = line.trim().split(/\s+/);
    if (f[6] === inode) return (Number.parseInt(f[3] ?? '0', 16) & SO_ACCEPTCON) !== 0;
  }
  return undefined;
}

/**
 * `{ fd: 0 }` when fd 0 is a listening socket (inherited from a process manager), else
 * undefined. A process spawned with piped stdio also has a socket as fd 0 (node's pipes are
 * socketpairs), but a connected one: on Linux /proc tells them apart (libfcgi's getpeername
 * test, without native code); elsewhere any socket counts.
 */
export function inheritedListenSocket(): { fd: number } | undefined {
  try {
    if (!fstatSync(0).isSocket()) return undefined;
  } catch {
    return undefined;
  }
  let inode: string | undefined;
  try {
    inode = /^socket:\[(\d+)\]$/.exec(readlinkSync('/proc/self/fd/0'))?.[1];
  } catch {
    inode = undefined;
  }
  const listening = inode === undefined ? undefined : procListening(inode);
  return listening === false ? undefined : { fd: 0 };
}
