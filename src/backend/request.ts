/**
 * The request a handler receives: the body as a Readable, the CGI environment, and the
 * node:http-like fields rebuilt from it (`method`, `url`, `headers`).
 *
 * Backpressure: the servers `push()` body pieces as they arrive and stop reading the socket
 * when the stream holds enough; `_read()` (the consumer wants more) asks the server to read
 * again. The stream never emits 'error' to nobody: a default listener keeps a body error
 * (client gone, body too large) from crashing the process when the handler ignores the body;
 * handlers that read it still get the error (async iteration and pipeline see it).
 */
import { Readable } from 'node:stream';
import type { Param } from '../protocol/params.ts';
import { envFromParams, headersFromEnv, urlFromEnv } from './http-fields.ts';

/** The server side of a request body: told when the consumer wants more. */
export interface BodySource {
  readBody(): void;
}

function ignoreError(): void {
  // The cause was reported where it happened (the signal, the server's onError).
}

export class BackendRequest extends Readable {
  /** The CGI variables as received (names and values are latin1 strings of the raw bytes). */
  readonly env: Readonly<Record<string, string>>;
  /** REQUEST_METHOD, or GET when absent. */
  readonly method: string;
  /** REQUEST_URI, or SCRIPT_NAME + PATH_INFO + `?` QUERY_STRING when absent. */
  readonly url: string;
  /** Lower-case request headers rebuilt from HTTP_* plus content-type and content-length. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Fires when the web server gives up on the request: FastCGI ABORT_REQUEST, or the
   * connection closed before the response ended (nginx and httpd close it when their client
   * goes away). `signal.reason` is a ClientRequestError (status 499).
   */
  readonly signal: AbortSignal;
  private readonly source: BodySource;

  constructor(params: readonly Param[], signal: AbortSignal, source: BodySource) {
    super();
    this.env = envFromParams(params);
    this.method = this.env.REQUEST_METHOD || 'GET';
    this.url = urlFromEnv(this.env);
    this.headers = Object.freeze(headersFromEnv(this.env));
    this.signal = signal;
    this.source = source;
    this.on('error', ignoreError);
  }

  override _read(): void {
    this.source.readBody();
  }
}
