/**
 * Active health checks of an upstream group (nginx Plus `health_check`, httpd mod_proxy_hcheck):
 * every `interval`, each member gets a probe over a connection of its own
 * (transport/probe.ts). `fails` failed probes in a row take the member out of rotation
 * (`unhealthy`, whatever its passive state); `passes` good ones in a row put it back. Each
 * transition is logged with the member and the reason; steady states are not.
 *
 * A member starts `healthy` (nginx Plus without `mandatory`): checks take a member out, they
 * do not hold a new one back. Members configured `down` are not probed. Probes of one member
 * never overlap: the next is scheduled when the previous has finished.
 */
import type { Socket } from 'node:net';
import type { UpstreamGroup } from '../balancer/group.ts';
import type { Member } from '../balancer/member.ts';
import type { Logger } from '../observability/logger.ts';
import type { Param } from '../protocol/params.ts';
import { type ProbeKind, type ProbeResult, runProbe } from '../transport/probe.ts';

export interface HealthCheckSettings {
  readonly kind: ProbeKind;
  /** The path (and query) a `request` probe asks for. */
  readonly uri: string;
  /** Extra params of a `request` probe (override the defaults of `probeParams`). */
  readonly params: readonly Param[];
  readonly interval: number;
  readonly timeout: number;
  readonly fails: number;
  readonly passes: number;
  /** Statuses that pass; empty: any 2xx or 3xx (nginx Plus's default). */
  readonly status: readonly number[];
  /** Text the body must contain; undefined: any body. */
  readonly body: string | undefined;
}

/** Opens a connection to member `index` (the group's own connect, without the pool). */
export type ProbeConnect = (index: number, timeoutMs: number) => Promise<Socket>;

/** The environment of a request probe: a plain GET, as a check from nginx would look. */
export function probeParams(uri: string, extra: readonly Param[]): Param[] {
  const q = uri.indexOf('?');
  const path = q === -1 ? uri : uri.slice(0, q);
  const base: Param[] = [
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', 'portico'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REQUEST_METHOD', 'GET'],
    ['REQUEST_URI', uri],
    ['DOCUMENT_URI', path],
    ['SCRIPT_NAME', path],
    ['SCRIPT_FILENAME', path],
    ['QUERY_STRING', q === -1 ? '' : uri.slice(q + 1)],
    ['REMOTE_ADDR', '127.0.0.1'],
    ['SERVER_NAME', 'localhost'],
    ['HTTP_USER_AGENT', 'portico-health-check'],
  ];
  const names = new Set(extra.map((p) => p[0]));
  return [...base.filter((p) => !names.has(p[0])), ...extra];
}

export class HealthChecker {
  private readonly group: UpstreamGroup;
  private readonly settings: HealthCheckSettings;
  private readonly connect: ProbeConnect;
  private readonly log: Logger | undefined;
  private readonly params: readonly Param[];
  private readonly timers = new Map<number, NodeJS.Timeout>();
  /** Sockets of probes in flight: closed by stop(), so nothing outlives the gateway. */
  private readonly sockets = new Set<Socket>();
  private stopped = false;

  constructor(group: UpstreamGroup, settings: HealthCheckSettings, connect: ProbeConnect, log?: Logger) {
    this.group = group;
    this.settings = settings;
    this.connect = connect;
    this.log = log;
    this.params = probeParams(settings.uri, settings.params);
  }

  /** First probes now, then every interval. */
  start(): void {
    for (const m of this.group.members) {
      if (m.down) continue;
      m.health = 'healthy';
      this.schedule(m, 0);
    }
  }

  /**
   * No more probes. One in flight is cut (its socket destroyed, its result ignored) rather than
   * left to run to its timeout: a closed gateway keeps no connection or timer alive.
   */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    // With an error, so runProbe settles at once and clears its timeout timer.
    for (const socket of this.sockets) socket.destroy(new Error('health checks stopped'));
    this.sockets.clear();
  }

  private schedule(m: Member, delay: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(m.index);
      void this.check(m);
    }, delay);
    timer.unref();
    this.timers.set(m.index, timer);
  }

  private async check(m: Member): Promise<void> {
    const s = this.settings;
    let result: ProbeResult;
    let socket: Socket | undefined;
    try {
      socket = await this.connect(m.index, s.timeout);
      if (this.stopped) {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      result = await runProbe(socket, {
        kind: s.kind,
        protocol: this.group.protocol as 'scgi' | 'fastcgi',
        params: this.params,
        timeout: s.timeout,
      });
    } catch (error) {
      result = { ok: false, reason: (error as Error).message };
    } finally {
      if (socket !== undefined) this.sockets.delete(socket);
    }
    if (this.stopped) return;
    const reason = this.judge(result);
    if (reason === undefined) this.passed(m);
    else this.failed(m, reason);
    this.schedule(m, s.interval);
  }

  /** undefined when the probe passes, else why not. */
  private judge(result: ProbeResult): string | undefined {
    if (!result.ok) return result.reason;
    const s = this.settings;
    if (s.kind !== 'request') return undefined;
    const statusOk =
      s.status.length === 0 ? result.status >= 200 && result.status < 400 : s.status.includes(result.status);
    if (!statusOk) return `status ${result.status}`;
    if (s.body !== undefined && !result.body.includes(s.body))
      return `body does not contain ${JSON.stringify(s.body)}`;
    return undefined;
  }

  private passed(m: Member): void {
    m.checkFails = 0;
    m.checkPasses++;
    if (m.health === 'unhealthy' && m.checkPasses >= this.settings.passes) {
      m.health = 'healthy';
      m.lastCheckError = '';
      this.log?.log(
        'notice',
        `upstream "${this.group.name}" server ${m.address}: health check passed ${m.checkPasses} times, back in rotation`,
      );
    }
  }

  private failed(m: Member, reason: string): void {
    m.checkPasses = 0;
    m.checkFails++;
    m.lastCheckError = reason;
    if (m.health !== 'unhealthy' && m.checkFails >= this.settings.fails) {
      m.health = 'unhealthy';
      this.log?.log(
        'warn',
        `upstream "${this.group.name}" server ${m.address}: health check failed (${reason}), taken out of rotation`,
      );
    }
  }
}
