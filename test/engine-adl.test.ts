/** Auto-deleveraging through the engine: the published queue, deleveraging at the bankruptcy price, the automatic trigger. */
import { afterEach, describe, expect, it } from 'vitest';
import { adlRank } from '../src/domain/adl.js';
import type { Deleveraging, Settlement } from '../src/clearing/clearing.js';
import { Engine, type EngineConfig } from '../src/index.js';
import { entry } from '../src/ledger/ledger.js';
import { Money } from '../src/ledger/money.js';

const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

/**
 * BTC at 50,000. Account 1: 1 BTC long from 50,000 with 6,000 collateral. Shorts: 2 (0.4 BTC from 60,000, 4,000
 * collateral: in profit, high leverage), 3 (0.5 BTC from 60,000, 40,000 collateral: in profit, low leverage),
 * 4 (0.5 BTC from 40,000, 20,000: losing). Long 5 (0.2 BTC) is on the bankrupt's own side.
 */
async function book(config: EngineConfig = {}): Promise<{ engine: Engine; deleveraged: Deleveraging[]; settled: Settlement[] }> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 8, positions: 8 }, sizing: { emergencyHealth: 1 }, ...config });
  engines.push(engine);
  engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
  const accounts: [number, number, number, number][] = [
    [1, 6_000, 1, 50_000],
    [2, 4_000, -0.4, 60_000],
    [3, 40_000, -0.5, 60_000],
    [4, 20_000, -0.5, 40_000],
    [5, 5_000, 0.2, 50_000],
  ];
  for (const [id, collateral, size, entryPrice] of accounts) {
    engine.addAccount(id, collateral);
    engine.upsertPosition({ account: id, market: 0, size, entryPrice });
  }
  const deleveraged: Deleveraging[] = [];
  const settled: Settlement[] = [];
  engine.onDeleverage((d) => deleveraged.push(d));
  engine.onFill((s) => settled.push(s));
  await engine.step();
  return { engine, deleveraged, settled };
}

