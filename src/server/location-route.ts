import { compileSplitPathInfo, splitPathInfo } from '../cgi/path.ts';
import { buildEnv, type CompiledParams, compileParams } from '../cgi/env.ts';
import { applySetEnvIf, type SetEnvIfRule } from '../cgi/set-env-if.ts';
import { compileTemplate, type Template, VariableContext } from '../cgi/variables.ts';
import type { FastCgiConfig, LocationConfig, PorticoConfig, ScgiConfig } from '../config/schema.ts';
import type { SocketOptions } from '../pool/connector.ts';
import { compileNextUpstream, type NextUpstreamRules } from '../proxy/next-upstream.ts';
import type { BackendRoute, RouteRequest, SelectionInputs } from '../proxy/route.ts';
import { StaticRoot } from '../static/resolve.ts';
import type { ResponseRules } from '../proxy/diversion.ts';
import type { Param } from '../protocol/params.ts';
import { parseLocationMatch } from '../config/match.ts';
import type { CompiledUpstream, UpstreamSet } from './upstreams.ts';

import {
  errorPagesOf,
  type FactsBase,
  facts,
  hiddenHeaders,
  paramList,
  selectionInputs,
  setEnvIfRules,
  socketOptions,
  stripSlash,
} from './route-support.ts';

/** A prefix location's alias and prefix (nginx maps `$request_filename` through them). */
function aliasOf(location: LocationConfig): FactsBase['alias'] {
  if (location.alias === undefined) return undefined;
  const m = parseLocationMatch(location.match);
  if (!m.ok || m.value.modifier === '~' || m.value.modifier === '~*' || m.value.modifier === '@')
    return undefined;
  return { text: location.alias, prefix: m.value.pattern };
}

/** A location with scgi or fastcgi: nginx semantics (B.1). */
export class LocationRoute implements BackendRoute {
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
  readonly readLimitRate: number;
  /** flushpackets is httpd's: nginx locations send every read at once. */
  readonly coalesce = undefined;
  readonly bodyRecordSize = undefined;
  readonly buffering: BackendRoute['buffering'];
  readonly bufferingOn: boolean;
  readonly xAccelBuffering: boolean;
  readonly catchStderr: readonly string[];
  private readonly params: CompiledParams;
  private readonly setEnvIf: readonly SetEnvIfRule[];
  private readonly base: FactsBase;
  private readonly split: RegExp | undefined;
  private readonly index: string;
  private readonly regexAlias: Template | undefined;

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
      alias: aliasOf(location),
    };
    const m = parseLocationMatch(location.match);
    this.regexAlias =
      location.alias !== undefined && m.ok && (m.value.modifier === '~' || m.value.modifier === '~*')
        ? compileTemplate(location.alias)
        : undefined;
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
      memoryLimit: block.buffers.total,
      maxFileBytes: block.max_temp_file_size,
      tempDir: block.temp_path?.path ?? config.client_body_temp_path,
      levels: block.temp_path?.levels,
      writeSize: block.temp_file_write_size,
      busyBytes: block.busy_buffers_size,
    };
    this.limitRate = location.limit_rate ?? config.limit_rate;
    this.limitRateAfter = location.limit_rate_after ?? config.limit_rate_after;
    this.readLimitRate = block.limit_rate;
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
    // nginx: a regex location's alias, captures substituted, is $document_root and the file.
    const alias = this.regexAlias?.evaluate(new VariableContext(requestFacts));
    const ctx = new VariableContext(requestFacts, {
      scriptName: split.scriptName,
      pathInfo: split.pathInfo,
      documentRoot: alias,
      requestFilename: alias,
    });
    const env = buildEnv(this.params, ctx);
    return this.setEnvIf.length === 0 ? env : applySetEnvIf(this.setEnvIf, env, requestFacts);
  }
}
