/**
 * One market's limit order book, as the simulated venue's liquidity providers keep it: bid and ask ladders of
 * price levels one tick apart around a mid, whose depth thins with distance from the mid, with falling prices and
 * under stress; market and IOC orders sweep it; swept depth refills with a half-life; every execution moves the
 * mid for good.
 *
 * The model (prices in quote per base, quantities in base units, times in microseconds of event time):
 *   mid = reference * impact, where `reference` is the price path's target (set at each venue step) and `impact`
 *     is the product of every permanent move so far;
 *   liquidity L = stress * min(1, (mid / startPrice) ^ priceElasticity): `stress` is the path's liquidity factor
 *     (1 calm, down to 0.05-0.1 in a cascade), the second factor thins the book as the price falls below where it
 *     started (elasticity 2: 20% down shows 64% of the depth);
 *   spread: s = `minSpreadTicks`, widened to round(minSpreadTicks / L) as liquidity drains; best bid =
 *     floor(mid/tick - s/2) ticks, best ask = ceil(mid/tick + s/2) ticks: s or s + 1 ticks apart, depending on
 *     where the mid falls inside a tick, and never a quote at or through the mid;
 *   profile: level i (0 = best) holds `d(i) = depth0 * exp(-decayPerLevel * i) * L`, for `levels` levels a side;
 *   what is there: `d(i) * (1 - consumed(price))`, where `consumed` is the share of the level at that price that
 *     orders took, decaying as `consumed * 2^(-dt / resilienceHalfLifeS)`. Holes stay at their prices (not at
 *     their distance from the mid), so a sweep leaves the next order a worse price until the book refills:
 *     that is the temporary impact;
 *   permanent impact: after an execution of q, the mid moves by gamma * q (up for a buy, down for a sell; never
 *     below one tick).
 */
import { ErrorCode, UnwindError, configNumbers } from '../../errors.js';

export type OrderSide = 'buy' | 'sell';
export type BookSide = 'bid' | 'ask';

export interface BookParams {
  /** Price increment, quote per base. */
  readonly tick: number;
  /** The narrowest spread, in ticks (an integer >= 1). */
  readonly minSpreadTicks: number;
  /** Price levels on each side. */
  readonly levels: number;
  /** Quantity at the best level at full liquidity, base units. */
  readonly depth0: number;
  /** k in `depth0 * exp(-k * i)`: how fast depth thins away from the best level. */
  readonly decayPerLevel: number;
  /** Permanent impact: the mid moves by gamma * quantity (quote per base, per base unit traded). */
  readonly gamma: number;
  /** Seconds for swept depth to be half refilled (Infinity: never). */
  readonly resilienceHalfLifeS: number;
  /** How fast the book thins as the mid falls below the start price: L *= (mid / start) ^ priceElasticity. */
  readonly priceElasticity: number;
}

export interface Fill {
  readonly price: number;
  readonly quantity: number;
}

/** What one market or IOC order got. */
export interface Sweep {
  /** One per level touched, best first. */
  readonly fills: readonly Fill[];
  readonly filled: number;
  /** Requested but not filled: beyond the limit or the ladder. An IOC's rest is cancelled. */
  readonly unfilled: number;
  /** Volume-weighted price of the fills; null when nothing filled. */
  readonly averagePrice: number | null;
  readonly midBefore: number;
  readonly midAfter: number;
}

/** Consumed share of a level, as of `tUs`. */
interface Hole {
  readonly share: number;
  readonly tUs: number;
}

/** Holes below this share are forgotten (at most once a half-life): they no longer change any quantity that matters. */
const FORGET_BELOW = 1e-12;
/** Liquidity never reaches 0, so the spread and every quantity stay finite. */
const MIN_LIQUIDITY = 1e-6;

