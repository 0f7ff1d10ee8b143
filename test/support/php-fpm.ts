/**
 * A real php-fpm for integration tests: its own config in a fresh temp dir, `-n` (no php.ini, no
 * scan dir: nothing from /etc/php), `-y conf -p prefix`, `-F` (foreground), stopped by pid.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ManagedPeer, startManagedPeer } from './managed-peer.ts';
import { firstExisting } from './peer-process.ts';
import { bindSpec, peerAddress } from './ports.ts';

/** Debian 12 ships php8.2-fpm; later Debian releases other versions. PORTICO_PHP_FPM overrides. */
export const PHP_FPM_PATH: string =
  process.env.PORTICO_PHP_FPM ??
  firstExisting([
    '/usr/sbin/php-fpm8.2',
    '/usr/sbin/php-fpm8.4',
    '/usr/sbin/php-fpm8.3',
    '/usr/sbin/php-fpm8.1',
    '/usr/sbin/php-fpm',
  ]);

export interface PhpFpmPoolOptions {
  /** `pm = static` with this many workers (default 2). */
  readonly pm_max_children?: number;
  /** Recycle a worker after this many requests (default 0: never). */
  readonly pm_max_requests?: number;
  /** `ping.path`, answered with "pong" (e.g. "/ping"). */
  readonly ping_path?: string;
  /** `pm.status_path` (e.g. "/status"). */
  readonly status_path?: string;
  /** `request_terminate_timeout` in seconds (default 0: off). */
  readonly request_terminate_timeout?: number;
  /**
   * `access.log` in the peer's dir (`PhpFpm.accessLogPath`), one line per request php-fpm ran:
   * `METHOD REQUEST_URI STATUS SCRIPT_FILENAME`. What proves a request never reached PHP.
   */
  readonly access_log?: boolean;
}

export interface PhpFpmOptions {
  readonly listen: 'tcp' | 'unix';
  /** Scripts live here; tests send SCRIPT_FILENAME = docroot + script name. Also the pool's chdir. */
  readonly docroot: string;
  readonly poolOptions?: PhpFpmPoolOptions;
  /** `catch_workers_output = yes`: a worker's stderr lands in logPath (undecorated). */
  readonly catchWorkersOutput?: boolean;
  /** Extra php.ini settings, passed as `-d name=value`. */
  readonly ini?: Readonly<Record<string, string>>;
  /**
   * Extensions to load (`-d extension=NAME`, in order: pdo before pdo_sqlite). php-fpm runs
   * with `-n`, so Debian's conf.d does not load them; an application that needs them says so.
   */
  readonly extensions?: readonly string[];
}

export interface PhpFpm extends ManagedPeer {
  readonly docroot: string;
  /** php-fpm's error_log (master notices, worker output when catchWorkersOutput). */
  readonly logPath: string;
  /** The pool's access.log, when `poolOptions.access_log`. */
  readonly accessLogPath: string;
}

export async function startPhpFpm(options: PhpFpmOptions): Promise<PhpFpm> {
  const peer = await startManagedPeer({
    name: 'php-fpm',
    requires: PHP_FPM_PATH,
    launch: async (dir) => {
      const logPath = join(dir, 'php-fpm.log');
      const confPath = join(dir, 'php-fpm.conf');
      const isRoot = process.getuid?.() === 0;
      const address = await peerAddress(options.listen, dir, 'php-fpm.sock');
      await writeFile(confPath, fpmConf(options, dir, logPath, address, isRoot));
      const args = ['-n', '-F', '-O', '-y', confPath, '-p', dir];
      // php-fpm refuses to run workers as root unless told to (-R and user = root below).
      if (isRoot) args.push('-R');
      for (const [name, value] of Object.entries(options.ini ?? {})) args.push('-d', `${name}=${value}`);
      for (const name of options.extensions ?? []) args.push('-d', `extension=${name}`);
      // SIGTERM and SIGINT are php-fpm's immediate shutdown; SIGQUIT would be graceful.
      return { command: PHP_FPM_PATH, args, address, logPath, stopSignal: 'SIGTERM' };
    },
  });
  return {
    ...peer,
    docroot: options.docroot,
    logPath: join(peer.dir, 'php-fpm.log'),
    accessLogPath: join(peer.dir, 'access.log'),
  };
}

function fpmConf(
  options: PhpFpmOptions,
  dir: string,
  logPath: string,
  address: string,
  isRoot: boolean,
): string {
  const pool = options.poolOptions ?? {};
  const listen = bindSpec(address);
  const lines = [
    '[global]',
    `pid = ${join(dir, 'php-fpm.pid')}`,
    `error_log = ${logPath}`,
    'log_level = notice',
    'daemonize = no',
    '',
    '[portico]',
    `listen = ${listen}`,
    // Tests connect from 127.0.0.1 only; an empty allow-list would allow all, be explicit.
    ...(address.startsWith('unix:') ? ['listen.mode = 0600'] : ['listen.allowed_clients = 127.0.0.1']),
    ...(isRoot ? ['user = root', 'group = root'] : []),
    'pm = static',
    `pm.max_children = ${pool.pm_max_children ?? 2}`,
    `pm.max_requests = ${pool.pm_max_requests ?? 0}`,
    `request_terminate_timeout = ${pool.request_terminate_timeout ?? 0}`,
    `chdir = ${options.docroot}`,
    'clear_env = yes',
    `catch_workers_output = ${options.catchWorkersOutput ? 'yes' : 'no'}`,
    'decorate_workers_output = no',
  ];
  if (pool.ping_path !== undefined) lines.push(`ping.path = ${pool.ping_path}`, 'ping.response = pong');
  if (pool.status_path !== undefined) lines.push(`pm.status_path = ${pool.status_path}`);
  if (pool.access_log === true) {
    // %{REQUEST_URI}e is what the gateway sent; %f the script php-fpm resolved.
    lines.push(`access.log = ${join(dir, 'access.log')}`, 'access.format = "%m %{REQUEST_URI}e %s %f"');
  }
  return `${lines.join('\n')}\n`;
}
