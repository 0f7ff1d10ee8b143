/**
 * The errors the servers give a request's signal and body stream. ClientRequestError: from
 * the application's side the web server is the client; 499 is nginx's "client closed request".
 */
import { ClientRequestError } from '../errors.ts';

/** FastCGI ABORT_REQUEST (spec 5.4): the web server gave up on the request. */
export function abortedByServer(): ClientRequestError {
  return new ClientRequestError(
    'ERR_BACKEND_ABORTED',
    'the web server aborted the request (FCGI_ABORT_REQUEST)',
    499,
  );
}

/** EOF or a reset before the response ended. */
export function connectionClosed(): ClientRequestError {
  return new ClientRequestError(
    'ERR_BACKEND_CONNECTION_CLOSED',
    'the web server closed the connection before the response ended',
    499,
  );
}

export function bodyTooLarge(max: number): ClientRequestError {
  return new ClientRequestError(
    'ERR_BACKEND_BODY_TOO_LARGE',
    `request body larger than maxBodyBytes (${max})`,
    413,
  );
}
