import { hostname } from 'node:os';
import { apacheProxyPaths, compileSplitPathInfo, splitPathInfo } from '../cgi/path.ts';
import type { RequestFacts } from '../cgi/request-facts.ts';
import { buildEnv, type CompiledParams, compileParams, type ParamSpec } from '../cgi/env.ts';
import { applySetEnvIf, compileSetEnvIf, type SetEnvIfRule, type SetEnvIfSpec } from '../cgi/set-env-if.ts';
import { APACHE_COMPILE_OPTIONS, apacheParams, stockParams } from '../cgi/stock-params.ts';
import { compileTemplate, type Template, VariableContext } from '../cgi/variables.ts';
import { parseListenAddress } from '../config/address.ts';
import type {
  FastCgiConfig,
  LocationConfig,
  PorticoConfig,
  ProxyPassConfig,
  ScgiConfig,
} from '../config/schema.ts';
import { type BackendAddress, parseBackendAddress, parseBalancerUrl } from '../pool/address.ts';
import type { SocketOptions } from '../pool/connector.ts';
import {
  compileNextUpstream,
  DEFAULT_NEXT_UPSTREAM,
  type NextUpstreamRules,
} from '../proxy/next-upstream.ts';
import {
  compileLocations,
  type LocationMatcher,
  type LocationSpec,
  slashRedirectLocation,
} from '../proxy/locations.ts';
import { compileProxyPass, type ProxyPassSpec, type ProxyPassTable } from '../proxy/proxy-pass.ts';
import type { BodyLimits } from '../proxy/request-body.ts';
import type { BackendRoute, RouteDecision, RouteRequest, Router, SelectionInputs } from '../proxy/route.ts';
import type { PhpPart, ReturnPart, StaticPart } from '../proxy/static-route.ts';
import { parseLocationMatch } from '../config/match.ts';
import { StaticRoot } from '../static/resolve.ts';
import type { ResponseRules } from '../proxy/diversion.ts';
import { type ErrorPageSpec, ErrorPages } from '../proxy/error-pages.ts';
import { compileTryFiles, DEFAULT_INDEX } from '../static/try-files.ts';
import type { Param } from '../protocol/params.ts';
import type { FrontOptions, ListenTarget } from './listeners.ts';
import { type CompiledUpstream, UpstreamSet, type UpstreamSetOptions } from './upstreams.ts';

/** The config turned into the objects requests use; built once, never changed. */
export interface Runtime {
  readonly listen: readonly ListenTarget[];
  readonly front: FrontOptions;
  readonly limits: BodyLimits;
  /** nginx send_timeout, between two writes to the client. */
  readonly sendTimeout: number;
  readonly router: Router;
  readonly routes: readonly BackendRoute[];
  /** Every upstream group; `upstreams.snapshot()` reads the members' live counters. */
  readonly upstreams: UpstreamSet;
  /** Releases the groups' hold on the shared host table (after the runtime has drained). */
  dispose(): void;
}

/** nginx hides these backend headers from the client unless pass_header names them (C.1.2). */
const DEFAULT_HIDDEN = [
  'status',
  'x-accel-expires',
  'x-accel-redirect',
  'x-accel-limit-rate',
  'x-accel-buffering',
  'x-accel-charset',
];

const MACHINE_HOSTNAME = hostname();

/** Everything a route needs to turn a request into facts. */
interface FactsBase {
  readonly serverName: string;
  readonly documentRoot: string;
}

function facts(request: RouteRequest, base: FactsBase): RequestFacts {
  let host = '';
  let contentType = '';
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && host === '' && name.toLowerCase() === 'host') host = raw[i + 1] as string;
    else if (name.length === 12 && contentType === '' && name.toLowerCase() === 'content-type')
      contentType = raw[i + 1] as string;
  }
  return {
    method: request.method,
    rawTarget: request.rawTarget,
    path: request.path,
    args: request.args,
    scheme: request.https ? 'https' : 'http',
    https: request.https,
    host,
    serverName: base.serverName,
    serverAddr: request.localAddress,
    serverPort: request.localPort === 0 ? '' : String(request.localPort),
    remoteAddr: request.remoteAddress,
    remotePort: request.remotePort === 0 ? '' : String(request.remotePort),
    serverProtocol: request.serverProtocol,
    headers: request.rawHeaders,
    contentLength: request.contentLength,
    contentType,
    documentRoot: base.documentRoot,
    requestId: request.requestId,
    hostname: MACHINE_HOSTNAME,
    captures: request.captures,
  };
}

function stripSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function hiddenHeaders(block: {
  hide_header: readonly string[];
  pass_header: readonly string[];
}): ReadonlySet<string> {
  const hidden = new Set(DEFAULT_HIDDEN);
  for (const name of block.hide_header) hidden.add(name.toLowerCase());
  for (const name of block.pass_header) hidden.delete(name.toLowerCase());
  return hidden;
}

/** Every Cookie header value of the request (node keeps repeated ones apart in rawHeaders). */
function cookieHeaders(raw: readonly string[]): string[] | undefined {
  let out: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 6 && name.toLowerCase() === 'cookie') (out ??= []).push(raw[i + 1] as string);
  }
  return out;
}

/** The request's inputs to its group's selection; the hash key and sticky route only when used. */
function selectionInputs(
  upstream: CompiledUpstream,
  request: RouteRequest,
  base: FactsBase,
): SelectionInputs {
  const hashKey =
    upstream.hashKey === undefined
      ? undefined
      : upstream.hashKey.evaluate(new VariableContext(facts(request, base)));
  const sticky = upstream.group.sticky;
  const route =
    sticky === undefined
      ? undefined
      : sticky.resolve(request.rawTarget, cookieHeaders(request.rawHeaders))?.route;
  return { clientAddress: request.remoteAddress, hashKey, route };
}

/** Rules were checked by the schema; compiling again cannot fail. */
function setEnvIfRules(specs: readonly SetEnvIfSpec[]): readonly SetEnvIfRule[] {
  return specs.map((spec) => {
    const rule = compileSetEnvIf(spec);
    if (Array.isArray(rule)) throw new Error(`set_env_if: ${rule.map((p) => p.message).join('; ')}`);
    return rule;
  });
}

function socketOptions(bind: string | undefined, keepAlive: boolean): SocketOptions | undefined {
  return bind === undefined && !keepAlive ? undefined : { localAddress: bind, keepAlive };
}

function paramList(block: ScgiConfig | FastCgiConfig): ParamSpec[] {
  const list: ParamSpec[] = [];
  if (block.include_params === 'apache') {
    list.push(...apacheParams({ protocol: 'scgi' in block ? 'scgi' : 'fastcgi' }));
  } else if (block.include_params !== 'none') {
    list.push(...stockParams(block.include_params));
  }
  for (const p of block.params) list.push({ name: p.name, value: p.value, ifNotEmpty: p.if_not_empty });
  return list;
}

/** A location with scgi or fastcgi: nginx semantics (B.1). */
class LocationRoute implements BackendRoute {
  readonly name: string;
  readonly protocol: 'scgi' | 'fastcgi';
  readonly passRequestBody: boolean;
  readonly requestBuffering: boolean;
  readonly ignoreClientAbort: boolean;
  readonly keepConn: boolean;
  readonly headLimit: number;
  readonly connectTimeout: number;
  readonly socketOptions: SocketOptions | undefined;
  readonly sendTimeout: number;
  readonly readTimeout: number;
  readonly hiddenHeaders: ReadonlySet<string>;
  readonly upstream: CompiledUpstream;
  readonly nextUpstream: NextUpstreamRules;
  readonly httpdWorker = false;
  readonly forceRanges: boolean;
  private readonly store: Template | undefined;
  private readonly storeMode: number;
  readonly httpdErrors = false;
  readonly responseRules: ResponseRules;
  readonly sendfileRoots: readonly StaticRoot[];
  readonly limitRate: number;
  readonly limitRateAfter: number;
  readonly buffering: BackendRoute['buffering'];
  readonly bufferingOn: boolean;
  readonly xAccelBuffering: boolean;
  readonly catchStderr: readonly string[];
  private readonly params: CompiledParams;
  private readonly setEnvIf: readonly SetEnvIfRule[];
  private readonly base: FactsBase;
  private readonly split: RegExp | undefined;
  private readonly index: string;

