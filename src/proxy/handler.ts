import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeRequestPath } from '../cgi/path.ts';
import { ClientRequestError, GatewayError } from '../errors.ts';
import type { AccessLog } from '../observability/access-log.ts';
import type { Logger } from '../observability/logger.ts';
import { connectBackend } from '../pool/connector.ts';
import type { SocketExchange } from '../transport/exchange.ts';
import { FastCgiExchange } from '../transport/fastcgi-exchange.ts';
import { ScgiExchange } from '../transport/scgi-exchange.ts';
import { ClientResponder } from './client-responder.ts';
import { sendErrorPage, sendRedirect } from './error-page.ts';
import { type BodyLimits, type PreparedBody, prepareBody } from './request-body.ts';
import type { RouteRequest, Router } from './route.ts';

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
    const requestId = randomBytes(16).toString('hex');
    const started = performance.now();
    const state: RequestState = {
      upstreamAddr: '',
      upstreamStart: 0,
      upstreamEnd: 0,
      status: 0,
      bodyBytes: 0,
    };
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
    const args = query === -1 ? '' : target.slice(query + 1);
    const path = decodeRequestPath(rawPath);
    const decision = this.options.router.route(path);
    if (decision.kind === 'none') {
      throw new ClientRequestError('ERR_NOT_FOUND', `no location for "${path}"`, 404);
    }
    if (decision.kind === 'redirect') {
      sendRedirect(
        res,
        301,
        decision.location + (query === -1 ? '' : target.slice(query)),
        req.method ?? 'GET',
      );
      return;
    }
    const route = decision.route;
    let prepared: PreparedBody | undefined;
    try {
      prepared = await prepareBody(req, res, this.options.limits, expectContinue, route.passRequestBody);
      if (res.destroyed) return;
      const socket = req.socket;
      const request: RouteRequest = {
        method: req.method ?? 'GET',
        rawTarget: target,
        path,
        args,
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
        captures: decision.captures,
      };
      const params = route.buildEnv(request, decision.backendPath);
      const backendTarget = route.pickTarget();
      state.upstreamAddr = backendTarget.display;
      state.upstreamStart = performance.now();
      const abort = new AbortController();
      const onClose = (): void => abort.abort();
      res.once('close', onClose);
      const backend = await connectBackend(backendTarget, route.connectTimeout, abort.signal);
      res.off('close', onClose);
      if (res.destroyed) {
        backend.destroy();
        return;
      }
      const responder = new ClientResponder(res, {
        requestId,
        backend: backendTarget.display,
        method: request.method,
        log: this.options.log,
        hiddenHeaders: route.hiddenHeaders,
        sendTimeout: this.options.sendTimeout,
      });
      const exchangeRequest = {
        params,
        contentLength: prepared.contentLength,
        body: prepared.body,
        headLimit: route.headLimit,
        sendTimeout: route.sendTimeout,
        readTimeout: route.readTimeout,
      };
      const exchange: SocketExchange =
        route.protocol === 'scgi'
          ? new ScgiExchange(backend, exchangeRequest, responder)
          : new FastCgiExchange(backend, exchangeRequest, responder);
      responder.attach(exchange);
      state.responder = responder;
      // A client that goes away aborts the backend request (the connection is closed).
      res.once('close', () => exchange.abort());
      exchange.start();
      await new Promise<void>((resolve) => res.once('close', resolve));
    } finally {
      state.upstreamEnd = performance.now();
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
    this.options.log.log(level, gatewayError.message, {
      requestId,
      client: req.socket?.remoteAddress,
      backend: state.upstreamAddr === '' ? undefined : state.upstreamAddr,
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
    const responder = state.responder;
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
      upstreamAddr: state.upstreamAddr,
      upstreamSeconds:
        state.upstreamStart === 0
          ? undefined
          : ((state.upstreamEnd === 0 ? performance.now() : state.upstreamEnd) - state.upstreamStart) / 1000,
      requestId,
    });
  }
}

interface RequestState {
  upstreamAddr: string;
  upstreamStart: number;
  upstreamEnd: number;
  status: number;
  bodyBytes: number;
  responder?: ClientResponder;
}
