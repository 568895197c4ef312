import { describe, expect, it } from 'vitest';
import { YEAR_US, betaPath, cascadePath, flashCrashPath, gbmPath, mertonPath, type PricePath } from '../src/sim/venue/index.js';
import { codeOf } from './support/errors.js';

const S = 1e6;
const MINUTE = 60 * S;
const DAY = 86_400 * S;

/** Sample mean and variance (n - 1) of the log returns between consecutive grid points. */
function logReturnStats(path: PricePath, stepUs: number, n: number): { mean: number; variance: number } {
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) r[i] = Math.log(path.priceAt((i + 1) * stepUs) / path.priceAt(i * stepUs));
  const mean = r.reduce((a, x) => a + x, 0) / n;
  const variance = r.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  return { mean, variance };
}

describe('geometric Brownian motion', () => {
  // Seeded, so these are fixed numbers; the tolerance says how far a fair draw may land: 4 standard errors
  // (the mean's is sqrt(sigma^2 dt / n), the variance's sigma^2 dt * sqrt(2 / (n - 1))).
  for (const { mu, sigma, stepUs, n } of [
    { mu: 2, sigma: 0.2, stepUs: DAY, n: 100_000 },
    { mu: 0.1, sigma: 0.8, stepUs: 3_600 * S, n: 200_000 },
  ]) {
    it(`has log returns of mean (mu - sigma^2/2) dt and variance sigma^2 dt (mu ${mu}, sigma ${sigma})`, () => {
      const dt = stepUs / YEAR_US;
      const { mean, variance } = logReturnStats(gbmPath({ seed: 7, startPrice: 100, mu, sigma, stepUs }), stepUs, n);
      const expectedMean = (mu - (sigma * sigma) / 2) * dt;
      const expectedVariance = sigma * sigma * dt;
      expect(Math.abs(mean - expectedMean)).toBeLessThan(4 * Math.sqrt(expectedVariance / n));
      expect(Math.abs(variance - expectedVariance)).toBeLessThan(4 * expectedVariance * Math.sqrt(2 / (n - 1)));
    });
  }

  it('is the same path for the same seed whatever order it is read in, and another for another seed', () => {
    const params = { startPrice: 100, mu: 0.1, sigma: 0.8, stepUs: S };
    const a = gbmPath({ seed: 1, ...params });
    const b = gbmPath({ seed: 1, ...params });
    const late = b.priceAt(5_000.5 * S); // b draws its grid far ahead first
    const times = [0, 0.25 * S, S, 17 * S, 4_999 * S, 5_000.5 * S];
    expect(times.map((t) => b.priceAt(t))).toEqual(times.map((t) => a.priceAt(t)));
    expect(a.priceAt(5_000.5 * S)).toBe(late);
    expect(gbmPath({ seed: 2, ...params }).priceAt(17 * S)).not.toBe(a.priceAt(17 * S));
    expect(a.priceAt(0)).toBe(100);
    expect(a.priceAt(-5)).toBe(100);
  });

  it('interpolates linearly between grid points', () => {
    const p = gbmPath({ seed: 3, startPrice: 100, mu: 0, sigma: 1, stepUs: S });
    expect(p.priceAt(2.25 * S)).toBeCloseTo(p.priceAt(2 * S) + 0.25 * (p.priceAt(3 * S) - p.priceAt(2 * S)), 12);
  });

  it('refuses bad params naming the field', () => {
    expect(codeOf(() => gbmPath({ seed: 1, startPrice: 0, mu: 0, sigma: 1 }))).toBe('INVALID_CONFIG');
    expect(() => gbmPath({ seed: 1, startPrice: 1, mu: 0, sigma: -1 })).toThrow(/gbm\.sigma/);
    expect(codeOf(() => gbmPath({ seed: 1, startPrice: 1, mu: 0, sigma: 1, stepUs: 0.5 }))).toBe('INVALID_CONFIG');
  });
});

describe('Merton jump diffusion', () => {
  it('has the mean and variance of a compensated diffusion plus compound Poisson jumps', () => {
    const p = { seed: 11, startPrice: 100, mu: 0.05, sigma: 0.5, lambda: 50, jumpMean: -0.05, jumpStd: 0.03, stepUs: DAY };
    const n = 200_000;
    const dt = DAY / YEAR_US;
    const { mean, variance } = logReturnStats(mertonPath(p), DAY, n);
    const kappa = Math.exp(p.jumpMean + p.jumpStd ** 2 / 2) - 1;
    const expectedMean = (p.mu - p.sigma ** 2 / 2 - p.lambda * kappa) * dt + p.lambda * dt * p.jumpMean;
    const expectedVariance = p.sigma ** 2 * dt + p.lambda * dt * (p.jumpMean ** 2 + p.jumpStd ** 2);
    // Mean: 4 standard errors. Variance: 5% (jumps fatten the tails, so its standard error is above the normal one).
    expect(Math.abs(mean - expectedMean)).toBeLessThan(4 * Math.sqrt(expectedVariance / n));
    expect(Math.abs(variance / expectedVariance - 1)).toBeLessThan(0.05);
  });

  it('is plain GBM without jumps', () => {
    const base = { seed: 5, startPrice: 100, mu: 0.3, sigma: 0.6, stepUs: S };
    const gbm = gbmPath(base);
    const merton = mertonPath({ ...base, lambda: 0, jumpMean: -0.1, jumpStd: 0.05 });
    for (const t of [S, 100 * S, 10_000 * S]) expect(merton.priceAt(t)).toBe(gbm.priceAt(t));
  });
});

