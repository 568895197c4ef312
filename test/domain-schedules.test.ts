import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  almgrenChrissHoldings,
  crossingProbability,
  normalCdf,
  clipperNeedsReset,
  clipperPrice,
  disposalQuantity,
  disposalSchedule,
  twapSlice,
  type AlmgrenChrissParams,
  type ClipperParams,
  type DisposalParams,
} from '../src/domain/index.js';
import { isUnwindError } from '../src/errors.js';

const RUNS = { seed: 42, numRuns: 400 };

/** The code and field of the UnwindError `f` throws (any other outcome fails the test). */
function rejection(f: () => unknown): { code: string; field: string | undefined } {
  try {
    f();
  } catch (e) {
    if (isUnwindError(e)) return { code: e.code, field: e.field };
    throw e;
  }
  throw new Error('expected an UnwindError, but the call returned');
}

/** |actual - expected| within `rel` of |expected| (or of 1 near 0). */
function expectClose(actual: number, expected: number, rel = 1e-12): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(expected)));
}

describe('almgrenChrissHoldings', () => {
  /** kappa = sqrt(lambda sigma^2 / eta), as the test computes it, independently of the code. */
  const kappaOf = (p: AlmgrenChrissParams) => Math.sqrt((p.lambda * p.sigma * p.sigma) / p.eta);

  it.each([
    // kappa = sqrt(1e-8 * 0.25 / 0.01) = 5e-4 per second: kappa T = 1.8 over an hour
    ['kappa T = 1.8', { size: 1_000, horizonSec: 3_600, sigma: 0.5, eta: 0.01, lambda: 1e-8 }],
    // kappa = sqrt(1e-4 * 4 / 0.01) = 0.2 per second: kappa T = 60, front-loaded
    ['kappa T = 60', { size: 1_000, horizonSec: 300, sigma: 2, eta: 0.01, lambda: 1e-4 }],
    // kappa T = 1e-3 and 3e-5: either side of the switch to the series
    ['kappa T = 1e-3', { size: -250, horizonSec: 1_000, sigma: 1, eta: 1, lambda: 1e-12 }],
    ['kappa T = 3e-5', { size: 250, horizonSec: 100, sigma: 3e-7, eta: 1, lambda: 1e-4 }],
  ])('follows X sinh(kappa (T - t)) / sinh(kappa T) at several times (%s)', (_label, p) => {
    const kappa = kappaOf(p);
    for (const share of [0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999]) {
      const t = share * p.horizonSec;
      const expected = (p.size * Math.sinh(kappa * (p.horizonSec - t))) / Math.sinh(kappa * p.horizonSec);
      expectClose(almgrenChrissHoldings(p, t), expected, 1e-12);
    }
  });

  it('holds the whole position until the start and nothing from the horizon on', () => {
    const p = { size: 1_000, horizonSec: 3_600, sigma: 0.5, eta: 0.01, lambda: 1e-8 };
    expect(almgrenChrissHoldings(p, -10)).toBe(1_000);
    expect(almgrenChrissHoldings(p, 0)).toBe(1_000);
    expect(almgrenChrissHoldings(p, 3_600)).toBe(0);
    expect(almgrenChrissHoldings(p, 1e9)).toBe(0);
    expect(almgrenChrissHoldings(p, Infinity)).toBe(0);
  });

  it('keeps the sign of a short: the holdings of -X are minus those of X', () => {
    const long = { size: 700, horizonSec: 600, sigma: 1, eta: 0.1, lambda: 1e-5 };
    const short = { ...long, size: -700 };
    for (const t of [0, 60, 300, 599, 600]) {
      // `+ 0` reads -0 as 0: at the horizon both hold nothing.
      expect(almgrenChrissHoldings(short, t) + 0).toBe(-almgrenChrissHoldings(long, t) + 0);
      expect(almgrenChrissHoldings(short, t)).toBeLessThanOrEqual(0);
    }
  });

  it('is TWAP at kappa = 0 (no risk aversion, or no volatility)', () => {
    const riskNeutral = { size: 1_200, horizonSec: 120, sigma: 5, eta: 0.1, lambda: 0 };
    const noVolatility = { ...riskNeutral, sigma: 0, lambda: 1 };
    for (const t of [1, 30, 60, 119]) {
      expectClose(almgrenChrissHoldings(riskNeutral, t), (1_200 * (120 - t)) / 120, 1e-15);
      expectClose(almgrenChrissHoldings(noVolatility, t), (1_200 * (120 - t)) / 120, 1e-15);
    }
  });

  it('tends to TWAP as kappa -> 0, with no NaN at kappa = 1e-12 or below', () => {
    const X = 1_000;
    const T = 100;
    const t = 37;
    const twap = X * (1 - t / T);
    let previousGap = Infinity;
    // kappa = 1e-1 ... 1e-14 and then kappa far below float's normal range (1e-160 squared underflows to 0)
    for (const kappa of [1e-1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 1e-14, 1e-160]) {
      const holdings = almgrenChrissHoldings({ size: X, horizonSec: T, sigma: 1, eta: 1, lambda: kappa * kappa }, t);
      expect(Number.isNaN(holdings)).toBe(false);
      const gap = Math.abs(holdings - twap);
      expect(gap).toBeLessThanOrEqual(previousGap);
      previousGap = gap;
    }
    expect(previousGap).toBeLessThanOrEqual(1e-12 * X);
  });

  it('stays within X (kappa T)^2 / 6 of TWAP for small kappa T (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.double({ min: 1, max: 86_400, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1e-2, noNaN: true }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        (X, T, share, kappaT, sigma, eta) => {
          const kappa = kappaT / T;
          const p = { size: X, horizonSec: T, sigma, eta, lambda: (kappa * kappa * eta) / (sigma * sigma) };
          const t = share * T;
          const b = kappaOf(p) * T;
          const gap = Math.abs(almgrenChrissHoldings(p, t) - X * (1 - t / T));
          expect(gap).toBeLessThanOrEqual(Math.abs(X) * ((b * b) / 6 + 1e-14));
        },
      ),
      RUNS,
    );
  });

  it('never rises over time for a long, and stays within [0, X] (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-3, max: 1e9, noNaN: true }),
        fc.double({ min: 1, max: 86_400, noNaN: true }),
        fc.double({ min: -8, max: 3, noNaN: true }),
        fc.double({ min: -0.1, max: 1.1, noNaN: true }),
        fc.double({ min: -0.1, max: 1.1, noNaN: true }),
        (X, T, log10KappaT, s1, s2) => {
          const kappa = 10 ** log10KappaT / T;
          const p = { size: X, horizonSec: T, sigma: 1, eta: 1, lambda: kappa * kappa };
          const [early, late] = s1 <= s2 ? [s1 * T, s2 * T] : [s2 * T, s1 * T];
          const a = almgrenChrissHoldings(p, early);
          const b = almgrenChrissHoldings(p, late);
          // Equal up to a few units in the last place of X, as exp and expm1 are not exactly rounded.
          expect(b).toBeLessThanOrEqual(a + 4 * Number.EPSILON * X);
          expect(a).toBeGreaterThanOrEqual(0);
          expect(a).toBeLessThanOrEqual(X);
        },
      ),
      RUNS,
    );
  });

  it('sells at once, without overflow, when kappa T is beyond sinh range', () => {
    // kappa = sqrt(1 * 1e6 / 1e-6) = 1e6 per second over 60 s: sinh(6e7) overflows, the schedule does not.
    const p = { size: 100, horizonSec: 60, sigma: 1_000, eta: 1e-6, lambda: 1 };
    expect(almgrenChrissHoldings(p, 1e-6)).toBeCloseTo(100 * Math.exp(-1), 10);
    expect(almgrenChrissHoldings(p, 1)).toBe(0);
    // lambda sigma^2 / eta overflows to Infinity: the limit, all sold after t = 0.
    const infinite = { size: 100, horizonSec: 60, sigma: 1e200, eta: 1e-300, lambda: 1 };
    expect(almgrenChrissHoldings(infinite, 0)).toBe(100);
    expect(almgrenChrissHoldings(infinite, 1e-9)).toBe(0);
  });

  it.each<[string, Partial<AlmgrenChrissParams>, string, string]>([
    ['a negative sigma', { sigma: -1 }, 'INVALID_CONFIG', 'params.sigma'],
    ['an infinite sigma', { sigma: Infinity }, 'INVALID_CONFIG', 'params.sigma'],
    ['a NaN eta', { eta: NaN }, 'INVALID_CONFIG', 'params.eta'],
    ['a zero eta', { eta: 0 }, 'INVALID_CONFIG', 'params.eta'],
    ['a negative lambda', { lambda: -1e-6 }, 'INVALID_CONFIG', 'params.lambda'],
    ['an infinite lambda', { lambda: Infinity }, 'INVALID_CONFIG', 'params.lambda'],
    ['a negative horizon', { horizonSec: -60 }, 'INVALID_CONFIG', 'params.horizonSec'],
    ['a zero horizon', { horizonSec: 0 }, 'INVALID_CONFIG', 'params.horizonSec'],
    ['an infinite size', { size: Infinity }, 'INVALID_SIZE', 'params.size'],
  ])('refuses %s, naming the field', (_label, change, code, field) => {
    const p = { size: 100, horizonSec: 60, sigma: 1, eta: 1, lambda: 1e-3, ...change };
    expect(rejection(() => almgrenChrissHoldings(p, 10))).toEqual({ code, field });
  });

  it('refuses a time that is not a number', () => {
    const p = { size: 100, horizonSec: 60, sigma: 1, eta: 1, lambda: 1e-3 };
    expect(rejection(() => almgrenChrissHoldings(p, NaN))).toEqual({ code: 'INVALID_ARGUMENT', field: 'tSec' });
  });
});

