/**
 * The trigger index (src/engine/trigger-index.ts): the root it computes is the price at which a group reaches the
 * margin-call level (against bisection, over tiers); and on adversarial seeded paths across many markets (bands
 * crossed both ways, jumps, fills, collateral and position changes, isolated and multi-market cross accounts) the
 * engine in 'index' mode gives the same outputs, epoch by epoch, as in 'full' mode, for 0, 1 and 2 scan workers, while
 * the full scan run beside it every epoch finds no group the index missed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Engine, ErrorCode, type EngineConfig, type EpochResult } from '../src/index.js';
import { triggerPrice } from '../src/engine/trigger-index.js';
import { allocateTables } from '../src/tables/layout.js';
import { TableWriter } from '../src/tables/writer.js';
import { marketMaintenance } from '../src/tables/margin.js';
import { mulberry32 } from '../src/sim/random.js';

const SECOND = 1_000_000;
const T0 = 1_767_225_600 * SECOND;
/** Three tiers, so roots fall on different tiers as sizes grow. */
const TIERS = [
  { maxNotional: 20_000, initialMarginFraction: 0.05, maintenanceMarginFraction: 0.03 },
  { maxNotional: 200_000, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 },
  { maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 },
];

describe('triggerPrice', () => {
  it('is where g(p) = equity - h * maintenance changes sign: a long is a candidate below it, a short above it', () => {
    const t = allocateTables({ markets: 1, accounts: 4, positions: 64, positionsPerAccount: 4, candidates: 16, output: 16 });
    const w = new TableWriter(t, 1);
    w.prepareMarket({ id: 1, price: 100, tiers: TIERS })();
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 5_000, noNaN: true }),
        fc.boolean(),
        fc.double({ min: 50, max: 200, noNaN: true }),
        fc.double({ min: -50_000, max: 100_000, noNaN: true }),
        fc.double({ min: 0, max: 20_000, noNaN: true }),
        fc.constantFrom(1.05, 1.2, 2),
        (size, long, entry, otherEquity, otherMaintenance, h) => {
          const q = long ? size : -size;
          const g = (p: number): number => otherEquity + q * (p - entry) - h * (otherMaintenance + marketMaintenance(t, 0, size * p));
          const root = triggerPrice(t, 0, q, entry, otherEquity, otherMaintenance, h);
          // Just on the safe side of the root the group is not a candidate; just beyond it, it is.
          const eps = 1e-6 * Math.max(1, root);
          if (long) {
            if (root === Infinity) return;
            if (root - eps > 0) expect(g(root - eps)).toBeLessThan(0);
            expect(g(root + eps)).toBeGreaterThanOrEqual(-1e-6 * (Math.abs(otherEquity) + otherMaintenance + size * entry));
          } else {
            if (root === 0) return;
            expect(g(root + eps)).toBeLessThan(0);
            if (root - eps > 0) expect(g(root - eps)).toBeGreaterThanOrEqual(-1e-6 * (Math.abs(otherEquity) + otherMaintenance + size * entry));
          }
        },
      ),
      { seed: 16, numRuns: 2_000 },
    );
  });
});

const MARKETS = 8;

interface Run {
  readonly epochs: string[];
  readonly missed: number;
  readonly proposed: number;
  readonly candidates: number;
  readonly bandResets: number;
}

/**
 * A seeded book of 300 accounts over 8 markets: cross accounts in 1 to 5 markets, a fifth of the positions isolated,
 * collateral near maintenance for many. Each epoch every market takes a random walk step, with jumps of up to 8%
 * both ways (well past the 2% band) and a few markets left still; a fifth of the orders fill, collateral and
 * positions change between epochs.
 */
async function run(config: Partial<EngineConfig>, epochs = 60, seed = 9): Promise<Run> {
  const engine = await Engine.start({ autoEpoch: false, capacity: { markets: MARKETS, accounts: 400, positions: 3_000, positionsPerAccount: 8 }, ...config });
  const random = mulberry32(seed);
  const out: string[] = [];
  try {
    const prices = Array.from({ length: MARKETS }, (_, m) => 10 * (m + 1));
    for (let m = 0; m < MARKETS; m++) engine.addMarket({ id: m + 1, price: prices[m]!, tiers: TIERS, positionCapacity: 360 });
    for (let m = 0; m < MARKETS; m++) engine.depositInsurance(m + 1, 1e7);
    for (let a = 1; a <= 300; a++) {
      let gross = 0;
      const markets = 1 + Math.floor(random() * 5);
      for (let k = 0; k < markets; k++) {
        const m = Math.floor(random() * MARKETS);
        const notional = 1_000 + random() * 60_000;
        const size = ((random() < 0.6 ? 1 : -1) * notional) / prices[m]!;
        const isolated = random() < 0.2 ? notional * (0.04 + random() * 0.2) : null;
        if (a === 1 && k === 0) engine.addAccount(a, 0);
        else if (k === 0) engine.addAccount(a, 0);
        engine.upsertPosition({ account: a, market: m + 1, size, entryPrice: prices[m]! * (0.97 + random() * 0.06), isolatedCollateral: isolated });
        if (isolated === null) gross += notional;
      }
      engine.setCollateral(a, gross * (0.04 + random() * 0.3));
    }
    for (let e = 0; e < epochs; e++) {
      const time = T0 + e * SECOND;
      const moves = [];
      for (let m = 0; m < MARKETS; m++) {
        if (random() < 0.25) continue; // still
        const jump = random() < 0.1 ? (random() - 0.5) * 0.16 : (random() - 0.5) * 0.01;
        prices[m] = prices[m]! * (1 + jump);
        moves.push({ market: m + 1, price: prices[m]!, eventTimeUs: time });
      }
      if (moves.length > 0) engine.pushPrices(moves);
      const r: EpochResult = await engine.step();
      out.push(JSON.stringify({ orders: r.orders, marginCalls: r.marginCalls, stateChanges: r.stateChanges, takeovers: r.takeovers }));
      r.orders.forEach((o, i) => {
        if (i % 5 === 0) engine.fill({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity * (0.3 + random() * 0.7), price: o.limitPrice, eventTimeUs: time });
        else engine.expire(o.id);
      });
      // Deposits, withdrawals and new positions between epochs.
      for (let k = 0; k < 5; k++) {
        const a = 1 + Math.floor(random() * 300);
        const collateral = engine.account(a).collateral;
        engine.setCollateral(a, Math.max(0, collateral * (0.7 + random() * 0.6)));
      }
      const a = 1 + Math.floor(random() * 300);
      const m = Math.floor(random() * MARKETS);
      engine.upsertPosition({ account: a, market: m + 1, size: ((random() < 0.5 ? 1 : -1) * 20_000) / prices[m]!, entryPrice: prices[m]! });
    }
    const s = engine.scanStats();
    return { epochs: out, missed: s?.missed ?? 0, proposed: s?.proposed ?? 0, candidates: s?.candidates ?? 0, bandResets: s?.bandResets ?? 0 };
  } finally {
    await engine.close();
  }
}

