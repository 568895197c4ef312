/**
 * Thread: main (the clearing's side). The ADL queues of one batch of deleveragings: an epoch's screening, or the
 * resolution of one fill's deficit. Each (market, side) queue is ranked once, when the batch first needs it
 * (src/domain/adl.ts: positive equity only, leveraged-PnL rank), then consumed from the top: a counterparty
 * partly taken keeps its place, as on the venues that publish a queue. So a crash that deleverages thousands of
 * positions in one epoch ranks each queue once, not once per position.
 *
 * A counterparty gives at most what keeps its own group's equity >= 0, in base units at a price worse than the mark
 * (`take`) or in quote for what a flat bankrupt group still owes (`holders`, `spend`): the book tracks each group's
 * equity as the batch moves it, so a cross account met in several queues is not charged twice for the same equity.
 */
import { adlMatches, adlOrder, type AdlCandidate, type AdlMatch, type Side } from '../domain/adl.js';

/** One counterparty position: its account (id and row), slot, margin group, and the base units it can still give. */
export interface BookEntry {
  readonly account: number;
  readonly a: number;
  readonly slot: number;
  /** The margin group: the account row for a cross position, a key of its own for an isolated one. */
  readonly group: number;
  /** |size| not yet taken by this batch. */
  left: number;
  /** The group's equity when the queue was ranked (the book's own record takes over once the group is met). */
  readonly equity: number;
}

/** What the clearing supplies: the candidates of a queue, and a group's equity now. */
export interface BookSource {
  /** The positions on the side opposite to `side` in market row `m` that may be counterparties, valid as `adlOrder` needs. */
  candidates(m: number, side: Side): { readonly candidate: AdlCandidate; readonly a: number; readonly slot: number; readonly group: number }[];
  equityOf(group: number, slot: number): number;
}

/** A match of `take`, with where its counterparty lives. */
export interface BookMatch extends AdlMatch {
  readonly a: number;
  readonly slot: number;
}

/**
 * A queue being consumed: `head` skips the entries whose size is used up; `giving` also skips those whose equity is
 * used up, for matches that cost the counterparty (a crash's usual case), so a long batch does not walk them again.
 * Equity only falls through such matches, so an entry behind `giving` rarely could give again; if a gain raised it,
 * it is passed over for losses in this batch (never charged beyond its equity).
 */
interface Queue {
  readonly entries: BookEntry[];
  head: number;
  giving: number;
}

export class AdlBook {
  private readonly queues = new Map<number, Queue>();
  /** Equity of each group met so far, as this batch's matches left it. */
  private readonly equity = new Map<number, number>();

  constructor(
    private readonly source: BookSource,
    /** One atom of quote: the margin a counterparty keeps per match against rounding. */
    private readonly atom: number,
  ) {}

  /** Whether anyone in the queue of market row `m` against a bankrupt position on `side` can still give anything. */
  hasCounterparty(m: number, side: Side): boolean {
    const q = this.queue(m, side);
    this.advance(q, true);
    return q.giving < q.entries.length;
  }

  /** Moves `head` past used-up sizes and, when `losses`, `giving` past used-up equity too. */
  private advance(q: Queue, losses: boolean): void {
    while (q.head < q.entries.length && !(q.entries[q.head]!.left > 0)) q.head++;
    if (q.giving < q.head) q.giving = q.head;
    if (!losses) return;
    while (q.giving < q.entries.length) {
      const e = q.entries[q.giving]!;
      if (e.left > 0 && this.equityLeft(e) > this.atom) break;
      q.giving++;
    }
  }

  /**
   * Matches up to `quantity` of a bankrupt position on `side` in market row `m` at `price` (valued against `mark`),
   * in queue order: each counterparty gives at most its size left and, when the price is worse for it than the mark,
   * what its equity holds. The matched quantities are exact as `adlMatches` makes them.
   */
  take(m: number, side: Side, quantity: number, price: number, mark: number): { matches: BookMatch[]; matched: number; remainder: number } {
    const q = this.queue(m, side);
    // What one unit costs a counterparty against the mark: > 0 when the bankrupt position's price is worse for it.
    const loss = side * (price - mark);
    this.advance(q, loss > 0);
    const picked: { entry: BookEntry; size: number }[] = [];
    let cum = 0;
    for (let i = loss > 0 ? q.giving : q.head; i < q.entries.length && cum < quantity; i++) {
      const e = q.entries[i]!;
      if (!(e.left > 0)) continue;
      const room = loss > 0 ? Math.max(0, this.equityLeft(e) - this.atom) / loss : e.left;
      const size = Math.min(e.left, room);
      if (!(size > 0)) continue;
      picked.push({ entry: e, size });
      cum += size;
    }
    const bySide = -side;
    const result = adlMatches({ size: side * quantity, bankruptcyPrice: price }, picked.map((p, i) => ({ account: i, size: bySide * p.size })));
    const matches = result.matches.map((x) => {
      const e = picked[x.account]!.entry;
      e.left = Math.max(0, e.left - x.quantity);
      this.equity.set(e.group, this.equityLeft(e) - x.quantity * loss);
      return { account: e.account, quantity: x.quantity, price: x.price, a: e.a, slot: e.slot };
    });
    return { matches, matched: result.matched, remainder: result.remainder };
  }

  /**
   * The counterparties of market row `m` against a bankrupt position on `side` that still hold equity, in queue order,
   * each with the equity it holds now (quote): for charging a deficit left when nothing of the position remains to
   * close. `spend` records what one of them paid.
   */
  *holders(m: number, side: Side): Generator<{ readonly entry: BookEntry; readonly equity: number }> {
    const q = this.queue(m, side);
    this.advance(q, true);
    for (let i = q.giving; i < q.entries.length; i++) {
      const e = q.entries[i]!;
      const equity = this.equityLeft(e);
      if (equity > this.atom) yield { entry: e, equity };
    }
  }

  spend(e: BookEntry, quote: number): void {
    this.equity.set(e.group, this.equityLeft(e) - quote);
  }

  /** A group's equity changed outside this book's matches (the bankrupt group after its close): read it afresh. */
  refresh(group: number, slot: number): void {
    this.equity.set(group, this.source.equityOf(group, slot));
  }

  private equityLeft(e: BookEntry): number {
    return this.equity.get(e.group) ?? e.equity;
  }

  private queue(m: number, side: Side): Queue {
    const key = 2 * m + (side > 0 ? 1 : 0);
    let q = this.queues.get(key);
    if (q === undefined) {
      const found = this.source.candidates(m, side);
      q = {
        entries: adlOrder(
          found.map((f) => f.candidate),
          side,
        ).map((r) => {
          const f = found[r.index]!;
          // A group this batch already met keeps the equity its matches left it; others are as ranked now.
          return { account: f.candidate.account, a: f.a, slot: f.slot, group: f.group, left: Math.abs(f.candidate.size), equity: f.candidate.equity };
        }),
        head: 0,
        giving: 0,
      };
      this.queues.set(key, q);
    }
    return q;
  }
}
