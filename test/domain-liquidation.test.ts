import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scheduleArb } from './support/arbitraries.js';
import {
  adjustedBankruptcyRating,
  bankruptcyPrice,
  bankruptcyValue,
  canBeLiquidated,
  compileTiers,
  fillablePrice,
  liquidationPrice,
  maintenanceMargin,
  underwaterness,
} from '../src/domain/index.js';

const RUNS = { seed: 42, numRuns: 500 };
/** Amounts 0, 50, 1,300 (docs/domain.md section 1). */
const BINANCE_LIKE = compileTiers([
  { maxNotional: 50_000, initialMarginFraction: 0.008, maintenanceMarginFraction: 0.004 },
  { maxNotional: 250_000, initialMarginFraction: 0.01, maintenanceMarginFraction: 0.005 },
  { maxNotional: null, initialMarginFraction: 0.02, maintenanceMarginFraction: 0.01 },
]);
const FLAT_10 = compileTiers([{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }]);

/** A position with the rest of its margin group, scaled to the position's entry notional. */
const groupArb = fc
  .record({
    s: scheduleArb,
    q: fc.double({ min: 1e-3, max: 1_000, noNaN: true }),
    long: fc.boolean(),
    entry: fc.double({ min: 1, max: 100_000, noNaN: true }),
    r: fc.double({ min: -1, max: 2, noNaN: true }),
    m: fc.double({ min: 0, max: 0.5, noNaN: true }),
  })
  .map(({ s, q, long, entry, r, m }) => ({ s, entry, size: long ? q : -q, otherEquity: q * entry * r, otherMaintenance: q * entry * m }));

describe('liquidationPrice', () => {
  /** Binance one-way cross: LP = (WB - TMM_others + UPNL_others + cum - s*Q*EP) / (Q*mmr - s*Q). */
  it.each([
    // label, size, entry, WB, TMM_others, UPNL_others, schedule, hand-computed LP, tier mmr and cum used by hand
    ['a 1 BTC long in tier 0', 1, 40_000, 4_000, 0, 0, BINANCE_LIKE, 36_144.578313253, 0.004, 0],
    ['a 1 BTC short in tier 0', -1, 40_000, 4_000, 0, 0, BINANCE_LIKE, 43_824.701195219, 0.004, 0],
    ['a 5 BTC long that lands in tier 1', 5, 40_000, 20_000, 0, 0, BINANCE_LIKE, 36_170.854271357, 0.005, 50],
    ['a 2 BTC long with other positions, in tier 1', 2, 50_000, 10_000, 2_000, -3_000, BINANCE_LIKE, 47_713.567839196, 0.005, 50],
    ['a 10 BTC short with other positions, in tier 2', -10, 30_000, 30_000, 500, 1_000, BINANCE_LIKE, 32_851.485148515, 0.01, 1_300],
    ['the worked 0.1 BTC long at 10%', 0.1, 50_000, 499, 0, 0, FLAT_10, 50_011.111111111, 0.1, 0],
  ])('reproduces the Binance one-way cross formula for %s', (_l, size, entry, wb, tmm, upnl, s, expected, mmr, cum) => {
    const sign = Math.sign(size);
    const q = Math.abs(size);
    expect((wb - tmm + upnl + cum - sign * q * entry) / (q * mmr - sign * q)).toBeCloseTo(expected, 6);
    const lp = liquidationPrice(size, entry, wb + upnl, tmm, s);
    expect(lp).toBeCloseTo(expected, 6);
    expect(maintenanceMargin(q * lp, s)).toBeCloseTo(q * lp * mmr - cum, 6);
  });

  it.each([
    ['a fully collateralized long', 1, 40_000, 40_000, 0],
    ['a long whose collateral exceeds its notional', 2, 100, 1_000, 10],
    ['a short below maintenance at every price', -1, 100, -1_000, 0],
    ['a size of 0', 0, 100, 1_000, 0],
  ])('returns NaN for %s', (_l, size, entry, otherEquity, otherMaintenance) => {
    expect(liquidationPrice(size, entry, otherEquity, otherMaintenance, BINANCE_LIKE)).toBeNaN();
  });

  it('puts the group exactly at health 1 at the returned price, liquidatable just past it and not just before it', () => {
    let finite = 0;
    fc.assert(
      fc.property(groupArb, ({ s, entry, size, otherEquity, otherMaintenance }) => {
        const lp = liquidationPrice(size, entry, otherEquity, otherMaintenance, s);
        const surplus0 = otherEquity - otherMaintenance - size * entry;
        const scale = Math.abs(otherEquity) + otherMaintenance + Math.abs(size) * entry;
        if (Math.abs(surplus0) > 1e-9 * scale) expect(Number.isFinite(lp)).toBe(size > 0 ? surplus0 < 0 : surplus0 > 0);
        if (!Number.isFinite(lp)) return;
        finite++;
        expect(lp).toBeGreaterThan(0);
        const equity = (p: number) => otherEquity + size * (p - entry);
        const maintenance = (p: number) => otherMaintenance + maintenanceMargin(Math.abs(size) * p, s);
        expect(Math.abs(equity(lp) - maintenance(lp))).toBeLessThanOrEqual(1e-9 * (scale + Math.abs(size) * lp));
        if (Math.abs(size) * lp < 1e-5 * scale) return;
        const adverse = size > 0 ? lp * (1 - 1e-6) : lp * (1 + 1e-6);
        const favourable = size > 0 ? lp * (1 + 1e-6) : lp * (1 - 1e-6);
        expect(canBeLiquidated(equity(adverse), maintenance(adverse))).toBe(true);
        expect(canBeLiquidated(equity(favourable), maintenance(favourable))).toBe(false);
      }),
      RUNS,
    );
    expect(finite).toBeGreaterThan(RUNS.numRuns / 4);
  });
});