describe('clipperPrice and clipperNeedsReset (MakerDAO Clipper)', () => {
  // buf 1.30 and a 1% cut every 90 s, tail 140 minutes, cusp 0.40: the shape of MakerDAO's ETH-A Clipper.
  const STAIRSTEP: ClipperParams = { buf: 1.3, decrease: { kind: 'stairstep', stepSec: 90, cut: 0.99 } };
  const RESET = { tailSec: 140 * 60, cusp: 0.4 };
  const ORACLE = 2_000;
  const TOP = ORACLE * 1.3;

  it('starts at oracle * buf and cuts 1% at the end of every 90 s step', () => {
    expect(clipperPrice(STAIRSTEP, ORACLE, 0)).toBe(TOP);
    expect(clipperPrice(STAIRSTEP, ORACLE, 89)).toBe(TOP);
    expect(clipperPrice(STAIRSTEP, ORACLE, 89.999)).toBe(TOP);
    for (const t of [0, 1, 89, 90, 91, 179, 180, 181, 900, 4_500, 8_279, 8_280, 8_399, 8_400, 8_999, 9_000]) {
      expectClose(clipperPrice(STAIRSTEP, ORACLE, t), TOP * 0.99 ** Math.floor(t / 90), 1e-14);
    }
    expectClose(clipperPrice(STAIRSTEP, ORACLE, 90), 2_574, 1e-14);
    expectClose(clipperPrice(STAIRSTEP, ORACLE, 180), 2_548.26, 1e-14);
  });

  it('needs a reset first when the price falls below 40% of top: at the 92nd cut, 8,280 s', () => {
    // The first k with 0.99^k < 0.40, found here by counting (0.99^91 = 0.4007, 0.99^92 = 0.3967).
    let k = 0;
    while (0.99 ** k >= 0.4) k += 1;
    expect(k).toBe(92);
    const firstReset = k * 90;
    expect(firstReset).toBe(8_280);
    for (let t = 0; t < firstReset; t += 15) {
      expect(clipperNeedsReset(RESET, TOP, clipperPrice(STAIRSTEP, ORACLE, t), t)).toBe(false);
    }
    expect(clipperNeedsReset(RESET, TOP, clipperPrice(STAIRSTEP, ORACLE, firstReset - 1), firstReset - 1)).toBe(false);
    expect(clipperNeedsReset(RESET, TOP, clipperPrice(STAIRSTEP, ORACLE, firstReset), firstReset)).toBe(true);
  });

  it('needs a reset once more than tail (140 minutes, 8,400 s) has passed, whatever the price', () => {
    const noCusp = { tailSec: 8_400, cusp: 0 };
    expect(clipperNeedsReset(noCusp, TOP, TOP, 8_399)).toBe(false);
    // Strictly more than tail, as dss's `sub(block.timestamp, tic) > tail`.
    expect(clipperNeedsReset(noCusp, TOP, TOP, 8_400)).toBe(false);
    expect(clipperNeedsReset(noCusp, TOP, TOP, 8_400.5)).toBe(true);
    expect(clipperNeedsReset(noCusp, TOP, TOP, 8_401)).toBe(true);
    expect(clipperNeedsReset(RESET, TOP, clipperPrice(STAIRSTEP, ORACLE, 8_401), 8_401)).toBe(true);
  });

  it('does not need a reset at exactly cusp * top (strictly below, as dss compares)', () => {
    expect(clipperNeedsReset(RESET, 1_000, 400, 10)).toBe(false);
    expect(clipperNeedsReset(RESET, 1_000, 399.999, 10)).toBe(true);
    expect(clipperNeedsReset({ tailSec: Infinity, cusp: 0 }, 1_000, 0, 1e12)).toBe(false);
  });

  it('falls linearly from top to 0 over tau and stays at 0', () => {
    const linear: ClipperParams = { buf: 1.2, decrease: { kind: 'linear', tauSec: 3_600 } };
    const top = 1_500 * 1.2;
    expect(clipperPrice(linear, 1_500, 0)).toBe(top);
    for (const t of [1, 600, 1_800, 2_700, 3_599]) expectClose(clipperPrice(linear, 1_500, t), (top * (3_600 - t)) / 3_600, 1e-14);
    expectClose(clipperPrice(linear, 1_500, 1_800), top / 2, 1e-15);
    expect(clipperPrice(linear, 1_500, 3_600)).toBe(0);
    expect(clipperPrice(linear, 1_500, 10_000)).toBe(0);
    // Under a cusp of 0.4, the linear auction needs a reset once price / top < 0.4: after 60% of tau.
    const reset = { tailSec: 1e9, cusp: 0.4 };
    expect(clipperNeedsReset(reset, top, clipperPrice(linear, 1_500, 2_159), 2_159)).toBe(false);
    expect(clipperNeedsReset(reset, top, clipperPrice(linear, 1_500, 2_161), 2_161)).toBe(true);
  });

  it('keeps top for the first step even with a cut of 0, then drops to 0', () => {
    const cliff: ClipperParams = { buf: 1, decrease: { kind: 'stairstep', stepSec: 60, cut: 0 } };
    expect(clipperPrice(cliff, 100, 59)).toBe(100);
    expect(clipperPrice(cliff, 100, 60)).toBe(0);
  });

  it.each<[string, () => unknown, string, string]>([
    ['a cut above 1', () => clipperPrice({ buf: 1.3, decrease: { kind: 'stairstep', stepSec: 90, cut: 1.01 } }, 100, 0), 'INVALID_CONFIG', 'params.decrease.cut'],
    ['a zero step', () => clipperPrice({ buf: 1.3, decrease: { kind: 'stairstep', stepSec: 0, cut: 0.99 } }, 100, 0), 'INVALID_CONFIG', 'params.decrease.stepSec'],
    ['a zero tau', () => clipperPrice({ buf: 1.3, decrease: { kind: 'linear', tauSec: 0 } }, 100, 0), 'INVALID_CONFIG', 'params.decrease.tauSec'],
    ['an unknown decrease', () => clipperPrice({ buf: 1.3, decrease: { kind: 'exponential' } as never }, 100, 0), 'INVALID_CONFIG', 'params.decrease.kind'],
    ['a negative buf', () => clipperPrice({ ...STAIRSTEP, buf: -1 }, 100, 0), 'INVALID_CONFIG', 'params.buf'],
    ['a zero oracle price', () => clipperPrice(STAIRSTEP, 0, 0), 'INVALID_PRICE', 'oraclePrice'],
    ['a time before the start', () => clipperPrice(STAIRSTEP, 100, -1), 'INVALID_ARGUMENT', 'elapsedSec'],
    ['a cusp above 1', () => clipperNeedsReset({ tailSec: 60, cusp: 1.5 }, 100, 50, 0), 'INVALID_CONFIG', 'params.cusp'],
    ['a negative tail', () => clipperNeedsReset({ tailSec: -1, cusp: 0.4 }, 100, 50, 0), 'INVALID_CONFIG', 'params.tailSec'],
    ['a NaN price', () => clipperNeedsReset(RESET, 100, NaN, 0), 'INVALID_PRICE', 'price'],
  ])('refuses %s, naming the field', (_label, f, code, field) => {
    expect(rejection(f)).toEqual({ code, field });
  });
});

