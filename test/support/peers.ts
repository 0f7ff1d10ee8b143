/**
 * Real protocol peers for integration tests, one module each; this re-exports them so a test
 * imports from one place. Rules they all follow: own config in a fresh temp dir, 127.0.0.1
 * ephemeral ports or unix sockets in that dir, readiness by polling, stopped by pid with a
 * process-group sweep, `requirePeer` to skip (or fail under CI=true) when a binary is missing.
 */
export {
  FCGIWRAP_PATH,
  type Fcgiwrap,
  type FcgiwrapOptions,
  startFcgiwrap,
  writeCgiScript,
} from './fcgiwrap.ts';
export {
  NGINX_CONF_DIR,
  NGINX_PATH,
  type Nginx,
  type NginxConfContext,
  type NginxOptions,
  startNginx,
} from './nginx.ts';
export { inCi, type PeerCheck, processGroupAlive, requirePeer } from './peer-process.ts';
export {
  PHP_FPM_PATH,
  type PhpFpm,
  type PhpFpmOptions,
  type PhpFpmPoolOptions,
  startPhpFpm,
} from './php-fpm.ts';
export {
  startUwsgiPython,
  UWSGI_PATH,
  UWSGI_PYTHON3_PLUGIN,
  type UwsgiPython,
  type UwsgiPythonOptions,
} from './uwsgi.ts';
