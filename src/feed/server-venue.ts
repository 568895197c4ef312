/**
 * Thread: main (the engine's), for the feed server. What a venue and a risk desk read besides orders: fills as they
 * settled (Settlements, money in atoms, with how each deficit was placed), the public liquidation tape
 * (Liquidations), insurance fund balances (InsuranceFunds), market prices and statuses with the tick-to-order
 * latency (MarketSummaries), and the open-position count of EngineStatus.
 * Reads: the engine's fill settlements (onFill, as they land), the orders and takeovers of each epoch (their sides),
 *        the deficit records the server collected, and at an epoch's state (Engine.onEpochState, stateEpoch) the
 *        ledger's fund balances and the markets' prices and modes. Writes nothing but its own state.
 *
 * Funds and markets are read only while some connection watches them, and sent as changes against the values last
 * read: one baseline for all watchers, read where the tables hold exactly one epoch's state (as AdlWatch does).
 */
import type { Engine, EpochResult } from '../engine/engine.js';
import type { Settlement, Takeover } from '../clearing/clearing.js';
import { entry } from '../ledger/ledger.js';
import { Money } from '../ledger/money.js';
import { PositionFlag } from '../tables/layout.js';
import type {
  DeficitResolution,
  Deleveraging,
  FillSettlement,
  InsuranceFundBalance,
  InsuranceFundsUpdate,
  Liquidation,
  MarketSummariesUpdate,
  MarketSummary,
  SocializedLoss,
  UnresolvedDeficit,
} from './messages.js';

/** Price frames waiting for the epoch that covers them, at most: beyond, the oldest (which set the latency) stay. */
const MAX_PENDING_PRICE_FRAMES = 4096;

/** A settlement heard as it landed, with the side of the order it filled (looked up then: the order may go whole). */
interface Heard {
  readonly settlement: Settlement;
  readonly side: 'buy' | 'sell';
}

/** The deficit records the server collected since the last epoch's end (deficits.ts wire records). */
export interface DeficitRecords {
  readonly deleveragings: readonly Deleveraging[];
  readonly losses: readonly SocializedLoss[];
  readonly unresolved: readonly UnresolvedDeficit[];
}

/** What an epoch's output adds for the venue topics. */
export interface VenueOutput {
  readonly settlements: FillSettlement[];
  readonly liquidations: Liquidation[];
  /** Microseconds from the first price frame the epoch covers to now (its orders have left); null: not measured. */
  readonly tickToOrderUs: number | null;
}

export class VenueWatch {
  readonly quoteDecimals: number;
  private readonly money: Money;
  /** Side and symbol of every order and takeover issued and not known to be done, by id. */
  private readonly orders = new Map<string, { readonly side: 'buy' | 'sell'; readonly symbol: string }>();
  private heard: Heard[] = [];
  /** Price frames (the input sequence after each, its arrival in ms on the monotonic clock), oldest first. */
  private priceFrames: { readonly sequence: number; readonly atMs: number }[] = [];
  /** Connections watching funds and markets. */
  fundWatchers = 0;
  marketWatchers = 0;
  private fundBaseline: Map<string, bigint> | undefined;
  private marketBaseline: Map<number, string> | undefined;
  /** Open positions at the input sequence and epoch they were counted (a count walks every slot). */
  private openCount = { sequence: -1, epochs: -1, count: 0 };

  constructor(private readonly engine: Engine) {
    this.quoteDecimals = engine.config.quoteDecimals;
    this.money = new Money(this.quoteDecimals);
    for (const { order } of engine.openOrders()) this.orders.set(order.id, { side: order.side, symbol: order.symbol });
  }

  // ---- as inputs land ----

  /** A fill settled (Engine.onFill). */
  settled(s: Settlement): void {
    const order = this.orders.get(s.orderId);
    // Fills are only accepted for open orders, all of which this map holds (from openOrders() at start, then each
    // epoch's orders): an order it lacks is a bug, and its settlement is not published with a side made up.
    if (order === undefined) return;
    if (s.orderRemaining === 0) this.orders.delete(s.orderId);
    this.heard.push({ settlement: { ...s }, side: order.side });
  }

  /** A price frame (ticks, signed ticks, book tops) was applied; `sequence` is the engine's last input sequence after it. */
  priceFrame(sequence: number): void {
    if (this.priceFrames.length < MAX_PENDING_PRICE_FRAMES) this.priceFrames.push({ sequence, atMs: performance.now() });
  }

  // ---- at an epoch's end ----

