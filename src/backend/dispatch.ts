/**
 * Runs a handler on one request, shared by both servers. A handler that throws or rejects
 * never takes the server down: the error goes to onError, the response becomes a 500 when its
 * head is not fixed yet (or the 4xx of a ClientRequestError, e.g. 413 for a body too large), else it is cut short (the transport decides how), and FastCGI's
 * END_REQUEST carries appStatus 1, the exit status of a CGI script that failed.
 */
import { GatewayError } from '../errors.ts';
import type { BackendErrorListener } from './options.ts';
import type { BackendRequest } from './request.ts';
import type { BackendResponse, ResponseTransport } from './response.ts';

/**
 * Handles one request; the same for both servers. It may return a promise (an async function):
 * a rejection counts as a throw. Typed `unknown` rather than `void | Promise<void>` so an arrow
 * like `(req, res) => res.end('hi')` (res.end returns res, as in node:http) type-checks.
 */
export type BackendHandler = (req: BackendRequest, res: BackendResponse) => unknown;

const FAILURE_BODY = 'Internal Server Error\n';

export function dispatch(
  handler: BackendHandler,
  req: BackendRequest,
  res: BackendResponse,
  transport: ResponseTransport,
  onError: BackendErrorListener,
): void {
  let result: unknown;
  try {
    result = handler(req, res);
  } catch (error) {
    fail(error, req, res, transport, onError);
    return;
  }
  // Any thenable, not only this realm's Promise.
  if (
    typeof result === 'object' &&
    result !== null &&
    typeof (result as PromiseLike<void>).then === 'function'
  ) {
    (result as PromiseLike<void>).then(undefined, (error: unknown) =>
      fail(error, req, res, transport, onError),
    );
  }
}

function fail(
  error: unknown,
  req: BackendRequest,
  res: BackendResponse,
  transport: ResponseTransport,
  onError: BackendErrorListener,
): void {
  try {
    // A handler failing with its own request's abort reason (it read a body cut short by a
    // disconnect) is a disconnect, not a bug: nothing to log.
    if (!(req.signal.aborted && error === req.signal.reason)) onError(error, req);
  } catch {
    // A failing error listener must not stop the response from ending.
  }
  if (res.writableFinished) return;
  transport.handlerFailed(res.headersSent);
  if (res.writableEnded) return;
  if (res.headersSent) {
    res.end();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  // A client error the handler let through (a body over maxBodyBytes: 413) keeps its status.
  const clientStatus =
    error instanceof GatewayError && error.source === 'client' && error.status >= 400 && error.status < 499
      ? error.status
      : undefined;
  const body = clientStatus === undefined ? FAILURE_BODY : `${(error as Error).message}\n`;
  res.statusCode = clientStatus ?? 500;
  res.statusMessage = '';
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
