import type { UpstreamGroup } from '../balancer/group.ts';
import type { ConnectionPool } from '../pool/connection-pool.ts';
import type { MuxPool } from '../transport/mux-pool.ts';
import type { SocketOptions, SocketTarget } from '../pool/connector.ts';
import type { Param } from '../protocol/params.ts';
import type { StaticRoot } from '../static/resolve.ts';
import type { ResponseQueueOptions } from '../buffering/response-queue.ts';
import type { CoalescePolicy } from './coalescer.ts';
import type { ResponseRules } from './diversion.ts';
import type { ErrorPages } from './error-pages.ts';
import type { NextUpstreamRules } from './next-upstream.ts';
import type { PhpPart, ReturnPart, StaticPart } from './static-route.ts';

/** The request as the env builder sees it: everything known once the route is chosen. */
export interface RouteRequest {
  readonly method: string;
  /** The request-target as sent (origin-form), e.g. `/a%20b?x=1`. */
  readonly rawTarget: string;
  /** Decoded, normalised path (latin1 string of raw bytes). */
  readonly path: string;
  /** The query string without `?`, raw. */
  readonly args: string;
  readonly https: boolean;
  readonly serverProtocol: string;
  readonly rawHeaders: readonly string[];
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** CONTENT_LENGTH as sent: the exact body length, or '' when there is no body. */
  readonly contentLength: string;
  readonly requestId: string;
  /** Regex captures of the matched location or proxy_pass rule ($1..$9). */
  readonly captures: readonly string[];
  /** The script a `php` preset chose (SCRIPT_NAME) and its PATH_INFO; undefined otherwise. */
  readonly script?: { readonly scriptName: string; readonly pathInfo: string } | undefined;
}

/**
 * Where a route's requests go: a group (named, or the group of one a plain address makes, as
 * nginx makes an implicit upstream for `scgi_pass host:port`) and how to reach its members.
 * Built once per config, shared by every route that names the group.
 */
export interface RouteUpstream {
  readonly group: UpstreamGroup;
  /** Connect target of each member, by `member.index`. */
  readonly targets: readonly SocketTarget[];
  /** Connection pool of each member, by `member.index`. */
  readonly pools: readonly ConnectionPool[];
  /** Multiplexed FastCGI connections of each member (undefined: never multiplexed). */
  readonly muxes: readonly (MuxPool | undefined)[];
}

/** What the group's policy reads from a request (balancer SelectionContext without `tried`). */
export interface SelectionInputs {
  /** ip_hash. */
  readonly clientAddress: string;
  /** The evaluated `hash.key`; undefined unless the group hashes. */
  readonly hashKey: string | undefined;
  /** The sticky route the request asks for; undefined unless the group is sticky. */
  readonly route: string | undefined;
}

/**
 * A compiled place requests go: an nginx location with scgi_pass / fastcgi_pass, or an Apache
 * ProxyPass rule. Built once per config; read, never changed, per request.
 */
