/**
 * The impact model fitted on the engine's own fills (src/engine/impact-observer.ts): fills built with a known linear
 * temporary impact eta and permanent impact gamma come back as markets.impactEta / impactGamma; IOCs that sweep a
 * book in the venue's latency give the book's slope over `minDurationSec`, positive; the fit is the same after a
 * restart from a snapshot, in replay of the journal and for 0 or 2 scan workers; and 'almgren-chriss' without its own
 * eta plans with it once it exists (TWAP's schedule before).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, ErrorCode, type EngineConfig, type LiquidationOrder } from '../src/index.js';
import { almgrenChrissHoldings } from '../src/domain/schedules.js';
import { ImpactObserver, type ImpactObserverState } from '../src/engine/impact-observer.js';
import { startCore } from '../src/engine/start.js';
import { readRecordedConfig, replayRecords } from '../src/engine/recovery.js';
import { readJournal } from '../src/journal/reader.js';
import { mulberry32 } from '../src/sim/random.js';
import { VenueBook, bookParamsFor } from '../src/sim/venue/index.js';
import { allocateTables } from '../src/tables/layout.js';
import { TableWriter } from '../src/tables/writer.js';
import type { Settlement } from '../src/clearing/clearing.js';

const SECOND = 1_000_000;
const T0 = 1_767_225_600 * SECOND;
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
/** The impact the fills carry: temporary eta (quote per base per base/second), permanent gamma (quote per base per base), a fixed cost. */
const ETA = 8e-5;
const GAMMA = 1e-5;
const EPSILON = 0.005;
/** The mark around which every round starts: account 1 (long 1,000,000 at 100, 10% collateral) is liquidatable at health about 0.82 there. */
const MARK = 98;
const ROUND_SEC = 10;
/**
 * A venue-like book around MARK: 50 base a level, a tick of 0.01, the same depth at every level, so the k-th unit a
 * sweep takes costs k * 0.01 / 50 beyond the best; permanent impact GAMMA, applied after the sweep.
 */
const SWEPT_BOOK = bookParamsFor(MARK, { tick: 0.01, depth0: 50, decayPerLevel: 0, levels: 400, gamma: GAMMA });
/** The venue's latency: an IOC fills this long after it was sent. */
const LATENCY_US = 2_000;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface World {
  readonly execution?: EngineConfig['execution'];
  readonly rounds: number;
  /**
   * false: one order at a time, each filled, expired and then marked `delaySec` (2 s) after its last fill (a clean
   * regression). true: the mid after comes from later rounds' prices (delaySec 25), and each order is expired only
   * after the next epoch, so orders and pending observations span epoch starts and snapshots.
   */
  readonly overlap?: boolean;
  /** Whether the venue reports its depth (false: the book volume stays unknown). Default true. */
  readonly depth?: boolean;
  /**
   * Fills from sweeping SWEPT_BOOK (fresh at the arrival mark) one latency after the epoch, the mark after moved by
   * the sweep's permanent impact, and every order charged over `minDurationSec` ROUND_SEC; instead of the model's.
   */
  readonly sweep?: boolean;
  readonly scanWorkers?: number;
  readonly journal?: EngineConfig['journal'];
  /** After round i's fills, before anything else (a restart point). */
  readonly onRound?: (i: number, engine: Engine) => Promise<Engine>;
}

interface Run {
  readonly orders: LiquidationOrder[];
  readonly digest: string;
  /** markets.impactEta and impactGamma of market 1 at the end of each round. */
  readonly eta: number[];
  readonly gamma: number[];
  /** Before each epoch: the eta the executor reads, and the position's size. */
  readonly before: { eta: number; size: number }[];
}

function config(w: World): EngineConfig {
  return {
    scanWorkers: w.scanWorkers ?? 0,
    autoEpoch: false,
    capacity: { markets: 1, accounts: 4, positions: 4 },
    sizing: { targetHealth: 100, minNotional: 1e12, minOrderNotional: 0 }, // the sizing asks for the whole position every time
    marginCallHealth: 1_000,
    execution: { strategy: { kind: 'ioc' }, ...w.execution, impact: { delaySec: w.overlap === true ? 25 : 2, window: 200, refitEvery: 5, minFills: 10, ...(w.sweep === true ? { minDurationSec: ROUND_SEC } : {}) } },
    ...(w.journal === undefined ? {} : { journal: w.journal }),
  };
}

