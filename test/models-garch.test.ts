import { describe, expect, it } from 'vitest';
import { ErrorCode, UnwindError } from '../src/errors.js';
import { GarchVolatility, fitGarch, garchFilter, garchLogLikelihood, type GarchParams, type GarchState } from '../src/models/index.js';
import { mulberry32, normal } from '../src/sim/random.js';

const TRUE: GarchParams = { omega: 1e-6, alpha: 0.08, beta: 0.9 };

/** `n` GARCH(1,1) returns with Gaussian shocks from `seed`, after a burn-in of 500 from the unconditional variance. */
function simulate(n: number, p: GarchParams, seed: number): number[] {
  const z = normal(mulberry32(seed));
  let s2 = p.omega / (1 - p.alpha - p.beta);
  const out: number[] = [];
  for (let i = 0; i < n + 500; i++) {
    const r = Math.sqrt(s2) * z();
    if (i >= 500) out.push(r);
    s2 = p.omega + p.alpha * r * r + p.beta * s2;
  }
  return out;
}

describe('fitGarch', () => {
  // Tolerances: alpha within 0.03, beta within 0.05, alpha + beta within 0.03, omega within a factor of 2 (with
  // alpha + beta near 1, omega is the loosest parameter). Seeds 1 to 10 land with alpha within 0.015, beta within
  // 0.014, alpha + beta within 0.005 and omega within 27%.
  it.each([1, 2, 3])('recovers (omega, alpha, beta) = (1e-6, 0.08, 0.9) from 5,000 simulated returns (seed %i)', (seed) => {
    const returns = simulate(5000, TRUE, seed);
    const fit = fitGarch(returns)!;
    expect(fit.converged).toBe(true);
    expect(Math.abs(fit.alpha - TRUE.alpha)).toBeLessThan(0.03);
    expect(Math.abs(fit.beta - TRUE.beta)).toBeLessThan(0.05);
    expect(Math.abs(fit.alpha + fit.beta - (TRUE.alpha + TRUE.beta))).toBeLessThan(0.03);
    expect(fit.omega / TRUE.omega).toBeGreaterThan(0.5);
    expect(fit.omega / TRUE.omega).toBeLessThan(2);
    // A maximum: no lower than the likelihood at the true parameters, or at the start.
    expect(fit.logLikelihood).toBeGreaterThanOrEqual(garchLogLikelihood(TRUE, returns));
    expect(fit.logLikelihood).toBeCloseTo(garchLogLikelihood(fit, returns), 6);
  });

  it('recovers alpha and beta with variance targeting too, with omega tied to the sample variance', () => {
    const returns = simulate(5000, TRUE, 1);
    const fit = fitGarch(returns, { varianceTargeting: true })!;
    expect(Math.abs(fit.alpha - TRUE.alpha)).toBeLessThan(0.03);
    expect(Math.abs(fit.beta - TRUE.beta)).toBeLessThan(0.05);
    const m2 = returns.reduce((s, r) => s + r * r, 0) / returns.length;
    expect(fit.omega / (1 - fit.alpha - fit.beta) / m2).toBeCloseTo(1, 12);
  });

  it('gives the same bits on two runs over the same returns', () => {
    const returns = simulate(5000, TRUE, 4);
    const [a, b] = [fitGarch(returns)!, fitGarch(returns.slice())!];
    for (const k of ['omega', 'alpha', 'beta', 'logLikelihood', 'evaluations'] as const) expect(Object.is(a[k], b[k])).toBe(true);
  });

  it('keeps every fitted point inside the constraints: omega > 0, alpha, beta >= 0, alpha + beta < 1', () => {
    // White noise: the likelihood pushes alpha to 0 and beta is unidentified; the fit must still be a valid model.
    const z = normal(mulberry32(21));
    const fit = fitGarch(Array.from({ length: 2000 }, () => 0.01 * z()))!;
    expect(fit.omega).toBeGreaterThan(0);
    expect(fit.alpha).toBeGreaterThanOrEqual(0);
    expect(fit.beta).toBeGreaterThanOrEqual(0);
    expect(fit.alpha + fit.beta).toBeLessThan(1);
    expect(fit.alpha).toBeLessThan(0.03);
  });

  it('returns null for too few returns or a window of zeros', () => {
    expect(fitGarch([0.01, -0.01])).toBeNull();
    expect(fitGarch(new Array(100).fill(0))).toBeNull();
  });
});

