/**
 * The CLI as users run it: `node src/cli/main.ts ...` in a child process (the Node running
 * the tests, which is the pinned Node 24), checking exit status, stdout and stderr.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configJsonSchema } from '../../src/config/json-schema.ts';
import { GOLDEN, normalise, REPO } from './golden-support.ts';

const MAIN = join(REPO, 'src/cli/main.ts');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--version and -v print the package version', () => {
  for (const flag of ['--version', '-v']) {
    const r = run(flag);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `portico ${VERSION}\n`);
    assert.equal(r.stderr, '');
  }
});

test('the bin shim runs the same CLI', () => {
  const r = spawnSync(process.execPath, [join(REPO, 'bin/portico.js'), '--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `portico ${VERSION}\n`);
});

test('--help, help <command> and <command> --help print usage to stdout', () => {
  const main = run('--help');
  assert.equal(main.status, 0);
  assert.match(main.stdout, /^Usage: portico <command>/);
  for (const command of ['serve', 'check', 'schema']) {
    for (const args of [
      [command, '--help'],
      [command, '-h'],
      ['help', command],
    ]) {
      const r = run(...args);
      assert.equal(r.status, 0, args.join(' '));
      assert.match(r.stdout, new RegExp(`^Usage: portico ${command}`), args.join(' '));
    }
  }
});

test('bad usage exits 2 with the reason and the usage on stderr', () => {
  const cases: [string[], RegExp, RegExp][] = [
    [[], /a command is required/, /Usage: portico <command>/],
    [['frobnicate'], /unknown command "frobnicate"/, /Usage: portico <command>/],
    [['--bogus'], /unknown option "--bogus"/, /Usage: portico <command>/],
    [['check', '--bogus'], /Unknown option '--bogus'/, /Usage: portico check/],
    [['check'], /check needs -c FILE/, /Usage: portico check/],
    [['check', '-c', 'a.yaml', 'extra'], /Unexpected argument 'extra'/, /Usage: portico check/],
    [['check', '-c'], /argument missing/, /Usage: portico check/],
    [['schema', '--pretty'], /Unknown option '--pretty'/, /Usage: portico schema/],
    [['serve'], /serve needs -c FILE or --demo/, /Usage: portico serve/],
    [['serve', '--demo', '-c', 'a.yaml'], /either -c FILE or --demo/, /Usage: portico serve/],
    [['serve', '-c', 'a.yaml', '--port', '8080'], /--port goes with --demo/, /Usage: portico serve/],
    [['serve', '--demo', '--port', 'http'], /invalid --port "http"/, /Usage: portico serve/],
    [['help', 'nothing'], /no help for "nothing"/, /Usage: portico <command>/],
  ];
  for (const [args, reason, usage] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.equal(r.stdout, '', args.join(' '));
    assert.match(r.stderr, reason, args.join(' '));
    assert.match(r.stderr, usage, args.join(' '));
  }
});

test('check of a valid config exits 0 and prints the golden summary', () => {
  const r = run('check', '-c', 'test/config/golden/php-fpm.yaml');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(normalise(r.stdout), readFileSync(join(GOLDEN, 'php-fpm.expected'), 'utf8'));
  assert.equal(r.stderr, '');
});

test('check of an invalid config exits 1 and prints every issue as file:line:col: path: message', () => {
  const r = run('check', '-c', 'test/config/golden/error-many.yaml');
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  const expected = readFileSync(join(GOLDEN, 'error-many.expected'), 'utf8');
  const count = expected.trimEnd().split('\n').length;
  assert.equal(r.stderr, `${expected}portico: test/config/golden/error-many.yaml: ${count} errors\n`);
});

test('check of a missing file exits 1', () => {
  const r = run('check', '-c', 'test/config/golden/does-not-exist.yaml');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /does-not-exist\.yaml: \(file\): cannot read: ENOENT/);
});

test('serve refuses an invalid config before starting anything', () => {
  const r = run('serve', '-c', 'test/config/golden/error-root-alias.yaml');
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /error-root-alias\.yaml:4:5: locations\[0\]\.alias: alias and root cannot both be set/,
  );
});

test('schema prints the JSON Schema', () => {
  const r = run('schema');
  assert.equal(r.status, 0);
  assert.deepEqual(JSON.parse(r.stdout), configJsonSchema());
});

/** Start `portico serve -c FILE` and resolve with the child once the gateway says where it listens. */
async function startServe(
  configFile: string,
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [MAIN, 'serve', '-c', configFile], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m !== null) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code} before listening:\n${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

async function withConfig(yaml: string, fn: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
  try {
    const file = join(dir, 'portico.yaml');
    await writeFile(file, yaml);
    await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('serve runs the gateway and exits 0 after SIGTERM', async () => {
  await withConfig(
    'listen: ["127.0.0.1:0"]\naccess_log: { path: "off" }\nlocations:\n  - { match: /, scgi: { pass: "127.0.0.1:1" } }\n',
    async (file) => {
      const { child, url } = await startServe(file);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const exit = exitOf(child);
      child.kill('SIGTERM');
      assert.equal(await exit, 0);
    },
  );
});

test('serve: a second signal exits at once, without waiting for the drain', async () => {
  // A backend that accepts and never answers keeps a request in flight.
  const sockets = new Set<Socket>();
  const backend = createServer((socket) => {
    sockets.add(socket);
    socket.resume();
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const port = (backend.address() as AddressInfo).port;
  try {
    await withConfig(
      `listen: ["127.0.0.1:0"]\nshutdown_timeout: 10m\naccess_log: { path: "off" }\nlocations:\n  - { match: /, scgi: { pass: "127.0.0.1:${port}", read_timeout: 10m } }\n`,
      async (file) => {
        const { child, url, stderr } = await startServe(file);
        const exit = exitOf(child);
        const accepted = new Promise<void>((resolve) => backend.once('connection', () => resolve()));
        const request = httpGet(url);
        request.on('error', () => {});
        await accepted;
        child.kill('SIGTERM');
        await new Promise<void>((resolve) => {
          const check = (): void => {
            if (stderr().includes('shutting down')) resolve();
            else setTimeout(check, 10);
          };
          check();
        });
        child.kill('SIGINT');
        assert.equal(await exit, 130);
        request.destroy();
      },
    );
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  }
});

test('serve: SIGTERM stops accepting, lets an in-flight request finish, then exits 0', async () => {
  // A backend that holds its answer until the test has sent SIGTERM.
  let answer: (() => void) | undefined;
  const backend = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      answer = () => socket.end('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nfinished during drain');
    });
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const port = (backend.address() as AddressInfo).port;
  try {
    await withConfig(
      `listen: ["127.0.0.1:0"]\nshutdown_timeout: 10m\naccess_log: { path: "off" }\nlocations:\n  - { match: /, scgi: { pass: "127.0.0.1:${port}" } }\n`,
      async (file) => {
        const { child, url, stderr } = await startServe(file);
        const exit = exitOf(child);
        const accepted = new Promise<void>((resolve) => backend.once('connection', () => resolve()));
        const response = new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
          httpGet(url, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode, body }));
          }).on('error', reject);
        });
        await accepted;
        child.kill('SIGTERM');
        await new Promise<void>((resolve) => {
          const check = (): void => {
            if (stderr().includes('shutting down') && answer !== undefined) resolve();
            else setTimeout(check, 10);
          };
          check();
        });
        // No new connections while draining.
        const { port: gatewayPort } = new URL(url);
        const refused = await new Promise<string>((resolve) => {
          const probe = createConnection(Number(gatewayPort), '127.0.0.1');
          probe.on('connect', () => {
            probe.destroy();
            resolve('connected');
          });
          probe.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
        });
        assert.equal(refused, 'ECONNREFUSED');
        answer?.();
        assert.deepEqual(await response, { status: 200, body: 'finished during drain' });
        assert.equal(await exit, 0);
      },
    );
  } finally {
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  }
});
