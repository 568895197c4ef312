import { describe, expect, it } from 'vitest';
import { ErrorCode, UnwindError } from '../src/errors.js';
import { EwmaVolatility, type EwmaState } from '../src/models/index.js';
import { mulberry32, normal } from '../src/sim/random.js';

const S = 1e6;

/** Prices of a driftless log random walk with `sigmaPerSec`, at exponential inter-arrival times of mean `meanGapSec`. */
function randomWalk(seed: number, n: number, sigmaPerSec: number, meanGapSec: number): { timeUs: number; price: number }[] {
  const u = mulberry32(seed);
  const z = normal(mulberry32(seed + 1000));
  const out = [{ timeUs: 1_700_000_000 * S, price: 100 }];
  for (let i = 1; i < n; i++) {
    const gapUs = Math.max(1, Math.round(-Math.log(1 - u()) * meanGapSec * S));
    const dt = gapUs / S;
    const prev = out[i - 1];
    out.push({ timeUs: prev.timeUs + gapUs, price: prev.price * Math.exp(sigmaPerSec * Math.sqrt(dt) * z()) });
  }
  return out;
}

describe('EwmaVolatility', () => {
  it('is RiskMetrics exactly when prices arrive once per interval (per-interval variance = per-second variance * interval)', () => {
    const m = new EwmaVolatility({ lambda: 0.94, intervalSec: 60 });
    const prices = [100, 101, 100.5, 102, 101.2, 101.9];
    prices.forEach((p, i) => m.observe(i * 60 * S, p));
    let s2 = Math.log(prices[1] / prices[0]) ** 2;
    for (let i = 2; i < prices.length; i++) s2 = 0.94 * s2 + 0.06 * Math.log(prices[i] / prices[i - 1]) ** 2;
    expect(m.forecastVariance(60)! / s2).toBeCloseTo(1, 12);
    expect(m.returns).toBe(5);
  });

  it('scales each return to a per-second variance and decays by elapsed time (lambda^(dt / intervalSec))', () => {
    const m = new EwmaVolatility({ lambda: 0.9, intervalSec: 10 });
    m.observe(0, 100);
    m.observe(30 * S, 101); // 30 s: seeds v with r^2 / 30
    m.observe(35 * S, 100.5); // 5 s: decay 0.9^0.5
    const v1 = Math.log(1.01) ** 2 / 30;
    const d = Math.pow(0.9, 0.5);
    const v2 = d * v1 + (1 - d) * (Math.log(100.5 / 101) ** 2 / 5);
    expect(m.variancePerSecond()).toBe(v2);
    expect(m.forecastVariance(120)).toBe(v2 * 120);
    expect(m.volatility(120)).toBe(Math.sqrt(v2 * 120));
  });

  it('estimates the per-second variance of a random walk observed at irregular times', () => {
    const sigma = 2e-4;
    const m = new EwmaVolatility();
    const path = randomWalk(11, 40_000, sigma, 2);
    let sum = 0;
    let n = 0;
    path.forEach((p, i) => {
      m.observe(p.timeUs, p.price);
      if (i >= 5000 && i % 100 === 0) {
        sum += m.variancePerSecond()!;
        n++;
      }
    });
    // The average estimate over the run, and the last one, against sigma^2 = 4e-8 per second.
    expect(sum / n / (sigma * sigma)).toBeGreaterThan(0.97);
    expect(sum / n / (sigma * sigma)).toBeLessThan(1.03);
    expect(Math.abs(m.variancePerSecond()! / (sigma * sigma) - 1)).toBeLessThan(0.2);
  });

  it('has no forecast before its first return, and lets a price at the same time replace the last one', () => {
    const m = new EwmaVolatility();
    expect(m.forecastVariance(60)).toBeUndefined();
    m.observe(5 * S, 100);
    m.observe(5 * S, 200);
    expect(m.variancePerSecond()).toBeUndefined();
    m.observe(6 * S, 202);
    expect(m.variancePerSecond()).toBe(Math.log(202 / 200) ** 2);
  });

  it('refuses a price at an earlier time, a bad price, and a bad config, naming the field', () => {
    const m = new EwmaVolatility();
    m.observe(10 * S, 100);
    expect(() => m.observe(9 * S, 100)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument, field: 'timeUs' }));
    expect(() => m.observe(11 * S, 0)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidPrice, field: 'price' }));
    expect(() => new EwmaVolatility({ lambda: 1 })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidConfig, field: 'ewma.lambda' }));
    expect(() => new EwmaVolatility({ intervalSec: 0 })).toThrow(expect.objectContaining({ field: 'ewma.intervalSec' }));
  });

  it('continues bit-identically after its state is exported mid-stream, cloned (structuredClone and JSON) and imported', () => {
    const path = randomWalk(3, 2000, 3e-4, 1);
    const whole = new EwmaVolatility();
    const first = new EwmaVolatility();
    const wholeTrace = path.map((p) => {
      whole.observe(p.timeUs, p.price);
      return whole.variancePerSecond();
    });
    path.slice(0, 777).forEach((p) => first.observe(p.timeUs, p.price));
    const state = first.exportState();
    for (const copy of [structuredClone(state), JSON.parse(JSON.stringify(state)) as EwmaState]) {
      const restored = new EwmaVolatility();
      restored.importState(copy);
      const trace = path.slice(777).map((p) => {
        restored.observe(p.timeUs, p.price);
        return restored.variancePerSecond();
      });
      expect(trace.every((v, i) => Object.is(v, wholeTrace[777 + i]))).toBe(true);
      expect(restored.exportState()).toEqual(whole.exportState());
    }
  });

  it('refuses a malformed state whole', () => {
    const m = new EwmaVolatility();
    expect(() => m.importState({ lastTimeUs: 1, lastPrice: null, variancePerSec: null, returns: 0 })).toThrow(UnwindError);
    expect(() => m.importState({ lastTimeUs: 1, lastPrice: 5, variancePerSec: NaN, returns: 1 })).toThrow(expect.objectContaining({ field: 'state.variancePerSec' }));
    expect(m.exportState()).toEqual({ lastTimeUs: null, lastPrice: null, variancePerSec: null, returns: 0 });
  });
});
