/**
 * Thread: main. Clearing of liquidation fills: the exact ledger (src/ledger) beside the tables, and the fills of our
 * orders applied to both. Runs where the writer runs, in input sequence order.
 *
 * The ledger is the book of record for money. Collateral the venue sets (addAccount, setCollateral, an isolated
 * position's collateral) enters as a transfer from `external` of the difference, so the ledger always sums to
 * zero; a fill settles realized PnL against the market's clearing entry, then the fee into the insurance fund or
 * the fund's cover of a fill worse than the bankruptcy value (docs/domain.md section 2). After a fill, the tables'
 * collateral is the ledger's balance and the position's size shrinks by the fill.
 *
 * Deficits (docs/domain.md section 4; README "Liquidation procedures"). Under deficitPolicy 'adl' an order whose fill at
 * its limit would need more than the fund can pay is not let through: at the epoch's end (`screen`) its quantity is
 * deleveraged at the bankruptcy value instead (dYdX). A deficit that still arises (the fund drained or the price
 * moved between issue and fill) is resolved where the fill lands: 'adl' deleverages what is left of the group at
 * its bankruptcy values, which takes its equity to 0, and has the ADL queue pay, in rank order, what a flat group
 * still owes; 'socialized' has the opposite side pay it pro rata. Nobody pays beyond its own equity. What no one
 * can absorb is an UnresolvedDeficit event naming account, market and amount: never silent bad debt.
 */
import { adlQueue, type AdlCandidate, type AdlQueueEntry, type Side } from '../domain/adl.js';
import { deleveragePrice } from '../domain/liquidation.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { entry, Ledger, signedTransfer, type EntryId, type LedgerState } from '../ledger/ledger.js';
import { max, min, Money, type Atoms } from '../ledger/money.js';
import { proRataShares } from '../ledger/pro-rata.js';
import type { FeePolicy } from '../config-types.js';
import { collateralEntry, fundEntry, settleClose, type LedgerSettlement } from '../ledger/settle.js';
import { crossGroup, emptyGroup, isLiveCross, isolatedGroup, type GroupMargin } from '../scan/group.js';
import { isolatedRef, LiquidationMode, NONE, PositionFlag, type Tables } from '../tables/layout.js';
import { marketMaintenance, positionMaintenance } from '../tables/margin.js';
import { AdlBook, type BookSource } from './adl-book.js';
import { FundDrawdown, type DrawdownLimit, type DrawdownState } from './fund-drawdown.js';
import { describe, MAX_ABS_AMOUNT, requireArray, requireEventTime, requireId, requireObject, requirePrice } from '../validate.js';
import type { Landing, TableWriter } from '../tables/writer.js';
import { OpenOrders, type OpenOrdersState, type Fill } from './open-orders.js';
import { orderIdParts, type LiquidationOrder, type TakeoverOrder } from './orders.js';

/** A counterparty's part of a deleveraging: it closed `quantity` toward 0 at the bankruptcy price. */
export interface DeleveragedCounterparty {
  /** The counterparty's account. */
  readonly account: number;
  /** Base units it closed, > 0. */
  readonly quantity: number;
  /** The PnL it realized closing them, quote units. */
  readonly realizedPnl: number;
  /** Its signed size in the market after. */
  readonly sizeAfter: number;
}

/**
 * A bankrupt position closed against the ADL queue at its bankruptcy value (docs/domain.md section 4): the price that
 * leaves the group's TNC / TMMR unchanged, so that closing all of the group takes its equity to 0, each position
 * carrying the share of the deficit its maintenance margin has (dYdX).
 */
export interface Deleveraging {
  /** The input sequence number it landed under. */
  readonly sequence: number;
  /** The bankrupt account. */
  readonly account: number;
  /** The market of the position closed. */
  readonly market: number;
  /** The order this deleveraging replaced (its fill would have needed more than the insurance fund could pay), if any. */
  readonly orderId: string | null;
  /** The price it closed at, quote per base unit. */
  readonly bankruptcyPrice: number;
  /** The mark price the group was valued at. */
  readonly markPrice: number;
  /**
   * Quote the counterparties gave up against the mark: sign(size) * matched * (bankruptcyPrice - markPrice). Positive
   * when they absorbed a deficit (the group's equity was negative), negative when the group's last equity went to them.
   */
  readonly absorbed: number;
  /** Base units closed against counterparties. */
  readonly matched: number;
  /** Base units the opposite side could not take (left open). */
  readonly remainder: number;
  /** The PnL the bankrupt account realized, quote units. */
  readonly realizedPnl: number;
  /** Who took the position, in ADL queue order. */
  readonly counterparties: DeleveragedCounterparty[];
}

/** A deficit paid by other accounts' collateral (positive equity only, none beyond it): see `method`. */
export interface SocializedLoss {
  /** The input sequence number it landed under. */
  readonly sequence: number;
  /** The account whose deficit was covered. */
  readonly account: number;
  /** The market of the fill that left the deficit. */
  readonly market: number;
  /** Quote units covered: all of the deficit, unless the payers' equity could not hold it. */
  readonly amount: number;
  /** Each payer and the quote it paid, >= 0, summing to `amount`. */
  readonly shares: { readonly account: number; readonly amount: number }[];
  /**
   * 'pro-rata': the opposite side by size (deficitPolicy 'socialized'); 'adl-queue': the ADL queue in rank order,
   * for what an 'adl' deficit left once nothing of the position remained to deleverage.
   */
  readonly method: 'pro-rata' | 'adl-queue';
}

/** Why a deficit was left unabsorbed. */
export type UnresolvedReason = 'no-counterparty' | 'halted' | 'auto-deleverage-off';

/**
 * A deficit the configured policy could not absorb, named so that it is never silent bad debt: the negative balance
 * a group is left with once it holds no position, reported once, then.
 */
export interface UnresolvedDeficit {
  /** The input sequence number it landed under. */
  readonly sequence: number;
  /** The account left with the negative balance. */
  readonly account: number;
  /** The market whose position left it. */
  readonly market: number;
  /** Quote units, > 0. */
  readonly amount: number;
  /** 'no-counterparty': nobody with positive equity on the other side; 'halted': the kill switch halts the market. */
  readonly reason: UnresolvedReason;
}

/** An account that pays part of another's deficit, from the collateral of its position at `slot`. */
interface Payer {
  readonly account: number;
  readonly slot: number;
  readonly atoms: Atoms;
}

/**
 * A position taken off the book by a backstop vault (execution strategy 'backstop'): the liquidated account's part
 * settles as a fill at `price` (`settlement`: fee, the insurance fund's cover, a deficit for the policy), and the
 * vault's position in the market grows by what it took (or an opposite one shrinks, its PnL realized).
 */
