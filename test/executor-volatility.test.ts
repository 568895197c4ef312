/**
 * The executor's volatility estimate chosen by config (src/executor/forecasts.ts): EWMA, GARCH(1,1) on the mark
 * sampled on an event-time clock, or HAR-RV; the EWMA standing in until the chosen model's first fit; refits on the
 * stated schedule; the state through snapshots (older EWMA-only ones included); the same order stream for 0, 1 and 2
 * scan workers, after a restart from a snapshot and in replay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import { strategyWorld } from './support/strategy-world.js';
import { Engine, ErrorCode, type EngineConfig, type LiquidationOrder } from '../src/index.js';
import { almgrenChrissHoldings } from '../src/domain/schedules.js';
import { replayJournal } from '../src/engine/replay.js';
import { VolatilityForecasts } from '../src/executor/forecasts.js';
import { EwmaVolatility } from '../src/models/ewma.js';
import { GarchVolatility } from '../src/models/garch.js';
import { HarRv } from '../src/models/har.js';
import { mulberry32, normal } from '../src/sim/random.js';
import type { VolatilityConfig } from '../src/config-types.js';

const SECOND = 1_000_000;
const T0 = 1_767_225_600 * SECOND;
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * A GARCH(1,1) path on a clock of `intervalSec`: marks at T0 + k * interval, and the true conditional variance of
 * the return that follows each mark (per interval).
 */
function garchPath(seed: number, n: number, intervalSec: number, p = { omega: 2e-8, alpha: 0.1, beta: 0.88 }): { timeUs: number; price: number; nextVariance: number }[] {
  const z = normal(mulberry32(seed));
  let s2 = p.omega / (1 - p.alpha - p.beta);
  let price = 100;
  const out = [];
  for (let k = 0; k < n; k++) {
    if (k > 0) {
      const r = Math.sqrt(s2) * z();
      price *= Math.exp(r);
      s2 = p.omega + p.alpha * r * r + p.beta * s2;
    }
    out.push({ timeUs: T0 + k * intervalSec * SECOND, price, nextVariance: s2 });
  }
  return out;
}

/** The last mark at or before each multiple of `intervalUs` from the first mark's on (the previous-tick sampling). */
function previousTick(marks: readonly { timeUs: number; price: number }[], intervalUs: number): number[] {
  const out: number[] = [];
  let i = 0;
  for (let g = Math.ceil(marks[0]!.timeUs / intervalUs) * intervalUs; g <= marks[marks.length - 1]!.timeUs; g += intervalUs) {
    while (i + 1 < marks.length && marks[i + 1]!.timeUs <= g) i++;
    out.push(marks[i]!.price);
  }
  return out;
}

