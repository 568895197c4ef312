import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_AGGREGATION, type AggregationPolicy } from '../src/config-types.js';
import { aggregate, validateAggregationPolicy, weightedPercentile, type Aggregate, type SourceQuote } from '../src/oracle/aggregate.js';
import { UnwindError } from '../src/errors.js';

const RUNS = { seed: 42, numRuns: 400 };
const NOW = 1_000_000_000_000;
const OFF: AggregationPolicy = { ...DEFAULT_AGGREGATION, clampFraction: Infinity };

/** A quote observed now, weight 1, no confidence unless given. */
function q(source: number, price: number, confidence = 0, weight = 1, ageUs = 0): SourceQuote {
  return { source, price, confidence, weight, eventTimeUs: NOW - ageUs };
}

function ok(a: Aggregate): Extract<Aggregate, { ok: true }> {
  if (!a.ok) throw new Error(`expected an aggregate, got ${JSON.stringify(a)}`);
  return a;
}

describe('aggregate', () => {
  it.each<[string, SourceQuote[], AggregationPolicy, number, number, number]>([
    // label, quotes, policy, price, confidence, clamped
    // Votes 100 x3, 101 x3, 102 x3: p50 the 5th = 101, p25 the 3rd = 100, p75 the 7th = 102.
    ['three equal sources without confidence', [q(1, 100), q(2, 101), q(3, 102)], DEFAULT_AGGREGATION, 101, 1, 0],
    // Votes 99, 100, 101 three times each: the median is 100 and the quartiles 99 and 101.
    ['three equal sources at one price, each +-1', [q(1, 100, 1), q(2, 100, 1), q(3, 100, 1)], DEFAULT_AGGREGATION, 100, 1, 0],
    // Narrow: 99.9 100 100.1 | 101.9 102 102.1 | 103.9 104 104.1 -> p50 102, p25 100.1, p75 103.9: confidence 1.9.
    ['three sources with narrow confidences', [q(1, 100, 0.1), q(2, 102, 0.1), q(3, 104, 0.1)], DEFAULT_AGGREGATION, 102, 1.9, 0],
    // Wide: 90 92 94 100 102 104 110 112 114 -> p50 102, p25 94, p75 110: the same price, confidence 8.
    ['three sources with wide confidences', [q(1, 100, 10), q(2, 102, 10), q(3, 104, 10)], OFF, 102, 8, 0],
    // Clamp off: 12 votes, the middle pair 101 | 102 -> 101.5; p25 = (100 + 101) / 2, p75 = (102 + 200) / 2 = 151.
    ['an outlier at 200 with the clamp off', [q(1, 100), q(2, 101), q(3, 102), q(4, 200)], OFF, 101.5, 49.5, 0],
    // Clamp on: the median of prices is (101 + 102) / 2 = 101.5, so 200 votes at 101.5 * 1.02 = 103.53:
    // the price stays 101.5 and p75 = (102 + 103.53) / 2 = 102.765, confidence 1.265.
    ['the same outlier clamped to the median + 2%', [q(1, 100), q(2, 101), q(3, 102), q(4, 200)], DEFAULT_AGGREGATION, 101.5, 1.265, 1],
    // Equal weights: prices 100 101 102 104 105 -> 102 (p25 = 101, p75 = 104).
    ['five venues with equal weights', [q(1, 100), q(2, 101), q(3, 102), q(4, 104), q(5, 105)], OFF, 102, 2, 0],
    // Hyperliquid's weights, Binance 3 @ 100, OKX 2 @ 101, Bybit 2 @ 102, two others 1: W = 27 votes' weight;
    // cumulative 9 (100), 15 (101) >= 13.5 -> 101. p25: 6.75 -> 100; p75: 20.25 -> 21 (102) -> 102.
    ['five venues with Hyperliquid weights 3/2/2/1/1', [q(1, 100, 0, 3), q(2, 101, 0, 2), q(3, 102, 0, 2), q(4, 104, 0, 1), q(5, 105, 0, 1)], OFF, 101, 1, 0],
    // The same under the 2% clamp: the weighted median 101 bounds prices at 103.02; 104 and 105 are clamped, the price stays.
    ['Hyperliquid weights with the default clamp', [q(1, 100, 0, 3), q(2, 101, 0, 2), q(3, 102, 0, 2), q(4, 104, 0, 1), q(5, 105, 0, 1)], DEFAULT_AGGREGATION, 101, 1, 2],
    // A stale source at 500 (10 s and 1 us old) is ignored; one exactly 10 s old still counts.
    ['a stale outlier among fresh sources', [q(1, 100), q(2, 101, 0, 1, 10_000_000), q(3, 102), q(4, 500, 0, 1, 10_000_001)], OFF, 101, 1, 0],
  ])('%s', (_label, quotes, policy, price, confidence, clamped) => {
    const a = ok(aggregate(quotes, NOW, policy));
    expect(a.price).toBeCloseTo(price, 9);
    expect(a.confidence).toBeCloseTo(confidence, 9);
    expect(a.clamped).toBe(clamped);
    expect(a.fresh).toBe(quotes.filter((x) => x.eventTimeUs >= NOW - policy.maxAgeUs).length);
  });

  it('continues with two of five sources stale and stops with three of five, naming the reason', () => {
    const five = [q(1, 100), q(2, 101), q(3, 102), q(4, 103), q(5, 104)];
    const stale = (n: number): SourceQuote[] => five.map((x, i) => (i < n ? { ...x, eventTimeUs: NOW - 60_000_000 } : x));
    expect(ok(aggregate(stale(2), NOW)).fresh).toBe(3);
    expect(ok(aggregate(stale(2), NOW)).price).toBe(103);
    expect(aggregate(stale(3), NOW)).toEqual({ ok: false, reason: 'insufficient-sources', fresh: 2 });
    expect(aggregate([], NOW)).toEqual({ ok: false, reason: 'insufficient-sources', fresh: 0 });
  });

  it('one thin venue pumped tenfold: the aggregate stays within the clamp of the honest median', () => {
    const honest = [q(1, 100, 0.05, 3), q(2, 100.2, 0.05, 2), q(3, 99.9, 0.05, 2), q(4, 100.1, 0.05, 1)];
    const honestMedian = weightedPercentile(honest.map((x) => ({ value: x.price, weight: x.weight })), 0.5);
    const pumped = q(5, 1_000, 50, 1);
    const a = ok(aggregate([...honest, pumped], NOW));
    expect(a.clamped).toBe(1);
    expect(Math.abs(a.price - honestMedian)).toBeLessThanOrEqual(honestMedian * DEFAULT_AGGREGATION.clampFraction);
    // Unclamped, the pumped venue's votes (950, 1,000, 1,050) drag p75 and so the confidence far out; clamped it votes
    // within 2% +- its own confidence, and the confidence stays a fraction of a percent of the price.
    const unclamped = ok(aggregate([...honest, pumped], NOW, OFF));
    expect(unclamped.confidence).toBeGreaterThan(a.confidence);
    expect(a.confidence).toBeLessThan(0.01 * a.price);
  });

  it.each<[string, SourceQuote, string, string]>([
    ['a fractional source id', { ...q(1, 100), source: 1.5 }, 'INVALID_ID', 'quotes[1].source'],
    ['a negative source id', { ...q(1, 100), source: -1 }, 'INVALID_ID', 'quotes[1].source'],
    ['a source that quotes twice', q(0, 100), 'INVALID_ID', 'quotes[1].source'],
    ['a zero price', q(1, 0), 'INVALID_PRICE', 'quotes[1].price'],
    ['a NaN price', q(1, NaN), 'INVALID_PRICE', 'quotes[1].price'],
    ['an infinite price', q(1, Infinity), 'INVALID_PRICE', 'quotes[1].price'],
    ['a negative confidence', q(1, 100, -1), 'INVALID_AMOUNT', 'quotes[1].confidence'],
    ['a confidence whose upper vote overflows', q(1, 1e308, 1e308), 'INVALID_AMOUNT', 'quotes[1].confidence'],
    ['a zero weight', q(1, 100, 0, 0), 'INVALID_AMOUNT', 'quotes[1].weight'],
    ['an infinite weight', q(1, 100, 0, Infinity), 'INVALID_AMOUNT', 'quotes[1].weight'],
    ['a NaN event time', { ...q(1, 100), eventTimeUs: NaN }, 'INVALID_AMOUNT', 'quotes[1].eventTimeUs'],
  ])('rejects %s with a coded error naming the field', (_label, bad, code, field) => {
    let caught: unknown;
    try {
      aggregate([q(0, 100), bad, q(2, 100)], NOW);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UnwindError);
    expect((caught as UnwindError).code).toBe(code);
    expect((caught as UnwindError).field).toBe(field);
  });

  it.each<[string, Partial<AggregationPolicy>, string]>([
    ['a negative max age', { maxAgeUs: -1 }, 'policy.maxAgeUs'],
    ['zero minimum sources', { minFreshSources: 0 }, 'policy.minFreshSources'],
    ['a fractional minimum', { minFreshSources: 2.5 }, 'policy.minFreshSources'],
    ['a NaN clamp', { clampFraction: NaN }, 'policy.clampFraction'],
  ])('rejects a policy with %s as INVALID_CONFIG', (_label, patch, field) => {
    expect(() => validateAggregationPolicy({ ...DEFAULT_AGGREGATION, ...patch })).toThrow(UnwindError);
    let caught: unknown;
    try {
      aggregate([q(1, 100)], NOW, { ...DEFAULT_AGGREGATION, ...patch });
    } catch (e) {
      caught = e;
    }
    expect((caught as UnwindError).code).toBe('INVALID_CONFIG');
    expect((caught as UnwindError).field).toBe(field);
  });

  it('rejects a non-finite now', () => {
    expect(() => aggregate([q(1, 100)], NaN)).toThrow(/nowUs/);
  });
});