export interface Takeover {
  /** The input sequence number it landed under. */
  readonly sequence: number;
  /** The takeover's id, derived as an order's. */
  readonly id: string;
  /** The liquidated account. */
  readonly account: number;
  /** The market. */
  readonly market: number;
  /** The vault's account id. */
  readonly vault: number;
  /** Base units taken, > 0. */
  readonly quantity: number;
  /** The price the vault took it at, quote per base unit. */
  readonly price: number;
  /** The mark price at the takeover. */
  readonly markPrice: number;
  /** The liquidated account's side of it, as a fill of order `id`. */
  readonly settlement: Settlement;
  /** The vault's position after, and what it realized closing part of an opposite one (quote). */
  readonly vaultSizeAfter: number;
  /** The vault position's entry price after. */
  readonly vaultEntryPrice: number;
  /** What the vault realized closing part of an opposite position, quote units. */
  readonly vaultRealizedPnl: number;
  /** The vault's cross collateral after, quote units. */
  readonly vaultCollateralAfter: number;
}

/** Where the clearing's outputs go, each as it lands (in input order). */
export interface ClearingEvents {
  settled(s: Settlement): void;
  takenOver(t: Takeover): void;
  deleveraged(d: Deleveraging): void;
  socialized(l: SocializedLoss): void;
  unresolved(u: UnresolvedDeficit): void;
  /** An order being screened that, filled whole at its limit, would need more than its fund can pay (a shard reports it). */
  short?(o: LiquidationOrder): void;
}

/** What an order would settle filled whole at its limit price now, and the ADL matches if the fund cannot pay. */
export interface FillPreview {
  /** Into the insurance fund, quote units. */
  readonly fee: number;
  /** Paid by the insurance fund, quote units. */
  readonly insuranceDraw: number;
  /** What the fund could not pay, quote units. */
  readonly deficit: number;
  /** The account's realized PnL, quote units. */
  readonly realizedPnl: number;
  /** Where a deficit remains: the counterparties deleveraging would take the order's quantity from, in queue order. */
  readonly adl: { readonly account: number; readonly quantity: number; readonly price: number }[];
}

/** A fill as it settled: the money moved, in quote units (exact: atoms / 10^decimals) and the position after it. */
export interface Settlement extends Fill {
  /** The input sequence the fill took. */
  readonly sequence: number;
  /** Base units actually closed: the fill's quantity, or less when the position had shrunk meanwhile. */
  readonly closed: number;
  /** The PnL realized by the close, quote units. */
  readonly realizedPnl: number;
  /** Into the insurance fund. */
  readonly fee: number;
  /** Paid by the insurance fund. */
  readonly insuranceCover: number;
  /** The part of a fill worse than the bankruptcy value the fund could not pay (for ADL or socialized loss). */
  readonly deficit: number;
  /** The closed quantity valued at the bankruptcy price, quote units: the line between fee and cover. */
  readonly bankruptcyValue: number;
  /** Signed size left. */
  readonly sizeAfter: number;
  /** The collateral the position settles against (cross, or the isolated position's own), after the fill. */
  readonly collateralAfter: number;
  /** The order's quantity still open. */
  readonly orderRemaining: number;
}

export interface ClearingConfig {
  readonly quoteDecimals: number;
  /**
   * The insurance fund covers losses up to this fraction of its peak within the window and no further (OKX: 30% in
   * 8 h; src/clearing/fund-drawdown.ts); the rest falls to the deficit policy. `max` Infinity: no limit.
   */
  readonly fundDrawdown: DrawdownLimit;
  /** Who bears a deficit the insurance fund could not pay: 'adl' (the ADL queue at the bankruptcy value) or 'socialized'. */
  readonly deficitPolicy: 'adl' | 'socialized';
  /** Under 'adl': deleverage instead of an order the fund cannot pay, and what is left after an uncovered fill. */
  readonly autoDeleverage: boolean;
  readonly fees: FeePolicy;
  readonly maxOpenOrders: number;
  /** A fill may beat its order's limit by at most this fraction of the order's oracle price. */
  readonly fillPriceBand: number;
  /** Event time an order may stay open; then the engine times it out and re-evaluates its position. */
  readonly orderTimeoutUs: number;
}

export interface ClearingState {
  readonly ledger: LedgerState;
  readonly orders: OpenOrdersState;
  readonly fundHistory: DrawdownState;
}

export class Clearing {
  readonly ledger = new Ledger();
  readonly money: Money;
  private readonly orders: OpenOrders;
  private readonly g = emptyGroup();
  /** Per fund: (event time, balance) samples within the drawdown window that may still be its peak, oldest first. */
  private readonly drawdown: FundDrawdown;
  /** During `screen`: the position slots the epoch's orders liquidate, and the book its deleveragings share. */
  private readonly screening = new Set<number>();
  private screenBook: AdlBook | undefined;
  /** The book's view of the tables: candidates of a queue, a group's equity. */
  private readonly bookSource: BookSource = {
    candidates: (m, side) => this.candidatesOf(m, side),
    equityOf: (group, slot) => this.groupOf(this.t.positions.account[slot]!, slot).equity,
  };

  constructor(
    private readonly t: Tables,
    private readonly writer: TableWriter,
    private readonly config: ClearingConfig,
    private readonly events: ClearingEvents,
  ) {
    this.money = new Money(config.quoteDecimals);
    this.orders = new OpenOrders(config.maxOpenOrders, config.fillPriceBand);
    this.drawdown = new FundDrawdown(config.fundDrawdown);
  }

  /** Snapshot (src/journal): ledger, open orders and the funds' drawdown history, as plain data. */
  exportState(): ClearingState {
    return { ledger: this.ledger.exportState(), orders: this.orders.exportState(), fundHistory: this.drawdown.exportState() };
  }
  importState(s: ClearingState): void {
    this.ledger.importState(s.ledger);
    this.orders.importState(s.orders);
    this.drawdown.importState(s.fundHistory);
    // The tables came with the snapshot; their open-orders counts are the restored open orders', counted again.
    const w = this.writer;
    const counts = new Map<number, number>();
    for (const [account, markets] of this.orders.perPositionCounts()) {
      for (const [market, n] of markets) {
        const slot = w.hasAccount(account) && w.hasMarket(market) ? w.findSlot(w.accountIndexOf(account), w.marketIndexOf(market)) : undefined;
        if (slot !== undefined) counts.set(slot, n);
      }
    }
    w.restoreOpenOrders(counts);
  }

