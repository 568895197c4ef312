/** Fills of liquidation orders through the embedding API: settlement, insurance fund, re-issue, expiry, conservation. */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type LiquidationOrder } from '../src/index.js';
import type { Settlement } from '../src/clearing/clearing.js';
import { entry } from '../src/ledger/ledger.js';
import { Money } from '../src/ledger/money.js';
import { mulberry32 } from '../src/sim/random.js';
import { fillPriceWithin } from './support/fill-price.js';

const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

/** docs/domain.md section 2's worked case: 0.1 BTC long (or, `size` -0.1, short) at 50,000, MMR 10%, TNC `equity` (TMMR 500). */
async function worked(equity: number, extra: Parameters<typeof Engine.start>[0] = {}, size = 0.1): Promise<{ engine: Engine; order: LiquidationOrder; settled: Settlement[] }> {
  // Whole-position sizing unless `extra` says otherwise: these cases follow docs/domain.md section 2's close of the whole 0.1 BTC.
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 4, positions: 4 }, sizing: { emergencyHealth: 1 }, ...extra });
  engines.push(engine);
  engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
  engine.addAccount(7, equity);
  engine.upsertPosition({ account: 7, market: 0, size, entryPrice: 50_000 });
  const settled: Settlement[] = [];
  engine.onFill((s) => settled.push(s));
  const r = await engine.step();
  expect(r.orders).toHaveLength(1);
  return { engine, order: r.orders[0]!, settled };
}

const fillOf = (o: LiquidationOrder, quantity = o.quantity, price = o.limitPrice) => ({
  orderId: o.id,
  account: o.account,
  market: o.market,
  quantity,
  price,
  eventTimeUs: 1,
});

