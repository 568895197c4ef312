/**
 * The simulated venue: several markets, each a VenueBook driven by a price path and background flow, and the orders
 * the caller sends, all on one event-time axis in microseconds that only the caller moves (no clock).
 *
 * `advance(toUs)` runs every event with time <= toUs, in time order; at equal times, first the venue step (every
 * `stepUs` from `startUs`: each market's reference mid and stress read from its path, swept holes that have
 * refilled forgotten), then background arrivals (markets in config order), then the caller's orders and fed-back
 * fills in submission order. So the result does not depend on how the caller splits its advances: advancing to T
 * in one call or in a thousand gives the same fills and mids, bit for bit, for the same seed and inputs.
 */
import { ErrorCode, UnwindError, configNumbers } from '../../errors.js';
import { VenueBook, validateBookParams, validateOrder, type BookParams, type BookSide, type Fill, type OrderSide, type Sweep } from './book.js';
import { BackgroundFlow, validateFlowParams, type FlowParams } from './flow.js';
import { type PricePath } from './paths.js';

export interface VenueMarketConfig {
  /** The market id, as the engine numbers markets. */
  readonly id: number;
  /** Moves the reference mid and the stress; path time 0 is the venue's `startUs`. */
  readonly path: PricePath;
  readonly book: BookParams;
  /** Other traders' market orders; none when absent. */
  readonly flow?: FlowParams;
}

export interface VenueConfig {
  /** Seeds every market's background flow (the paths carry their own seeds). */
  readonly seed: number;
  readonly markets: readonly VenueMarketConfig[];
  /** The fixed step at which paths are read, microseconds (default 100,000: 100 ms). */
  readonly stepUs?: number;
  /** An order submitted at t executes at t + latencyUs (default 0). */
  readonly latencyUs?: number;
  /** Event time of path time 0 (default 0). */
  readonly startUs?: number;
  /** Trades kept for `tradesSince` (default 100,000; older ones are dropped). */
  readonly maxTrades?: number;
}

export interface VenueOrder {
  readonly market: number;
  readonly side: OrderSide;
  /** Base units, > 0. */
  readonly quantity: number;
  /** IOC limit: no fill at a worse price. None: a market order, which takes the ladder as deep as it goes. */
  readonly limitPrice?: number;
  /** Echoed in the execution (e.g. the engine's order id). */
  readonly clientId?: string | number;
}

export interface Ticket {
  /** The venue's id for the order: 1, 2, ... in submission order (fed-back fills take numbers from the same count). */
  readonly id: number;
  readonly executeAtUs: number;
}

/** One of the caller's orders, executed. */
export interface Execution extends Sweep {
  readonly id: number;
  readonly clientId: string | number | undefined;
  readonly market: number;
  readonly side: OrderSide;
  /** As requested. */
  readonly quantity: number;
  readonly limitPrice: number | undefined;
  readonly submittedUs: number;
  readonly executedUs: number;
}

/** A fill made elsewhere whose impact the venue should feel (e.g. the engine's fills at its own prices). */
export interface FedFill {
  readonly market: number;
  /** The side of the order that filled: a sell moves the mid down. */
  readonly side: OrderSide;
  readonly quantity: number;
  /** Recorded in the trade; the mid before the impact when absent. */
  readonly price?: number;
}

/** Who traded: the caller's orders, other traders, or a fill fed back with `feedFill`. */
export type TradeSource = 'own' | 'flow' | 'feedback';

/** One execution of any source, for measuring: volume, prices, how the mid moved. */
export interface Trade {
  /** 1, 2, ... in execution order across all markets. */
  readonly seq: number;
  readonly market: number;
  readonly timeUs: number;
  readonly source: TradeSource;
  /** The aggressor's side. */
  readonly side: OrderSide;
  /** Filled, base units. */
  readonly quantity: number;
  readonly averagePrice: number;
  readonly midBefore: number;
  readonly midAfter: number;
  /** The venue order id, for the caller's own orders. */
  readonly orderId?: number;
}

interface Market {
  readonly id: number;
  readonly path: PricePath;
  readonly book: VenueBook;
  readonly flow: BackgroundFlow | undefined;
}

type Pending =
  | { readonly kind: 'order'; readonly id: number; readonly timeUs: number; readonly submittedUs: number; readonly order: VenueOrder }
  | { readonly kind: 'feedback'; readonly id: number; readonly timeUs: number; readonly fill: FedFill };

export class Venue {
  readonly stepUs: number;
  readonly latencyUs: number;
  readonly startUs: number;
  private now: number;
  private nextStepUs: number;
  private readonly list: readonly Market[];
  private readonly byId = new Map<number, Market>();
  /** Orders and fed-back fills not yet run, by (timeUs, id). */
  private readonly pending: Pending[] = [];
  private submitted = 0;
  private readonly trades: Trade[] = [];
  private tradeSeq = 0;
  private readonly maxTrades: number;