/** The largest relative fall from any grid time t to t + window, sampled every `stepUs`. */
function largestFall(path: PricePath, window: number, horizon: number, stepUs: number): number {
  let worst = 0;
  for (let t = 0; t + window <= horizon; t += stepUs) worst = Math.max(worst, 1 - path.priceAt(t + window) / path.priceAt(t));
  return worst;
}

describe('the 2025-10-10 cascade', () => {
  const HORIZON = 4 * 60 * MINUTE;

  for (const seed of [1, 2, 3]) {
    it(`falls more than 15% within an hour, most of its fall inside 40 minutes (seed ${seed})`, () => {
      const path = cascadePath({ seed, startPrice: 100 });
      let low = Infinity;
      for (let t = 0; t <= HORIZON; t += 10 * S) low = Math.min(low, path.priceAt(t));
      const totalFall = 1 - low / 100;
      const hour = largestFall(path, 60 * MINUTE, HORIZON, 10 * S);
      const forty = largestFall(path, 40 * MINUTE, HORIZON, 10 * S);
      expect(hour).toBeGreaterThan(0.15);
      expect(forty / totalFall).toBeGreaterThan(0.5);
      // Seed 1: 21.7% from start to low, 20.0% in its worst hour, 17.9% (82% of the fall) in its worst 40 minutes.
      expect(totalFall).toBeGreaterThan(0.19);
    });
  }

  it('dries liquidity up to minLiquidity at the peak, 25 minutes into the cascade, and restores it after', () => {
    const path = cascadePath({ seed: 1, startPrice: 100 });
    const cascadeStart = 20 * MINUTE;
    expect(path.liquidityAt(0)).toBe(1);
    expect(path.liquidityAt(cascadeStart)).toBeCloseTo(0.7, 12);
    expect(path.liquidityAt(cascadeStart + 25 * MINUTE)).toBeCloseTo(0.08, 12);
    for (let m = 0; m <= 40; m++) expect(path.liquidityAt(cascadeStart + m * MINUTE)).toBeGreaterThanOrEqual(0.08 - 1e-12);
    expect(path.liquidityAt(cascadeStart + 40 * MINUTE + 15 * MINUTE)).toBeCloseTo(0.85, 12);
    expect(path.liquidityAt(6 * 60 * MINUTE)).toBeGreaterThan(0.99);
  });

  it('rebounds part of the way after the low', () => {
    const path = cascadePath({ seed: 1, startPrice: 100, sigma: 0 });
    expect(path.priceAt(90 * MINUTE)).toBeCloseTo(78, 9);
    expect(path.priceAt(3 * 60 * MINUTE)).toBeCloseTo(100 * 0.78 ** 0.7, 9);
  });

  it('refuses shares that add up past the whole fall', () => {
    expect(codeOf(() => cascadePath({ seed: 1, startPrice: 100, leadInShare: 0.5, cascadeShare: 0.6 }))).toBe('INVALID_CONFIG');
  });
});

describe('the flash crash', () => {
  for (const seed of [1, 2, 3]) {
    it(`falls about 10% in a minute and is back within 1% of its start within minutes (seed ${seed})`, () => {
      const path = flashCrashPath({ seed, startPrice: 100 });
      let low = Infinity;
      let lowAt = 0;
      for (let t = 0; t <= 10 * MINUTE; t += S) {
        if (path.priceAt(t) < low) [low, lowAt] = [path.priceAt(t), t];
      }
      expect(low).toBeLessThan(91);
      expect(lowAt).toBeLessThanOrEqual(3 * MINUTE);
      const recoveredAt = Array.from({ length: 600 }, (_, i) => lowAt + i * S).find((t) => Math.abs(path.priceAt(t) / 100 - 1) < 0.01)!;
      expect(recoveredAt - lowAt).toBeLessThan(5 * MINUTE);
      expect(path.liquidityAt(lowAt)).toBeLessThan(0.1);
      expect(path.liquidityAt(10 * MINUTE)).toBe(1);
    });
  }
});

describe('a beta path', () => {
  it('moves beta times the log return of its base', () => {
    const base = gbmPath({ seed: 9, startPrice: 60_000, mu: 0, sigma: 1 });
    const alt = betaPath(base, { beta: 1.5, startPrice: 150 });
    for (const t of [0, 30 * S, 3_600 * S]) {
      expect(Math.log(alt.priceAt(t) / 150)).toBeCloseTo(1.5 * Math.log(base.priceAt(t) / 60_000), 12);
      expect(alt.liquidityAt(t)).toBe(base.liquidityAt(t));
    }
  });
});
