/**
 * Execution strategies in the executor (src/executor/strategies.ts): a sized liquidation spread over event time by
 * TWAP, Vega's disposal or Almgren-Chriss, one child per step, each an IOC at the same fillable price 'ioc' would
 * use; the same order stream for 0, 1 and 2 scan workers, after a restart from a snapshot, and in replay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { strategyWorld } from './support/strategy-world.js';
import { Engine, ErrorCode, type EngineConfig, type LiquidationOrder } from '../src/index.js';
import { almgrenChrissHoldings } from '../src/domain/schedules.js';
import { replayJournal } from '../src/engine/replay.js';
import { mulberry32 } from '../src/sim/random.js';

const SECOND = 1_000_000;
const T0 = 1_767_225_600 * SECOND;
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * Account 1 long `size` at 100, collateral 10% of it: liquidatable at 99 (health 0.9, above the emergency level).
 * The target health is out of reach, so the liquidation goes on until the position is flat, and the sizing asks
 * for the whole position each time.
 */
async function oneLiquidation(execution: EngineConfig['execution'], size: number, minOrderNotional = 0): Promise<Engine> {
  const engine = await Engine.start({
    scanWorkers: 0,
    autoEpoch: false,
    capacity: { markets: 1, accounts: 4, positions: 4 },
    sizing: { targetHealth: 100, minNotional: 1e12, minOrderNotional },
    marginCallHealth: 1_000, // every group stays a candidate of the scan while its liquidation goes on
    execution,
  });
  engine.addMarket({ id: 1, price: 100, tiers: TIERS });
  engine.depositInsurance(1, 1e9);
  engine.addAccount(1, size * 10);
  engine.upsertPosition({ account: 1, market: 1, size, entryPrice: 100 });
  return engine;
}

/** One epoch at event time T0 + `sec` seconds; its orders. */
async function at(engine: Engine, sec: number, price = 99): Promise<readonly LiquidationOrder[]> {
  engine.pushPrices([{ market: 1, price, eventTimeUs: T0 + sec * SECOND }]);
  return (await engine.step()).orders;
}

const fillWhole = (engine: Engine, o: LiquidationOrder, sec: number): void =>
  engine.fill({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs: T0 + sec * SECOND });