export interface BackendRoute {
  /** For logs and `portico check`: `location ~ \.php$`, `proxy_pass /scgi-bin/`. */
  readonly name: string;
  readonly protocol: 'scgi' | 'fastcgi';
  readonly upstream: RouteUpstream;
  /** next_upstream, next_upstream_tries, next_upstream_timeout. */
  readonly nextUpstream: NextUpstreamRules;
  /**
   * httpd worker semantics (a plain ProxyPass URL): only a failed connect puts the worker in
   * error, and while it is, requests get 503 (nginx: every failure counts, and 502).
   */
  readonly httpdWorker: boolean;
  /** Errors get httpd's statuses (proxy-pass routes: 503 where nginx says 502; httpd-status.ts). */
  readonly httpdErrors: boolean;
  /** The request's inputs to the group's selection (evaluated once per request). */
  selectionInputs(request: RouteRequest): SelectionInputs;
  /** The CGI environment for one request, in wire order; `backendPath` from a ProxyPassMatch. */
  buildEnv(request: RouteRequest, backendPath?: string): Param[];
  readonly passRequestBody: boolean;
  /** nginx request_buffering: read the whole body before the backend is contacted. */
  readonly requestBuffering: boolean;
  /** nginx ignore_client_abort: the backend exchange runs to its end when the client leaves. */
  readonly ignoreClientAbort: boolean;
  /** fastcgi keep_conn: FCGI_KEEP_CONN and connection reuse (never for SCGI). */
  readonly keepConn: boolean;
  /** buffer_size: the limit of the backend's response head. */
  readonly headLimit: number;
  /** FastCGI STDIN record size (httpd iobuffersize); undefined: 65535 (nginx-style locations). */
  readonly bodyRecordSize: number | undefined;
  readonly connectTimeout: number;
  /** nginx `*_bind` and `*_socket_keepalive` for new backend connections. */
  readonly socketOptions: SocketOptions | undefined;
  readonly sendTimeout: number;
  readonly readTimeout: number;
  /** Backend headers hidden from the client (lower-case; nginx's defaults plus hide_header). */
  readonly hiddenHeaders: ReadonlySet<string>;
  /**
   * fastcgi_catch_stderr: a FastCGI stderr line that contains one of these before the response
   * head makes the response invalid (nginx checks only while reading the header).
   */
  readonly catchStderr: readonly string[];
  /** What replaces a backend response (X-Accel-Redirect, X-Sendfile, internal redirect, error_page). */
  readonly responseRules: ResponseRules;
  /** nginx *_buffering: where a slow client's share of a response waits; undefined: off. */
  readonly buffering: ResponseQueueOptions | undefined;
  /** X-Accel-Buffering may switch buffering per response (not in ignore_headers). */
  readonly xAccelBuffering: boolean;
  readonly bufferingOn: boolean;
  /** nginx *_force_ranges: byte ranges even when the backend does not say Accept-Ranges. */
  readonly forceRanges: boolean;
  /** nginx *_store: where this request's complete 200 response is saved; undefined: not stored. */
  storeFor(request: RouteRequest): { readonly path: string; readonly mode: number } | undefined;
  /** nginx limit_rate (bytes/s, 0: none) and limit_rate_after for the response body. */
  readonly limitRate: number;
  readonly limitRateAfter: number;
  /** nginx `*_limit_rate`: bytes/s read from the backend when buffering is on (0: none). */
  readonly readLimitRate: number;
  /** httpd flushpackets off|auto with iobuffersize / flushwait; undefined: every read at once. */
  readonly coalesce: CoalescePolicy | undefined;
  /** Directories X-Sendfile may serve from (compiled roots); empty: X-Sendfile refused. */
  readonly sendfileRoots: readonly StaticRoot[];
}

/** What routing answers for a request path. */
export type RouteDecision =
  | {
      readonly kind: 'backend';
      readonly route: BackendRoute;
      readonly captures: readonly string[];
      /** The URL path an Apache ProxyPass rule maps the request to. */
      readonly backendPath?: string;
      /** The location's try_files, tried before the backend gets the request. */
      readonly files?: StaticPart | undefined;
      readonly errorPages?: ErrorPages | undefined;
    }
  /** A location that serves files (nginx's static handler). */
  | {
      readonly kind: 'static';
      readonly files: StaticPart;
      readonly captures: readonly string[];
      readonly errorPages?: ErrorPages | undefined;
    }
  /** A `php` preset location: files, or its route to php-fpm. */
  | {
      readonly kind: 'php';
      readonly php: PhpPart;
      readonly route: BackendRoute;
      readonly captures: readonly string[];
      readonly errorPages?: ErrorPages | undefined;
    }
  | { readonly kind: 'return'; readonly answer: ReturnPart }
  /** A prefix location ending in `/` asked for without it: 301 to the slashed URI (nginx). */
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'none' };

export interface Router {
  /** The server-wide error_page (top level), for what no location's covers. */
  readonly errorPages: ErrorPages | undefined;
  /** `internal`: an internal redirect, which may land on `internal` locations. */
  route(path: string, internal?: boolean): RouteDecision;
  /** A named location (`@name`): try_files' last resort. */
  routeNamed(name: string): RouteDecision;
}