describe('weightedPercentile', () => {
  it.each<[string, [number, number][], number, number]>([
    // label, [value, weight][], q, P(q)
    ['takes the middle of an odd count', [[3, 1], [1, 1], [2, 1]], 0.5, 2],
    ['averages the middle pair of an even count, as Pyth does', [[1, 1], [2, 1], [3, 1], [4, 1]], 0.5, 2.5],
    ['lets a heavy value take the median', [[1, 1], [2, 1], [10, 3]], 0.5, 10],
    ['averages across an exact half of the weight', [[1, 2], [10, 2]], 0.5, 5.5],
    ['reads the lowest value at q = 0 and the highest at q = 1', [[5, 1], [7, 1]], 1, 7],
  ])('%s', (_label, values, at, expected) => {
    expect(weightedPercentile(values.map(([value, weight]) => ({ value, weight })), at)).toBe(expected);
  });
});

// ---------- properties ----------

const quoteArb = (source: number): fc.Arbitrary<SourceQuote> =>
  fc.record({
    source: fc.constant(source),
    price: fc.double({ min: 1e-6, max: 1e9, noNaN: true }),
    confidence: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e9, noNaN: true })),
    weight: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true })),
    eventTimeUs: fc.integer({ min: NOW - 20_000_000, max: NOW + 1_000_000 }),
  });

