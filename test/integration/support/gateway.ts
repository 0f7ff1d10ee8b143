/**
 * The real gateway for integration tests: a config object validated by `parseConfigObject`
 * exactly as a YAML file would be, started with `startGateway` on 127.0.0.1 port 0, its error log
 * kept in memory so tests can read what an operator would see.
 */
import type { GroupSnapshot } from '../../../src/balancer/group.ts';
import { parseConfigObject } from '../../../src/config/load.ts';
import type { LogFields, LogLevel } from '../../../src/observability/logger.ts';
import { MemoryLogger } from '../../../src/observability/logger.ts';
import { type GatewayOptions, startGateway } from '../../../src/server/gateway.ts';
import { makeTempDir } from '../../support/ports.ts';

export interface TestGateway extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` (no trailing slash: append a path). */
  readonly url: string;
  /** `127.0.0.1:PORT`, for the raw clients. */
  readonly address: string;
  readonly log: MemoryLogger;
  /** Every listener, as startGateway reports them (`http://host:port/`, `unix:/path`). */
  readonly urls: readonly string[];
  /** client_body_temp_path: a private dir, so tests can check spill files are removed. */
  readonly bodyTempDir: string;
  /** Every group's members with their live counters (the library API's `upstreams()`). */
  upstreams(): GroupSnapshot[];
  close(): Promise<void>;
}

export interface LogLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields | undefined;
}

/**
 * Starts a gateway. `config` is what a user writes (keys of src/config/schema.ts); `listen`,
 * `access_log` and `client_body_temp_path` get test defaults unless given.
 */
export async function startTestGateway(
  config: Record<string, unknown>,
  options: Omit<GatewayOptions, 'log'> = {},
): Promise<TestGateway> {
  const tmp = await makeTempDir('gateway');
  try {
    const parsed = parseConfigObject({
      listen: ['127.0.0.1:0'],
      access_log: { path: 'off' },
      error_log: { path: 'stderr', level: 'debug' },
      client_body_temp_path: tmp.path,
      ...config,
    });
    const log = new MemoryLogger();
    const handle = await startGateway(parsed, { ...options, log });
    const first = handle.urls[0] ?? '';
    const url = first.replace(/\/$/, '');
    const address = url.replace(/^http:\/\//, '');
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        await handle.close(2000);
        await tmp.cleanup();
      })();
      return closing;
    };
    return {
      url,
      address,
      log,
      urls: handle.urls,
      bodyTempDir: tmp.path,
      upstreams: () => handle.upstreams(),
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await tmp.cleanup();
    throw error;
  }
}

/** Log lines at `level` whose message matches `pattern`. */
export function logLines(log: MemoryLogger, level: LogLevel, pattern: RegExp): LogLine[] {
  return log.lines.filter((l) => l.level === level && pattern.test(l.message));
}

/** Readable dump of the log for assertion messages. */
export function showLog(log: MemoryLogger): string {
  return log.lines.map((l) => `[${l.level}] ${l.message} ${JSON.stringify(l.fields ?? {})}`).join('\n');
}