  /** The orders issued and not yet filled or expired, in issue order, with their open quantity. */
  openOrders(): { readonly order: LiquidationOrder; readonly remaining: number }[] {
    return this.orders.list();
  }

  /**
   * An epoch's orders, in emission order, before they leave: each is opened (fills of it will be accepted; its
   * position's positions.openOrders goes up, so the executor orders it no more until the order ends) with what
   * it would draw from its insurance fund filled whole at its limit held back from later orders. Under 'adl' with
   * autoDeleverage, an order whose fill would need more than the fund can pay (its balance under the drawdown limit,
   * less what open orders would draw) is not let through while someone can take it: its quantity is deleveraged at
   * the bankruptcy value instead, landing where inputs land. Returns the orders to emit. Deterministic: the tables
   * and funds are those of the epoch's inputs (later inputs are staged until it ends).
   */
  screen(orders: readonly LiquidationOrder[], nowUs: number): LiquidationOrder[] {
    const kept: LiquidationOrder[] = [];
    const w = this.writer;
    const adl = this.config.deficitPolicy === 'adl' && this.config.autoDeleverage;
    const located = orders.map((o) => {
      const a = w.accountIndexOf(o.account);
      const m = w.marketIndexOf(o.market);
      return { a, m, slot: w.findSlot(a, m) };
    });
    // Every position this epoch orders is being liquidated: none of them is an ADL counterparty of another.
    for (const { slot } of located) if (slot !== undefined) this.screening.add(slot);
    const book = this.newBook();
    this.screenBook = book;
    // Deleveragings staged behind inputs that arrived during the epoch land together (nothing can come between
    // them), so they share one book, ranked when the first lands.
    const later: { book?: AdlBook } = {};
    for (const [i, o] of orders.entries()) {
      const { a, m, slot } = located[i]!;
      // A position this screening already closed (it cannot be: counterparties exclude ordered positions) gets no order.
      if (slot === undefined || this.t.positions.updateSequence[slot] !== o.positionSequence) continue;
      const s = this.settlementOf(a, slot, o.quantity, o.limitPrice, true).settlement;
      if (s !== undefined && s.deficit > 0n) this.events.short?.(o);
      if (adl && s !== undefined && s.deficit > 0n && book.hasCounterparty(m, o.side === 'sell' ? 1 : -1)) {
        w.sequenced((sequence) => {
          // Landing now (nothing staged): this screening's book; landing later, behind staged inputs: one of their own.
          const b = this.screenBook ?? (later.book ??= this.newBook());
          const d = this.deleverageAt(a, slot, sequence, o.quantity, o.id, b);
          // Nothing to deleverage by the time it landed: a new position state, so the executor plans it afresh.
          if (d === undefined) this.restamp(slot, sequence);
          else this.reportIfBankruptAndFlat(a, slot, sequence, 'no-counterparty');
        });
        continue;
      }
      const forgotten = this.orders.add(o, nowUs, s !== undefined && s.insuranceCover > 0n ? { fund: fundEntry(this.config.fees, o.market), atoms: s.insuranceCover } : undefined);
      // The executor orders this position no more until the order ends (behind the inputs staged meanwhile).
      w.afterWrites(() => w.countOpenOrderAt(slot, 1));
      if (forgotten !== undefined) {
        // Past the bound the oldest open order is forgotten: it no longer holds its position back.
        const old = w.findSlot(w.accountIndexOf(forgotten.account), w.marketIndexOf(forgotten.market));
        if (old !== undefined) w.afterWrites(() => w.countOpenOrderAt(old, -1));
      }
      kept.push(o);
    }
    this.screening.clear();
    this.screenBook = undefined;
    return kept;
  }

  /**
   * An epoch's takeovers (src/clearing/orders.ts TakeoverOrder), in emission order, land where inputs land: each
   * settles the account's quantity as a fill at the vault's price (the fund's cover and the deficit policy below its
   * bankruptcy value, as for any fill) and moves it into the vault's cross position. A takeover whose position has
   * changed since the decision, or that the vault can no longer hold (the market held isolated, no free slot), does
   * not land: its position is re-stamped so the executor plans it afresh. Deterministic as `screen`.
   */
  takeOver(takeovers: readonly TakeoverOrder[], nowUs: number): void {
    const w = this.writer;
    const batch: { book?: AdlBook } = {};
    for (const o of takeovers) {
      const a = w.accountIndexOf(o.account);
      const m = w.marketIndexOf(o.market);
      const v = w.accountIndexOf(o.vault);
      w.sequenced((sequence) => {
        const slot = w.findSlot(a, m);
        if (slot === undefined || this.t.positions.updateSequence[slot] !== o.positionSequence || this.t.positions.size[slot] === 0) return;
        const vaultSlot = w.findSlot(v, m);
        if (vaultSlot !== undefined && this.isIsolated(vaultSlot)) return this.restamp(slot, sequence);
        const vs = w.slotAt(v, m);
        if (vs === undefined) return this.restamp(slot, sequence);
        const side = Math.sign(this.t.positions.size[slot]!);
        const mark = this.t.markets.markPrice[m]!;
        const fill: Fill = { orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.price, eventTimeUs: Math.max(nowUs, this.t.markets.eventTimeUs[m]!) };
        const { settlement, deficit } = this.settle(fill, a, slot, sequence, 0);
        w.countBackstopAt(a); // the executor's lifecycle: backstopped
        const vault = this.addToVault(v, vs, side * settlement.closed, o.price, sequence);
        batch.book?.refresh(this.groupKey(a, slot), slot);
        this.events.takenOver({ sequence, id: o.id, account: o.account, market: o.market, vault: o.vault, quantity: settlement.closed, price: o.price, markPrice: mark, settlement, ...vault });
        if (deficit > 0n) this.resolveDeficit(a, slot, side, deficit, sequence, (batch.book ??= this.newBook()));
      });
    }
  }

