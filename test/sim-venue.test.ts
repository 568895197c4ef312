import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Venue,
  betaPath,
  bookParamsFor,
  cascadePath,
  flowParamsFor,
  type BookParams,
  type Execution,
  type PricePath,
  type VenueConfig,
} from '../src/sim/venue/index.js';
import { codeOf } from './support/errors.js';

const S = 1e6;

/** A path that is `price(t)` with full liquidity: lets a test know exactly where the reference is. */
const pathOf = (price: (tUs: number) => number): PricePath => ({ startPrice: price(0), priceAt: price, liquidityAt: () => 1 });

const SMALL: BookParams = { tick: 0.01, minSpreadTicks: 1, levels: 2_000, depth0: 50, decayPerLevel: 0.01, gamma: 0.02, resilienceHalfLifeS: 10, priceElasticity: 2 };

/** BTC in the 2025-10-10 cascade and ETH following it with beta 1.2, both with background flow. */
function cascadeVenue(seed: number): Venue {
  const btc = cascadePath({ seed: 1, startPrice: 60_000 });
  const eth = betaPath(btc, { beta: 1.2, startPrice: 3_000 });
  return new Venue({
    seed,
    stepUs: 100_000,
    latencyUs: 3_000,
    markets: [
      { id: 0, path: btc, book: bookParamsFor(60_000), flow: flowParamsFor(60_000, { ratePerS: 2 }) },
      { id: 1, path: eth, book: bookParamsFor(3_000), flow: flowParamsFor(3_000, { ratePerS: 2 }) },
    ],
  });
}

/**
 * Two simulated hours through the cascade: every 5 s a sell of 2% of the bids within 1% of mid in each market,
 * limit 1% under the mid; the mids and the bids within 1% read every second. `cuts` splits each second's advance
 * into several calls at odd times (which must change nothing). Returns everything observed and its digest.
 */
function run(seed: number, cuts: readonly number[] = []): { executions: Execution[]; samples: number[]; digest: string } {
  const venue = cascadeVenue(seed);
  const executions: Execution[] = [];
  const samples: number[] = [];
  for (let second = 1; second <= 7_200; second++) {
    const t = second * S;
    for (const cut of cuts) executions.push(...venue.advance(t - S + cut));
    executions.push(...venue.advance(t));
    for (const m of venue.markets) samples.push(venue.mid(m), venue.bookVolume(m, 'bid', 0.01));
    if (second % 5 === 0) {
      for (const m of venue.markets) {
        const quantity = 0.02 * venue.bookVolume(m, 'bid', 0.01);
        venue.submit({ market: m, side: 'sell', quantity, limitPrice: venue.mid(m) * 0.99, clientId: `${m}@${second}` }, t);
      }
    }
  }
  const numbers = executions.flatMap((e) => [e.id, e.market, e.executedUs, e.filled, e.unfilled, e.averagePrice ?? -1, e.midBefore, e.midAfter, ...e.fills.flatMap((f) => [f.price, f.quantity])]);
  const digest = createHash('sha256').update(new Float64Array([...numbers, ...samples])).digest('hex');
  return { executions, samples, digest };
}

describe('the venue is deterministic', () => {
  const a = run(42);

  it('gives the same fills and mids, bit for bit, for the same seed over two simulated hours', () => {
    const b = run(42);
    expect(b.digest).toBe(a.digest);
    expect(b.executions).toEqual(a.executions);
    expect(a.executions.length).toBe(2 * 1_439);
    expect(a.executions.filter((e) => e.filled > 0).length).toBeGreaterThan(2_000);
  });

  it('gives the same, bit for bit, however the caller splits its advances', () => {
    expect(run(42, [1, 3_000, 3_001, 250_000, 999_999]).digest).toBe(a.digest);
  });

  it('gives other fills and mids for another seed', () => {
    const c = run(43);
    expect(c.digest).not.toBe(a.digest);
    expect(c.samples[2 * 3_600]).not.toBe(a.samples[2 * 3_600]);
  });

  it('shows the cascade: our sells fill worse as the book dries up', () => {
    const btc = a.executions.filter((e) => e.market === 0 && e.averagePrice !== null);
    const slippage = (e: Execution): number => 1 - e.averagePrice! / e.midBefore;
    const calm = btc.filter((e) => e.executedUs < 10 * 60 * S);
    const peak = btc.filter((e) => e.executedUs >= 40 * 60 * S && e.executedUs < 50 * 60 * S);
    const mean = (xs: Execution[]): number => xs.reduce((s, e) => s + slippage(e), 0) / xs.length;
    expect(mean(peak)).toBeGreaterThan(mean(calm));
    const volumes = a.samples.filter((_, i) => i % 4 === 1);
    expect(volumes[45 * 60 - 1]! / volumes[0]!).toBeLessThan(0.1);
  });
});

