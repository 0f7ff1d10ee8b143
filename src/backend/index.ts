/**
 * Server-side SCGI and FastCGI for Node apps: the package subpath `portico/backend`.
 *
 *   import { createFastCgiServer, createScgiServer, fromNodeHttp } from 'portico/backend';
 *
 * One handler signature serves both protocols; `fromNodeHttp` runs a node:http listener
 * (Express, Koa, ...) as that handler. See docs/backend.md.
 */
export type { BackendHandler } from './dispatch.ts';
export { createFastCgiServer, FastCgiServer } from './fastcgi-server.ts';
export { inheritedListenSocket } from './listen.ts';
export {
  fromNodeHttp,
  type NodeHttpAdapterOptions,
  type NodeHttpListener,
} from './node-http-adapter.ts';
export {
  BACKEND_DEFAULTS,
  type BackendErrorListener,
  type BackendServerOptions,
  type FastCgiServerOptions,
  type ScgiServerOptions,
} from './options.ts';
export { BackendRequest } from './request.ts';
export { BackendResponse, type HeaderValue } from './response.ts';
export { createScgiServer, ScgiServer } from './scgi-server.ts';