describe('a fill of a liquidation order', () => {
  it('closes the position and pays the surplus over the bankruptcy value, capped at 1.5% of notional, into the insurance fund', async () => {
    const { engine, order, settled } = await worked(499);
    expect(order.limitPrice).toBe(49_999);
    engine.fill(fillOf(order));
    expect(settled).toHaveLength(1);
    const s = settled[0]!;
    // BV 4,501; fill value 4,999.9; surplus 498.9; the cap 0.015 x 4,999.9 = 74.9985 binds.
    expect(s).toMatchObject({ closed: 0.1, sizeAfter: 0, fee: 74.9985, insuranceCover: 0, deficit: 0, realizedPnl: -0.1, orderRemaining: 0 });
    expect(s.collateralAfter).toBe(423.9015); // 499 - 0.1 - 74.9985, exact in the ledger
    expect(engine.insuranceFund(0)).toBe(74.9985);
    expect(engine.account(7).positions[0]!.size).toBe(0);
    expect(engine.account(7).collateral).toBe(s.collateralAfter);
    expect(engine.ledger.total()).toBe(0n);
    // Flat now: the next epoch issues nothing.
    expect((await engine.step()).orders).toEqual([]);
  });

  it('draws on the insurance fund for a fill worse than the bankruptcy value, and reports what the fund lacks', async () => {
    const { engine, order, settled } = await worked(0);
    engine.depositInsurance(0, 30);
    // TNC 0: the bankruptcy value of the whole close is 5,000, and the fillable price concedes SMMR x PMMR / |PS| =
    // 0.1 x 500 / 0.1 = 500 below the oracle: the order's own limit is past bankruptcy. Filled there, it brings
    // 4,950: a gap of 50, of which the fund holds 30.
    expect(order.limitPrice).toBe(50_000 - (0.1 * 500) / 0.1);
    engine.fill(fillOf(order));
    expect(settled[0]).toMatchObject({ price: 49_500, fee: 0, insuranceCover: 30, deficit: 20, sizeAfter: 0 });
    expect(engine.insuranceFund(0)).toBe(0);
    expect(engine.ledger.balance(entry.account(7))).toBe(-50_000_000n + 30_000_000n); // -50 realized, +30 cover
    expect(engine.ledger.total()).toBe(0n);
  });

  it('re-issues for what a partial fill leaves once the rest of the order expires, when the account is still liquidatable, under a new id', async () => {
    const { engine, order, settled } = await worked(100);
    engine.fill(fillOf(order, 0.03));
    expect(settled[0]).toMatchObject({ closed: 0.03, orderRemaining: 0.07 });
    expect(settled[0]!.sizeAfter).toBeCloseTo(0.07, 15);
    // The order's 0.07 is still open at the venue: no second order for the position meanwhile.
    expect((await engine.step()).orders).toEqual([]);
    engine.expire(order.id);
    const next = await engine.step();
    expect(next.orders).toHaveLength(1);
    expect(next.orders[0]!.id).not.toBe(order.id);
    expect(next.orders[0]!.quantity).toBeCloseTo(0.07, 15);
    expect(next.orders[0]!.positionSequence).toBe(settled[0]!.sequence + 1); // the expiry's
  });

  it('re-issues an order that expired unfilled, under a new id; an unknown or repeated expiry is UNKNOWN_ORDER', async () => {
    const { engine, order } = await worked(100);
    expect((await engine.step()).orders).toEqual([]); // once per position state
    engine.expire(order.id);
    const again = await engine.step();
    expect(again.orders.map((o) => [o.account, o.market, o.quantity])).toEqual([[7, 0, 0.1]]);
    expect(again.orders[0]!.id).not.toBe(order.id);
    expect(() => engine.expire(order.id)).toThrow(expect.objectContaining({ code: 'UNKNOWN_ORDER' }));
    expect(() => engine.expire('7-0-999')).toThrow(expect.objectContaining({ code: 'UNKNOWN_ORDER' }));
  });

  it('rejects a fill of an unknown order, an overfill and a fill naming another account, whole and changing nothing', async () => {
    const { engine, order, settled } = await worked(100);
    const before = engine.ledger.entries();
    const sequence = engine.lastSequence;
    expect(() => engine.fill([fillOf(order, 0.05), { ...fillOf(order), orderId: 'nope' }])).toThrow(expect.objectContaining({ code: 'UNKNOWN_ORDER', field: '[1].orderId' }));
    expect(() => engine.fill(fillOf(order, 0.2))).toThrow(expect.objectContaining({ code: 'INVALID_FILL', field: '[0].quantity' }));
    expect(() => engine.fill([fillOf(order, 0.06), fillOf(order, 0.06)])).toThrow(expect.objectContaining({ code: 'INVALID_FILL' }));
    expect(() => engine.fill({ ...fillOf(order), account: 8 })).toThrow(expect.objectContaining({ code: 'INVALID_FILL' }));
    expect(() => engine.fill({ ...fillOf(order), price: Number.NaN })).toThrow(expect.objectContaining({ code: 'INVALID_PRICE' }));
    expect(settled).toEqual([]);
    expect(engine.ledger.entries()).toEqual(before);
    expect(engine.lastSequence).toBe(sequence);
    engine.fill(fillOf(order)); // the whole quantity is still open
    expect(settled).toHaveLength(1);
  });

  it('lands a fill accepted during an epoch after the epoch, in input order, with the same result as when idle', async () => {
    const idle = await worked(100);
    idle.engine.fill(fillOf(idle.order, 0.04));
    const busy = await worked(100, { scanWorkers: 1 });
    const inFlight = busy.engine.step();
    // A few microtasks in, the epoch has begun and waits on the scan thread: inputs now are staged.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    busy.engine.fill(fillOf(busy.order, 0.04));
    expect(busy.settled).toEqual([]); // staged behind the epoch in flight
    await inFlight;
    await busy.engine.step();
    expect(busy.settled).toEqual(idle.settled);
  });

  it('neither creates nor destroys value over a seeded crash with hundreds of fills at random prices from the limit to the band', async () => {
    const rand = mulberry32(0xf111);
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 400, positions: 800 }, fees: { fund: 'pooled' } });
    engines.push(engine);
    engine.addMarket({ id: 0, price: 100, tiers: TEN_PERCENT });
    engine.addMarket({ id: 1, price: 10, tiers: TEN_PERCENT });
    const ENTRY = [100, 10];
    engine.depositInsurance('pooled', 500);
    for (let a = 1; a <= 400; a++) {
      engine.addAccount(a, Math.round(rand() * 50_000) / 100);
      engine.upsertPosition({ account: a, market: 0, size: (rand() < 0.5 ? 1 : -1) * (1 + rand() * 20), entryPrice: ENTRY[0]! });
      engine.upsertPosition({ account: a, market: 1, size: (rand() < 0.5 ? 1 : -1) * (1 + rand() * 200), entryPrice: ENTRY[1]!, isolatedCollateral: rand() < 0.3 ? 50 : null });
    }
    let fills = 0;
    let fees = 0;
    let covers = 0;
    let improved = 0;
    const sides = new Map<string, LiquidationOrder['side']>();
    engine.onFill((s) => {
      fills++;
      fees += s.fee;
      covers += s.insuranceCover;
      // Settled at the fill's own price: a sell closes a long, realized PnL = closed x (price - entry), to the atom.
      const sign = sides.get(s.orderId) === 'sell' ? 1 : -1;
      expect(s.realizedPnl).toBeCloseTo(sign * s.closed * (s.price - ENTRY[s.market]!), 5);
    });
    let p0 = 100;
    let p1 = 10;
    for (let step = 0; step < 40; step++) {
      p0 *= 1 + (rand() - 0.6) * 0.06;
      p1 *= 1 + (rand() - 0.4) * 0.06;
      engine.pushPrices([{ market: 0, price: p0 }, { market: 1, price: p1 }]);
      const r = await engine.step();
      // Half at the limit, half better by up to the whole improvement band: all legal, all taken.
      const fillsNow = r.orders.map((o) => {
        sides.set(o.id, o.side);
        const price = fillPriceWithin(o, rand() < 0.5 ? 0 : rand());
        if (price !== o.limitPrice) improved++;
        return fillOf(o, o.quantity * (rand() < 0.3 ? 0.5 : 1), price);
      });
      if (fillsNow.length > 0) engine.fill(fillsNow);
      expect(engine.ledger.total()).toBe(0n);
    }
    expect(fills).toBeGreaterThan(100);
    expect(improved).toBeGreaterThan(50);
    expect(fees).toBeGreaterThan(0);
    expect(covers).toBeGreaterThan(0);
    // The pooled fund holds exactly its seed plus fees minus covers (to the atom).
    const held = engine.ledger.balance(entry.fund('pooled'));
    expect(new Money(6).toQuote(held)).toBeCloseTo(500 + fees - covers, 5);
    expect(held).toBeGreaterThanOrEqual(0n);
  });

  it('covers up to the drawdown limit within the window and no further, and covers again when the window slides', async () => {
    const engine = await Engine.start({
      scanWorkers: 0,
      autoEpoch: false,
      capacity: { markets: 1, accounts: 4, positions: 4 },
      fundDrawdown: { max: 0.3, windowUs: 10_000_000 },
    });
    engines.push(engine);
    engine.addMarket({ id: 0, price: 50_000, tiers: TEN_PERCENT });
    engine.depositInsurance(0, 150);
    for (const a of [1, 2, 3]) {
      engine.addAccount(a, 0); // no equity: bankrupt at 50,000, closed whole
      engine.upsertPosition({ account: a, market: 0, size: 0.1, entryPrice: 50_000 });
    }
    const settled: Settlement[] = [];
    engine.onFill((x) => settled.push(x));
    // No one holds the other side, so every order goes out whatever the fund could pay.
    const orders = new Map((await engine.step()).orders.map((o) => [o.account, o]));
    // TNC 0: each limit is 50,000 - 0.1 x 500 / 0.1 = 49,500, and a fill there falls 0.1 x 500 = 50 short of the
    // bankruptcy value 5,000.
    for (const o of orders.values()) expect(o.limitPrice).toBe(49_500);
    const fill = (a: number, eventTimeUs: number): void => engine.fill({ ...fillOf(orders.get(a)!), eventTimeUs });
    fill(1, 1_000_000);
    // The fund may lose 30% of its 150 peak: it covers 45 and stops at the limit; the other 5 goes to the policy.
    expect(settled[0]).toMatchObject({ insuranceCover: 45, deficit: 5 });
    fill(2, 2_000_000);
    expect(settled[1]).toMatchObject({ insuranceCover: 0, deficit: 50 });
    expect(engine.insuranceFund(0)).toBe(105);
    fill(3, 20_000_000); // the 150 peak has left the window: 30% of 105 is 31.5
    expect(settled[2]).toMatchObject({ insuranceCover: 31.5, deficit: 18.5 });
    expect(engine.insuranceFund(0)).toBe(73.5);
    expect(engine.ledger.total()).toBe(0n);
  });
});

