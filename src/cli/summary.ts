/**
 * What `portico check` prints for a valid config: what would run, in the order it would be
 * considered, with every effective value (defaults filled in, stock params spelled out), so
 * a reader can see what a default did without reading the docs.
 */
import type { SetEnvIfSpec } from '../cgi/set-env-if.ts';
import { parseBalancerUrl } from '../pool/address.ts';
import {
  formatListenAddress,
  parseBackendUrl,
  parseListenAddress,
  parsePass,
  parseServerAddress,
} from '../config/address.ts';
import type { ParamSpec } from '../cgi/env.ts';
import { apacheParams, stockParams } from '../cgi/stock-params.ts';
import { locationsInMatchOrder } from '../config/match.ts';
import type {
  FastCgiConfig,
  LocationConfig,
  ParamSetName,
  PorticoConfig,
  ProxyPassConfig,
  ScgiConfig,
  UpstreamConfig,
} from '../config/schema.ts';
import { formatDuration } from '../util/durations.ts';
import { formatSize } from '../util/sizes.ts';

const onOff = (value: boolean): string => (value ? 'on' : 'off');

function stockSet(protocol: 'scgi' | 'fastcgi', name: Exclude<ParamSetName, 'none'>): readonly ParamSpec[] {
  return name === 'apache' ? apacheParams({ protocol }) : stockParams(name);
}

function paramLine(name: string, value: string, ifNotEmpty: boolean): string {
  return `    ${name} = ${JSON.stringify(value)}${ifNotEmpty ? ' (if_not_empty)' : ''}`;
}

function describePass(config: PorticoConfig, pass: string): string {
  const target = parsePass(pass);
  if (!target.ok) return pass;
  if (target.value.kind === 'address') return target.value.address.display;
  const upstream = config.upstreams[target.value.name];
  const servers =
    upstream?.servers
      .map((s) => {
        const a = parseServerAddress(s.address);
        return a.ok ? a.value.display : s.address;
      })
      .join(', ') ?? '?';
  return `upstream ${target.value.name} (${servers})`;
}

function backendLines(
  config: PorticoConfig,
  protocol: 'scgi' | 'fastcgi',
  block: ScgiConfig | FastCgiConfig,
): string[] {
  const lines = [`${protocol} -> ${describePass(config, block.pass)}`];
  if (protocol === 'fastcgi') {
    const f = block as FastCgiConfig;
    const split = f.split_path_info === undefined ? 'none' : f.split_path_info;
    lines.push(
      `  split_path_info ${split}, index ${JSON.stringify(f.index)}, keep_conn ${onOff(f.keep_conn)}`,
    );
    if (f.catch_stderr.length > 0)
      lines.push(`  catch_stderr ${f.catch_stderr.map((s) => JSON.stringify(s)).join(', ')}`);
  }
  lines.push(nextUpstreamLine(config, block));
  lines.push(
    `  timeouts: connect ${formatDuration(block.connect_timeout)}, send ${formatDuration(block.send_timeout)}, read ${formatDuration(block.read_timeout)}; buffer_size ${formatSize(block.buffer_size)}`,
    `  pass_request_headers ${onOff(block.pass_request_headers)}, pass_request_body ${onOff(block.pass_request_body)}, intercept_errors ${onOff(block.intercept_errors)}`,
    `  request_buffering ${onOff(block.request_buffering)}, ignore_client_abort ${onOff(block.ignore_client_abort)}`,
    `  buffering ${onOff(block.buffering)}${block.buffering ? ` (memory ${formatSize(block.buffers.total)}, temp file ${block.max_temp_file_size === 0 ? 'none' : `up to ${formatSize(block.max_temp_file_size)}${block.temp_path === undefined ? '' : ` in ${block.temp_path.path}${block.temp_path.levels.length > 0 ? ` levels ${block.temp_path.levels.join(':')}` : ''}`}`}${block.busy_buffers_size === undefined ? '' : `, busy ${formatSize(block.busy_buffers_size)}`}${block.temp_file_write_size === undefined ? '' : `, written ${formatSize(block.temp_file_write_size)} at a time`}${block.limit_rate > 0 ? `, backend read at ${formatSize(block.limit_rate)}/s` : ''})` : ''}`,
  );
  lines.push(...setEnvIfLines(block.set_env_if, '  '));
  if (block.bind !== undefined) lines.push(`  bind ${block.bind}`);
  if (block.socket_keepalive) lines.push('  socket_keepalive on');
  if (block.hide_header.length > 0) lines.push(`  hide_header ${block.hide_header.join(', ')}`);
  if (block.pass_header.length > 0) lines.push(`  pass_header ${block.pass_header.join(', ')}`);
  const stock = block.include_params === 'none' ? [] : stockSet(protocol, block.include_params);
  if (stock.length === 0 && block.params.length === 0) lines.push('  params: none');
  if (stock.length > 0) {
    lines.push(`  params (stock ${block.include_params}):`);
    for (const p of stock) lines.push(paramLine(p.name, p.value, p.ifNotEmpty === true));
  }
  if (block.params.length > 0) {
    lines.push('  params (own):');
    for (const p of block.params) lines.push(paramLine(p.name, p.value, p.if_not_empty));
  }
  return lines;
}

