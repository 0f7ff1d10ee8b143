import { apacheProxyPaths } from '../cgi/path.ts';
import { buildEnv, type CompiledParams, compileParams } from '../cgi/env.ts';
import { applySetEnvIf, type SetEnvIfRule } from '../cgi/set-env-if.ts';
import { APACHE_COMPILE_OPTIONS, apacheParams } from '../cgi/stock-params.ts';
import { VariableContext } from '../cgi/variables.ts';
import type { PorticoConfig, ProxyPassConfig } from '../config/schema.ts';
import { type BackendAddress, parseBackendAddress, parseBalancerUrl } from '../pool/address.ts';
import type { SocketOptions } from '../pool/connector.ts';
import { DEFAULT_NEXT_UPSTREAM, type NextUpstreamRules } from '../proxy/next-upstream.ts';
import type { BackendRoute, RouteRequest, SelectionInputs } from '../proxy/route.ts';
import { StaticRoot } from '../static/resolve.ts';
import type { ResponseRules } from '../proxy/diversion.ts';
import type { Param } from '../protocol/params.ts';
import { FCGI_MAX_CONTENT_LENGTH } from '../protocol/fastcgi/index.ts';
import type { CompiledUpstream, UpstreamSet } from './upstreams.ts';

import {
  DEFAULT_HIDDEN,
  errorPagesOf,
  type FactsBase,
  facts,
  selectionInputs,
  setEnvIfRules,
  socketOptions,
  stripSlash,
} from './route-support.ts';

/** An Apache ProxyPass / ProxyPassMatch rule: httpd's environment (B.2, C.5, C.6). */
export class ProxyPassRoute implements BackendRoute {
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
  /** httpd reads its backend at the client's pace: there is no backend read rate. */
  readonly readLimitRate = 0;
  readonly coalesce: BackendRoute['coalesce'];
  /** httpd iobuffersize: mod_proxy_fcgi sends one STDIN record per read of that size. */
  readonly bodyRecordSize: number | undefined;
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
    const io = rule.iobuffersize ?? config.proxy_iobuffersize;
    this.bodyRecordSize = this.protocol === 'fastcgi' ? Math.min(io, FCGI_MAX_CONTENT_LENGTH) : undefined;
    this.coalesce =
      rule.flushpackets === 'on' ? undefined : { mode: rule.flushpackets, size: io, wait: rule.flushwait };
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
