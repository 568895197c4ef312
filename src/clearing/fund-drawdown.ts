/**
 * Thread: main (the clearing's side). The insurance funds' drawdown limit (docs/domain.md section 4, OKX: 30% in 8 h):
 * per fund, a sliding-window maximum of its balance in event time, and what the fund may still pay now. A fund
 * covers losses up to `max` of its peak within the window and no further: the cover that reaches the limit is cut
 * there, and the rest falls to the deficit policy. Exact: atoms, and `max` in parts per million.
 */
import { refill } from '../maps.js';
import type { EntryId } from '../ledger/ledger.js';
import { min, type Atoms } from '../ledger/money.js';

export interface DrawdownLimit {
  /** Fraction of the peak a fund may lose within the window, (0, 1]; Infinity: no limit. */
  readonly max: number;
  /** Microseconds of event time. */
  readonly windowUs: number;
}

export type DrawdownState = ReadonlyMap<EntryId, { time: number; atoms: Atoms }[]>;

export class FundDrawdown {
  /** Per fund: (event time, balance) samples within the window that may still be its peak, oldest first. */
  private readonly history = new Map<EntryId, { time: number; atoms: Atoms }[]>();

  constructor(private readonly limit: DrawdownLimit) {}

  /** Snapshot (src/journal): the samples, as plain data. */
  exportState(): DrawdownState {
    return this.history;
  }
  importState(s: DrawdownState): void {
    refill(this.history, s);
  }

  /** What a fund holding `balance` may pay at `now`: the balance, less what would take it past the limit. */
  coverable(fund: EntryId, balance: Atoms, now: number): Atoms {
    const { max, windowUs } = this.limit;
    if (!Number.isFinite(max)) return balance;
    let peak = balance;
    for (const h of this.history.get(fund) ?? []) if (h.time >= now - windowUs && h.atoms > peak) peak = h.atoms;
    if (peak <= 0n) return balance;
    // The fund may lose up to max * peak within the window (max in parts per million, rounded down).
    const allowed = (peak * BigInt(Math.round(max * 1_000_000))) / 1_000_000n - (peak - balance);
    return allowed <= 0n ? 0n : min(allowed, balance);
  }

  /** Records a fund's balance at `now` (dropping the samples the window has left behind). */
  record(fund: EntryId, balance: Atoms, now: number): void {
    if (!Number.isFinite(this.limit.max)) return;
    // A sliding-window maximum: a sample no larger than a later one can never be the peak again, so it goes.
    const history = this.history.get(fund) ?? [];
    while (history.length > 0 && history[history.length - 1]!.atoms <= balance) history.pop();
    history.push({ time: now, atoms: balance });
    while (history.length > 0 && history[0]!.time < now - this.limit.windowUs) history.shift();
    this.history.set(fund, history);
  }
}
