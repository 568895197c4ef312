/**
 * Thread: main. The market-impact model (src/models/impact.ts) fitted per market to the engine's own liquidation
 * fills, and handed to the executor through the shared tables: markets.impactEta and impactGamma, written through
 * the single writer (`TableWriter.setImpactAt`), which an 'almgren-chriss' strategy without its own eta reads.
 *
 * One observation per order we emit, from its emission to its end (filled whole, expired, timed out):
 *   side           ours: 1 bought, -1 sold;
 *   arrival mark   the market's mark price in the tables when the order left (the epoch's, which decided it);
 *   book volume    the depth on the side it trades against then: markets.bidVolume for a sell, askVolume for a buy;
 *   fills          the quantity filled, its quantity-weighted average price, the last fill's event time;
 *   mid after      the mark price once the market's event time is `delaySec` past the last fill, read in the first
 *                  landing at or past that time (the latest price the engine has then; with delaySec 0, the mark
 *                  as the fill lands);
 *   duration       the time the quantity is charged over: from the emission (the engine's event time, as the
 *                  clearing counts an order's deadline) to the last fill, and at least `minDurationSec` (default 1 s);
 *   permanent share 0: the order is one trade, whose fills take the book from where the order found it; its own
 *                  permanent impact comes after them (src/models/impact.ts, AC's discrete form);
 *   volatility     over the duration, from an EWMA of the market's mark (src/models/ewma.ts, its defaults) fed the
 *                  mark at the market's event time at each epoch's start, as the executor's estimate is.
 *
 * Why a minimum duration: the eta goes to 'almgren-chriss', which prices a child of n sent once per `stepSec` at a
 * temporary cost of eta n / stepSec per unit (h(v) = eta v at the rate v = n / stepSec) and plans with kappa =
 * sqrt(lambda sigma^2 / eta). An IOC sweeps the book in one go: its cost per unit is (book slope / 2) n whatever its
 * emission-to-fill time, which is only the venue's latency (2 ms in the simulator). Charged over that, eta would be
 * the slope times 1 ms, 2,500 times smaller than the eta of a child sent every 5 s, and kappa 50 times too large.
 * Charged over the schedule's step, eta = (slope / 2) stepSec is the one the schedule's own formula expects. So set
 * `minDurationSec` to the stepSec of the 'almgren-chriss' schedule that reads the fit (the backtest does); an order
 * that took longer to fill than that (a resting order) is charged over its own time, its real rate.
 *
 * An order without a fill gives nothing. The model takes only observations whose fields are all finite and > 0
 * (validateFillObservation), so one is left out, counted by reason, when the depth was unknown (Infinity, or 0),
 * the EWMA had no return yet (or a flat mark), or the last fill's event time was before the emission (or at it,
 * with no minimum duration). The model refits on its own schedule (first at `minFills`, then every `refitEvery`
 * observations); a refit that changes the linear fit writes its eta and gamma inside the landing that completed the
 * observation.
 *
 * Orders of one market that overlap in time each carry the others' permanent impact in their mid after, which
 * overstates gamma (src/sim/model-eval.ts pools an epoch's orders per market for that reason).
 *
 * Deterministic: a fill, an expiry and each input's end are seen where the writer lands them, in input order
 * (`TableWriter.afterWrites`, the sequenced settlements); emissions, time-outs and the EWMA's samples at an epoch's
 * end and start, whose places in the input sequence the journal records. The state is plain data in the engine's
 * snapshot.
 */
import type { ImpactFitConfig } from '../config-types.js';
import type { Settlement } from '../clearing/clearing.js';
import { TOLERANCE } from '../clearing/open-orders.js';
import type { LiquidationOrder } from '../clearing/orders.js';
import type { Side } from '../domain/index.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { EwmaVolatility, type EwmaState } from '../models/ewma.js';
import { ImpactModel, validateImpactConfig, type FillObservation, type ImpactConfig, type ImpactState } from '../models/impact.js';
import { stateCount, stateNumber, stateObject } from '../models/check.js';
import type { Tables } from '../tables/layout.js';
import type { TableWriter } from '../tables/writer.js';
import { describe } from '../validate.js';