  constructor(
    config: PorticoConfig,
    location: LocationConfig,
    protocol: 'scgi' | 'fastcgi',
    upstreams: UpstreamSet,
  ) {
    const block = (protocol === 'scgi' ? location.scgi : location.fastcgi) as ScgiConfig | FastCgiConfig;
    this.name = `location ${location.match}`;
    this.protocol = protocol;
    this.upstream = upstreams.forPass(block.pass, protocol);
    this.nextUpstream = compileNextUpstream(
      block.next_upstream,
      block.next_upstream_tries,
      block.next_upstream_timeout,
    );
    this.passRequestBody = block.pass_request_body;
    this.requestBuffering = block.request_buffering;
    this.ignoreClientAbort = block.ignore_client_abort;
    this.keepConn = protocol === 'fastcgi' && (block as FastCgiConfig).keep_conn;
    this.headLimit = block.buffer_size;
    this.connectTimeout = block.connect_timeout;
    this.socketOptions = socketOptions(block.bind, block.socket_keepalive);
    this.sendTimeout = block.send_timeout;
    this.readTimeout = block.read_timeout;
    this.hiddenHeaders = hiddenHeaders(block);
    this.params = compileParams(paramList(block), { passRequestHeaders: block.pass_request_headers });
    this.setEnvIf = setEnvIfRules(block.set_env_if);
    this.base = {
      serverName: config.server_name[0] ?? '',
      documentRoot: stripSlash(location.alias ?? location.root ?? config.root),
    };
    const fastcgi = protocol === 'fastcgi' ? (block as FastCgiConfig) : undefined;
    this.split =
      fastcgi?.split_path_info === undefined ? undefined : compileSplitPathInfo(fastcgi.split_path_info);
    this.index = fastcgi?.index ?? '';
    this.catchStderr = fastcgi?.catch_stderr ?? [];
    this.sendfileRoots = block.sendfile_roots.map((root) => new StaticRoot({ kind: 'root', root }));
    this.responseRules = {
      xAccelRedirect: !block.ignore_headers.includes('X-Accel-Redirect'),
      internalRedirect: block.internal_redirect,
      sendfile: block.sendfile,
      interceptErrors: block.intercept_errors,
      errorPages: errorPagesOf(location.error_page ?? config.error_page),
      ignoredHeaders: new Set(block.ignore_headers.map((h) => h.toLowerCase())),
      xAccelLimitRate: !block.ignore_headers.includes('X-Accel-Limit-Rate'),
      xAccelCharset: !block.ignore_headers.includes('X-Accel-Charset'),
    };
    this.forceRanges = block.force_ranges;
    this.store = block.store === undefined ? undefined : compileTemplate(block.store);
    this.storeMode = block.store_access;
    this.bufferingOn = block.buffering;
    this.xAccelBuffering = !block.ignore_headers.includes('X-Accel-Buffering');
    this.buffering = {
      memoryLimit: block.buffers,
      maxFileBytes: block.max_temp_file_size,
      tempDir: block.temp_path ?? config.client_body_temp_path,
    };
    this.limitRate = location.limit_rate ?? config.limit_rate;
    this.limitRateAfter = location.limit_rate_after ?? config.limit_rate_after;
  }

  selectionInputs(request: RouteRequest): SelectionInputs {
    return selectionInputs(this.upstream, request, this.base);
  }

  storeFor(request: RouteRequest): { readonly path: string; readonly mode: number } | undefined {
    const store = this.store;
    if (store === undefined) return undefined;
    const path = store.evaluate(new VariableContext(facts(request, this.base)));
    // A directory (or nothing) cannot be stored as a file.
    if (path === '' || path.endsWith('/') || !path.startsWith('/')) return undefined;
    return { path, mode: this.storeMode };
  }

  buildEnv(request: RouteRequest): Param[] {
    // The php preset found the script on disk; otherwise nginx's split_path_info.
    const split = request.script ?? splitPathInfo(request.path, this.split, this.index);
    const requestFacts = facts(request, this.base);
    const ctx = new VariableContext(requestFacts, {
      scriptName: split.scriptName,
      pathInfo: split.pathInfo,
    });
    const env = buildEnv(this.params, ctx);
    return this.setEnvIf.length === 0 ? env : applySetEnvIf(this.setEnvIf, env, requestFacts);
  }
}

