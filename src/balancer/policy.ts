/**
 * The selection role: given the members that may take this request now, pick one.
 *
 * Candidates come from health.ts `candidatesFor` (usable members of the first tier that has
 * any: primaries, else backups; not down, not failed, below max_conns, not yet tried). A policy
 * never sees an unusable member, so it only decides *which*, never *whether*. Policies that must
 * map keys over the whole configured list to stay stable while a member is out (ip_hash, hash,
 * consistent hash) are built with that list and walk it, taking the first hit that is a
 * candidate, exactly as nginx re-hashes past an unusable peer.
 *
 * A policy is a function of its inputs and of the members' state (`member.slot` credit,
 * `member.host` counters); the only state it writes is `member.slot`. Randomness is injected.
 */
import type { Member } from './member.ts';

/** A member offered to a policy (the member carries its live `host` and `slot`). */
export type Candidate = Member;

export interface SelectionContext {
  /** The client's IP address as Node reports it (`::ffff:192.0.2.1`, `2001:db8::1`); ip_hash. */
  readonly clientAddress?: string | undefined;
  /** The evaluated hash key (nginx `hash $request_uri`), a latin1 string of the request bytes. */
  readonly hashKey?: string | undefined;
  /** Sticky route from sticky.ts; the group resolves it before any policy runs. */
  readonly route?: string | undefined;
  /** Keys of members already tried for this request: never selected again. */
  readonly tried: ReadonlySet<string>;
}

export interface SelectionPolicy {
  /** One of `candidates` not in `ctx.tried`, or undefined when there is none. */
  select(candidates: readonly Candidate[], ctx: SelectionContext): Candidate | undefined;
}

/** A float in [0, 1), like Math.random (the default) or `Prng.next`. */
export type RandomSource = () => number;

/** An empty tried set, for first attempts. */
export const NOTHING_TRIED: ReadonlySet<string> = new Set<string>();