/** Seconds of event time after the last fill at which the mark is read as the mid after. Ours (ImpactFitConfig). */
export const DEFAULT_IMPACT_DELAY_SEC = 30;
/** Seconds an order's quantity is charged over at least (see the header). Ours: the eta of trading it in one second. */
export const DEFAULT_MIN_DURATION_SEC = 1;

/** One of our orders being watched: from emission to its end, then until its mid after is read. */
export interface WatchedOrder {
  readonly id: string;
  readonly market: number;
  readonly side: Side;
  /** Base units ordered. */
  readonly quantity: number;
  readonly arrivalMark: number;
  /** The engine's event time at emission, microseconds. */
  readonly emittedUs: number;
  /** Depth on the side traded at emission, base units (Infinity or 0: unknown). */
  readonly bookVolume: number;
  /** Base units filled so far, and their sum of quantity * price. */
  filled: number;
  notional: number;
  /** Event time of the last fill, microseconds (0: none yet). */
  lastFillUs: number;
}

/** Observations left out of the model, by reason (see the header). */
export interface LeftOut {
  depth: number;
  volatility: number;
  duration: number;
}

/** The observer's state as plain data (a snapshot's part). */
export interface ImpactObserverState {
  /** Per market id, in the order first seen: its model, its EWMA of the mark, what was left out. */
  readonly markets: readonly { readonly market: number; readonly model: ImpactState; readonly ewma: EwmaState; readonly leftOut: LeftOut }[];
  /** Orders emitted and not yet ended, in emission order. */
  readonly working: readonly WatchedOrder[];
  /** Orders ended with a fill, waiting for their mid after, oldest first. */
  readonly waiting: readonly WatchedOrder[];
}

interface MarketFit {
  readonly model: ImpactModel;
  readonly ewma: EwmaVolatility;
  leftOut: LeftOut;
}

const US_PER_SECOND = 1_000_000;

export class ImpactObserver {
  readonly delaySec: number;
  readonly minDurationSec: number;
  private readonly modelConfig: ImpactConfig;
  private readonly markets = new Map<number, MarketFit>();
  /** By order id, in emission order (the clearing's open orders, and bounded like them). */
  private readonly working = new Map<string, WatchedOrder>();
  private waiting: WatchedOrder[] = [];
  /** The end of an input's landing, as one function (queued behind the writer's staged writes every input). */
  readonly landed = (): void => this.readMidsAfter();

  constructor(
    private readonly tables: Tables,
    private readonly writer: TableWriter,
    config: ImpactFitConfig | undefined,
    /** The most orders watched at once, and waiting at once: the clearing's maxOpenOrders. */
    private readonly maxOrders: number,
  ) {
    const { delaySec, minDurationSec, ...model } = config ?? {};
    this.delaySec = delaySec ?? DEFAULT_IMPACT_DELAY_SEC;
    this.minDurationSec = minDurationSec ?? DEFAULT_MIN_DURATION_SEC;
    this.modelConfig = validateImpactConfig(model, 'execution.impact');
  }

  /**
   * Whether any order is watched or waiting for its mid after. While none is, an input's landing completes nothing,
   * even staged: an observation starts from an order emitted before the fills that end it were accepted.
   */
  get watching(): boolean {
    return this.working.size > 0 || this.waiting.length > 0;
  }

  /** Epoch start: each market's mark at its event time goes into its EWMA. */
  sample(): void {
    const mk = this.tables.markets;
    for (let m = 0; m < this.writer.markets; m++) {
      const time = mk.eventTimeUs[m]!;
      const price = mk.markPrice[m]!;
      if (time === 0 || !(price > 0)) continue; // prices without event time
      const ewma = this.fitOf(mk.id[m]!).ewma;
      const last = ewma.lastObservedUs;
      if (last === null || time >= last) ewma.observe(time, price);
    }
  }

