/**
 * The status httpd's mod_proxy_scgi / mod_proxy_fcgi give a backend failure, for ProxyPass
 * routes (semantics.md C.5, C.6): a failed connect, an I/O or protocol error before anything
 * was sent is 503 (nginx says 502); a malformed response header is 500 (httpd's script header
 * scanner); a timeout stays 504; the rest keeps its status.
 */
import { GatewayError } from '../errors.ts';

export function httpdStatus(error: GatewayError): GatewayError {
  if (error.status !== 502) return error;
  const status = error.code.startsWith('ERR_CGI_HEAD_') ? 500 : 503;
  return new GatewayError(error.code, error.message, error.source, status, error.failure, { cause: error });
}
