import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeRequestPath } from '../cgi/path.ts';
import { ClientRequestError, GatewayError } from '../errors.ts';
import type { AccessLog } from '../observability/access-log.ts';
import type { Logger } from '../observability/logger.ts';
import { newRequestId } from '../observability/request-id.ts';
import { sendErrorPage, sendRedirect, sendReturn } from './error-page.ts';
import { type BodyLimits, type PreparedBody, prepareBody } from './request-body.ts';
import type { BackendRoute, RouteRequest, Router } from './route.ts';
import { sendStaticFile } from './static-route.ts';
import { dispatchPhp } from '../static/php-dispatch.ts';
import { type StaticDecision, tryFiles } from '../static/try-files.ts';
import { UpstreamRequest } from './upstream-request.ts';

export interface HandlerOptions {
  readonly router: Router;
  readonly limits: BodyLimits;
  /** nginx send_timeout (ms; 0 = none). */
  readonly sendTimeout: number;
  readonly log: Logger;
  readonly accessLog: AccessLog | undefined;
}

/**
 * The request pipeline for one HTTP request: checks, routing, body, environment, backend
 * exchange, response, and one finish step that releases everything exactly once.
 */
export class RequestHandler {
  private readonly options: HandlerOptions;

  constructor(options: HandlerOptions) {
    this.options = options;
    this.handle = this.handle.bind(this);
  }

  handle(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    const requestId = newRequestId();
    const started = performance.now();
    const state: RequestState = { upstream: undefined };
    res.once('close', () => this.finish(req, res, requestId, started, state));
    this.run(req, res, expectContinue, requestId, state).catch((error: unknown) => {
      this.fail(req, res, requestId, error, state);
    });
  }

  private async run(
    req: IncomingMessage,
    res: ServerResponse,
    expectContinue: boolean,
    requestId: string,
    state: RequestState,
  ): Promise<void> {
    const target = req.url ?? '';
    // Only origin-form targets reach a backend (no absolute-form proxying, no `*`).
    if (target.charCodeAt(0) !== 0x2f) {
      throw new ClientRequestError('ERR_BAD_TARGET', 'request target is not an absolute path', 400);
    }
    const query = target.indexOf('?');
    const rawPath = query === -1 ? target : target.slice(0, query);
    let args = query === -1 ? '' : target.slice(query + 1);
    let path = decodeRequestPath(rawPath);
    const method = req.method ?? 'GET';
    // nginx: $uri and $args change with each internal redirect (try_files, index); the
    // request line ($request_uri) never does.
    let decision = this.options.router.route(path);
    for (let redirects = 0; ; redirects++) {
      if (redirects > MAX_INTERNAL_REDIRECTS) {
        throw new GatewayError(
          'ERR_REDIRECT_CYCLE',
          `rewrite or internal redirection cycle while internally redirecting to "${path}"`,
          'gateway',
          500,
          'none',
        );
      }
      let next: StaticDecision | undefined;
      switch (decision.kind) {
        case 'none':
          throw new ClientRequestError('ERR_NOT_FOUND', `no location for "${path}"`, 404);
        case 'redirect':
          sendRedirect(res, 301, decision.location + (args === '' ? '' : `?${args}`), method);
          return;
        case 'return':
          sendReturn(res, decision.answer.code, decision.answer.url, method);
          return;
        case 'static': {
          const f = decision.files;
          next = await tryFiles(path, {
            root: f.root,
            tryFiles: f.tryFiles,
            index: f.index,
            args,
            serveIndex: false,
          });
          if (next.kind === 'file') {
            await sendStaticFile(req, res, next.path, f.root, f.defaultType);
            return;
          }
          break;
        }
        case 'php': {
          const php = decision.php;
          const chosen = await dispatchPhp(path, args, php);
          if (chosen.kind === 'file') {
            await sendStaticFile(req, res, chosen.path, php.root, php.defaultType);
            return;
          }
          if (chosen.kind === 'redirect') {
            sendRedirect(res, 301, chosen.location, method);
            return;
          }
          if (chosen.kind === 'status') throw statusError(chosen.code, chosen.reason, path);
          await this.toBackend(req, res, expectContinue, requestId, state, {
            route: decision.route,
            path,
            args,
            captures: decision.captures,
            backendPath: undefined,
            script: chosen,
          });
          return;
        }
        case 'backend': {
          const f = decision.files;
          if (f !== undefined) {
            next = await tryFiles(path, {
              root: f.root,
              tryFiles: f.tryFiles,
              index: f.index,
              args,
              handler: 'backend',
            });
            if (next.kind === 'pass') path = next.uri;
            else break;
          }
          await this.toBackend(req, res, expectContinue, requestId, state, {
            route: decision.route,
            path,
            args,
            captures: decision.captures,
            backendPath: decision.backendPath,
            script: undefined,
          });
          return;
        }
      }
      // A static decision that is not a file to send here.
      switch (next?.kind) {
        case 'redirect-internal':
          // A named location keeps $uri; a URI replaces it (nginx).
          args = next.args;
          if (next.named) {
            decision = this.options.router.routeNamed(next.uri);
          } else {
            path = next.uri;
            decision = this.options.router.route(path, true);
          }
          continue;
        case 'directory-redirect':
          sendRedirect(res, 301, next.location, method);
          return;
        case 'status':
          throw statusError(next.code, next.reason, path);
        default:
          throw new GatewayError('ERR_STATIC_DECISION', 'unexpected static decision', 'gateway', 500, 'none');
      }
    }
  }

