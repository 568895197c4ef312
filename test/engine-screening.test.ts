/**
 * The epoch's screening (src/clearing/clearing.ts `screen`): under deficitPolicy 'adl', an order whose fill at its
 * limit the insurance fund could not pay leaves as a deleveraging at the bankruptcy value instead; what open orders
 * would draw is held back from later ones; a crash that deleverages many positions in one epoch consumes each queue
 * once, from the top; and the result does not depend on whether inputs arrived while the epoch was in flight.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Deleveraging, SocializedLoss, UnresolvedDeficit } from '../src/clearing/clearing.js';
import { Engine, type EngineConfig } from '../src/index.js';
import { mulberry32 } from '../src/sim/random.js';

const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

async function started(config: EngineConfig = {}): Promise<{ engine: Engine; deleveraged: Deleveraging[]; unresolved: UnresolvedDeficit[] }> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 64, positions: 64 }, sizing: { emergencyHealth: 1 }, ...config });
  engines.push(engine);
  engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 100, tiers: TEN_PERCENT });
  const deleveraged: Deleveraging[] = [];
  const unresolved: UnresolvedDeficit[] = [];
  engine.onDeleverage((d) => deleveraged.push(d));
  engine.onUnresolvedDeficit((u) => unresolved.push(u));
  return { engine, deleveraged, unresolved };
}

describe('screening an epoch\'s orders against the insurance fund', () => {
  it('holds back what an open order would draw: a second bankrupt account is deleveraged once the fund is spoken for', async () => {
    const { engine, deleveraged } = await started();
    // Two 1-unit longs from 100 with 2 of collateral each; at 90 each has equity -8: filled at the fillable price
    // 89.1 (ABR 1, SMMR 0.1 x 9) each fill falls 0.9 x 1 + 8 = 8.9 short of its bankruptcy value.
    for (const id of [1, 2]) {
      engine.addAccount(id, 2);
      engine.upsertPosition({ account: id, market: 0, size: 1, entryPrice: 100 });
    }
    engine.addAccount(9, 1_000);
    engine.upsertPosition({ account: 9, market: 0, size: -5, entryPrice: 100 });
    engine.depositInsurance(0, 10); // pays one of the two, not both
    engine.pushPrice(0, 90);
    const r = await engine.step();
    expect(r.orders.map((o) => o.account)).toEqual([1]);
    expect(deleveraged.map((d) => [d.account, d.orderId !== null, d.bankruptcyPrice])).toEqual([[2, true, 98]]);
    // The open order keeps its 8.9 in reserve: an expiry releases it, and the re-issued order takes it again.
    engine.expire(r.orders[0]!.id);
    const again = await engine.step();
    expect(again.orders.map((o) => o.account)).toEqual([1]);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('lands the same deleveragings whether or not inputs arrived while the epoch was in flight', async () => {
    let staged = 0;
    const run = async (busy: boolean): Promise<{ d: unknown[]; accounts: unknown[] }> => {
      const { engine, deleveraged } = await started({ scanWorkers: busy ? 1 : 0 });
      const rand = mulberry32(0x5c4e);
      for (let id = 1; id <= 40; id++) {
        engine.addAccount(id, Math.round(rand() * 3_000) / 100);
        engine.upsertPosition({ account: id, market: 0, size: (id % 3 === 0 ? -1 : 1) * (1 + Math.round(rand() * 40) / 10), entryPrice: 100 });
      }
      engine.pushPrice(0, 88);
      const epoch = engine.step();
      if (busy) {
        // A few microtasks in, the epoch waits on the scan thread: this input (an account with nothing at stake) is
        // staged behind it, and so are the epoch's deleveragings, behind the input.
        for (let i = 0; i < 5; i++) await Promise.resolve();
        engine.addAccount(63, 10);
        staged = engine.lastSequence;
      }
      await epoch;
      if (!busy) engine.addAccount(63, 10);
      await engine.step();
      if (busy) for (const d of deleveraged) expect(d.sequence).toBeGreaterThan(staged); // they landed behind the input
      const accounts = Array.from({ length: 40 }, (_, i) => engine.account(i + 1)).map((a) => [a.id, a.equity, a.positions.map((p) => p.size)]);
      return { d: deleveraged.map(({ sequence: _s, ...rest }) => rest), accounts };
    };
    const idle = await run(false);
    const busy = await run(true);
    expect(idle.d.length).toBeGreaterThan(5);
    expect(busy).toEqual(idle);
  });

  it('consumes the queue from the top across a crash: each counterparty gives what its size and equity hold, once', async () => {
    const { engine, deleveraged, unresolved } = await started();
    // 30 bankrupt longs against three shorts of different profit and leverage.
    for (let id = 1; id <= 30; id++) {
      engine.addAccount(id, 1);
      engine.upsertPosition({ account: id, market: 0, size: 1, entryPrice: 100 });
    }
    const shorts: [number, number, number, number][] = [
      [41, 3, -10, 110], // in profit, leveraged: ranked first
      [42, 500, -10, 105],
      [43, 2_000, -20, 95], // losing: last
    ];
    for (const [id, collateral, size, entry] of shorts) {
      engine.addAccount(id, collateral);
      engine.upsertPosition({ account: id, market: 0, size, entryPrice: entry });
    }
    engine.pushPrice(0, 92);
    await engine.step();
    expect(deleveraged).toHaveLength(30);
    const took = new Map<number, number>();
    for (const d of deleveraged) for (const c of d.counterparties) took.set(c.account, (took.get(c.account) ?? 0) + c.quantity);
    // Account 41 has equity 3 + 180 = 183 and gives at most that, at 1 + 7 = 8 per unit... every long's
    // bankruptcy price is 92 + 7 = 99: 7 above the mark. 183 / 7 = 26.1 units of room, but only 10 of size.
    expect(took.get(41)).toBeCloseTo(10, 9);
    expect(took.get(42)).toBeCloseTo(10, 9);
    expect(took.get(43)).toBeCloseTo(10, 9);
    for (const [id] of shorts) expect(engine.account(id).equity).toBeGreaterThanOrEqual(0);
    for (let id = 1; id <= 30; id++) expect(Math.abs(engine.account(id).equity)).toBeLessThan(1e-6);
    expect(unresolved).toEqual([]);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('has the ADL queue pay, in rank order, what a whole fill left beyond the fund once nothing remains to deleverage', async () => {
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 8, positions: 8 } });
    engines.push(engine);
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    engine.addAccount(1, -500); // 0.1 BTC long: equity -500, fillable 49,500, bankruptcy value 5,500
    engine.upsertPosition({ account: 1, market: 0, size: 0.1, entryPrice: 50_000 });
    engine.addAccount(2, 10_000);
    engine.upsertPosition({ account: 2, market: 0, size: -0.1, entryPrice: 50_000 });
    engine.addAccount(3, 30);
    engine.upsertPosition({ account: 3, market: 0, size: -1, entryPrice: 60_000 }); // ranked first: in profit, leveraged
    engine.depositInsurance(0, 560); // pays the 550 the order would need at its limit, so it goes out
    const losses: SocializedLoss[] = [];
    const unresolved: UnresolvedDeficit[] = [];
    engine.onSocializedLoss((l) => losses.push(l));
    engine.onUnresolvedDeficit((u) => unresolved.push(u));
    const [order] = (await engine.step()).orders;
    expect(order).toMatchObject({ account: 1, quantity: 0.1, limitPrice: 49_500 });
    // Before the fill, the venue debits another 50 from account 1 (a funding payment, say): collateral -550. Filled
    // whole at its limit, realized -50: a gap of 600, the fund pays its 560, 40 is left with nothing to deleverage.
    engine.setCollateral(1, -550);
    engine.fill({ orderId: order!.id, account: 1, market: 0, quantity: 0.1, price: order!.limitPrice, eventTimeUs: 1 });
    expect(engine.insuranceFund(0)).toBe(0);
    expect(engine.account(1).positions[0]!.size).toBe(0);
    expect(losses).toHaveLength(1);
    expect(losses[0]).toMatchObject({ account: 1, market: 0, method: 'adl-queue', amount: 40 });
    // Account 3 (equity 30 + 10,000) is first in the queue and pays it all; account 2 pays nothing.
    expect(losses[0]!.shares).toEqual([{ account: 3, amount: 40 }]);
    expect(engine.account(1).equity).toBe(0);
    expect(unresolved).toEqual([]);
    expect(engine.ledger.total()).toBe(0n);
  });
});
