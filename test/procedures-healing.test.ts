/**
 * Liquidations that heal (docs/domain.md section 2, README "Liquidation procedures"): the fee's k bound on the released
 * maintenance margin, the configuration that keeps it healing, sizing's floors, the sticky liquidation state that
 * keeps a group ordered until it leaves, and the caps admitting in the executor's order without dust.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mulberry32 } from '../src/sim/random.js';
import { Engine, resolveConfig, type EngineConfig, type EpochResult, type LiquidationOrder } from '../src/index.js';
import {
  DEFAULT_SIZING_POLICY,
  closeQuantity,
  compileTiers,
  fillablePrice,
  healingShareBound,
  liquidationFee,
  maintenanceAtMark,
  maintenanceMargin,
  stateAfterClose,
  type SizingInput,
} from '../src/domain/index.js';

let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

async function started(config: EngineConfig): Promise<Engine> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, ...config });
  engines.push(engine);
  return engine;
}

const oneTier = (mmf: number) => [{ maxNotional: null, initialMarginFraction: 2 * mmf, maintenanceMarginFraction: mmf }];

/** |x - y| <= tol * max(|x|, |y|). */
function expectRelative(actual: number, expected: number, tol = 1e-9): void {
  const scale = Math.max(Math.abs(actual), Math.abs(expected));
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(tol * scale);
}

const DEFAULTS = resolveConfig({ scanWorkers: 0 });
const BA = DEFAULTS.bankruptcyAdjustment;
const SMMR = DEFAULTS.spreadToMaintenanceMarginRatio;
const K = DEFAULTS.fees.maxMaintenanceShare;
const CAP = DEFAULTS.fees.maxFeeFraction;
const TARGET = DEFAULTS.sizing.targetHealth;
const EMERGENCY = DEFAULTS.sizing.emergencyHealth;

/**
 * One position alone in its group (isolated, or the only cross position), one tier of maintenance fraction `mmf`,
 * at health h, oracle = mark, sized from its notional; the fill at the fillable price (the engine's own function).
 */
function singlePosition(h: number, mmf: number, notionalValue: number, mark: number, side: 1 | -1): SizingInput {
  const schedule = compileTiers(oneTier(mmf));
  const size = (side * notionalValue) / mark;
  const mm = maintenanceMargin(Math.abs(size) * mark, schedule);
  const equity = h * mm;
  return {
    size,
    markPrice: mark,
    oraclePrice: mark,
    fillPrice: fillablePrice(mark, size, mm, equity, mm, BA, SMMR),
    equity,
    totalMaintenance: mm,
    maintenanceAt: maintenanceAtMark(schedule, mark),
    feeFraction: CAP,
    maintenanceShare: K,
  };
}

/** a = BA * SMMR * (1 - h): the fillable price's concession per quote of maintenance margin (docs/domain.md section 2). */
const concession = (h: number): number => BA * SMMR * (1 - h);

/**
 * A number uniform in [min, max] on a grid of 2^30 steps (fc.double picks uniformly among representable doubles,
 * which crowds ranges that span several binades towards their lower end).
 */
const uniform = (min: number, max: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: 2 ** 30 }).map((i) => min + ((max - min) * i) / 2 ** 30);
/** A share of a position in (0, 1): uniform, or crowded towards tiny shares. */
const shareArb = fc.oneof(uniform(1e-6, 1 - 1e-6), fc.double({ min: 1e-6, max: 1 - 1e-6, noNaN: true }));

/** Inputs of the healing property: health above the emergency level and below 1; k * mmf under the fee cap. */
const healthArb = uniform(EMERGENCY + 1e-6, 1 - 1e-6);
const mmfArb = uniform(0.005, 0.029);
const markArb = uniform(1, 60_000);
const sideArb = fc.constantFrom<1 | -1>(1, -1);