  /** Epoch end: the orders that leave (after the clearing's screen), at the engine's event time `nowUs`. */
  emitted(orders: readonly LiquidationOrder[], nowUs: number): void {
    const mk = this.tables.markets;
    for (const o of orders) {
      const m = this.writer.marketIndexOf(o.market);
      const side: Side = o.side === 'buy' ? 1 : -1;
      // A sell takes the bids, a buy the asks.
      const bookVolume = side === -1 ? mk.bidVolume[m]! : mk.askVolume[m]!;
      this.working.set(o.id, { id: o.id, market: o.market, side, quantity: o.quantity, arrivalMark: mk.markPrice[m]!, emittedUs: nowUs, bookVolume, filled: 0, notional: 0, lastFillUs: 0 });
      if (this.working.size > this.maxOrders) this.working.delete(this.working.keys().next().value!);
    }
  }

  /** Inside a fill's landing: one of our fills settled. */
  settled(s: Settlement): void {
    const w = this.working.get(s.orderId);
    if (w === undefined) return;
    w.filled += s.quantity;
    w.notional += s.quantity * s.price;
    w.lastFillUs = Math.max(w.lastFillUs, s.eventTimeUs);
    if (s.orderRemaining <= TOLERANCE * w.quantity) this.end(w);
  }

  /** Inside a landing (an expiry) or behind the staged writes (time-outs): orders that will not fill any more. */
  ended(orderIds: readonly string[]): void {
    for (const id of orderIds) {
      const w = this.working.get(id);
      if (w !== undefined) this.end(w);
    }
  }

  private end(w: WatchedOrder): void {
    this.working.delete(w.id);
    if (w.filled === 0) return;
    this.waiting.push(w);
    if (this.waiting.length > this.maxOrders) this.waiting.shift();
    this.readMidsAfter();
  }

  /** Reads the mid after of every waiting order whose market's event time is `delaySec` past its last fill. */
  private readMidsAfter(): void {
    if (this.waiting.length === 0) return;
    const mk = this.tables.markets;
    const delayUs = this.delaySec * US_PER_SECOND;
    const kept: WatchedOrder[] = [];
    for (const w of this.waiting) {
      const m = this.writer.marketIndexOf(w.market);
      if (mk.eventTimeUs[m]! >= w.lastFillUs + delayUs) this.observe(w, m, mk.markPrice[m]!);
      else kept.push(w);
    }
    this.waiting = kept;
  }

  /** A completed observation into its market's model; the tables take a changed linear fit. */
  private observe(w: WatchedOrder, m: number, midAfter: number): void {
    const fit = this.fitOf(w.market);
    const elapsedSec = (w.lastFillUs - w.emittedUs) / US_PER_SECOND;
    const durationSec = Math.max(elapsedSec, this.minDurationSec);
    if (!(elapsedSec >= 0 && durationSec > 0)) return void fit.leftOut.duration++;
    if (!(w.bookVolume > 0 && w.bookVolume < Infinity)) return void fit.leftOut.depth++;
    const volatility = fit.ewma.volatility(durationSec);
    if (volatility === undefined || !(volatility > 0 && volatility < Infinity)) return void fit.leftOut.volatility++;
    const observation: FillObservation = {
      side: w.side,
      quantity: w.filled,
      price: w.notional / w.filled,
      arrivalMidPrice: w.arrivalMark,
      midAfter,
      durationSec,
      permanentShare: 0,
      volatility,
      bookVolume: w.bookVolume,
    };
    const before = fit.model.linear;
    fit.model.observe(observation);
    const after = fit.model.linear;
    if (after !== null && (before === null || after.eta !== before.eta || after.gamma !== before.gamma)) this.writer.setImpactAt(m, after.eta, after.gamma);
  }

  private fitOf(market: number): MarketFit {
    let f = this.markets.get(market);
    if (f === undefined) this.markets.set(market, (f = { model: new ImpactModel(this.modelConfig), ewma: new EwmaVolatility(), leftOut: { depth: 0, volatility: 0, duration: 0 } }));
    return f;
  }

  /** A market's fits and what was left out (undefined: none of our orders nor an epoch has seen it yet). */
  fit(market: number): { readonly model: ImpactModel; readonly leftOut: Readonly<LeftOut> } | undefined {
    const f = this.markets.get(market);
    return f === undefined ? undefined : { model: f.model, leftOut: { ...f.leftOut } };
  }