export function validateBookParams(p: BookParams, field = 'book'): void {
  const check = configNumbers(p, field);
  check('tick', (v) => v > 0 && Number.isFinite(v), 'a finite tick > 0');
  check('minSpreadTicks', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  check('levels', (v) => Number.isInteger(v) && v >= 1 && v <= 1_000_000, 'an integer in [1, 1000000]');
  check('depth0', (v) => v > 0 && Number.isFinite(v), 'a finite quantity > 0');
  check('decayPerLevel', (v) => v >= 0 && Number.isFinite(v), 'a finite rate >= 0');
  check('gamma', (v) => v >= 0 && Number.isFinite(v), 'a finite impact >= 0');
  check('resilienceHalfLifeS', (v) => v > 0, 'a half-life > 0 in seconds (Infinity: never refills)');
  check('priceElasticity', (v) => v >= 0 && Number.isFinite(v), 'a finite elasticity >= 0');
}

/**
 * Book parameters for a market trading near `startPrice`, scaled so that at full liquidity the bids within 1% of
 * the mid hold `depthNotional` quote (default 5 M), depth at 1% away is e^-1 of the best level's, the ladder spans
 * about 5%, and selling the whole 1% depth moves the mid by 0.5% for good. The tick is the power of ten at or below
 * 1 basis point of the price. Any field can be overridden.
 */
export function bookParamsFor(startPrice: number, overrides: Partial<BookParams> & { readonly depthNotional?: number } = {}): BookParams {
  const { depthNotional = 5_000_000, ...rest } = overrides;
  const check = configNumbers({ startPrice, depthNotional }, 'bookParamsFor');
  check('startPrice', (v) => v > 0 && Number.isFinite(v), 'a finite price > 0');
  check('depthNotional', (v) => v > 0 && Number.isFinite(v), 'a finite notional > 0');
  const tick = rest.tick ?? 10 ** Math.floor(Math.log10(startPrice * 1e-4));
  const levelsPerPercent = Math.max(1, Math.round((0.01 * startPrice) / tick));
  const k = 1 / levelsPerPercent;
  const quantityWithin1Pct = depthNotional / startPrice;
  const params = {
    tick,
    minSpreadTicks: 1,
    levels: 5 * levelsPerPercent,
    depth0: (quantityWithin1Pct * (1 - Math.exp(-k))) / (1 - Math.exp(-k * levelsPerPercent)),
    decayPerLevel: k,
    gamma: (0.005 * startPrice) / quantityWithin1Pct,
    resilienceHalfLifeS: 10,
    priceElasticity: 2,
    ...rest,
  };
  validateBookParams(params, 'bookParamsFor');
  return params;
}

/** Refuses an order the book cannot take: a side other than buy or sell, a quantity or limit that is not a finite number > 0. */
export function validateOrder(o: { readonly side: unknown; readonly quantity: unknown; readonly limitPrice?: unknown }, field: string): void {
  if (o === null || typeof o !== 'object') throw new UnwindError(ErrorCode.InvalidArgument, 'expected an order object', field);
  if (o.side !== 'buy' && o.side !== 'sell') throw new UnwindError(ErrorCode.InvalidArgument, `expected 'buy' or 'sell', got ${String(o.side)}`, `${field}.side`);
  if (typeof o.quantity !== 'number' || !(o.quantity > 0 && Number.isFinite(o.quantity))) {
    throw new UnwindError(ErrorCode.InvalidSize, `expected a finite quantity > 0, got ${String(o.quantity)}`, `${field}.quantity`);
  }
  if (o.limitPrice !== undefined && (typeof o.limitPrice !== 'number' || !(o.limitPrice > 0 && Number.isFinite(o.limitPrice)))) {
    throw new UnwindError(ErrorCode.InvalidPrice, `expected a finite limit price > 0 or none, got ${String(o.limitPrice)}`, `${field}.limitPrice`);
  }
}

export class VenueBook {
  private reference: number;
  private impact = 1;
  private stress = 1;
  private readonly decay: Float64Array;
  /** Ticks per unit of price when the tick is 1/n: prices are then idx / n, which prints as the decimal it is. */
  private readonly perUnit: number | undefined;
  private readonly holes: Record<BookSide, Map<number, Hole>> = { bid: new Map(), ask: new Map() };
  private nextForgetUs = -Infinity;

  constructor(
    readonly params: BookParams,
    /** The price the depth profile is measured against (the path's start). */
    readonly startPrice: number,
  ) {
    validateBookParams(params);
    configNumbers({ startPrice }, 'book')('startPrice', (v) => v > 0 && Number.isFinite(v), 'a finite price > 0');
    this.reference = startPrice;
    this.decay = Float64Array.from({ length: params.levels }, (_, i) => Math.exp(-params.decayPerLevel * i));
    const n = Math.round(1 / params.tick);
    this.perUnit = n >= 1 && Math.abs(1 / params.tick - n) < 1e-9 * n ? n : undefined;
  }

  /** The mid: the path's reference times every permanent impact so far. */
  get mid(): number {
    return this.reference * this.impact;
  }

  /** The share of its full profile the book shows now, in (0, 1]. */
  get liquidity(): number {
    const priceFactor = Math.min(1, (this.mid / this.startPrice) ** this.params.priceElasticity);
    return Math.max(MIN_LIQUIDITY, this.stress * priceFactor);
  }

  /** The spread the providers quote now, in ticks (before any sweep widens it further). */
  get spreadTicks(): number {
    return Math.max(this.params.minSpreadTicks, Math.round(this.params.minSpreadTicks / this.liquidity));
  }

  /** A venue step at `tUs`: the path's new reference and stress; holes that have refilled are forgotten. */
  setReference(price: number, stress: number, tUs: number): void {
    if (!(price > 0 && Number.isFinite(price))) throw new UnwindError(ErrorCode.InvalidPrice, `expected a finite reference price > 0, got ${price}`, 'reference');
    if (!(stress > 0 && stress <= 1)) throw new UnwindError(ErrorCode.InvalidArgument, `expected a liquidity factor in (0, 1], got ${stress}`, 'liquidity');
    this.reference = price;
    this.stress = stress;
    // Forgetting costs a pass over every hole: once a half-life is often enough to keep the maps small.
    if (tUs < this.nextForgetUs) return;
    this.nextForgetUs = tUs + Math.max(1e6, this.params.resilienceHalfLifeS * 1e6);
    for (const side of ['bid', 'ask'] as const) {
      const holes = this.holes[side];
      for (const [idx, hole] of holes) if (this.shareAt(hole, tUs) < FORGET_BELOW) holes.delete(idx);
    }
  }

  /** The best price with quantity on `side` at `tUs`, or null when the whole ladder is empty. */
  best(side: BookSide, tUs: number): number | null {
    let found: number | null = null;
    this.walk(side, tUs, (price, quantity) => {
      if (quantity <= 0) return true;
      found = price;
      return false;
    });
    return found;
  }

  /** The first `count` levels of `side` at `tUs`, best first, with what is there (0 for a swept level). */
  levels(side: BookSide, count: number, tUs: number): Fill[] {
    const out: Fill[] = [];
    this.walk(side, tUs, (price, quantity) => {
      out.push({ price, quantity });
      return out.length < count;
    });
    return out;
  }

  /** Quantity on `side` at prices within `fraction` of the mid (bids >= mid * (1 - f), asks <= mid * (1 + f)). */
  volumeWithin(side: BookSide, fraction: number, tUs: number): number {
    if (!(fraction >= 0 && Number.isFinite(fraction))) throw new UnwindError(ErrorCode.InvalidArgument, `expected a finite fraction >= 0, got ${fraction}`, 'withinFraction');
    const bound = side === 'bid' ? this.mid * (1 - fraction) : this.mid * (1 + fraction);
    let total = 0;
    this.walk(side, tUs, (price, quantity) => {
      if (side === 'bid' ? price < bound : price > bound) return false;
      total += quantity;
      return true;
    });
    return total;
  }

  /**
   * A market (no limit) or IOC order at `tUs`: takes levels best first while their price is no worse than
   * `limitPrice`, then moves the mid by gamma * filled. The unfilled rest is cancelled, not rested.
   */
  sweep(side: OrderSide, quantity: number, limitPrice: number | undefined, tUs: number): Sweep {
    validateOrder({ side, quantity, limitPrice }, 'order');
    const bookSide: BookSide = side === 'sell' ? 'bid' : 'ask';
    const holes = this.holes[bookSide];
    const midBefore = this.mid;
    const fills: Fill[] = [];
    let remaining = quantity;
    let notional = 0;
    // The sum of what was taken, not quantity - remaining: a tiny fill of a large order would lose its digits there.
    let filled = 0;
    this.walk(bookSide, tUs, (price, available, idx, profile, share) => {
      if (limitPrice !== undefined && (side === 'sell' ? price < limitPrice : price > limitPrice)) return false;
      if (available <= 0) return true;
      const take = remaining < available ? remaining : available;
      holes.set(idx, { share: Math.min(1, share + take / profile), tUs });
      fills.push({ price, quantity: take });
      notional += price * take;
      filled += take;
      remaining -= take;
      return remaining > 0;
    });
    // Filled whole: exactly the quantity asked (the sum of the takes may differ in its last digit).
    if (!(remaining > 0)) filled = quantity;
    if (filled > 0) this.permanentImpact(side, filled);
    return { fills, filled, unfilled: remaining, averagePrice: filled > 0 ? notional / filled : null, midBefore, midAfter: this.mid };
  }

  /** Moves the mid by gamma * quantity (up for a buy, down for a sell, never below one tick), for good. */
  permanentImpact(side: OrderSide, quantity: number): void {
    const mid = this.mid;
    const move = this.params.gamma * quantity;
    const next = side === 'buy' ? mid + move : Math.max(this.params.tick, mid - move);
    this.impact *= next / mid;
  }

  /** Visits the levels of `side` best first until `visit` returns false or the ladder ends. */
  private walk(side: BookSide, tUs: number, visit: (price: number, available: number, idx: number, profile: number, share: number) => boolean): void {
    const { tick, depth0, levels } = this.params;
    const liquidity = this.liquidity;
    const s = this.spreadTicks;
    const center = this.mid / tick;
    const best = side === 'bid' ? Math.floor(center - s / 2) : Math.ceil(center + s / 2);
    const step = side === 'bid' ? -1 : 1;
    const holes = this.holes[side];
    for (let i = 0; i < levels; i++) {
      const idx = best + step * i;
      if (idx <= 0) return;
      const profile = depth0 * this.decay[i]! * liquidity;
      const hole = holes.get(idx);
      const share = hole === undefined ? 0 : this.shareAt(hole, tUs);
      const price = this.perUnit === undefined ? idx * tick : idx / this.perUnit;
      if (!visit(price, profile * (1 - share), idx, profile, share)) return;
    }
  }

  private shareAt(hole: Hole, tUs: number): number {
    const dt = tUs - hole.tUs;
    return dt <= 0 ? hole.share : hole.share * 2 ** (-dt / (this.params.resilienceHalfLifeS * 1e6));
  }
}