describe('GarchVolatility', () => {
  it('fits first at minReturns, then refits every refitEvery returns and at no other time', () => {
    const m = new GarchVolatility({ window: 400, minReturns: 250, refitEvery: 50 });
    const returns = simulate(600, TRUE, 5);
    const refitsAt: number[] = [];
    let last = m.fitted;
    returns.forEach((r, i) => {
      m.observe(r);
      if (m.fitted !== last) refitsAt.push(i + 1);
      last = m.fitted;
    });
    expect(refitsAt).toEqual([250, 300, 350, 400, 450, 500, 550, 600]);
    expect(m.returns).toBe(400);
  });

  it('filters between fits: the next variance is omega + alpha r^2 + beta s2', () => {
    const m = new GarchVolatility({ window: 500, minReturns: 300, refitEvery: 1000 });
    const returns = simulate(320, TRUE, 6);
    returns.slice(0, 319).forEach((r) => m.observe(r));
    const p = m.fitted!;
    const before = m.nextVariance()!;
    m.observe(returns[319]);
    expect(m.nextVariance()).toBe(p.omega + p.alpha * returns[319] ** 2 + p.beta * before);
    // The same number from scratch: the fit's filter over the window it was fitted on (returns 1..300), then 20 steps.
    let s2 = garchFilter(p, returns.slice(0, 300));
    for (const r of returns.slice(300)) s2 = p.omega + p.alpha * r * r + p.beta * s2;
    expect(m.nextVariance()).toBe(s2);
  });

  it('forecasts the variance of a sum of returns, mean-reverting to omega / (1 - alpha - beta)', () => {
    const m = new GarchVolatility({ window: 1000, minReturns: 1000 });
    simulate(1000, TRUE, 7).forEach((r) => m.observe(r));
    const p = m.fitted!;
    const next = m.nextVariance()!;
    expect(m.forecastVariance(1)).toBeCloseTo(next, 18);
    const bar = p.omega / (1 - p.alpha - p.beta);
    let sum = 0;
    for (let h = 1; h <= 30; h++) sum += bar + Math.pow(p.alpha + p.beta, h - 1) * (next - bar);
    expect(m.forecastVariance(30)! / sum).toBeCloseTo(1, 12);
    expect(m.forecastVariance(1e6)! / (1e6 * bar)).toBeCloseTo(1, 3);
  });

  it('falls back to the mean square before its first fit and has no forecast with no return', () => {
    const m = new GarchVolatility();
    expect(m.nextVariance()).toBeUndefined();
    m.observe(0.01);
    m.observe(-0.03);
    expect(m.fitted).toBeNull();
    expect(m.nextVariance()).toBeCloseTo(5e-4, 18);
    expect(m.forecastVariance(10)).toBeCloseTo(5e-3, 17);
  });

  it('continues bit-identically after its state is exported mid-stream, cloned (structuredClone and JSON) and imported', () => {
    const config = { window: 500, minReturns: 250, refitEvery: 100 };
    const returns = simulate(1500, TRUE, 8);
    const whole = new GarchVolatility(config);
    const trace = returns.map((r) => {
      whole.observe(r);
      return whole.nextVariance();
    });
    const first = new GarchVolatility(config);
    returns.slice(0, 777).forEach((r) => first.observe(r));
    const state = first.exportState();
    for (const copy of [structuredClone(state), JSON.parse(JSON.stringify(state)) as GarchState]) {
      const restored = new GarchVolatility(config);
      restored.importState(copy);
      const rest = returns.slice(777).map((r) => {
        restored.observe(r);
        return restored.nextVariance();
      });
      expect(rest.every((v, i) => Object.is(v, trace[777 + i]))).toBe(true);
      expect(restored.exportState()).toEqual(whole.exportState());
    }
  });

  it('refuses a non-finite return, a bad config and a state outside the constraints', () => {
    const m = new GarchVolatility();
    expect(() => m.observe(NaN)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
    expect(() => new GarchVolatility({ window: 100, minReturns: 200 })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidConfig, field: 'garch.minReturns' }));
    expect(() => m.importState({ returns: [0.01], sinceFit: 0, params: { omega: 1e-6, alpha: 0.5, beta: 0.5 }, variance: 1e-4 })).toThrow(UnwindError);
    expect(() => m.importState({ returns: [0.01], sinceFit: 0, params: null, variance: 1e-4 })).toThrow(expect.objectContaining({ field: 'state' }));
  });
});