  /**
   * Epoch `r` has left (its orders sent): the settlements and liquidations that landed since the last one, each
   * settlement with how its deficit was placed (from `deficits`, the records landed at its sequence for its account),
   * and the tick-to-order latency. Call before the deficit records are sent and cleared.
   */
  epochOutput(r: EpochResult, deficits: DeficitRecords, takeovers: readonly Takeover[]): VenueOutput {
    for (const o of r.orders) this.orders.set(o.id, { side: o.side, symbol: o.symbol });
    for (const t of r.takeovers) this.orders.set(t.id, { side: t.side, symbol: t.symbol });
    for (const o of r.timedOut) this.orders.delete(o.id);
    this.prune();
    const tickToOrderUs = this.latency(r);
    const heard = this.heard;
    this.heard = [];
    const settlements = heard.map((h) => this.fillSettlement(h, deficits));
    const liquidations: Liquidation[] = [];
    for (const s of settlements) {
      if (s.closed > 0) liquidations.push({ sequence: s.sequence, market: s.market, symbol: this.symbolOf(s.market), side: s.side, price: s.price, amount: s.closed, eventTimeUs: s.eventTimeUs, kind: 'fill' });
    }
    for (const t of takeovers) {
      const order = this.orders.get(t.id);
      this.orders.delete(t.id);
      if (order === undefined) continue; // as in settled(): never made up
      liquidations.push({ sequence: t.sequence, market: t.market, symbol: order.symbol, side: order.side, price: t.price, amount: t.quantity, eventTimeUs: t.settlement.eventTimeUs, kind: 'takeover' });
    }
    liquidations.sort((a, b) => a.sequence - b.sequence);
    return { settlements, liquidations, tickToOrderUs };
  }

  private fillSettlement(h: Heard, d: DeficitRecords): FillSettlement {
    const s = h.settlement;
    const atoms = (quote: number): bigint => this.money.round(quote);
    const deficitAtoms = atoms(s.deficit);
    const mine = <T extends { readonly sequence: number; readonly account: number }>(x: T): boolean => x.sequence === s.sequence && x.account === s.account;
    // What the policy did with this fill's deficit: the records that landed with it (same input, same account).
    let deleveragings = 0;
    let socializedAtoms = 0n;
    let unresolved: UnresolvedDeficit | undefined;
    if (deficitAtoms > 0n) {
      for (const x of d.deleveragings) if (mine(x) && !x.continued) deleveragings++;
      for (const x of d.losses) if (mine(x) && !x.continued) socializedAtoms += atoms(x.amount);
      unresolved = d.unresolved.find(mine);
    }
    const unresolvedAtoms = unresolved === undefined ? 0n : atoms(unresolved.amount);
    const resolution: DeficitResolution =
      deficitAtoms === 0n ? 'none' : unresolvedAtoms > 0n ? 'unresolved' : deleveragings > 0 ? 'deleveraged' : socializedAtoms > 0n ? 'socialized' : 'pending';
    return {
      sequence: s.sequence,
      orderId: s.orderId,
      account: s.account,
      market: s.market,
      side: h.side,
      quantity: s.quantity,
      price: s.price,
      eventTimeUs: s.eventTimeUs,
      closed: s.closed,
      sizeAfter: s.sizeAfter,
      orderRemaining: s.orderRemaining,
      // The engine's amounts are exact atoms / 10^decimals below 2^53 atoms, so rounding gives the atoms back.
      realizedPnlAtoms: atoms(s.realizedPnl),
      feeAtoms: atoms(s.fee),
      insuranceCoverAtoms: atoms(s.insuranceCover),
      deficitAtoms,
      collateralAfterAtoms: atoms(s.collateralAfter),
      bankruptcyValue: s.bankruptcyValue,
      resolution,
      deleveragings,
      socializedAtoms,
      unresolvedAtoms,
      unresolvedReason: unresolvedAtoms > 0n ? unresolved!.reason : null,
    };
  }

  /** Forgets orders that are no longer open (expired ones leave no event here) once the map is twice the open set. */
  private prune(): void {
    if (this.orders.size < 1024) return;
    const open = this.engine.openOrders();
    if (this.orders.size < 2 * open.length) return;
    this.orders.clear();
    for (const { order } of open) this.orders.set(order.id, { side: order.side, symbol: order.symbol });
  }

  private latency(r: EpochResult): number | null {
    let first: number | undefined;
    let covered = 0;
    for (const f of this.priceFrames) {
      if (f.sequence > r.lastSequence) break;
      first ??= f.atMs;
      covered++;
    }
    if (covered > 0) this.priceFrames = this.priceFrames.slice(covered);
    if (first === undefined || r.orders.length === 0) return null;
    return Math.max(0, Math.round((performance.now() - first) * 1000));
  }