describe('disposalSchedule and disposalQuantity (Vega liquidation strategy)', () => {
  // Vega's acceptance case 0012-POSR-013: 10 s steps, fraction 0.5, full disposal at 50, at most 1% of the book.
  const VEGA: DisposalParams = { stepSec: 10, fraction: 0.5, fullDisposalSize: 50, maxFractionOfBook: 0.01 };

  it('closes a position of 280 against a book of 10,000 as 100, 90, 45, 45 (0012-POSR-013)', () => {
    expect(disposalSchedule(VEGA, 280, 10_000)).toEqual([100, 90, 45, 45]);
  });

  it('gives each step as disposalQuantity gives it from what remains', () => {
    expect(disposalQuantity(VEGA, 280, 10_000)).toBe(100); // min(140, 100)
    expect(disposalQuantity(VEGA, 180, 10_000)).toBe(90); // min(90, 100)
    expect(disposalQuantity(VEGA, 90, 10_000)).toBe(45);
    expect(disposalQuantity(VEGA, 45, 10_000)).toBe(45); // <= 50: all of it
    expect(disposalQuantity(VEGA, 280, 0)).toBe(0); // an empty book: nothing this step
    expect(disposalQuantity(VEGA, 0, 10_000)).toBe(0);
  });

  it('closes a short the same way: quantities are > 0 whatever the side', () => {
    expect(disposalSchedule(VEGA, -280, 10_000)).toEqual([100, 90, 45, 45]);
    expect(disposalQuantity(VEGA, -180, 10_000)).toBe(90);
  });

  it('closes a position at or below the full disposal size in one step', () => {
    expect(disposalSchedule(VEGA, 40, 10_000)).toEqual([40]);
    expect(disposalSchedule(VEGA, 50, 10_000)).toEqual([50]);
    expect(disposalSchedule(VEGA, 0.001, 10_000)).toEqual([0.001]);
    expect(disposalSchedule(VEGA, 0, 10_000)).toEqual([]);
  });

  it('still respects the book for a small position: 40 against a book of 1,000 takes four steps of 10', () => {
    expect(disposalSchedule(VEGA, 40, 1_000)).toEqual([10, 10, 10, 10]);
  });

  it('takes many steps against a tiny book: 280 against a book of 100 closes 1 a step', () => {
    const steps = disposalSchedule(VEGA, 280, 100);
    expect(steps).toHaveLength(280);
    expect(steps.every((q) => q === 1)).toBe(true);
  });

  it('halves without a book cap until the full disposal size: 140, 70, 35, 35', () => {
    expect(disposalSchedule(VEGA, 280, Infinity)).toEqual([140, 70, 35, 35]);
  });

  it('with fraction 1, tries everything each step, so only the book cuts it: 100, 100, 80', () => {
    expect(disposalSchedule({ ...VEGA, fraction: 1, fullDisposalSize: 0 }, 280, 10_000)).toEqual([100, 100, 80]);
  });

  it('sums to |size|, each step > 0, within the cap and as disposalQuantity gives it (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e5, max: 1e5, noNaN: true }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.double({ min: 1e-3, max: 1e4, noNaN: true }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.double({ min: 1e4, max: 1e7, noNaN: true }),
        (size, fraction, fullDisposalSize, maxFractionOfBook, bookVolume) => {
          const params = { stepSec: 5, fraction, fullDisposalSize, maxFractionOfBook };
          const steps = disposalSchedule(params, size, bookVolume);
          // Checked in plain code and asserted once: a schedule runs to a few thousand steps.
          let remaining = Math.abs(size);
          const wrong = steps.filter((q) => {
            const bad = !(q > 0) || q > maxFractionOfBook * bookVolume || q !== disposalQuantity(params, remaining, bookVolume);
            remaining -= q;
            return bad;
          });
          expect(wrong).toEqual([]);
          expect(remaining).toBe(0);
          expectClose(steps.reduce((a, q) => a + q, 0), Math.abs(size), 1e-12);
        },
      ),
      { ...RUNS, numRuns: 200 },
    );
  });

  it.each<[string, () => unknown, string, string]>([
    ['a fraction of 0', () => disposalSchedule({ ...VEGA, fraction: 0 }, 280, 10_000), 'INVALID_CONFIG', 'params.fraction'],
    ['a fraction above 1', () => disposalSchedule({ ...VEGA, fraction: 1.5 }, 280, 10_000), 'INVALID_CONFIG', 'params.fraction'],
    ['a book share above 1', () => disposalSchedule({ ...VEGA, maxFractionOfBook: 2 }, 280, 10_000), 'INVALID_CONFIG', 'params.maxFractionOfBook'],
    ['a zero step', () => disposalSchedule({ ...VEGA, stepSec: 0 }, 280, 10_000), 'INVALID_CONFIG', 'params.stepSec'],
    ['a negative full disposal size', () => disposalQuantity({ ...VEGA, fullDisposalSize: -1 }, 280, 10_000), 'INVALID_CONFIG', 'params.fullDisposalSize'],
    // Vega ends such a schedule by rounding to whole units; a float halves forever.
    ['full disposal size 0 with a fraction below 1', () => disposalSchedule({ ...VEGA, fullDisposalSize: 0 }, 280, 10_000), 'INVALID_CONFIG', 'params.fullDisposalSize'],
    ['an empty book', () => disposalSchedule(VEGA, 280, 0), 'INVALID_ARGUMENT', 'bookVolume'],
    ['a negative book', () => disposalQuantity(VEGA, 280, -1), 'INVALID_ARGUMENT', 'bookVolume'],
    ['an infinite size', () => disposalSchedule(VEGA, Infinity, 10_000), 'INVALID_SIZE', 'size'],
    ['a schedule of more than a million steps', () => disposalSchedule(VEGA, 1e7, 1), 'CAPACITY_EXCEEDED', 'bookVolume'],
  ])('refuses %s, naming the field', (_label, f, code, field) => {
    expect(rejection(f)).toEqual({ code, field });
  });
});