  exportState(): ImpactObserverState {
    return {
      markets: [...this.markets].map(([market, f]) => ({ market, model: f.model.exportState(), ewma: f.ewma.exportState(), leftOut: { ...f.leftOut } })),
      working: [...this.working.values()].map((w) => ({ ...w })),
      waiting: this.waiting.map((w) => ({ ...w })),
    };
  }

  /** Restores exportState's data (of an observer with the same config), checked whole; undefined (a snapshot from before the fit): empty. */
  importState(state: ImpactObserverState | undefined): void {
    const markets = new Map<number, MarketFit>();
    const working = new Map<string, WatchedOrder>();
    let waiting: WatchedOrder[] = [];
    if (state !== undefined) {
      const s = stateObject(state, 'impact');
      for (const [i, x] of list(s.markets, 'impact.markets').entries()) {
        const f = `impact.markets[${i}]`;
        const e = stateObject(x, f);
        const market = stateCount(e.market, `${f}.market`);
        if (markets.has(market)) throw new UnwindError(ErrorCode.InvalidArgument, `market ${market} appears twice`, `${f}.market`);
        const model = new ImpactModel(this.modelConfig);
        model.importState(e.model as ImpactState);
        const ewma = new EwmaVolatility();
        ewma.importState(e.ewma as EwmaState);
        const l = stateObject(e.leftOut, `${f}.leftOut`);
        const leftOut = { depth: stateCount(l.depth, `${f}.leftOut.depth`), volatility: stateCount(l.volatility, `${f}.leftOut.volatility`), duration: stateCount(l.duration, `${f}.leftOut.duration`) };
        markets.set(market, { model, ewma, leftOut });
      }
      for (const [i, x] of list(s.working, 'impact.working').entries()) {
        const w = watched(x, `impact.working[${i}]`);
        working.set(w.id, w);
      }
      waiting = list(s.waiting, 'impact.waiting').map((x, i) => watched(x, `impact.waiting[${i}]`));
      if (working.size > this.maxOrders || waiting.length > this.maxOrders) throw new UnwindError(ErrorCode.InvalidArgument, `expected at most ${this.maxOrders} orders watched and waiting`, 'impact');
    }
    this.markets.clear();
    for (const [k, v] of markets) this.markets.set(k, v);
    this.working.clear();
    for (const [k, v] of working) this.working.set(k, v);
    this.waiting = waiting;
  }
}

function list(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw new UnwindError(ErrorCode.InvalidArgument, `expected an array, got ${describe(v)}`, field);
  return v;
}

/** A watched order from a state, checked field by field and copied. */
function watched(v: unknown, field: string): WatchedOrder {
  const o = stateObject(v, field);
  if (typeof o.id !== 'string') throw new UnwindError(ErrorCode.InvalidArgument, `expected an order id, got ${describe(o.id)}`, `${field}.id`);
  if (o.side !== 1 && o.side !== -1) throw new UnwindError(ErrorCode.InvalidArgument, `expected 1 or -1, got ${describe(o.side)}`, `${field}.side`);
  const bookVolume = o.bookVolume;
  if (typeof bookVolume !== 'number' || !(bookVolume >= 0)) throw new UnwindError(ErrorCode.InvalidArgument, `expected a volume >= 0 (Infinity: unknown), got ${describe(bookVolume)}`, `${field}.bookVolume`);
  return {
    id: o.id,
    market: stateCount(o.market, `${field}.market`),
    side: o.side,
    quantity: stateNumber(o.quantity, 0, `${field}.quantity`),
    arrivalMark: stateNumber(o.arrivalMark, 0, `${field}.arrivalMark`),
    emittedUs: stateNumber(o.emittedUs, 0, `${field}.emittedUs`),
    bookVolume,
    filled: stateNumber(o.filled, 0, `${field}.filled`),
    notional: stateNumber(o.notional, 0, `${field}.notional`),
    lastFillUs: stateNumber(o.lastFillUs, 0, `${field}.lastFillUs`),
  };
}
