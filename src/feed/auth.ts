/**
 * Who may connect to the feed, and as what: tokens from the server's config, presented at the WebSocket upgrade as
 * `Authorization: Bearer TOKEN` or `?token=TOKEN`. Tokens are looked up by their SHA-256, so no secret is compared
 * byte by byte. A token maps to a Grant: its role and, where configured, the ids its rows may name (ingest.ts
 * checks every row against them).
 */
import { createHash } from 'node:crypto';

/**
 * source: a price source (PriceTicks, SignedPriceTicks for its source ids); matching: the matching engine
 * (positions, collateral, fills, order expiries, BookTickers, Depth); admin: the operator (KillSwitch); subscriber:
 * Subscribe / Unsubscribe only (every role may subscribe). publisher: a legacy `publisherTokens` token, source and
 * matching at once, unscoped.
 */
export type Role = 'source' | 'matching' | 'admin' | 'subscriber' | 'publisher';

/** The roles a `tokens` entry may name (`publisher` is only the legacy lists'). */
export const TOKEN_ROLES = ['source', 'matching', 'admin', 'subscriber'] as const satisfies readonly Role[];
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** True for the roles that may send inputs that change the engine (the stats count them as publishers). */
export function publishes(role: Role): boolean {
  return role === 'source' || role === 'matching' || role === 'publisher';
}

/**
 * A set of uint32 ids as sorted, merged, closed ranges [lo, hi] in one typed array: `has` is a binary search over
 * a handful of numbers and allocates nothing, so it can run once per row of a hot frame.
 */
export class IdRanges {
  /** lo0, hi0, lo1, hi1, ...: sorted by lo, disjoint and not adjacent. */
  private readonly bounds: Float64Array;

  constructor(ranges: readonly (readonly [number, number])[]) {
    const sorted = ranges.map(([lo, hi]) => [lo, hi] as [number, number]).sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of sorted) {
      const last = merged[merged.length - 1];
      if (last !== undefined && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else merged.push(r);
    }
    this.bounds = Float64Array.from(merged.flat());
  }

  has(id: number): boolean {
    const b = this.bounds;
    let lo = 0;
    let hi = b.length / 2 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (id < b[2 * mid]!) hi = mid - 1;
      else if (id > b[2 * mid + 1]!) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** The ranges as text for error messages: "[0, 99], [200, 299]". */
  toString(): string {
    const parts: string[] = [];
    for (let i = 0; i < this.bounds.length; i += 2) parts.push(this.bounds[i] === this.bounds[i + 1] ? `${this.bounds[i]}` : `[${this.bounds[i]}, ${this.bounds[i + 1]}]`);
    return parts.join(', ');
  }
}

/** What one token may do: its role and, where configured, the ids its rows may name (undefined: any). */
export interface Grant {
  readonly role: Role;
  /** source: the source ids its ticks may carry (always set for a source token). */
  readonly sources: IdRanges | undefined;
  /** source, matching, admin: the markets its rows (ticks, positions, fills, books, depth, kill switches) may name. */
  readonly markets: IdRanges | undefined;
  /** matching: the accounts its rows (positions, collateral, fills, expiries) may name. */
  readonly accounts: IdRanges | undefined;
}

/** One configured token (FeedServerOptions.tokens, validated by server-options.ts). */
export interface TokenSpec {
  /** The token, at least 16 characters: sent as `Authorization: Bearer` or `?token=`. */
  readonly token: string;
  /** What it may do: source, matching, admin or subscriber. */
  readonly role: TokenRole;
  /** Source ids a `source` token may report for (required for it, refused for the others). */
  readonly sources?: readonly number[];
  /** Closed ranges of market ids; `source`, `matching` and `admin` tokens. Absent: every market. */
  readonly markets?: readonly (readonly [number, number])[];
  /** Closed ranges of account ids; `matching` tokens. Absent: every account. */
  readonly accounts?: readonly (readonly [number, number])[];
}

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

const unscoped = (role: Role): Grant => ({ role, sources: undefined, markets: undefined, accounts: undefined });

export class TokenRoles {
  private readonly grants = new Map<string, Grant>();

  /** Tokens as validated by resolveServerOptions (no token twice). */
  constructor(publisherTokens: readonly string[], subscriberTokens: readonly string[], adminTokens: readonly string[] = [], tokens: readonly TokenSpec[] = []) {
    for (const t of publisherTokens) this.grants.set(sha256(t), unscoped('publisher'));
    for (const t of subscriberTokens) this.grants.set(sha256(t), unscoped('subscriber'));
    for (const t of adminTokens) this.grants.set(sha256(t), unscoped('admin'));
    for (const t of tokens) {
      this.grants.set(sha256(t.token), {
        role: t.role,
        sources: t.sources === undefined ? undefined : new IdRanges(t.sources.map((s) => [s, s] as const)),
        markets: t.markets === undefined ? undefined : new IdRanges(t.markets),
        accounts: t.accounts === undefined ? undefined : new IdRanges(t.accounts),
      });
    }
  }

  /** The grant of the token in an Authorization header (Bearer) or, failing that, a query parameter; undefined: none. */
  grantOf(authorization: string, queryToken: string): Grant | undefined {
    const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    const token = bearer ?? queryToken;
    return token === '' ? undefined : this.grants.get(sha256(token));
  }

  /** The role of the token (see grantOf); undefined: none. */
  roleOf(authorization: string, queryToken: string): Role | undefined {
    return this.grantOf(authorization, queryToken)?.role;
  }
}
