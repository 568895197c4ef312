/** The executor's lifecycle events: margin call with hysteresis, sticky liquidation, closing, in emission order. */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EpochResult } from '../src/index.js';
import type { Deleveraging, Settlement } from '../src/clearing/clearing.js';

const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

/** 0.1 BTC long from 50,000 with 1,000 collateral: maintenance 10% of notional; health = (1,000 + PnL) / MM. */
async function account(config: Parameters<typeof Engine.start>[0] = {}): Promise<Engine> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 2, positions: 2 }, ...config });
  engines.push(engine);
  engine.addMarket({ id: 0, price: 50_000, tiers: TEN_PERCENT });
  engine.addAccount(7, 1_000);
  engine.upsertPosition({ account: 7, market: 0, size: 0.1, entryPrice: 50_000 });
  await engine.step();
  return engine;
}

/** Health at price p: (1,000 + 0.1 (p - 50,000)) / (0.01 p). */
const priceFor = (health: number): number => 4_000 / (0.01 * health - 0.1) * -1;

async function at(engine: Engine, health: number): Promise<EpochResult> {
  engine.pushPrice(0, priceFor(health));
  return engine.step();
}

const transitions = (r: EpochResult): string[] => r.stateChanges.map((c) => `${c.from}->${c.to}`);