/** An Apache ProxyPass / ProxyPassMatch rule: httpd's environment (B.2, C.5, C.6). */
class ProxyPassRoute implements BackendRoute {
  readonly name: string;
  readonly protocol: 'scgi' | 'fastcgi';
  readonly passRequestBody = true;
  /**
   * httpd prefetches 16 KiB and streams the rest of a body of known length (semantics.md:
   * proxy_fcgi_handler); chunked bodies are read whole here.
   */
  readonly requestBuffering = false;
  readonly ignoreClientAbort = false;
  readonly keepConn: boolean;
  readonly headLimit: number;
  readonly connectTimeout: number;
  readonly socketOptions: SocketOptions | undefined;
  readonly sendTimeout: number;
  readonly readTimeout: number;
  readonly hiddenHeaders: ReadonlySet<string> = new Set(DEFAULT_HIDDEN);
  readonly upstream: CompiledUpstream;
  /** A plain worker is a group of one, so one try; a balancer:// group fails over. */
  readonly nextUpstream: NextUpstreamRules = DEFAULT_NEXT_UPSTREAM;
  readonly httpdWorker: boolean;
  readonly httpdErrors = true;
  /** httpd has no range filter for proxied responses of its own. */
  readonly forceRanges = false;
  storeFor(): undefined {
    return undefined;
  }
  readonly responseRules: ResponseRules;
  readonly sendfileRoots: readonly StaticRoot[];
  readonly limitRate: number;
  readonly limitRateAfter: number;
  readonly buffering: BackendRoute['buffering'];
  readonly bufferingOn: boolean;
  readonly xAccelBuffering: boolean;
  /** The group of a `balancer://NAME` URL; undefined for a plain worker URL. */
  private readonly balancer: string | undefined;
  /** httpd has no fastcgi_catch_stderr. */
  readonly catchStderr: readonly string[] = [];
  private readonly target: BackendAddress;
  private readonly rule: ProxyPassConfig;
  private readonly params: CompiledParams;
  private readonly setEnvIf: readonly SetEnvIfRule[];
  private readonly base: FactsBase;

  constructor(config: PorticoConfig, rule: ProxyPassConfig, upstreams: UpstreamSet) {
    this.rule = rule;
    const balancer = parseBalancerUrl(rule.url);
    this.httpdWorker = balancer === undefined;
    if (balancer === undefined) {
      this.target = parseBackendAddress(rule.url);
      this.protocol = this.target.protocol ?? 'fastcgi';
      this.upstream = upstreams.forWorker(this.target, this.protocol, {
        max: rule.max,
        acquire: rule.acquire,
        smax: rule.smax ?? (rule.max > 0 ? rule.max : 32),
        ttl: rule.ttl,
        retry: rule.retry,
        addressTtl: rule.addressttl ?? 0,
      });
    } else {
      // The schema checked that the group exists.
      const group = config.upstreams[balancer.name] as { protocol: 'scgi' | 'fastcgi' };
      this.balancer = balancer.name;
      this.protocol = group.protocol;
      this.target = {
        protocol: group.protocol,
        transport: 'tcp',
        urlPath: balancer.urlPath,
        display: rule.url,
      };
      // Failover among its members on error and timeout (DEFAULT_NEXT_UPSTREAM), up to the
      // group's tries, as mod_proxy_balancer retries another member (maxattempts).
      this.upstream = upstreams.forPass(balancer.name, this.protocol);
    }
    // httpd reuses FastCGI connections only with enablereuse=on (mod_proxy_fcgi's default is off).
    this.keepConn = this.protocol === 'fastcgi' && rule.enablereuse;
    this.name = `proxy_pass ${rule.path ?? rule.match}`;
    // httpd's ProxyIOBufferSize / responsefieldsize default is 8k for a header line.
    this.headLimit = 8192;
    this.connectTimeout = rule.connectiontimeout;
    this.socketOptions = socketOptions(rule.bind, rule.keepalive);
    this.sendTimeout = rule.timeout;
    this.readTimeout = rule.timeout;
    this.params = compileParams(apacheParams({ protocol: this.protocol }), APACHE_COMPILE_OPTIONS);
    this.sendfileRoots = rule.sendfile_roots.map((root) => new StaticRoot({ kind: 'root', root }));
    this.responseRules = {
      xAccelRedirect: false,
      internalRedirect: rule.internal_redirect,
      sendfile: rule.sendfile,
      interceptErrors: rule.error_override,
      errorPages: errorPagesOf(config.error_page),
      ignoredHeaders: new Set<string>(),
      xAccelLimitRate: false,
      xAccelCharset: false,
    };
    // httpd streams a backend's answer with backpressure; it reads ahead into no temp file.
    this.bufferingOn = false;
    this.xAccelBuffering = false;
    this.buffering = undefined;
    this.limitRate = config.limit_rate;
    this.limitRateAfter = config.limit_rate_after;
    this.setEnvIf = setEnvIfRules(rule.set_env_if);
    this.base = { serverName: config.server_name[0] ?? '', documentRoot: stripSlash(config.root) };
  }

