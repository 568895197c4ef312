/**
 * The backtest's models table (src/sim/model-eval.ts): volatility forecasts scored against what followed, with a
 * perfect forecast at QLIKE 0 and the naive baseline above it; the impact model fitted to our own fills recovers the
 * venue's configured gamma; the same seed gives the same numbers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runBacktest, type BacktestReport } from '../src/sim/backtest.js';
import { HORIZON_EPOCHS, ORIGIN_EVERY_EPOCHS, scoreVolatility, VOLATILITY_MODELS, volatilityForecasts, WARM_UP_EPOCHS } from '../src/sim/model-eval.js';
import { mulberry32, normal } from '../src/sim/random.js';
import { bookParamsFor } from '../src/sim/venue/index.js';
import { MARKETS } from '../src/sim/world.js';

const SECOND = 1_000_000;

/** A seeded random walk of the log price: `perEpochBps` standard deviation a step, `epochs` + 1 prices. */
function randomWalk(seed: number, epochs: number, perEpochBps: number): number[] {
  const gauss = normal(mulberry32(seed));
  const mids = [60_000];
  for (let k = 1; k <= epochs; k++) mids.push(mids[k - 1]! * Math.exp(perEpochBps * 1e-4 * gauss()));
  return mids;
}

describe('volatility forecasts', () => {
  it('are made every 5 epochs from the warm-up on, while a whole horizon is left', () => {
    const f = volatilityForecasts(randomWalk(1, 600, 5), SECOND);
    // Prices at epochs 0..600: origins 120, 125, ..., 540, the last whose 60 returns end by epoch 600.
    const origins = Math.floor((600 - HORIZON_EPOCHS - WARM_UP_EPOCHS) / ORIGIN_EVERY_EPOCHS) + 1;
    expect(f.realized.length).toBe(origins);
    expect(f.skipped).toBe(0);
    for (const m of VOLATILITY_MODELS) expect(f.forecasts[m].length, m).toBe(origins);
  });

  it('of a constant-volatility walk are near its true variance over the horizon (naive, GARCH, HAR)', () => {
    // 5 bps an epoch: 60 x 25 = 1,500 bps^2 over the horizon. The EWMA is left out: on a path this short its
    // forecast still leans on the first return it saw (a memory of about 17 minutes).
    const scored = scoreVolatility([volatilityForecasts(randomWalk(7, 1_320, 5), SECOND)])!;
    expect(scored.meanRealized).toBeGreaterThan(1_500 * 0.85);
    expect(scored.meanRealized).toBeLessThan(1_500 * 1.15);
    for (const s of scored.scores.filter((x) => x.model !== 'ewma')) {
      expect(s.meanForecast / 1_500, s.model).toBeGreaterThan(0.8);
      expect(s.meanForecast / 1_500, s.model).toBeLessThan(1.2);
    }
  });

  it('score a perfect forecast at QLIKE 0 and MSE 0, and the naive baseline above both', () => {
    const f = volatilityForecasts(randomWalk(3, 900, 5), SECOND);
    const perfect = scoreVolatility([{ ...f, forecasts: { ...f.forecasts, garch: [...f.realized] } }])!;
    const garch = perfect.scores.find((s) => s.model === 'garch')!;
    expect(garch.qlike).toBe(0);
    expect(garch.mse).toBe(0);
    const naive = perfect.scores.find((s) => s.model === 'naive')!;
    expect(naive.qlike).toBeGreaterThan(0);
    expect(naive.mse).toBeGreaterThan(0);
  });
});

describe('the backtest models table', () => {
  const options = { scenarios: ['flash-crash'], strategies: ['ioc'] as const, seeds: 1, accounts: 300 };
  let report: BacktestReport;
  beforeAll(async () => {
    report = (await runBacktest(options)).report;
  });

  it('is deterministic: the same seed gives the same figures', async () => {
    const again = (await runBacktest(options)).report;
    expect(JSON.stringify(again.models)).toBe(JSON.stringify(report.models));
    const other = (await runBacktest({ ...options, firstSeed: 9 })).report;
    expect(JSON.stringify(other.models)).not.toBe(JSON.stringify(report.models));
  });

  it('scores every volatility model on the same forecasts, the naive baseline with a QLIKE above 0', () => {
    const sc = report.models.scenarios[0]!;
    expect(sc.volatility.map((s) => s.model)).toEqual([...VOLATILITY_MODELS]);
    const n = sc.volatility[0]!.forecasts;
    expect(n).toBeGreaterThan(40);
    for (const s of sc.volatility) {
      expect(s.forecasts, s.model).toBe(n);
      expect(Number.isFinite(s.mse) && Number.isFinite(s.qlike), s.model).toBe(true);
    }
    expect(sc.volatility.find((s) => s.model === 'naive')!.qlike).toBeGreaterThan(0);
  });

  it("fitted to our fills, recovers the venue's gamma in every market within 1%", () => {
    const impact = report.models.scenarios[0]!.impact;
    expect(impact.map((m) => m.symbol)).toEqual(MARKETS.map((m) => m.symbol));
    for (const m of impact) {
      expect(m.venueGamma, m.symbol).toBe(bookParamsFor(MARKETS[m.market]!.price).gamma);
      expect(m.fills, m.symbol).toBeGreaterThanOrEqual(10);
      // One fill is a market's orders of one epoch, which execute together.
      expect(m.childFills, m.symbol).toBeGreaterThanOrEqual(m.fills);
      expect(Math.abs(m.gamma! / m.venueGamma - 1), m.symbol).toBeLessThan(0.01);
      expect(m.sqrtLawFills, m.symbol).toBeGreaterThan(0);
      expect(Number.isFinite(m.eta!) && Number.isFinite(m.delta!), m.symbol).toBe(true);
    }
  });
});
