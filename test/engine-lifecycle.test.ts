/**
 * The engine as an embedding application lives with it: threads start and stop, epochs run by themselves, inputs
 * that arrive mid-epoch wait for the next one, margin calls are raised once per fall, orders are named from
 * inputs, and docs/domain.md section 2's worked case comes out as written.
 */
import { existsSync, readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineConfig, type EpochResult, type LiquidationOrder } from '../src/index.js';

const BTC = 0;
/** One tier: maintenance 10%, initial 20%. */
const TIERS_10 = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const SMALL = { markets: 2, accounts: 16, positions: 32 };

const started: Engine[] = [];
async function start(config: EngineConfig = {}): Promise<Engine> {
  const engine = await Engine.start({ scanWorkers: 2, autoEpoch: false, capacity: SMALL, ...config });
  started.push(engine);
  engine.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS_10 });
  return engine;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.close()));
});

/** An account holding a 1 BTC cross long from 50,000 (maintenance 5,000 at that price). */
function long(engine: Engine, account: number, collateral: number): void {
  engine.addAccount(account, collateral);
  engine.upsertPosition({ account, market: BTC, size: 1, entryPrice: 50_000 });
}

/** The result of the engine's next epoch, however it is started. */
function nextEpoch(engine: Engine): Promise<EpochResult> {
  const next = new Promise<EpochResult>((resolve) => {
    const off = engine.onEpoch((r) => {
      off();
      resolve(r);
    });
  });
  return within(next, 5_000, 'epoch');
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const threads = (): number => readdirSync('/proc/self/task').length;
const workerHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;

async function settle(probe: () => number, target: number): Promise<number> {
  for (let i = 0; i < 100 && probe() > target; i++) await new Promise((r) => setTimeout(r, 10));
  return probe();
}

describe('close()', () => {
  it.skipIf(!existsSync('/proc/self/task'))('stops every thread the engine started', async () => {
    // Warm-up: a first engine may make Node start threads of its own (libuv's pool) that outlive it by design.
    await (await Engine.start({ scanWorkers: 1, capacity: SMALL })).close();
    const baseline = { threads: threads(), handles: workerHandles() };

    const engine = await Engine.start({ scanWorkers: 3, autoEpoch: false, capacity: SMALL });
    expect(threads()).toBeGreaterThanOrEqual(baseline.threads + 4); // 3 scan workers and the executor
    await engine.step();
    await engine.close();

    expect(await settle(threads, baseline.threads)).toBe(baseline.threads);
    expect(await settle(workerHandles, baseline.handles)).toBe(baseline.handles);
  });

  it('waits for the epoch in flight, which still delivers its orders', async () => {
    const engine = await start();
    long(engine, 1, 2_500);
    const inFlight = engine.step();
    await engine.close();
    const r = await inFlight;
    expect(r.orders.map((o) => o.id)).toEqual(['1-0-3']);
  });

  it('is a no-op the second time, and ends the orders() iterator', async () => {
    const engine = await start();
    const orders = engine.orders();
    const next = orders.next();
    await engine.close();
    await expect(engine.close()).resolves.toBeUndefined();
    await expect(within(next, 2_000, 'end of the iterator')).resolves.toEqual({ done: true, value: undefined });
  });
});

describe('automatic epochs (autoEpoch: true)', () => {
  it('deliver orders through onOrder and the orders() iterator after a pushPrice, without step()', async () => {
    const engine = await start({ autoEpoch: true });
    long(engine, 1, 10_000);
    engine.addAccount(2, 0);
    engine.upsertPosition({ account: 2, market: BTC, size: 0.5, entryPrice: 50_000, isolatedCollateral: 3_500 });
    expect((await nextEpoch(engine)).orders).toEqual([]); // the one the inputs above started
    const heard: LiquidationOrder[] = [];
    engine.onOrder((o) => heard.push(o));
    const iterator = engine.orders();
    const first = iterator.next(); // subscribes

    // Account 1: equity 10,000 - 6,000 = 4,000 < maintenance 4,400. Account 2 (isolated): 3,500 - 3,000 < 2,200.
    engine.pushPrice(BTC, 44_000);
    const one = await within(first, 5_000, 'order from the iterator');
    const two = await within(iterator.next(), 5_000, 'second order from the iterator');

    expect([one.value, two.value].map((o) => (o as LiquidationOrder).id).sort()).toEqual(['1-0-3', '2-0-5']);
    expect(heard).toEqual([one.value, two.value]);
    expect(heard.map((o) => o.reason).sort()).toEqual(['cross-maintenance', 'isolated-maintenance']);
    expect(engine.epochs).toBe(2); // the setup's epoch and the price's, neither asked for
  });

  it('run once for a burst of inputs, not once per input', async () => {
    const engine = await start({ autoEpoch: true });
    const epochs: number[] = [];
    engine.onEpoch((r) => epochs.push(r.epoch));
    for (let a = 1; a <= 5; a++) long(engine, a, 7_500);
    await nextEpoch(engine);
    await new Promise((r) => setImmediate(r));
    expect(epochs).toEqual([1]);
    expect(engine.epochs).toBe(1);
  });
});

describe('an input pushed while an epoch is in flight', () => {
  it('lands in the next epoch, not in the one in flight, and is not lost', async () => {
    const engine = await start();
    long(engine, 1, 7_500);
    const before = engine.lastSequence;

    const first = engine.step();
    await Promise.resolve(); // the epoch has begun on the worker threads; its inputs are fixed
    engine.pushPrice(BTC, 45_000); // equity 2,500 < maintenance 4,500
    engine.addAccount(2, 100); // a new account and position, structure written at once, values staged
    engine.upsertPosition({ account: 2, market: BTC, size: 0.1, entryPrice: 50_000 });
    // Staged, not yet landed: proof that the epoch above was in flight when they were accepted.
    expect(engine.account(1).positions[0]!.markPrice).toBe(50_000);
    expect(engine.account(2).positions).toEqual([]);

    const r1 = await first;
    expect(r1.orders).toEqual([]);
    expect(r1.lastSequence).toBe(before);

    const r2 = await engine.step();
    expect(r2.lastSequence).toBe(engine.lastSequence);
    expect(r2.orders.map((o) => o.id)).toEqual(['2-0-6', '1-0-3']);
    expect(engine.account(1).positions[0]!.markPrice).toBe(45_000);
  });

  it('keeps its place in the sequence: a later input to the same price, accepted after that epoch, still wins', async () => {
    const engine = await start();
    long(engine, 1, 7_500);
    const first = engine.step();
    await Promise.resolve();
    engine.pushPrice(BTC, 45_000); // staged behind the epoch in flight
    await first;
    engine.pushPrice(BTC, 50_000); // accepted later, with no epoch in flight
    engine.upsertPosition({ account: 1, market: BTC, size: 0.5, entryPrice: 50_000 });
    const r = await engine.step();
    expect(r.orders).toEqual([]);
    expect(r.lastSequence).toBe(engine.lastSequence);
    expect(engine.account(1).positions.map((p) => [p.markPrice, p.size])).toEqual([[50_000, 0.5]]);
  });

  it('gets an epoch of its own when epochs are automatic', async () => {
    const engine = await start({ autoEpoch: true });
    long(engine, 1, 7_500);
    await nextEpoch(engine);
    const iterator = engine.orders();
    const order = iterator.next();
    const first = engine.step();
    await Promise.resolve();
    engine.pushPrice(BTC, 45_000);
    expect(engine.account(1).positions[0]!.markPrice).toBe(50_000);
    expect((await first).orders).toEqual([]);
    expect((await within(order, 5_000, 'order for the staged price')).value).toMatchObject({ id: '1-0-3', epoch: 3 });
  });
});

describe('margin calls', () => {
  it('are raised once while a group stays between health 1 and marginCallHealth, and again after it recovers and falls', async () => {
    const engine = await start({ marginCallHealth: 1.2 });
    long(engine, 1, 5_500); // cross, health 1.1 at 50,000
    engine.addAccount(2, 0);
    engine.upsertPosition({ account: 2, market: BTC, size: 1, entryPrice: 50_000, isolatedCollateral: 5_750 }); // isolated, 1.15
    const calls = async (price: number): Promise<string[]> => {
      engine.pushPrice(BTC, price);
      const r = await engine.step();
      expect(r.orders).toEqual([]);
      return r.marginCalls.map((c) => `${c.account}/${c.market ?? 'cross'}@${c.health.toFixed(4)}`);
    };

    expect(await calls(50_000)).toEqual(['1/cross@1.1000', '2/0@1.1500']); // lowest health first
    expect(await calls(49_900)).toEqual([]); // still below 1.2: no repeat
    expect((await engine.step()).marginCalls).toEqual([]);
    expect(await calls(52_000)).toEqual([]); // recovered above 1.2
    expect(await calls(50_000)).toEqual(['1/cross@1.1000', '2/0@1.1500']); // fell again
  });

  it('carry the equity and maintenance margin of the group they warn about', async () => {
    const engine = await start();
    long(engine, 9, 5_500);
    const [call] = (await engine.step()).marginCalls;
    expect(call).toMatchObject({ epoch: 1, account: 9, market: null, equity: 5_500, maintenanceMargin: 5_000 });
    expect(call!.health).toBeCloseTo(1.1, 12);
  });
});

describe("docs/domain.md section 2's worked case", () => {
  it('sells the whole 0.1 BTC at limit 49,999 when equity is 499 and maintenance 500', async () => {
    // Whole-position sizing (every liquidatable group an emergency), as docs/domain.md section 2's example closes 0.1 BTC.
    const engine = await start({ bankruptcyAdjustment: 1, spreadToMaintenanceMarginRatio: 0.1, sizing: { emergencyHealth: 1 } });
    engine.addAccount(7, 499); // sequence 2 (the market was 1)
    engine.upsertPosition({ account: 7, market: BTC, size: 0.1, entryPrice: 50_000 }); // sequence 3

    const r = await engine.step();
    expect(r.marginCalls).toEqual([]);
    expect(r.orders).toHaveLength(1);
    const o = r.orders[0]!;
    expect(o).toMatchObject({
      id: '7-0-3',
      epoch: 1,
      account: 7,
      market: BTC,
      symbol: 'BTC-USD',
      side: 'sell',
      quantity: 0.1,
      oraclePrice: 50_000,
      reason: 'cross-maintenance',
      equity: 499,
      maintenanceMargin: 500,
      positionSequence: 3,
    });
    expect(o.limitPrice).toBeCloseTo(49_999, 6);
    expect(o.health).toBeCloseTo(0.998, 12);
    expect(engine.account(7).positions[0]!.fillablePrice).toBe(o.limitPrice);
  });

  it('issues no second order for the same position state, nor while its order is open, and concedes to 49,500 for the new state at equity 0', async () => {
    const engine = await start();
    engine.addAccount(7, 499);
    engine.upsertPosition({ account: 7, market: BTC, size: 0.1, entryPrice: 50_000 });
    expect((await engine.step()).orders.map((o) => o.id)).toEqual(['7-0-3']);

    engine.setCollateral(7, 0); // sequence 4: the position itself is unchanged
    expect((await engine.step()).orders).toEqual([]);

    engine.upsertPosition({ account: 7, market: BTC, size: 0.1, entryPrice: 50_000 }); // sequence 5: a new state
    expect((await engine.step()).orders).toEqual([]); // but 7-0-3 is still open at the venue
    engine.expire('7-0-3'); // sequence 6: it ended unfilled
    const [o] = (await engine.step()).orders;
    expect(o).toMatchObject({ id: '7-0-6', side: 'sell', quantity: 0.1, equity: 0 });
    expect(o!.limitPrice).toBeCloseTo(49_500, 6);
  });
});

describe('orders that do not fit in the output table', () => {
  it('are deferred to the next epochs, most underwater first, none lost or repeated', async () => {
    const engine = await start({ capacity: { ...SMALL, output: 2 } });
    for (let a = 1; a <= 5; a++) long(engine, a, 1_000 * a); // health 0.2 .. 1.0 at 50,000
    engine.pushPrice(BTC, 49_000);
    const seen: string[] = [];
    const deferred: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await engine.step();
      seen.push(...r.orders.map((o) => `${o.account}`));
      deferred.push(r.deferred);
    }
    expect(deferred).toEqual([3, 1, 0, 0]);
    expect(seen).toEqual(['1', '2', '3', '4', '5']);
  });
});