  /**
   * Adds `delta` base units (signed) at `price` to the vault's cross position at `slot`: an opposite position closes
   * first, its PnL realized against the market's clearing entry; what opens carries `price` into the entry price.
   */
  private addToVault(v: number, slot: number, delta: number, price: number, sequence: number): { vaultSizeAfter: number; vaultEntryPrice: number; vaultRealizedPnl: number; vaultCollateralAfter: number } {
    const p = this.t.positions;
    const size = p.size[slot]!;
    const entryPrice = p.entryPrice[slot]!;
    let realized = 0n;
    let after: number;
    let entryAfter: number;
    if (size !== 0 && Math.sign(size) !== Math.sign(delta)) {
      const closed = Math.min(Math.abs(delta), Math.abs(size));
      realized = this.money.floor(Math.sign(size) * closed * (price - entryPrice));
      this.ledger.apply(signedTransfer(entry.clearing(this.t.markets.id[p.market[slot]!]!), entry.account(this.t.accounts.id[v]!), realized, 'realized-pnl'));
      after = size + delta;
      // Within 1e-12 of the size: flat (as a close's remainder is).
      if (Math.abs(after) <= 1e-12 * Math.abs(size)) after = 0;
      entryAfter = Math.sign(after) === Math.sign(size) ? entryPrice : price;
    } else {
      after = size + delta;
      entryAfter = (Math.abs(size) * entryPrice + Math.abs(delta) * price) / Math.abs(after);
    }
    this.writer.setPositionAt(slot, after, entryAfter, null, sequence);
    const collateral = this.money.toQuote(this.ledger.balance(entry.account(this.t.accounts.id[v]!)));
    this.writer.setCollateralAt(v, collateral);
    return { vaultSizeAfter: after, vaultEntryPrice: after === 0 ? 0 : entryAfter, vaultRealizedPnl: this.money.toQuote(realized), vaultCollateralAfter: collateral };
  }

  /** The venue set an entry's balance (collateral): the difference moves from or to `external`. */
  setBalance(id: EntryId, quote: number): void {
    const delta = this.money.round(quote) - this.ledger.balance(id);
    this.ledger.apply(signedTransfer(entry.external, id, delta, delta >= 0n ? 'deposit' : 'withdrawal'));
  }

  /** Money into an insurance fund from outside (seeding it): checked now, paid in by the landing. */
  prepareDeposit(market: number | 'pooled', quote: number): Landing {
    if (market !== 'pooled') this.writer.marketIndexOf(requireId(market, 'market'));
    if (typeof quote !== 'number' || !(quote > 0 && quote <= MAX_ABS_AMOUNT)) {
      throw new UnwindError(ErrorCode.InvalidAmount, `expected an amount in (0, ${MAX_ABS_AMOUNT}], got ${describe(quote)}`, 'amount');
    }
    const atoms = this.money.round(quote);
    if (atoms <= 0n) throw new UnwindError(ErrorCode.InvalidAmount, `expected an amount > 0, got ${quote}`, 'amount');
    return () => {
      this.ledger.apply([{ from: entry.external, to: entry.fund(market), atoms, reason: 'deposit' }]);
      let now = 0;
      for (const time of this.t.markets.eventTimeUs) if (time > now) now = time;
      this.drawdown.record(entry.fund(market), this.ledger.balance(entry.fund(market)), now);
    };
  }

  insuranceFund(market: number | 'pooled'): number {
    return this.money.toQuote(this.ledger.balance(entry.fund(market)));
  }

  /**
   * Checks fills of our orders (against the open orders and the positions, all before any); the landing takes
   * them and settles each in input order where the writer lands values; the events hear each settlement, and what
   * its deficit led to.
   */
  prepareFills(fills: readonly Fill[]): Landing {
    const w = this.writer;
    // Types first: the checks against the open orders compare and print these fields. Not forEach: it skips holes.
    for (let i = 0; i < fills.length; i++) {
      const f = requireObject(fills[i], `[${i}]`, 'a fill { orderId, account, market, quantity, price, eventTimeUs }');
      if (typeof f.orderId !== 'string') throw new UnwindError(ErrorCode.InvalidArgument, `expected an order id (a string), got ${describe(f.orderId)}`, `[${i}].orderId`);
      requireId(f.account, `[${i}].account`);
      requireId(f.market, `[${i}].market`);
      if (typeof f.quantity !== 'number') throw new UnwindError(ErrorCode.InvalidFill, `expected a finite quantity > 0, got ${describe(f.quantity)}`, `[${i}].quantity`);
      requirePrice(f.price, `[${i}].price`);
    }
    // A shard checks the fills of accounts it does not hold without their orders (foreignFill), and lands them as
    // their market's event time alone, under the sequence number a single engine would give them.
    const held = fills.map((f) => w.holds(f.account));
    this.orders.check(fills, held);
    const slots = fills.map((f, i) => {
      requirePrice(f.price, `[${i}].price`);
      requireEventTime(f.eventTimeUs, this.writer.latestTimeUs, `[${i}].eventTimeUs`);
      if (!held[i]) return { a: NONE, slot: foreignFill(f, i, w) };
      const a = w.accountIndexOf(f.account, `[${i}].account`);
      const m = w.marketIndexOf(f.market, `[${i}].market`);
      const slot = w.findSlot(a, m);
      if (slot === undefined || this.t.positions.size[slot] === 0) {
        throw new UnwindError(ErrorCode.InvalidFill, `account ${f.account} holds no position in market ${f.market}`, `[${i}]`);
      }
      return { a, slot };
    });
    return () => {
      const taken = this.orders.take(fills, held);
      // The fills of one batch land together (nothing can come between them), so their deleveragings share one
      // book, ranked when the first deficit needs it; each fill's own group is read afresh as it settles.
      const batch: { book?: AdlBook } = {};
      fills.forEach((f, i) => {
        const { a, slot } = slots[i]!;
        // Another shard's: its market's event time moves as the fill's settlement would move it (slot: the market row).
        if (a === NONE) return void w.sequenced(() => w.advanceTime(slot, f.eventTimeUs));
        w.sequenced((sequence) => {
          const side = Math.sign(this.t.positions.size[slot]!); // before the fill: the side whose opposite pays
          const { settlement, deficit } = this.settle(f, a, slot, sequence, taken[i]!.remaining);
          if (settlement.insuranceCover > 0) w.countBackstopAt(a); // the executor's lifecycle: backstopped
          if (taken[i]!.ended) w.countOpenOrderAt(slot, -1); // filled whole: the executor may order the position again
          batch.book?.refresh(this.groupKey(a, slot), slot);
          this.events.settled(settlement);
          // The fund could not cover this fill. Same input, same sequence: the result does not depend on when it landed.
          if (deficit > 0n) this.resolveDeficit(a, slot, side, deficit, sequence, (batch.book ??= this.newBook()));
        });
      });
    };
  }

