/**
 * An order in flight has a deadline ("no order forgotten after a crash"): an order open for
 * `orderTimeoutUs` of event time is timed out by the engine (reported, forgotten: a late fill is UNKNOWN_ORDER), and
 * its position is re-evaluated: still liquidatable, it gets a new order with a new id, once. Before the deadline the
 * position is not ordered twice. After a restart from the journal, the orders that were in flight time out the same way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineConfig, type LiquidationOrder } from '../src/index.js';
import { codeOf } from './support/errors.js';

const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const SECOND = 1_000_000;
const T0 = 1_767_225_600 * SECOND;
const TIMEOUT = 30 * SECOND;

let engines: Engine[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Market 0 at 50,000; accounts 1..n each 0.1 long from 50,000 with 400 collateral (below maintenance 500). */
async function book(n: number, config: EngineConfig = {}): Promise<Engine> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 64, positions: 64 }, sizing: { emergencyHealth: 1 }, orderTimeoutUs: TIMEOUT, ...config });
  engines.push(engine);
  if (engine.counts.markets === 0) {
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
    for (let a = 1; a <= n; a++) {
      engine.addAccount(a, 400);
      engine.upsertPosition({ account: a, market: 0, size: 0.1, entryPrice: 50_000 });
    }
    engine.depositInsurance(0, 10_000);
  }
  return engine;
}

/** A price tick at `t` seconds after T0 (the same price: only time passes), then an epoch. */
async function tick(engine: Engine, t: number): Promise<{ orders: LiquidationOrder[]; timedOut: readonly LiquidationOrder[] }> {
  engine.pushPrices([{ market: 0, price: 50_000, eventTimeUs: T0 + t * SECOND }]);
  const r = await engine.step();
  return { orders: r.orders, timedOut: r.timedOut };
}

describe('an order in flight has a deadline', () => {
  it('is not re-ordered before it, is timed out at it, and its position gets one new order with a new id', async () => {
    const engine = await book(3);
    const heard: LiquidationOrder[] = [];
    engine.onOrderTimeout((o) => heard.push(o));
    const first = await tick(engine, 0);
    expect(first.orders.map((o) => o.account)).toEqual([1, 2, 3]);
    for (const t of [1, 10, 29]) expect(await tick(engine, t)).toEqual({ orders: [], timedOut: [] });
    const due = await tick(engine, 30);
    expect(due.timedOut.map((o) => o.id)).toEqual(first.orders.map((o) => o.id));
    expect(heard).toEqual(due.timedOut);
    expect(engine.openOrders()).toEqual([]);
    // The re-evaluation lands with the timeout: the next epoch orders each position again, under new ids.
    const again = (await engine.step()).orders;
    expect(again.map((o) => o.account)).toEqual([1, 2, 3]);
    for (const [i, o] of again.entries()) {
      expect(o.id).not.toBe(first.orders[i]!.id);
      expect(o.quantity).toBe(first.orders[i]!.quantity);
    }
    expect((await tick(engine, 31)).orders).toEqual([]);
    // A late fill of a timed-out order is refused and changes nothing.
    const old = first.orders[0]!;
    const fund = engine.insuranceFund(0);
    expect(codeOf(() => engine.fill({ orderId: old.id, account: 1, market: 0, quantity: old.quantity, price: old.limitPrice, eventTimeUs: T0 + 31 * SECOND }))).toBe('UNKNOWN_ORDER');
    expect(engine.insuranceFund(0)).toBe(fund);
    expect(engine.account(1).positions[0]!.size).toBe(0.1);
    expect(engine.outputCounts['timedOut']).toBe(3);
  });

  it('counts from issue: a partly filled order times out with its remainder, a filled one never', async () => {
    const engine = await book(2);
    const [a, b] = (await tick(engine, 0)).orders;
    engine.fill([
      { orderId: a!.id, account: 1, market: 0, quantity: a!.quantity, price: a!.limitPrice, eventTimeUs: T0 + SECOND },
      { orderId: b!.id, account: 2, market: 0, quantity: b!.quantity / 2, price: b!.limitPrice, eventTimeUs: T0 + SECOND },
    ]);
    await engine.step();
    const due = await tick(engine, 30);
    expect(due.timedOut.map((o) => o.id)).toEqual([b!.id]);
  });

  it('is validated in config', async () => {
    for (const orderTimeoutUs of [0, -1, NaN, '30' as unknown as number]) {
      await expect(Engine.start({ scanWorkers: 0, orderTimeoutUs })).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'orderTimeoutUs' });
    }
  });

  it('applies after a restart: orders in flight at the stop time out and their positions are ordered again, the same with 0 and 2 workers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unwind-timeout-'));
    dirs.push(dir);
    const log = (): void => {};
    const before = await book(4, { journal: { dir, log } });
    const issued = (await tick(before, 0)).orders;
    expect(issued).toHaveLength(4);
    await before.close();
    const digests: string[] = [];
    for (const scanWorkers of [0, 2]) {
      const copy = mkdtempSync(join(tmpdir(), 'unwind-timeout-copy-'));
      dirs.push(copy);
      const { cpSync } = await import('node:fs');
      cpSync(dir, copy, { recursive: true });
      const after = await book(4, { journal: { dir: copy, log }, scanWorkers });
      expect(after.openOrders().map((o) => o.order.id)).toEqual(issued.map((o) => o.id));
      expect((await tick(after, 5)).orders).toEqual([]);
      const due = await tick(after, 31);
      expect(due.timedOut.map((o) => o.id)).toEqual(issued.map((o) => o.id));
      const again = (await after.step()).orders;
      expect(again.map((o) => o.account)).toEqual([1, 2, 3, 4]);
      digests.push(after.outputDigest());
    }
    expect(digests[1]).toBe(digests[0]);
  });
});
