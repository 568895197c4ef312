/**
 * Rejected inputs (README "Errors"): each throws an UnwindError with a stable code naming the bad field, and
 * changes nothing: not a byte of the shared tables, not the sequence numbers, not the next epoch's output, which
 * must match that of an identical engine that never saw the bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, ErrorCode, isUnwindError, UnwindError, type EpochResult } from '../src/index.js';
import { type MarginTier } from '../src/domain/index.js';
import { Random } from './support/random.js';
import { generateScenario, startScenario, type Book } from './support/scenario.js';

/** Every market's slots are taken (spareSlots 0) and the market and account tables are full. */
const SCENARIO = generateScenario({ seed: 21, accounts: 40, spareSlots: 0 });
const MARKET = SCENARIO.markets[0]!;
const ACCOUNT = SCENARIO.accounts[0]!;
const POSITION = ACCOUNT.positions[0]!;
const UNKNOWN_MARKET = Math.max(...SCENARIO.markets.map((m) => m.id)) + 1;
const UNKNOWN_ACCOUNT = Math.max(...SCENARIO.accounts.map((a) => a.id)) + 1;
/** An account and a (full) market it holds no position in. */
const NEWCOMER = SCENARIO.accounts.find((a) => a.positions.length < SCENARIO.markets.length)!;
const FULL_MARKET = SCENARIO.markets.find((m) => !NEWCOMER.positions.some((p) => p.market === m.id))!;

const TIER = { maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 };
const tiers = (...t: Partial<MarginTier>[]): MarginTier[] => t.map((x) => ({ ...TIER, ...x }));
const marketWith = (t: unknown): Parameters<Engine['addMarket']>[0] => ({ id: UNKNOWN_MARKET, price: 100, tiers: t as MarginTier[], positionCapacity: 1 });

type Case = [label: string, code: string, field: string | undefined, input: (e: Engine) => unknown];

