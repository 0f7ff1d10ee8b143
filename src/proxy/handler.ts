import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors.ts';
import type { AccessLog } from '../observability/access-log.ts';
import type { Logger } from '../observability/logger.ts';
import { newRequestId } from '../observability/request-id.ts';
import type { Diversion } from './diversion.ts';
import { sendErrorPage } from './error-page.ts';
import { type BodyLimits, type PreparedBody, prepareBody } from './request-body.ts';
import { type BackendTarget, RequestFlow } from './request-flow.ts';
import type { RouteRequest, Router } from './route.ts';
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
    const flow = new RequestFlow(
      req,
      res,
      this.options.router,
      (to) => this.toBackend(req, res, expectContinue, requestId, state, to),
      requestId,
    );
    await flow.run();
  }

  /** The backend part of the pipeline: body, environment, attempt loop. */
  private async toBackend(
    req: IncomingMessage,
    res: ServerResponse,
    expectContinue: boolean,
    requestId: string,
    state: RequestState,
    to: BackendTarget,
  ): Promise<Diversion | undefined> {
    const route = to.route;
    const target = req.url ?? '';
    let prepared: PreparedBody | undefined;
    try {
      // After an internal redirect the body was the first backend's (nginx discards it).
      prepared = await prepareBody(
        req,
        res,
        this.options.limits,
        expectContinue,
        route.passRequestBody && !to.dropBody,
        route.requestBuffering,
      );
      if (res.destroyed) return undefined;
      const socket = req.socket;
      const request: RouteRequest = {
        method: to.method,
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
          !to.dropBody &&
          (prepared.contentLength > 0 ||
            req.headers['content-length'] !== undefined ||
            req.headers['transfer-encoding'] !== undefined)
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
          bodyRecordSize: route.bodyRecordSize,
          sendTimeout: route.sendTimeout,
          readTimeout: route.readTimeout,
        },
        log: this.options.log,
        sendTimeout: this.options.sendTimeout,
        forceStatus: to.forceStatus,
      });
      state.upstream = upstream;
      await upstream.run();
      return upstream.diversion;
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

interface RequestState {
  /** The attempt loop, once the request reached it. */
  upstream: UpstreamRequest | undefined;
}
