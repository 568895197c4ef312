/**
 * A venue-backed matching engine beside an Engine: the engine's liquidation orders trade against the simulated
 * venue's book (src/sim/venue), not at their limit price. One `step(tUs)` is one epoch at event time tUs:
 *
 *   1. the venue runs to tUs: the orders sent at the last step execute `latencyUs` after it, as IOCs at their limit;
 *   2. each execution becomes `engine.fill` (the sweep's average price, the filled quantity, the execution's event
 *      time) and an unfilled rest `engine.expire` (the engine then orders again under a new id if it must);
 *   3. the venue's mids become the engine's prices (`pushPrices` with `eventTimeUs: tUs`);
 *   4. the engine runs the epoch; its orders go to the venue at tUs, each measured against the book as sent.
 *
 * Our sweeps take depth and move the venue's mid for good, so a liquidation's fills lower the price the next epoch
 * marks accounts at: a cascade can follow. Nothing here reads a clock or draws a random number; the venue is seeded,
 * so the same seed and the same engine give the same fills, prices and orders, bit for bit.
 *
 * Latency must be shorter than the time between steps: an order then always executes before the next epoch, and
 * its fill or expiry reaches the engine in that epoch's inputs, long before the engine's order timeout.
 */
import type { LiquidationOrder } from '../clearing/orders.js';
import type { Fill } from '../clearing/open-orders.js';
import type { Engine, EpochResult } from '../engine/engine.js';
import { ErrorCode, UnwindError, isUnwindError } from '../errors.js';
import type { Execution, Venue } from './venue/index.js';

/** Participation is measured against the book within this fraction of the mid (1%). */
export const PARTICIPATION_BAND = 0.01;

/** The engine forgets an order once less than this share of it is open (src/clearing/open-orders.ts): no expiry then. */
const OPEN_TOLERANCE = 1e-9;

/** One liquidation order as the venue got it. */
export interface Child {
  readonly order: LiquidationOrder;
  readonly submittedUs: number;
  readonly executeAtUs: number;
  /** Base units on the side it takes (bids for a sell) within 1% of the mid when it was sent. */
  readonly bookVolume: number;
  /** order.quantity / bookVolume (Infinity when that side was swept bare). */
  readonly participation: number;
}

/** An execution the engine refused, and why (a fill of an order the engine had timed out, say). */
export interface Refusal {
  readonly orderId: string;
  readonly input: 'fill' | 'expiry';
  readonly code: string;
  readonly message: string;
}

/** What one step did. */
export interface MatchingStep {
  readonly timeUs: number;
  /** Our orders the venue executed since the last step, in execution order. */
  readonly executions: readonly Execution[];
  /** What the engine took of them. */
  readonly fills: readonly Fill[];
  readonly expired: readonly string[];
  readonly refused: readonly Refusal[];
  /** The epoch the engine ran on the venue's mids. */
  readonly epoch: EpochResult;
  /** The epoch's orders, as sent to the venue. */
  readonly children: readonly Child[];
}

export class VenueMatching {
  /** Orders sent and not yet executed, by id. */
  private readonly inFlight = new Map<string, LiquidationOrder>();
  private lastUs = -Infinity;

  constructor(
    readonly engine: Engine,
    readonly venue: Venue,
  ) {
    if (venue.latencyUs <= 0 || !Number.isFinite(venue.latencyUs)) {
      throw new UnwindError(ErrorCode.InvalidConfig, `expected a venue latency > 0 (orders execute after the epoch that sent them), got ${venue.latencyUs}`, 'venue.latencyUs');
    }
  }