const CASES: Case[] = [
  ['a NaN price', ErrorCode.InvalidPrice, 'price', (e) => e.pushPrice(MARKET.id, NaN)],
  ['an infinite price', ErrorCode.InvalidPrice, 'price', (e) => e.pushPrice(MARKET.id, Infinity)],
  ['a price of 0', ErrorCode.InvalidPrice, 'price', (e) => e.pushPrice(MARKET.id, 0)],
  ['a negative price', ErrorCode.InvalidPrice, 'price', (e) => e.pushPrice(MARKET.id, -MARKET.price)],
  ['a price above 10^12', ErrorCode.InvalidPrice, 'price', (e) => e.pushPrice(MARKET.id, 1e13)],
  ['a NaN oracle price beside a good mark', ErrorCode.InvalidPrice, 'oraclePrice', (e) => e.pushPrice(MARKET.id, MARKET.price, NaN)],
  ['a price as a string', ErrorCode.InvalidPrice, 'price', (e) => e.pushPrice(MARKET.id, '100' as never)],
  ['a price for an unknown market', ErrorCode.UnknownMarket, 'market', (e) => e.pushPrice(UNKNOWN_MARKET, 100)],
  ['a negative market id', ErrorCode.InvalidId, 'market', (e) => e.pushPrice(-1, 100)],
  ['a fractional market id', ErrorCode.InvalidId, 'market', (e) => e.pushPrice(MARKET.id + 0.5, 100)],
  ['a batch with one bad price among good ones', ErrorCode.InvalidPrice, '[1].price', (e) =>
    e.pushPrices([{ market: MARKET.id, price: MARKET.price * 0.5 }, { market: MARKET.id, price: NaN }, { market: MARKET.id, price: MARKET.price * 0.4 }])],
  ['a batch with one unknown market among good ones', ErrorCode.UnknownMarket, '[1].market', (e) =>
    e.pushPrices([{ market: MARKET.id, price: MARKET.price * 0.5 }, { market: UNKNOWN_MARKET, price: 1 }])],
  ['a batch with a null entry last', ErrorCode.InvalidArgument, '[1]', (e) => e.pushPrices([{ market: MARKET.id, price: MARKET.price * 0.5 }, null as never])],
  ['a NaN position size', ErrorCode.InvalidSize, 'position.size', (e) => e.upsertPosition({ ...POSITION, size: NaN })],
  ['a position size of 10^13', ErrorCode.InvalidSize, 'position.size', (e) => e.upsertPosition({ ...POSITION, size: 1e13 })],
  ['an infinite short position', ErrorCode.InvalidSize, 'position.size', (e) => e.upsertPosition({ ...POSITION, size: -Infinity })],
  ['a position with entry price 0', ErrorCode.InvalidPrice, 'position.entryPrice', (e) => e.upsertPosition({ ...POSITION, entryPrice: 0 })],
  ['negative isolated collateral', ErrorCode.InvalidAmount, 'position.isolatedCollateral', (e) => e.upsertPosition({ ...POSITION, isolatedCollateral: -1 })],
  ['a position of an unknown account', ErrorCode.UnknownAccount, 'position.account', (e) => e.upsertPosition({ ...POSITION, account: UNKNOWN_ACCOUNT })],
  ['a position in an unknown market', ErrorCode.UnknownMarket, 'position.market', (e) => e.upsertPosition({ ...POSITION, market: UNKNOWN_MARKET })],
  ['a fractional account id', ErrorCode.InvalidId, 'position.account', (e) => e.upsertPosition({ ...POSITION, account: ACCOUNT.id + 0.25 })],
  ['a negative account id', ErrorCode.InvalidId, 'position.account', (e) => e.upsertPosition({ ...POSITION, account: -ACCOUNT.id })],
  ['a NaN collateral', ErrorCode.InvalidAmount, 'collateral', (e) => e.setCollateral(ACCOUNT.id, NaN)],
  ['collateral for an unknown account', ErrorCode.UnknownAccount, 'account', (e) => e.setCollateral(UNKNOWN_ACCOUNT, 1)],
  ['an account id above 2^32 - 2', ErrorCode.InvalidId, 'account.id', (e) => e.addAccount(2 ** 32, 1)],
  ['a duplicate account', ErrorCode.DuplicateAccount, 'account.id', (e) => e.addAccount(ACCOUNT.id, 1)],
  ['a duplicate market', ErrorCode.DuplicateMarket, 'market.id', (e) => e.addMarket({ ...MARKET, price: 1 })],
  ['no tiers', ErrorCode.InvalidTiers, 'market.tiers', (e) => e.addMarket(marketWith([]))],
  ['tiers that are not an array', ErrorCode.InvalidTiers, 'market.tiers', (e) => e.addMarket(marketWith(TIER))],
  ['a maintenance fraction of 0', ErrorCode.InvalidTiers, 'market.tiers[0].maintenanceMarginFraction', (e) => e.addMarket(marketWith(tiers({ maintenanceMarginFraction: 0 })))],
  ['a maintenance fraction of 1', ErrorCode.InvalidTiers, 'market.tiers[0].maintenanceMarginFraction', (e) => e.addMarket(marketWith(tiers({ maintenanceMarginFraction: 1 })))],
  ['an initial fraction below maintenance', ErrorCode.InvalidTiers, 'market.tiers[0].initialMarginFraction', (e) =>
    e.addMarket(marketWith(tiers({ initialMarginFraction: 0.01 })))],
  ['an unbounded tier before the last', ErrorCode.InvalidTiers, 'market.tiers[0].maxNotional', (e) => e.addMarket(marketWith(tiers({}, {})))],
  ['tier bounds that do not increase', ErrorCode.InvalidTiers, 'market.tiers[1].maxNotional', (e) =>
    e.addMarket(marketWith(tiers({ maxNotional: 1_000 }, { maxNotional: 1_000 }, { maxNotional: null })))],
  ['margin fractions that decrease', ErrorCode.InvalidTiers, 'market.tiers[1]', (e) =>
    e.addMarket(marketWith(tiers({ maxNotional: 1_000 }, { maintenanceMarginFraction: 0.01, initialMarginFraction: 0.02 })))],
  ['nine tiers', ErrorCode.InvalidTiers, 'market.tiers', (e) =>
    e.addMarket(marketWith(Array.from({ length: 9 }, (_, i) => ({ ...TIER, maxNotional: i === 8 ? null : 1_000 * (i + 1) }))))],
  ['a market beyond the market table', ErrorCode.CapacityExceeded, 'market', (e) => e.addMarket(marketWith(tiers({})))],
  ['an account beyond the account table', ErrorCode.CapacityExceeded, 'account', (e) => e.addAccount(UNKNOWN_ACCOUNT, 1)],
  ['a new position in a market whose slots are all taken', ErrorCode.CapacityExceeded, 'position', (e) =>
    e.upsertPosition({ account: NEWCOMER.id, market: FULL_MARKET.id, size: 1, entryPrice: FULL_MARKET.price })],
];

