/**
 * Deficits through the engine (docs/domain.md section 4; README "Liquidation procedures"): orders the insurance fund
 * could not pay screened into deleveragings at the bankruptcy value, socialized loss of a whole fill, the ADL
 * queue's membership, the split of a cross deficit by maintenance margin, the fund's drawdown limit, and the
 * property that bad debt is never silent.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { adlQueue as pureAdlQueue, type AdlCandidate } from '../src/domain/adl.js';
import { deleveragePrice } from '../src/domain/liquidation.js';
import type { Deleveraging, Settlement, SocializedLoss, UnresolvedDeficit } from '../src/clearing/clearing.js';
import { Engine, type EngineConfig, type LiquidationOrder } from '../src/index.js';
import { entry } from '../src/ledger/ledger.js';
import { Money } from '../src/ledger/money.js';
import { mulberry32 } from '../src/sim/random.js';
import { fillPriceWithin } from './support/fill-price.js';

const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const FIVE_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];
const ATOMS = new Money(6);
const EIGHT_HOURS_US = 8 * 3_600 * 1_000_000;

let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

interface Recorded {
  engine: Engine;
  deleveraged: Deleveraging[];
  settled: Settlement[];
  socialized: SocializedLoss[];
  unresolved: UnresolvedDeficit[];
}

/** An engine (inline, manual epochs) with every clearing event recorded. */
async function started(config: EngineConfig, capacity = { markets: 2, accounts: 8, positions: 16 }): Promise<Recorded> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity, ...config });
  engines.push(engine);
  const r: Recorded = { engine, deleveraged: [], settled: [], socialized: [], unresolved: [] };
  engine.onDeleverage((d) => r.deleveraged.push(d));
  engine.onFill((s) => r.settled.push(s));
  engine.onSocializedLoss((l) => r.socialized.push(l));
  engine.onUnresolvedDeficit((u) => r.unresolved.push(u));
  return r;
}

const fillOf = (o: LiquidationOrder, quantity = o.quantity, price = o.limitPrice, eventTimeUs = 1) => ({
  orderId: o.id,
  account: o.account,
  market: o.market,
  quantity,
  price,
  eventTimeUs,
});

const balance = (engine: Engine, account: number): number => ATOMS.toQuote(engine.ledger.balance(entry.account(account)));
const sizeOf = (engine: Engine, account: number, market: number): number => engine.account(account).positions.find((p) => p.market === market)?.size ?? 0;

/**
 * The issue's book: BTC (id 0) at 50,000, maintenance 10%. Account 1: 0.1 BTC long from 50,000 on -500 of
 * collateral (equity -500, maintenance 500: health -1, closed whole). Account 2: 1 BTC short from 50,000 on 10,000.
 */
async function issueBook(config: EngineConfig): Promise<Recorded> {
  const r = await started(config);
  r.engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
  r.engine.addAccount(1, -500);
  r.engine.upsertPosition({ account: 1, market: 0, size: 0.1, entryPrice: 50_000 });
  r.engine.addAccount(2, 10_000);
  r.engine.upsertPosition({ account: 2, market: 0, size: -1, entryPrice: 50_000 });
  return r;
}

