/** The operator's kill switch: its levels, global and per market, and the status events it raises. */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/index.js';
import type { MarketStatusChange } from '../src/clearing/market-mode.js';
import type { Deleveraging, Settlement, UnresolvedDeficit } from '../src/clearing/clearing.js';
import type { LiquidationOrder } from '../src/clearing/orders.js';
import { codeOf } from './support/errors.js';

const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

/**
 * Market 0 at 100. Account 1: 1 long from 100 with 15 collateral (liquidatable below about 94.4); account 2: 1 long
 * from 100 with 12 (below about 97.8). Orders close whole (emergency health 1), so each position gets one order.
 */
async function world(): Promise<{ engine: Engine; orders: LiquidationOrder[]; statuses: MarketStatusChange[]; fills: Settlement[] }> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 8, positions: 8 }, sizing: { emergencyHealth: 1 } });
  engines.push(engine);
  engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 100, tiers: TEN_PERCENT });
  engine.addMarket({ id: 1, symbol: 'ETH-USD', price: 100, tiers: TEN_PERCENT });
  for (const [id, collateral] of [
    [1, 15],
    [2, 12],
  ] as const) {
    engine.addAccount(id, collateral);
    engine.upsertPosition({ account: id, market: 0, size: 1, entryPrice: 100 });
  }
  const orders: LiquidationOrder[] = [];
  const statuses: MarketStatusChange[] = [];
  const fills: Settlement[] = [];
  engine.onOrder((o) => orders.push(o));
  engine.onMarketStatus((s) => statuses.push(s));
  engine.onFill((f) => fills.push(f));
  await engine.step();
  return { engine, orders, statuses, fills };
}