function thrown(input: () => unknown): unknown {
  try {
    input();
  } catch (e) {
    return e;
  }
  throw new Error('the input was accepted');
}

function snapshot(book: Book): { bytes: Uint8Array; sequence: number; accounts: string } {
  const e = book.engine;
  return {
    bytes: new Uint8Array(e.tables.buffer).slice(),
    sequence: e.lastSequence,
    accounts: JSON.stringify(SCENARIO.accounts.map((a) => e.account(a.id))),
  };
}

describe('a rejected input', () => {
  // `subject` receives every bad input; `control` is the same engine that never sees them.
  let subject: Book;
  let control: Book;
  const rand = new Random(0xbad);
  const produced = { orders: 0, calls: 0 };

  beforeAll(async () => {
    [subject, control] = await Promise.all([startScenario(SCENARIO, { scanWorkers: 1 }), startScenario(SCENARIO, { scanWorkers: 1 })]);
    expect(JSON.stringify(await subject.engine.step())).toBe(JSON.stringify(await control.engine.step()));
  });
  afterAll(async () => {
    await Promise.all([subject?.engine.close(), control?.engine.close()]);
  });

  it.each(CASES)('is refused for %s with %s and changes nothing', async (_label, code, field, input) => {
    const before = snapshot(subject);
    const e = thrown(() => input(subject.engine));
    expect(e).toBeInstanceOf(UnwindError);
    expect(isUnwindError(e)).toBe(true);
    expect({ code: (e as UnwindError).code, field: (e as UnwindError).field }).toEqual({ code, field });
    expect((e as UnwindError).message.length).toBeGreaterThan(20);

    const after = snapshot(subject);
    expect(after.sequence).toBe(before.sequence);
    expect(after.accounts).toBe(before.accounts);
    expect(Buffer.compare(after.bytes, before.bytes), 'shared tables changed').toBe(0);

    // The same good input to both engines: prices fall a little, so epochs keep producing orders and calls.
    const batch = SCENARIO.markets.map((m) => ({ market: m.id, price: Number((control.markets.get(m.id)!.markPrice * rand.range(0.97, 1.0)).toPrecision(8)) }));
    subject.pushPrices(batch);
    control.pushPrices(batch);
    const [s, c]: EpochResult[] = await Promise.all([subject.engine.step(), control.engine.step()]);
    expect(JSON.stringify(s)).toBe(JSON.stringify(c));
    produced.orders += s.orders.length;
    produced.calls += s.marginCalls.length;
  });

  it('was checked against epochs that produced orders and margin calls', () => {
    expect(produced.orders).toBeGreaterThan(10);
    expect(produced.calls).toBeGreaterThan(0);
  });
});

describe('an input after close()', () => {
  it.each<[string, (e: Engine) => unknown]>([
    ['addMarket', (e) => e.addMarket({ id: 2, price: 1, tiers: [TIER] })],
    ['addAccount', (e) => e.addAccount(2, 1)],
    ['setCollateral', (e) => e.setCollateral(1, 5)],
    ['upsertPosition', (e) => e.upsertPosition({ account: 1, market: 1, size: 1, entryPrice: 100 })],
    ['pushPrice', (e) => e.pushPrice(1, 90)],
    ['pushPrices', (e) => e.pushPrices([{ market: 1, price: 90 }])],
    ['step', (e) => e.step()],
  ])('%s throws ENGINE_CLOSED', async (_name, input) => {
    const engine = await Engine.start({ scanWorkers: 1, autoEpoch: false, capacity: { markets: 4, accounts: 4, positions: 16 } });
    engine.addMarket({ id: 1, price: 100, tiers: [TIER] });
    engine.addAccount(1, 100);
    await engine.close();
    expect(thrown(() => input(engine))).toMatchObject({ name: 'UnwindError', code: ErrorCode.EngineClosed });
    expect(engine.lastSequence).toBe(2);
  });
});
