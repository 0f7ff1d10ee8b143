/**
 * `workers: 2` through the CLI (`portico serve`): two gateway processes share the listener
 * (the backend sees one kept connection per worker), a worker that dies is replaced, and
 * SIGTERM to the primary drains both and leaves no process behind.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createFastCgiServer, type FastCgiServer } from '../../src/backend/index.ts';

const REPO = resolve(import.meta.dirname, '../..');
const MAIN = join(REPO, 'src/cli/main.ts');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: () => boolean | Promise<boolean>, what2 = 'condition'): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await what()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`${what2} never held`);
}

/** GET on a connection of its own (no agent): cluster hands each new connection to a worker. */
function get(url: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolvePromise(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('workers: 2', () => {
  let backend: FastCgiServer;
  let connections = 0;
  let dir: string;
  let child: ChildProcess;
  let stderr = '';
  let url = '';

  before(async () => {
    backend = createFastCgiServer(
      (req, res) => {
        res.end(String(req.env.REQUEST_URI));
      },
      { multiplex: false },
    );
    backend.on('connection', () => {
      connections++;
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const address = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'portico-workers-'));
    const file = join(dir, 'portico.yaml');
    await writeFile(
      file,
      `listen: ["127.0.0.1:0"]\nworkers: 2\naccess_log: { path: "off" }\n` +
        `upstreams:\n  app: { protocol: fastcgi, multiplex: "off", servers: [{ address: "${address}" }] }\n` +
        'locations:\n  - { match: /, fastcgi: { pass: app, keep_conn: on } }\n',
    );
    child = spawn(process.execPath, [MAIN, 'serve', '-c', file], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => {
      stderr += c;
    });
    await until(() => (stderr.match(/listening on/g) ?? []).length >= 2, 'two workers listening');
    url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1] ?? '';
  });

  after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    backend.closeAllConnections();
    backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The primary's worker processes. */
  async function workerPids(): Promise<number[]> {
    const text = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '');
    return text.split(/\s+/).filter(Boolean).map(Number);
  }

  it('both workers serve: one kept backend connection per worker', async () => {
    const before = connections;
    for (let i = 0; i < 8; i++) assert.equal(await get(`${url}r${i}`), `/r${i}`);
    assert.equal(connections - before, 2);
    assert.equal((await workerPids()).length, 2);
  });

  it('a worker that dies is replaced', async () => {
    const [victim] = await workerPids();
    assert.ok(victim !== undefined);
    process.kill(victim, 'SIGKILL');
    await until(
      () => new RegExp(`worker ${victim} exited \\(signal SIGKILL\\); starting another`).test(stderr),
      'restart logged',
    );
    await until(async () => {
      const pids = await workerPids();
      return pids.length === 2 && !pids.includes(victim);
    }, 'a new worker');
    await until(() => (stderr.match(/listening on/g) ?? []).length >= 3, 'the new worker listening');
    assert.equal(await get(`${url}after`), '/after');
  });

  it('SIGTERM drains every worker; the primary exits 0 and no process is left', async () => {
    const pids = await workerPids();
    const exit = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exit;
    assert.equal(code, 0);
    await until(() => pids.every((pid) => !alive(pid)), 'workers gone');
  });
});
