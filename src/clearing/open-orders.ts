/**
 * The liquidation orders issued and not yet filled: a fill from the matching engine is checked against them (id,
 * account, market, open quantity, price within the order's limit and the improvement band) before it is taken.
 * Oldest forgotten first past a bound; an order open longer than its deadline is timed out (Clearing.timeOut).
 * The clearing mirrors each position's count into the tables (positions.openOrders), where the executor reads it: a
 * position with an order open gets no other, so two orders never close the same units.
 */
import { ErrorCode, UnwindError } from '../errors.js';
import type { EntryId } from '../ledger/ledger.js';
import type { Atoms } from '../ledger/money.js';
import type { LiquidationOrder } from './orders.js';

/** What an open order would draw from an insurance fund filled whole at its limit: held back from later orders. */
export interface FundReserve {
  readonly fund: EntryId;
  readonly atoms: Atoms;
}

/** A fill of one of our orders, as the matching engine reports it. */
export interface Fill {
  /** The order filled: `LiquidationOrder.id`. */
  readonly orderId: string;
  /** The order's account. */
  readonly account: number;
  /** The order's market. */
  readonly market: number;
  /** Base units, > 0. */
  readonly quantity: number;
  /** Quote per base unit. */
  readonly price: number;
  /** When the matching engine filled, microseconds since the Unix epoch. */
  readonly eventTimeUs: number;
}

/**
 * Fills are in base units like the order's quantity; a relative 1e-9 absorbs decimal rounding by the matcher. An order
 * whose remaining is at most TOLERANCE * quantity is filled whole (it leaves the open orders).
 */
export const TOLERANCE = 1e-9;

interface Open {
  order: LiquidationOrder;
  remaining: number;
  reserve?: FundReserve;
  /** The engine's event time when the order was issued (its deadline counts from here). */
  issuedUs: number;
}

/** `issuedUs` is absent in snapshots written before orders had deadlines: such orders count as issued at 0. */
export type OpenOrdersState = ReadonlyMap<string, { readonly order: LiquidationOrder; readonly remaining: number; readonly reserve?: FundReserve; readonly issuedUs?: number }>;

export class OpenOrders {
  private readonly open = new Map<string, Open>();
  /** Per fund: the sum of the open orders' reserves, for the remaining part of each order. */
  private readonly reservedBy = new Map<EntryId, Atoms>();
  /** Open orders per position, by account then market: a position being liquidated is no ADL counterparty. */
  private readonly perPosition = new Map<number, Map<number, number>>();