describe('execution strategies', () => {
  it("'ioc' (the default) closes the whole sized quantity at once", async () => {
    const engine = await oneLiquidation(undefined, 600);
    try {
      expect((await at(engine, 0)).map((o) => o.quantity)).toEqual([600]);
    } finally {
      await engine.close();
    }
  });

  it("'twap' sends remaining * step / time left each step, nothing between steps, all by the horizon", async () => {
    const engine = await oneLiquidation({ strategy: { kind: 'twap', horizonSec: 60, stepSec: 10 } }, 600);
    const children: number[] = [];
    try {
      for (let sec = 0; sec < 60; sec += 5) {
        const orders = await at(engine, sec);
        if (sec % 10 !== 0) expect(orders, `t = ${sec} s is inside a step`).toEqual([]);
        for (const o of orders) {
          children.push(o.quantity);
          engine.expire(o.id); // unfilled: the sizing asks for all 600 again at the next step
        }
      }
    } finally {
      await engine.close();
    }
    // 600 * 10 / 60, 600 * 10 / 50, ...; the last step's whole remainder.
    expect(children).toHaveLength(6);
    [100, 120, 150, 200, 300, 600].forEach((q, i) => expect(children[i]).toBeCloseTo(q, 9));
  });

  it("'disposal' closes Vega's fraction of what remains each step, all of it at or below the full-disposal size", async () => {
    const engine = await oneLiquidation({ strategy: { kind: 'disposal', stepSec: 10, fraction: 0.5, fullDisposalSize: 50 } }, 280);
    const children: number[] = [];
    try {
      for (let sec = 0; sec <= 40; sec += 10) {
        for (const o of await at(engine, sec)) {
          children.push(o.quantity);
          fillWhole(engine, o, sec);
        }
      }
      expect(engine.account(1).positions[0]?.size ?? 0).toBe(0);
    } finally {
      await engine.close();
    }
    expect(children).toEqual([140, 70, 35, 35]);
  });

  it('takes at most its share of the book the venue reports: twap by maxParticipation, disposal by maxFractionOfBook (Vega: 280 -> 100, 90, 45, 45)', async () => {
    const twap = await oneLiquidation({ strategy: { kind: 'twap', horizonSec: 60, stepSec: 10, maxParticipation: 0.1 } }, 600);
    try {
      twap.pushDepth([{ market: 1, bidVolume: 300, askVolume: 1e6 }]); // a sell takes the bids
      expect((await at(twap, 0)).map((o) => o.quantity)).toEqual([30]); // min(600 * 10 / 60, 10% of 300)
    } finally {
      await twap.close();
    }
    const vega = await oneLiquidation({ strategy: { kind: 'disposal', stepSec: 10, fraction: 0.5, fullDisposalSize: 50, maxFractionOfBook: 0.01 } }, 280);
    const children: number[] = [];
    try {
      for (let sec = 0; sec <= 40; sec += 10) {
        vega.pushDepth([{ market: 1, bidVolume: 10_000, askVolume: 10_000 }]); // the book refills between steps
        for (const o of await at(vega, sec)) {
          children.push(o.quantity);
          fillWhole(vega, o, sec);
        }
      }
    } finally {
      await vega.close();
    }
    expect(children).toEqual([100, 90, 45, 45]);
  });

  it('raises a child to the minimum order, unless the book share forbids it: then the step waits for depth', async () => {
    const engine = await oneLiquidation({ strategy: { kind: 'twap', horizonSec: 60, stepSec: 10, maxParticipation: 0.1 } }, 600, 1_000);
    try {
      engine.pushDepth([{ market: 1, bidVolume: 30, askVolume: 1e6 }]); // 10%: 3 base, about 297 quote < 1,000
      expect(await at(engine, 0)).toEqual([]);
      engine.pushDepth([{ market: 1, bidVolume: 200, askVolume: 1e6 }]); // 10%: 20 base, about 1,980 quote
      expect((await at(engine, 1)).map((o) => o.quantity)).toEqual([20]);
    } finally {
      await engine.close();
    }
    const unbounded = await oneLiquidation({ strategy: { kind: 'twap', horizonSec: 6_000, stepSec: 10 } }, 600, 1_000);
    try {
      // 600 * 10 / 6,000 = 1 base (about 99 quote) is raised to the minimum order: 1,000 / the limit price.
      const [o] = await at(unbounded, 0);
      expect(o!.quantity * o!.limitPrice).toBeCloseTo(1_000, 6);
    } finally {
      await unbounded.close();
    }
  });

  it("'almgren-chriss' front-loads along x(t) = X sinh(kappa (T - t)) / sinh(kappa T) and is flat by the horizon", async () => {
    const spec = { kind: 'almgren-chriss', horizonSec: 50, stepSec: 10, lambda: 1e-4, sigma: 0.5, eta: 0.01 } as const;
    const engine = await oneLiquidation({ strategy: spec }, 1_000);
    const held: number[] = [1_000];
    try {
      for (let sec = 0; sec <= 50; sec += 10) {
        for (const o of await at(engine, sec)) fillWhole(engine, o, sec);
        held.push(engine.account(1).positions[0]?.size ?? 0);
      }
    } finally {
      await engine.close();
    }
    const x = (t: number): number => almgrenChrissHoldings({ size: 1_000, horizonSec: 50, sigma: 0.5, eta: 0.01, lambda: 1e-4 }, t);
    // After the child of step k (at k * 10 s) the position is on the trajectory at the next step's time.
    for (let k = 0; k < 5; k++) expect(held[k + 1]).toBeCloseTo(x((k + 1) * 10), 6);
    expect(held[5]).toBe(0);
    expect(1_000 - held[1]!).toBeGreaterThan(200); // more than TWAP's 1,000 / 5 in the first step
  });

  it("'dutch-auction' offers all of it from oracle * buf down by the stairstep, never past the fillable price, and restarts after its tail", async () => {
    const spec = { kind: 'dutch-auction', stepSec: 10, buf: 1.3, decrease: { kind: 'stairstep', stepSec: 10, cut: 0.9 }, tailSec: 35, cusp: 0.05 } as const;
    const engine = await oneLiquidation({ strategy: spec }, 100);
    const seen: { quantity: number; limit: number }[] = [];
    let fillable = NaN;
    try {
      for (let sec = 0; sec <= 40; sec += 10) {
        fillable = engine.account(1).positions[0]!.fillablePrice;
        for (const o of await at(engine, sec)) {
          seen.push({ quantity: o.quantity, limit: o.limitPrice });
          engine.expire(o.id);
        }
      }
    } finally {
      await engine.close();
    }
    expect(seen.map((x) => x.quantity)).toEqual([100, 100, 100, 100, 100]);
    // top = 99 * 1.3, then a 0.9 cut every 10 s, until the price would fall below the fillable price; at 40 s the
    // auction is past its 35 s tail and starts again from the oracle.
    [99 * 1.3, 99 * 1.3 * 0.9, 99 * 1.3 * 0.81].forEach((p, i) => expect(seen[i]!.limit).toBeCloseTo(p, 9));
    expect(seen[3]!.limit).toBeCloseTo(Math.max(99 * 1.3 * 0.729, fillable), 9);
    expect(seen[4]!.limit).toBeCloseTo(99 * 1.3, 9);
  });

  it("'adaptive' is patient where the price is unlikely to reach the group's bankruptcy within the horizon, immediate where it is likely", async () => {
    const engine = await Engine.start({
      scanWorkers: 0,
      autoEpoch: false,
      capacity: { markets: 2, accounts: 4, positions: 8 },
      sizing: { targetHealth: 100, minNotional: 1e12, minOrderNotional: 0 },
      marginCallHealth: 1_000,
      execution: { strategy: { kind: 'adaptive', patient: { kind: 'twap', horizonSec: 60, stepSec: 10 }, horizonSec: 60, maxCrossProbability: 0.05, volatility: { lambda: 0.9, intervalSec: 10 } } },
    });
    try {
      engine.addMarket({ id: 1, price: 100, tiers: TIERS });
      engine.addMarket({ id: 2, price: 100, tiers: TIERS });
      for (const m of [1, 2]) engine.depositInsurance(m, 1e9);
      // Calm: 0.01% moves every 10 s; wild: 3% moves. Both positions healthy until the last price.
      for (let i = 0; i < 30; i++) {
        const wiggle = i % 2 === 0 ? 1 : -1;
        engine.pushPrices([{ market: 1, price: 101 * (1 + 1e-4 * wiggle), eventTimeUs: T0 + i * 10 * SECOND }, { market: 2, price: 101 * (1 + 0.03 * wiggle), eventTimeUs: T0 + i * 10 * SECOND }]);
        await engine.step();
      }
      for (const [account, market] of [[1, 1], [2, 2]] as const) {
        engine.addAccount(account, 6_000);
        engine.upsertPosition({ account, market, size: 600, entryPrice: 100 });
      }
      engine.pushPrices([1, 2].map((market) => ({ market, price: 99, eventTimeUs: T0 + 300 * SECOND })));
      const byAccount = new Map((await engine.step()).orders.map((o) => [o.account, o.quantity]));
      expect(byAccount.get(1)).toBeCloseTo(100, 9); // calm: twap, 600 * 10 / 60
      expect(byAccount.get(2)).toBe(600); // wild: at once
    } finally {
      await engine.close();
    }
  });

  it("'adaptive' acts at once while it knows no volatility", async () => {
    const engine = await oneLiquidation({ strategy: { kind: 'adaptive', patient: { kind: 'twap', horizonSec: 60, stepSec: 10 }, horizonSec: 60, maxCrossProbability: 0.5 } }, 600);
    try {
      expect((await at(engine, 0)).map((o) => o.quantity)).toEqual([600]);
    } finally {
      await engine.close();
    }
  });

  it("'almgren-chriss' without its own sigma takes the market's estimate: TWAP's schedule while it has none, front-loaded once it has", async () => {
    const spec = { kind: 'almgren-chriss', horizonSec: 50, stepSec: 10, lambda: 1e-4, eta: 0.01 } as const;
    const fresh = await oneLiquidation({ strategy: spec }, 1_000);
    try {
      expect((await at(fresh, 0)).map((o) => o.quantity)[0]).toBeCloseTo(200, 9); // kappa 0: 1,000 / 5 steps
    } finally {
      await fresh.close();
    }
    const seasoned = await oneLiquidation({ strategy: spec }, 1_000);
    try {
      // A healthy history of 2% moves every 10 s (the account is liquidatable only at 99, below all of them).
      for (let i = 0; i < 20; i++) await at(seasoned, i * 10, i % 2 === 0 ? 104 : 102);
      const first = (await at(seasoned, 200)).map((o) => o.quantity)[0]!;
      expect(first).toBeGreaterThan(250);
      expect(first).toBeLessThan(1_000);
    } finally {
      await seasoned.close();
    }
  });

  it('chooses by market and by position size, the largest size class reached', async () => {
    const engine = await Engine.start({
      scanWorkers: 0,
      autoEpoch: false,
      capacity: { markets: 2, accounts: 4, positions: 8 },
      sizing: { targetHealth: 100, minNotional: 1e12, minOrderNotional: 0 },
      execution: {
        strategy: { kind: 'ioc' },
        markets: [{ market: 2, strategy: { kind: 'ioc' }, sizeClasses: [{ minNotional: 50_000, strategy: { kind: 'twap', horizonSec: 40, stepSec: 10 } }] }],
      },
    });
    try {
      engine.addMarket({ id: 1, price: 100, tiers: TIERS });
      engine.addMarket({ id: 2, price: 100, tiers: TIERS });
      engine.depositInsurance(1, 1e9);
      engine.depositInsurance(2, 1e9);
      for (const [account, market, size] of [[1, 1, 600], [2, 2, 600], [3, 2, 200]] as const) {
        engine.addAccount(account, size * 10, );
        engine.upsertPosition({ account, market, size, entryPrice: 100 });
      }
      engine.pushPrices([{ market: 1, price: 99, eventTimeUs: T0 }, { market: 2, price: 99, eventTimeUs: T0 }]);
      const orders = (await engine.step()).orders;
      const byAccount = new Map(orders.map((o) => [o.account, o.quantity]));
      expect(byAccount.get(1)).toBe(600); // market 1: the default, ioc
      expect(byAccount.get(2)).toBeCloseTo(150, 9); // market 2, 59,400 of notional: twap, 600 * 10 / 40
      expect(byAccount.get(3)).toBe(200); // market 2 below the class: ioc
    } finally {
      await engine.close();
    }
  });

  it('refuses a bad strategy config by name, before anything starts', async () => {
    const cases: [unknown, string][] = [
      [{ strategy: { kind: 'vwap' } }, 'execution.strategy.kind'],
      [{ strategy: { kind: 'twap', horizonSec: 0, stepSec: 1 } }, 'execution.strategy.horizonSec'],
      [{ strategy: { kind: 'twap', horizonSec: 10, stepSec: 1, maxParticipation: 0 } }, 'execution.strategy.maxParticipation'],
      [{ strategy: { kind: 'disposal', stepSec: 1, fraction: 0.5, fullDisposalSize: 1, maxFractionOfBook: 2 } }, 'execution.strategy.maxFractionOfBook'],
      [{ strategy: { kind: 'disposal', stepSec: 1, fraction: 1.5, fullDisposalSize: 1 } }, 'execution.strategy.fraction'],
      [{ strategy: { kind: 'almgren-chriss', horizonSec: 1, stepSec: 1, lambda: 0, sigma: 0, eta: 0 } }, 'execution.strategy.eta'],
      [{ strategy: { kind: 'ioc' }, sizeClasses: [{ minNotional: -1, strategy: { kind: 'ioc' } }] }, 'execution.sizeClasses[0].minNotional'],
      [{ strategy: { kind: 'ioc' }, markets: [{ market: 1, strategy: { kind: 'ioc' } }, { market: 1, strategy: { kind: 'ioc' } }] }, 'execution.markets[1].market'],
      [{ strategy: { kind: 'dutch-auction', stepSec: 1, buf: 0.9, decrease: { kind: 'linear', tauSec: 10 }, tailSec: 10, cusp: 0.4 } }, 'execution.strategy.buf'],
      [{ strategy: { kind: 'dutch-auction', stepSec: 1, buf: 1.2, decrease: { kind: 'exponential' }, tailSec: 10, cusp: 0.4 } }, 'execution.strategy.decrease.kind'],
      [{ strategy: { kind: 'dutch-auction', stepSec: 1, buf: 1.2, decrease: { kind: 'stairstep', stepSec: 1, cut: 1.5 }, tailSec: 10, cusp: 0.4 } }, 'execution.strategy.decrease.cut'],
      [{ strategy: { kind: 'adaptive', patient: { kind: 'ioc' }, horizonSec: 10, maxCrossProbability: 0.1 } }, 'execution.strategy.patient.kind'],
      [{ strategy: { kind: 'adaptive', patient: { kind: 'twap', horizonSec: 1, stepSec: 1 }, horizonSec: 10, maxCrossProbability: 1 } }, 'execution.strategy.maxCrossProbability'],
      [{ strategy: null }, 'execution.strategy'],
      ['twap', 'execution'],
    ];
    for (const [execution, field] of cases) {
      await expect(Engine.start({ scanWorkers: 0, execution: execution as EngineConfig['execution'] })).rejects.toMatchObject({ code: ErrorCode.InvalidConfig, field });
    }
  });
});

