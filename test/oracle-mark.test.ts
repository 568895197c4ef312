/** The mark price's composition and the oracle TWAP, by table and by property. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MARK_POLICY } from '../src/config-types.js';
import { BasisEma, bookPrice, markPrice, median, validateMarkPolicy } from '../src/oracle/mark.js';
import { TimeWeightedAverage } from '../src/oracle/twap.js';

const S = 1_000_000;
const book = (bid: number, ask: number, last: number, eventTimeUs = 0) => ({ bid, ask, last, eventTimeUs });

describe('the mark price', () => {
  it.each([
    ['the oracle alone, before any book', 100, undefined, undefined, 100],
    ['the median of oracle + basis, the book, and the oracle', 100, 1, book(101.5, 102.5, 102), 101],
    ['the book between the two oracle terms', 100, 2, book(100.5, 101.5, 101), 101],
    ['the book when the basis is below it, its median(bid, ask, last)', 100, -1, book(99.4, 99.6, 99.8), 99.6],
    ['a one-sided book: the known values only', 100, 0.5, book(0, 100.8, 0), 100.5],
    ['a pumped book: held at oracle + 5%', 100, 900, book(999, 1001, 1000), 105],
  ] as const)('is %s', (_, oracle, basis, b, expected) => {
    expect(markPrice(oracle, basis, b, 0)).toBeCloseTo(expected, 12);
  });

  it('leaves a stale book out', () => {
    // Fresh (10 s old): median(101, 99, 100) = 100. Stale (11 s): median(101, 100) = 100.5.
    expect(markPrice(100, 1, book(99, 99, 99, 0), 10 * S)).toBe(100);
    expect(markPrice(100, 1, book(99, 99, 99, 0), 11 * S)).toBe(100.5);
  });

  it('follows the configured components', () => {
    const bookOnly = { ...DEFAULT_MARK_POLICY, components: ['book' as const], maxDeviation: Infinity };
    expect(markPrice(100, 0, book(130, 130, 130), 0, bookOnly)).toBe(130);
    expect(() => validateMarkPolicy({ ...DEFAULT_MARK_POLICY, components: ['last' as never] })).toThrow(/mark.components/);
    expect(() => validateMarkPolicy({ ...DEFAULT_MARK_POLICY, components: ['book', 'book'] })).toThrow(/at most once/);
  });

  it('never leaves oracle * (1 +- 5%), whatever the book and basis (property)', () => {
    const price = fc.double({ min: 1e-3, max: 1e9, noNaN: true });
    fc.assert(
      fc.property(price, fc.double({ min: -1e9, max: 1e9, noNaN: true }), price, price, price, (oracle, basis, bid, ask, last) => {
        const m = markPrice(oracle, basis, book(Math.min(bid, ask), Math.max(bid, ask), last), 0);
        return m >= oracle * 0.95 && m <= oracle * 1.05;
      }),
      { seed: 5, numRuns: 2000 },
    );
  });

  it('takes median(bid, ask, last) and the textbook median', () => {
    expect(bookPrice(book(1, 3, 10))).toBe(3);
    expect(bookPrice(book(0, 0, 0))).toBeUndefined();
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('the basis EMA', () => {
  it('moves 1 - 1/e of the way in one time constant', () => {
    const ema = new BasisEma();
    ema.update(0, 0, 150 * S);
    ema.update(10, 150 * S, 150 * S);
    expect(ema.value).toBeCloseTo(10 * (1 - Math.exp(-1)), 12);
    ema.update(10, 150 * S, 150 * S); // no time passed: no weight
    expect(ema.value).toBeCloseTo(10 * (1 - Math.exp(-1)), 12);
  });
});

describe('the TWAP', () => {
  it('weights each price by how long it held within the window', () => {
    const twap = new TimeWeightedAverage(300 * S, S);
    expect(twap.value(0)).toBeUndefined();
    twap.add(0, 100);
    expect(twap.value(0)).toBe(100);
    twap.add(200 * S, 40);
    expect(twap.value(300 * S)).toBeCloseTo((100 * 200 + 40 * 100) / 300, 9);
    // 500 s: the window [200, 500] holds only 40.
    expect(twap.value(500 * S)).toBe(40);
  });

  it('keeps one sample per sample interval, so memory stays bounded', () => {
    const twap = new TimeWeightedAverage(300 * S, S);
    for (let t = 0; t < 3_600 * S; t += 1_000) twap.add(t, 100 + (t % 7));
    expect((twap as unknown as { times: number[] }).times.length).toBeLessThan(2 * 302);
  });

  it('equals the integral of the step function on random paths (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 1000 })), { minLength: 1, maxLength: 40 }), (steps) => {
        const twap = new TimeWeightedAverage(250, 1);
        const path: [number, number][] = [];
        let t = 0;
        for (const [dt, p] of steps) {
          twap.add(t, p);
          path.push([t, p]);
          t += dt;
        }
        const from = Math.max(0, t - 250);
        let area = 0;
        path.forEach(([start, p], i) => {
          const end = i + 1 < path.length ? path[i + 1]![0] : t;
          area += p * Math.max(0, Math.min(end, t) - Math.max(start, from));
        });
        return Math.abs(twap.value(t)! - area / (t - from)) < 1e-9 * area;
      }),
      { seed: 11, numRuns: 500 },
    );
  });
});