  selectionInputs(request: RouteRequest): SelectionInputs {
    return selectionInputs(this.upstream, request, this.base);
  }

  buildEnv(request: RouteRequest, backendPath = ''): Param[] {
    const paths = apacheProxyPaths(request.path, {
      scheme: this.protocol === 'scgi' ? 'scgi' : 'fcgi',
      host: this.target.host ?? 'localhost',
      port: this.target.port ?? 0,
      prefix: this.rule.path ?? request.path,
      backendPath: this.rule.path === undefined ? backendPath : decodeUrlPath(this.target.urlPath),
      backendType: this.rule.backend_type,
      balancer: this.balancer,
      pathinfo: this.rule.pathinfo,
      documentRoot: this.base.documentRoot,
    });
    const requestFacts = facts(request, this.base);
    const ctx = new VariableContext(requestFacts, {
      scriptName: paths.scriptName,
      pathInfo: paths.pathInfo,
      scriptFilename: paths.scriptFilename,
      pathTranslated: paths.pathTranslated,
    });
    const env = buildEnv(this.params, ctx);
    return this.setEnvIf.length === 0 ? env : applySetEnvIf(this.setEnvIf, env, requestFacts);
  }
}

function decodeUrlPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

interface ProxyPassEntry extends ProxyPassSpec {
  readonly route: ProxyPassRoute;
}

interface LocationEntry extends LocationSpec {
  readonly route: LocationRoute | undefined;
  /** The files side: static serving, try_files before the backend, or the php preset. */
  readonly files: StaticPart | undefined;
  readonly php: PhpPart | undefined;
  readonly answer: ReturnPart | undefined;
  readonly errorPages: ErrorPages | undefined;
}

/** What a matched location does with the request. */
function locationDecision(entry: LocationEntry, captures: readonly string[]): RouteDecision {
  if (entry.answer !== undefined) return { kind: 'return', answer: entry.answer };
  const errorPages = entry.errorPages;
  if (entry.php !== undefined && entry.route !== undefined) {
    return { kind: 'php', php: entry.php, route: entry.route, captures, errorPages };
  }
  if (entry.route !== undefined) {
    return { kind: 'backend', route: entry.route, captures, files: entry.files, errorPages };
  }
  if (entry.files !== undefined) return { kind: 'static', files: entry.files, captures, errorPages };
  return { kind: 'none' };
}

class GatewayRouter implements Router {
  private readonly proxyPass: ProxyPassTable<ProxyPassEntry>;
  private readonly locations: LocationMatcher<LocationEntry>;
  readonly errorPages: ErrorPages | undefined;

  constructor(
    proxyPass: ProxyPassTable<ProxyPassEntry>,
    locations: LocationMatcher<LocationEntry>,
    errorPages: ErrorPages | undefined,
  ) {
    this.proxyPass = proxyPass;
    this.locations = locations;
    this.errorPages = errorPages;
  }

  route(path: string, internal = false): RouteDecision {
    // httpd runs ProxyPass at translate-name time, before any location applies.
    const pp = this.proxyPass.match(path);
    if (pp !== undefined) {
      return { kind: 'backend', route: pp.rule.route, captures: pp.captures, backendPath: pp.backendPath };
    }
    const m = this.locations.match(path, { internal });
    if (m === undefined) return { kind: 'none' };
    if (m.redirectSlashless) return { kind: 'redirect', location: slashRedirectLocation(m, '') };
    return locationDecision(m.location, m.captures);
  }

  routeNamed(name: string): RouteDecision {
    const entry = this.locations.named(name);
    return entry === undefined ? { kind: 'none' } : locationDecision(entry, []);
  }
}

function errorPagesOf(specs: readonly ErrorPageSpec[] | undefined): ErrorPages | undefined {
  return specs === undefined || specs.length === 0 ? undefined : new ErrorPages(specs);
}

