/**
 * A position has at most one liquidation order open at the venue: after a partial fill the position's state changes,
 * but no new order is issued for it until the open one is filled whole, expired by the venue or timed out by the
 * engine; then the next order follows, under a new id, sized from the position as it is then. Two open orders for
 * one position could both fill, closing more than it holds: the second fill would be refused although the venue
 * executed it. The executor learns of open orders from the positions table (`positions.openOrders`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Engine, type EngineConfig, type LiquidationOrder } from '../src/index.js';
import type { Fill } from '../src/clearing/open-orders.js';

const SECOND = 1_000_000;
const T0 = 1_767_225_600 * SECOND;
const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];

let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

async function start(config: EngineConfig): Promise<Engine> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 16, positions: 32 }, ...config });
  engines.push(engine);
  return engine;
}

/** Account 7: 0.1 BTC long at 50,000, MMR 10%, collateral `equity` (maintenance 500); a funded insurance fund. */
async function worked(equity: number, config: EngineConfig = {}): Promise<Engine> {
  const engine = await start({ sizing: { emergencyHealth: 1 }, ...config });
  engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
  engine.depositInsurance(0, 1e6);
  engine.addAccount(7, equity);
  engine.upsertPosition({ account: 7, market: 0, size: 0.1, entryPrice: 50_000 });
  return engine;
}

/** An epoch at T0 + `sec` seconds (the price unchanged unless given); its result. */
async function at(engine: Engine, sec: number, price = 50_000, market = 0) {
  engine.pushPrices([{ market, price, eventTimeUs: T0 + sec * SECOND }]);
  return engine.step();
}

const fillOf = (o: LiquidationOrder, quantity: number, sec = 0): Fill => ({ orderId: o.id, account: o.account, market: o.market, quantity, price: o.limitPrice, eventTimeUs: T0 + sec * SECOND });

/** The open-orders column of account `account`'s only position (the executor's view). */
function column(engine: Engine, account: number): number {
  const t = engine.tables;
  for (let s = 0; s < t.positions.size.length; s++) {
    if (t.positions.flags[s] !== 0 && t.accounts.id[t.positions.account[s]!] === account) return t.positions.openOrders[s]!;
  }
  throw new Error(`account ${account} holds no position`);
}