  /**
   * Orders that expired unfilled (IOCs the book could not take), all checked before any is taken (UNKNOWN_ORDER,
   * a repeated id INVALID_FILL, naming `[i]`): each is forgotten and its position re-stamped with an input sequence
   * of its own, so the executor re-evaluates the account and, if it is still liquidatable, issues a new order whose
   * id carries that sequence.
   */
  prepareExpiries(orderIds: readonly string[]): Landing {
    const w = this.writer;
    const seen = new Set<string>();
    requireArray(orderIds, 'orderIds', 'order ids');
    // Not map alone: it skips holes.
    for (let i = 0; i < orderIds.length; i++) {
      if (typeof orderIds[i] !== 'string') throw new UnwindError(ErrorCode.InvalidArgument, `expected an order id (a string), got ${describe(orderIds[i])}`, `[${i}]`);
    }
    const slots = orderIds.map((id, i) => {
      if (seen.has(id)) throw new UnwindError(ErrorCode.InvalidFill, `order ${JSON.stringify(id)} appears twice`, `[${i}]`);
      seen.add(id);
      // An order of an account another shard holds: its id is all there is to check here.
      const parts = orderIdParts(id);
      if (parts !== undefined && !w.holds(parts.account)) return NONE;
      const order = this.orders.get(id, `[${i}]`);
      const slot = w.findSlot(w.accountIndexOf(order.account), w.marketIndexOf(order.market));
      if (slot === undefined) throw new UnwindError(ErrorCode.InvalidFill, `account ${order.account} holds no position in market ${order.market}`, `[${i}]`);
      return slot;
    });
    return () => orderIds.forEach((id, i) => (slots[i] === NONE ? w.skip(1) : this.release(id, slots[i])));
  }

  /** Whether `timeOut(nowUs)` would time out any order. */
  hasOverdue(nowUs: number): boolean {
    return this.orders.oldestIssuedUs() <= nowUs - this.config.orderTimeoutUs;
  }

  /**
   * Orders open for `orderTimeoutUs` of event time or longer at `nowUs` (an order in flight when the process died
   * and that no matcher ever received, or one the matcher lost): each is forgotten as if it had expired and its
   * position re-stamped, so that the executor re-evaluates it and, still liquidatable, issues a new order with a new
   * id. A late fill of a timed-out order is UNKNOWN_ORDER. Returns the orders timed out, in issue order.
   */
  timeOut(nowUs: number): LiquidationOrder[] {
    const due = this.orders.issuedBy(nowUs - this.config.orderTimeoutUs);
    const w = this.writer;
    // Accounts and markets are never removed; the position may be (nothing left to re-evaluate then).
    for (const o of due) this.release(o.id, w.findSlot(w.accountIndexOf(o.account), w.marketIndexOf(o.market)));
    return due;
  }

  /**
   * Forgets an open order that will not fill (expired, timed out) and re-stamps its position with an input sequence
   * of its own, so that the executor re-evaluates it and, still liquidatable, orders it again under a new id.
   */
  private release(orderId: string, slot: number | undefined): void {
    const open = this.orders.forget(orderId);
    if (slot === undefined) return;
    this.writer.sequenced((sequence) => {
      this.restamp(slot, sequence);
      if (open) this.writer.countOpenOrderAt(slot, -1); // ended: the executor may order the position again
    });
  }

  /**
   * The ADL queue of a market against a bankrupt position on `bankruptSide`: every live position on the other side
   * whose group has positive equity and which has no liquidation order open, ranked (docs/domain.md section 4;
   * src/domain/adl.ts), 1 first.
   */
  adlQueue(market: number, bankruptSide: Side): AdlQueueEntry[] {
    const m = this.writer.marketIndexOf(market);
    return adlQueue(
      this.candidatesOf(m, bankruptSide).map((c) => c.candidate),
      bankruptSide,
      { market },
    );
  }

  /**
   * The positions of market row `m` that may absorb a bankrupt position on `bankruptSide`: live, on the other side,
   * not themselves being liquidated (an order open, or ordered this epoch), with their group's equity (the queue
   * keeps those with positive equity).
   */
  private candidatesOf(m: number, bankruptSide: Side): { candidate: AdlCandidate; a: number; slot: number; group: number }[] {
    const t = this.t;
    const p = t.positions;
    const market = t.markets.id[m]!;
    const mark = t.markets.markPrice[m]!;
    const out: { candidate: AdlCandidate; a: number; slot: number; group: number }[] = [];
    const start = t.markets.positionStart[m]!;
    for (let slot = start; slot < start + t.markets.positionCount[m]!; slot++) {
      if ((p.flags[slot]! & PositionFlag.Live) === 0 || Math.sign(p.size[slot]!) !== -bankruptSide) continue;
      const a = p.account[slot]!;
      const account = t.accounts.id[a]!;
      if (this.screening.has(slot) || this.orders.hasPosition(account, market)) continue;
      const equity = this.groupOf(a, slot).equity;
      out.push({ candidate: { account, market, size: p.size[slot]!, entryPrice: p.entryPrice[slot]!, markPrice: mark, equity }, a, slot, group: this.groupKey(a, slot) });
    }
    return out;
  }

  /** Maintenance margin (quote, at the mark) that closing `quantity` of the position at `slot` releases. */
  private releasedBy(slot: number, quantity: number): number {
    const t = this.t;
    const m = t.positions.market[slot]!;
    const left = Math.abs(sizeAfterClose(t.positions.size[slot]!, Math.min(quantity, Math.abs(t.positions.size[slot]!))));
    return positionMaintenance(t, slot) - marketMaintenance(t, m, left * t.markets.markPrice[m]!);
  }

  /** The bankruptcy value, per base unit, of closing `quantity` of the position at `slot` now (`deleveragePrice`). */
  private deleveragePriceOf(a: number, slot: number, quantity: number): number {
    const t = this.t;
    const group = this.groupOf(a, slot);
    const mark = t.markets.markPrice[t.positions.market[slot]!]!;
    return deleveragePrice(mark, t.positions.size[slot]!, quantity, this.releasedBy(slot, quantity), group.equity, group.maintenance);
  }

  /** A book for one batch of deleveragings (src/clearing/adl-book.ts). */
  private newBook(): AdlBook {
    return new AdlBook(this.bookSource, this.money.toQuote(1n));
  }

  /** A margin group's key: the account row for a cross position, the slot's isolated ref for an isolated one. */
  private groupKey(a: number, slot: number): number {
    return this.isIsolated(slot) ? isolatedRef(slot) : a;
  }

  private isIsolated(slot: number): boolean {
    return (this.t.positions.flags[slot]! & PositionFlag.Isolated) !== 0;
  }

  /** The ledger entry a position settles against: its own collateral if isolated, else its account's. */
  private collateralOf(slot: number): EntryId {
    const t = this.t;
    return collateralEntry({ account: t.accounts.id[t.positions.account[slot]!]!, market: t.markets.id[t.positions.market[slot]!]!, isolated: this.isIsolated(slot) });
  }