/** The files side of a location (static serving, try_files, php preset, return). */
function fileParts(
  config: PorticoConfig,
  location: LocationConfig,
  hasBackend: boolean,
): Pick<LocationEntry, 'files' | 'php' | 'answer'> {
  const ret = location.return;
  if (ret !== undefined)
    return { files: undefined, php: undefined, answer: { code: ret.code, url: ret.url } };
  const php = location.php;
  if (php !== undefined) {
    const root = staticRoot(config, location);
    return {
      files: undefined,
      answer: undefined,
      php: {
        root,
        index: php.index,
        extensions: php.extensions,
        frontController: php.front_controller,
        deny: php.deny.map((source) => new RegExp(source)),
        allowDotfiles: php.allow_dotfiles,
        defaultType: config.default_type,
      },
    };
  }
  // A backend location looks at files only when it has try_files (nginx's content phase).
  if (hasBackend && location.try_files === undefined)
    return { files: undefined, php: undefined, answer: undefined };
  const root = staticRoot(config, location);
  return {
    php: undefined,
    answer: undefined,
    files: {
      root,
      tryFiles: location.try_files === undefined ? undefined : compileTryFiles(location.try_files),
      index: location.index ?? DEFAULT_INDEX,
      defaultType: config.default_type,
    },
  };
}

/** nginx root (location's, else the server's) or alias (a prefix location's). */
function staticRoot(config: PorticoConfig, location: LocationConfig): StaticRoot {
  const options = { symlinks: location.symlinks };
  if (location.alias !== undefined) {
    const m = parseLocationMatch(location.match);
    const prefix = m.ok ? m.value.pattern : '/';
    return new StaticRoot({ kind: 'alias', alias: location.alias, prefix }, options);
  }
  return new StaticRoot({ kind: 'root', root: location.root ?? config.root }, options);
}

/**
 * Compiles a validated config; throws ConfigError for what only compiling can find. On reload,
 * pass the running runtime's `upstreams.registry` so member state carries over.
 */
export function compileRuntime(
  config: PorticoConfig,
  _configFile?: string,
  options: UpstreamSetOptions = {},
): Runtime {
  const upstreams = new UpstreamSet(config, options);
  try {
    return compile(config, upstreams);
  } catch (error) {
    upstreams.dispose();
    throw error;
  }
}

function compile(config: PorticoConfig, upstreams: UpstreamSet): Runtime {
  const routes: BackendRoute[] = [];
  const proxyPassRoutes = config.proxy_pass.map((rule) => new ProxyPassRoute(config, rule, upstreams));
  routes.push(...proxyPassRoutes);
  const proxyPass = compileProxyPass<ProxyPassEntry>(
    config.proxy_pass.map((rule, i) => ({
      path: rule.path,
      match: rule.match,
      url: rule.url,
      route: proxyPassRoutes[i] as ProxyPassRoute,
    })),
  );
  const locationSpecs = config.locations.map((location): LocationEntry => {
    const protocol =
      location.scgi !== undefined ? 'scgi' : location.fastcgi !== undefined ? 'fastcgi' : undefined;
    const route =
      protocol === undefined ? undefined : new LocationRoute(config, location, protocol, upstreams);
    if (route !== undefined) routes.push(route);
    const parts = fileParts(config, location, route !== undefined);
    return {
      match: location.match,
      internal: location.internal,
      autoRedirect: route !== undefined && location.php === undefined,
      route,
      ...parts,
      errorPages: errorPagesOf(location.error_page ?? config.error_page),
    };
  });
  const locations = compileLocations(locationSpecs);
  const listen: ListenTarget[] = config.listen.map((entry) => {
    const parsed = parseListenAddress(entry);
    if (!parsed.ok) throw new Error(parsed.message);
    const a = parsed.value;
    return a.kind === 'unix' ? { kind: 'unix', path: a.path } : { kind: 'tcp', host: a.host, port: a.port };
  });
  return {
    listen,
    front: {
      keepAliveTimeout: config.keepalive_timeout,
      headersTimeout: config.client_header_timeout,
      maxHeaderSize: config.large_client_header_buffers.number * config.large_client_header_buffers.size,
      maxRequestsPerSocket: config.keepalive_requests,
    },
    limits: {
      maxBodySize: config.client_max_body_size,
      bodyBufferSize: config.client_body_buffer_size,
      bodyTempPath: config.client_body_temp_path,
      bodyTimeout: config.client_body_timeout,
    },
    sendTimeout: config.send_timeout,
    router: new GatewayRouter(proxyPass, locations, errorPagesOf(config.error_page)),
    routes,
    upstreams,
    dispose: () => upstreams.dispose(),
  };
}
