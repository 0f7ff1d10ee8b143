/**
 * The routing loop of one request: location matching, the files side (try_files, index, the
 * php preset, return), the backend, and every internal redirect between them (nginx's
 * content and upstream phases):
 *
 *   route -> static file | php dispatch | backend | return | redirect
 *     ^          |               |            |
 *     |    try_files / index     |   X-Accel-Redirect, a local Location (httpd), error_page
 *     +--------------------------+------------+  (at most 10 internal redirects, then 500)
 *
 * After an internal redirect $uri and $args are the new ones, the method is GET (HEAD stays
 * HEAD) and the request body is not passed again. An error Portico answers itself (404, 403,
 * 502, 504...) goes to the location's `error_page` (or the server's), once: nginx's
 * `recursive_error_pages off`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeRequestPath } from '../cgi/path.ts';
import { ClientRequestError, GatewayError } from '../errors.ts';
import { dispatchPhp } from '../static/php-dispatch.ts';
import { confineFilePath, type StaticRoot } from '../static/resolve.ts';
import { serveFile } from '../static/serve.ts';
import { type StaticDecision, tryFiles } from '../static/try-files.ts';
import type { Diversion } from './diversion.ts';
import { sendRedirect, sendReturn } from './error-page.ts';
import type { ErrorPages } from './error-pages.ts';
import type { BackendRoute, RouteDecision, Router } from './route.ts';
import { type StaticPart, sendStaticFile } from './static-route.ts';

/** nginx: NGX_HTTP_MAX_URI_CHANGES + 1 internal redirects, then 500. */
const MAX_INTERNAL_REDIRECTS = 10;

/** Where the backend part of a request goes, after routing and file checks. */
export interface BackendTarget {
  readonly route: BackendRoute;
  /** $uri: the path after internal redirects. */
  readonly path: string;
  readonly args: string;
  readonly method: string;
  readonly captures: readonly string[];
  readonly backendPath: string | undefined;
  readonly script: { readonly scriptName: string; readonly pathInfo: string } | undefined;
  /** After an internal redirect the body is not passed again. */
  readonly dropBody: boolean;
  /** error_page: the status the client gets. */
  readonly forceStatus: number | undefined;
}

/** Runs the backend part; resolves with what replaces the response, if anything. */
export type ToBackend = (target: BackendTarget) => Promise<Diversion | undefined>;

/** A status the file side decided (404 no file, 403 refused, 500 unreadable, try_files =CODE). */
export function statusError(code: number, reason: string, path: string): GatewayError {
  if (code >= 500) return new GatewayError('ERR_STATIC', `"${path}": ${reason}`, 'gateway', code, 'none');
  return new ClientRequestError('ERR_STATIC', `"${path}": ${reason}`, code);
}

/** A `..` or `.` segment, raw or percent-encoded, or a NUL: nginx's unsafe URI (404). */
const UNSAFE_TARGET = /(^|\/)(\.|%2e){1,2}(\/|$)|%00|\0/i;

