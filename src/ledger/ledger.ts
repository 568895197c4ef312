/**
 * The ledger: every balance the engine is responsible for, in atoms, changed only by transfers between two of
 * its entries. Value enters and leaves through the `external` entry (deposits, withdrawals) and trading PnL
 * settles against a market's `clearing` entry (the counterparties of our fills), so the sum over all entries is
 * zero at all times: no value is created or destroyed, which the tests prove over random scenarios.
 *
 * Entries:
 *   external                  the world outside (deposits in, withdrawals out)
 *   account:<id>              an account's cross collateral
 *   isolated:<id>:<market>    an isolated position's own collateral
 *   clearing:<market>         the counterparties of fills in a market (realized PnL flows through it)
 *   fund:<market> | fund:pooled   an insurance fund
 *   socialized:<market>       losses spread over the opposite side (the socialized-loss policy)
 */
import { type Atoms } from './money.js';
import { refill } from '../maps.js';

export type EntryId = string;

export const entry = {
  external: 'external',
  account: (id: number): EntryId => `account:${id}`,
  isolated: (id: number, market: number): EntryId => `isolated:${id}:${market}`,
  clearing: (market: number): EntryId => `clearing:${market}`,
  fund: (market: number | 'pooled'): EntryId => `fund:${market}`,
  socialized: (market: number): EntryId => `socialized:${market}`,
} as const;

export type TransferReason = 'deposit' | 'withdrawal' | 'realized-pnl' | 'liquidation-fee' | 'insurance-cover' | 'adl' | 'socialized-loss';

export interface Transfer {
  readonly from: EntryId;
  readonly to: EntryId;
  /** > 0. */
  readonly atoms: Atoms;
  readonly reason: TransferReason;
}

export interface LedgerState {
  readonly balances: ReadonlyMap<EntryId, Atoms>;
  readonly applied: number;
}

/**
 * The exact ledger: balances in integer atoms of the quote currency, moved only by transfers, summing to zero
 * (`engine.ledger`).
 */
export class Ledger {
  private readonly balances = new Map<EntryId, Atoms>();
  /** Transfers applied so far. The ledger keeps balances, not history: the journal is the record. */
  private applied = 0;

  /** The balance of entry `id`, atoms (0n when it never moved). */
  balance(id: EntryId): Atoms {
    return this.balances.get(id) ?? 0n;
  }

  /** Applies transfers in order, all or none (a non-positive amount or a self-transfer rejects the whole batch). @internal */
  apply(transfers: readonly Transfer[]): void {
    for (const t of transfers) {
      if (t.atoms <= 0n) throw new RangeError(`transfer ${t.reason} ${t.from} -> ${t.to}: expected atoms > 0, got ${t.atoms}`);
      if (t.from === t.to) throw new RangeError(`transfer ${t.reason}: from and to are both ${t.from}`);
    }
    for (const t of transfers) {
      this.balances.set(t.from, this.balance(t.from) - t.atoms);
      this.balances.set(t.to, this.balance(t.to) + t.atoms);
      this.applied++;
    }
  }

  /** Sum over every entry: always 0n. */
  total(): Atoms {
    let sum = 0n;
    for (const v of this.balances.values()) sum += v;
    return sum;
  }

  /** Transfers applied so far. */
  get transferCount(): number {
    return this.applied;
  }

  /** Snapshot (src/journal): balances and the transfer count, as plain data. @internal */
  exportState(): LedgerState {
    return { balances: this.balances, applied: this.applied };
  }
  /** Restores a snapshot's balances and transfer count (recovery). @internal */
  importState(s: LedgerState): void {
    refill(this.balances, s.balances);
    this.applied = s.applied;
  }

  /** Every entry and its balance, sorted by id. */
  entries(): [EntryId, Atoms][] {
    return [...this.balances].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

/** A signed amount as at most one transfer: positive flows from -> to, negative to -> from, zero is none. */
export function signedTransfer(from: EntryId, to: EntryId, atoms: Atoms, reason: TransferReason): Transfer[] {
  if (atoms === 0n) return [];
  return atoms > 0n ? [{ from, to, atoms, reason }] : [{ from: to, to: from, atoms: -atoms, reason }];
}
