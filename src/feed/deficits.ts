/**
 * Where deficits went, for the feed (server.ts): the engine's Deleveraging, SocializedLoss and UnresolvedDeficit
 * events as wire records, the part of each record a connection's topics select, and frames of bounded size.
 *
 * Selection (README "Wire protocol"): a connection whose topics select the record as a whole (all orders, the
 * record's market, or the bankrupt / covered account) gets every row; one selected only through the accounts of
 * some rows (counterparties, payers) gets those rows, with the whole record's count; any other gets nothing.
 *
 * Frames: at most `limit` rows each, a record counting 1 plus its rows. A record that does not fit in what is left
 * of a frame starts the next one; one that fits in no frame is split: each part but the last is `continued`, ends
 * its frame, and is continued by the first record of the next frame of its kind (same header, further rows).
 * No Node API: the client SDK (browser-safe) uses `PartJoiner`.
 */
import type {
  Deleveraging as EngineDeleveraging,
  SocializedLoss as EngineSocializedLoss,
  UnresolvedDeficit as EngineUnresolvedDeficit,
} from '../clearing/clearing.js';
import type { Deleveraging, SocializedLoss, UnresolvedDeficit } from './messages.js';

/** The engine's deleveraging as a whole wire record: every counterparty, numbered in queue order. */
export function deleveragingRecord(d: EngineDeleveraging): Deleveraging {
  return {
    sequence: d.sequence,
    account: d.account,
    market: d.market,
    orderId: d.orderId,
    bankruptcyPrice: d.bankruptcyPrice,
    markPrice: d.markPrice,
    absorbed: d.absorbed,
    matched: d.matched,
    remainder: d.remainder,
    realizedPnl: d.realizedPnl,
    counterparties: d.counterparties.map((c, index) => ({ account: c.account, index, quantity: c.quantity, realizedPnl: c.realizedPnl, sizeAfter: c.sizeAfter })),
    counterpartyCount: d.counterparties.length,
    continued: false,
  };
}

/** The engine's socialized loss as a whole wire record: every share, numbered. */
export function socializedLossRecord(l: EngineSocializedLoss): SocializedLoss {
  return {
    sequence: l.sequence,
    account: l.account,
    market: l.market,
    amount: l.amount,
    shares: l.shares.map((s, index) => ({ account: s.account, index, amount: s.amount })),
    shareCount: l.shares.length,
    continued: false,
    method: l.method,
  };
}

export function unresolvedDeficitRecord(u: EngineUnresolvedDeficit): UnresolvedDeficit {
  return { sequence: u.sequence, account: u.account, market: u.market, amount: u.amount, reason: u.reason };
}

/** How a kind of record is cut: its rows, and a copy with other rows. */
export interface RecordShape<R> {
  rows(r: R): readonly { readonly account: number }[];
  /** `r` carrying rows [from, to) of `rows` (the selection or the whole), marked `continued` or not. */
  withRows(r: R, rows: readonly { readonly account: number }[], continued: boolean): R;
}

export const DELEVERAGING_SHAPE: RecordShape<Deleveraging> = {
  rows: (d) => d.counterparties,
  withRows: (d, rows, continued) => ({ ...d, counterparties: rows as Deleveraging['counterparties'], continued }),
};
export const SOCIALIZED_LOSS_SHAPE: RecordShape<SocializedLoss> = {
  rows: (l) => l.shares,
  withRows: (l, rows, continued) => ({ ...l, shares: rows as SocializedLoss['shares'], continued }),
};
export const UNRESOLVED_DEFICIT_SHAPE: RecordShape<UnresolvedDeficit> = {
  rows: () => [],
  withRows: (u) => u,
};

/** A connection's topics, as far as the selection reads them. */
export interface TopicSet {
  readonly allOrders: boolean;
  readonly markets: ReadonlySet<number>;
  readonly accounts: ReadonlySet<number>;
}

/**
 * The records `topics` select, in order: whole ones as they are, the others cut to the rows of its accounts.
 * `whole` is true when every record was selected whole (the connection can share an encoding of them all).
 */
export function selectRecords<R extends { readonly account: number; readonly market: number }>(
  records: readonly R[],
  topics: TopicSet,
  shape: RecordShape<R>,
): { readonly records: R[]; readonly whole: boolean } {
  const out: R[] = [];
  let whole = true;
  for (const r of records) {
    if (topics.allOrders || topics.markets.has(r.market) || topics.accounts.has(r.account)) {
      out.push(r);
      continue;
    }
    whole = false;
    if (topics.accounts.size === 0) continue;
    const rows = shape.rows(r).filter((x) => topics.accounts.has(x.account));
    if (rows.length > 0) out.push(shape.withRows(r, rows, false));
  }
  return { records: out, whole };
}

/** Cuts records into frames of at most `limit` (>= 2) rows, a record counting 1 plus its rows (see the header). */
export function packRecords<R>(records: readonly R[], shape: RecordShape<R>, limit: number): R[][] {
  const frames: R[][] = [];
  let frame: R[] = [];
  let used = 0;
  const flush = (): void => {
    if (frame.length > 0) frames.push(frame);
    frame = [];
    used = 0;
  };
  for (const r of records) {
    const rows = shape.rows(r);
    const n = rows.length;
    let from = 0;
    for (;;) {
      const room = limit - used - 1; // rows that fit beside the record itself
      if (n - from <= room) {
        frame.push(from === 0 ? r : shape.withRows(r, rows.slice(from), false));
        used += 1 + n - from;
        break;
      }
      // Whole in a fresh frame: start one rather than cut the record.
      if (from === 0 && n + 1 <= limit) {
        flush();
        continue;
      }
      if (room >= 1) {
        frame.push(shape.withRows(r, rows.slice(from, from + room), true));
        from += room;
      }
      flush();
    }
  }
  flush();
  return frames;
}

/**
 * Joins the parts of split records back together, frame by frame (the client SDK). Records of one kind arrive in
 * order on a connection, so the record that continues a part is the first of the next frame of its kind.
 */
export class PartJoiner<R extends { readonly sequence: number; readonly account: number; readonly market: number; readonly continued: boolean }> {
  private pending: R | undefined;

  constructor(private readonly join: (head: R, next: R) => R) {}

  /** The whole records one frame completes, in order; a continued last record waits for the next frame. */
  push(records: readonly R[]): R[] {
    const out: R[] = [];
    for (const r of records) {
      let whole = r;
      const head = this.pending;
      if (head !== undefined) {
        this.pending = undefined;
        if (head.sequence === r.sequence && head.account === r.account && head.market === r.market) whole = this.join(head, r);
        // The rest of `head` never came (not something a server does): passed on as it is, still marked continued.
        else out.push(head);
      }
      if (whole.continued) this.pending = whole;
      else out.push(whole);
    }
    return out;
  }

  /** Drops a part waiting for its rest (the connection it came on is gone). */
  reset(): void {
    this.pending = undefined;
  }
}

export const joinDeleveragings = (head: Deleveraging, next: Deleveraging): Deleveraging => ({
  ...head,
  counterparties: [...head.counterparties, ...next.counterparties],
  continued: next.continued,
});
export const joinSocializedLosses = (head: SocializedLoss, next: SocializedLoss): SocializedLoss => ({
  ...head,
  shares: [...head.shares, ...next.shares],
  continued: next.continued,
});
