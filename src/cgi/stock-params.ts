/**
 * The parameter sets a location starts from: nginx's stock `scgi_params`, `fastcgi_params` and
 * `fastcgi.conf` (conf/ of nginx, line for line, in file order), and the set httpd's
 * mod_proxy_scgi / mod_proxy_fcgi send for a ProxyPass route (util_script.c
 * ap_add_common_vars + ap_add_cgi_vars; semantics.md B.1, B.2).
 *
 * One deliberate difference: SERVER_SOFTWARE is `portico/<version>`, not `nginx/<version>`.
 */

import type { CompileParamsOptions, ParamSpec } from './env.ts';

const p = (name: string, value: string, ifNotEmpty = false): ParamSpec => ({ name, value, ifNotEmpty });

/** nginx conf/scgi_params. CONTENT_LENGTH is not in it: the SCGI encoder puts it first. */
export const SCGI_PARAMS: readonly ParamSpec[] = Object.freeze([
  p('REQUEST_METHOD', '$request_method'),
  p('REQUEST_URI', '$request_uri'),
  p('QUERY_STRING', '$query_string'),
  p('CONTENT_TYPE', '$content_type'),
  p('DOCUMENT_URI', '$document_uri'),
  p('DOCUMENT_ROOT', '$document_root'),
  p('SCGI', '1'),
  p('SERVER_PROTOCOL', '$server_protocol'),
  p('REQUEST_SCHEME', '$scheme'),
  p('HTTPS', '$https', true),
  p('REMOTE_ADDR', '$remote_addr'),
  p('REMOTE_PORT', '$remote_port'),
  p('SERVER_PORT', '$server_port'),
  p('SERVER_NAME', '$server_name'),
]);

/** nginx conf/fastcgi_params (SERVER_SOFTWARE: `portico/$portico_version`). */
export const FASTCGI_PARAMS: readonly ParamSpec[] = Object.freeze([
  p('QUERY_STRING', '$query_string'),
  p('REQUEST_METHOD', '$request_method'),
  p('CONTENT_TYPE', '$content_type'),
  p('CONTENT_LENGTH', '$content_length'),
  p('SCRIPT_NAME', '$fastcgi_script_name'),
  p('REQUEST_URI', '$request_uri'),
  p('DOCUMENT_URI', '$document_uri'),
  p('DOCUMENT_ROOT', '$document_root'),
  p('SERVER_PROTOCOL', '$server_protocol'),
  p('REQUEST_SCHEME', '$scheme'),
  p('HTTPS', '$https', true),
  p('GATEWAY_INTERFACE', 'CGI/1.1'),
  p('SERVER_SOFTWARE', 'portico/$portico_version'),
  p('REMOTE_ADDR', '$remote_addr'),
  p('REMOTE_PORT', '$remote_port'),
  p('SERVER_ADDR', '$server_addr'),
  p('SERVER_PORT', '$server_port'),
  p('SERVER_NAME', '$server_name'),
  // PHP built with --enable-force-cgi-redirect refuses to run without it.
  p('REDIRECT_STATUS', '200'),
]);

/** nginx conf/fastcgi.conf: fastcgi_params with SCRIPT_FILENAME as its first line. */
export const FASTCGI_CONF: readonly ParamSpec[] = Object.freeze([
  p('SCRIPT_FILENAME', '$document_root$fastcgi_script_name'),
  ...FASTCGI_PARAMS,
]);

export interface ApacheParamsOptions {
  readonly protocol: 'scgi' | 'fastcgi';
  /** httpd ServerAdmin; httpd's default when unset is `[no address given]`. */
  readonly serverAdmin?: string;
}

/**
 * What httpd sends for a ProxyPass route, as templates over the variables of `variables.ts`.
 * The route's context must carry `apacheProxyPaths` results (SCRIPT_NAME, PATH_INFO,
 * SCRIPT_FILENAME in the FPM `proxy:fcgi://host:port/...` or GENERIC form, PATH_TRANSLATED).
 * Compile with `APACHE_COMPILE_OPTIONS`: httpd passes the client's Host as HTTP_HOST (no
 * built-in) and keeps Authorization back unless CGIPassAuth On.
 *
 * Left out on purpose: PATH and LD_LIBRARY_PATH (httpd copies its own process environment;
 * Portico does not leak its environment to backends), REMOTE_HOST (no DNS lookups),
 * REMOTE_USER / AUTH_TYPE / REMOTE_IDENT (no httpd auth), REDIRECT_* (no ErrorDocument
 * redirects), mod_ssl's SSL_* and anything SetEnv would add. SCGI drops GATEWAY_INTERFACE
 * (mod_proxy_scgi skips it); its CONTENT_LENGTH and SCGI=1 come from the encoder.
 * httpd puts the header-derived variables first; here they follow the server variables —
 * the order of an environment carries no meaning (RFC 3875 4.1).
 */
export function apacheParams(options: ApacheParamsOptions): readonly ParamSpec[] {
  const list: ParamSpec[] = [
    // ap_add_common_vars: Content-Type / Content-Length are exported only when sent.
    p('CONTENT_TYPE', '$content_type', true),
    p('CONTENT_LENGTH', '$content_length', true),
    p('SERVER_SIGNATURE', ''),
    p('SERVER_SOFTWARE', 'portico/$portico_version'),
    p('SERVER_NAME', '$apache_server_name'),
    p('SERVER_ADDR', '$server_addr'),
    p('SERVER_PORT', '$apache_server_port'),
    p('REMOTE_ADDR', '$remote_addr'),
    p('DOCUMENT_ROOT', '$document_root'),
    p('REQUEST_SCHEME', '$scheme'),
    p('CONTEXT_PREFIX', ''),
    p('CONTEXT_DOCUMENT_ROOT', '$document_root'),
    p('SERVER_ADMIN', options.serverAdmin ?? '[no address given]'),
    p('SCRIPT_FILENAME', '$script_filename'),
    p('REMOTE_PORT', '$remote_port'),
    // mod_ssl: HTTPS=on on TLS connections, absent otherwise.
    p('HTTPS', '$https', true),
    // ap_add_cgi_vars
    p('GATEWAY_INTERFACE', 'CGI/1.1'),
    p('SERVER_PROTOCOL', '$server_protocol'),
    p('REQUEST_METHOD', '$request_method'),
    p('QUERY_STRING', '$query_string'),
    p('REQUEST_URI', '$request_target'),
    p('SCRIPT_NAME', '$script_name'),
    p('PATH_INFO', '$path_info', true),
    p('PATH_TRANSLATED', '$path_translated', true),
  ];
  return Object.freeze(
    options.protocol === 'scgi' ? list.filter((e) => e.name !== 'GATEWAY_INTERFACE') : list,
  );
}

/** Header handling of httpd's ap_add_common_vars, for `compileParams` with `apacheParams`. */
export const APACHE_COMPILE_OPTIONS: CompileParamsOptions = Object.freeze({
  builtinHost: false,
  passAuthorization: false,
});

export type StockSetName = 'scgi_params' | 'fastcgi_params' | 'fastcgi.conf';

/** A stock nginx set by its file name. */
export function stockParams(name: StockSetName): readonly ParamSpec[] {
  return name === 'scgi_params' ? SCGI_PARAMS : name === 'fastcgi_params' ? FASTCGI_PARAMS : FASTCGI_CONF;
}