describe('the healing fee rule (docs/domain.md section 2)', () => {
  it('takes the least of the surplus, k times the released margin and the cap on the fill value, and nothing without a surplus', () => {
    const fees = { maxFeeFraction: 0.015, maxMaintenanceShare: 0.5 };
    expect(liquidationFee(100, 50, 10_000, fees)).toBe(25); // k bound: 0.5 * 50
    expect(liquidationFee(10, 50, 10_000, fees)).toBe(10); // the surplus
    expect(liquidationFee(100, 50, 1_000, fees)).toBe(15); // the cap: 1.5% of 1,000
    expect(liquidationFee(100, -50, -1_000, fees)).toBe(15); // magnitudes
    expect(liquidationFee(0, 50, 10_000, fees)).toBe(0);
    expect(liquidationFee(-5, 50, 10_000, fees)).toBe(0);
  });

  it('has the defaults the healing formula assumes: BA 1, SMMR 0.1, k 0.5, cap 1.5%, target 1.05, emergency 2/3', () => {
    expect([BA, SMMR, K, CAP, TARGET, EMERGENCY]).toEqual([1, 0.1, 0.5, 0.015, 1.05, 2 / 3]);
  });

  it('moves health from h to (h - phi (a + k)) / (1 - phi) when a share phi closes at the fillable price, which is above h', () => {
    fc.assert(
      fc.property(healthArb, shareArb, mmfArb, uniform(1_000, 500_000), markArb, sideArb, (h, phi, mmf, value, mark, side) => {
        const input = singlePosition(h, mmf, value, mark, side);
        const after = stateAfterClose(input, phi * Math.abs(input.size));
        const a = concession(h);
        const expected = (h - phi * (a + K)) / (1 - phi);
        expectRelative(after.health, expected);
        expect(after.health).toBeGreaterThan(h);
      }),
      { seed: 20_251_206, numRuns: 500 },
    );
  });

  it('closes the share (H - h) / (H - a - k) of the position to reach the target H when no floor or cap applies', () => {
    fc.assert(
      fc.property(healthArb, mmfArb, uniform(5_000, 90_000), markArb, sideArb, (h, mmf, value, mark, side) => {
        const share = (TARGET - h) / (TARGET - concession(h) - K);
        // Outside these the min-order floor (close < 1,000) or the min-notional floor (remainder < 1,000) applies.
        fc.pre(share * value > DEFAULT_SIZING_POLICY.minOrderNotional * 1.001);
        fc.pre((1 - share) * value > DEFAULT_SIZING_POLICY.minNotional * 1.001);
        const input = singlePosition(h, mmf, value, mark, side);
        const d = closeQuantity(input, DEFAULTS.sizing);
        expect(d).not.toBeNull();
        expect(d!.reason).toBe('restore-target');
        expect(d!.bound).toBeNull();
        expectRelative(d!.quantity, share * Math.abs(input.size));
        expectRelative(d!.healthAfter, TARGET);
      }),
      { seed: 7_302, numRuns: 400 },
    );
  });

  it('raises health on every partial close above the emergency level under any accepted BA, SMMR and emergency level, with the resolved k', () => {
    fc.assert(
      fc.property(
        uniform(1, 3),
        uniform(0, 1.5),
        uniform(0.5, 0.95),
        uniform(1e-6, 1 - 1e-6),
        shareArb,
        uniform(0.005, 0.15),
        sideArb,
        (ba, smmr, emergency, at, phi, mmf, side) => {
          const given = { scanWorkers: 0, bankruptcyAdjustment: ba, spreadToMaintenanceMarginRatio: smmr, sizing: { emergencyHealth: emergency } };
          if (healingShareBound(emergency, ba, smmr) < 0) {
            expect(() => resolveConfig(given)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', field: 'sizing.emergencyHealth' }));
            return;
          }
          const config = resolveConfig(given);
          const k = config.fees.maxMaintenanceShare;
          expect(k).toBeLessThanOrEqual(0.5);
          expect(k).toBeGreaterThanOrEqual(0);
          const h = emergency + 1e-6 + at * (1 - emergency - 2e-6); // in (emergency, 1)
          const schedule = compileTiers(oneTier(mmf));
          const mark = 100;
          const size = (side * 20_000) / mark;
          const mm = maintenanceMargin(Math.abs(size) * mark, schedule);
          const input: SizingInput = {
            size,
            markPrice: mark,
            oraclePrice: mark,
            fillPrice: fillablePrice(mark, size, mm, h * mm, mm, ba, smmr),
            equity: h * mm,
            totalMaintenance: mm,
            maintenanceAt: maintenanceAtMark(schedule, mark),
            feeFraction: config.fees.maxFeeFraction,
            maintenanceShare: k,
          };
          expect(stateAfterClose(input, phi * Math.abs(size)).health).toBeGreaterThan(h);
        },
      ),
      { seed: 1_500_000, numRuns: 500 },
    );
  });

  it('brings an isolated position filled at its limit price to the target health the formula predicts', async () => {
    // Through the engine: the order's quantity is the formula's share, and the ledger's settlement (fee rounded down
    // to atoms) lands on the target health.
    const samples = fc.sample(
      fc.record({ h: uniform(0.7, 0.95), mmf: mmfArb, value: uniform(20_000, 90_000), side: sideArb }),
      { seed: 99, numRuns: 8 },
    );
    for (const { h, mmf, value, side } of samples) {
      const engine = await started({ capacity: { markets: 1, accounts: 2, positions: 2 } });
      const mark = 2_000;
      engine.addMarket({ id: 0, price: mark, tiers: oneTier(mmf) });
      engine.depositInsurance(0, 1e6);
      engine.addAccount(1, 0);
      const size = (side * value) / mark;
      const mm = Math.abs(size) * mark * mmf;
      engine.upsertPosition({ account: 1, market: 0, size, entryPrice: mark, isolatedCollateral: h * mm });
      const r = await engine.step();
      expect(r.orders).toHaveLength(1);
      const o = r.orders[0]!;
      expect(o.reason).toBe('isolated-maintenance');
      expectRelative(o.quantity, ((TARGET - h) / (TARGET - concession(h) - K)) * Math.abs(size));
      engine.fill({ orderId: o.id, account: 1, market: 0, quantity: o.quantity, price: o.limitPrice, eventTimeUs: 1 });
      await engine.step();
      const isolatedHealth = engine.account(1).positions[0]!.health!;
      expectRelative(isolatedHealth, TARGET, 1e-6);
      expect(isolatedHealth).toBeGreaterThanOrEqual(TARGET - 1e-6);
    }
  });
});

describe('configuration of the fillable price and the fee share', () => {
  it('accepts dYdX mainnet SMMR 1.5 and lowers the default k to the healing bound 1/6', async () => {
    const engine = await started({ spreadToMaintenanceMarginRatio: 1.5 });
    expect(engine.config.spreadToMaintenanceMarginRatio).toBe(1.5);
    expect(healingShareBound(2 / 3, 1, 1.5)).toBeCloseTo(1 / 6, 12);
    expect(Math.abs(engine.config.fees.maxMaintenanceShare - 1 / 6)).toBeLessThanOrEqual(1e-12);
  });

  it('keeps the default k at 0.5 where the bound allows it', () => {
    expect(healingShareBound(2 / 3, 1, 0.1)).toBeGreaterThan(0.5);
    expect(resolveConfig({ scanWorkers: 0 }).fees.maxMaintenanceShare).toBe(0.5);
  });

  it('rejects an explicit k above the healing bound, naming fees.maxMaintenanceShare', async () => {
    await expect(started({ fees: { maxMaintenanceShare: 0.5 }, spreadToMaintenanceMarginRatio: 1.5 })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      field: 'fees.maxMaintenanceShare',
    });
  });

  it('accepts an explicit k at the healing bound', async () => {
    const bound = healingShareBound(2 / 3, 1, 1.5);
    const engine = await started({ fees: { maxMaintenanceShare: bound }, spreadToMaintenanceMarginRatio: 1.5 });
    expect(engine.config.fees.maxMaintenanceShare).toBe(bound);
  });

  it('rejects a bankruptcy adjustment below 1, naming bankruptcyAdjustment', async () => {
    await expect(started({ bankruptcyAdjustment: 0.5 })).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'bankruptcyAdjustment' });
  });

  it('rejects a concession that no fee can heal just above the emergency level, naming sizing.emergencyHealth', async () => {
    // 2/3 - min(1/3, 1) * 3 = -1/3 < 0.
    expect(healingShareBound(2 / 3, 1, 3)).toBeLessThan(0);
    await expect(started({ spreadToMaintenanceMarginRatio: 3 })).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'sizing.emergencyHealth' });
  });
});