/**
 * A reported defect: "A fill of a sell whose limit is 48,171.8 is accepted at price 1 (the fund goes from 10,000 to 0)
 * and at 150,000. A fill must respect its order's limit". A fill is no worse than its order's limit (a sell at or
 * above it, a buy at or below it) and better by at most `fillPriceBand` (default 0.1) of the order's oracle price.
 */
describe('a fill price outside its order\'s limit and improvement band', () => {
  /** Everything a refused fill must leave as it was. */
  const stateOf = (engine: Engine) => ({
    ledger: engine.ledger.entries(),
    fund: engine.insuranceFund(0),
    account: engine.account(7),
    open: engine.openOrders(),
    sequence: engine.lastSequence,
  });

  it('refuses a sell filled at 1 or at 150,000 as INVALID_FILL naming [0].price, and changes nothing', async () => {
    const { engine, order, settled } = await worked(0);
    engine.depositInsurance(0, 10_000); // what a fill at 1 would have drained by 4,999.9999
    expect(order).toMatchObject({ side: 'sell', oraclePrice: 50_000, limitPrice: 49_500 });
    const before = stateOf(engine);
    // 1: far worse than the limit. 150,000: better, but beyond 50,000 x 1.1 = 55,000.
    for (const price of [1, 150_000]) {
      expect(() => engine.fill(fillOf(order, order.quantity, price))).toThrow(expect.objectContaining({ code: 'INVALID_FILL', field: '[0].price' }));
    }
    // One bad price refuses its whole batch, naming its index.
    expect(() => engine.fill([fillOf(order, 0.05), fillOf(order, 0.05, 1)])).toThrow(expect.objectContaining({ code: 'INVALID_FILL', field: '[1].price' }));
    expect(settled).toEqual([]);
    expect(stateOf(engine)).toEqual(before);
    engine.fill(fillOf(order)); // the whole order is still open, at its limit
    expect(settled).toHaveLength(1);
  });

  it('refuses a buy filled at 150,000 or at 1 the same way', async () => {
    const { engine, order, settled } = await worked(0, {}, -0.1);
    engine.depositInsurance(0, 10_000);
    // A short at TNC 0: the fillable price concedes 0.1 x 500 / 0.1 = 500 above the oracle.
    expect(order).toMatchObject({ side: 'buy', oraclePrice: 50_000, limitPrice: 50_500 });
    const before = stateOf(engine);
    // 150,000: far worse than the limit. 1: better, but beyond 50,000 x 0.9 = 45,000.
    for (const price of [150_000, 1]) {
      expect(() => engine.fill(fillOf(order, order.quantity, price))).toThrow(expect.objectContaining({ code: 'INVALID_FILL', field: '[0].price' }));
    }
    expect(settled).toEqual([]);
    expect(stateOf(engine)).toEqual(before);
    engine.fill(fillOf(order));
    expect(settled).toHaveLength(1);
  });

  it('refuses a fill just past the limit on the worse side, changing nothing', async () => {
    for (const size of [0.1, -0.1]) {
      const { engine, order, settled } = await worked(0, {}, size);
      const before = stateOf(engine);
      const worse = order.side === 'sell' ? order.limitPrice - 0.01 : order.limitPrice + 0.01;
      expect(() => engine.fill(fillOf(order, order.quantity, worse))).toThrow(expect.objectContaining({ code: 'INVALID_FILL', field: '[0].price' }));
      expect(settled).toEqual([]);
      expect(stateOf(engine)).toEqual(before);
    }
  });

  it('takes an improvement up to the edge of the band and settles it at the fill price; one cent beyond is refused', async () => {
    for (const size of [0.1, -0.1]) {
      const { engine, order, settled } = await worked(0, {}, size);
      const sell = order.side === 'sell';
      const edge = order.oraclePrice * (sell ? 1 + 0.1 : 1 - 0.1); // 55,000 for the sell, 45,000 for the buy
      const before = stateOf(engine);
      expect(() => engine.fill(fillOf(order, order.quantity, sell ? edge + 0.01 : edge - 0.01))).toThrow(expect.objectContaining({ code: 'INVALID_FILL', field: '[0].price' }));
      expect(stateOf(engine)).toEqual(before);
      engine.fill(fillOf(order, order.quantity, edge));
      expect(settled).toHaveLength(1);
      const s = settled[0]!;
      // Realized at the fill price: 0.1 x 5,000 either way. TNC 0, so the surplus is the whole 500, and the fee is
      // its smallest bound: 1.5% of the fill value (under k x |DMMR| = 0.5 x 500 = 250).
      const realized = Math.sign(size) * 0.1 * (edge - 50_000);
      const fee = 0.015 * 0.1 * edge;
      expect(s).toMatchObject({ price: edge, closed: 0.1, sizeAfter: 0, insuranceCover: 0, deficit: 0 });
      expect(s.realizedPnl).toBeCloseTo(realized, 6);
      expect(s.fee).toBeCloseTo(fee, 6);
      expect(s.collateralAfter).toBeCloseTo(realized - fee, 6);
      expect(engine.insuranceFund(0)).toBeCloseTo(fee, 6);
      expect(engine.ledger.total()).toBe(0n);
    }
  });

  it('takes its band from config: fillPriceBand 0.02 moves the edge to 2% from the oracle', async () => {
    const { engine, order, settled } = await worked(0, { fillPriceBand: 0.02 });
    const edge = order.oraclePrice * (1 + 0.02); // 51,000
    expect(() => engine.fill(fillOf(order, order.quantity, edge + 0.01))).toThrow(expect.objectContaining({ code: 'INVALID_FILL', field: '[0].price' }));
    engine.fill(fillOf(order, order.quantity, edge));
    expect(settled.map((s) => s.price)).toEqual([edge]);
  });

  it('refuses a fillPriceBand that is not a fraction in [0, 1] with INVALID_CONFIG, and takes both ends', async () => {
    for (const band of [-0.1, 1.5, Number.NaN, 'x' as unknown as number]) {
      await expect(Engine.start({ scanWorkers: 0, autoEpoch: false, fillPriceBand: band })).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'fillPriceBand' });
    }
    for (const band of [0, 1]) {
      const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 1, positions: 1 }, fillPriceBand: band });
      engines.push(engine);
    }
  });
});
