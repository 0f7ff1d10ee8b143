/**
 * Portico's public API. Subpaths: `portico/backend` (SCGI and FastCGI servers for Node apps)
 * and `portico/protocol` (the codecs).
 */
export type { GroupSnapshot } from './balancer/group.ts';
export { loadConfigFile, loadConfigText, parseConfigObject } from './config/load.ts';
export { configJsonSchema } from './config/json-schema.ts';
export type { PorticoConfig, PorticoConfigInput } from './config/schema.ts';
export {
  ClientRequestError,
  ConfigError,
  type ConfigIssue,
  EncodeError,
  GatewayError,
  ProtocolError,
  UpstreamError,
  UpstreamTimeoutError,
} from './errors.ts';
export {
  type Logger,
  type LogLevel,
  MemoryLogger,
  NullLogger,
  StreamLogger,
} from './observability/logger.ts';
export { type GatewayHandle, type GatewayOptions, startGateway } from './server/gateway.ts';