describe('lifecycle events', () => {
  it('priceFor gives the health it is asked for', async () => {
    const engine = await account();
    engine.pushPrice(0, priceFor(1.1));
    await engine.step();
    expect(engine.account(7).health).toBeCloseTo(1.1, 9);
  });

  it('raises a margin call on entering the margin-call state and not again inside the hysteresis band', async () => {
    const engine = await account();
    let r = await at(engine, 1.15);
    expect(transitions(r)).toEqual(['healthy->margin-call']);
    expect(r.marginCalls).toHaveLength(1);
    r = await at(engine, 1.22); // below 1.2 + 0.05: still a margin call
    expect(transitions(r)).toEqual([]);
    r = await at(engine, 1.18);
    expect(r.marginCalls).toEqual([]);
    r = await at(engine, 1.26);
    expect(transitions(r)).toEqual(['margin-call->healthy']);
    r = await at(engine, 1.19);
    expect(r.marginCalls).toHaveLength(1); // a new stay
  });

  it('stays liquidating between health 1 and 1.02 and keeps getting orders there, sized to the target, then leaves', async () => {
    const engine = await account({ sizing: { emergencyHealth: 1 } });
    let r = await at(engine, 0.95);
    expect(transitions(r)).toEqual(['healthy->liquidating']);
    expect(r.orders).toHaveLength(1);
    engine.expire(r.orders[0]!.id); // the book did not take it; the price recovers, but not past the exit level
    r = await at(engine, 1.01);
    expect(transitions(r)).toEqual([]);
    // Still liquidating: a partial close that restores the target health 1.05 (not stuck until health falls below 1).
    expect(r.orders).toHaveLength(1);
    expect(r.orders[0]!.quantity).toBeLessThan(0.1);
    engine.expire(r.orders[0]!.id);
    r = await at(engine, 1.1);
    expect(transitions(r)).toEqual(['liquidating->margin-call']);
    expect(r.marginCalls).toHaveLength(1);
  });

  it('keeps ordering a group its liquidation has not brought back to the target health, past the exit level', async () => {
    const engine = await account({ sizing: { emergencyHealth: 1 } });
    let r = await at(engine, 0.95);
    expect(r.orders).toHaveLength(1);
    engine.expire(r.orders[0]!.id);
    r = await at(engine, 1.03); // out of the liquidating state (above 1.02), short of the target 1.05
    expect(transitions(r)).toEqual(['liquidating->margin-call']);
    expect(r.orders).toHaveLength(1);
    engine.expire(r.orders[0]!.id);
    r = await at(engine, 1.06); // back at the target: the liquidation is over
    expect(r.orders).toEqual([]);
    r = await at(engine, 1.03); // a later dip short of the target is a margin call, not a liquidation
    expect(r.orders).toEqual([]);
  });

  it('closes a group whose positions are all filled', async () => {
    const engine = await account({ sizing: { emergencyHealth: 1 } });
    const r = await at(engine, 0.9);
    const o = r.orders[0]!;
    engine.fill({ orderId: o.id, account: 7, market: 0, quantity: o.quantity, price: o.limitPrice, eventTimeUs: 1 });
    const after = await engine.step();
    expect(transitions(after)).toEqual(['liquidating->closed']);
    expect(after.stateChanges[0]).toMatchObject({ account: 7, market: null, health: Infinity });
  });

  it('reports the same transitions to onStateChange listeners, in emission order', async () => {
    const engine = await account();
    const heard: string[] = [];
    engine.onStateChange((c) => heard.push(`${c.account}:${c.from}->${c.to}`));
    await at(engine, 1.1);
    await at(engine, 0.9);
    expect(heard).toEqual(['7:healthy->margin-call', '7:margin-call->liquidating']);
  });

  it('goes backstopped when the insurance fund covers part of a fill, then deleveraged when the rest is closed by ADL', async () => {
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 4, positions: 4 }, sizing: { emergencyHealth: 1 } });
    engines.push(engine);
    engine.addMarket({ id: 0, price: 50_000, tiers: TEN_PERCENT });
    engine.addAccount(7, 1_000);
    engine.upsertPosition({ account: 7, market: 0, size: 0.1, entryPrice: 50_000 });
    engine.depositInsurance(0, 10);
    await engine.step();
    engine.pushPrice(0, 39_000); // account 7: equity 1,000 - 1,100 = -100 < maintenance 390
    let r = await engine.step();
    expect(transitions(r)).toContain('healthy->liquidating');
    const o = r.orders.find((x) => x.account === 7)!;
    // TNC < 0: the limit concedes the whole 0.1 x 390 / 0.1 = 390, to 38,610, past the bankruptcy price 40,000.
    expect(o.limitPrice).toBeCloseTo(38_610, 9);
    // The other side opens only now: at screening no one could have taken the order, so it went out.
    engine.addAccount(8, 10_000);
    engine.upsertPosition({ account: 8, market: 0, size: -1, entryPrice: 60_000 });
    const fills: Settlement[] = [];
    const deleveraged: Deleveraging[] = [];
    engine.onFill((f) => fills.push(f));
    engine.onDeleverage((d) => deleveraged.push(d));
    // Half at the limit: 0.05 x (50,000 - 38,610) = 569.5 lost against half the collateral, 500: the fund pays its
    // 10, the other 59.5 is a deficit. The order's other half is still open at the venue: ADL waits for it.
    engine.fill({ orderId: o.id, account: 7, market: 0, quantity: 0.05, price: o.limitPrice, eventTimeUs: 1 });
    expect(fills[0]!.insuranceCover).toBe(10);
    expect(fills[0]!.deficit).toBeCloseTo(59.5, 6);
    expect(deleveraged).toEqual([]);
    // The venue expires it: the order for what is left, which the empty fund could not pay, is deleveraged instead.
    engine.expire(o.id);
    r = await engine.step();
    expect(deleveraged.map((d) => [d.account, d.matched])).toEqual([[7, 0.05]]);
    const seen = r.stateChanges.filter((c) => c.account === 7).map((c) => `${c.from}->${c.to}`);
    r = await engine.step();
    seen.push(...r.stateChanges.filter((c) => c.account === 7).map((c) => `${c.from}->${c.to}`));
    expect(seen).toEqual(['liquidating->backstopped', 'backstopped->closed']);
    // Had the position stayed open, the state would have said so: a partial fill covered by the fund, alone.
    const engine2 = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 4, positions: 4 }, sizing: { emergencyHealth: 1 }, autoDeleverage: false });
    engines.push(engine2);
    engine2.addMarket({ id: 0, price: 50_000, tiers: TEN_PERCENT });
    engine2.addAccount(7, 1_000);
    engine2.upsertPosition({ account: 7, market: 0, size: 0.1, entryPrice: 50_000 });
    engine2.depositInsurance(0, 1_000_000);
    await engine2.step();
    engine2.pushPrice(0, 39_000);
    const o2 = (await engine2.step()).orders[0]!;
    engine2.fill({ orderId: o2.id, account: 7, market: 0, quantity: 0.05, price: o2.limitPrice, eventTimeUs: 1 });
    r = await engine2.step();
    expect(transitions(r)).toEqual(['liquidating->backstopped']);
  });
});