describe('the volatility model, chosen by config', () => {
  it('GARCH on a seeded GARCH path comes closer to the true conditional variance than the EWMA', () => {
    const intervalSec = 10;
    const garch = new VolatilityForecasts({ model: 'garch', intervalSec, garch: { window: 500, minReturns: 300, refitEvery: 50 } });
    const ewma = new VolatilityForecasts({ model: 'ewma' });
    // Squared log error against the truth, per second, summed over five seeded paths (one market each).
    const errors = { garch: 0, ewma: 0 };
    for (const seed of [1, 2, 3, 4, 5]) {
      const path = garchPath(seed, 1_500, intervalSec);
      for (const [k, x] of path.entries()) {
        garch.observe(seed, x.timeUs, x.price);
        ewma.observe(seed, x.timeUs, x.price);
        if (k < 600) continue;
        const truth = x.nextVariance / intervalSec;
        errors.garch += Math.log(garch.variancePerSecond(seed)! / truth) ** 2;
        errors.ewma += Math.log(ewma.variancePerSecond(seed)! / truth) ** 2;
      }
      expect(garch.source(seed)).toBe('garch');
      expect(ewma.source(seed)).toBe('ewma');
      expect(garch.variancePerSecond(seed)).not.toBe(ewma.variancePerSecond(seed));
    }
    // The fit sees the clustering the EWMA's fixed decay smooths over: well under half its error (about 0.36 of it
    // here; on one of the five paths a refit lands on beta near 0 and does worse than the EWMA).
    expect(errors.garch).toBeLessThan(0.5 * errors.ewma);
  });

  it('GARCH takes the last mark at or before each tick of its clock, from marks at irregular event times', () => {
    const rand = mulberry32(5);
    const marks: { timeUs: number; price: number }[] = [];
    let timeUs = T0 + 1_234_567;
    let price = 100;
    for (let i = 0; i < 400; i++) {
      marks.push({ timeUs, price });
      timeUs += 1 + Math.floor(rand() * 25 * SECOND); // some intervals get no mark, others several
      price *= Math.exp(0.002 * (rand() - 0.5));
    }
    const config = { window: 200, minReturns: 50, refitEvery: 20 };
    const forecasts = new VolatilityForecasts({ model: 'garch', intervalSec: 10, garch: config });
    for (const x of marks) forecasts.observe(0, x.timeUs, x.price);
    const samples = previousTick(marks, 10 * SECOND);
    const reference = new GarchVolatility(config);
    for (let k = 1; k < samples.length; k++) reference.observe(Math.log(samples[k]! / samples[k - 1]!));
    expect(samples.length).toBeGreaterThan(config.window); // the window rolled
    expect(forecasts.returns(0)).toBe(reference.returns);
    expect(forecasts.fitted(0)).toEqual(reference.fitted);
    expect(forecasts.variancePerSecond(0)).toBe(reference.nextVariance()! / 10);
  });

  it('GARCH and HAR fall back to the EWMA kept alongside until their first fit, then give their own forecast', () => {
    const path = garchPath(9, 200, 10);
    const garch = new VolatilityForecasts({ model: 'garch', intervalSec: 10, garch: { window: 100, minReturns: 80, refitEvery: 10 } });
    const harConfig = { basePeriodSec: 10, mediumPeriodSec: 30, longPeriodSec: 60, window: 200, minRows: 40, refitEvery: 10 };
    const har = new VolatilityForecasts({ model: 'har', har: harConfig });
    const ewma = new EwmaVolatility();
    const harReference = new HarRv(harConfig);
    expect(garch.variancePerSecond(0)).toBeUndefined();
    for (const [k, x] of path.entries()) {
      garch.observe(0, x.timeUs, x.price);
      har.observe(0, x.timeUs, x.price);
      ewma.observe(x.timeUs, x.price);
      harReference.observe(x.timeUs, x.price);
      if (k === 0) {
        expect(garch.variancePerSecond(0)).toBeUndefined(); // no return yet, not even the EWMA's
        continue;
      }
      if (garch.fitted(0) === null) {
        expect(garch.source(0)).toBe('ewma');
        expect(garch.variancePerSecond(0)).toBe(ewma.variancePerSecond());
      } else {
        expect(garch.source(0)).toBe('garch');
      }
      if (harReference.fitted === null) {
        expect(har.variancePerSecond(0)).toBe(ewma.variancePerSecond());
      } else {
        expect(har.source(0)).toBe('har');
        expect(har.variancePerSecond(0)).toBe(harReference.forecast()! / 10);
      }
    }
    // Both fitted within the path: their estimates are their own.
    expect(garch.fitted(0)).not.toBeNull();
    expect(har.fitted(0)).not.toBeNull();
    expect(garch.variancePerSecond(0)).not.toBe(ewma.variancePerSecond());
  });

  it('refits GARCH first at minReturns returns, then every refitEvery returns; HAR at minRows rows, then every refitEvery periods', () => {
    const path = garchPath(4, 260, 10);
    const garch = new VolatilityForecasts({ model: 'garch', intervalSec: 10, garch: { window: 120, minReturns: 60, refitEvery: 25 } });
    // Base 10 s, long 60 s: 6 periods before the first row.
    const har = new VolatilityForecasts({ model: 'har', har: { basePeriodSec: 10, mediumPeriodSec: 30, longPeriodSec: 60, window: 300, minRows: 30, refitEvery: 40 } });
    const fits = { garch: [] as number[], har: [] as number[] };
    for (const [k, x] of path.entries()) {
      const before = { garch: garch.fitted(0), har: har.fitted(0) };
      garch.observe(0, x.timeUs, x.price);
      har.observe(0, x.timeUs, x.price);
      // One mark on each tick of the clock: after mark k, k returns taken and k base periods closed.
      expect(garch.returns(0)).toBe(Math.min(k, 120)); // the window holds the last 120
      expect(har.returns(0)).toBe(k);
      // A fit replaces the parameters' object: record the count at which it happened.
      if (garch.fitted(0) !== before.garch) fits.garch.push(k);
      if (har.fitted(0) !== before.har) fits.har.push(k);
    }
    expect(fits.garch).toEqual([60, 85, 110, 135, 160, 185, 210, 235]);
    // 30 rows after the 6 periods the long average needs, then every 40 periods.
    expect(fits.har).toEqual([36, 76, 116, 156, 196, 236]);
  });

  it('takes a long gap of event time as zero returns, at most a window of them', () => {
    const forecasts = new VolatilityForecasts({ model: 'garch', intervalSec: 1, garch: { window: 20, minReturns: 10, refitEvery: 5 } });
    forecasts.observe(0, T0, 100);
    forecasts.observe(0, T0 + 1 * SECOND, 101);
    forecasts.observe(0, T0 + 365 * 86_400 * SECOND, 102); // a year later: 3e7 ticks of the clock, not taken one by one
    expect(forecasts.returns(0)).toBe(20);
    expect(forecasts.variancePerSecond(0)).toBeGreaterThan(0);
  });

  it('refuses an earlier event time or a bad price, and changes nothing', () => {
    const forecasts = new VolatilityForecasts({ model: 'garch', intervalSec: 1, garch: { window: 20, minReturns: 10, refitEvery: 5 } });
    forecasts.observe(0, T0, 100);
    forecasts.observe(0, T0 + SECOND, 101);
    const before = serialize(forecasts.exportState());
    expect(() => forecasts.observe(0, T0, 100)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument, field: 'timeUs' }));
    expect(() => forecasts.observe(0, T0 + 2 * SECOND, -1)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidPrice, field: 'price' }));
    expect(serialize(forecasts.exportState()).equals(before)).toBe(true);
  });
});

