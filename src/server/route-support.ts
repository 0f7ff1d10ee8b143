/**
 * What the two kinds of backend route share: the request facts a route reads, the hidden
 * headers, the selection inputs of a group, params, set_env_if rules, socket options.
 */
import { hostname } from 'node:os';
import type { RequestFacts } from '../cgi/request-facts.ts';
import type { ParamSpec } from '../cgi/env.ts';
import { compileSetEnvIf, type SetEnvIfRule, type SetEnvIfSpec } from '../cgi/set-env-if.ts';
import { apacheParams, stockParams } from '../cgi/stock-params.ts';
import { VariableContext } from '../cgi/variables.ts';
import type { FastCgiConfig, ScgiConfig } from '../config/schema.ts';
import type { SocketOptions } from '../pool/connector.ts';
import type { RouteRequest, SelectionInputs } from '../proxy/route.ts';
import { type ErrorPageSpec, ErrorPages } from '../proxy/error-pages.ts';
import type { ExpandInput } from '../proxy/static-route.ts';
import type { CompiledUpstream } from './upstreams.ts';

/** nginx hides these backend headers from the client unless pass_header names them (C.1.2). */
export const DEFAULT_HIDDEN = [
  'status',
  'x-accel-expires',
  'x-accel-redirect',
  'x-accel-limit-rate',
  'x-accel-buffering',
  'x-accel-charset',
];

const MACHINE_HOSTNAME = hostname();

/** Everything a route needs to turn a request into facts. */
export interface FactsBase {
  readonly serverName: string;
  readonly documentRoot: string;
  /** A prefix location's alias, for `$request_filename`. */
  readonly alias?: { readonly text: string; readonly prefix: string } | undefined;
}

export function facts(request: RouteRequest, base: FactsBase): RequestFacts {
  let host = '';
  let contentType = '';
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && host === '' && name.toLowerCase() === 'host') host = raw[i + 1] as string;
    else if (name.length === 12 && contentType === '' && name.toLowerCase() === 'content-type')
      contentType = raw[i + 1] as string;
  }
  return {
    method: request.method,
    rawTarget: request.rawTarget,
    path: request.path,
    args: request.args,
    scheme: request.https ? 'https' : 'http',
    https: request.https,
    host,
    serverName: base.serverName,
    serverAddr: request.localAddress,
    serverPort: request.localPort === 0 ? '' : String(request.localPort),
    remoteAddr: request.remoteAddress,
    remotePort: request.remotePort === 0 ? '' : String(request.remotePort),
    serverProtocol: request.serverProtocol,
    headers: request.rawHeaders,
    contentLength: request.contentLength,
    contentType,
    documentRoot: base.documentRoot,
    alias: base.alias,
    requestId: request.requestId,
    hostname: MACHINE_HOSTNAME,
    captures: request.captures,
  };
}

/**
 * The request as variables see it before any backend is chosen (try_files and index names):
 * the path and args of the moment, the body's length as announced.
 */
export function flowRequest(input: ExpandInput): RouteRequest {
  const { req } = input;
  const socket = req.socket;
  const length = req.headers['content-length'];
  return {
    method: input.method,
    rawTarget: req.url ?? '',
    path: input.uri,
    args: input.args,
    https: (socket as { encrypted?: boolean }).encrypted === true,
    serverProtocol: `HTTP/${req.httpVersion}`,
    rawHeaders: req.rawHeaders,
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    remoteAddress: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    contentLength: typeof length === 'string' ? length : '',
    requestId: input.requestId,
    captures: input.captures,
  };
}

export function stripSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

export function hiddenHeaders(block: {
  hide_header: readonly string[];
  pass_header: readonly string[];
}): ReadonlySet<string> {
  const hidden = new Set(DEFAULT_HIDDEN);
  for (const name of block.hide_header) hidden.add(name.toLowerCase());
  for (const name of block.pass_header) hidden.delete(name.toLowerCase());
  return hidden;
}

/** Every Cookie header value of the request (node keeps repeated ones apart in rawHeaders). */
export function cookieHeaders(raw: readonly string[]): string[] | undefined {
  let out: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 6 && name.toLowerCase() === 'cookie') (out ??= []).push(raw[i + 1] as string);
  }
  return out;
}

/** The request's inputs to its group's selection; the hash key and sticky route only when used. */
export function selectionInputs(
  upstream: CompiledUpstream,
  request: RouteRequest,
  base: FactsBase,
): SelectionInputs {
  const hashKey =
    upstream.hashKey === undefined
      ? undefined
      : upstream.hashKey.evaluate(new VariableContext(facts(request, base)));
  const sticky = upstream.group.sticky;
  const route =
    sticky === undefined
      ? undefined
      : sticky.resolve(request.rawTarget, cookieHeaders(request.rawHeaders))?.route;
  return { clientAddress: request.remoteAddress, hashKey, route };
}

/** Rules were checked by the schema; compiling again cannot fail. */
export function setEnvIfRules(specs: readonly SetEnvIfSpec[]): readonly SetEnvIfRule[] {
  return specs.map((spec) => {
    const rule = compileSetEnvIf(spec);
    if (Array.isArray(rule)) throw new Error(`set_env_if: ${rule.map((p) => p.message).join('; ')}`);
    return rule;
  });
}

export function socketOptions(bind: string | undefined, keepAlive: boolean): SocketOptions | undefined {
  return bind === undefined && !keepAlive ? undefined : { localAddress: bind, keepAlive };
}

export function paramList(block: ScgiConfig | FastCgiConfig): ParamSpec[] {
  const list: ParamSpec[] = [];
  if (block.include_params === 'apache') {
    list.push(...apacheParams({ protocol: 'scgi' in block ? 'scgi' : 'fastcgi' }));
  } else if (block.include_params !== 'none') {
    list.push(...stockParams(block.include_params));
  }
  for (const p of block.params) list.push({ name: p.name, value: p.value, ifNotEmpty: p.if_not_empty });
  return list;
}

export function errorPagesOf(specs: readonly ErrorPageSpec[] | undefined): ErrorPages | undefined {
  return specs === undefined || specs.length === 0 ? undefined : new ErrorPages(specs);
}