/** How many tries a request can get: nginx tries every server not down, capped by next_upstream_tries. */
function nextUpstreamLine(config: PorticoConfig, block: ScgiConfig | FastCgiConfig): string {
  const target = parsePass(block.pass);
  const upstream =
    target.ok && target.value.kind === 'upstream' ? config.upstreams[target.value.name] : undefined;
  const servers = upstream === undefined ? 1 : upstream.servers.filter((s) => !s.down).length;
  const limit = block.next_upstream_tries;
  const tries = limit > 0 && limit < servers ? limit : servers;
  const off = block.next_upstream.includes('off');
  const timeout =
    block.next_upstream_timeout === 0 ? 'no limit' : formatDuration(block.next_upstream_timeout);
  const why =
    off || tries < 2
      ? off
        ? 'never passed to another server'
        : 'one server: never passed to another'
      : `at most ${tries} tries, next_upstream_timeout ${timeout}`;
  return `  next_upstream ${block.next_upstream.join(' ')} (${why})`;
}

function upstreamLines(name: string, u: UpstreamConfig): string[] {
  const method =
    u.balance === 'hash' && u.hash !== undefined
      ? `hash ${JSON.stringify(u.hash.key)}${u.hash.consistent === false ? '' : ` consistent ${u.hash.consistent === true ? 'ketama' : u.hash.consistent}`}`
      : u.balance === 'random' && u.random?.two === true
        ? 'random two'
        : u.balance;
  const lines = [`${name} (${u.protocol}): balance ${method}${u.forcerecovery ? ', forcerecovery' : ''}`];
  const sticky = u.sticky;
  if (sticky !== undefined) {
    const from = [
      sticky.url_param === undefined ? '' : `url_param ${sticky.url_param}`,
      sticky.cookie === undefined ? '' : `cookie ${sticky.cookie}`,
    ].filter((x) => x !== '');
    const sep = sticky.separator === false ? 'whole value' : `after ${JSON.stringify(sticky.separator)}`;
    lines.push(
      `  sticky: ${from.join(', then ')}; route ${sep}${sticky.scolonpathdelim ? ', scolonpathdelim' : ''}${sticky.nofailover ? ', nofailover' : ''}`,
    );
  }
  const hc = u.health_check;
  if (hc !== undefined) {
    const what = hc.type === 'request' ? `request ${hc.uri}` : hc.type;
    const expect =
      hc.type !== 'request'
        ? ''
        : `, passes on ${hc.status.length === 0 ? '2xx/3xx' : hc.status.join('/')}${hc.body === undefined ? '' : ` with ${JSON.stringify(hc.body)}`}`;
    lines.push(
      `  health_check: ${what} every ${formatDuration(hc.interval)} (timeout ${formatDuration(hc.timeout)}), out after ${hc.fails} failed, back after ${hc.passes} passed${expect}`,
    );
  }
  if (u.servers.some((s) => s.max_conns > 0)) {
    lines.push(
      u.queue.size === 0
        ? '  queue off: a request that finds every server at max_conns fails at once'
        : `  queue ${u.queue.size}, timeout ${formatDuration(u.queue.timeout)}: requests wait while every server is at max_conns, then 503`,
    );
  }
  for (const s of u.servers) {
    const a = parseServerAddress(s.address);
    const flags = [
      s.backup ? 'backup' : '',
      s.spare ? 'spare' : '',
      s.down ? 'down' : '',
      s.drain ? 'drain' : '',
      s.resolve ? `resolve every ${formatDuration(u.resolve_interval)}` : '',
      s.lbset === 0 ? '' : `lbset ${s.lbset}`,
      s.route === '' ? '' : `route ${JSON.stringify(s.route)}`,
      s.redirect === '' ? '' : `redirect ${JSON.stringify(s.redirect)}`,
    ].filter((x) => x !== '');
    const fails =
      u.servers.length === 1
        ? 'the only server: never failed (nginx ignores max_fails)'
        : s.max_fails === 0
          ? 'max_fails 0 (never failed)'
          : `max_fails ${s.max_fails} in ${formatDuration(s.fail_timeout)}, then out for ${formatDuration(s.retry)}`;
    lines.push(
      `  ${a.ok ? a.value.display : s.address}: weight ${s.weight}, max_conns ${s.max_conns === 0 ? '0 (no limit)' : s.max_conns}, ${fails}${flags.length > 0 ? `, ${flags.join(', ')}` : ''}`,
    );
  }
  return lines;
}