describe('the volatility state in snapshots', () => {
  const config: VolatilityConfig = { model: 'garch', intervalSec: 10, garch: { window: 100, minReturns: 40, refitEvery: 15 } };

  it('continues after a restore exactly as without one, mid-interval and after fits', () => {
    const path = garchPath(6, 300, 10);
    const live = new VolatilityForecasts(config);
    let restored: VolatilityForecasts | undefined;
    for (const [k, x] of path.entries()) {
      // An extra mark inside each interval: the sampler holds it across the snapshot.
      live.observe(1, x.timeUs, x.price);
      live.observe(1, x.timeUs + 3 * SECOND, x.price * 1.0001);
      restored?.observe(1, x.timeUs, x.price);
      restored?.observe(1, x.timeUs + 3 * SECOND, x.price * 1.0001);
      if (k === 150) {
        expect(live.fitted(1)).not.toBeNull();
        restored = new VolatilityForecasts(config);
        restored.importState(deserialize(serialize(live.exportState()))); // as a snapshot file holds it
      }
      if (restored !== undefined) expect(restored.variancePerSecond(1)).toBe(live.variancePerSecond(1));
    }
    expect(restored!.exportState()).toEqual(live.exportState());
  });

  it("imports a snapshot from before the model choice (an EwmaState per market) as the EWMA, the chosen model starting empty", () => {
    const old = new EwmaVolatility();
    for (const x of garchPath(2, 30, 10)) old.observe(x.timeUs, x.price);
    const forecasts = new VolatilityForecasts(config);
    forecasts.importState(new Map([[3, old.exportState()]]));
    expect(forecasts.variancePerSecond(3)).toBe(old.variancePerSecond());
    expect(forecasts.lastObservedUs(3)).toBe(old.lastObservedUs);
    expect(forecasts.source(3)).toBe('ewma');
    expect(forecasts.returns(3)).toBe(0);
  });

  it('refuses a bad state by field, and keeps what it had', () => {
    const forecasts = new VolatilityForecasts(config);
    for (const x of garchPath(8, 60, 10)) forecasts.observe(0, x.timeUs, x.price);
    const good = forecasts.exportState().get(0)!;
    const before = serialize(forecasts.exportState());
    const cases: [unknown, string][] = [
      [new Map([[0, { ...good, ewma: { ...good.ewma, variancePerSec: -1 } }]]), 'volatility[0].ewma.variancePerSec'],
      [new Map([[0, { ...good, garch: { ...good.garch!, sampler: { ...good.garch!.sampler, nextSampleUs: good.garch!.sampler.nextSampleUs! + 1 } } }]]), 'volatility[0].garch.sampler.nextSampleUs'],
      [new Map([[0, { ...good, garch: { ...good.garch!, model: { ...good.garch!.model, returns: [NaN] } } }]]), 'volatility[0].garch.model.returns[0]'],
      [new Map([[-1, good]]), 'volatility'],
      [new Map([[0, 'ewma']]), 'volatility[0]'],
    ];
    for (const [state, field] of cases) {
      expect(() => forecasts.importState(state as never), field).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument, field }));
      expect(serialize(forecasts.exportState()).equals(before)).toBe(true);
    }
  });
});

