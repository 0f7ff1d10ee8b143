/**
 * nginx `ip_hash` (ngx_http_upstream_ip_hash_module.c): the client's network picks the member,
 * so one client keeps reaching the same backend while it is usable.
 *
 * The key is the first three octets of an IPv4 address (a whole /24 maps together) or all 16
 * bytes of an IPv6 address. An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, what a dual-stack
 * Node listener reports) is taken as the IPv4 address it carries, so the same client hashes
 * alike on either listener. Anything else (a unix-socket client, no address) hashes as three
 * zero bytes, as nginx does for non-IP families.
 *
 *   hash = 89;  for each byte: hash = (hash * 113 + byte) % 6271
 *   member = weighted slot (hash % total weight) over the configured list
 *
 * An unusable or already tried member makes nginx hash the bytes again from the current value;
 * after 20 misses it falls back to round robin. With fewer than two members, round robin.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Member } from './member.ts';
import type { Candidate, SelectionContext, SelectionPolicy } from './policy.ts';
import { smoothWeightedPick } from './round-robin.ts';
import { WeightedList } from './weighted-list.ts';

/** nginx gives up re-hashing after this many misses and uses round robin. */
export const MAX_REHASH = 20;

const PSEUDO = new Uint8Array(3);

/** The bytes ip_hash hashes for `address` (see the file comment). */
export function ipHashBytes(address: string | undefined): Uint8Array {
  if (address === undefined) return PSEUDO;
  if (isIPv4(address)) return ipv4Prefix(address);
  const zone = address.indexOf('%');
  const bare = zone < 0 ? address : address.slice(0, zone);
  if (!isIPv6(bare)) return PSEUDO;
  const bytes = ipv6Bytes(bare);
  if (isV4Mapped(bytes)) return bytes.subarray(12, 15);
  return bytes;
}

function ipv4Prefix(address: string): Uint8Array {
  const out = new Uint8Array(3);
  let part = 0;
  let value = 0;
  for (let i = 0; i < address.length && part < 3; i++) {
    const c = address.charCodeAt(i);
    if (c === 0x2e) {
      out[part++] = value;
      value = 0;
    } else {
      value = value * 10 + (c - 0x30);
    }
  }
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** 16 bytes of a valid (node:net isIPv6) address without zone. */
function ipv6Bytes(address: string): Uint8Array {
  let text = address;
  let v4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) >= 0) {
    // A dotted IPv4 tail (`::ffff:192.0.2.7`) stands for the last two 16-bit groups.
    const o = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    v4 = [(o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!];
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const groupsOf = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const gap = text.indexOf('::');
  let groups: number[];
  if (gap < 0) {
    groups = [...groupsOf(text), ...v4];
  } else {
    const head = groupsOf(text.slice(0, gap));
    const rest = [...groupsOf(text.slice(gap + 2)), ...v4];
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? 0;
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 0xff;
  }
  return out;
}

export class IpHashPolicy implements SelectionPolicy {
  private readonly list: WeightedList;

  /** `members`: the group's primaries in configured order, including down ones. */
  constructor(members: readonly Member[]) {
    this.list = new WeightedList(members);
  }

  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined {
    const list = this.list;
    if (list.members.length < 2 || list.total === 0) return smoothWeightedPick(candidates, ctx.tried);
    const usable = new Set(candidates);
    const bytes = ipHashBytes(ctx.clientAddress);
    let hash = 89;
    for (let attempt = 0; attempt <= MAX_REHASH; attempt++) {
      for (let i = 0; i < bytes.length; i++) hash = (hash * 113 + bytes[i]!) % 6271;
      const m = list.at(hash % list.total);
      if (usable.has(m) && !ctx.tried.has(m.key)) return m;
    }
    return smoothWeightedPick(candidates, ctx.tried);
  }
}
