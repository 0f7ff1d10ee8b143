import { parseListenAddress } from '../config/address.ts';
import type { LocationConfig, PorticoConfig } from '../config/schema.ts';
import {
  compileLocations,
  type LocationMatcher,
  type LocationSpec,
  slashRedirectLocation,
} from '../proxy/locations.ts';
import { compileProxyPass, type ProxyPassSpec, type ProxyPassTable } from '../proxy/proxy-pass.ts';
import type { BodyLimits } from '../proxy/request-body.ts';
import type { BackendRoute, RouteDecision, Router } from '../proxy/route.ts';
import type { FileTypes, PhpPart, ReturnPart, StaticPart } from '../proxy/static-route.ts';
import { parseLocationMatch } from '../config/match.ts';
import { extendMimeTable } from '../static/mime-types.ts';
import { StaticRoot } from '../static/resolve.ts';
import type { ErrorPages } from '../proxy/error-pages.ts';
import { compileTryFiles, DEFAULT_INDEX, expandUriOnly } from '../static/try-files.ts';
import { compileTemplate, type Template, VariableContext } from '../cgi/variables.ts';
import type { FrontOptions, ListenTarget } from './listeners.ts';
import { UpstreamSet, type UpstreamSetOptions } from './upstreams.ts';

import { LocationRoute } from './location-route.ts';
import { compileRegexAlias } from './regex-alias.ts';
import { ProxyPassRoute } from './proxy-pass-route.ts';
import { errorPagesOf, type FactsBase, facts, flowRequest, stripSlash } from './route-support.ts';
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
        ...fileTypes(config, location),
      },
    };
  }
  // A backend location looks at files only when it has try_files (nginx's content phase).
  if (hasBackend && location.try_files === undefined)
    return { files: undefined, php: undefined, answer: undefined };
  const index = location.index ?? DEFAULT_INDEX;
  return {
    php: undefined,
    answer: undefined,
    files: {
      root: regexAliasRoot(config, location) ?? staticRoot(config, location),
      tryFiles: location.try_files === undefined ? undefined : compileTryFiles(location.try_files),
      index,
      ...fileTypes(config, location),
      expand: nameExpander(config, location, [...(location.try_files ?? []), ...index]),
    },
  };
}

/** `$uri` / `${uri}` alone: src/static expands those without the variable engine. */
const URI_ONLY = /\$(?:\{uri\}|uri(?![A-Za-z0-9_]))/g;

/**
 * nginx variables in try_files / index names (`/index.php?$query_string`, `$1`), compiled once;
 * undefined when no name needs more than `$uri`.
 */
function nameExpander(
  config: PorticoConfig,
  location: LocationConfig,
  names: readonly string[],
): StaticPart['expand'] {
  const templates = new Map<string, Template>();
  for (const name of names) {
    // try_files' directory entries are compiled without their slash.
    for (const source of name.length > 1 && name.endsWith('/') ? [name, name.slice(0, -1)] : [name]) {
      if (source.replace(URI_ONLY, '').includes('$')) templates.set(source, compileTemplate(source));
    }
  }
  if (templates.size === 0) return undefined;
  const base: FactsBase = {
    serverName: config.server_name[0] ?? '',
    documentRoot: stripSlash(location.alias ?? location.root ?? config.root),
  };
  return (source, input) => {
    const template = templates.get(source);
    if (template === undefined) return expandUriOnly(source, input.uri);
    return template.evaluate(new VariableContext(facts(flowRequest(input), base)));
  };
}

/** nginx types / default_type: the location's over the server's over the built-in table. */
function fileTypes(config: PorticoConfig, location: LocationConfig): FileTypes {
  return {
    types: extendMimeTable(location.types, extendMimeTable(config.types)),
    defaultType: location.default_type ?? config.default_type,
  };
}

/** A regex location's alias: a root per request, from the captures. */
function regexAliasRoot(config: PorticoConfig, location: LocationConfig): StaticPart['root'] | undefined {
  const m = parseLocationMatch(location.match);
  if (location.alias === undefined || !m.ok || (m.value.modifier !== '~' && m.value.modifier !== '~*'))
    return undefined;
  return compileRegexAlias(location.alias, location.symlinks, {
    serverName: config.server_name[0] ?? '',
    documentRoot: stripSlash(location.alias),
  });
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
