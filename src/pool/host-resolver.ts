/**
 * A backend given by host name: every address the name resolves to, taken in turn for new
 * connections (nginx makes one peer per address of a `server` name), and looked up again
 * every `interval` when asked to (nginx's `server ... resolve`). A lookup that fails keeps the
 * last good set and is logged; only a name that never resolved fails the connect.
 *
 * Resolution goes through the system resolver (dns.lookup: /etc/hosts, nsswitch), as the
 * rest of the gateway and libc-based servers do; it reports no TTL, hence the fixed interval.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { UpstreamError } from '../errors.ts';

/** dns.promises.lookup with `all: true`, injectable for tests. */
export type LookupAll = (host: string) => Promise<readonly string[]>;

export const systemLookup: LookupAll = async (host) =>
  (await dnsLookup(host, { all: true, order: 'ipv4first' })).map((a) => a.address);

export interface HostResolverOptions {
  /** ms between lookups after the first; 0: resolve once. */
  readonly interval: number;
  readonly lookup?: LookupAll;
  /** Told about lookups that fail and sets that change. */
  readonly onChange?: (message: string, level: 'notice' | 'warn') => void;
}

export class HostResolver {
  readonly host: string;
  private readonly options: HostResolverOptions;
  private readonly lookup: LookupAll;
  private addresses: readonly string[] = [];
  private next = 0;
  private pending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(host: string, options: HostResolverOptions) {
    this.host = host;
    this.options = options;
    this.lookup = options.lookup ?? systemLookup;
  }

  /** True when `host` needs resolving (not an IP literal). */
  static needed(host: string): boolean {
    return isIP(host) === 0;
  }

  /** The addresses in use now (empty before the first lookup). */
  get current(): readonly string[] {
    return this.addresses;
  }

  /**
   * The addresses to try for one connect, starting with the next in turn (round robin), so a
   * connect can fall through to the others. Resolves the name first when never resolved.
   */
  async order(): Promise<readonly string[]> {
    if (this.addresses.length === 0) await this.refresh();
    const list = this.addresses;
    if (list.length === 0) {
      throw new UpstreamError('ERR_UPSTREAM_RESOLVE', `host "${this.host}" could not be resolved`);
    }
    const first = this.next++ % list.length;
    return first === 0 ? list : [...list.slice(first), ...list.slice(0, first)];
  }

  /** Looks the name up now (one lookup at a time); keeps the last good set on failure. */
  refresh(): Promise<void> {
    this.pending ??= this.resolve().finally(() => {
      this.pending = undefined;
      this.schedule();
    });
    return this.pending;
  }

  /** No more lookups (the gateway closes). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async resolve(): Promise<void> {
    let found: readonly string[];
    try {
      found = [...new Set(await this.lookup(this.host))];
    } catch (error) {
      this.options.onChange?.(
        `could not resolve "${this.host}" (${(error as NodeJS.ErrnoException).code ?? String(error)})${this.addresses.length > 0 ? `, keeping ${this.addresses.join(', ')}` : ''}`,
        'warn',
      );
      return;
    }
    if (found.length === 0) return;
    const before = this.addresses;
    if (before.length === found.length && before.every((a, i) => a === found[i])) return;
    this.addresses = found;
    this.next = 0;
    if (before.length > 0) {
      this.options.onChange?.(
        `"${this.host}" now resolves to ${found.join(', ')} (was ${before.join(', ')})`,
        'notice',
      );
    }
  }

  private schedule(): void {
    if (this.stopped || this.options.interval <= 0 || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, this.options.interval);
    // Lookups never keep the process alive on their own.
    this.timer.unref();
  }
}