describe('auto-deleveraging', () => {
  it('publishes the queue a bankrupt long would meet: the shorts, profitable high leverage first, losers last', async () => {
    const { engine } = await book({ autoDeleverage: false });
    engine.pushPrice(0, 44_000);
    await engine.step();
    const queue = engine.adlQueue(0, 1);
    expect(queue.map((e) => [e.queuePosition, e.account])).toEqual([
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
    // Account 2: pnl% = (60,000 - 44,000) / 60,000; equity 4,000 + 0.4 x 16,000 = 10,400; leverage 17,600 / 10,400.
    expect(queue[0]!.rank).toBeCloseTo(adlRank(-0.4, 60_000, 44_000, 10_400), 12);
    expect(queue[0]!.rank).toBeCloseTo((16_000 / 60_000) * (17_600 / 10_400), 12);
    // The longs, for a bankrupt short: account 1 has no equity left, so it is liquidated, never a counterparty;
    // account 5 (losing, equity 3,800) is the queue, with a finite rank.
    expect(engine.adlQueue(0, -1).map((e) => e.account)).toEqual([5]);
    expect(JSON.stringify(engine.adlQueue(0, -1))).not.toContain('null');
  });

  it('closes a bankrupt position against the queue at its bankruptcy price, leaving its equity at zero', async () => {
    const { engine, deleveraged } = await book({ autoDeleverage: false });
    engine.pushPrice(0, 44_000); // account 1: equity 6,000 - 6,000 = 0 < maintenance 4,400
    await engine.step();
    engine.deleverage(1, 0);
    expect(deleveraged).toHaveLength(1);
    const d = deleveraged[0]!;
    // Bankruptcy price: 50,000 - 6,000 / 1 = 44,000. Account 2 gives all its 0.4, account 3 all its 0.5, account 4
    // what is left (1 - 0.4 - 0.5, to the ulp).
    expect(d.bankruptcyPrice).toBe(44_000);
    expect(d.counterparties.map((c) => c.account)).toEqual([2, 3, 4]);
    expect(d.counterparties.map((c) => c.quantity)).toEqual([0.4, 0.5, 1 - 0.4 - 0.5]);
    expect(d).toMatchObject({ matched: 1, remainder: 0 });
    expect(d.counterparties[0]!.realizedPnl).toBe(0.4 * 16_000);
    const a1 = engine.account(1);
    expect(a1.positions[0]!.size).toBe(0);
    expect(Math.abs(a1.equity)).toBeLessThan(1e-6);
    expect(engine.account(4).positions[0]!.size).toBeCloseTo(-0.4, 12);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('does nothing to an account that is no longer below maintenance when the input lands', async () => {
    const { engine, deleveraged } = await book();
    engine.deleverage(1, 0);
    expect(deleveraged).toEqual([]);
    expect(engine.account(1).positions[0]!.size).toBe(1);
  });

  it('deleverages an order the empty insurance fund could not pay instead of emitting it, at the bankruptcy price (dYdX)', async () => {
    const { engine, deleveraged } = await book();
    engine.pushPrice(0, 43_000); // equity -1,000: bankrupt; the fillable price 42,570 would leave a deficit of 1,430
    const r = await engine.step();
    expect(r.orders.find((o) => o.account === 1)).toBeUndefined();
    expect(deleveraged).toHaveLength(1);
    // Bankruptcy price 43,000 + 1,000 / 1 = 44,000: the shorts give up 1,000 against the mark, the deficit.
    expect(deleveraged[0]).toMatchObject({ account: 1, orderId: '1-0-3', matched: 1, remainder: 0, bankruptcyPrice: 44_000, markPrice: 43_000 });
    expect(deleveraged[0]!.absorbed).toBeCloseTo(1_000, 9);
    expect(engine.account(1).positions[0]!.size).toBe(0);
    expect(Math.abs(engine.account(1).equity)).toBeLessThan(1e-6);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('deleverages what is left automatically after a fill the insurance fund could not cover, once the rest of the order has ended', async () => {
    const { engine, deleveraged, settled } = await book();
    engine.depositInsurance(0, 1_500); // covers the order filled whole at its limit (1,430): screening lets it out
    engine.pushPrice(0, 43_000); // equity -1,000: bankrupt
    const r = await engine.step();
    const order = r.orders.find((o) => o.account === 1)!;
    expect(order.quantity).toBe(1);
    // ABR 1: the limit concedes 0.1 x 4,300 / 1 = 430 below the oracle, past the bankruptcy price 44,000.
    expect(order.limitPrice).toBeCloseTo(42_570, 9);
    expect(deleveraged).toEqual([]);
    // Before the fill, the venue debits 2,000 of account 1's collateral (a funding payment, say): equity -3,000.
    engine.setCollateral(1, 4_000);
    // Half at the limit: realized 0.5 x (42,570 - 50,000) = -3,715 against half the equity, -1,500, released with
    // half the maintenance margin: a gap of 3,715 - 0.5 x 4,000 = 1,715, of which the fund pays its 1,500.
    engine.fill({ orderId: order.id, account: 1, market: 0, quantity: 0.5, price: order.limitPrice, eventTimeUs: 1 });
    expect(settled[0]!.insuranceCover).toBe(1_500);
    expect(settled[0]!.deficit).toBeCloseTo(215, 6);
    // The order's other half is still open at the venue, which may fill it: it is not deleveraged under the order.
    expect(deleveraged).toEqual([]);
    expect(engine.account(1).positions[0]!.size).toBe(0.5);
    // The venue expires it: the next epoch's order for the half could only fill with a deficit (the fund is empty),
    // so it is deleveraged at the bankruptcy value instead.
    engine.expire(order.id);
    const next = await engine.step();
    expect(next.orders.filter((o) => o.account === 1)).toEqual([]);
    expect(deleveraged).toHaveLength(1);
    expect(deleveraged[0]).toMatchObject({ account: 1, matched: 0.5, remainder: 0, orderId: '1-0-15' }); // the order the expiry's new state asked for
    expect(engine.account(1).positions[0]!.size).toBe(0);
    expect(Math.abs(engine.account(1).equity)).toBeLessThan(1e-6);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('spreads the deficit over the opposite side pro rata to size instead, under the socialized-loss policy', async () => {
    const { engine, deleveraged, settled } = await book({ deficitPolicy: 'socialized' });
    const losses: { amount: number; shares: { account: number; amount: number }[] }[] = [];
    engine.onSocializedLoss((l) => losses.push(l));
    engine.pushPrice(0, 43_000);
    const order = (await engine.step()).orders.find((o) => o.account === 1)!;
    const before = [2, 3, 4].map((a) => engine.ledger.balance(entry.account(a)));
    // The socialized policy screens nothing: the order is out although the empty fund cannot pay its fill.
    expect(order.limitPrice).toBeCloseTo(42_570, 9);
    // Half at its limit, past bankruptcy: realized 0.5 x (42,570 - 50,000) = -3,715 against half of 6,000.
    engine.fill({ orderId: order.id, account: 1, market: 0, quantity: 0.5, price: order.limitPrice, eventTimeUs: 1 });
    const deficit = settled[0]!.deficit;
    expect(deficit).toBeGreaterThan(0);
    expect(deficit).toBeCloseTo(0.5 * (50_000 - 42_570) - 0.5 * 6_000, 6);
    expect(deleveraged).toEqual([]);
    expect(losses).toHaveLength(1);
    // Shorts of 0.4, 0.5 and 0.5 BTC: the largest holders first, each its share; together exactly the deficit.
    const atoms = new Money(6);
    const total = losses[0]!.shares.reduce((sum, x) => sum + atoms.round(x.amount), 0n);
    expect(total).toBe(atoms.round(deficit));
    expect(losses[0]!.shares.map((x) => x.account)).toEqual([3, 4, 2]);
    expect(losses[0]!.shares[2]!.amount).toBeCloseTo((deficit * 0.4) / 1.4, 5);
    const after = [2, 3, 4].map((a) => engine.ledger.balance(entry.account(a)));
    expect(before.reduce((x, y) => x + y, 0n) - after.reduce((x, y) => x + y, 0n)).toBe(atoms.round(deficit));
    expect(engine.ledger.total()).toBe(0n);
  });
});