/** The shared seeded world (test/support/strategy-world.ts), with noise of 0.002 of the price. */
const world = (config: EngineConfig, accounts: number, steps: number, onEpoch?: (i: number, engine: Engine) => Promise<Engine>) =>
  strategyWorld(config, accounts, steps, { noise: 0.002, ...(onEpoch === undefined ? {} : { onEpoch }) });

describe('strategies and determinism', () => {
  const execution: EngineConfig['execution'] = {
    strategy: { kind: 'adaptive', patient: { kind: 'twap', horizonSec: 30, stepSec: 6 }, horizonSec: 30, maxCrossProbability: 0.2 },
    sizeClasses: [{ minNotional: 30_000, strategy: { kind: 'dutch-auction', stepSec: 6, buf: 1.05, decrease: { kind: 'stairstep', stepSec: 6, cut: 0.98 }, tailSec: 60, cusp: 0.5 } }],
    markets: [
      { market: 2, strategy: { kind: 'almgren-chriss', horizonSec: 30, stepSec: 6, lambda: 1e-4, sigma: 0.5, eta: 0.05 } },
      { market: 3, strategy: { kind: 'disposal', stepSec: 6, fraction: 0.5, fullDisposalSize: 20 } },
    ],
  };
  const base: EngineConfig = { autoEpoch: false, capacity: { markets: 3, accounts: 400, positions: 1_200 }, execution, sizing: { targetHealth: 1.5 } };

  it('gives the same order stream for 0, 1 and 2 scan workers, and replay of the journal gives it again', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'unwind-strategies-')), 'journal');
    dirs.push(dir);
    const runs = [];
    for (const scanWorkers of [0, 1, 2]) runs.push(await world({ ...base, scanWorkers, ...(scanWorkers === 2 ? { journal: { dir, log: () => {} } } : {}) }, 300, 40));
    expect(runs[0]!.orders).toBeGreaterThan(50);
    // Stepped strategies sent several children for some positions.
    expect(Math.max(...runs[0]!.children.values())).toBeGreaterThan(2);
    expect(runs[1]!.digest).toBe(runs[0]!.digest);
    expect(runs[2]!.digest).toBe(runs[0]!.digest);
    expect((await replayJournal(dir, { workers: 2 })).outputDigest).toBe(runs[0]!.digest);
  });

  it('carries liquidations in progress through a restart from a snapshot', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'unwind-strategies-')), 'journal');
    dirs.push(dir);
    const uninterrupted = await world({ ...base, scanWorkers: 0 }, 200, 30);
    const journal = { dir, snapshotEveryRecords: 40, log: () => {} };
    const restarted = await world({ ...base, scanWorkers: 0, journal }, 200, 30, async (i, engine) => {
      if (i !== 14) return engine;
      await engine.close();
      const again = await Engine.start({ ...base, scanWorkers: 1, journal });
      expect(again.recovery?.snapshot).toBeDefined();
      return again;
    });
    expect(restarted.digest).toBe(uninterrupted.digest);
  });

  it('never prices a child past the fillable price ioc would use, nor sizes it beyond the position', async () => {
    const engine = await Engine.start({ ...base, scanWorkers: 0 });
    const rand = mulberry32(11);
    try {
      for (let m = 1; m <= 3; m++) engine.addMarket({ id: m, price: 100 * m, tiers: TIERS });
      for (let a = 1; a <= 150; a++) {
        engine.addAccount(a, 500 + rand() * 2_000);
        for (let m = 1; m <= 3; m++) if (rand() < 0.6) engine.upsertPosition({ account: a, market: m, size: (rand() < 0.5 ? -1 : 1) * (1 + rand() * 200), entryPrice: 100 * m });
      }
      let checked = 0;
      for (let i = 0; i < 25; i++) {
        const t = T0 + i * 3 * SECOND;
        engine.pushPrices([1, 2, 3].map((m) => ({ market: m, price: 100 * m * (1 - 0.008 * i * (m === 2 ? -1 : 1)), eventTimeUs: t })));
        const before = new Map<string, { fillable: number; size: number }>();
        for (let a = 1; a <= 150; a++) for (const p of engine.account(a).positions) before.set(`${a}-${p.market}`, { fillable: p.fillablePrice, size: p.size });
        for (const o of (await engine.step()).orders) {
          const b = before.get(`${o.account}-${o.market}`)!;
          // A Dutch auction asks more than the fillable price (a sell above it, a buy below it); nothing asks less.
          if (o.side === 'sell') expect(o.limitPrice).toBeGreaterThanOrEqual(b.fillable);
          else expect(o.limitPrice).toBeLessThanOrEqual(b.fillable);
          expect(o.quantity).toBeLessThanOrEqual(Math.abs(b.size));
          checked++;
          engine.fill({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs: t });
        }
      }
      expect(checked).toBeGreaterThan(30);
    } finally {
      await engine.close();
    }
  });
});
