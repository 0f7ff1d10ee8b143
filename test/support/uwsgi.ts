/**
 * A real uwsgi running a Python WSGI app over SCGI or FastCGI. No config file, no emperor, no
 * system vassals: everything on the command line. uwsgi's default SIGTERM action is a "brutal
 * reload" (it comes back), so it must run with --die-on-term to be stoppable by signal.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type ManagedPeer, startManagedPeer } from './managed-peer.ts';
import { bindSpec, peerAddress } from './ports.ts';

export const UWSGI_PATH: string = process.env.PORTICO_UWSGI ?? '/usr/bin/uwsgi';
/** Debian's uwsgi-plugin-python3; `--plugin python3` loads it from the default plugins dir. */
export const UWSGI_PYTHON3_PLUGIN: string =
  process.env.PORTICO_UWSGI_PYTHON3_PLUGIN ?? '/usr/lib/uwsgi/plugins/python3_plugin.so';

export interface UwsgiPythonOptions {
  readonly protocol: 'scgi' | 'fastcgi';
  /** Absolute path of a WSGI file defining `application`. */
  readonly app: string;
  readonly listen?: 'tcp' | 'unix';
  /** Worker processes (default 1). */
  readonly processes?: number;
  /** Appended to the command line (e.g. ['--buffer-size', '8192']). */
  readonly extraArgs?: readonly string[];
}

export interface UwsgiPython extends ManagedPeer {
  /** uwsgi's log: startup banner, request log lines, Python tracebacks. */
  readonly logPath: string;
}

export async function startUwsgiPython(options: UwsgiPythonOptions): Promise<UwsgiPython> {
  const processes = options.processes ?? 1;
  const peer = await startManagedPeer({
    name: 'uwsgi',
    checkName: 'uwsgi-python3',
    requires: [UWSGI_PATH, UWSGI_PYTHON3_PLUGIN],
    launch: async (dir) => {
      const acceptingPath = join(dir, 'accepting');
      const address = await peerAddress(options.listen, dir, 'uwsgi.sock');
      const args = [
        '--plugin',
        'python3',
        options.protocol === 'scgi' ? '--scgi-socket' : '--fastcgi-socket',
        bindSpec(address),
        '--wsgi-file',
        options.app,
        '--pythonpath',
        dirname(options.app),
        '--master',
        '--processes',
        String(processes),
        '--die-on-term',
        // Fail at start, not per request, when the WSGI file does not load.
        '--need-app',
        '--strict',
        // Default 4096 bytes of request vars would reject large test envs before the app sees them.
        '--buffer-size',
        '65535',
        // Readiness: each worker appends a line once it accepts. Listening alone is not enough: a
        // SIGTERM that reaches the master while a worker is still starting is missed by that
        // worker, and the master then waits its reload mercy for it.
        '--hook-accepting',
        `appendn:${acceptingPath} ready`,
        // Bound that wait anyway, below spawnPeer's grace, so the master reaps its workers itself.
        '--worker-reload-mercy',
        '3',
        '--reload-mercy',
        '3',
        '--ignore-sigpipe',
        '--ignore-write-errors',
        '--disable-write-exception',
        ...(options.extraArgs ?? []),
      ];
      return {
        command: UWSGI_PATH,
        args,
        address,
        ready: { what: 'workers accepting', check: () => countLines(acceptingPath) >= processes },
        graceMs: 8000,
      };
    },
  });
  return { ...peer, logPath: peer.outputPath };
}

function countLines(path: string): number {
  try {
    return readFileSync(path, 'latin1').split('\n').length - 1;
  } catch {
    return 0;
  }
}
