/**
 * The 'backstop' strategy (src/executor/executor.ts, src/clearing/clearing.ts `takeOver`): a vault account takes a
 * liquidated position off the book at `oracle * (1 -/+ discount)`, never worse for the account than the fillable
 * price; the account's side settles as a fill (fee to the fund, the fund's cover below the bankruptcy value), the
 * vault's position grows by what it took, and money is conserved to the atom. A vault whose health would fall below
 * its limit takes nothing: the work goes to the book. Deterministic across worker counts and replay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, ErrorCode, type EngineConfig, type Takeover } from '../src/index.js';
import { fillablePrice } from '../src/domain/liquidation.js';
import { entry } from '../src/ledger/ledger.js';
import { replayJournal } from '../src/engine/replay.js';
import { mulberry32 } from '../src/sim/random.js';

const SECOND = 1_000_000;
const T0 = 1_767_225_600 * SECOND;
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];
const VAULT = 900;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

type Execution = EngineConfig['execution'];
const backstop = (extra: Record<string, number> = {}): Execution => ({ strategy: { kind: 'backstop', vault: VAULT, ...extra } });

interface World {
  readonly engine: Engine;
  readonly takeovers: Takeover[];
}

/**
 * Account 1 long 100 at 100 with `collateral`; the vault holds `vaultCollateral` and, optionally, a position. The
 * price then moves to `price`.
 */
async function world(execution: Execution, o: { collateral?: number; vaultCollateral?: number; vaultSize?: number; workers?: number; journal?: string; sizing?: EngineConfig['sizing'] } = {}): Promise<World> {
  const engine = await Engine.start({
    scanWorkers: o.workers ?? 0,
    autoEpoch: false,
    capacity: { markets: 2, accounts: 8, positions: 16 },
    execution,
    ...(o.sizing === undefined ? {} : { sizing: o.sizing }),
    ...(o.journal === undefined ? {} : { journal: { dir: o.journal, snapshotEveryRecords: 5, log: () => {} } }),
  });
  const takeovers: Takeover[] = [];
  engine.onTakeover((t) => takeovers.push(t));
  engine.addMarket({ id: 1, price: 100, tiers: TIERS });
  engine.depositInsurance(1, 10_000);
  engine.addAccount(1, o.collateral ?? 1_000);
  engine.upsertPosition({ account: 1, market: 1, size: 100, entryPrice: 100 });
  engine.addAccount(VAULT, o.vaultCollateral ?? 1_000_000);
  if (o.vaultSize !== undefined) engine.upsertPosition({ account: VAULT, market: 1, size: o.vaultSize, entryPrice: 100 });
  return { engine, takeovers };
}

async function at(engine: Engine, sec: number, price: number): Promise<Awaited<ReturnType<Engine['step']>>> {
  engine.pushPrices([{ market: 1, price, eventTimeUs: T0 + sec * SECOND }]);
  return engine.step();
}

