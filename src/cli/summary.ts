/**
 * What `portico check` prints for a valid config: what would run, in the order it would be
 * considered, with every effective value (defaults filled in, stock params spelled out), so
 * a reader can see what a default did without reading the docs.
 */
import { formatListenAddress, parseBackendUrl, parseListenAddress, parsePass } from '../config/address.ts';
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
  const servers = upstream?.servers.map((s) => s.address).join(', ') ?? '?';
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
  lines.push(
    `  timeouts: connect ${formatDuration(block.connect_timeout)}, send ${formatDuration(block.send_timeout)}, read ${formatDuration(block.read_timeout)}; buffer_size ${formatSize(block.buffer_size)}`,
    `  pass_request_headers ${onOff(block.pass_request_headers)}, pass_request_body ${onOff(block.pass_request_body)}, intercept_errors ${onOff(block.intercept_errors)}`,
  );
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

function locationLines(config: PorticoConfig, location: LocationConfig): string[] {
  const lines = [location.match];
  const docRoot =
    location.alias !== undefined
      ? `alias ${location.alias}`
      : location.root !== undefined
        ? `root ${location.root}`
        : `root ${config.root} (server)`;
  lines.push(`  ${docRoot}${location.internal ? ', internal' : ''}`);
  const backend =
    location.scgi !== undefined
      ? backendLines(config, 'scgi', location.scgi)
      : location.fastcgi !== undefined
        ? backendLines(config, 'fastcgi', location.fastcgi)
        : ['no backend'];
  for (const line of backend) lines.push(`  ${line}`);
  return lines;
}

function proxyPassLines(entry: ProxyPassConfig): string[] {
  const url = parseBackendUrl(entry.url);
  const where = entry.path !== undefined ? `path ${entry.path}` : `match ${entry.match}`;
  const target = url.ok
    ? `${url.value.protocol} ${url.value.display}, path ${JSON.stringify(url.value.urlPath)}`
    : entry.url;
  const fcgi = url.ok && url.value.protocol === 'fastcgi' ? `backend_type ${entry.backend_type}, ` : '';
  return [
    `${where} -> ${target}`,
    `  ${fcgi}pathinfo ${entry.pathinfo === undefined ? 'unset' : JSON.stringify(entry.pathinfo)}, timeout ${formatDuration(entry.timeout)}, connectiontimeout ${formatDuration(entry.connectiontimeout)}`,
  ];
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
    `client: client_max_body_size ${formatSize(config.client_max_body_size)}${config.client_max_body_size === 0 ? ' (unlimited)' : ''}, client_body_buffer_size ${formatSize(config.client_body_buffer_size)}, client_body_temp_path ${config.client_body_temp_path}`,
    `request head: large_client_header_buffers ${config.large_client_header_buffers.number} x ${formatSize(config.large_client_header_buffers.size)} (${formatSize(config.large_client_header_buffers.number * config.large_client_header_buffers.size)} at most)`,
    `timeouts: client_header ${formatDuration(config.client_header_timeout)}, client_body ${formatDuration(config.client_body_timeout)}, send ${formatDuration(config.send_timeout)}, keepalive ${formatDuration(config.keepalive_timeout)} (${config.keepalive_requests} requests), shutdown ${formatDuration(config.shutdown_timeout)}`,
    `error_log: ${config.error_log.path} (${config.error_log.level})`,
    `access_log: ${config.access_log.path}${config.access_log.path === 'off' ? '' : ` (${config.access_log.format})`}`,
  );
  const upstreams = Object.entries(config.upstreams);
  if (upstreams.length > 0) {
    out.push('', 'upstreams:');
    for (const [name, u] of upstreams) {
      out.push(`  ${name} (${u.protocol}): ${u.servers.map((s) => s.address).join(', ')}`);
    }
  }
  if (config.proxy_pass.length > 0) {
    out.push('', 'proxy_pass, tried before the locations (as httpd runs ProxyPass first), first match wins:');
    for (const entry of config.proxy_pass) for (const line of proxyPassLines(entry)) out.push(`  ${line}`);
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