/** Quotes from distinct, scattered source ids. */
const quotesArb = (min: number, max: number): fc.Arbitrary<SourceQuote[]> =>
  fc
    .uniqueArray(fc.nat(10_000), { minLength: min, maxLength: max })
    .chain((ids) => fc.tuple(...ids.map(quoteArb)))
    .map((t) => [...t]);

const policyArb: fc.Arbitrary<AggregationPolicy> = fc.record({
  maxAgeUs: fc.constantFrom(0, 5_000_000, 10_000_000, Infinity),
  minFreshSources: fc.integer({ min: 1, max: 4 }),
  clampFraction: fc.constantFrom(0, 0.02, 0.5, 2, Infinity),
});

function freshOf(quotes: readonly SourceQuote[], policy: AggregationPolicy): SourceQuote[] {
  return quotes.filter((x) => x.eventTimeUs >= NOW - policy.maxAgeUs);
}

describe('aggregate, by property', () => {
  it('gives the same result, bit for bit, whatever the order of the quotes', () => {
    fc.assert(
      fc.property(
        quotesArb(0, 12).chain((qs) => fc.tuple(fc.constant(qs), fc.shuffledSubarray(qs, { minLength: qs.length }))),
        policyArb,
        ([quotes, shuffled], policy) => {
          expect(aggregate(shuffled, NOW, policy)).toEqual(aggregate(quotes, NOW, policy));
        },
      ),
      RUNS,
    );
  });

  it('prices within the fresh votes and never reports a negative confidence', () => {
    fc.assert(
      fc.property(quotesArb(1, 12), policyArb, (quotes, policy) => {
        const a = aggregate(quotes, NOW, policy);
        const fresh = freshOf(quotes, policy);
        if (!a.ok) {
          expect(fresh.length).toBeLessThan(policy.minFreshSources);
          return;
        }
        expect(a.fresh).toBe(fresh.length);
        expect(a.confidence).toBeGreaterThanOrEqual(0);
        if (policy.clampFraction === Infinity) {
          // Unclamped the votes are exactly p - c, p, p + c.
          expect(a.price).toBeGreaterThanOrEqual(Math.min(...fresh.map((x) => x.price - x.confidence)));
          expect(a.price).toBeLessThanOrEqual(Math.max(...fresh.map((x) => x.price + x.confidence)));
        } else {
          // Clamped prices stay within the fresh prices, so every vote lies in [min p - max c, max p + max c].
          const maxC = Math.max(...fresh.map((x) => x.confidence));
          expect(a.price).toBeGreaterThanOrEqual(Math.min(...fresh.map((x) => x.price)) - maxC);
          expect(a.price).toBeLessThanOrEqual(Math.max(...fresh.map((x) => x.price)) + maxC);
        }
      }),
      RUNS,
    );
  });

  /**
   * The robustness claim of src/oracle/aggregate.ts: fresh honest sources H and adversarial sources A (any price, any
   * confidence, any freshness games beyond: stale quotes of any kind are added too) with weight(A) < weight(H). Proven:
   *   clamp off: price in [min over H of (p - c), max over H of (p + c)], the honest sources' vote range;
   *   clamp on:  price in [min over H of p - max over H of c, max over H of p + max over H of c] (honest prices move
   *              only toward a reference median that itself lies within the honest prices).
   * Not claimed: price in [min over H of p, max over H of p]; with honest confidences > 0 that fails (see the last test).
   */
  const adversarialArb = fc
    .record({
      honest: fc.array(
        fc.record({
          price: fc.double({ min: 1, max: 1e6, noNaN: true }),
          confidence: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e4, noNaN: true })),
          weight: fc.integer({ min: 1, max: 3 }),
        }),
        { minLength: 1, maxLength: 7 },
      ),
      adversarial: fc.array(
        fc.record({
          price: fc.oneof(fc.double({ min: Number.MIN_VALUE, max: 1e300, noNaN: true }), fc.constantFrom(1e-300, 1e300)),
          confidence: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e300, noNaN: true })),
          weight: fc.integer({ min: 1, max: 3 }),
        }),
        { maxLength: 6 },
      ),
      stale: fc.array(fc.double({ min: 1e-6, max: 1e12, noNaN: true }), { maxLength: 3 }),
      equalWeights: fc.boolean(),
      clampFraction: fc.constantFrom(0, 0.02, 0.5, Infinity),
      ids: fc.uniqueArray(fc.nat(10_000), { minLength: 16, maxLength: 16 }),
    })
    .filter(({ honest, adversarial, equalWeights }) => {
      const w = (xs: { weight: number }[]): number => xs.reduce((s, x) => s + (equalWeights ? 1 : x.weight), 0);
      return w(adversarial) < w(honest);
    });

  it('keeps the price within the honest fresh sources when a strict minority of the weight is adversarial', () => {
    fc.assert(
      fc.property(adversarialArb, ({ honest, adversarial, stale, equalWeights, clampFraction, ids }) => {
        let next = 0;
        const mk = (x: { price: number; confidence: number; weight: number }, ageUs = 0): SourceQuote =>
          q(ids[next++], x.price, x.confidence, equalWeights ? 1 : x.weight, ageUs);
        const h = honest.map((x) => mk(x));
        const quotes = [
          ...h,
          ...adversarial.map((x) => mk(x)),
          ...stale.map((p) => mk({ price: p, confidence: 0, weight: 3 }, 10_000_001)),
        ];
        const policy: AggregationPolicy = { maxAgeUs: 10_000_000, minFreshSources: 1, clampFraction };
        const a = ok(aggregate(quotes, NOW, policy));
        if (clampFraction === Infinity) {
          expect(a.price).toBeGreaterThanOrEqual(Math.min(...h.map((x) => x.price - x.confidence)));
          expect(a.price).toBeLessThanOrEqual(Math.max(...h.map((x) => x.price + x.confidence)));
        } else {
          const maxC = Math.max(...h.map((x) => x.confidence));
          expect(a.price).toBeGreaterThanOrEqual(Math.min(...h.map((x) => x.price)) - maxC);
          expect(a.price).toBeLessThanOrEqual(Math.max(...h.map((x) => x.price)) + maxC);
        }
        if (h.every((x) => x.confidence === 0)) {
          // With exact honest prices the vote range is the price range.
          expect(a.price).toBeGreaterThanOrEqual(Math.min(...h.map((x) => x.price)));
          expect(a.price).toBeLessThanOrEqual(Math.max(...h.map((x) => x.price)));
        }
      }),
      { ...RUNS, seed: 7 },
    );
  });

  it('can leave the honest price range, though not the vote range, when honest confidences are wide', () => {
    // Two honest sources at 100 +- 10, one adversary at 1,000: votes 90 90 100 100 110 110 1000 1000 1000 -> 110.
    const a = ok(aggregate([q(1, 100, 10), q(2, 100, 10), q(3, 1_000)], NOW, OFF));
    expect(a.price).toBe(110);
  });
});