describe("'backstop': a vault takes the position off the book", () => {
  it('takes the sized quantity at the oracle less the discount, settles the account as a fill, and conserves money', async () => {
    // At 94: equity 1,000 - 600 = 400, maintenance 5% of 9,400 = 470: health 0.85, above the emergency level (2/3).
    const { engine, takeovers } = await world(backstop({ discount: 0.002 }));
    try {
      const r = await at(engine, 0, 94);
      expect(r.orders).toEqual([]); // nothing goes to the book
      expect(r.takeovers).toHaveLength(1);
      expect(takeovers).toHaveLength(1);
      const t = takeovers[0]!;
      // The vault's price: 94 * 0.998, unless the fillable price is better for the account.
      const fillable = fillablePrice(94, 100, 0.05 * 100 * 94, 1_000 - 600, 0.05 * 100 * 94);
      expect(t.price).toBeCloseTo(Math.max(94 * 0.998, fillable), 9);
      expect(t.vault).toBe(VAULT);
      const account = engine.account(1).positions[0]!;
      expect(account.size).toBeCloseTo(100 - t.quantity, 9);
      const vault = engine.account(VAULT).positions[0]!;
      expect(vault.size).toBeCloseTo(t.quantity, 9);
      expect(vault.entryPrice).toBeCloseTo(t.price, 9);
      expect(t.vaultSizeAfter).toBeCloseTo(t.quantity, 9);
      // The account's side is a fill: realized PnL at the vault's price, the fee into the fund.
      expect(t.settlement.realizedPnl).toBeCloseTo(t.quantity * (t.price - 100), 6);
      expect(t.settlement.fee).toBeGreaterThan(0);
      expect(engine.insuranceFund(1)).toBeCloseTo(10_000 + t.settlement.fee, 6);
      // The vault paid nothing yet: its collateral is untouched; the account's fell by its loss and the fee.
      expect(engine.account(VAULT).collateral).toBe(1_000_000);
      expect(engine.ledger.balance(entry.account(VAULT))).toBe(1_000_000n * 10n ** 6n);
      expect(engine.account(1).collateral).toBeCloseTo(1_000 + t.settlement.realizedPnl - t.settlement.fee, 6);
      expect(engine.ledger.total()).toBe(0n);
      // The account went 'backstopped' in the lifecycle.
      const next = await at(engine, 1, 94);
      expect(r.stateChanges.map((c) => [c.account, c.to])).toEqual([[1, 'liquidating']]);
      expect(next.stateChanges.map((c) => [c.account, c.from, c.to])).toEqual([[1, 'liquidating', 'backstopped']]);
    } finally {
      await engine.close();
    }
  });

  it('a vault whose health would fall below its limit takes nothing: the work goes to the book as an IOC', async () => {
    // A vault with 600 of collateral taking q base at about 94 has health 600 / (4.7 q): above 1 for q < 127, never 1,000.
    const { engine, takeovers } = await world(backstop({ minVaultHealth: 1_000 }), { vaultCollateral: 600 });
    try {
      const r = await at(engine, 0, 94);
      expect(r.takeovers).toEqual([]);
      expect(takeovers).toEqual([]);
      expect(r.orders).toHaveLength(1);
      expect(engine.account(VAULT).positions).toEqual([]);
    } finally {
      await engine.close();
    }
    // The same vault with a limit it can meet takes it.
    const ok = await world(backstop({ minVaultHealth: 1 }), { vaultCollateral: 600 });
    try {
      const r = await at(ok.engine, 0, 94);
      expect(r.orders).toEqual([]);
      expect(r.takeovers).toHaveLength(1);
    } finally {
      await ok.engine.close();
    }
  });

  it('below the emergency health it takes the whole position; a short is bought back at the oracle plus the discount', async () => {
    const { engine, takeovers } = await world(backstop({ discount: 0.01 }), { collateral: 600 });
    try {
      // Long 100 at 100 with 600: at 95 equity 100, maintenance 475, health 0.21 < 2/3.
      const r = await at(engine, 0, 95);
      expect(r.takeovers.map((t) => t.quantity)).toEqual([100]);
      expect(engine.account(1).positions[0]?.size ?? 0).toBe(0);
      expect(engine.account(VAULT).positions[0]!.size).toBe(100);
      expect(engine.ledger.total()).toBe(0n);
      expect(takeovers[0]!.settlement.sizeAfter).toBe(0);
    } finally {
      await engine.close();
    }
    const short = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 4, positions: 4 }, execution: backstop({ discount: 0.01 }) });
    try {
      const seen: Takeover[] = [];
      short.onTakeover((t) => seen.push(t));
      short.addMarket({ id: 1, price: 100, tiers: TIERS });
      short.addAccount(1, 600);
      short.upsertPosition({ account: 1, market: 1, size: -100, entryPrice: 100 });
      short.addAccount(VAULT, 1e6);
      await at(short, 0, 105);
      const t = seen[0]!;
      expect(t.quantity).toBe(100);
      // The vault sells to the short at 105 * 1.01 unless the fillable price (higher for a buy) is better for the account.
      expect(t.price).toBeLessThanOrEqual(105 * 1.01 + 1e-9);
      expect(short.account(VAULT).positions[0]!.size).toBe(-100);
      expect(short.ledger.total()).toBe(0n);
    } finally {
      await short.close();
    }
  });

  it("a vault holding the opposite side closes it first, its PnL realized against the market's clearing", async () => {
    // The vault is short 40 at 100; it takes a long of 100 at ~95: 40 of it closes its short with a profit.
    const { engine, takeovers } = await world(backstop(), { collateral: 600, vaultSize: -40 });
    try {
      await at(engine, 0, 95);
      const t = takeovers[0]!;
      expect(t.quantity).toBe(100);
      expect(t.vaultSizeAfter).toBeCloseTo(60, 9);
      expect(t.vaultEntryPrice).toBeCloseTo(t.price, 9); // the flipped part opened at the takeover price
      expect(t.vaultRealizedPnl).toBeCloseTo(40 * (100 - t.price), 6);
      expect(engine.account(VAULT).collateral).toBeCloseTo(1e6 + t.vaultRealizedPnl, 6);
      expect(engine.ledger.total()).toBe(0n);
    } finally {
      await engine.close();
    }
  });

  it("'adaptive' goes to its urgent backstop below the emergency health and while no volatility is known", async () => {
    const execution: Execution = {
      strategy: { kind: 'adaptive', horizonSec: 60, maxCrossProbability: 0.05, patient: { kind: 'twap', horizonSec: 60, stepSec: 10 }, urgent: { kind: 'backstop', vault: VAULT } },
    };
    const { engine } = await world(execution);
    try {
      const r = await at(engine, 0, 94); // no volatility known yet: urgent
      expect(r.orders).toEqual([]);
      expect(r.takeovers).toHaveLength(1);
    } finally {
      await engine.close();
    }
  });

  it('never takes at a price worse for the account than its fillable price, nor better for the vault than the discount (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: 0.9, max: 0.999, noNaN: true }),
        fc.double({ min: 0, max: 0.05, noNaN: true }),
        fc.double({ min: 400, max: 1_000, noNaN: true }),
        async (drop, discount, collateral) => {
          const { engine, takeovers } = await world(backstop({ discount }), { collateral });
          try {
            const price = 100 * drop;
            await at(engine, 0, price);
            for (const t of takeovers) {
              const equity = collateral + 100 * (price - 100);
              const mm = 0.05 * 100 * price;
              const fillable = fillablePrice(price, 100, mm, equity, mm);
              expect(t.price).toBeGreaterThanOrEqual(fillable - 1e-9);
              expect(t.price).toBeGreaterThanOrEqual(price * (1 - discount) - 1e-9);
              expect(t.price).toBeLessThanOrEqual(Math.max(price * (1 - discount), fillable) + 1e-9);
            }
            expect(engine.ledger.total()).toBe(0n);
          } finally {
            await engine.close();
          }
        },
      ),
      { seed: 15, numRuns: 25 },
    );
  });

  it('rejects a bad backstop config with the path', async () => {
    const bad = async (execution: unknown, field: string): Promise<void> => {
      await expect(Engine.start({ scanWorkers: 0, execution: execution as Execution })).rejects.toMatchObject({ code: ErrorCode.InvalidConfig, field });
    };
    await bad({ strategy: { kind: 'backstop' } }, 'execution.strategy.vault');
    await bad({ strategy: { kind: 'backstop', vault: 1.5 } }, 'execution.strategy.vault');
    await bad({ strategy: { kind: 'backstop', vault: 1, discount: 0.5 } }, 'execution.strategy.discount');
    await bad({ strategy: { kind: 'backstop', vault: 1, minVaultHealth: 0.9 } }, 'execution.strategy.minVaultHealth');
    await bad({ strategy: { kind: 'adaptive', horizonSec: 1, maxCrossProbability: 0.1, patient: { kind: 'backstop', vault: 1 } } }, 'execution.strategy.patient.kind');
    await bad({ strategy: { kind: 'adaptive', horizonSec: 1, maxCrossProbability: 0.1, patient: { kind: 'twap', horizonSec: 1, stepSec: 1 }, urgent: { kind: 'twap', horizonSec: 1, stepSec: 1 } } }, 'execution.strategy.urgent.kind');
  });
});