describe('sizing floors', () => {
  it('sizes a group at health between 1 and the target, and gives no decision at the target', () => {
    const above1 = singlePosition(1.01, 0.02, 50_000, 100, 1);
    const d = closeQuantity(above1, DEFAULTS.sizing);
    expect(d).not.toBeNull();
    expect(d!.healthAfter).toBeGreaterThanOrEqual(TARGET - 1e-12);
    expect(closeQuantity(singlePosition(TARGET, 0.02, 50_000, 100, 1), DEFAULTS.sizing)).toBeNull();
    expect(closeQuantity(singlePosition(1.2, 0.02, 50_000, 100, 1), DEFAULTS.sizing)).toBeNull();
  });

  it('raises a close worth less than the minimum order to the minimum order', () => {
    // Health 0.99 on 20,000 of notional needs about 0.06 / 0.551 of it (2,180): raise the minimum order to 5,000.
    const input = singlePosition(0.99, 0.02, 20_000, 100, -1);
    const d = closeQuantity(input, { ...DEFAULTS.sizing, minOrderNotional: 5_000 });
    expect(d!.reason).toBe('min-order');
    expectRelative(d!.quantity * 100, 5_000);
    expect(d!.healthAfter).toBeGreaterThan(TARGET);
  });
});

/**
 * The issue's stuck account: 0.9 long at 1,000 (maintenance 12.5%, 112.5) and 100 long at 100 (maintenance 5%, 500),
 * collateral 520.625: TMMR 612.5, health 0.85.
 */