function locationLines(config: PorticoConfig, location: LocationConfig): string[] {
  const lines = [location.match];
  const docRoot =
    location.alias !== undefined
      ? `alias ${location.alias}`
      : location.root !== undefined
        ? `root ${location.root}`
        : `root ${config.root} (server)`;
  lines.push(`  ${docRoot}${location.internal ? ', internal' : ''}, symlinks ${location.symlinks}`);
  if (location.return !== undefined) {
    lines.push(
      `  return ${location.return.code}${location.return.url === undefined ? '' : ` ${location.return.url}`}`,
    );
    return lines;
  }
  const php = location.php;
  if (php !== undefined) {
    const fc = php.front_controller === false ? '404' : php.front_controller;
    lines.push(
      `  php preset: scripts ${php.extensions.join(' ')} that exist run (PATH_INFO split only at such a file; a missing script is 404 without php-fpm)`,
      `    directories: 301 to "/" when they hold ${php.index}, then ${php.index}; other files served as they are; anything else -> ${fc}`,
      `    refused with 403: ${php.allow_dotfiles ? '' : 'dotfiles (not /.well-known/)'}${php.deny.length > 0 ? `${php.allow_dotfiles ? '' : ', '}${php.deny.join(', ')}` : ''}`,
    );
  }
  if (location.try_files !== undefined) lines.push(`  try_files ${location.try_files.join(' ')}`);
  if (location.scgi === undefined && location.fastcgi === undefined) {
    lines.push(
      `  files: index ${(location.index ?? ['index.html']).join(' ')}, default_type ${location.default_type ?? config.default_type}`,
    );
  } else if (location.default_type !== undefined) {
    lines.push(`  files: default_type ${location.default_type}`);
  }
  if (location.types !== undefined) lines.push(`  types (over the server's): ${typesText(location.types)}`);
  const backend =
    location.scgi !== undefined
      ? backendLines(config, 'scgi', location.scgi)
      : location.fastcgi !== undefined
        ? backendLines(config, 'fastcgi', location.fastcgi)
        : [];
  for (const line of backend) lines.push(`  ${line}`);
  return lines;
}

/** ProxyFCGISetEnvIf rules, one line each, in the order they run. */
function setEnvIfLines(rules: readonly SetEnvIfSpec[], indent: string): string[] {
  if (rules.length === 0) return [];
  const lines = [`${indent}set_env_if, after the params, in order:`];
  for (const r of rules) {
    const action = r.set.startsWith('!')
      ? `unset ${r.set.slice(1)}`
      : `${r.set} = ${JSON.stringify(r.value ?? '')}`;
    lines.push(`${indent}  if ${r.if}: ${action}`);
  }
  return lines;
}