describe('one open liquidation order per position', () => {
  it('issues no second order while the remainder of a partly filled order is open, and the venue may still fill that remainder', async () => {
    const engine = await worked(100);
    const [order] = (await at(engine, 0)).orders;
    expect(order!.quantity).toBe(0.1);
    expect(column(engine, 7)).toBe(1);
    engine.fill(fillOf(order!, 0.03, 1));
    // The position's state changed (a new update sequence), but the order's 0.07 is still open at the venue.
    const next = await at(engine, 2);
    expect(next.orders).toEqual([]);
    expect(engine.openOrders().map((o) => [o.order.id, o.remaining])).toEqual([[order!.id, expect.closeTo(0.07, 12)]]);
    expect(column(engine, 7)).toBe(1);
    // The venue fills the remainder: taken, the position is flat, nothing is left open.
    const settled: number[] = [];
    engine.onFill((s) => settled.push(s.closed));
    engine.fill(fillOf(order!, 0.07, 3));
    expect(settled).toEqual([expect.closeTo(0.07, 12)]);
    expect(engine.account(7).positions[0]!.size).toBe(0);
    expect(engine.openOrders()).toEqual([]);
    expect(column(engine, 7)).toBe(0);
    expect((await at(engine, 4)).orders).toEqual([]);
  });

  it('orders again once the venue expires the remainder: a new id, sized from the position then', async () => {
    const engine = await worked(100);
    const [order] = (await at(engine, 0)).orders;
    engine.fill(fillOf(order!, 0.03, 1));
    expect((await at(engine, 2)).orders).toEqual([]);
    expect((await at(engine, 3)).orders).toEqual([]);
    engine.expire(order!.id);
    expect(column(engine, 7)).toBe(0);
    const again = (await at(engine, 4)).orders;
    expect(again).toHaveLength(1);
    expect(again[0]!.id).not.toBe(order!.id);
    expect(again[0]!.quantity).toBeCloseTo(0.07, 12);
    expect(column(engine, 7)).toBe(1);
  });

  it('orders again once the engine times the remainder out', async () => {
    const engine = await worked(100, { orderTimeoutUs: 30 * SECOND });
    const [order] = (await at(engine, 0)).orders;
    engine.fill(fillOf(order!, 0.04, 1));
    for (const sec of [2, 10, 29]) expect((await at(engine, sec)).orders, `t = ${sec} s`).toEqual([]);
    const due = await at(engine, 30);
    expect(due.timedOut.map((o) => o.id)).toEqual([order!.id]);
    expect(column(engine, 7)).toBe(0);
    const again = (await engine.step()).orders;
    expect(again.map((o) => o.quantity)).toEqual([expect.closeTo(0.06, 12)]);
    expect(again[0]!.id).not.toBe(order!.id);
  });

  it('holds a partial (non-emergency) liquidation of the group as a whole while one of its orders is open', async () => {
    // Health 0.8 (above the default emergency level): sized to restore the target health, not closed whole.
    const engine = await start({ sizing: { minNotional: 0 } });
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    engine.depositInsurance(0, 1e6);
    engine.addAccount(7, 4_000);
    engine.upsertPosition({ account: 7, market: 0, size: 1, entryPrice: 50_000 });
    const [order] = (await at(engine, 0)).orders;
    expect(order!.quantity).toBeLessThan(1);
    engine.fill(fillOf(order!, order!.quantity / 10, 1));
    // The group is still below its target health after a tenth of the order: it waits for the rest of the order.
    expect((await at(engine, 2, 49_900)).orders).toEqual([]);
    engine.expire(order!.id);
    const again = (await at(engine, 3, 49_900)).orders;
    expect(again).toHaveLength(1);
    expect(again[0]!.id).not.toBe(order!.id);
  });

  it('leaves the rest of a partly filled order to the venue when the fill leaves a deficit: it is not deleveraged under the order', async () => {
    // Account 7: long 1 BTC and short 1,000 of market 1 in one cross group; account 9 takes the other side of both.
    const engine = await start({ sizing: { emergencyHealth: 1 } });
    engine.addMarket({ id: 0, price: 50_000, tiers: TEN_PERCENT });
    engine.addMarket({ id: 1, price: 20, tiers: TEN_PERCENT });
    engine.addAccount(7, 2_000);
    engine.upsertPosition({ account: 7, market: 0, size: 1, entryPrice: 50_000 });
    engine.upsertPosition({ account: 7, market: 1, size: -1_000, entryPrice: 20 });
    engine.addAccount(9, 1e6);
    engine.upsertPosition({ account: 9, market: 0, size: -5, entryPrice: 50_000 });
    engine.upsertPosition({ account: 9, market: 1, size: 5_000, entryPrice: 20 });
    const deleveraged: number[] = [];
    engine.onDeleverage((d) => deleveraged.push(d.market));
    const btc = (await at(engine, 0)).orders.find((o) => o.market === 0)!;
    expect(btc.quantity).toBe(1);
    // Market 1 rises 50%: the group is under water, and a BTC fill at its limit leaves a deficit (no fund).
    engine.pushPrices([{ market: 1, price: 30, eventTimeUs: T0 + SECOND }]);
    const settled: { closed: number; deficit: number }[] = [];
    engine.onFill((f) => settled.push({ closed: f.closed, deficit: f.deficit }));
    engine.fill(fillOf(btc, 0.3, 2));
    expect(settled[0]!.deficit).toBeGreaterThan(0);
    // BTC's 0.7 is still open at the venue: it stays, for the venue to fill.
    expect(deleveraged).toEqual([]);
    expect(engine.account(7).positions.find((p) => p.market === 0)!.size).toBeCloseTo(0.7, 12);
    engine.fill(fillOf(btc, 0.7, 3));
    expect(settled.map((f) => f.closed)).toEqual([0.3, expect.closeTo(0.7, 12)]);
    expect(engine.account(7).positions.find((p) => p.market === 0)!.size).toBe(0);
  });

  it('lets no backstop vault take a position while the rest of its order is open; a takeover settles at once and leaves nothing open', async () => {
    const engine = await start({ execution: { strategy: { kind: 'backstop', vault: 900 } } });
    engine.addMarket({ id: 1, price: 100, tiers: TEN_PERCENT });
    engine.depositInsurance(1, 1e6);
    engine.addAccount(1, 1_000);
    engine.upsertPosition({ account: 1, market: 1, size: 100, entryPrice: 100 });
    engine.addAccount(900, 10); // too little equity to take it: the work goes to the book
    const first = await at(engine, 0, 94, 1);
    expect(first.takeovers).toEqual([]);
    const [order] = first.orders;
    engine.fill(fillOf(order!, 30, 1));
    engine.setCollateral(900, 1e6); // the vault could take the rest now, but the order's 70 are open at the venue
    const held = await at(engine, 2, 94, 1);
    expect([held.orders, held.takeovers]).toEqual([[], []]);
    engine.expire(order!.id);
    const taken = await at(engine, 3, 94, 1);
    expect(taken.orders).toEqual([]);
    expect(taken.takeovers.map((t) => [t.account, t.quantity])).toEqual([[1, expect.closeTo(70, 9)]]);
    expect(engine.openOrders()).toEqual([]);
    expect(column(engine, 1)).toBe(0);
    expect(engine.account(1).positions[0]!.size).toBeCloseTo(0, 9);
  });

  it("holds a stepped strategy's next child while the last child's remainder is open", async () => {
    const engine = await start({
      capacity: { markets: 1, accounts: 4, positions: 4 },
      sizing: { targetHealth: 100, minNotional: 1e12 },
      marginCallHealth: 1_000,
      execution: { strategy: { kind: 'twap', horizonSec: 60, stepSec: 10 } },
    });
    engine.addMarket({ id: 1, price: 100, tiers: TEN_PERCENT });
    engine.depositInsurance(1, 1e9);
    engine.addAccount(1, 6_000);
    engine.upsertPosition({ account: 1, market: 1, size: 600, entryPrice: 100 });
    const [first] = (await at(engine, 0, 99, 1)).orders;
    expect(first!.quantity).toBeCloseTo(100, 9);
    engine.fill(fillOf(first!, 40, 1));
    // The next step is due at 10 s; the first child still has 60 open: no second child.
    expect((await at(engine, 10, 99, 1)).orders).toEqual([]);
    expect((await at(engine, 15, 99, 1)).orders).toEqual([]);
    engine.expire(first!.id);
    const next = (await at(engine, 20, 99, 1)).orders;
    expect(next).toHaveLength(1);
    expect(next[0]!.id).not.toBe(first!.id);
  });
});