describe('twapSlice', () => {
  const base = { remaining: 100, dtSec: 10, timeLeftSec: 100, maxParticipation: Infinity, bookVolume: 1_000 };

  it('spreads the remainder evenly over the time left: 100 over 100 s in 10 s slices is 10', () => {
    expect(twapSlice(base)).toBe(10);
    expect(twapSlice({ ...base, remaining: 90, timeLeftSec: 90 })).toBe(10);
    expect(twapSlice({ ...base, remaining: 1_000, timeLeftSec: 20 })).toBe(500);
  });

  it('is due whole when the time left is at most one slice', () => {
    expect(twapSlice({ ...base, timeLeftSec: 10 })).toBe(100);
    expect(twapSlice({ ...base, timeLeftSec: 3 })).toBe(100);
    expect(twapSlice({ ...base, timeLeftSec: 0 })).toBe(100);
    expect(twapSlice({ ...base, timeLeftSec: -5 })).toBe(100);
  });

  it('is capped at maxParticipation * bookVolume', () => {
    const capped = { ...base, remaining: 1_000, timeLeftSec: 20, maxParticipation: 0.1, bookVolume: 2_000 };
    expect(twapSlice(capped)).toBe(200);
    expect(twapSlice({ ...capped, timeLeftSec: 5 })).toBe(200);
    expect(twapSlice({ ...capped, bookVolume: 10_000 })).toBe(500);
    expect(twapSlice({ ...capped, bookVolume: 0 })).toBe(0);
  });

  it('has no cap when maxParticipation or bookVolume is Infinity', () => {
    expect(twapSlice({ ...base, remaining: 1_000, timeLeftSec: 20, bookVolume: 0 })).toBe(500);
    expect(twapSlice({ ...base, remaining: 1_000, timeLeftSec: 20, maxParticipation: 0.1, bookVolume: Infinity })).toBe(500);
  });

  it('keeps the sign of the remainder and caps its size', () => {
    expect(twapSlice({ ...base, remaining: -100 })).toBe(-10);
    expect(twapSlice({ ...base, remaining: -1_000, timeLeftSec: 20, maxParticipation: 0.1, bookVolume: 2_000 })).toBe(-200);
    expect(Object.is(twapSlice({ ...base, remaining: -1_000, maxParticipation: 0.1, bookVolume: 0 }), 0)).toBe(true);
  });

  it('closes the position at the deadline in equal slices when nothing caps it', () => {
    let remaining = 600;
    const slices: number[] = [];
    for (let timeLeft = 60; timeLeft > 0; timeLeft -= 10) {
      const slice = twapSlice({ remaining, dtSec: 10, timeLeftSec: timeLeft, maxParticipation: Infinity, bookVolume: Infinity });
      slices.push(slice);
      remaining -= slice;
    }
    expect(slices).toEqual([100, 100, 100, 100, 100, 100]);
    expect(remaining).toBe(0);
  });

  it.each<[string, object, string, string]>([
    ['a zero slice interval', { dtSec: 0 }, 'INVALID_ARGUMENT', 'input.dtSec'],
    ['a NaN time left', { timeLeftSec: NaN }, 'INVALID_ARGUMENT', 'input.timeLeftSec'],
    ['a zero participation', { maxParticipation: 0 }, 'INVALID_ARGUMENT', 'input.maxParticipation'],
    ['a negative book', { bookVolume: -1 }, 'INVALID_ARGUMENT', 'input.bookVolume'],
    ['an infinite remainder', { remaining: Infinity }, 'INVALID_SIZE', 'input.remaining'],
  ])('refuses %s, naming the field', (_label, change, code, field) => {
    expect(rejection(() => twapSlice({ ...base, ...change }))).toEqual({ code, field });
  });
});

describe('crossing probability (the adaptive strategy)', () => {
  it('is the normal CDF to 1.5e-7 at known points', () => {
    const table: [number, number][] = [[0, 0.5], [1, 0.841344746], [1.959963985, 0.975], [-1, 0.158655254], [3, 0.998650102], [-6, 9.8659e-10]];
    for (const [x, p] of table) expect(Math.abs(normalCdf(x) - p)).toBeLessThan(1.5e-7);
  });

  it('is 2 (1 - Phi(d / (sigma sqrt(T)))) by reflection, 1 with no distance, 0 with no volatility', () => {
    expect(crossingProbability(0.1, 0.01, 100)).toBeCloseTo(2 * (1 - 0.841344746), 6);
    expect(crossingProbability(0, 0.01, 100)).toBe(1);
    expect(crossingProbability(-0.2, 0.01, 100)).toBe(1);
    expect(crossingProbability(0.1, 0, 100)).toBe(0);
    expect(crossingProbability(Infinity, 0.5, 100)).toBe(0);
    expect(crossingProbability(0.05, 0.01, 400)).toBeGreaterThan(crossingProbability(0.05, 0.01, 100));
    expect(() => crossingProbability(0.1, -1, 1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'sigma' }));
  });
});
