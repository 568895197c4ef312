import { describe, expect, it } from 'vitest';
import { VenueBook, bookParamsFor, type BookParams } from '../src/sim/venue/index.js';
import { codeOf } from './support/errors.js';

/** A small book: tick 1 around 1,000, 10 at the best level thinning by e^-0.1 a level, 100 levels a side. */
const PARAMS: BookParams = {
  tick: 1,
  minSpreadTicks: 1,
  levels: 100,
  depth0: 10,
  decayPerLevel: 0.1,
  gamma: 0.5,
  resilienceHalfLifeS: 10,
  priceElasticity: 2,
};
const S = 1e6;

const book = (overrides: Partial<BookParams> = {}): VenueBook => new VenueBook({ ...PARAMS, ...overrides }, 1_000);
const sum = (xs: readonly { quantity: number }[]): number => xs.reduce((a, x) => a + x.quantity, 0);

describe('a VenueBook sweep', () => {
  it('fills an IOC sell across several levels at a worse average than the best bid, never below its limit', () => {
    const b = book();
    const bestBid = b.best('bid', 0)!;
    const s = b.sweep('sell', 40, 990, 0);
    expect(s.fills.length).toBeGreaterThan(3);
    expect(s.fills[0]!.price).toBe(bestBid);
    expect(s.averagePrice!).toBeLessThan(bestBid);
    for (const f of s.fills) expect(f.price).toBeGreaterThanOrEqual(990);
    expect(s.filled + s.unfilled).toBe(40);
    expect(sum(s.fills)).toBeCloseTo(s.filled, 12);
  });

  it('fills an IOC buy at a worse average than the best ask, never above its limit', () => {
    const b = book();
    const bestAsk = b.best('ask', 0)!;
    const s = b.sweep('buy', 40, 1_010, 0);
    expect(s.averagePrice!).toBeGreaterThan(bestAsk);
    for (const f of s.fills) expect(f.price).toBeLessThanOrEqual(1_010);
  });

  it('prices a tiny fill of a huge order at its level exactly (the filled quantity is what was taken)', () => {
    const b = book({ depth0: 1e-9, levels: 1 });
    const level = b.levels('bid', 1, 0)[0]!;
    const s = b.sweep('sell', 1e9, undefined, 0);
    expect(s.filled).toBe(sum(s.fills));
    expect(s.averagePrice).toBe(level.price);
  });

  it('takes exactly the levels inside a tight limit and leaves the rest unfilled', () => {
    const b = book();
    const inside = b.levels('bid', 100, 0).filter((l) => l.price >= 997);
    const s = b.sweep('sell', 1_000, 997, 0);
    expect(s.fills.map((f) => f.price)).toEqual(inside.map((l) => l.price));
    expect(s.filled).toBeCloseTo(sum(inside), 12);
    expect(s.unfilled).toBeCloseTo(1_000 - sum(inside), 9);
  });

  it('leaves a hole: the next sell at once gets a worse price than the first one did', () => {
    const b = book({ gamma: 0 });
    const first = b.sweep('sell', 25, undefined, 0);
    const second = b.sweep('sell', 25, undefined, 0);
    expect(second.fills[0]!.price).toBeLessThan(first.fills[0]!.price);
    expect(second.averagePrice!).toBeLessThan(first.averagePrice!);
  });

  it('fills nothing and leaves the mid where it was when the limit is through the book', () => {
    const b = book();
    const s = b.sweep('sell', 5, 1_005, 0);
    expect(s).toMatchObject({ fills: [], filled: 0, unfilled: 5, averagePrice: null, midBefore: 1_000, midAfter: 1_000 });
  });
});

describe('permanent impact', () => {
  it('moves the mid down by gamma times the quantity a sell filled', () => {
    const b = book();
    const s = b.sweep('sell', 30, undefined, 0);
    expect(s.filled).toBe(30);
    expect(s.midBefore - s.midAfter).toBeCloseTo(PARAMS.gamma * 30, 9);
    expect(b.mid).toBe(s.midAfter);
  });

  it('moves the mid up by gamma times the filled part only of a partly filled buy', () => {
    const b = book();
    const s = b.sweep('buy', 500, 1_004, 0);
    expect(s.unfilled).toBeGreaterThan(0);
    expect(s.midAfter - s.midBefore).toBeCloseTo(PARAMS.gamma * s.filled, 9);
  });

  it('carries the impact along when the path moves the reference', () => {
    const b = book();
    b.permanentImpact('sell', 20); // 10 down: 990 at reference 1,000
    b.setReference(1_100, 1, 0);
    expect(b.mid).toBeCloseTo(1_089, 9);
  });
});