describe('bankruptcyPrice', () => {
  it.each([
    // size, entry, otherEquity, expected
    [0.1, 50_000, 499, 45_010],
    [-2, 3_000, 600, 3_300],
    [1, 100, -20, 120],
    [-1, 100, -20, 80],
    [1, 100, 100, NaN],
    [1, 100, 150, NaN],
    [-1, 100, -150, NaN],
    [0, 100, 10, NaN],
  ])('puts size %d from entry %d with other equity %d at bankruptcy price %d', (size, entry, otherEquity, expected) => {
    const bp = bankruptcyPrice(size, entry, otherEquity);
    if (Number.isNaN(expected)) expect(bp).toBeNaN();
    else expect(bp).toBeCloseTo(expected, 9);
  });

  it('zeroes equity at the bankruptcy price, which lies beyond the liquidation price', () => {
    fc.assert(
      fc.property(groupArb, ({ s, entry, size, otherEquity, otherMaintenance }) => {
        const bp = bankruptcyPrice(size, entry, otherEquity);
        expect(Number.isNaN(bp)).toBe(!(entry - otherEquity / size > 0));
        if (Number.isNaN(bp)) return;
        expect(Math.abs(otherEquity + size * (bp - entry))).toBeLessThanOrEqual(1e-9 * (Math.abs(otherEquity) + Math.abs(size) * entry));
        const lp = liquidationPrice(size, entry, otherEquity, otherMaintenance, s);
        // Away from the degenerate bp ~ 0 corner, where both prices are rounding noise.
        if (Number.isFinite(lp) && bp > 1e-6 * entry) expect(size > 0 ? lp > bp : lp < bp).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('fillablePrice', () => {
  it.each([
    // size, equity, expected (oracle 50,000, PMMR 500, TMMR 500)
    [0.1, 499, 49_999],
    [0.1, 0, 49_500],
    [0.1, -100, 49_500],
    [0.1, 500, 50_000],
    [0.1, 800, 50_000],
    [-0.1, 499, 50_001],
    [-0.1, 0, 50_500],
    [-0.1, -100, 50_500],
    [-0.1, 500, 50_000],
  ])('fills size %d of the worked BTC case at equity %d at %d', (size, equity, expected) => {
    expect(fillablePrice(50_000, size, 500, equity, 500)).toBeCloseTo(expected, 6);
  });

  it.each([
    // equity, totalMaintenance, BA, ABR
    [499, 500, 1, 0.002],
    [250, 500, 1, 0.5],
    [250, 500, 0.5, 0.25],
    [250, 500, 4, 1],
    [600, 500, 1, 0],
    [-5, 500, 1, 1],
    [10, 0, 1, 0],
  ])('rates equity %d against maintenance %d with adjustment %d at ABR %d', (equity, tm, ba, abr) => {
    expect(adjustedBankruptcyRating(equity, tm, ba)).toBeCloseTo(abr, 12);
  });

  it('measures underwaterness as the relative distance from the oracle', () => {
    expect(underwaterness(49_500, 50_000)).toBeCloseTo(0.01, 12);
    expect(underwaterness(50_500, 50_000)).toBeCloseTo(0.01, 12);
    expect(underwaterness(50_000, 50_000)).toBe(0);
  });

  const fillArb = fc.record({
    oracle: fc.double({ min: 1, max: 100_000, noNaN: true }),
    size: fc.double({ min: 1e-3, max: 1_000, noNaN: true }).chain((q) => fc.constantFrom(q, -q)),
    pmmrFrac: fc.double({ min: 1e-3, max: 0.5, noNaN: true }),
    others: fc.double({ min: 0, max: 3, noNaN: true }),
    e1: fc.double({ min: -2, max: 2, noNaN: true }),
    e2: fc.double({ min: -2, max: 2, noNaN: true }),
    ba: fc.double({ min: 0.1, max: 3, noNaN: true }),
    smmr: fc.double({ min: 0, max: 1, noNaN: true }),
  });

  it('lies between the oracle and oracle -/+ SMMR * PMMR / |size|, at the oracle when healthy, and concedes more as equity falls', () => {
    fc.assert(
      fc.property(fillArb, ({ oracle, size, pmmrFrac, others, e1, e2, ba, smmr }) => {
        const pmmr = Math.abs(size) * oracle * pmmrFrac;
        const tmmr = pmmr * (1 + others);
        const [lo, hi] = e1 <= e2 ? [e1 * tmmr, e2 * tmmr] : [e2 * tmmr, e1 * tmmr];
        const fLo = fillablePrice(oracle, size, pmmr, lo, tmmr, ba, smmr);
        const fHi = fillablePrice(oracle, size, pmmr, hi, tmmr, ba, smmr);
        const worst = oracle - (Math.sign(size) * smmr * pmmr) / Math.abs(size);
        const tol = 1e-12 * oracle;
        for (const f of [fLo, fHi]) {
          expect(Math.min(oracle, worst) - tol).toBeLessThanOrEqual(f);
          expect(f).toBeLessThanOrEqual(Math.max(oracle, worst) + tol);
        }
        if (hi >= tmmr) expect(Math.abs(fHi - oracle)).toBeLessThanOrEqual(tol);
        if (lo <= 0 && ba >= 1) expect(Math.abs(fLo - worst)).toBeLessThanOrEqual(tol);
        if (size > 0) expect(fLo).toBeLessThanOrEqual(fHi);
        else expect(fLo).toBeGreaterThanOrEqual(fHi);
      }),
      RUNS,
    );
  });
});

describe('bankruptcyValue', () => {
  it('brings 4,501 for closing the worked 0.1 BTC long, which is the close at its bankruptcy price 45,010', () => {
    expect(bankruptcyValue(-5_000, -500, 499, 500)).toBeCloseTo(4_501, 9);
    expect(0.1 * bankruptcyPrice(0.1, 50_000, 499)).toBeCloseTo(4_501, 9);
    expect(bankruptcyValue(5_000, -500, 499, 500)).toBeCloseTo(-5_499, 9);
  });

  it('leaves TNC / TMMR unchanged when part of a position is closed for exactly the bankruptcy value', () => {
    fc.assert(
      fc.property(groupArb, fc.oneof(fc.constant(1), fc.double({ min: 0.01, max: 1, noNaN: true })), fc.double({ min: 0.5, max: 2, noNaN: true }), (g, frac, move) => {
        const { s, entry, size, otherEquity, otherMaintenance } = g;
        const oracle = entry * move;
        const equity = otherEquity + size * (oracle - entry);
        const mm = maintenanceMargin(Math.abs(size) * oracle, s);
        const tmmr = otherMaintenance + mm;
        const delta = -size * frac;
        const dnnv = delta * oracle;
        const dmmr = maintenanceMargin(Math.abs(size + delta) * oracle, s) - mm;
        expect(dmmr).toBeLessThanOrEqual(1e-9 * mm);
        const v = bankruptcyValue(dnnv, dmmr, equity, tmmr);
        expect(v).toBeCloseTo(-dnnv - (equity * Math.abs(dmmr)) / tmmr, 6);
        // The account receives V in quote and its position value changes by DNNV.
        const equityAfter = equity + v + dnnv;
        const tmmrAfter = tmmr + dmmr;
        // E'/M' == E/M, cross-multiplied so that a full close of a lone position (M' = 0, E' = 0) is covered too.
        const tol = 1e-9 * ((Math.abs(equity) + Math.abs(dnnv) + Math.abs(v)) * tmmr + Math.abs(equity) * tmmr);
        expect(Math.abs(equityAfter * tmmr - equity * tmmrAfter)).toBeLessThanOrEqual(tol);
      }),
      RUNS,
    );
  });

  it('prices the full close of a lone position at its bankruptcy price', () => {
    fc.assert(
      fc.property(groupArb, fc.double({ min: 0.5, max: 2, noNaN: true }), ({ s, entry, size, otherEquity }, move) => {
        const oracle = entry * move;
        const mm = maintenanceMargin(Math.abs(size) * oracle, s);
        const equity = otherEquity + size * (oracle - entry);
        const v = bankruptcyValue(-size * oracle, -mm, equity, mm);
        const atBankruptcy = size * entry - otherEquity; // size * (entry - otherEquity / size)
        expect(Math.abs(v - atBankruptcy)).toBeLessThanOrEqual(1e-9 * (Math.abs(size) * entry * 2 + Math.abs(otherEquity)));
        const bp = bankruptcyPrice(size, entry, otherEquity);
        if (Number.isFinite(bp)) expect(Math.abs(v - size * bp)).toBeLessThanOrEqual(1e-9 * Math.abs(size) * entry * 2);
      }),
      RUNS,
    );
  });
});