async function stuckAccount(): Promise<Engine> {
  const engine = await started({ capacity: { markets: 2, accounts: 2, positions: 4 } });
  engine.addMarket({ id: 0, symbol: 'A', price: 1_000, tiers: oneTier(0.125) });
  engine.addMarket({ id: 1, symbol: 'B', price: 100, tiers: oneTier(0.05) });
  engine.depositInsurance(0, 1e6);
  engine.depositInsurance(1, 1e6);
  engine.addAccount(1, 520.625);
  engine.upsertPosition({ account: 1, market: 0, size: 0.9, entryPrice: 1_000 });
  engine.upsertPosition({ account: 1, market: 1, size: 100, entryPrice: 100 });
  return engine;
}

function fillAll(engine: Engine, orders: readonly LiquidationOrder[], eventTimeUs: number): void {
  if (orders.length === 0) return;
  engine.fill(orders.map((o) => ({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs })));
}

describe('sticky liquidation of a cross group', () => {
  it('orders both positions of the stuck account in one step and leaves liquidation once they fill at their limits', async () => {
    const engine = await stuckAccount();
    expect(engine.account(1).health).toBeCloseTo(0.85, 12);
    const r = await engine.step();
    expect(r.stateChanges.map((c) => `${c.from}->${c.to}`)).toEqual(['healthy->liquidating']);
    // Most underwater first: market 0's concession per quote (ABR * SMMR * 12.5%) exceeds market 1's (5%).
    expect(r.orders.map((o) => [o.account, o.market, o.side])).toEqual([
      [1, 0, 'sell'],
      [1, 1, 'sell'],
    ]);
    const [first, second] = r.orders as [LiquidationOrder, LiquidationOrder];
    expect(first.quantity).toBe(0.9); // 900 of notional: below the 1,000 minimum, closed whole
    // Both sell at the group's fillable prices (ABR 0.15): 1,000 - 0.15 * 0.1 * 112.5 / 0.9 = 998.125 and
    // 100 - 0.15 * 0.1 * 500 / 100 = 99.925.
    expect(first.limitPrice).toBeCloseTo(998.125, 9);
    expect(second.limitPrice).toBeCloseTo(99.925, 9);
    // After the first close (fee at the 1.5% cap, 13.4746875): equity 520.625 - 1.6875 - 13.4746875 = 505.4628125,
    // maintenance 500, health 1.0109. Restoring 1.05 then takes q with 505.46 - q (0.075 + 1.498875) >= 1.05 * 5 (100 - q),
    // q = 5.31 (531 quote), below the 1,000 minimum order: raised to 10 units.
    expect(second.quantity * 100).toBeCloseTo(1_000, 9);
    fillAll(engine, r.orders, 1);
    const after = await engine.step();
    const h = engine.account(1).health!;
    expect(h).toBeGreaterThanOrEqual(1.02);
    expect(h).toBeGreaterThanOrEqual(TARGET);
    // Equity 505.4628125 - 0.75 - 0.015 * 999.25 = 489.7240625 over maintenance 450 (the ledger rounds to atoms).
    expect(h).toBeCloseTo(489.7240625 / 450, 6);
    expect(after.stateChanges.map((c) => `${c.from}->${c.to}`)).toEqual(['liquidating->margin-call']);
    expect(after.orders).toEqual([]);
  });

  it('keeps ordering a group that is back above health 1 but not above 1.02', async () => {
    // The stuck account's first position alone, filled at its limit, leaves the account at about 1.011: still
    // liquidating, so it gets an order for what is left.
    const engine = await stuckAccount();
    const r = await engine.step();
    const first = r.orders.find((o) => o.market === 0)!;
    for (const o of r.orders) if (o !== first) engine.expire(o.id);
    fillAll(engine, [first], 1);
    const next = await engine.step();
    const h = engine.account(1).health!;
    expect(h).toBeGreaterThan(1);
    expect(h).toBeLessThanOrEqual(1.02);
    expect(next.stateChanges).toEqual([]); // still liquidating
    expect(next.orders.map((o) => [o.account, o.market])).toEqual([[1, 1]]);
    fillAll(engine, next.orders, 2);
    const last = await engine.step();
    expect(engine.account(1).health!).toBeGreaterThanOrEqual(1.02);
    expect(last.stateChanges.map((c) => `${c.from}->${c.to}`)).toEqual(['liquidating->margin-call']);
  });
});