  // ---- insurance funds ----

  /** The funds: each market's (fee policy 'per-market'), or the pooled one. */
  private fundIds(): (number | 'pooled')[] {
    if (this.engine.config.fees.fund === 'pooled') return ['pooled'];
    return this.marketIds();
  }

  private readFunds(): InsuranceFundBalance[] {
    const ledger = this.engine.ledger;
    return this.fundIds().map((market) => ({ market, balanceAtoms: ledger.balance(entry.fund(market)) }));
  }

  /** Every fund now, labelled `epoch` (a watcher's answer); sets the baseline when there is none. */
  fundSnapshot(epoch: number): InsuranceFundsUpdate {
    const funds = this.readFunds();
    this.fundBaseline ??= new Map(funds.map((f) => [String(f.market), f.balanceAtoms]));
    return { epoch, quoteDecimals: this.quoteDecimals, snapshot: true, funds };
  }

  /** The funds whose balance changed since the last read; undefined when none or nobody watches. */
  fundChanges(epoch: number): InsuranceFundsUpdate | undefined {
    if (this.fundWatchers === 0) {
      this.fundBaseline = undefined;
      return undefined;
    }
    const funds = this.readFunds();
    const base = this.fundBaseline;
    this.fundBaseline = new Map(funds.map((f) => [String(f.market), f.balanceAtoms]));
    if (base === undefined) return undefined;
    const changed = funds.filter((f) => base.get(String(f.market)) !== f.balanceAtoms);
    return changed.length === 0 ? undefined : { epoch, quoteDecimals: this.quoteDecimals, snapshot: false, funds: changed };
  }

  // ---- markets ----

  private marketIds(): number[] {
    const t = this.engine.tables.markets;
    return Array.from({ length: this.engine.counts.markets }, (_, m) => t.id[m]!);
  }

  private readMarkets(): MarketSummary[] {
    const e = this.engine;
    const t = e.tables.markets;
    return this.marketIds().map((market, m) => {
      const status = e.marketStatus(market);
      return {
        market,
        symbol: e.marketSymbol(market),
        markPrice: t.markPrice[m]!,
        oraclePrice: t.oraclePrice[m]!,
        paused: status.paused,
        killLevel: e.killSwitch(market),
        code: status.code,
        reason: status.reason,
      };
    });
  }

  /** Every market now, labelled `epoch` (a watcher's answer); sets the baseline when there is none. */
  marketSnapshot(epoch: number): MarketSummariesUpdate {
    const markets = this.readMarkets();
    this.marketBaseline ??= new Map(markets.map((s) => [s.market, key(s)]));
    return { epoch, snapshot: true, markets, orders: 0, tickToOrderUs: null };
  }

  /** The markets whose summary changed since the last read ([] when nobody watches). */
  marketChanges(): MarketSummary[] {
    if (this.marketWatchers === 0) {
      this.marketBaseline = undefined;
      return [];
    }
    const markets = this.readMarkets();
    const base = this.marketBaseline;
    this.marketBaseline = new Map(markets.map((s) => [s.market, key(s)]));
    return base === undefined ? [] : markets.filter((s) => base.get(s.market) !== key(s));
  }

  private symbolOf(market: number): string {
    return this.engine.marketSymbol(market);
  }

  // ---- EngineStatus ----

  /**
   * Positions open now: live slots whose size is not 0 (a closed position keeps its slot). Walks every slot in use,
   * so the count is kept until an input or an epoch changes what it could be.
   */
  openPositions(): number {
    const e = this.engine;
    const c = this.openCount;
    if (c.sequence === e.lastSequence && c.epochs === e.epochs) return c.count;
    const { markets, positions } = e.tables;
    let count = 0;
    for (let m = 0; m < e.counts.markets; m++) {
      const start = markets.positionStart[m]!;
      const end = start + markets.positionCount[m]!;
      for (let s = start; s < end; s++) if (positions.size[s] !== 0 && (positions.flags[s]! & PositionFlag.Live) !== 0) count++;
    }
    this.openCount = { sequence: e.lastSequence, epochs: e.epochs, count };
    return count;
  }
}

/** What a market summary shows, as one comparable string. */
function key(s: MarketSummary): string {
  return `${s.markPrice}|${s.oraclePrice}|${s.paused}|${s.killLevel}|${s.code}|${s.reason}`;
}