describe('latency', () => {
  it('executes an order submitted at t at t + latencyUs, against the book as it is then', () => {
    const venue = new Venue({ seed: 1, stepUs: 1_000, latencyUs: 250_000, markets: [{ id: 7, path: pathOf((t) => 100 + t / S), book: SMALL }] });
    venue.advance(S);
    const ticket = venue.submit({ market: 7, side: 'sell', quantity: 1, clientId: 'liq-1' }, S);
    expect(ticket).toEqual({ id: 1, executeAtUs: 1.25 * S });
    expect(venue.advance(1.249_999 * S)).toEqual([]);
    const [e] = venue.advance(1.25 * S);
    expect(e).toMatchObject({ id: 1, clientId: 'liq-1', market: 7, submittedUs: S, executedUs: 1.25 * S, filled: 1, unfilled: 0 });
    expect(e!.midBefore).toBeCloseTo(101.25, 9);
    expect(e!.fills).toEqual([{ price: 101.24, quantity: 1 }]);
  });
});

describe('depth, trades and fed-back fills', () => {
  const calmVenue = (book: BookParams = SMALL, extra: Partial<VenueConfig> = {}): Venue =>
    new Venue({ seed: 1, markets: [{ id: 0, path: pathOf(() => 100), book }], ...extra });

  it('measures the depth within a fraction of the mid, less what our sweep took, refilling with the half-life', () => {
    const venue = calmVenue({ ...SMALL, gamma: 0 });
    const before = venue.bookVolume(0, 'bid', 0.01);
    expect(before).toBeCloseTo(SMALL.depth0 * ((1 - Math.exp(-0.01 * 100)) / (1 - Math.exp(-0.01))), 6);
    venue.submit({ market: 0, side: 'sell', quantity: 600 }, 0);
    const [e] = venue.advance(0);
    expect(e!.filled).toBe(600);
    expect(before - venue.bookVolume(0, 'bid', 0.01)).toBeCloseTo(600, 9);
    venue.advance(10 * S);
    expect(before - venue.bookVolume(0, 'bid', 0.01)).toBeCloseTo(300, 9);
    expect(venue.bookVolume(0, 'ask', 0.01)).toBeCloseTo(before, 9);
  });

  it('lists every trade after a cursor, ours with the order id', () => {
    const venue = new Venue({ seed: 3, markets: [{ id: 0, path: pathOf(() => 100), book: SMALL, flow: { ratePerS: 5, medianSize: 1, sizeSigma: 0.5 } }] });
    venue.advance(10 * S);
    const cursor = venue.lastTradeSeq;
    expect(cursor).toBeGreaterThan(20);
    expect(venue.tradesSince(0).every((t) => t.source === 'flow')).toBe(true);
    const { id } = venue.submit({ market: 0, side: 'buy', quantity: 3 }, 10 * S);
    venue.advance(20 * S);
    const after = venue.tradesSince(cursor);
    expect(after[0]!.seq).toBe(cursor + 1);
    const own = after.filter((t) => t.source === 'own');
    expect(own).toEqual([expect.objectContaining({ orderId: id, side: 'buy', quantity: 3, timeUs: 10 * S })]);
  });

  it('keeps at most about maxTrades trades', () => {
    const venue = new Venue({ seed: 3, maxTrades: 100, markets: [{ id: 0, path: pathOf(() => 100), book: SMALL, flow: { ratePerS: 50, medianSize: 1, sizeSigma: 0.5 } }] });
    venue.advance(60 * S);
    const kept = venue.tradesSince(0);
    expect(kept.length).toBeGreaterThanOrEqual(100);
    expect(kept.length).toBeLessThan(200);
    expect(kept[kept.length - 1]!.seq).toBe(venue.lastTradeSeq);
  });

  it('moves the mid by gamma * quantity for a fill fed back, without taking depth', () => {
    const venue = calmVenue({ ...SMALL, priceElasticity: 0 }); // so the lower mid does not thin the book either
    venue.advance(S);
    const bids = venue.depth(0, 'bid', 3);
    venue.feedFill({ market: 0, side: 'sell', quantity: 50, price: 99.9 }, S);
    expect(venue.mid(0)).toBe(100);
    venue.advance(S);
    expect(100 - venue.mid(0)).toBeCloseTo(SMALL.gamma * 50, 9);
    expect(venue.tradesSince(0)).toEqual([expect.objectContaining({ source: 'feedback', quantity: 50, averagePrice: 99.9, midBefore: 100, timeUs: S })]);
    expect(venue.depth(0, 'bid', 3).map((l) => l.quantity)).toEqual(bids.map((l) => l.quantity));
  });
});