/** A seeded book of 40 accounts that a falling price liquidates, half of them into a vault with a tight limit. */
async function seededRun(workers: number, journal?: string): Promise<{ lines: string[]; digest: string }> {
  const engine = await Engine.start({
    scanWorkers: workers,
    autoEpoch: false,
    capacity: { markets: 2, accounts: 64, positions: 128 },
    execution: { strategy: { kind: 'ioc' }, markets: [{ market: 1, strategy: { kind: 'backstop', vault: VAULT, discount: 0.003, minVaultHealth: 4 } }] },
    ...(journal === undefined ? {} : { journal: { dir: journal, snapshotEveryRecords: 7, log: () => {} } }),
  });
  const lines: string[] = [];
  engine.onTakeover((t) => lines.push(`takeover ${t.id} ${t.vault} ${t.quantity} ${t.price}`));
  engine.onOrder((o) => lines.push(`order ${o.id} ${o.quantity} ${o.limitPrice}`));
  try {
    const random = mulberry32(7);
    for (const id of [1, 2]) engine.addMarket({ id, price: 100, tiers: TIERS });
    engine.depositInsurance(1, 1e5);
    engine.depositInsurance(2, 1e5);
    engine.addAccount(VAULT, 40_000);
    for (let a = 1; a <= 40; a++) {
      engine.addAccount(a, 300 + Math.floor(random() * 700));
      engine.upsertPosition({ account: a, market: 1 + (a % 2), size: (random() < 0.7 ? 1 : -1) * (50 + Math.floor(random() * 100)), entryPrice: 100 });
    }
    for (let step = 0; step < 12; step++) {
      const price = 100 * (1 + 0.012 * Math.sin(step) - 0.006 * step);
      engine.pushPrices([1, 2].map((market) => ({ market, price: price * (market === 2 ? 1.01 : 1), eventTimeUs: T0 + step * SECOND })));
      const r = await engine.step();
      // Half of the book's orders fill whole at their limit; the rest expire.
      r.orders.forEach((o, i) => {
        if (i % 2 === 0) engine.fill({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs: T0 + step * SECOND });
        else engine.expire(o.id);
      });
    }
    await engine.step();
    return { lines, digest: engine.outputDigest() };
  } finally {
    await engine.close();
  }
}

describe('backstop determinism', () => {
  it('the same takeovers and orders for 0, 1 and 2 scan workers, and a journal replay reproduces the digest', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'unwind-backstop-')), 'journal');
    dirs.push(dir);
    const base = await seededRun(0, dir);
    expect(base.lines.filter((l) => l.startsWith('takeover')).length).toBeGreaterThan(0);
    expect(base.lines.filter((l) => l.startsWith('order')).length).toBeGreaterThan(0); // the vault's limit sent some to the book
    for (const workers of [1, 2]) expect((await seededRun(workers)).lines).toEqual(base.lines);
    expect((await replayJournal(dir, { workers: 2 })).outputDigest).toBe(base.digest);
  });
});