interface GroupSpec {
  readonly fractions: readonly number[];
  readonly accounts: readonly { readonly health: number; readonly positions: readonly { readonly value: number; readonly side: 1 | -1 }[] }[];
}

const groupArb: fc.Arbitrary<GroupSpec> = fc.integer({ min: 2, max: 4 }).chain((markets) =>
  fc.record({
    fractions: fc.array(uniform(0.01, 0.15), { minLength: markets, maxLength: markets }),
    accounts: fc.array(
      fc.record({
        health: uniform(0.7, 0.999),
        positions: fc.array(fc.record({ value: uniform(200, 80_000), side: sideArb }), { minLength: markets, maxLength: markets }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  }),
);

const PRICES = [50_000, 3_000, 150, 1];

/** An engine holding `spec`'s cross groups (accounts 1..n at their drawn health), with well-funded insurance. */
async function groupsOf(spec: GroupSpec): Promise<Engine> {
  const markets = spec.fractions.length;
  const engine = await started({ capacity: { markets, accounts: spec.accounts.length + 1, positions: markets * spec.accounts.length + 1 } });
  for (let m = 0; m < markets; m++) {
    engine.addMarket({ id: m, price: PRICES[m]!, tiers: oneTier(spec.fractions[m]!) });
    engine.depositInsurance(m, 1e6);
  }
  spec.accounts.forEach((a, i) => {
    let mm = 0;
    a.positions.forEach((p, m) => (mm += p.value * spec.fractions[m]!));
    engine.addAccount(i + 1, a.health * mm);
    a.positions.forEach((p, m) => engine.upsertPosition({ account: i + 1, market: m, size: (p.side * p.value) / PRICES[m]!, entryPrice: PRICES[m]! }));
  });
  return engine;
}

describe('liquidation rounds of random cross groups', () => {
  it('end with every account healthy, flat or just ordered when each round fills every order at its limit', async () => {
    await fc.assert(
      fc.asyncProperty(groupArb, async (spec) => {
        const engine = await groupsOf(spec);
        try {
          const states = new Map<number, string>();
          let r: EpochResult | undefined;
          const trace: string[] = [];
          for (let round = 0; round <= 10; round++) {
            r = await engine.step();
            for (const c of r.stateChanges) if (c.market === null) states.set(c.account, c.to);
            trace.push(`round ${round}: ${r.orders.map((o) => `${o.account}/${o.market} ${o.quantity}@${o.limitPrice} h=${o.health}`).join(', ')}`);
            if (r.orders.length === 0 || round === 10) break;
            fillAll(engine, r.orders, round + 1);
          }
          const ordered = new Set(r!.orders.map((o) => o.account));
          spec.accounts.forEach((_a, i) => {
            const id = i + 1;
            if (ordered.has(id)) return;
            const report = engine.account(id);
            const flat = report.positions.every((p) => p.size === 0);
            const detail = `account ${id}: health ${report.health}, state ${states.get(id) ?? 'healthy'}\n${trace.join('\n')}`;
            if (!flat) expect(report.health ?? Infinity, detail).toBeGreaterThanOrEqual(1.02);
            expect(['liquidating', 'backstopped', 'deleveraged'], detail).not.toContain(states.get(id) ?? 'healthy');
          });
        } finally {
          engines = engines.filter((e) => e !== engine);
          await engine.close();
        }
      }),
      { seed: 314_159, numRuns: 30 },
    );
  });
});

describe('liquidation rounds with partial fills and expiries', () => {
  it('never leave an account liquidating below the exit level without an order open', async () => {
    await fc.assert(
      fc.asyncProperty(groupArb, fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (spec, seed) => {
        const rand = mulberry32(seed);
        const engine = await groupsOf(spec);
        try {
          const states = new Map<number, string>();
          for (let round = 0; round < 12; round++) {
            const r = await engine.step();
            for (const c of r.stateChanges) if (c.market === null) states.set(c.account, c.to);
            // The venue: each open order fills in part or whole at its limit (never beyond the position left, which
            // an older order of the same position may have shrunk), or expires unfilled.
            let time = (round + 1) * 1_000;
            for (const { order, remaining } of engine.openOrders()) {
              const left = Math.abs(engine.account(order.account).positions.find((p) => p.market === order.market)!.size);
              if (left === 0 || rand() < 0.25) engine.expire(order.id);
              else engine.fill({ orderId: order.id, account: order.account, market: order.market, quantity: Math.min(left, remaining * (rand() < 0.5 ? 1 : 0.2 + 0.8 * rand())), price: order.limitPrice, eventTimeUs: ++time });
            }
          }
          const last = await engine.step();
          for (const c of last.stateChanges) if (c.market === null) states.set(c.account, c.to);
          const open = new Set(engine.openOrders().map((o) => o.order.account));
          spec.accounts.forEach((_a, i) => {
            const id = i + 1;
            const report = engine.account(id);
            const state = states.get(id) ?? 'healthy';
            if (!['liquidating', 'backstopped', 'deleveraged'].includes(state)) return;
            // Still in liquidation: then it must be below the exit level, with work in flight.
            expect(report.health ?? Infinity, `account ${id} (${state})`).toBeLessThanOrEqual(1.02);
            expect(open.has(id), `account ${id} is ${state} at health ${report.health} with no order open`).toBe(true);
          });
        } finally {
          engines = engines.filter((e) => e !== engine);
          await engine.close();
        }
      }),
      { seed: 271_828, numRuns: 30 },
    );
  });
});

/**
 * Accounts each 1 BTC long from 50,000 at a mark of 50,000 (maintenance 10%: 5,000), at the health their collateral
 * gives; closes whole (minNotional above the position) so that the order notionals are plain.
 */
async function btcAccounts(caps: EngineConfig['caps'], healths: ReadonlyMap<number, number>, sizing: EngineConfig['sizing'] = { minNotional: 1e9 }): Promise<Engine> {
  const engine = await started({ capacity: { markets: 1, accounts: 4, positions: 4 }, caps, sizing });
  engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: oneTier(0.1) });
  engine.depositInsurance(0, 1e6);
  for (const [id, h] of healths) {
    engine.addAccount(id, h * 5_000);
    engine.upsertPosition({ account: id, market: 0, size: 1, entryPrice: 50_000 });
  }
  engine.pushPrices([{ market: 0, price: 50_000, eventTimeUs: 1_000_000 }]);
  return engine;
}

describe('caps admit in the executor order and emit no dust', () => {
  it('give a market window with room for one order to the more underwater account, even with the higher id', async () => {
    // Account 2 at health 0.8 sells at 50,000 - 0.2 * 0.1 * 5,000 = 49,900; account 1 at 0.95 at 49,975. A window
    // of 50,000 takes account 2's order and leaves 100 of room, below the 1,000 minimum order: account 1 waits.
    const engine = await btcAccounts({ marketNotionalPerWindow: 50_000, marketWindowUs: 10_000_000 }, new Map([[1, 0.95], [2, 0.8]]));
    const r = await engine.step();
    expect(r.orders.map((o) => o.account)).toEqual([2]);
    expect(r.orders[0]!.quantity).toBe(1);
    expect(r.orders[0]!.limitPrice).toBeCloseTo(49_900, 9);
    expect(r.capped).toMatchObject([{ account: 1, market: 0, cap: 'market-notional', queuedQuantity: 1 }]);
  });

  it('give the in-flight slot to the more underwater account, even with the higher id', async () => {
    const engine = await btcAccounts({ maxInFlight: 1 }, new Map([[1, 0.95], [2, 0.8]]));
    const r = await engine.step();
    expect(r.orders.map((o) => o.account)).toEqual([2]);
    expect(r.capped).toMatchObject([{ account: 1, cap: 'in-flight', queuedQuantity: 1 }]);
  });

  it('emit no order when a cap leaves less than the minimum order, and a cut one when it leaves more', async () => {
    const healths = new Map([[1, 0.95]]);
    // Room for 10 quote: nothing goes out, the whole planned close is reported as capped.
    const tiny = await btcAccounts({ marketNotionalPerWindow: 10 }, healths, {});
    const held = await tiny.step();
    expect(held.orders).toEqual([]);
    expect(held.capped).toHaveLength(1);
    expect(held.capped[0]).toMatchObject({ account: 1, market: 0, cap: 'market-notional' });
    const planned = held.capped[0]!.queuedQuantity;
    expect(planned).toBeGreaterThan(0);
    expect(planned).toBeLessThanOrEqual(1);
    // Room for 5,000: an order worth 5,000 at its limit, the rest of the same planned close queued.
    const roomy = await btcAccounts({ marketNotionalPerWindow: 5_000 }, healths, {});
    const cut = await roomy.step();
    expect(cut.orders).toHaveLength(1);
    const o = cut.orders[0]!;
    expect(o.quantity * o.limitPrice).toBeLessThanOrEqual(5_000);
    expect(o.quantity * o.limitPrice).toBeCloseTo(5_000, 6);
    expect(cut.capped).toHaveLength(1);
    expect(cut.capped[0]!.queuedQuantity).toBeCloseTo(planned - o.quantity, 12);
  });

  it('let the minimum order decide the dust threshold', async () => {
    // The same 100 of room left after account 2 is enough when the minimum order is 50.
    const engine = await btcAccounts({ marketNotionalPerWindow: 50_000 }, new Map([[1, 0.95], [2, 0.8]]), { minNotional: 1e9, minOrderNotional: 50 });
    const r = await engine.step();
    expect(r.orders.map((o) => o.account)).toEqual([2, 1]);
    expect(r.orders[1]!.quantity * r.orders[1]!.limitPrice).toBeCloseTo(100, 6);
  });

  it('let an emergency through a full window and count it against the window', async () => {
    // Account 3 at health 0.5 (< 2/3) sells at 50,000 - 0.5 * 0.1 * 5,000 = 49,750 whatever the window, which then
    // has 250 of room: account 1 (0.95) gets nothing.
    const engine = await btcAccounts({ marketNotionalPerWindow: 50_000 }, new Map([[1, 0.95], [3, 0.5]]));
    const r = await engine.step();
    expect(r.orders.map((o) => o.account)).toEqual([3]);
    expect(r.orders[0]!.quantity).toBe(1);
    expect(r.capped).toMatchObject([{ account: 1, cap: 'market-notional', queuedQuantity: 1 }]);
    const zero = await btcAccounts({ marketNotionalPerWindow: 0, maxInFlight: 0 }, new Map([[3, 0.5]]));
    const through = await zero.step();
    expect(through.orders.map((o) => o.account)).toEqual([3]);
    expect(through.capped).toEqual([]);
  });
});
