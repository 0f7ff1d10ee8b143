/**
 * Every default of the configuration, in the notation a user would write, each with the
 * reason it was chosen. Where nginx has the same directive, its default is ours (see
 * /work/shared/spec/semantics.md C.2, C.3 and nginx's ngx_http_core_module). The schema
 * reads these and parses them like user input, so a default can never be malformed.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEFAULTS = {
  /** nginx listens on *:80 when run as root, else *:8000; a gateway run unprivileged picks a free high port. */
  listen: [8080],
  /** nginx: `server_name ""`; $server_name is then empty. */
  server_name: '',
  /** nginx: `root html`, relative to the prefix; ours is relative to the config file's directory. */
  root: 'html',
  /** nginx: `client_max_body_size 1m`; 0 = unlimited. */
  client_max_body_size: '1m',
  /** nginx: two memory pages (16k on x86-64) before the body goes to a temp file. */
  client_body_buffer_size: '16k',
  /** nginx: `client_body_temp` under the prefix; the OS temp dir is writable without setup. */
  client_body_temp_path: (): string => join(tmpdir(), 'portico-body'),
  /** nginx: `client_header_timeout 60s`. */
  client_header_timeout: '60s',
  /** nginx: `client_body_timeout 60s` (between two reads). */
  client_body_timeout: '60s',
  /** nginx: `send_timeout 60s` (between two writes to the client). */
  send_timeout: '60s',
  /** nginx: `keepalive_timeout 75s`. */
  keepalive_timeout: '75s',
  /** nginx: `keepalive_requests 1000` (since 1.19.10). */
  keepalive_requests: 1000,
  /** nginx: `large_client_header_buffers 4 8k`; the request head may use 4 x 8k = 32k. */
  large_client_header_buffers: '4 8k',
  /** Long enough for slow backends to finish, short of the 90s many process managers wait before SIGKILL. */
  shutdown_timeout: '30s',
  /**
   * nginx worker_processes 1 (its built-in default; the stock nginx.conf says auto). One Node
   * process is Portico's library default too; `auto` runs one per core.
   */
  workers: 1 as number | 'auto',
  /** nginx logs errors to stderr at `error`; `info` also shows start-up and shutdown. */
  error_log: { path: 'stderr', level: 'info' },
  /** nginx: `access_log logs/access.log combined`; stdout suits containers and process managers. */
  access_log: { path: 'stdout', format: 'combined' },
  backend: {
    /** nginx: the `scgi_params`/`fastcgi_params` files must be included by hand; ours are on until `params` replaces them. */
    include_params_scgi: 'scgi_params',
    /** nginx's fastcgi.conf = fastcgi_params + SCRIPT_FILENAME, what PHP-FPM needs. */
    include_params_fastcgi: 'fastcgi.conf',
    /** nginx: a location's own `*_param`s replace the inherited set (all-or-nothing), so no stock set then. */
    include_params_with_params: 'none',
    /** nginx: `*_pass_request_headers on`. */
    pass_request_headers: true,
    /** nginx: `*_pass_request_body on`. */
    pass_request_body: true,
    /** nginx: one memory page (4k on x86-64) for the response head. */
    buffer_size: '4k',
    /** nginx: `*_connect_timeout 60s`. */
    connect_timeout: '60s',
    /** nginx: `*_send_timeout 60s` (between two writes). */
    send_timeout: '60s',
    /** nginx: `*_read_timeout 60s` (between two reads). */
    read_timeout: '60s',
    /** nginx: `*_intercept_errors off`. */
    intercept_errors: false,
    /** nginx: `fastcgi_index ""`. */
    index: '',
    /** nginx: `fastcgi_keep_conn off`: a connection per request unless asked. */
    keep_conn: false,
    /** nginx: `*_next_upstream error timeout`: a member that could not answer at all is skipped, a status is passed on. */
    next_upstream: ['error', 'timeout'],
    /** nginx: `*_next_upstream_tries 0`: as many tries as the group has servers not down. */
    next_upstream_tries: 0,
    /** nginx: `*_next_upstream_timeout 0`: no time limit on passing a request on. */
    next_upstream_timeout: '0s',
  },
  upstream: {
    /** nginx's smooth weighted round robin; httpd's default byrequests is the same algorithm. */
    balance: 'round_robin',
    /** nginx: no forced recovery (502 until a member's fail_timeout passes); httpd's forcerecovery is On. */
    forcerecovery: false,
    /** nginx `weight=1`, httpd `loadfactor=1`. */
    weight: 1,
    /** nginx `max_conns=0`: no limit. */
    max_conns: 0,
    /** nginx `max_fails=1`: one failed attempt takes a server out for fail_timeout. */
    max_fails: 1,
    /** nginx `fail_timeout=10s` (httpd's retry is 60s: write `retry` for httpd's behaviour). */
    fail_timeout: '10s',
    /** nginx `consistent` is off: `hash` remaps most keys when the group changes. */
    hash_consistent: false,
    /** nginx `random` without `two`. */
    random_two: false,
    /** httpd stickysessionsep default. */
    sticky_separator: '.',
    /** Idle kept connections per member (nginx upstream `keepalive`); used only with fastcgi keep_conn on. */
    keepalive: 32,
    /** nginx upstream `keepalive_timeout 60s` (httpd `ttl`): an idle kept connection is closed after it. */
    keepalive_timeout: '60s',
    /** nginx upstream `keepalive_requests 1000`: bounds per-connection state leaks in the backend. */
    keepalive_requests: 1000,
    /**
     * nginx Plus `queue` (OSS has none: 502 at once). Portico queues by default, because a request
     * that finds every server at max_conns should wait for one rather than fail; the queue only
     * comes into play when max_conns is set. 1024 waiting requests, for at most nginx Plus's 60s.
     */
    queue_size: 1024,
    /**
     * Neither nginx nor httpd multiplexes. `auto` only acts for applications that say they can
     * (FCGI_MPXS_CONNS=1 to GET_VALUES); php-fpm and libfcgi say no and keep one request per
     * connection, exactly as before.
     */
    multiplex: 'auto' as 'auto' | 'on' | 'off',
    /** nginx Plus health_check interval=5 (httpd hcinterval is 30). */
    health_interval: '5s',
    /** A probe that takes longer than this fails (nginx Plus uses the location's timeouts). */
    health_timeout: '5s',
    /**
     * nginx re-resolves `server NAME resolve` by the record's TTL or `resolver ... valid=`; the
     * system resolver Portico uses reports no TTL, so a fixed 30s (nginx's own default when a
     * response has none is the TTL; 30s is common resolver `valid=` practice).
     */
    resolve_interval: '30s',
    queue_timeout: '60s',
  },
  proxy_pass: {
    /** httpd: `ProxyFCGIBackendType FPM` (the unset value is treated as FPM). */
    backend_type: 'FPM',
    /**
     * httpd leaves `acquire` unset (a thread waits as long as it takes); Portico bounds every
     * wait: nginx Plus's queue default.
     */
    acquire: '60s',
    /** httpd's ttl is unset (kept until the backend closes); nginx's keepalive_timeout 60s. */
    ttl: '60s',
    /** httpd worker `retry=60`: a worker whose connect failed answers 503 for 60 s. */
    retry: '60s',
    /** httpd: mod_proxy_fcgi disables connection reuse by default (enablereuse=off). */
    enablereuse: false,
    /** httpd: worker `timeout` = ProxyTimeout, else the server `Timeout` of 60s. */
    timeout: '60s',
    /** httpd: worker `connectiontimeout` defaults to `timeout`; written as null here, resolved per entry. */
    connectiontimeout: null,
    /**
     * httpd's default is `flushpackets=off`: small reads wait in its output filters until 8 KiB
     * gather or the response ends, which stalls PHP flush() and server-sent events until the
     * operator sets `on`. Portico keeps its promise that a byte the client can take goes at once.
     */
    flushpackets: 'on',
    /** httpd: `flushwait=10` (ms; 0 means the default). */
    flushwait: '10ms',
    /** httpd: ProxyIOBufferSize / iobuffersize default AP_IOBUFSIZE, 8192 bytes. */
    iobuffersize: 8192,
  },
  location: {
    /** nginx: locations are reachable from outside unless marked `internal`. */
    internal: false,
    /**
     * nginx's default is `disable_symlinks off` (follow any link). Portico follows links that
     * stay under the root: the root may itself be a symlink (current -> releases/42), but a
     * link planted in an upload directory cannot reach /etc.
     */
    symlinks: 'inside-root' as 'always' | 'inside-root' | 'owner-match' | 'never',
  },
  /** nginx `default_type text/plain` (its built-in default; the stock nginx.conf sets octet-stream). */
  default_type: 'text/plain',
  php: {
    /** The usual front controller; also the directory index. */
    index: 'index.php',
    extensions: ['.php'],
    front_controller: '/index.php' as string | false,
  },
} as const;