describe("'index' scan mode", () => {
  it('gives the same outputs as a full scan at every epoch, for 0, 1 and 2 workers, and misses no group', async () => {
    const full = await run({ scanWorkers: 0, scan: { mode: 'full' } });
    const liquidations = full.epochs.filter((e) => !e.startsWith('{"orders":[]')).length;
    expect(liquidations).toBeGreaterThan(10); // the paths do liquidate
    // The full scan beside the index every epoch: the safety net's count of what the index missed.
    const checked = await run({ scanWorkers: 0, scan: { mode: 'index', fullScanEvery: 1 } });
    expect(checked.missed).toBe(0);
    expect(checked.bandResets).toBeGreaterThan(20); // the jumps cross the bands
    expect(checked.epochs).toEqual(full.epochs);
    for (const scanWorkers of [0, 1, 2]) {
      // The index alone (the safety net never runs within these epochs).
      const alone = await run({ scanWorkers, scan: { mode: 'index', fullScanEvery: 1_000_000 } });
      expect(alone.epochs, `${scanWorkers} workers`).toEqual(full.epochs);
      // It visits a small part of the book (about 1,000 positions): the positions whose trigger the marks crossed,
      // about twice the groups actually below the margin-call level on these near-margin accounts.
      expect(alone.proposed / 60).toBeLessThan(150);
      expect(alone.proposed).toBeGreaterThanOrEqual(alone.candidates);
    }
  });

  it('stays exact on other seeds and a tighter band (property over seeds)', async () => {
    for (const seed of [1, 2, 3]) {
      const full = await run({ scanWorkers: 0, scan: { mode: 'full' } }, 30, seed);
      const index = await run({ scanWorkers: 0, scan: { mode: 'index', fullScanEvery: 1, band: 0.005 } }, 30, seed);
      expect(index.missed, `seed ${seed}`).toBe(0);
      expect(index.epochs, `seed ${seed}`).toEqual(full.epochs);
    }
  });

  it('the safety net counts a group the index missed, and the executor still gets it', async () => {
    // Collateral written into the tables behind the writer's back: the index never hears of it, the full scan does.
    for (const isolated of [false, true]) {
      const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 4, positions: 4 }, scan: { mode: 'index', fullScanEvery: 2 } });
      try {
        engine.addMarket({ id: 1, price: 100, tiers: TIERS });
        engine.addAccount(1, isolated ? 0 : 5_000);
        engine.upsertPosition({ account: 1, market: 1, size: 100, entryPrice: 100, isolatedCollateral: isolated ? 5_000 : null });
        expect((await engine.step()).orders).toEqual([]); // epoch 1: the index alone
        if (isolated) engine.tables.positions.isolatedCollateral[0] = 10;
        else engine.tables.accounts.collateral[0] = 10;
        const r = await engine.step(); // epoch 2: the full scan beside it
        expect(engine.scanStats()!.missed, isolated ? 'isolated' : 'cross').toBe(1);
        expect(r.orders.map((o) => o.account)).toEqual([1]);
      } finally {
        await engine.close();
      }
    }
  });

  it('rejects a bad scan config with the path', async () => {
    const bad = async (scan: unknown, field: string): Promise<void> => {
      await expect(Engine.start({ scanWorkers: 0, scan: scan as EngineConfig['scan'] })).rejects.toMatchObject({ code: ErrorCode.InvalidConfig, field });
    };
    await bad({ mode: 'partial' }, 'scan.mode');
    await bad({ fullScanEvery: 0 }, 'scan.fullScanEvery');
    await bad({ fullScanEvery: 1.5 }, 'scan.fullScanEvery');
    await bad({ band: 0 }, 'scan.band');
    await bad({ band: 0.5 }, 'scan.band');
  });
});
