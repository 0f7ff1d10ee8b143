import type { Server } from 'node:http';
import type { GroupSnapshot } from '../balancer/group.ts';
import type { PorticoConfig } from '../config/schema.ts';
import { AccessLog } from '../observability/access-log.ts';
import { type Logger, openLogStream, StreamLogger } from '../observability/logger.ts';
import { RequestHandler } from '../proxy/handler.ts';
import { createFront, drain, listen } from './listeners.ts';
import { compileRuntime } from './runtime.ts';
import type { LookupAll } from '../pool/host-resolver.ts';
import { upstreamSnapshot } from './upstreams.ts';

export interface GatewayOptions {
  /** The file the config came from: relative paths (root, temp paths) resolve against its directory. */
  readonly configFile?: string;
  /** Overrides the config's error log (library use, tests). */
  readonly log?: Logger;
  /**
   * Looks up upstream server host names (all addresses); default: the system resolver. For
   * embedding with a resolver of one's own, and for tests.
   */
  readonly lookup?: LookupAll;
}

export interface GatewayHandle {
  /** What the listeners answer on, e.g. `http://127.0.0.1:8080/` or `unix:/run/portico.sock`. */
  readonly urls: string[];
  /** Every upstream group with each member's live counters and state (plain JSON). */
  upstreams(): GroupSnapshot[];
  /** Stops accepting, lets in-flight requests finish until the deadline, then closes everything. */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * The composition root: compiles the config into runtime objects once, opens the listeners,
 * and hands every request to the pipeline. A config that does not compile starts nothing.
 */
export async function startGateway(
  config: PorticoConfig,
  options: GatewayOptions = {},
): Promise<GatewayHandle> {
  const log = options.log ?? new StreamLogger(openLogStream(config.error_log.path), config.error_log.level);
  const runtime = compileRuntime(config, options.configFile, {
    log,
    ...(options.lookup === undefined ? {} : { lookup: options.lookup }),
  });
  const accessLog =
    config.access_log.path === 'off'
      ? undefined
      : new AccessLog(openLogStream(config.access_log.path), config.access_log.format);
  const handler = new RequestHandler({
    router: runtime.router,
    limits: runtime.limits,
    sendTimeout: runtime.sendTimeout,
    log,
    accessLog,
  });
  const servers: Server[] = [];
  const urls: string[] = [];
  try {
    for (const target of runtime.listen) {
      const server = createFront(runtime.front, handler.handle);
      servers.push(server);
      urls.push(await listen(server, target));
    }
  } catch (error) {
    await drain(servers, 0);
    throw error;
  }
  log.log('notice', `portico started, listening on ${urls.join(' ')}`);
  runtime.upstreams.startHealthChecks();
  let closing: Promise<void> | undefined;
  return {
    urls,
    upstreams: () => upstreamSnapshot(runtime),
    close(deadlineMs = config.shutdown_timeout): Promise<void> {
      closing ??= drain(servers, deadlineMs).then(() => {
        runtime.dispose();
        log.log('notice', 'portico stopped');
      });
      return closing;
    },
  };
}