describe('resilience', () => {
  it('refills a swept level to half in one half-life and three quarters in two', () => {
    const b = book({ gamma: 0 });
    const top = b.levels('bid', 1, 0)[0]!;
    b.sweep('sell', top.quantity, undefined, 0);
    const at = (t: number): number => b.levels('bid', 1, t)[0]!.quantity;
    expect(at(0)).toBe(0);
    expect(at(10 * S) / top.quantity).toBeCloseTo(0.5, 12);
    expect(at(20 * S) / top.quantity).toBeCloseTo(0.75, 12);
    expect(at(5 * S) / top.quantity).toBeCloseTo(1 - 2 ** -0.5, 12);
  });

  it('keeps refilling from where it was when the hole is swept again', () => {
    const b = book({ gamma: 0 });
    const top = b.levels('bid', 1, 0)[0]!.quantity;
    b.sweep('sell', top, undefined, 0);
    b.sweep('sell', top / 2, undefined, 10 * S); // takes the half that came back
    expect(b.levels('bid', 1, 10 * S)[0]!.quantity).toBeCloseTo(0, 12);
    expect(b.levels('bid', 1, 20 * S)[0]!.quantity / top).toBeCloseTo(0.5, 12);
  });

  it('never refills with an infinite half-life', () => {
    const b = book({ gamma: 0, resilienceHalfLifeS: Infinity });
    b.sweep('sell', b.levels('bid', 1, 0)[0]!.quantity, undefined, 0);
    expect(b.levels('bid', 1, 3_600 * S)[0]!.quantity).toBe(0);
  });
});

describe('depth', () => {
  it('thins level by level away from the best price as depth0 * exp(-k * i)', () => {
    const levels = book().levels('ask', 5, 0);
    levels.forEach((l, i) => expect(l.quantity).toBeCloseTo(10 * Math.exp(-0.1 * i), 12));
  });

  it('thins as the price falls below its start: (mid / start)^elasticity at each level, and less within 1% of mid', () => {
    const b = book();
    const calm = b.volumeWithin('bid', 0.01, 0);
    b.setReference(800, 1, 0);
    expect(b.liquidity).toBeCloseTo(0.64, 12);
    expect(b.levels('bid', 1, 0)[0]!.quantity).toBeCloseTo(10 * 0.64, 12);
    expect(b.volumeWithin('bid', 0.01, 0)).toBeLessThan(calm * 0.64);
    b.setReference(1_200, 1, 0);
    expect(b.liquidity).toBe(1);
  });

  it('thins under stress and widens the spread to minSpreadTicks / liquidity', () => {
    const b = book();
    b.setReference(1_000, 0.1, 0);
    expect(b.levels('bid', 1, 0)[0]!.quantity).toBeCloseTo(1, 12);
    expect(b.spreadTicks).toBe(10);
    expect(b.best('ask', 0)! - b.best('bid', 0)!).toBeGreaterThanOrEqual(10);
  });

  it('quotes at least minSpreadTicks apart, bid below and ask above the mid, on the tick grid', () => {
    const b = new VenueBook({ ...PARAMS, tick: 0.01, minSpreadTicks: 3 }, 1_000);
    for (const mid of [1_000, 1_000.004, 999.995, 123.456789]) {
      b.setReference(mid, 1, 0);
      const bid = b.best('bid', 0)!;
      const ask = b.best('ask', 0)!;
      expect(bid).toBeLessThan(mid);
      expect(ask).toBeGreaterThan(mid);
      expect(Math.round((ask - bid) * 100)).toBeGreaterThanOrEqual(3);
      expect(bid * 100).toBeCloseTo(Math.round(bid * 100), 9);
      expect(String(bid).split('.')[1]?.length ?? 0).toBeLessThanOrEqual(2);
    }
  });

  it('bookParamsFor scales a book to hold the asked notional within 1% of the mid', () => {
    for (const price of [60_000, 3_000, 150, 0.15]) {
      const b = new VenueBook(bookParamsFor(price), price);
      expect((b.volumeWithin('bid', 0.01, 0) * price) / 5_000_000).toBeCloseTo(1, 2);
      expect((b.volumeWithin('ask', 0.01, 0) * price) / 5_000_000).toBeCloseTo(1, 2);
    }
  });
});

describe('refusals', () => {
  it('refuses bad orders with codes', () => {
    const b = book();
    expect(codeOf(() => b.sweep('sell', 0, undefined, 0))).toBe('INVALID_SIZE');
    expect(codeOf(() => b.sweep('sell', NaN, undefined, 0))).toBe('INVALID_SIZE');
    expect(codeOf(() => b.sweep('sell', 1, -5, 0))).toBe('INVALID_PRICE');
    expect(codeOf(() => b.sweep('short' as 'sell', 1, undefined, 0))).toBe('INVALID_ARGUMENT');
  });

  it('refuses bad params naming the field', () => {
    expect(codeOf(() => book({ tick: 0 }))).toBe('INVALID_CONFIG');
    expect(codeOf(() => book({ minSpreadTicks: 1.5 }))).toBe('INVALID_CONFIG');
    expect(codeOf(() => book({ resilienceHalfLifeS: 0 }))).toBe('INVALID_CONFIG');
    expect(() => book({ levels: 0 })).toThrow(/book\.levels/);
  });
});