describe('the issue example: a bankrupt long the empty insurance fund cannot take', () => {
  it('emits no order under the ADL policy and deleverages the long against the short at 55,000, leaving it flat at collateral 0', async () => {
    const r = await issueBook({});
    const { engine } = r;
    const step = await engine.step();
    expect(step.orders.filter((o) => o.account === 1)).toEqual([]);
    expect(r.deleveraged).toHaveLength(1);
    const d = r.deleveraged[0]!;
    // deleveragePrice(mark, size, q, released, TNC, TMMR) = 50,000 - (-500 / 500) x 500 / 0.1 = 55,000.
    expect(deleveragePrice(50_000, 0.1, 0.1, 500, -500, 500)).toBe(55_000);
    expect(d).toMatchObject({ account: 1, market: 0, bankruptcyPrice: 55_000, markPrice: 50_000, matched: 0.1, remainder: 0 });
    expect(typeof d.orderId).toBe('string'); // the order it replaced
    expect(d.absorbed).toBeCloseTo(500, 6);
    expect(d.realizedPnl).toBeCloseTo(500, 6);
    expect(d.counterparties).toHaveLength(1);
    expect(d.counterparties[0]!.account).toBe(2);
    expect(d.counterparties[0]!.quantity).toBe(0.1);
    expect(d.counterparties[0]!.realizedPnl).toBeCloseTo(-500, 6);
    expect(d.counterparties[0]!.sizeAfter).toBeCloseTo(-0.9, 12);
    const a1 = engine.account(1);
    expect(a1.positions.every((p) => p.size === 0)).toBe(true);
    expect(a1.collateral).toBe(0);
    expect(engine.ledger.balance(entry.account(1))).toBe(0n);
    expect(balance(engine, 2)).toBe(9_500);
    expect(r.settled).toEqual([]);
    expect(r.unresolved).toEqual([]);
    expect(engine.insuranceFund(0)).toBe(0);
    expect(engine.ledger.total()).toBe(0n);
    // Nothing left to do: no order for the long in the next epoch either.
    expect((await engine.step()).orders.filter((o) => o.account === 1)).toEqual([]);
  });

  it('emits the order under the socialized policy and, filled whole at its limit, has the short pay the whole deficit to the atom', async () => {
    const r = await issueBook({ deficitPolicy: 'socialized' });
    const { engine } = r;
    const step = await engine.step();
    const order = step.orders.find((o) => o.account === 1)!;
    expect(order).toBeDefined();
    expect(order.quantity).toBe(0.1);
    // TNC <= 0: the fillable price concedes SMMR x PMMR / |PS| = 0.1 x 500 / 0.1 = 500.
    expect(order.limitPrice).toBe(49_500);
    expect(r.deleveraged).toEqual([]);
    engine.fill(fillOf(order));
    expect(r.settled).toHaveLength(1);
    // Realized -50 on -500 of collateral: the gap is 550, all of it a deficit (the fund is empty).
    expect(r.settled[0]).toMatchObject({ closed: 0.1, sizeAfter: 0, insuranceCover: 0, deficit: 550, fee: 0 });
    expect(r.socialized).toHaveLength(1);
    expect(r.socialized[0]).toMatchObject({ account: 1, market: 0, amount: 550, shares: [{ account: 2, amount: 550 }] });
    expect(r.unresolved).toEqual([]);
    expect(engine.ledger.balance(entry.account(1))).toBe(0n);
    expect(engine.account(1).collateral).toBe(0);
    expect(engine.account(1).positions.every((p) => p.size === 0)).toBe(true);
    expect(balance(engine, 2)).toBe(9_450);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('names the deficit of a whole fill as unresolved under the socialized policy when no one holds the opposite side', async () => {
    const r = await started({ deficitPolicy: 'socialized' });
    const { engine } = r;
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    engine.addAccount(1, -500);
    engine.upsertPosition({ account: 1, market: 0, size: 0.1, entryPrice: 50_000 });
    const order = (await engine.step()).orders.find((o) => o.account === 1)!;
    engine.fill(fillOf(order));
    expect(r.socialized).toEqual([]);
    expect(r.unresolved).toEqual([expect.objectContaining({ account: 1, market: 0, amount: 550, reason: 'no-counterparty' })]);
    expect(balance(engine, 1)).toBe(-550);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('emits the order under the ADL policy when the queue is empty, then names the flat account left below zero as unresolved', async () => {
    const r = await started({});
    const { engine } = r;
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    engine.addAccount(1, -500);
    engine.upsertPosition({ account: 1, market: 0, size: 0.1, entryPrice: 50_000 });
    const order = (await engine.step()).orders.find((o) => o.account === 1)!;
    expect(order).toBeDefined();
    expect(r.deleveraged).toEqual([]);
    engine.fill(fillOf(order));
    expect(r.settled[0]).toMatchObject({ deficit: 550, sizeAfter: 0 });
    expect(r.unresolved).toEqual([expect.objectContaining({ account: 1, market: 0, amount: 550, reason: 'no-counterparty' })]);
    expect(balance(engine, 1)).toBe(-550);
    expect(engine.ledger.total()).toBe(0n);
  });
});

describe('the ADL queue', () => {
  /**
   * BTC at 50,000. Account 1: bankrupt 0.1 BTC long (collateral -500). Shorts, all in profit from 60,000: account 2
   * (1 BTC, equity exactly 0), account 3 (1 BTC, equity -500), both of which would rank first if queued (infinite
   * leverage), and account 4 (0.05 BTC, equity 5,000: solvent, smaller than the bankrupt long).
   */
  async function queueBook(): Promise<Recorded> {
    const r = await started({});
    const { engine } = r;
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    const accounts: [number, number, number, number][] = [
      [1, -500, 0.1, 50_000],
      [2, -10_000, -1, 60_000],
      [3, -10_500, -1, 60_000],
      [4, 4_500, -0.05, 60_000],
    ];
    for (const [id, collateral, size, entryPrice] of accounts) {
      engine.addAccount(id, collateral);
      engine.upsertPosition({ account: id, market: 0, size, entryPrice });
    }
    return r;
  }

  it('holds only counterparties whose margin group has positive equity, each with a finite rank', async () => {
    const { engine } = await queueBook();
    expect(engine.account(2).equity).toBe(0);
    expect(engine.account(3).equity).toBe(-500);
    const queue = engine.adlQueue(0, 1);
    expect(queue.map((e) => [e.queuePosition, e.account])).toEqual([[1, 4]]);
    for (const e of queue) {
      expect(Number.isFinite(e.rank)).toBe(true);
      expect(Number.isFinite(e.effectiveLeverage)).toBe(true);
    }
    expect(JSON.stringify(queue)).not.toContain('null');
    // Against a bankrupt short: the long (account 1) has negative equity, so no one.
    expect(engine.adlQueue(0, -1)).toEqual([]);
  });

  it('queues by the same rule in the pure function: equity 0 or below is left out, whatever its rank would be', () => {
    const c = (account: number, size: number, entryPrice: number, equity: number): AdlCandidate => ({ account, market: 0, size, entryPrice, markPrice: 50_000, equity });
    const queue = pureAdlQueue([c(2, -1, 60_000, 0), c(3, -1, 60_000, -500), c(4, -0.05, 60_000, 5_000), c(5, -2, 40_000, 1e-9), c(6, 0.5, 40_000, 100)], 1);
    expect(queue.map((e) => e.account)).toEqual([4, 5]);
    for (const e of queue) expect(Number.isFinite(e.rank)).toBe(true);
    expect(JSON.stringify(queue)).not.toContain('null');
    for (const policy of ['leveragedPnl', 'hyperliquid'] as const) {
      const q = pureAdlQueue([c(2, -1, 60_000, 0), c(3, -1, 60_000, -1), c(4, -0.05, 60_000, 5_000)], 1, { policy });
      expect(q.map((e) => e.account)).toEqual([4]);
      expect(JSON.stringify(q)).not.toContain('null');
    }
  });

  it('deleverages a bankrupt long against the solvent short only, never against a bankrupt short, leaving the rest open', async () => {
    const r = await queueBook();
    const { engine } = r;
    await engine.step();
    const mine = r.deleveraged.filter((d) => d.account === 1);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    for (const d of r.deleveraged) for (const c of d.counterparties) expect([2, 3]).not.toContain(c.account);
    const first = mine[0]!;
    expect(first.counterparties.map((c) => c.account)).toEqual([4]);
    expect(first.counterparties[0]!.quantity).toBe(0.05);
    expect(first).toMatchObject({ matched: 0.05, remainder: 0.05 });
    expect(sizeOf(engine, 2, 0)).toBe(-1);
    expect(sizeOf(engine, 3, 0)).toBe(-1);
    expect(sizeOf(engine, 4, 0)).toBe(0);
    expect(sizeOf(engine, 1, 0)).toBeCloseTo(0.05, 12);
    expect(engine.ledger.total()).toBe(0n);
    // The queue is empty now: the remainder goes out as an order (no one to deleverage against).
    expect(engine.adlQueue(0, 1)).toEqual([]);
    const next = await engine.step();
    expect(next.orders.filter((o) => o.account === 1).map((o) => o.quantity)).toEqual([sizeOf(engine, 1, 0)]);
    expect(r.deleveraged.filter((d) => d.account === 1)).toHaveLength(1);
  });
});

describe('a cross account bankrupt in two markets', () => {
  /**
   * BTC (0) at 50,000, maintenance 10%; ETH (1) at 2,000, maintenance 5%. Account 1: 0.1 BTC long (MM 500) and 2 ETH
   * long (notional 4,000, MM 200) from those prices, on `collateral` (negative: equity = collateral). Account 2 is
   * short 1 BTC and account 3 short 10 ETH, both with ample collateral. The fund is empty.
   */
  async function twoMarkets(collateral: number): Promise<Recorded> {
    const r = await started({});
    const { engine } = r;
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    engine.addMarket({ id: 1, symbol: 'ETH-USD', price: 2_000, tiers: FIVE_PERCENT });
    engine.addAccount(1, collateral);
    engine.upsertPosition({ account: 1, market: 0, size: 0.1, entryPrice: 50_000 });
    engine.upsertPosition({ account: 1, market: 1, size: 2, entryPrice: 2_000 });
    engine.addAccount(2, 50_000);
    engine.upsertPosition({ account: 2, market: 0, size: -1, entryPrice: 50_000 });
    engine.addAccount(3, 50_000);
    engine.upsertPosition({ account: 3, market: 1, size: -10, entryPrice: 2_000 });
    return r;
  }

  for (const collateral of [-350, -377.77, -1_234.5]) {
    it(`splits a deficit of ${-collateral} between the markets in proportion to maintenance margin and ends at equity 0`, async () => {
      const r = await twoMarkets(collateral);
      const { engine } = r;
      const before = engine.account(1);
      const deficit = -before.equity;
      expect(deficit).toBeCloseTo(-collateral, 9);
      const mm = new Map(before.positions.map((p) => [p.market, p.maintenanceMargin]));
      expect(before.maintenanceMargin).toBeCloseTo(700, 9);
      const step = await engine.step();
      expect(step.orders.filter((o) => o.account === 1)).toEqual([]);
      const mine = r.deleveraged.filter((d) => d.account === 1);
      expect(mine.map((d) => d.market).sort()).toEqual([0, 1]);
      for (const d of mine) {
        expect(d.remainder).toBe(0);
        const share = d.absorbed / deficit;
        const expected = mm.get(d.market)! / before.maintenanceMargin;
        // 1e-9 relative, or one atom of the ledger: the second deleveraging meets the group's equity after the
        // first one's realized PnL was rounded to the atom (10^-6 quote).
        const off = Math.abs(share - expected) / expected;
        expect(off < 1e-9 || Math.abs(d.absorbed - deficit * expected) <= 1e-6).toBe(true);
      }
      expect(mine.map((d) => d.counterparties.map((c) => c.account))).toEqual(mine.map((d) => (d.market === 0 ? [2] : [3])));
      const after = engine.account(1);
      expect(after.positions.every((p) => p.size === 0)).toBe(true);
      // At most one atom off: each deleveraging credits its realized PnL rounded down to the atom, and a flat group
      // left an atom short is named for it (-377.77 ends at -0.000001, named as an unresolved 0.000001).
      const ONE_ATOM = 1e-6 + 1e-12;
      expect(Math.abs(after.equity)).toBeLessThanOrEqual(ONE_ATOM);
      expect(Math.abs(after.collateral)).toBeLessThanOrEqual(ONE_ATOM);
      expect(r.unresolved.reduce((x, u) => x + u.amount, 0)).toBeCloseTo(Math.max(0, -after.collateral), 9);
      expect(r.unresolved.every((u) => u.amount <= ONE_ATOM)).toBe(true);
      expect(engine.ledger.total()).toBe(0n);
    });
  }
});

describe('the insurance fund drawdown limit', () => {
  /**
   * BTC at 50,000. Account 7: 0.1 BTC long from 50,000 with no collateral (TNC 0: closed whole). The fund holds 1,000
   * and may lose 30% of it (300) within 8 h. `spread` is the spread to maintenance margin ratio: at TNC 0 the limit
   * concedes spread x 500 / 0.1 below the oracle, past the bankruptcy price 50,000 (dYdX mainnet runs 1.5). Account 2
   * (1 BTC short on 10,000) opens after the order went out: at screening no one could take it, so it goes out under
   * either policy whatever the fund could pay.
   */
  async function drawdownBook(spread: number, config: EngineConfig): Promise<{ r: Recorded; order: LiquidationOrder }> {
    // Emergency health 1: a spread of 2 leaves no fee bound healing above the default 2/3 (src/config.ts).
    const r = await started({ fundDrawdown: { max: 0.3, windowUs: EIGHT_HOURS_US }, spreadToMaintenanceMarginRatio: spread, sizing: { emergencyHealth: 1 }, ...config });
    const { engine } = r;
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    engine.depositInsurance(0, 1_000);
    engine.addAccount(7, 0);
    engine.upsertPosition({ account: 7, market: 0, size: 0.1, entryPrice: 50_000 });
    const orders = (await engine.step()).orders.filter((o) => o.account === 7);
    expect(orders).toHaveLength(1);
    expect(orders[0]!.limitPrice).toBe(50_000 - (spread * 500) / 0.1);
    expect(r.deleveraged).toEqual([]);
    engine.addAccount(2, 10_000);
    engine.upsertPosition({ account: 2, market: 0, size: -1, entryPrice: 50_000 });
    return { r, order: orders[0]! };
  }

  it('pays exactly 300 of a 500 gap and has the socialized policy charge the other 200 to the short', async () => {
    const { r, order } = await drawdownBook(1, { deficitPolicy: 'socialized' });
    const { engine } = r;
    expect(order.limitPrice).toBe(45_000);
    // Filled whole at its limit: realized -500 on TNC 0, a gap of 500.
    engine.fill(fillOf(order));
    expect(r.settled[0]).toMatchObject({ price: 45_000, insuranceCover: 300, deficit: 200, sizeAfter: 0 });
    expect(engine.insuranceFund(0)).toBe(700);
    expect(r.socialized).toEqual([expect.objectContaining({ account: 7, amount: 200, shares: [{ account: 2, amount: 200 }] })]);
    expect(r.unresolved).toEqual([]);
    expect(engine.ledger.balance(entry.account(7))).toBe(0n);
    expect(balance(engine, 2)).toBe(9_800);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('pays exactly 300 of a 500 gap and has the ADL policy deleverage the rest of the position for the other 200, once the rest of the order has ended', async () => {
    const { r, order } = await drawdownBook(2, {});
    const { engine } = r;
    expect(order.limitPrice).toBe(40_000);
    // Half the position at its limit: realized -500 on TNC 0 (nothing of the TNC is released), a gap of 500.
    engine.fill(fillOf(order, 0.05));
    expect(r.settled[0]).toMatchObject({ price: 40_000, closed: 0.05, insuranceCover: 300, deficit: 200 });
    expect(engine.insuranceFund(0)).toBe(700);
    // The order's other half is open at the venue: not deleveraged under it. The venue expires it; the next order,
    // which the fund (at its drawdown limit) could not pay, is deleveraged instead.
    expect(r.deleveraged).toEqual([]);
    expect(sizeOf(engine, 7, 0)).toBe(0.05);
    engine.expire(order.id);
    expect((await engine.step()).orders.filter((o) => o.account === 7)).toEqual([]);
    // Left: 0.05 BTC on -200 of collateral (MM 250): deleveraged at 50,000 + (200 / 250) x 250 / 0.05 = 54,000.
    expect(r.deleveraged).toHaveLength(1);
    const d = r.deleveraged[0]!;
    expect(d).toMatchObject({ account: 7, orderId: expect.stringMatching(/^7-0-/), matched: 0.05, remainder: 0 });
    expect(d.orderId).not.toBe(order.id);
    expect(d.bankruptcyPrice).toBeCloseTo(54_000, 6);
    expect(d.absorbed).toBeCloseTo(200, 6);
    expect(d.counterparties.map((c) => c.account)).toEqual([2]);
    expect(sizeOf(engine, 7, 0)).toBe(0);
    expect(Math.abs(balance(engine, 7))).toBeLessThan(1e-6);
    expect(r.unresolved).toEqual([]);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('cuts the cover that crosses the limit at the limit, and covers nothing more within the window', async () => {
    // Spread 1: each limit is 50,000 - 1 x 500 / 0.1 = 45,000 (TNC 0); fills at or above it are legal.
    const r = await started({ deficitPolicy: 'socialized', fundDrawdown: { max: 0.3, windowUs: EIGHT_HOURS_US }, spreadToMaintenanceMarginRatio: 1 });
    const { engine } = r;
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    engine.depositInsurance(0, 1_000);
    for (const a of [5, 6, 7]) {
      engine.addAccount(a, 0);
      engine.upsertPosition({ account: a, market: 0, size: 0.1, entryPrice: 50_000 });
    }
    engine.addAccount(2, 100_000);
    engine.upsertPosition({ account: 2, market: 0, size: -3, entryPrice: 50_000 });
    const orders = new Map((await engine.step()).orders.map((o) => [o.account, o]));
    expect([...orders.keys()].sort()).toEqual([5, 6, 7]);
    for (const o of orders.values()) expect(o.limitPrice).toBe(45_000);
    engine.fill(fillOf(orders.get(5)!, 0.1, 48_000, 1_000)); // better than the limit, gap 200: paid whole (1,000 -> 800)
    engine.fill(fillOf(orders.get(6)!, 0.1, 45_000, 2_000)); // at the limit, gap 500: 100 left under the limit
    engine.fill(fillOf(orders.get(7)!, 0.1, 49_000, 3_000)); // better, gap 100: nothing left
    expect(r.settled.map((s) => [s.account, s.insuranceCover, s.deficit])).toEqual([
      [5, 200, 0],
      [6, 100, 400],
      [7, 0, 100],
    ]);
    expect(engine.insuranceFund(0)).toBe(700);
    expect(r.socialized.map((l) => [l.account, l.amount])).toEqual([
      [6, 400],
      [7, 100],
    ]);
    for (const a of [5, 6, 7]) expect(engine.ledger.balance(entry.account(a))).toBe(0n);
    expect(engine.ledger.total()).toBe(0n);
  });
});

// ---- the property: bad debt is never silent ----

interface BookSpec {
  readonly markets: number;
  readonly fund: number;
  readonly accounts: { readonly collateral: number; readonly positions: ({ readonly size: number; readonly entry: number } | null)[] }[];
  readonly moves: [number, number][];
  readonly seed: number;
}

const MARKETS = [
  { id: 0, symbol: 'AAA-USD', price: 100, tiers: TEN_PERCENT },
  { id: 1, symbol: 'BBB-USD', price: 10, tiers: FIVE_PERCENT },
];

/**
 * 1-2 markets (prices 100 and 10), 4-8 cross accounts with collateral from -150 to 1,500 (in cents), each with a long
 * or short of 0.5-20 base units (0.001 steps) in at least one market, from entries within 10% of the price; the
 * fund of each market seeded with 0 or up to 400; 4-10 steps moving each price by up to 12% (basis points); a seed
 * for the fills.
 */
const bookArb: fc.Arbitrary<BookSpec> = fc.integer({ min: 1, max: 2 }).chain((markets) =>
  fc.record({
    markets: fc.constant(markets),
    fund: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40_000 }).map((c) => c / 100)),
    accounts: fc.array(
      fc.record({
        collateral: fc.integer({ min: -15_000, max: 150_000 }).map((c) => c / 100),
        positions: fc
          .array(
            fc.option(
              fc.record({
                size: fc.tuple(fc.boolean(), fc.integer({ min: 500, max: 20_000 })).map(([long, x]) => ((long ? 1 : -1) * x) / 1_000),
                entry: fc.integer({ min: 900, max: 1_100 }).map((x) => x / 1_000),
              }),
              { nil: null, freq: 3 },
            ),
            { minLength: markets, maxLength: markets },
          )
          .filter((ps) => ps.some((p) => p !== null)),
      }),
      { minLength: 4, maxLength: 8 },
    ),
    moves: fc.array(
      fc.tuple(fc.integer({ min: -1_200, max: 1_200 }), fc.integer({ min: -1_200, max: 1_200 })).map(([a, b]): [number, number] => [a / 10_000, b / 10_000]),
      { minLength: 4, maxLength: 10 },
    ),
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
  }),
);

interface Tally {
  fills: number;
  deficits: number;
  deleveragings: number;
  socialized: number;
  unresolved: number;
  flatBelowZero: number;
  /** Violations of the strict property of the two known kinds (see the report at the end of this file), when excused. */
  excused: number;
}

/**
 * Runs a book: each step moves the prices and runs an epoch; then every open order is filled (whole or in part, at
 * its limit or better within the improvement band), expired, or left, by a seeded draw. After every input: the ledger sums to 0,
 * every account whose cross group is flat and whose collateral is negative has been named by UnresolvedDeficit
 * events summing to what it lacks (and a flat account at or above zero by none that it still owes), and the ADL
 * queues hold only counterparties with positive equity and finite ranks.

 */
async function runBook(spec: BookSpec, deficitPolicy: 'adl' | 'socialized'): Promise<Tally> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 8, positions: 16 }, deficitPolicy });
  const tally: Tally = { fills: 0, deficits: 0, deleveragings: 0, socialized: 0, unresolved: 0, flatBelowZero: 0, excused: 0 };
  const named = new Map<number, number[]>();
  const flattenedAsCounterparty = new Set<number>();
  engine.onUnresolvedDeficit((u) => {
    expect(u.amount).toBeGreaterThan(0);
    expect(u.reason).toBe('no-counterparty');
    named.set(u.account, [...(named.get(u.account) ?? []), u.amount]);
    tally.unresolved++;
  });
  engine.onFill((s) => {
    tally.fills++;
    if (s.deficit > 0) tally.deficits++;
  });
  engine.onDeleverage((d) => {
    tally.deleveragings++;
    for (const c of d.counterparties) if (c.sizeAfter === 0) flattenedAsCounterparty.add(c.account);
  });
  engine.onSocializedLoss(() => tally.socialized++);
  try {
    const prices = MARKETS.slice(0, spec.markets).map((m) => m.price);
    for (let m = 0; m < spec.markets; m++) engine.addMarket(MARKETS[m]!);
    if (spec.fund > 0) for (let m = 0; m < spec.markets; m++) engine.depositInsurance(m, spec.fund);
    const ids = spec.accounts.map((_, i) => i + 1);
    spec.accounts.forEach((a, i) => {
      engine.addAccount(i + 1, a.collateral);
      a.positions.forEach((p, m) => {
        if (p !== null) engine.upsertPosition({ account: i + 1, market: m, size: p.size, entryPrice: prices[m]! * p.entry });
      });
    });
    const check = (where: string): void => {
      expect(engine.ledger.total(), where).toBe(0n);
      for (const id of ids) {
        if (!engine.account(id).positions.every((p) => p.size === 0)) continue;
        const lacks = Math.max(0, -balance(engine, id));
        const amounts = named.get(id) ?? [];
        const sum = amounts.reduce((x, y) => x + y, 0);
        if (Math.abs(sum - lacks) < 1e-6) continue;
        expect.fail(`${where}: account ${id} is flat at ${balance(engine, id)}, named for ${JSON.stringify(amounts)}`);
      }
      for (let m = 0; m < spec.markets; m++) {
        for (const side of [1, -1] as const) {
          const queue = engine.adlQueue(m, side);
          expect(JSON.stringify(queue), where).not.toContain('null');
          for (const e of queue) {
            expect(Number.isFinite(e.rank), where).toBe(true);
            expect(engine.account(e.account).equity, `${where}: account ${e.account} queued`).toBeGreaterThan(0);
          }
        }
      }
    };
    check('setup');
    const rand = mulberry32(spec.seed);
    let time = 1;
    for (let step = 0; step < spec.moves.length; step++) {
      const move = spec.moves[step]!;
      time += 1_000_000;
      for (let m = 0; m < spec.markets; m++) prices[m] = prices[m]! * (1 + move[m]!);
      engine.pushPrices(prices.map((price, market) => ({ market, price, eventTimeUs: time })));
      await engine.step();
      check(`step ${step}`);
      for (const { order, remaining } of engine.openOrders()) {
        const u = rand();
        const flat = sizeOf(engine, order.account, order.market) === 0;
        if (u < 0.2 || (flat && u < 0.8)) {
          engine.expire(order.id);
          check(`step ${step}: expiry of ${order.id}`);
        } else if (u < 0.8) {
          const quantity = rand() < 0.5 ? remaining : remaining * (0.1 + 0.9 * rand());
          // At the limit half the time, else better by up to the whole improvement band: every draw is legal.
          const price = fillPriceWithin(order, rand() < 0.5 ? 0 : rand());
          time += 1_000;
          engine.fill(fillOf(order, quantity, price, time));
          check(`step ${step}: fill of ${order.id} (${quantity} at ${price})`);
        }
      }
    }
    // Let the last fills' re-issues and screenings land.
    await engine.step();
    check('end');
    for (const id of ids) if (engine.account(id).positions.every((p) => p.size === 0) && balance(engine, id) < 0) tally.flatBelowZero++;
    return tally;
  } finally {
    await engine.close();
  }
}

const RUNS = Number(process.env.DEFICIT_RUNS ?? 40);
const SEEDS = { adl: 0xad1, socialized: 0x50c1 } as const;

async function property(policy: 'adl' | 'socialized', numRuns = RUNS): Promise<Tally> {
  const totals: Tally = { fills: 0, deficits: 0, deleveragings: 0, socialized: 0, unresolved: 0, flatBelowZero: 0, excused: 0 };
  await fc.assert(
    fc.asyncProperty(bookArb, async (spec) => {
      const t = await runBook(spec, policy);
      for (const k of Object.keys(totals) as (keyof Tally)[]) totals[k] += t[k];
    }),
    { seed: SEEDS[policy], numRuns },
  );
  return totals;
}

describe('bad debt is never silent', () => {
  for (const policy of ['adl', 'socialized'] as const) {
    it(`keeps the ledger at zero, the ADL queues solvent, and names every flat account left below zero with events summing to what it lacks, over random books under the ${policy} policy`, async () => {
      const totals = await property(policy);
      if (process.env.DEFICIT_RUNS !== undefined) console.log(policy, totals);
      // The runs reach the cases the property is about.
      expect(totals.fills).toBeGreaterThan(50);
      expect(totals.deficits).toBeGreaterThan(0);
      expect(totals.unresolved).toBeGreaterThan(0);
      expect(totals.flatBelowZero).toBeGreaterThan(0);
      if (policy === 'adl') expect(totals.deleveragings).toBeGreaterThan(0);
      else expect(totals.socialized).toBeGreaterThan(0);
    });
  }
});

describe('bad debt named once, where it ends', () => {
  it('deleverages a counterparty only as far as its own equity holds, and leaves the rest with the bankrupt position', async () => {
    const r = await started({});
    const { engine } = r;
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    engine.addAccount(1, -1_500); // 0.1 BTC long, equity -1,500, maintenance 500: bankruptcy value at 65,000
    engine.upsertPosition({ account: 1, market: 0, size: 0.1, entryPrice: 50_000 });
    engine.addAccount(2, 1_000); // 0.1 BTC short, equity 1,000, maintenance 500: health 2
    engine.upsertPosition({ account: 2, market: 0, size: -0.1, entryPrice: 50_000 });
    expect(engine.account(2).health).toBe(2);
    await engine.step();
    // Closing at 65,000 costs the short 15,000 per BTC against the mark: its 1,000 of equity holds 1/15 BTC.
    expect(r.deleveraged).toHaveLength(1);
    expect(r.deleveraged[0]).toMatchObject({ account: 1, bankruptcyPrice: 65_000 });
    expect(r.deleveraged[0]!.matched).toBeCloseTo(1_000 / 15_000, 6);
    expect(r.deleveraged[0]!.remainder).toBeGreaterThan(0);
    expect(engine.account(2).equity).toBeGreaterThanOrEqual(0);
    expect(r.unresolved.filter((u) => u.account === 2)).toEqual([]);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('names what an account lacks once under the socialized policy: two half fills with no one opposite name 550, not 825', async () => {
    const r = await started({ deficitPolicy: 'socialized' });
    const { engine } = r;
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
    engine.addAccount(1, -500);
    engine.upsertPosition({ account: 1, market: 0, size: 0.1, entryPrice: 50_000 });
    const order = (await engine.step()).orders[0]!;
    engine.fill(fillOf(order, 0.05, order.limitPrice, 1)); // not final yet: half the position is left
    expect(r.unresolved).toEqual([]);
    engine.fill(fillOf(order, 0.05, order.limitPrice, 2));
    expect(sizeOf(engine, 1, 0)).toBe(0);
    expect(balance(engine, 1)).toBe(-550);
    expect(r.unresolved.reduce((x, u) => x + u.amount, 0)).toBeCloseTo(550, 6);
  });
});