/** A seeded run: each round prices the market at about MARK, steps one epoch and fills part of its orders at the impact above. */
async function world(w: World): Promise<Run> {
  const rand = mulberry32(29);
  let engine = await Engine.start(config(w));
  engine.addMarket({ id: 1, price: 100, tiers: TIERS });
  engine.depositInsurance(1, 1e9);
  engine.addAccount(1, 1e7);
  engine.upsertPosition({ account: 1, market: 1, size: 1e6, entryPrice: 100 });
  const run: Run = { orders: [], digest: '', eta: [], gamma: [], before: [] };
  let open: string[] = [];
  for (let i = 0; i < w.rounds; i++) {
    const t = T0 + i * ROUND_SEC * SECOND;
    if (w.depth !== false) engine.pushDepth([{ market: 1, bidVolume: 5e4 + rand() * 1.5e5, askVolume: 1e5 }]);
    const arrival = MARK + 0.05 * (rand() - 0.5);
    engine.pushPrices([{ market: 1, price: arrival, eventTimeUs: t }]);
    run.before.push({ eta: engine.tables.markets.impactEta[0]!, size: engine.account(1).positions[0]!.size });
    const orders = (await engine.step()).orders;
    run.orders.push(...orders);
    if (w.overlap === true && open.length > 0) engine.expire(open);
    open = [];
    let after: { price: number; eventTimeUs: number } | undefined;
    for (const o of orders) {
      const side = o.side === 'buy' ? 1 : -1;
      const q = Math.min(o.quantity, 100 + rand() * 900);
      if (w.sweep === true) {
        const swept = new VenueBook(SWEPT_BOOK, arrival).sweep(o.side, q, undefined, 0);
        const last = t + LATENCY_US;
        engine.fill([{ orderId: o.id, account: o.account, market: o.market, price: swept.averagePrice!, quantity: q, eventTimeUs: last }]);
        after = { price: swept.midAfter, eventTimeUs: last + 2 * SECOND };
        engine.expire(o.id);
        continue;
      }
      const durationSec = 1 + rand() * 4;
      // One order is one trade, its permanent move after its fills: s (P - M0) = epsilon + eta q / T + noise.
      const price = arrival + side * (EPSILON + (ETA * q) / durationSec + 0.001 * (rand() - 0.5));
      const last = t + Math.round(durationSec * SECOND);
      const fill = { orderId: o.id, account: o.account, market: o.market, price };
      if (rand() < 0.3) {
        engine.fill([{ ...fill, quantity: q / 2, eventTimeUs: t + Math.round((durationSec / 2) * SECOND) }]);
        engine.fill([{ ...fill, quantity: q / 2, eventTimeUs: last }]);
      } else {
        engine.fill([{ ...fill, quantity: q, eventTimeUs: last }]);
      }
      // s (M1 - M0) = gamma q + noise, 2 s after the last fill
      after = { price: arrival + side * (GAMMA * q + 0.0005 * (rand() - 0.5)), eventTimeUs: last + 2 * SECOND };
      if (w.overlap === true) open.push(o.id);
      else engine.expire(o.id);
    }
    if (w.onRound !== undefined) engine = await w.onRound(i, engine);
    if (w.overlap !== true && after !== undefined) engine.pushPrices([{ market: 1, ...after }]);
    run.eta.push(engine.tables.markets.impactEta[0]!);
    run.gamma.push(engine.tables.markets.impactGamma[0]!);
  }
  await engine.step();
  const digest = engine.outputDigest();
  await engine.close();
  return { ...run, digest };
}