describe('a cascade through the caller', () => {
  /**
   * 200 long accounts of 10 units each, liquidated (a market sell of the whole position) once the mid is at or
   * below their liquidation price: 99.5, 99.4, ... 79.6. The path dips 1% at 10 s and stays there. Each
   * liquidation moves the mid down by 10 * gamma; with gamma 0.02 that is 0.2, two liquidation prices' worth.
   */
  function liquidations(gamma: number): { count: number; low: number } {
    const venue = new Venue({ seed: 1, stepUs: 100_000, latencyUs: 5_000, markets: [{ id: 0, path: pathOf((t) => (t < 10 * S ? 100 : 99)), book: { ...SMALL, gamma } }] });
    const prices = Array.from({ length: 200 }, (_, i) => 99.5 - 0.1 * i);
    let next = 0;
    let low = 100;
    for (let t = 0; t <= 120 * S; t += 100_000) {
      venue.advance(t);
      low = Math.min(low, venue.mid(0));
      while (next < prices.length && venue.mid(0) <= prices[next]! + 1e-9) {
        venue.submit({ market: 0, side: 'sell', quantity: 10 }, t);
        next++;
      }
    }
    return { count: next, low };
  }

  it('liquidates only those under the dip when fills do not move the price', () => {
    expect(liquidations(0)).toEqual({ count: 6, low: 99 });
  });

  it('liquidates them all when each fill moves the price past the next one', () => {
    const { count, low } = liquidations(0.02);
    expect(count).toBe(200);
    expect(low).toBeLessThan(60);
  });
});

describe('refusals', () => {
  const venue = (): Venue => new Venue({ seed: 1, markets: [{ id: 0, path: pathOf(() => 100), book: SMALL }] });

  it('refuses time going back, unknown markets and bad orders with codes', () => {
    const v = venue();
    v.advance(5 * S);
    expect(codeOf(() => v.submit({ market: 0, side: 'sell', quantity: 1 }, 4 * S))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => v.advance(4 * S))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => v.submit({ market: 9, side: 'sell', quantity: 1 }, 5 * S))).toBe('UNKNOWN_MARKET');
    expect(codeOf(() => v.submit({ market: 0, side: 'sell', quantity: -1 }, 5 * S))).toBe('INVALID_SIZE');
    expect(codeOf(() => v.submit({ market: 0, side: 'sell', quantity: 1, limitPrice: 0 }, 5 * S))).toBe('INVALID_PRICE');
    expect(codeOf(() => v.mid(9))).toBe('UNKNOWN_MARKET');
    expect(codeOf(() => v.bookVolume(0, 'buy' as 'bid', 0.01))).toBe('INVALID_ARGUMENT');
  });

  it('refuses a bad config naming the field', () => {
    const path = pathOf(() => 100);
    expect(codeOf(() => new Venue({ seed: 1, markets: [] }))).toBe('INVALID_CONFIG');
    expect(codeOf(() => new Venue({ seed: 1, markets: [{ id: 0, path, book: SMALL }, { id: 0, path, book: SMALL }] }))).toBe('DUPLICATE_MARKET');
    expect(() => new Venue({ seed: 1, stepUs: 0, markets: [{ id: 0, path, book: SMALL }] })).toThrow(/venue\.stepUs/);
    expect(() => new Venue({ seed: 1, markets: [{ id: 0, path, book: { ...SMALL, depth0: -1 } }] })).toThrow(/book\.depth0/);
  });
});