  /**
   * Closes a liquidatable account's position in `market` against the ADL queue at its bankruptcy value (`deleverageAt`).
   * Checked now; the landing lands where inputs land, and the events hear the deleveraging, and what a group left flat
   * still owes.
   */
  prepareDeleverage(account: number, market: number): Landing {
    const w = this.writer;
    const a = w.accountIndexOf(account);
    const slot = w.findSlot(a, w.marketIndexOf(market));
    if (slot === undefined || this.t.positions.size[slot] === 0) {
      throw new UnwindError(ErrorCode.InvalidFill, `account ${account} holds no position in market ${market}`, 'market');
    }
    return () => {
      w.sequenced((sequence) => {
        if (this.t.markets.liquidationMode[this.t.positions.market[slot]!] === LiquidationMode.Halt) return; // halted since
        if (this.deleverageAt(a, slot, sequence) !== undefined) this.reportIfBankruptAndFlat(a, slot, sequence, 'no-counterparty');
      });
    };
  }

  /**
   * A fill's `deficit` (atoms the fund could not pay), by the configured policy. 'socialized': the opposite side of
   * the position as it was (`side`) pays it now. 'adl': what is left of the group is closed against the ADL queues
   * at its bankruptcy values, so the group's equity ends at 0 wherever counterparties exist. Whatever cannot be
   * absorbed (no counterparty, the kill switch's halt, autoDeleverage off) is reported, never left silent.
   */
  private resolveDeficit(a: number, slot: number, side: number, deficit: Atoms, sequence: number, book: AdlBook): void {
    const halted = this.t.markets.liquidationMode[this.t.positions.market[slot]!] === LiquidationMode.Halt;
    if (halted) return this.reportIfBankruptAndFlat(a, slot, sequence, 'halted');
    if (this.config.deficitPolicy === 'socialized') {
      const l = this.socialize(a, slot, side, deficit, sequence);
      if (l !== undefined) this.events.socialized(l);
      return this.reportIfBankruptAndFlat(a, slot, sequence, 'no-counterparty');
    }
    if (!this.config.autoDeleverage) return this.reportIfBankruptAndFlat(a, slot, sequence, 'auto-deleverage-off');
    // What is left of the group closes now, but for positions with a liquidation order open (the filled one too,
    // when the fill left part of its order open): the venue may be filling them, and their fills resolve their own
    // deficits; one that ends unfilled gives its position a new state, and the next order's screening deleverages it.
    const t = this.t;
    const account = t.accounts.id[a]!;
    for (const s of this.groupSlots(a, slot)) {
      if (!this.orders.hasPosition(account, t.markets.id[t.positions.market[s]!]!)) this.deleverageAt(a, s, sequence, undefined, null, book);
    }
    // Nothing left to close (the fill took the whole position): the queue pays what is left, in rank order.
    const l = this.chargeQueue(a, slot, side, book, sequence);
    if (l !== undefined) this.events.socialized(l);
    this.reportIfBankruptAndFlat(a, slot, sequence, 'no-counterparty');
  }

  /**
   * A flat group's negative balance, paid by the ADL queue of `slot`'s market against a position on `side` (the
   * side it had), in rank order, each counterparty within its equity (`AdlBook.charge`). Undefined when the group
   * still holds positions, owes nothing, or nobody can pay.
   */
  private chargeQueue(a: number, slot: number, side: number, book: AdlBook, sequence: number): SocializedLoss | undefined {
    if (side === 0 || this.groupSlots(a, slot).length > 0) return undefined;
    const owed = -this.ledger.balance(this.collateralOf(slot));
    if (owed <= 0n) return undefined;
    // In atoms: each pays what its equity holds less one atom (rounding), until the balance is 0.
    const payers: Payer[] = [];
    let paid = 0n;
    for (const { entry, equity } of book.holders(this.t.positions.market[slot]!, side > 0 ? 1 : -1)) {
      if (paid >= owed) break;
      const atoms = min(this.money.floor(equity) - 1n, owed - paid);
      if (atoms <= 0n) continue;
      book.spend(entry, this.money.toQuote(atoms));
      payers.push({ account: entry.account, slot: entry.slot, atoms });
      paid += atoms;
    }
    return this.payDeficit(a, slot, payers, 'adl-queue', sequence);
  }

  /**
   * Moves each payer's `atoms` from its collateral into `slot`'s, writes every balance back to the tables, and
   * describes it (undefined when nobody pays anything). The one tail of both ways of sharing a deficit.
   */
  private payDeficit(a: number, slot: number, payers: readonly Payer[], method: SocializedLoss['method'], sequence: number): SocializedLoss | undefined {
    const paying = payers.filter((x) => x.atoms > 0n);
    if (paying.length === 0) return undefined;
    const to = this.collateralOf(slot);
    this.ledger.apply(paying.map((x) => ({ from: this.collateralOf(x.slot), to, atoms: x.atoms, reason: 'socialized-loss' as const })));
    const p = this.t.positions;
    for (const x of payers) this.writeBack(p.account[x.slot]!, x.slot, sequence);
    this.writeBack(a, slot, sequence);
    return {
      sequence,
      account: this.t.accounts.id[a]!,
      market: this.t.markets.id[p.market[slot]!]!,
      amount: this.money.toQuote(paying.reduce((sum, x) => sum + x.atoms, 0n)),
      shares: payers.map((x) => ({ account: x.account, amount: this.money.toQuote(x.atoms) })),
      method,
    };
  }

  /** The live positions of `slot`'s margin group that are not flat: the slot itself if isolated, else the account's cross positions. */
  private groupSlots(a: number, slot: number): number[] {
    const t = this.t;
    const p = t.positions;
    if (this.isIsolated(slot)) return p.size[slot] === 0 ? [] : [slot];
    const out: number[] = [];
    for (let s = t.accounts.firstPosition[a]!; s !== NONE; s = p.next[s]!) if (isLiveCross(t, s) && p.size[s] !== 0) out.push(s);
    return out;
  }

  private groupOf(a: number, slot: number): GroupMargin {
    return this.isIsolated(slot) ? isolatedGroup(this.t, slot, this.g) : crossGroup(this.t, a, this.g);
  }

  /**
   * A group left flat with a negative balance: what the policy could not place, reported once, with its amount, when
   * it is final (the group has nothing left to close). While positions remain, the shortfall is still in play: the
   * next fill's bankruptcy value carries it, and deleveraging at the bankruptcy value absorbs it.
   */
  private reportIfBankruptAndFlat(a: number, slot: number, sequence: number, reason: UnresolvedReason): void {
    if (this.groupSlots(a, slot).length > 0) return;
    const t = this.t;
    const balance = this.ledger.balance(this.collateralOf(slot));
    if (balance < 0n) {
      const amount = this.money.toQuote(-balance);
      this.events.unresolved({ sequence, account: t.accounts.id[a]!, market: t.markets.id[t.positions.market[slot]!]!, amount, reason });
    }
  }