describe('the impact fit on our own fills', () => {
  it('recovers the eta and gamma the fills carry, within 3% and 5%, once minFills observations are in', async () => {
    const run = await world({ rounds: 60 });
    expect(run.orders).toHaveLength(60);
    // The first round is left out (the EWMA has no return yet): the tenth observation completes in round 10.
    expect(run.eta.slice(0, 10).every(Number.isNaN)).toBe(true);
    expect(Number.isFinite(run.eta[10])).toBe(true);
    const eta = run.eta.at(-1)!;
    const gamma = run.gamma.at(-1)!;
    expect(Math.abs(eta - ETA) / ETA).toBeLessThan(0.03);
    expect(Math.abs(gamma - GAMMA) / GAMMA).toBeLessThan(0.05);
    // Refitted every 5 observations: the values change only on those rounds.
    const changes = run.eta.flatMap((x, i) => (i > 0 && x !== run.eta[i - 1] && !Number.isNaN(x) ? [i] : []));
    expect(changes.length).toBeGreaterThan(5);
    expect(changes.every((i) => (i - 10) % 5 === 0)).toBe(true);
  });

  it("of IOCs that sweep a book in the venue's 2 ms latency gives eta = the book's slope x minDurationSec / 2, positive, within 3%", async () => {
    const run = await world({ rounds: 60, sweep: true });
    // Each order is one trade that took the levels from the arrival mark's best outward, its permanent move after:
    // the k-th unit cost k * tick / depth0, so a sweep of q paid (tick / depth0) q / 2 beyond the best on average.
    // Charged over ROUND_SEC (not the 2 ms it took), that is eta = (tick / depth0) ROUND_SEC / 2.
    const slopeEta = (SWEPT_BOOK.tick / SWEPT_BOOK.depth0) * (ROUND_SEC / 2);
    const eta = run.eta.at(-1)!;
    expect(eta).toBeGreaterThan(0);
    expect(Math.abs(eta / slopeEta - 1)).toBeLessThan(0.03);
    expect(Math.abs(run.gamma.at(-1)! / GAMMA - 1)).toBeLessThan(0.05);
  });

  it('leaves out every order while the venue reports no depth (the model needs a book volume): no fit', async () => {
    const run = await world({ rounds: 30, depth: false });
    expect(run.eta.every(Number.isNaN)).toBe(true);
    expect(run.gamma.every(Number.isNaN)).toBe(true);
  });

  it('refuses a bad impact config by name, before anything starts', async () => {
    const strategy = { kind: 'ioc' } as const;
    const cases: [unknown, string][] = [
      [{ delaySec: -1 }, 'execution.impact.delaySec'],
      [{ minDurationSec: 0 }, 'execution.impact.minDurationSec'],
      [{ window: 2 }, 'execution.impact.window'],
      [{ refitEvery: 0.5 }, 'execution.impact.refitEvery'],
      [{ window: 10, minFills: 11 }, 'execution.impact.minFills'],
      [{ minFills: 501 }, 'execution.impact.minFills'], // above the default window
      ['often', 'execution.impact'],
    ];
    for (const [impact, field] of cases) {
      await expect(Engine.start({ scanWorkers: 0, execution: { strategy, impact } as EngineConfig['execution'] })).rejects.toMatchObject({ code: ErrorCode.InvalidConfig, field });
    }
    await expect(Engine.start({ scanWorkers: 0, execution: { strategy: { kind: 'almgren-chriss', horizonSec: 10, stepSec: 1, lambda: 1, eta: -1 } } })).rejects.toMatchObject({
      code: ErrorCode.InvalidConfig,
      field: 'execution.strategy.eta',
    });
  });
});

describe('the impact observer state', () => {
  /** An observer over a one-market table, watching one order half filled and one waiting for its mid after. */
  function observer(): ImpactObserver {
    const tables = allocateTables({ markets: 1, accounts: 1, positions: 1, candidates: 1, output: 1 });
    const writer = new TableWriter(tables, 1);
    writer.prepareMarket({ id: 7, price: 100, tiers: TIERS })();
    writer.prepareDepth([{ market: 7, bidVolume: 1_000, askVolume: 1_000 }])();
    writer.preparePrice({ market: 7, price: 100, eventTimeUs: T0 })();
    const o = new ImpactObserver(tables, writer, { delaySec: 5 }, 16);
    o.sample();
    const order = (id: string): LiquidationOrder =>
      ({ id, epoch: 1, account: 1, market: 7, symbol: 'M7', side: 'sell', quantity: 10, limitPrice: 99, oraclePrice: 100, reason: 'cross-maintenance', health: 0.9, equity: 1, maintenanceMargin: 1, positionSequence: 1 }) as LiquidationOrder;
    o.emitted([order('a'), order('b')], T0);
    const fill = (orderId: string, quantity: number, orderRemaining: number): Settlement => ({ orderId, quantity, orderRemaining, price: 99.5, eventTimeUs: T0 + SECOND, account: 1, market: 7 }) as Settlement;
    o.settled(fill('a', 4, 6));
    o.settled(fill('b', 10, 0));
    return o;
  }

  it('exports plain data that another observer imports as it was; a snapshot from before the fit starts empty', () => {
    const state = observer().exportState();
    expect(state.working.map((w) => [w.id, w.filled])).toEqual([['a', 4]]);
    expect(state.waiting.map((w) => [w.id, w.filled, w.notional])).toEqual([['b', 10, 995]]);
    expect(state.markets.map((m) => [m.market, m.ewma.lastPrice])).toEqual([[7, 100]]);
    const copy = observer();
    copy.importState(structuredClone(state));
    expect(copy.exportState()).toEqual(state);
    copy.importState(undefined);
    expect(copy.exportState()).toEqual({ markets: [], working: [], waiting: [] });
    expect(copy.watching).toBe(false);
  });

  it('refuses a bad state by the field that is wrong, and keeps its own', () => {
    const good = observer().exportState();
    const cases: [ImpactObserverState, string][] = [
      [{ ...good, working: [{ ...good.working[0]!, side: 2 as 1 }] }, 'impact.working[0].side'],
      [{ ...good, waiting: [{ ...good.waiting[0]!, filled: NaN }] }, 'impact.waiting[0].filled'],
      [{ ...good, waiting: 'none' as unknown as [] }, 'impact.waiting'],
      [{ ...good, markets: [{ ...good.markets[0]!, leftOut: { depth: -1, volatility: 0, duration: 0 } }] }, 'impact.markets[0].leftOut.depth'],
      [{ ...good, markets: [good.markets[0]!, good.markets[0]!] }, 'impact.markets[1].market'],
    ];
    const target = observer();
    for (const [state, field] of cases) {
      expect(() => target.importState(state)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument, field }));
      expect(target.exportState()).toEqual(good);
    }
  });
});