/** Account 1 long 1,000 at 100 with 10% collateral: liquidatable at 99, healthy above it. */
async function oneLiquidation(execution: EngineConfig['execution']): Promise<Engine> {
  const engine = await Engine.start({
    scanWorkers: 0,
    autoEpoch: false,
    capacity: { markets: 1, accounts: 4, positions: 4 },
    sizing: { targetHealth: 100, minNotional: 1e12, minOrderNotional: 0 },
    marginCallHealth: 1_000,
    execution,
  });
  engine.addMarket({ id: 1, price: 100, tiers: TIERS });
  engine.depositInsurance(1, 1e9);
  engine.addAccount(1, 10_000);
  engine.upsertPosition({ account: 1, market: 1, size: 1_000, entryPrice: 100 });
  return engine;
}

describe('the executor with a chosen model', () => {
  it("plans 'almgren-chriss' without its own sigma on the GARCH estimate once fitted, and differently from the EWMA", async () => {
    const spec = { kind: 'almgren-chriss', horizonSec: 50, stepSec: 10, lambda: 1e-4, eta: 0.01 } as const;
    // A healthy GARCH history about 110 (the account is liquidatable below 100), then the mark at 99.
    const history = garchPath(12, 120, 10, { omega: 2e-7, alpha: 0.1, beta: 0.85 }).map((x) => ({ ...x, price: x.price * 1.1 }));
    const last = { timeUs: T0 + 120 * 10 * SECOND, price: 99 };
    const firstChild = async (volatility: VolatilityConfig): Promise<{ order: LiquidationOrder; forecasts: VolatilityForecasts }> => {
      const engine = await oneLiquidation({ strategy: spec, volatility });
      const forecasts = new VolatilityForecasts(volatility);
      try {
        for (const x of [...history, last]) {
          engine.pushPrices([{ market: 1, price: x.price, eventTimeUs: x.timeUs }]);
          forecasts.observe(0, x.timeUs, x.price);
          const orders = (await engine.step()).orders;
          if (x !== last) expect(orders).toEqual([]);
          else return { order: orders[0]!, forecasts };
        }
        throw new Error('unreachable');
      } finally {
        await engine.close();
      }
    };
    const garch = await firstChild({ model: 'garch', intervalSec: 10, garch: { window: 100, minReturns: 50, refitEvery: 20 } });
    const ewma = await firstChild({ model: 'ewma' });
    expect(garch.forecasts.source(0)).toBe('garch');
    for (const run of [garch, ewma]) {
      const sigma = Math.sqrt(run.forecasts.variancePerSecond(0)!) * 99;
      expect(run.order.quantity).toBeCloseTo(1_000 - almgrenChrissHoldings({ size: 1_000, horizonSec: 50, sigma, eta: 0.01, lambda: 1e-4 }, 10), 6);
    }
    expect(Math.abs(garch.order.quantity - ewma.order.quantity)).toBeGreaterThan(1);
  });

  it('refuses a bad volatility config by name, before anything starts', async () => {
    const twap = { kind: 'twap', horizonSec: 10, stepSec: 1 } as const;
    const cases: [unknown, string][] = [
      [{ strategy: { kind: 'ioc' }, volatility: 'garch' }, 'execution.volatility'],
      [{ strategy: { kind: 'ioc' }, volatility: { model: 'arch' } }, 'execution.volatility.model'],
      [{ strategy: { kind: 'ioc' }, volatility: { model: 'garch', intervalSec: 0 } }, 'execution.volatility.intervalSec'],
      [{ strategy: { kind: 'ioc' }, volatility: { model: 'garch', intervalSec: 1e-7 } }, 'execution.volatility.intervalSec'],
      [{ strategy: { kind: 'ioc' }, volatility: { model: 'garch', garch: { window: 5 } } }, 'execution.volatility.garch.window'],
      [{ strategy: { kind: 'ioc' }, volatility: { model: 'garch', garch: { window: 100, minReturns: 200 } } }, 'execution.volatility.garch.minReturns'],
      [{ strategy: { kind: 'ioc' }, volatility: { model: 'garch', garch: 'fast' } }, 'execution.volatility.garch'],
      [{ strategy: { kind: 'ioc' }, volatility: { model: 'har', har: { mediumPeriodSec: 70 } } }, 'execution.volatility.har.mediumPeriodSec'],
      [{ strategy: { kind: 'ioc' }, volatility: { model: 'ewma', ewma: { lambda: 1 } } }, 'execution.volatility.ewma.lambda'],
      // The adaptive strategy's own decay (the older form) is not set beside execution.volatility.
      [{ strategy: { kind: 'adaptive', patient: twap, horizonSec: 10, maxCrossProbability: 0.1, volatility: { lambda: 0.9, intervalSec: 10 } }, volatility: { model: 'garch' } }, 'execution.strategy.volatility'],
      [
        {
          strategy: { kind: 'ioc' },
          markets: [{ market: 1, strategy: { kind: 'ioc' }, sizeClasses: [{ minNotional: 1, strategy: { kind: 'adaptive', patient: twap, horizonSec: 10, maxCrossProbability: 0.1, volatility: { lambda: 0.9, intervalSec: 10 } } }] }],
          volatility: { model: 'ewma' },
        },
        'execution.markets[0].sizeClasses[0].strategy.volatility',
      ],
    ];
    for (const [execution, field] of cases) {
      await expect(Engine.start({ scanWorkers: 0, execution: execution as EngineConfig['execution'] }), field).rejects.toMatchObject({ code: ErrorCode.InvalidConfig, field });
    }
  });
});

