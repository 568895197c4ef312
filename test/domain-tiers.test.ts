import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_TIERS,
  compileTiers,
  initialMargin,
  maintenanceMargin,
  tierOf,
  tieredMargin,
  type MarginTier,
} from '../src/domain/index.js';
import { UnwindError } from '../src/errors.js';

/** docs/domain.md section 1: tier 2 starts at 250,000 with mmr 1% after tier 1 with 0.5% and amount 50 -> 1,300. */
const BINANCE_LIKE: MarginTier[] = [
  { maxNotional: 50_000, initialMarginFraction: 0.008, maintenanceMarginFraction: 0.004 },
  { maxNotional: 250_000, initialMarginFraction: 0.01, maintenanceMarginFraction: 0.005 },
  { maxNotional: null, initialMarginFraction: 0.02, maintenanceMarginFraction: 0.01 },
];

/** Valid schedules: increasing bounds, non-decreasing fractions, imf >= mmf. */
const tiersArb: fc.Arbitrary<MarginTier[]> = fc.integer({ min: 1, max: MAX_TIERS }).chain((n) =>
  fc
    .tuple(
      fc.integer({ min: 1_000, max: 1_000_000 }),
      fc.array(fc.double({ min: 1.5, max: 10, noNaN: true }), { minLength: n, maxLength: n }),
      fc.integer({ min: 1_000, max: 100_000 }),
      fc.array(fc.integer({ min: 0, max: 50_000 }), { minLength: n, maxLength: n }),
      fc.double({ min: 1, max: 3, noNaN: true }),
      fc.boolean(),
    )
    .map(([first, growth, mmf0, steps, k, lastUnbounded]) => {
      const out: MarginTier[] = [];
      let bound = first;
      let ppm = mmf0;
      for (let i = 0; i < n; i++) {
        if (i > 0) {
          bound *= growth[i]!;
          ppm += steps[i]!;
        }
        const mmf = ppm / 1e6;
        out.push({
          maxNotional: i === n - 1 && lastUnbounded ? null : bound,
          maintenanceMarginFraction: mmf,
          initialMarginFraction: Math.min(1, mmf * k),
        });
      }
      return out;
    }),
);

const near = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

describe('compileTiers', () => {
  it.each([
    // tier, maintenance amount, initial amount
    [0, 0, 0],
    [1, 50, 100],
    [2, 1_300, 2_600],
  ])('accumulates the maintenance amount of tier %i as floor * (mmr_n - mmr_{n-1}) + previous amount', (t, mAmount, iAmount) => {
    const s = compileTiers(BINANCE_LIKE);
    expect(s.count).toBe(3);
    expect(s.maintenanceAmount[t]).toBeCloseTo(mAmount, 9);
    expect(s.initialAmount[t]).toBeCloseTo(iAmount, 9);
  });

  it('makes the last tier unbounded even when the user gave it a bound', () => {
    const s = compileTiers([
      { maxNotional: 1_000, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 },
      { maxNotional: 5_000, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 },
    ]);
    expect(s.upperBound[0]).toBe(1_000);
    expect(s.upperBound[1]).toBe(Infinity);
    expect(maintenanceMargin(10_000, s)).toBeCloseTo(10_000 * 0.1 - 50, 9);
  });

  const tier = (maxNotional: number | null, imf: number, mmf: number): MarginTier => ({
    maxNotional,
    initialMarginFraction: imf,
    maintenanceMarginFraction: mmf,
  });
  it.each<[string, MarginTier[], string]>([
    ['an empty array', [], 'tiers'],
    ['more than MAX_TIERS tiers', Array.from({ length: MAX_TIERS + 1 }, (_, i) => tier((i + 1) * 1_000, 0.1, 0.05)), 'tiers'],
    ['a maxNotional equal to the previous one', [tier(1_000, 0.1, 0.05), tier(1_000, 0.2, 0.1)], 'tiers[1].maxNotional'],
    ['a maxNotional below the previous one', [tier(1_000, 0.1, 0.05), tier(500, 0.2, 0.1), tier(null, 0.3, 0.2)], 'tiers[1].maxNotional'],
    ['an unbounded tier that is not last', [tier(null, 0.1, 0.05), tier(1_000, 0.2, 0.1)], 'tiers[0].maxNotional'],
    ['a non-positive maxNotional', [tier(0, 0.1, 0.05)], 'tiers[0].maxNotional'],
    ['a NaN maxNotional', [tier(NaN, 0.1, 0.05)], 'tiers[0].maxNotional'],
    ['a maintenance fraction of 0', [tier(null, 0.1, 0)], 'tiers[0].maintenanceMarginFraction'],
    ['a maintenance fraction of 1', [tier(null, 1, 1)], 'tiers[0].maintenanceMarginFraction'],
    ['a negative maintenance fraction', [tier(1_000, 0.1, 0.05), tier(null, 0.1, -0.1)], 'tiers[1].maintenanceMarginFraction'],
    ['an initial fraction below the maintenance fraction', [tier(null, 0.04, 0.05)], 'tiers[0].initialMarginFraction'],
    ['an initial fraction above 1', [tier(null, 1.5, 0.05)], 'tiers[0].initialMarginFraction'],
    ['a decreasing maintenance fraction', [tier(1_000, 0.2, 0.1), tier(null, 0.2, 0.05)], 'tiers[1]'],
    ['a decreasing initial fraction', [tier(1_000, 0.3, 0.1), tier(null, 0.2, 0.1)], 'tiers[1]'],
  ])('rejects %s with INVALID_TIERS naming the field', (_label, tiers, field) => {
    let caught: unknown;
    try {
      compileTiers(tiers);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UnwindError);
    const err = caught as UnwindError;
    expect(err.code).toBe('INVALID_TIERS');
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });

  it('prefixes the field path with the caller-given name', () => {
    expect(() => compileTiers([], 'markets[3].tiers')).toThrow(/^markets\[3\]\.tiers: /);
  });
});