  /** Gives a position a new state (input `sequence`) without changing it, so the executor re-evaluates it. */
  private restamp(slot: number, sequence: number): void {
    const p = this.t.positions;
    this.writer.setPositionAt(slot, p.size[slot]!, p.entryPrice[slot]!, this.isIsolated(slot) ? p.isolatedCollateral[slot]! : null, sequence);
  }

  /**
   * Closes `quantity` (default: all) of a position below maintenance against the ADL queue at its bankruptcy value
   * (`deleveragePrice`): each counterparty, in queue order, closes up to its own size at that price; realized PnL of
   * both sides settles against the market's clearing entry. Emits the Deleveraging (the callers report what a group
   * left flat still owes). Nothing happens (undefined) above maintenance, without a positive price, or halted.
   */
  private deleverageAt(a: number, slot: number, sequence: number, quantity?: number, orderId: string | null = null, book?: AdlBook): Deleveraging | undefined {
    const t = this.t;
    const p = t.positions;
    const size = p.size[slot]!;
    const m = p.market[slot]!;
    if (size === 0 || t.markets.liquidationMode[m] === LiquidationMode.Halt) return undefined;
    const group = this.groupOf(a, slot);
    if (!(group.equity < group.maintenance)) return undefined;
    const q = Math.min(quantity ?? Math.abs(size), Math.abs(size));
    const mark = t.markets.markPrice[m]!;
    const price = this.deleveragePriceOf(a, slot, q);
    if (!Number.isFinite(price)) return undefined;
    const account = t.accounts.id[a]!;
    const market = t.markets.id[m]!;
    const side: Side = size > 0 ? 1 : -1;
    // In queue order; a counterparty gives at most what keeps its own equity >= 0 (src/clearing/adl-book.ts): no
    // solvent account is made bankrupt by another's deficit, and what the queue cannot take stays with the position.
    const b = book ?? this.newBook();
    const result = b.take(m, side, q, price, mark);
    const counterparties = result.matches.map((match) => {
      const { realizedPnl, sizeAfter } = this.closeAt(match.a, match.slot, match.quantity, price, sequence);
      return { account: match.account, quantity: match.quantity, realizedPnl, sizeAfter };
    });
    const last = result.remainder === 0 && q === Math.abs(size) && this.groupSlots(a, slot).length === 1;
    const { realizedPnl } = this.closeAt(a, slot, result.matched, price, sequence, last);
    b.refresh(this.groupKey(a, slot), slot);
    if (result.matched > 0) this.writer.countDeleverageAt(a); // the executor's lifecycle: deleveraged
    const absorbed = side * result.matched * (price - mark);
    const d: Deleveraging = { sequence, account, market, orderId, bankruptcyPrice: price, markPrice: mark, absorbed, matched: result.matched, remainder: result.remainder, realizedPnl, counterparties };
    this.events.deleveraged(d);
    return d;
  }

  /**
   * Spreads `deficit` atoms over the positions opposite to `side` in `slot`'s market whose group's equity is
   * positive, pro rata to their size: each pays from its collateral into the bankrupt position's. Shares round down;
   * the remainder falls on the largest holder (then the lowest account id), so exactly `deficit` moves.
   */
  private socialize(a: number, slot: number, side: number, deficit: Atoms, sequence: number): SocializedLoss | undefined {
    const t = this.t;
    const p = t.positions;
    const m = p.market[slot]!;
    const payers: (Payer & { weight: bigint; cap: Atoms })[] = [];
    const start = t.markets.positionStart[m]!;
    for (let s = start; s < start + t.markets.positionCount[m]!; s++) {
      if ((p.flags[s]! & PositionFlag.Live) === 0 || side === 0 || Math.sign(p.size[s]!) !== -side || p.account[s] === a) continue;
      const equity = this.money.floor(this.groupOf(p.account[s]!, s).equity);
      if (equity <= 0n) continue; // a bankrupt account does not pay another's loss
      // Weights in integer millionths of a base unit: deterministic, and the shares below are exact integers.
      payers.push({ slot: s, account: t.accounts.id[p.account[s]!]!, atoms: 0n, weight: BigInt(Math.max(1, Math.round(Math.abs(p.size[s]!) * 1e6))), cap: equity });
    }
    if (payers.length === 0 || deficit <= 0n) return undefined;
    payers.sort((x, y) => (x.weight > y.weight ? -1 : x.weight < y.weight ? 1 : x.account - y.account));
    // Nobody pays more than its own equity: what the caps leave unpaid stays with the bankrupt group.
    const amounts = proRataShares(deficit, payers);
    return this.payDeficit(a, slot, payers.map((x, i) => ({ ...x, atoms: amounts[i]! })), 'pro-rata', sequence);
  }


  /**
   * Writes a position's collateral (its own if isolated, else its account's) from the ledger to the tables, and its
   * size when a close changed it (`sizeAfter`), as input `sequence`. Returns the collateral, quote units.
   */
  private writeBack(a: number, slot: number, sequence: number, sizeAfter?: number): number {
    const t = this.t;
    const p = t.positions;
    const isolated = this.isIsolated(slot);
    const balance = this.money.toQuote(this.ledger.balance(this.collateralOf(slot)));
    if (sizeAfter !== undefined || isolated) this.writer.setPositionAt(slot, sizeAfter ?? p.size[slot]!, p.entryPrice[slot]!, isolated ? balance : null, sequence);
    if (!isolated) this.writer.setCollateralAt(a, balance);
    return balance;
  }

  /** Closes `quantity` of a position at `price`: realized PnL against clearing, size and collateral to the tables. */
  private closeAt(a: number, slot: number, quantity: number, price: number, sequence: number, zeroing = false): { realizedPnl: number; sizeAfter: number } {
    const t = this.t;
    const p = t.positions;
    const size = p.size[slot]!;
    const isolated = (p.flags[slot]! & PositionFlag.Isolated) !== 0;
    const account = t.accounts.id[a]!;
    const market = t.markets.id[p.market[slot]!]!;
    const collateral = collateralEntry({ account, market, isolated });
    let realized = this.money.floor(Math.sign(size) * quantity * (price - p.entryPrice[slot]!));
    if (zeroing) {
      // The group's last position, closed whole at its bankruptcy value: by definition it leaves the group at exactly
      // 0. The price is a float; what it misses by rounding (a few atoms) is settled against the counterparties'
      // clearing entry, so no atom of dust is left to name as bad debt.
      const exact = -this.ledger.balance(collateral);
      const slack = 2n + this.money.ceil(1e-9 * quantity * price);
      if (exact - realized <= slack && realized - exact <= slack) realized = exact;
    }
    this.ledger.apply(signedTransfer(entry.clearing(market), collateral, realized, 'adl'));
    const sizeAfter = sizeAfterClose(size, quantity);
    this.writeBack(a, slot, sequence, sizeAfter);
    return { realizedPnl: this.money.toQuote(realized), sizeAfter };
  }