describe("'almgren-chriss' without its own eta", () => {
  const HORIZON_SEC = 1_000;
  const spec = { kind: 'almgren-chriss', horizonSec: HORIZON_SEC, stepSec: ROUND_SEC, lambda: 1e-9, sigma: 0.5 } as const;

  it("follows TWAP's schedule until the fit exists, then the trajectory with the fitted eta", async () => {
    const twap = await world({ rounds: 30, execution: { strategy: { kind: 'twap', horizonSec: HORIZON_SEC, stepSec: ROUND_SEC } } });
    const ac = await world({ rounds: 30, execution: { strategy: spec } });
    expect(ac.orders).toHaveLength(30);
    const fitted = ac.before.findIndex((b) => !Number.isNaN(b.eta));
    expect(fitted).toBe(11); // the epoch after the round whose observation made the first fit
    for (let k = 0; k < fitted; k++) expect(ac.orders[k]!.quantity).toBeCloseTo(twap.orders[k]!.quantity, 6);
    for (let k = fitted; k < 30; k++) {
      const { eta, size } = ac.before[k]!;
      const x = (sec: number): number => almgrenChrissHoldings({ size: 1, horizonSec: HORIZON_SEC, sigma: 0.5, eta, lambda: 1e-9 }, sec);
      const elapsed = k * ROUND_SEC;
      expect(ac.orders[k]!.quantity).toBeCloseTo(size * (1 - x(elapsed + ROUND_SEC) / x(elapsed)), 6);
    }
    // Front-loaded: more than TWAP's share of what is left, by more than a rounding.
    const k = fitted;
    expect(ac.orders[k]!.quantity / ac.before[k]!.size).toBeGreaterThan((1.1 * ROUND_SEC) / (HORIZON_SEC - k * ROUND_SEC));
  });

  it('gives the same fit and orders for 0 and 2 scan workers, after a restart from a snapshot, and in replay', async () => {
    const root = mkdtempSync(join(tmpdir(), 'unwind-impact-'));
    dirs.push(root);
    const base = { rounds: 40, overlap: true, execution: { strategy: spec } } as const;
    const inline = await world({ ...base, scanWorkers: 0 });
    expect(Number.isFinite(inline.eta.at(-1))).toBe(true);
    const threaded = await world({ ...base, scanWorkers: 2, journal: { dir: join(root, 'threaded'), log: () => {} } });
    expect(threaded.orders).toEqual(inline.orders);
    expect({ eta: threaded.eta, gamma: threaded.gamma, digest: threaded.digest }).toEqual({ eta: inline.eta, gamma: inline.gamma, digest: inline.digest });

    // Restarted after round 22's fills (orders open, observations waiting for their mid after), from a snapshot.
    const journal = { dir: join(root, 'restarted'), snapshotEveryRecords: 25, log: () => {} };
    let recovered = false;
    const restarted = await world({
      ...base,
      journal,
      onRound: async (i, engine) => {
        if (i !== 22) return engine;
        await engine.close();
        const again = await Engine.start(config({ ...base, journal }));
        recovered = again.recovery?.snapshot !== undefined;
        return again;
      },
    });
    expect(recovered).toBe(true);
    expect(restarted.orders).toEqual(inline.orders);
    expect({ eta: restarted.eta, gamma: restarted.gamma, digest: restarted.digest }).toEqual({ eta: inline.eta, gamma: inline.gamma, digest: inline.digest });

    // Replay of the first journal from its start, into a fresh engine with 2 scan workers.
    const dir = join(root, 'threaded');
    const { core } = await startCore({ ...(readRecordedConfig(dir) as EngineConfig), scanWorkers: 2, autoEpoch: false });
    try {
      const r = await replayRecords(core, readJournal(dir, { repair: false, log: () => {} }));
      if (r.inFlight !== undefined) await r.inFlight;
      expect(core.digest.hex()).toBe(inline.digest);
      expect([core.tables.markets.impactEta[0], core.tables.markets.impactGamma[0]]).toEqual([inline.eta.at(-1), inline.gamma.at(-1)]);
    } finally {
      await core.close();
    }
  });
});