  /** Orders sent to the venue that have not executed yet. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** One epoch at event time `tUs` (after the last step by more than the venue's latency). */
  async step(tUs: number): Promise<MatchingStep> {
    if (!(tUs >= this.lastUs + this.venue.latencyUs)) {
      throw new UnwindError(ErrorCode.InvalidArgument, `step at ${tUs} us comes within the venue's latency of the last one (${this.lastUs} us); orders would miss their epoch`, 'tUs');
    }
    this.lastUs = tUs;
    const executions = this.venue.advance(tUs);
    const fills: Fill[] = [];
    const rests: string[] = [];
    for (const x of executions) {
      const order = this.inFlight.get(String(x.clientId));
      if (order === undefined) continue; // not ours: another caller's order on the same venue
      this.inFlight.delete(order.id);
      const fill = fillOf(order, x);
      if (fill !== undefined) fills.push(fill);
      if (restsOpen(order, fill)) rests.push(order.id);
    }
    const refused: Refusal[] = [];
    const taken = this.take(fills, (f) => this.engine.fill(f), (f) => f.orderId, 'fill', refused);
    // An order whose fill was refused is still open at the engine, unless the engine no longer knows it.
    for (const r of refused) if (r.code !== ErrorCode.UnknownOrder && !rests.includes(r.orderId)) rests.push(r.orderId);
    const expired = this.take(rests, (ids) => this.engine.expire(ids), (id) => id, 'expiry', refused);
    this.engine.pushPrices(this.venue.markets.map((market) => ({ market, price: this.venue.mid(market), eventTimeUs: tUs })));
    // What the books hold near the mid: the strategies' participation caps take their share of it.
    const v = this.venue;
    this.engine.pushDepth(v.markets.map((market) => ({ market, bidVolume: v.bookVolume(market, 'bid', PARTICIPATION_BAND), askVolume: v.bookVolume(market, 'ask', PARTICIPATION_BAND) })));
    const epoch = await this.engine.step();
    const children = epoch.orders.map((order) => this.send(order, tUs));
    return { timeUs: tUs, executions, fills: taken, expired, refused, epoch, children };
  }

  private send(order: LiquidationOrder, nowUs: number): Child {
    const child = submitChild(this.venue, order, nowUs);
    this.inFlight.set(order.id, order);
    return child;
  }

  /**
   * Gives the engine `items` as one batch; if it refuses the batch (it checks all before taking any), one at a
   * time, keeping those it takes and recording the rest. Returns what it took.
   */
  private take<T>(items: T[], give: (batch: T[]) => void, idOf: (item: T) => string, input: Refusal['input'], refused: Refusal[]): T[] {
    if (items.length === 0) return items;
    try {
      give(items);
      return items;
    } catch (e) {
      if (!isUnwindError(e)) throw e;
    }
    const taken: T[] = [];
    for (const item of items) {
      try {
        give([item]);
        taken.push(item);
      } catch (e) {
        if (!isUnwindError(e)) throw e;
        refused.push({ orderId: idOf(item), input, code: e.code, message: e.message });
      }
    }
    return taken;
  }
}

/** Sends an order to the venue as an IOC at its limit, measured against the book it meets now. */
export function submitChild(venue: Venue, order: LiquidationOrder, nowUs: number): Child {
  const bookVolume = venue.bookVolume(order.market, order.side === 'sell' ? 'bid' : 'ask', PARTICIPATION_BAND);
  const ticket = venue.submit({ market: order.market, side: order.side, quantity: order.quantity, limitPrice: order.limitPrice, clientId: order.id }, nowUs);
  return { order, submittedUs: nowUs, executeAtUs: ticket.executeAtUs, bookVolume, participation: bookVolume > 0 ? order.quantity / bookVolume : Infinity };
}

/** Whether an order executed with `fill` (fillOf; none) leaves a rest the engine still holds open, to expire. */
export function restsOpen(order: LiquidationOrder, fill: Fill | undefined): boolean {
  return fill === undefined || order.quantity - fill.quantity > OPEN_TOLERANCE * order.quantity;
}

/**
 * The engine's fill of an execution: the levels' volume-weighted price, the quantity they filled, the execution
 * time; none for less than a billionth of the order (the dust a sweep leaves on a level it all but emptied).
 *
 * The price is summed from the levels, not taken from `averagePrice`: the sweep's `filled` is `quantity - remaining`,
 * which for a dust fill of a large order keeps only a few digits, and notional / filled is then far off. Every level
 * taken is within the limit, so the true average is too; the clamp only undoes the last bit of floating-point
 * rounding, which the engine would otherwise refuse as worse than the limit.
 */
export function fillOf(order: LiquidationOrder, x: Execution): Fill | undefined {
  let quantity = 0;
  let notional = 0;
  for (const level of x.fills) {
    quantity += level.quantity;
    notional += level.price * level.quantity;
  }
  quantity = Math.min(quantity, order.quantity);
  if (!(quantity > OPEN_TOLERANCE * order.quantity)) return undefined;
  const average = notional / quantity;
  const price = order.side === 'sell' ? Math.max(average, order.limitPrice) : Math.min(average, order.limitPrice);
  return { orderId: order.id, account: order.account, market: order.market, quantity, price, eventTimeUs: x.executedUs };
}
