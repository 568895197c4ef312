import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { HarRv, fitHar, type HarCoefficients, type HarState } from '../src/models/index.js';
import { mulberry32, normal } from '../src/sim/random.js';

const S = 1e6;
const TRUE: HarCoefficients = { b0: 1e-7, bd: 0.4, bw: 0.3, bm: 0.2 };

/** `n` base-period RVs from the HAR recursion with 5- and 30-period averages and Gaussian noise of sd 1e-7 (mean RV 1e-6). */
function simulate(n: number, b: HarCoefficients, seed: number): number[] {
  const z = normal(mulberry32(seed));
  const rv = new Array<number>(30).fill(1e-6);
  const mean = (end: number, count: number) => {
    let s = 0;
    for (let i = end - count + 1; i <= end; i++) s += rv[i];
    return s / count;
  };
  for (let t = 29; rv.length < n; t++) rv.push(b.b0 + b.bd * rv[t] + b.bw * mean(t, 5) + b.bm * mean(t, 30) + 1e-7 * z());
  return rv;
}

describe('fitHar', () => {
  // Tolerances: bd within 0.03, bw and bm within 0.06, bd + bw + bm within 0.03, b0 within 30%.
  it.each([1, 2])('recovers (b0, bd, bw, bm) = (1e-7, 0.4, 0.3, 0.2) from 20,000 simulated periods (seed %i)', (seed) => {
    const rv = simulate(20_000, TRUE, seed);
    expect(Math.min(...rv)).toBeGreaterThan(0);
    const fit = fitHar(rv, 5, 30)!;
    expect(Math.abs(fit.bd - TRUE.bd)).toBeLessThan(0.03);
    expect(Math.abs(fit.bw - TRUE.bw)).toBeLessThan(0.06);
    expect(Math.abs(fit.bm - TRUE.bm)).toBeLessThan(0.06);
    expect(Math.abs(fit.bd + fit.bw + fit.bm - 0.9)).toBeLessThan(0.03);
    expect(Math.abs(fit.b0 / TRUE.b0 - 1)).toBeLessThan(0.3);
  });

  it('returns null when the regressors are collinear (a constant series)', () => {
    expect(fitHar(new Array(200).fill(1e-6), 5, 30)).toBeNull();
  });
});

describe('HarRv', () => {
  it('sums squared log returns per base period, counting a return in the period of its later price, and closes empty periods at 0', () => {
    const m = new HarRv({ basePeriodSec: 60, mediumPeriodSec: 120, longPeriodSec: 180 });
    m.observe(10 * S, 100);
    m.observe(50 * S, 101); // period 0
    m.observe(70 * S, 100); // period 1: the return from 50 s to 70 s
    m.observe(80 * S, 102); // period 1
    m.observe(200 * S, 102); // period 3: closes 1, and 2 empty
    const rv = m.exportState().rv;
    expect(rv).toEqual([Math.log(1.01) ** 2, Math.log(100 / 101) ** 2 + Math.log(1.02) ** 2, 0]);
    expect(m.exportState().period).toBe(3);
    // Before a fit, the forecast is the mean of the last long-horizon periods held.
    expect(m.forecast()).toBe((rv[0] + rv[1] + rv[2]) / 3);
  });

  it('fits first at minRows, then every refitEvery closed periods, and forecasts with the fitted coefficients', () => {
    const m = new HarRv({ window: 200, minRows: 100, refitEvery: 25 });
    const rv = simulate(400, TRUE, 3);
    const refitsAt: number[] = [];
    let last = m.fitted;
    rv.forEach((v, i) => {
      m.observeRealizedVariance(v);
      if (m.fitted !== last) refitsAt.push(i + 1);
      last = m.fitted;
    });
    // 30 periods fill the long average; row count = periods - 30.
    expect(refitsAt).toEqual([130, 155, 180, 205, 230, 255, 280, 305, 330, 355, 380]);
    const c = m.fitted!;
    const n = rv.length;
    const mean = (count: number) => rv.slice(n - count).reduce((s, v) => s + v, 0) / count;
    expect(m.forecast()).toBe(c.b0 + c.bd * rv[n - 1] + c.bw * mean(5) + c.bm * mean(30));
    // The fit is over the last 200 rows only: the same as fitting the last 230 periods.
    expect(c).toEqual(fitHar(rv.slice(0, 380).slice(-230), 5, 30));
  });

  it('continues bit-identically after its state is exported mid-stream, cloned (structuredClone and JSON) and imported', () => {
    const config = { basePeriodSec: 1, mediumPeriodSec: 5, longPeriodSec: 30, window: 300, minRows: 100, refitEvery: 40 };
    const u = mulberry32(12);
    const z = normal(mulberry32(13));
    const path: { timeUs: number; price: number }[] = [];
    let t = 0;
    let p = 100;
    for (let i = 0; i < 3000; i++) {
      t += Math.round(-Math.log(1 - u()) * 0.4 * S);
      p *= Math.exp(1e-4 * z());
      path.push({ timeUs: t, price: p });
    }
    const whole = new HarRv(config);
    const trace = path.map((x) => {
      whole.observe(x.timeUs, x.price);
      return whole.forecast();
    });
    const first = new HarRv(config);
    path.slice(0, 1234).forEach((x) => first.observe(x.timeUs, x.price));
    const state = first.exportState();
    expect(state.coefficients).not.toBeNull();
    for (const copy of [structuredClone(state), JSON.parse(JSON.stringify(state)) as HarState]) {
      const restored = new HarRv(config);
      restored.importState(copy);
      const rest = path.slice(1234).map((x) => {
        restored.observe(x.timeUs, x.price);
        return restored.forecast();
      });
      expect(rest.every((v, i) => Object.is(v, trace[1234 + i]))).toBe(true);
      expect(restored.exportState()).toEqual(whole.exportState());
    }
  });

  it('refuses horizons that are not growing multiples of the base period, and a malformed state', () => {
    expect(() => new HarRv({ mediumPeriodSec: 90 })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidConfig, field: 'har.mediumPeriodSec' }));
    expect(() => new HarRv({ mediumPeriodSec: 60 })).toThrow(expect.objectContaining({ field: 'har.mediumPeriodSec' }));
    expect(() => new HarRv({ longPeriodSec: 300 })).toThrow(expect.objectContaining({ field: 'har.longPeriodSec' }));
    expect(() => new HarRv({ basePeriodSec: 1e-7 })).toThrow(expect.objectContaining({ field: 'har.basePeriodSec' }));
    const m = new HarRv();
    expect(() => m.importState({ rv: [-1], period: null, periodRv: 0, lastPrice: null, lastTimeUs: null, sinceFit: 0, coefficients: null })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidArgument, field: 'state.rv[0]' }),
    );
    expect(() => m.observeRealizedVariance(-1e-9)).toThrow(expect.objectContaining({ field: 'rv' }));
  });
});

describe('HAR-RV forecasts under jumps', () => {
  it('never forecasts above the largest RV its window holds (a jump in the fit falls back to the long average)', () => {
    let checked = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const r = mulberry32(seed);
      const m = new HarRv({ window: 60, minRows: 20, refitEvery: 5 });
      for (let i = 0; i < 200; i++) {
        m.observeRealizedVariance(r() < 0.03 ? 1e-2 * r() : 1e-6 * (0.5 + r()));
        const held = m.exportState().rv;
        expect(m.forecast()!).toBeLessThanOrEqual(Math.max(...held));
        checked++;
      }
    }
    expect(checked).toBe(20_000);
  });
});