export class RequestFlow {
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly router: Router;
  private readonly toBackend: ToBackend;
  private readonly requestId: string;
  private path: string;
  private args: string;
  private method: string;
  private dropBody = false;
  private forceStatus: number | undefined;
  private errorPageUsed = false;
  private redirects = 0;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    router: Router,
    toBackend: ToBackend,
    requestId = '',
  ) {
    this.req = req;
    this.requestId = requestId;
    this.res = res;
    this.router = router;
    this.toBackend = toBackend;
    const target = req.url ?? '';
    // Only origin-form targets reach a backend (no absolute-form proxying, no `*`).
    if (target.charCodeAt(0) !== 0x2f) {
      throw new ClientRequestError('ERR_BAD_TARGET', 'request target is not an absolute path', 400);
    }
    const query = target.indexOf('?');
    this.args = query === -1 ? '' : target.slice(query + 1);
    this.path = decodeRequestPath(query === -1 ? target : target.slice(0, query));
    this.method = req.method ?? 'GET';
  }

  async run(): Promise<void> {
    let decision = this.router.route(this.path);
    for (;;) {
      let next: RouteDecision | 'done';
      try {
        next = await this.step(decision);
      } catch (error) {
        next = this.errorPage(decision, error);
      }
      if (next === 'done') return;
      if (++this.redirects > MAX_INTERNAL_REDIRECTS) {
        throw new GatewayError(
          'ERR_REDIRECT_CYCLE',
          `rewrite or internal redirection cycle while internally redirecting to "${this.path}"`,
          'gateway',
          500,
          'none',
        );
      }
      decision = next;
    }
  }

  /** One location's work: 'done' when the response is sent, else where to go next. */
  private async step(decision: RouteDecision): Promise<RouteDecision | 'done'> {
    const { req, res } = this;
    let next: StaticDecision | undefined;
    switch (decision.kind) {
      case 'none':
        throw new ClientRequestError('ERR_NOT_FOUND', `no location for "${this.path}"`, 404);
      case 'redirect':
        sendRedirect(res, 301, decision.location + (this.args === '' ? '' : `?${this.args}`), this.method);
        return 'done';
      case 'return':
        sendReturn(res, decision.answer.code, decision.answer.url, this.method);
        return 'done';
      case 'static': {
        const f = decision.files;
        const root = this.rootOf(f, decision.captures);
        next = await tryFiles(this.path, {
          root,
          tryFiles: f.tryFiles,
          index: f.index,
          args: this.args,
          expand: this.expander(f, decision.captures),
        });
        if (next.kind === 'file') {
          await sendStaticFile(req, res, next.path, root, f, this.forceStatus);
          return 'done';
        }
        break;
      }
      case 'php': {
        const php = decision.php;
        const chosen = await dispatchPhp(this.path, this.args, php);
        if (chosen.kind === 'file') {
          await sendStaticFile(req, res, chosen.path, php.root, php, this.forceStatus);
          return 'done';
        }
        if (chosen.kind === 'redirect') {
          sendRedirect(res, 301, chosen.location, this.method);
          return 'done';
        }
        if (chosen.kind === 'status') throw statusError(chosen.code, chosen.reason, this.path);
        return this.backend(decision.route, decision.captures, undefined, chosen);
      }
      case 'backend': {
        const f = decision.files;
        if (f !== undefined) {
          next = await tryFiles(this.path, {
            root: this.rootOf(f, decision.captures),
            tryFiles: f.tryFiles,
            index: f.index,
            args: this.args,
            handler: 'backend',
            expand: this.expander(f, decision.captures),
          });
          if (next.kind !== 'pass') break;
          this.path = next.uri;
        }
        return this.backend(decision.route, decision.captures, decision.backendPath, undefined);
      }
    }
    switch (next?.kind) {
      case 'redirect-internal':
        // A named location keeps $uri; a URI replaces it (nginx).
        this.args = next.args;
        if (next.named) return this.router.routeNamed(next.uri);
        this.path = next.uri;
        return this.router.route(this.path, true);
      case 'directory-redirect':
        sendRedirect(res, 301, next.location, this.method);
        return 'done';
      case 'status':
        throw statusError(next.code, next.reason, this.path);
      default:
        throw new GatewayError('ERR_STATIC_DECISION', 'unexpected static decision', 'gateway', 500, 'none');
    }
  }

  /** The location's document root for this request (a regex location's alias has captures). */
  private rootOf(f: StaticPart, captures: readonly string[]): StaticRoot {
    if (typeof f.root !== 'function') return f.root;
    const { req, path: uri, args, method, requestId } = this;
    return f.root({ req, uri, args, method, captures, requestId });
  }

  /** The location's variable engine for try_files / index names, bound to this request. */
  private expander(
    f: StaticPart,
    captures: readonly string[],
  ): ((source: string, uri: string) => string) | undefined {
    const expand = f.expand;
    if (expand === undefined) return undefined;
    const { req, args, method, requestId } = this;
    return (source, uri) => expand(source, { req, uri, args, method, captures, requestId });
  }

  private async backend(
    route: BackendRoute,
    captures: readonly string[],
    backendPath: string | undefined,
    script: BackendTarget['script'],
  ): Promise<RouteDecision | 'done'> {
    const diversion = await this.toBackend({
      route,
      path: this.path,
      args: this.args,
      method: this.method,
      captures,
      backendPath,
      script,
      dropBody: this.dropBody,
      forceStatus: this.forceStatus,
    });
    if (diversion === undefined) return 'done';
    switch (diversion.kind) {
      case 'external':
        sendRedirect(this.res, diversion.status === 301 ? 301 : 302, diversion.location, this.method);
        return 'done';
      case 'sendfile':
        await this.sendfile(route, diversion);
        return 'done';
      case 'redirect':
        if (diversion.via.startsWith('error_page')) this.errorPageUsed = true;
        return this.redirectTo(diversion.target, diversion.status);
    }
  }

  /** An internal redirect to `target` (`/uri?args` or `@name`). */
  private redirectTo(target: string, forceStatus: number | undefined): RouteDecision {
    this.method = this.method === 'HEAD' ? 'HEAD' : 'GET';
    this.dropBody = true;
    if (forceStatus !== undefined) this.forceStatus = forceStatus;
    if (target.startsWith('@')) return this.router.routeNamed(target);
    const q = target.indexOf('?');
    const rawPath = q === -1 ? target : target.slice(0, q);
    if (UNSAFE_TARGET.test(rawPath) || !rawPath.startsWith('/')) {
      throw new ClientRequestError('ERR_UNSAFE_REDIRECT', `unsafe internal redirect target "${target}"`, 404);
    }
    this.path = decodeRequestPath(rawPath);
    this.args = q === -1 ? '' : target.slice(q + 1);
    return this.router.route(this.path, true);
  }

  /** X-Sendfile: the file, if it is under one of the route's roots; the backend's status and type. */
  private async sendfile(route: BackendRoute, d: Extract<Diversion, { kind: 'sendfile' }>): Promise<void> {
    const found = confineFilePath(d.path, route.sendfileRoots);
    if (found === undefined) {
      throw new GatewayError(
        'ERR_SENDFILE_REFUSED',
        route.sendfileRoots.length === 0
          ? `X-Sendfile "${d.path}" refused: no sendfile_roots configured`
          : `X-Sendfile "${d.path}" refused: not under a sendfile root`,
        'gateway',
        500,
        'none',
      );
    }
    const lookup = await found.root.lookup(found.uri);
    if (lookup.kind !== 'file') {
      throw statusError(lookup.kind === 'forbidden' ? 403 : 404, `X-Sendfile ${lookup.kind}`, d.path);
    }
    const headers: Record<string, string> = {};
    let contentType: string | undefined;
    for (const [name, value] of d.head.headers) {
      const lower = name.toLowerCase();
      if (lower === 'content-type') contentType = value;
      else if (
        !route.hiddenHeaders.has(lower) &&
        lower !== (route.responseRules.sendfile ?? '').toLowerCase()
      ) {
        headers[name] = value;
      }
    }
    const result = await serveFile(
      this.req,
      this.res,
      { path: lookup.path },
      {
        root: found.root,
        contentType,
        headers,
        status: this.forceStatus ?? d.head.status,
        methods: 'any',
      },
    );
    if (!result.sent) throw statusError(result.status, result.reason, d.path);
  }

  /** An error answered by the location's (or the server's) error_page, once. */
  private errorPage(decision: RouteDecision, error: unknown): RouteDecision | 'done' {
    if (this.errorPageUsed || this.res.headersSent || !(error instanceof GatewayError)) throw error;
    const pages: ErrorPages | undefined =
      ('errorPages' in decision ? decision.errorPages : undefined) ?? this.router.errorPages;
    const d = pages?.divert(error.status);
    if (d === undefined) throw error;
    this.errorPageUsed = true;
    if (d.kind === 'external') {
      sendRedirect(this.res, d.status === 301 ? 301 : 302, d.location, this.method);
      return 'done';
    }
    if (d.kind !== 'redirect') throw error;
    return this.redirectTo(d.target, d.status);
  }
}