describe('the kill switch', () => {
  it('at no-new, lets a liquidation under way continue (a re-issue) but starts none', async () => {
    const { engine, orders, statuses } = await world();
    engine.pushPrice(0, 97);
    await engine.step();
    expect(orders.map((o) => o.account)).toEqual([2]);
    engine.setKillSwitch('no-new', undefined, 'incident 42');
    expect(statuses).toEqual([
      { market: 0, state: 'paused', code: 'KILL_SWITCH', reason: 'kill switch no-new: incident 42', eventTimeUs: 0 },
      { market: 1, state: 'paused', code: 'KILL_SWITCH', reason: 'kill switch no-new: incident 42', eventTimeUs: 0 },
    ]);
    engine.pushPrice(0, 93);
    await engine.step();
    expect(orders.map((o) => o.account)).toEqual([2]); // account 1 is liquidatable now, but new
    engine.expire(orders[0]!.id);
    await engine.step();
    expect(orders.map((o) => o.account)).toEqual([2, 2]); // the re-issue continues account 2's liquidation
    engine.setKillSwitch('normal');
    await engine.step();
    expect(orders.map((o) => o.account)).toEqual([2, 2, 1]);
    expect(statuses.slice(2).map((s) => [s.market, s.state, s.code])).toEqual([
      [0, 'resumed', 'HEALTHY'],
      [1, 'resumed', 'HEALTHY'],
    ]);
  });

  it('at no-reissue, issues nothing, while fills of orders already out still settle', async () => {
    const { engine, orders, fills } = await world();
    engine.pushPrice(0, 93);
    await engine.step();
    expect(orders.map((o) => o.account).sort()).toEqual([1, 2]);
    engine.setKillSwitch('no-reissue', 0);
    const [first, second] = [orders.find((o) => o.account === 1)!, orders.find((o) => o.account === 2)!];
    engine.fill({ orderId: first.id, account: 1, market: 0, quantity: 1, price: first.limitPrice, eventTimeUs: 1 });
    engine.expire(second.id);
    await engine.step();
    expect(fills.map((f) => f.orderId)).toEqual([first.id]);
    expect(engine.account(1).positions[0]!.size).toBe(0);
    expect(orders).toHaveLength(2); // account 2 is not re-issued
    engine.setKillSwitch('normal', 0);
    await engine.step();
    expect(orders.map((o) => o.account)).toEqual([...orders.slice(0, 2).map((o) => o.account), 2]);
  });

  it('at halt, refuses deleveraging and skips the automatic one after an uncovered fill; the ledger still sums to zero', async () => {
    const { engine, orders, fills } = await world();
    const deleveraged: Deleveraging[] = [];
    engine.onDeleverage((d) => deleveraged.push(d));
    const unresolved: UnresolvedDeficit[] = [];
    engine.onUnresolvedDeficit((u) => unresolved.push(u));
    engine.depositInsurance(0, 3);
    engine.pushPrice(0, 80); // account 2: equity -8, bankrupt
    await engine.step();
    const order = orders.find((o) => o.account === 2)!;
    // ABR 1: the limit concedes 0.1 x 8 / 1 = 0.8, to 79.2, past the bankruptcy price 88.
    expect(order.limitPrice).toBeCloseTo(79.2, 9);
    // The ADL queue's counterparty opens only now: at screening no one could take the order, so it went out.
    engine.addAccount(3, 1_000);
    engine.upsertPosition({ account: 3, market: 0, size: -2, entryPrice: 100 });
    engine.setKillSwitch('halt', 0, 'operator');
    expect(codeOf(() => engine.deleverage(2, 0))).toBe('KILL_SWITCH');
    // Half at the limit: realized 0.5 x (79.2 - 100) = -10.4 against half the collateral, 6: a gap of 4.4, the fund has 3.
    engine.fill({ orderId: order.id, account: 2, market: 0, quantity: 0.5, price: order.limitPrice, eventTimeUs: 1 });
    await engine.step();
    expect(fills[0]!.insuranceCover).toBe(3);
    expect(fills[0]!.deficit).toBeCloseTo(1.4, 6);
    expect(deleveraged).toEqual([]);
    expect(unresolved).toEqual([]); // half the position is left: the shortfall is still in play
    expect(engine.account(2).positions[0]!.size).toBe(0.5);
    // The rest at the limit too: flat at 12 - 10.4 + 3 - 10.4 = -5.8. Not silent: the halt leaves it with the account, and says so.
    engine.fill({ orderId: order.id, account: 2, market: 0, quantity: 0.5, price: order.limitPrice, eventTimeUs: 2 });
    expect(deleveraged).toEqual([]);
    expect(unresolved).toEqual([{ sequence: fills[1]!.sequence, account: 2, market: 0, amount: expect.closeTo(5.8, 6), reason: 'halted' }]);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('halts: a partial fill leaves the rest of the position alone', async () => {
    const { engine, orders, fills } = await world();
    engine.pushPrice(0, 80);
    await engine.step();
    const order = orders.find((o) => o.account === 2)!;
    // Someone to deleverage against, opened after screening: unhalted, ADL would close the rest after this fill.
    engine.addAccount(3, 1_000);
    engine.upsertPosition({ account: 3, market: 0, size: -2, entryPrice: 100 });
    engine.setKillSwitch('halt', 0, 'operator');
    // Half at the limit, past bankruptcy, with the fund empty: all of the 4.4 gap is a deficit.
    engine.fill({ orderId: order.id, account: 2, market: 0, quantity: 0.5, price: order.limitPrice, eventTimeUs: 1 });
    expect(fills[0]!.deficit).toBeCloseTo(4.4, 6);
    await engine.step();
    expect(engine.account(2).positions[0]!.size).toBe(0.5);
    expect(engine.account(3).positions[0]!.size).toBe(-2);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('takes the higher of the global and the market level, and checks its arguments', async () => {
    const { engine } = await world();
    engine.setKillSwitch('no-new');
    engine.setKillSwitch('halt', 1);
    expect([engine.killSwitch(), engine.killSwitch(0), engine.killSwitch(1)]).toEqual(['no-new', 'no-new', 'halt']);
    engine.setKillSwitch('normal', 1);
    expect(engine.killSwitch(1)).toBe('no-new');
    expect(engine.marketStatus(1)).toEqual({ paused: true, code: 'KILL_SWITCH', reason: 'kill switch no-new' });
    expect(codeOf(() => engine.setKillSwitch('off' as never))).toBe('INVALID_CONFIG');
    expect(codeOf(() => engine.setKillSwitch('halt', 9))).toBe('UNKNOWN_MARKET');
  });
});