describe('tiered margin', () => {
  const s = compileTiers(BINANCE_LIKE);

  it.each([
    // notional, tier, maintenance, initial
    [0, 0, 0, 0],
    [10_000, 0, 40, 80],
    [50_000, 0, 200, 400],
    [100_000, 1, 450, 900],
    [250_000, 1, 1_200, 2_400],
    [300_000, 2, 1_700, 3_400],
    [1_000_000, 2, 8_700, 17_400],
  ])('charges a notional of %d from tier %i: maintenance %d, initial %d', (n, t, mm, im) => {
    expect(tierOf(n, s)).toBe(t);
    expect(maintenanceMargin(n, s)).toBeCloseTo(mm, 6);
    expect(initialMargin(n, s)).toBeCloseTo(im, 6);
  });

  it('reads a schedule stored at an offset of shared columns', () => {
    const ub = new Float64Array([7, 7, ...s.upperBound]);
    const f = new Float64Array([0.9, 0.9, ...s.maintenanceFraction]);
    const a = new Float64Array([5, 5, ...s.maintenanceAmount]);
    expect(tieredMargin(300_000, ub, f, a, 2, s.count)).toBeCloseTo(1_700, 6);
    expect(tieredMargin(3, ub, f, a, 2, s.count)).toBeCloseTo(3 * 0.004, 12);
  });

  it('keeps maintenance and initial margin continuous across every tier boundary', () => {
    fc.assert(
      fc.property(tiersArb, (tiers) => {
        const sch = compileTiers(tiers);
        for (let i = 0; i < sch.count - 1; i++) {
          const b = sch.upperBound[i]!;
          for (const margin of [maintenanceMargin, initialMargin]) {
            const at = margin(b, sch);
            const below = margin(b * (1 - 1e-12), sch);
            const above = margin(b * (1 + 1e-12), sch);
            expect(tierOf(b * (1 + 1e-12), sch)).toBe(i + 1);
            expect(near(below, at, 1e-9)).toBe(true);
            expect(near(above, at, 1e-9)).toBe(true);
          }
          // Both tiers' linear formulas agree exactly at the shared boundary (up to rounding).
          const left = b * sch.maintenanceFraction[i]! - sch.maintenanceAmount[i]!;
          const right = b * sch.maintenanceFraction[i + 1]! - sch.maintenanceAmount[i + 1]!;
          expect(near(left, right, 1e-12)).toBe(true);
        }
      }),
      { seed: 42, numRuns: 500 },
    );
  });

  it('never decreases maintenance or initial margin as notional grows, and stays between the first and last fractions', () => {
    fc.assert(
      fc.property(tiersArb, fc.double({ min: 0, max: 1e9, noNaN: true }), fc.double({ min: 0, max: 1e9, noNaN: true }), (tiers, x, y) => {
        const sch = compileTiers(tiers);
        const [lo, hi] = x <= y ? [x, y] : [y, x];
        for (const margin of [maintenanceMargin, initialMargin]) {
          expect(margin(lo, sch)).toBeLessThanOrEqual(margin(hi, sch) + 1e-9 * Math.max(1, hi));
        }
        const mm = maintenanceMargin(hi, sch);
        expect(mm).toBeGreaterThanOrEqual(hi * sch.maintenanceFraction[0]! * (1 - 1e-12) - 1e-9);
        expect(mm).toBeLessThanOrEqual(hi * sch.maintenanceFraction[sch.count - 1]! * (1 + 1e-12) + 1e-9);
        expect(initialMargin(hi, sch)).toBeGreaterThanOrEqual(mm - 1e-9 * Math.max(1, hi));
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});
