/**
 * The pure SCGI and FastCGI codecs: the package subpath `portico/protocol`. No sockets, no
 * timers; shared by the gateway's transports and the backend libraries.
 */
export * from './fastcgi/index.ts';
export type { Param } from './params.ts';
export * from './scgi/index.ts';