  constructor(
    private readonly max: number,
    /** A fill may beat its order's limit by at most this fraction of the order's oracle price (config.fillPriceBand). */
    private readonly priceBand = Infinity,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Snapshot (src/journal): the open orders in issue order (the bound forgets the oldest first). */
  exportState(): OpenOrdersState {
    return this.open;
  }
  importState(s: OpenOrdersState): void {
    this.open.clear();
    this.reservedBy.clear();
    this.perPosition.clear();
    for (const [id, o] of s) {
      this.count(o.order, 1);
      const open: Open = { order: o.order, remaining: o.remaining, issuedUs: o.issuedUs ?? 0 };
      if (o.reserve !== undefined) open.reserve = o.reserve;
      this.open.set(id, open);
      this.hold(o.reserve, 1n);
    }
  }

  /** Atoms of `fund` that open orders would draw, filled whole at their limits. */
  reserved(fund: EntryId): Atoms {
    return this.reservedBy.get(fund) ?? 0n;
  }

  private hold(r: FundReserve | undefined, sign: 1n | -1n): void {
    if (r === undefined || r.atoms === 0n) return;
    this.reservedBy.set(r.fund, this.reserved(r.fund) + sign * r.atoms);
  }

  /** Whether an order for `account`'s position in `market` is open. */
  hasPosition(account: number, market: number): boolean {
    return this.perPosition.get(account)?.has(market) ?? false;
  }

  private count(o: LiquidationOrder, by: 1 | -1): void {
    let markets = this.perPosition.get(o.account);
    if (markets === undefined) this.perPosition.set(o.account, (markets = new Map()));
    const n = (markets.get(o.market) ?? 0) + by;
    if (n > 0) markets.set(o.market, n);
    else markets.delete(o.market);
    if (markets.size === 0) this.perPosition.delete(o.account);
  }

  private drop(id: string): void {
    const open = this.open.get(id);
    if (open === undefined) return;
    this.hold(open.reserve, -1n);
    this.count(open.order, -1);
    this.open.delete(id);
  }

  /** The open orders in issue order, with what is left of each. */
  list(): { readonly order: LiquidationOrder; readonly remaining: number }[] {
    return [...this.open.values()].map(({ order, remaining }) => ({ order, remaining }));
  }

  /** Opens `order`; returns the oldest open order if the bound made it forget that one. */
  add(order: LiquidationOrder, issuedUs: number, reserve?: FundReserve): LiquidationOrder | undefined {
    const open: Open = { order, remaining: order.quantity, issuedUs };
    if (reserve !== undefined) open.reserve = reserve;
    this.open.set(order.id, open);
    this.hold(reserve, 1n);
    this.count(order, 1);
    if (this.open.size <= this.max) return undefined;
    const oldest = this.open.values().next().value!.order;
    this.drop(oldest.id);
    return oldest;
  }

  /**
   * Checks fills against the open orders, all before any (throws UNKNOWN_ORDER / INVALID_FILL naming `[i]`); with
   * `held`, only the fills it marks (the others' orders are another shard's).
   */
  check(fills: readonly Fill[], held?: readonly boolean[]): void {
    const remaining = new Map<string, number>();
    fills.forEach((f, i) => {
      if (held !== undefined && !held[i]) return;
      const open = this.open.get(f.orderId);
      if (open === undefined) throw new UnwindError(ErrorCode.UnknownOrder, `no open order ${JSON.stringify(f.orderId)}`, `[${i}].orderId`);
      const o = open.order;
      if (o.account !== f.account || o.market !== f.market) {
        const why = `order ${f.orderId} is account ${o.account} market ${o.market}, the fill says account ${f.account} market ${f.market}`;
        throw new UnwindError(ErrorCode.InvalidFill, why, `[${i}]`);
      }
      if (!(f.quantity > 0) || !Number.isFinite(f.quantity)) throw new UnwindError(ErrorCode.InvalidFill, `expected a finite quantity > 0, got ${f.quantity}`, `[${i}].quantity`);
      this.checkPrice(o, f.price, `[${i}].price`);
      const left = (remaining.get(f.orderId) ?? open.remaining) - f.quantity;
      if (left < -TOLERANCE * o.quantity) throw new UnwindError(ErrorCode.InvalidFill, `fills ${f.orderId} beyond its open quantity`, `[${i}].quantity`);
      remaining.set(f.orderId, left);
    });
  }

  /**
   * A fill's price is no worse than its order's limit (a sell at or above it, a buy at or below it), and beats it by
   * no more than the band allows around the order's oracle price: a sell at most at oracle x (1 + band), a buy at
   * least at oracle x (1 - band) (never tighter than the limit itself). Anything else is a bad fill (a fat finger,
   * a rogue matcher), and taking it would move money between the account and the fund at any price.
   */
  private checkPrice(o: LiquidationOrder, price: number, field: string): void {
    const sell = o.side === 'sell';
    const worse = sell ? price < o.limitPrice : price > o.limitPrice;
    if (worse) throw new UnwindError(ErrorCode.InvalidFill, `a ${o.side} with limit ${o.limitPrice} cannot fill at ${price}, worse than its limit`, field);
    const best = sell ? Math.max(o.limitPrice, o.oraclePrice * (1 + this.priceBand)) : Math.min(o.limitPrice, o.oraclePrice * (1 - this.priceBand));
    const beyond = sell ? price > best : price < best;
    if (beyond) {
      const why = `a ${o.side} with limit ${o.limitPrice} cannot fill at ${price}: beyond ${best}, the improvement band (fillPriceBand ${this.priceBand}) around its oracle price ${o.oraclePrice}`;
      throw new UnwindError(ErrorCode.InvalidFill, why, field);
    }
  }

  /** The issue time of the oldest open order (Infinity: none). */
  oldestIssuedUs(): number {
    for (const o of this.open.values()) return o.issuedUs;
    return Infinity;
  }

  /** Open orders issued at or before `issuedBy` (event time), in issue order: those past their deadline. */
  issuedBy(issuedBy: number): LiquidationOrder[] {
    const out: LiquidationOrder[] = [];
    // Issue times never decrease (the engine's event time never goes back), so the overdue ones come first.
    for (const o of this.open.values()) {
      if (o.issuedUs > issuedBy) break;
      out.push(o.order);
    }
    return out;
  }

  /** The open order `orderId`; UNKNOWN_ORDER naming `field` if there is none. */
  get(orderId: string, field = 'orderId'): LiquidationOrder {
    const open = this.open.get(orderId);
    if (open === undefined) throw new UnwindError(ErrorCode.UnknownOrder, `no open order ${JSON.stringify(orderId)}`, field);
    return open.order;
  }

  /** Forgets an order (it expired unfilled, or timed out); false if it was not open. */
  forget(orderId: string): boolean {
    if (!this.open.has(orderId)) return false;
    this.drop(orderId);
    return true;
  }

  /**
   * Takes checked fills; returns what remains open of each fill's order, and whether that fill ended it (filled
   * whole: it left the open orders). With `held`, a fill it does not mark (another shard's order) takes nothing.
   */
  take(fills: readonly Fill[], held?: readonly boolean[]): { remaining: number; ended: boolean }[] {
    return fills.map((f, i) => {
      if (held !== undefined && !held[i]) return { remaining: 0, ended: false };
      const open = this.open.get(f.orderId);
      // Already filled whole by an earlier fill of this batch (within the tolerance check() allows).
      if (open === undefined) return { remaining: 0, ended: false };
      open.remaining = Math.max(0, open.remaining - f.quantity);
      if (open.remaining <= TOLERANCE * open.order.quantity) {
        this.drop(f.orderId);
        return { remaining: open.remaining, ended: true };
      } else if (open.reserve !== undefined) {
        // The reserve shrinks with the open quantity (rounded up: never less than the rest could draw).
        const atoms = BigInt(Math.ceil((Number(open.reserve.atoms) * open.remaining) / open.order.quantity));
        this.hold(open.reserve, -1n);
        open.reserve = { fund: open.reserve.fund, atoms };
        this.hold(open.reserve, 1n);
      }
      return { remaining: open.remaining, ended: false };
    });
  }

  /** Open orders per position, by account id then market id (a snapshot's restore counts them into the tables). */
  perPositionCounts(): ReadonlyMap<number, ReadonlyMap<number, number>> {
    return this.perPosition;
  }
}