/**
 * Three accounts in two markets, with leverage from about 3x to 20x, and a well funded one on the other side; each
 * step the prices move against them by up to 3% (or crash by 8-15%), the venue answers each open order (a partial
 * fill of a random share, a whole fill, an expiry, or nothing yet), and an epoch runs.
 */
const step = fc.record({
  move: fc.oneof(fc.double({ min: -0.03, max: 0.03, noNaN: true }), fc.double({ min: 0.08, max: 0.15, noNaN: true })),
  answers: fc.array(fc.record({ kind: fc.constantFrom('partial', 'whole', 'expire', 'wait'), share: fc.double({ min: 0.05, max: 0.95, noNaN: true }) }), { minLength: 6, maxLength: 6 }),
});

describe('the open remainders of a position (a seeded property)', () => {
  it('never exceed its size, and no venue fill of an open remainder is ever refused', async () => {
    const seen = { orders: 0, partial: 0, reordered: 0, expired: 0, timedOut: 0, deficits: 0, deleveraged: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 8, maxLength: 24 }),
        fc.constantFrom<EngineConfig['execution']>(undefined, { strategy: { kind: 'twap', horizonSec: 20, stepSec: 5 } }),
        fc.constantFrom(1e9, 0),
        async (steps, execution, fund) => {
        const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 8, positions: 16 }, orderTimeoutUs: 12 * SECOND, execution });
        try {
          const price = [100, 20];
          for (const m of [0, 1]) {
            engine.addMarket({ id: m, price: price[m]!, tiers: TEN_PERCENT });
            if (fund > 0) engine.depositInsurance(m, fund);
          }
          engine.onFill((f) => void (f.deficit > 0 && seen.deficits++));
          engine.onDeleverage((d) => void (d.matched > 0 && seen.deleveraged++));
          // The other side of both markets, well funded: ADL counterparties when a fill leaves a deficit.
          engine.addAccount(9, 1e6);
          engine.upsertPosition({ account: 9, market: 0, size: -40, entryPrice: 100 });
          engine.upsertPosition({ account: 9, market: 1, size: 200, entryPrice: 20 });
          for (const [a, leverage] of [[1, 3], [2, 8], [3, 20]] as const) {
            engine.addAccount(a, 2_000 / leverage);
            engine.upsertPosition({ account: a, market: 0, size: 10, entryPrice: 100 });
            engine.upsertPosition({ account: a, market: 1, size: -50, entryPrice: 20 });
          }
          const partlyFilled = new Set<string>();
          for (const [i, s] of steps.entries()) {
            const sec = 4 * i;
            price[0] = price[0]! * (1 - Math.abs(s.move)); // the long falls
            price[1] = price[1]! * (1 + Math.abs(s.move) / 2); // the short's market rises
            engine.pushPrices([0, 1].map((m) => ({ market: m, price: price[m]!, eventTimeUs: T0 + sec * SECOND })));
            // The venue answers every open order at the new prices (each a batch of its own: a refusal names its
            // fill); a fill at a limit set before a crash may leave a deficit (no insurance fund), resolved by ADL.
            for (const [k, { order, remaining }] of engine.openOrders().entries()) {
              const answer = s.answers[k % s.answers.length]!;
              const when = T0 + (sec + 1) * SECOND;
              if (answer.kind === 'expire') {
                engine.expire(order.id);
                seen.expired++;
              } else if (answer.kind !== 'wait') {
                const quantity = answer.kind === 'whole' ? remaining : remaining * answer.share;
                if (answer.kind === 'partial') {
                  partlyFilled.add(`${order.account}-${order.market}`);
                  seen.partial++;
                }
                expect(() => engine.fill({ orderId: order.id, account: order.account, market: order.market, quantity, price: order.limitPrice, eventTimeUs: when })).not.toThrow();
              }
              expect(withinSizes(engine)).toBe(true);
            }
            const r = await engine.step();
            seen.orders += r.orders.length;
            seen.timedOut += r.timedOut.length;
            // A position ordered again after a partial fill of its earlier order: the case the rule is about.
            seen.reordered += r.orders.filter((o) => partlyFilled.has(`${o.account}-${o.market}`)).length;
            expect(withinSizes(engine)).toBe(true);
          }
        } finally {
          await engine.close();
        }
      },
      ),
      { seed: 0x0e0e, numRuns: 100 },
    );
    // The runs reach what the rule is about: partial fills, positions ordered again after them, expiries, timeouts.
    expect(seen.orders).toBeGreaterThan(100);
    expect(seen.partial).toBeGreaterThan(30);
    expect(seen.reordered).toBeGreaterThan(10);
    expect(seen.expired).toBeGreaterThan(10);
    expect(seen.timedOut).toBeGreaterThan(0);
    expect(seen.deficits).toBeGreaterThan(2);
    expect(seen.deleveraged).toBeGreaterThan(10);
  });
});

/** Per position: the sum of its open orders' remainders is at most its size, and the table's count is the open orders'. */
function withinSizes(engine: Engine): boolean {
  const open = new Map<string, { remaining: number; count: number }>();
  for (const { order, remaining } of engine.openOrders()) {
    const key = `${order.account}-${order.market}`;
    const o = open.get(key) ?? { remaining: 0, count: 0 };
    open.set(key, { remaining: o.remaining + remaining, count: o.count + 1 });
  }
  const t = engine.tables;
  for (let s = 0; s < t.positions.size.length; s++) {
    if (t.positions.flags[s] === 0) continue;
    const key = `${t.accounts.id[t.positions.account[s]!]}-${t.markets.id[t.positions.market[s]!]}`;
    const o = open.get(key) ?? { remaining: 0, count: 0 };
    if (o.remaining > Math.abs(t.positions.size[s]!) * (1 + 1e-9) + 1e-12) return false;
    if (t.positions.openOrders[s] !== o.count) return false;
  }
  return true;
}