  /** The backend part of the pipeline: body, environment, attempt loop. */
  private async toBackend(
    req: IncomingMessage,
    res: ServerResponse,
    expectContinue: boolean,
    requestId: string,
    state: RequestState,
    to: BackendTarget,
  ): Promise<void> {
    const route = to.route;
    const target = req.url ?? '';
    let prepared: PreparedBody | undefined;
    try {
      prepared = await prepareBody(req, res, this.options.limits, expectContinue, route.passRequestBody);
      if (res.destroyed) return;
      const socket = req.socket;
      const request: RouteRequest = {
        method: req.method ?? 'GET',
        rawTarget: target,
        path: to.path,
        args: to.args,
        https: (socket as { encrypted?: boolean }).encrypted === true,
        serverProtocol: `HTTP/${req.httpVersion}`,
        rawHeaders: req.rawHeaders,
        localAddress: socket.localAddress ?? '',
        localPort: socket.localPort ?? 0,
        remoteAddress: socket.remoteAddress ?? '',
        remotePort: socket.remotePort ?? 0,
        // nginx $content_length: '' only when the request has no body framing at all; an
        // empty chunked body is a body of 0 bytes.
        contentLength:
          prepared.contentLength > 0 ||
          req.headers['content-length'] !== undefined ||
          req.headers['transfer-encoding'] !== undefined
            ? String(prepared.contentLength)
            : '',
        requestId,
        captures: to.captures,
        script: to.script,
      };
      const params = route.buildEnv(request, to.backendPath);
      const upstream = new UpstreamRequest({
        res,
        route,
        request,
        exchange: {
          params,
          contentLength: prepared.contentLength,
          body: prepared.body,
          headLimit: route.headLimit,
          sendTimeout: route.sendTimeout,
          readTimeout: route.readTimeout,
        },
        log: this.options.log,
        sendTimeout: this.options.sendTimeout,
      });
      state.upstream = upstream;
      await upstream.run();
    } finally {
      await prepared?.spill?.dispose();
    }
  }

  private fail(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    error: unknown,
    state: RequestState,
  ): void {
    const gatewayError =
      error instanceof GatewayError
        ? error
        : new GatewayError(
            'ERR_INTERNAL',
            error instanceof Error ? error.message : String(error),
            'gateway',
            500,
            'none',
          );
    const level = gatewayError.source === 'client' ? 'info' : 'error';
    const backend = state.upstream?.lastAddress ?? '';
    this.options.log.log(level, gatewayError.message, {
      requestId,
      client: req.socket?.remoteAddress,
      backend: backend === '' ? undefined : backend,
      request: `${req.method} ${req.url}`,
    });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // The body may be partly unread: close rather than parse its rest as a next request.
    const unread = !req.complete;
    sendErrorPage(res, gatewayError.status, req.method ?? 'GET', unread);
    if (unread) req.resume();
  }

  private finish(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    started: number,
    state: RequestState,
  ): void {
    const accessLog = this.options.accessLog;
    if (accessLog === undefined) return;
    const responder = state.upstream?.responder;
    const attempts = state.upstream?.attempts ?? [];
    const now = performance.now();
    accessLog.write({
      remoteAddr: req.socket?.remoteAddress ?? '-',
      time: new Date(performance.timeOrigin + started),
      requestLine: `${req.method} ${req.url} HTTP/${req.httpVersion}`,
      status: res.headersSent ? res.statusCode : 499,
      // Pages Portico wrote itself (errors, redirects) count as nginx counts them.
      bodyBytes:
        responder?.bodyBytes ??
        (req.method === 'HEAD' || !res.headersSent ? 0 : Number(res.getHeader('content-length') ?? 0)),
      referer: req.headers.referer,
      userAgent: req.headers['user-agent'],
      // nginx lists every attempt: "127.0.0.1:9000, 127.0.0.1:9001" and "0.001, 0.004".
      upstreamAddr: attempts.map((a) => a.address).join(', '),
      upstreamSeconds:
        attempts.length === 0
          ? undefined
          : attempts.map((a) => ((a.end === 0 ? now : a.end) - a.start) / 1000),
      requestId,
    });
  }
}

/** nginx: NGX_HTTP_MAX_URI_CHANGES + 1 internal redirects, then 500. */
const MAX_INTERNAL_REDIRECTS = 10;

/** Where the backend part of a request goes, after routing and file checks. */
interface BackendTarget {
  readonly route: BackendRoute;
  /** $uri: the path after internal redirects. */
  readonly path: string;
  readonly args: string;
  readonly captures: readonly string[];
  readonly backendPath: string | undefined;
  readonly script: { readonly scriptName: string; readonly pathInfo: string } | undefined;
}

/** A status the file side decided (404 no file, 403 refused, 500 unreadable, try_files =CODE). */
function statusError(code: number, reason: string, path: string): GatewayError {
  if (code >= 500) return new GatewayError('ERR_STATIC', `"${path}": ${reason}`, 'gateway', code, 'none');
  return new ClientRequestError('ERR_STATIC', `"${path}": ${reason}`, code);
}

interface RequestState {
  /** The attempt loop, once the request reached it. */
  upstream: UpstreamRequest | undefined;
}