  /** What filling `quantity` of the position at `price` would settle now, against the tables and the fund. */
  private settlementOf(a: number, slot: number, quantity: number, price: number, net = false): { closed: number; sizeAfter: number; settlement: LedgerSettlement | undefined } {
    const t = this.t;
    const p = t.positions;
    const m = p.market[slot]!;
    const size = p.size[slot]!;
    const isolated = (p.flags[slot]! & PositionFlag.Isolated) !== 0;
    const closed = Math.min(quantity, Math.abs(size));
    const group = this.groupOf(a, slot);
    const sizeAfter = sizeAfterClose(size, closed);
    const maintenanceReleased = this.releasedBy(slot, closed);
    const account = t.accounts.id[a]!;
    const market = t.markets.id[m]!;
    const fund = fundEntry(this.config.fees, market);
    const input = {
      account,
      market,
      isolated,
      size,
      entryPrice: p.entryPrice[slot]!,
      quantity: closed,
      price,
      oraclePrice: t.markets.oraclePrice[m]!,
      maintenanceReleased,
      equity: group.equity,
      totalMaintenance: group.maintenance,
    };
    // `net`: what the fund can still pay a new order, after what the open orders would draw.
    let coverable = this.drawdown.coverable(fund, this.ledger.balance(fund), t.markets.eventTimeUs[m]!);
    if (net) coverable = max(0n, coverable - this.orders.reserved(fund));
    const settlement = closed > 0 ? settleClose(input, this.config.fees, coverable, this.money) : undefined;
    return { closed, sizeAfter, settlement };
  }

  /**
   * What an order would settle if it filled whole at its limit price now: the fee, the insurance fund's draw and
   * the deficit, in quote units (for `unwind check`'s planned actions). Applies nothing.
   */
  preview(order: LiquidationOrder): FillPreview {
    const w = this.writer;
    const a = w.accountIndexOf(order.account);
    const slot = w.findSlot(a, w.marketIndexOf(order.market));
    const s = slot === undefined ? undefined : this.settlementOf(a, slot, order.quantity, order.limitPrice).settlement;
    const q = (x: Atoms | undefined): number => this.quote(x);
    const deficit = q(s?.deficit);
    // What deleveraging would match instead, where the fund cannot pay: the order's quantity at the bankruptcy price.
    let adl: FillPreview['adl'] = [];
    if (deficit > 0 && slot !== undefined) {
      const t = this.t;
      const p = t.positions;
      const m = p.market[slot]!;
      const q = Math.min(order.quantity, Math.abs(p.size[slot]!));
      // This order's share of the group's deficit only (by maintenance margin): previews of several orders of one
      // account do not count the same deficit twice.
      const price = this.deleveragePriceOf(a, slot, q);
      const mark = t.markets.markPrice[m]!;
      if (Number.isFinite(price)) {
        const side: Side = p.size[slot]! > 0 ? 1 : -1;
        adl = this.newBook().take(m, side, q, price, mark).matches.map(({ account, quantity, price }) => ({ account, quantity, price }));
      }
    }
    return { fee: q(s?.fee), insuranceDraw: q(s?.insuranceCover), deficit, realizedPnl: q(s?.realizedPnl), adl };
  }

  private quote(x: Atoms | undefined): number {
    return x === undefined ? 0 : this.money.toQuote(x);
  }

  /** At landing: every earlier input is in the tables. */
  private settle(f: Fill, a: number, slot: number, sequence: number, orderRemaining: number): { settlement: Settlement; deficit: Atoms } {
    const m = this.t.positions.market[slot]!;
    this.writer.advanceTime(m, f.eventTimeUs);
    const { closed, sizeAfter, settlement: s } = this.settlementOf(a, slot, f.quantity, f.price);
    if (s !== undefined) {
      this.ledger.apply(s.transfers);
      const fund = fundEntry(this.config.fees, f.market);
      this.drawdown.record(fund, this.ledger.balance(fund), this.t.markets.eventTimeUs[m]!);
    }
    const collateralAfter = this.writeBack(a, slot, sequence, sizeAfter);
    const q = (x: Atoms | undefined): number => this.quote(x);
    const settlement: Settlement = {
      ...f,
      sequence,
      closed,
      realizedPnl: q(s?.realizedPnl),
      fee: q(s?.fee),
      insuranceCover: q(s?.insuranceCover),
      deficit: q(s?.deficit),
      bankruptcyValue: s?.bankruptcyValue ?? 0,
      sizeAfter,
      collateralAfter,
      orderRemaining,
    };
    return { settlement, deficit: s?.deficit ?? 0n };
  }
}

/**
 * A fill of an account another shard holds (README "Sharding beyond one machine"), checked as far as it can be without
 * its order: its id names its account and market (else no engine issued it: UNKNOWN_ORDER, or INVALID_FILL for another
 * account's or market's), its quantity is finite and > 0, its market exists. Returns the market's row. Whether the order
 * is open, and the price against its limit, only the shard holding the account can check.
 */
function foreignFill(f: Fill, i: number, w: TableWriter): number {
  const parts = orderIdParts(f.orderId);
  if (parts === undefined) throw new UnwindError(ErrorCode.UnknownOrder, `no open order ${JSON.stringify(f.orderId)}`, `[${i}].orderId`);
  if (parts.account !== f.account || parts.market !== f.market) {
    throw new UnwindError(ErrorCode.InvalidFill, `order ${f.orderId} is account ${parts.account} market ${parts.market}, the fill says account ${f.account} market ${f.market}`, `[${i}]`);
  }
  if (!(f.quantity > 0) || !Number.isFinite(f.quantity)) throw new UnwindError(ErrorCode.InvalidFill, `expected a finite quantity > 0, got ${f.quantity}`, `[${i}].quantity`);
  return w.marketIndexOf(f.market, `[${i}].market`);
}

/** What closing `closed` base units leaves of a signed position; a remainder within 1e-12 of its size is flat. */
function sizeAfterClose(size: number, closed: number): number {
  const left = Math.abs(size) - closed;
  return left <= 1e-12 * Math.abs(size) ? 0 : Math.sign(size) * left;
}