function proxyPassLines(config: PorticoConfig, entry: ProxyPassConfig): string[] {
  const url = parseBackendUrl(entry.url);
  const balancer = parseBalancerUrl(entry.url);
  const where = entry.path !== undefined ? `path ${entry.path}` : `match ${entry.match}`;
  const group = balancer === undefined ? undefined : config.upstreams[balancer.name];
  const protocol = url.ok ? url.value.protocol : group?.protocol;
  const target =
    balancer !== undefined
      ? `${protocol} ${describePass(config, balancer.name)}, path ${JSON.stringify(balancer.urlPath)}`
      : url.ok
        ? `${url.value.protocol} ${url.value.display}, path ${JSON.stringify(url.value.urlPath)}`
        : entry.url;
  const fcgi =
    protocol === 'fastcgi'
      ? `backend_type ${entry.backend_type}, enablereuse ${onOff(entry.enablereuse)}, `
      : '';
  return [
    `${where} -> ${target}`,
    `  ${fcgi}pathinfo ${entry.pathinfo === undefined ? 'unset' : JSON.stringify(entry.pathinfo)}, timeout ${formatDuration(entry.timeout)}, connectiontimeout ${formatDuration(entry.connectiontimeout)}`,
    ...(balancer === undefined
      ? [
          `  worker: max ${entry.max === 0 ? '0 (no limit)' : entry.max}, acquire ${formatDuration(entry.acquire)}, smax ${entry.smax ?? (entry.max > 0 ? entry.max : 32)}, ttl ${formatDuration(entry.ttl)}, retry ${formatDuration(entry.retry)}, keepalive ${onOff(entry.keepalive)}`,
        ]
      : []),
    `  flushpackets ${entry.flushpackets}${entry.flushpackets === 'auto' ? ` (flushwait ${formatDuration(entry.flushwait)})` : ''}, iobuffersize ${entry.iobuffersize ?? config.proxy_iobuffersize}`,
    ...(entry.bind === undefined ? [] : [`  bind ${entry.bind}`]),
    ...setEnvIfLines(entry.set_env_if, '  '),
  ];
}

/** nginx `types` as `type ext ext; type ext`. */
function typesText(types: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(types)
    .map(([type, extensions]) => `${type} ${extensions.join(' ')}`)
    .join('; ');
}

/** The `portico check` report for a valid config. */
export function formatConfigSummary(config: PorticoConfig, file: string): string {
  const out: string[] = [`configuration ${file} is valid`, '', 'listen:'];
  for (const entry of config.listen) {
    const a = parseListenAddress(entry);
    out.push(`  ${a.ok ? formatListenAddress(a.value) : String(entry)}`);
  }
  out.push(
    `server_name: ${config.server_name.map((n) => JSON.stringify(n)).join(', ')}`,
    `root: ${config.root}`,
    ...(config.types === undefined ? [] : [`types (over the built-in table): ${typesText(config.types)}`]),
    `client: client_max_body_size ${formatSize(config.client_max_body_size)}${config.client_max_body_size === 0 ? ' (unlimited)' : ''}, client_body_buffer_size ${formatSize(config.client_body_buffer_size)}, client_body_temp_path ${config.client_body_temp_path}`,
    `request head: large_client_header_buffers ${config.large_client_header_buffers.number} x ${formatSize(config.large_client_header_buffers.size)} (${formatSize(config.large_client_header_buffers.number * config.large_client_header_buffers.size)} at most)`,
    `workers: ${config.workers === 'auto' ? 'auto (one per core)' : config.workers}`,
    `timeouts: client_header ${formatDuration(config.client_header_timeout)}, client_body ${formatDuration(config.client_body_timeout)}, send ${formatDuration(config.send_timeout)}, keepalive ${formatDuration(config.keepalive_timeout)} (${config.keepalive_requests} requests), shutdown ${formatDuration(config.shutdown_timeout)}`,
    `error_log: ${config.error_log.path} (${config.error_log.level})`,
    `access_log: ${config.access_log.path}${config.access_log.path === 'off' ? '' : ` (${config.access_log.format})`}`,
  );
  const upstreams = Object.entries(config.upstreams);
  if (upstreams.length > 0) {
    out.push('', 'upstreams:');
    for (const [name, u] of upstreams) for (const line of upstreamLines(name, u)) out.push(`  ${line}`);
  }
  if (config.proxy_pass.length > 0) {
    out.push('', 'proxy_pass, tried before the locations (as httpd runs ProxyPass first), first match wins:');
    for (const entry of config.proxy_pass)
      for (const line of proxyPassLines(config, entry)) out.push(`  ${line}`);
  }
  out.push('');
  if (config.locations.length === 0) {
    out.push('locations: none');
  } else {
    out.push(
      'locations, in nginx match order (exact; prefixes, longest first, ^~ skips the regexes; regexes in order):',
    );
    for (const location of locationsInMatchOrder(config.locations)) {
      for (const line of locationLines(config, location)) out.push(`  ${line}`);
    }
  }
  return `${out.join('\n')}\n`;
}
