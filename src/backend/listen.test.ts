import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeFastCgiRequestHead } from '../protocol/fastcgi/encode.ts';
import { createFastCgiServer } from './fastcgi-server.ts';
import { inheritedListenSocket } from './listen.ts';
import { createScgiServer } from './scgi-server.ts';
import { cgiParams, FastCgiTestClient, parseCgiResponse, scgiExchange } from './test-support/clients.ts';

const CHILD = fileURLToPath(new URL('./test-support/fd0-child.ts', import.meta.url));

/** A listening TCP socket's file descriptor (node keeps it on the private handle). */
function listeningFd(server: ReturnType<typeof createServer>): number {
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  assert.ok(Number.isInteger(fd) && fd > 2, 'this platform exposes the listening fd');
  return fd;
}

async function withInheritedSocket(
  kind: 'fastcgi' | 'scgi',
  use: (port: number, pid: number) => Promise<void>,
): Promise<void> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as AddressInfo).port;
  const child = spawn(process.execPath, [CHILD, kind], { stdio: [listeningFd(listener), 'pipe', 'inherit'] });
  // The child holds its own copy as fd 0; the parent's must not accept anything.
  listener.close();
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    assert.equal(line.toString().trim(), 'ready');
    await use(port, child.pid!);
  } finally {
    child.kill();
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  }
}

describe('listening', () => {
  it('takes no connected socket or pipe on fd 0 for a listening socket', {
    skip: process.platform !== 'linux',
  }, () => {
    // node --test runs test files with piped stdio: fd 0 is a connected socketpair (Linux)
    // or a pipe, never a listening socket.
    assert.equal(inheritedListenSocket(), undefined);
  });

  it('FastCGI: serves on a listening socket inherited as fd 0 (fcgistarter, process managers)', async () => {
    await withInheritedSocket('fastcgi', async (port, pid) => {
      const client = await FastCgiTestClient.connect({ port });
      client.write(encodeFastCgiRequestHead(1, cgiParams('GET', '/from-fd0'), false, Buffer.alloc(0)));
      const reply = await client.reply(1);
      assert.equal(parseCgiResponse(reply.stdout).body.toString(), `pid ${pid} /from-fd0`);
    });
  });

  it('SCGI: serves on a listening socket inherited as fd 0', async () => {
    await withInheritedSocket('scgi', async (port, pid) => {
      const { data } = await scgiExchange({ port }, cgiParams('GET', '/scgi-fd0'));
      assert.equal(parseCgiResponse(data).body.toString(), `pid ${pid} /scgi-fd0`);
    });
  });

  it('both servers listen on Unix sockets', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-backend-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const handler = (_req: unknown, res: { end(s: string): void }): void => res.end('over unix');
    const fcgi = createFastCgiServer(handler);
    const scgi = createScgiServer(handler);
    fcgi.listen(join(dir, 'fcgi.sock'));
    scgi.listen(join(dir, 'scgi.sock'));
    await Promise.all([once(fcgi, 'listening'), once(scgi, 'listening')]);
    t.after(() => {
      fcgi.close();
      scgi.close();
    });
    const client = await FastCgiTestClient.connect({ path: join(dir, 'fcgi.sock') });
    client.write(encodeFastCgiRequestHead(1, cgiParams('GET', '/'), false, Buffer.alloc(0)));
    assert.equal(parseCgiResponse((await client.reply(1)).stdout).body.toString(), 'over unix');
    const { data } = await scgiExchange({ path: join(dir, 'scgi.sock') }, cgiParams('GET', '/'));
    assert.equal(parseCgiResponse(data).body.toString(), 'over unix');
  });
});