/** The shared seeded world (test/support/strategy-world.ts), with noise of 0.004 of the price. */
const world = (config: EngineConfig, accounts: number, steps: number, onEpoch?: (i: number, engine: Engine) => Promise<Engine>) =>
  strategyWorld(config, accounts, steps, { noise: 0.004, ...(onEpoch === undefined ? {} : { onEpoch }) });

describe("model 'garch' and determinism", () => {
  // GARCH on the world's 3 s epochs: fitted from the 10th return on, refitted every 4th, so fits fall before and after the restart.
  const volatility: VolatilityConfig = { model: 'garch', intervalSec: 3, garch: { window: 60, minReturns: 10, refitEvery: 4 } };
  const execution = (v: VolatilityConfig): EngineConfig['execution'] => ({
    strategy: { kind: 'adaptive', patient: { kind: 'twap', horizonSec: 30, stepSec: 6 }, horizonSec: 30, maxCrossProbability: 0.2 },
    markets: [{ market: 2, strategy: { kind: 'almgren-chriss', horizonSec: 30, stepSec: 6, lambda: 1e-4, eta: 0.05 } }],
    volatility: v,
  });
  const base: EngineConfig = { autoEpoch: false, capacity: { markets: 3, accounts: 400, positions: 1_200 }, execution: execution(volatility), sizing: { targetHealth: 1.5 } };

  it('gives the same order stream for 0, 1 and 2 scan workers, and replay of the journal gives it again; not the EWMA one', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'unwind-volatility-')), 'journal');
    dirs.push(dir);
    const runs = [];
    for (const scanWorkers of [0, 1, 2]) runs.push(await world({ ...base, scanWorkers, ...(scanWorkers === 2 ? { journal: { dir, log: () => {} } } : {}) }, 300, 40));
    expect(runs[0]!.orders).toBeGreaterThan(50);
    expect(runs[1]!.digest).toBe(runs[0]!.digest);
    expect(runs[2]!.digest).toBe(runs[0]!.digest);
    expect((await replayJournal(dir, { workers: 2 })).outputDigest).toBe(runs[0]!.digest);
    // The model decided something: the EWMA's run differs.
    const ewma = await world({ ...base, scanWorkers: 0, execution: execution({ model: 'ewma' }) }, 300, 40);
    expect(ewma.digest).not.toBe(runs[0]!.digest);
  });

  it('carries the fitted model through a restart from a snapshot', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'unwind-volatility-')), 'journal');
    dirs.push(dir);
    const uninterrupted = await world({ ...base, scanWorkers: 0 }, 200, 40);
    const journal = { dir, snapshotEveryRecords: 40, log: () => {} };
    const restarted = await world({ ...base, scanWorkers: 0, journal }, 200, 40, async (i, engine) => {
      if (i !== 24) return engine;
      await engine.close();
      const again = await Engine.start({ ...base, scanWorkers: 1, journal });
      expect(again.recovery?.snapshot).toBeDefined();
      return again;
    });
    expect(restarted.digest).toBe(uninterrupted.digest);
  });
});