  constructor(config: VenueConfig) {
    const check = configNumbers(config, 'venue');
    check('seed', Number.isInteger, 'an integer');
    this.stepUs = config.stepUs ?? 100_000;
    this.latencyUs = config.latencyUs ?? 0;
    this.startUs = config.startUs ?? 0;
    this.maxTrades = config.maxTrades ?? 100_000;
    const c = configNumbers({ stepUs: this.stepUs, latencyUs: this.latencyUs, startUs: this.startUs, maxTrades: this.maxTrades }, 'venue');
    c('stepUs', (v) => Number.isInteger(v) && v > 0, 'an integer number of microseconds > 0');
    c('latencyUs', (v) => v >= 0 && Number.isFinite(v), 'a finite latency >= 0 in microseconds');
    c('startUs', Number.isFinite, 'a finite event time in microseconds');
    c('maxTrades', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
    if (!Array.isArray(config.markets) || config.markets.length === 0) throw new UnwindError(ErrorCode.InvalidConfig, 'expected a non-empty array of markets', 'venue.markets');
    this.list = config.markets.map((m, i) => {
      const field = `venue.markets[${i}]`;
      configNumbers(m, field)('id', (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
      if (this.byId.has(m.id)) throw new UnwindError(ErrorCode.DuplicateMarket, `market ${m.id} is listed twice`, `${field}.id`);
      if (typeof m.path?.priceAt !== 'function' || typeof m.path.liquidityAt !== 'function') {
        throw new UnwindError(ErrorCode.InvalidConfig, 'expected a PricePath (priceAt, liquidityAt)', `${field}.path`);
      }
      validateBookParams(m.book, `${field}.book`);
      if (m.flow !== undefined) validateFlowParams(m.flow, `${field}.flow`);
      const book = new VenueBook(m.book, m.path.startPrice);
      book.setReference(m.path.priceAt(0), m.path.liquidityAt(0), this.startUs);
      const flow = m.flow === undefined ? undefined : new BackgroundFlow(m.flow, flowSeed(config.seed, m.id), this.startUs);
      const market = { id: m.id, path: m.path, book, flow };
      this.byId.set(m.id, market);
      return market;
    });
    this.now = this.startUs;
    this.nextStepUs = this.startUs + this.stepUs;
  }

  /** The venue's event time: where the last `advance` left it. */
  get nowUs(): number {
    return this.now;
  }

  /** Market ids, in config order. */
  get markets(): readonly number[] {
    return this.list.map((m) => m.id);
  }

  /**
   * Sends an order at event time `nowUs` (>= the venue's time). It executes at `nowUs + latencyUs` against the book
   * as it is then, inside the `advance` that reaches that time, which returns its Execution.
   */
  submit(order: VenueOrder, nowUs: number): Ticket {
    this.checkTime(nowUs, 'nowUs');
    validateOrder(order, 'order');
    this.market(order.market);
    const id = ++this.submitted;
    const timeUs = nowUs + this.latencyUs;
    this.enqueue({ kind: 'order', id, timeUs, submittedUs: nowUs, order: { ...order } });
    return { id, executeAtUs: timeUs };
  }

  /**
   * Feeds back a fill made elsewhere: at `nowUs` (no latency) the mid moves by gamma * quantity as if it had
   * traded here, which thins the book as the price falls and can push the caller's engine into more liquidations.
   * It takes no depth; an order that should both take depth and move the mid is `submit`ted instead.
   */
  feedFill(fill: FedFill, nowUs: number): void {
    this.checkTime(nowUs, 'nowUs');
    validateOrder({ side: fill?.side, quantity: fill?.quantity }, 'fill');
    if (fill.price !== undefined && !(typeof fill.price === 'number' && fill.price > 0 && Number.isFinite(fill.price))) {
      throw new UnwindError(ErrorCode.InvalidPrice, `expected a finite price > 0 or none, got ${String(fill.price)}`, 'fill.price');
    }
    this.market(fill.market);
    this.enqueue({ kind: 'feedback', id: ++this.submitted, timeUs: nowUs, fill: { ...fill } });
  }

  /** Runs every step, arrival, order and fed-back fill up to and including `toUs`; returns the caller's executions. */
  advance(toUs: number): Execution[] {
    this.checkTime(toUs, 'toUs');
    const out: Execution[] = [];
    for (;;) {
      let flowMarket: Market | undefined;
      for (const m of this.list) if (m.flow !== undefined && (flowMarket === undefined || m.flow.nextUs < flowMarket.flow!.nextUs)) flowMarket = m;
      const tFlow = flowMarket?.flow!.nextUs ?? Infinity;
      const tPending = this.pending[0]?.timeUs ?? Infinity;
      const t = Math.min(this.nextStepUs, tFlow, tPending);
      if (t > toUs) break;
      if (t === this.nextStepUs) {
        this.step(t);
        this.nextStepUs += this.stepUs;
      } else if (t === tFlow) {
        const { side, quantity } = flowMarket!.flow!.take();
        this.record(flowMarket!, 'flow', t, side, flowMarket!.book.sweep(side, quantity, undefined, t));
      } else {
        const p = this.pending.shift()!;
        if (p.kind === 'order') out.push(this.execute(p, t));
        else this.feedback(p.fill, t);
      }
    }
    this.now = toUs;
    return out;
  }

  mid(market: number): number {
    return this.market(market).book.mid;
  }

  /** Best bid and ask with quantity now (null for a side swept bare). */
  top(market: number): { bid: number | null; ask: number | null } {
    const book = this.market(market).book;
    return { bid: book.best('bid', this.now), ask: book.best('ask', this.now) };
  }

  /** Base quantity on `side` within `withinFraction` of the mid (0.01: 1%), now: what a participation cap measures. */
  bookVolume(market: number, side: BookSide, withinFraction: number): number {
    if (side !== 'bid' && side !== 'ask') throw new UnwindError(ErrorCode.InvalidArgument, `expected 'bid' or 'ask', got ${String(side)}`, 'side');
    return this.market(market).book.volumeWithin(side, withinFraction, this.now);
  }

  /** The first `count` levels of `side` now, best first (quantity 0 where a sweep left a hole). */
  depth(market: number, side: BookSide, count: number): Fill[] {
    return this.market(market).book.levels(side, count, this.now);
  }

  /** The book's liquidity factor now, in (0, 1]. */
  liquidity(market: number): number {
    return this.market(market).book.liquidity;
  }

  /** Trades with seq > `seq` still kept (all sources, all markets), oldest first. */
  tradesSince(seq: number): Trade[] {
    let lo = 0;
    let hi = this.trades.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (this.trades[m]!.seq <= seq) lo = m + 1;
      else hi = m;
    }
    return this.trades.slice(lo);
  }

  /** The seq of the last trade (0 before any): a cursor for `tradesSince`. */
  get lastTradeSeq(): number {
    return this.tradeSeq;
  }

  private step(t: number): void {
    const pathT = t - this.startUs;
    for (const m of this.list) m.book.setReference(m.path.priceAt(pathT), m.path.liquidityAt(pathT), t);
  }

  private execute(p: Pending & { kind: 'order' }, t: number): Execution {
    const m = this.market(p.order.market);
    const sweep = m.book.sweep(p.order.side, p.order.quantity, p.order.limitPrice, t);
    this.record(m, 'own', t, p.order.side, sweep, p.id);
    return {
      id: p.id,
      clientId: p.order.clientId,
      market: m.id,
      side: p.order.side,
      quantity: p.order.quantity,
      limitPrice: p.order.limitPrice,
      submittedUs: p.submittedUs,
      executedUs: t,
      ...sweep,
    };
  }

  private feedback(fill: FedFill, t: number): void {
    const m = this.market(fill.market);
    const midBefore = m.book.mid;
    m.book.permanentImpact(fill.side, fill.quantity);
    const price = fill.price ?? midBefore;
    this.push({ market: m.id, timeUs: t, source: 'feedback', side: fill.side, quantity: fill.quantity, averagePrice: price, midBefore, midAfter: m.book.mid });
  }

  private record(m: Market, source: TradeSource, t: number, side: OrderSide, s: Sweep, orderId?: number): void {
    if (s.filled <= 0) return;
    const trade = { market: m.id, timeUs: t, source, side, quantity: s.filled, averagePrice: s.averagePrice!, midBefore: s.midBefore, midAfter: s.midAfter };
    this.push(orderId === undefined ? trade : { ...trade, orderId });
  }

  private push(trade: Omit<Trade, 'seq'>): void {
    this.trades.push({ seq: ++this.tradeSeq, ...trade });
    if (this.trades.length >= 2 * this.maxTrades) this.trades.splice(0, this.trades.length - this.maxTrades);
  }

  private enqueue(p: Pending): void {
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.timeUs > p.timeUs) i--;
    this.pending.splice(i, 0, p);
  }

  private market(id: number): Market {
    const m = this.byId.get(id);
    if (m === undefined) throw new UnwindError(ErrorCode.UnknownMarket, `no market ${String(id)} at this venue`, 'market');
    return m;
  }

  private checkTime(tUs: number, field: string): void {
    if (typeof tUs !== 'number' || !Number.isFinite(tUs)) throw new UnwindError(ErrorCode.InvalidArgument, `expected an event time in microseconds, got ${String(tUs)}`, field);
    if (tUs < this.now) throw new UnwindError(ErrorCode.InvalidArgument, `event time ${tUs} is before the venue's time ${this.now}; time only moves forward`, field);
  }
}

/** Each market's flow stream, from the venue seed and the market id (not its position in the config). */
function flowSeed(seed: number, market: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(market + 1, 0x85ebca6b)) >>> 0;
}
