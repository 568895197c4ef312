/**
 * Batches are atomic (src/tables/writer.ts, upsertPositions and setCollaterals, as the Engine exposes them): every
 * row is validated, and the slots and accounts the batch needs are counted, before any row lands. A rejected
 * batch throws a coded UnwindError and leaves every byte of the tables, and the input sequence, as they were.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type PositionUpdate } from '../src/index.js';
import { firstDifference, tableBytes, TIERS } from './support/feed.js';

const A = 1;
const B = 2;
const C = 3;

const started: Engine[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.close()));
});

/**
 * Markets A, B and C with 2, 4 and 4 position slots; accounts 1-3 (collateral 1,000) of at most 4 (and 2 positions
 * each); account 1 holds 1 in A. Epochs only on step().
 */
async function start(): Promise<Engine> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 3, accounts: 4, positions: 10, positionsPerAccount: 2 } });
  started.push(engine);
  engine.addMarket({ id: A, price: 100, tiers: TIERS, positionCapacity: 2 });
  engine.addMarket({ id: B, price: 10, tiers: TIERS, positionCapacity: 4 });
  engine.addMarket({ id: C, price: 1, tiers: TIERS, positionCapacity: 4 });
  for (const id of [1, 2, 3]) engine.addAccount(id, 1_000);
  engine.upsertPosition({ account: 1, market: A, size: 1, entryPrice: 100 });
  await engine.step();
  return engine;
}

const position = (account: number, market: number, size = 1): PositionUpdate => ({ account, market, size, entryPrice: 100, isolatedCollateral: null });

/** Runs `reject`, expecting a coded rejection, and checks that nothing changed. */
function expectUnchanged(engine: Engine, reject: () => void, error: { code: string; field?: string }): void {
  const before = tableBytes(engine);
  const sequence = engine.lastSequence;
  const counts = engine.counts;
  expect(reject).toThrow(expect.objectContaining({ name: 'UnwindError', ...error }));
  expect(firstDifference(tableBytes(engine), before)).toBe(-1);
  expect(engine.lastSequence).toBe(sequence);
  expect(engine.counts).toEqual(counts);
}

describe('upsertPositions', () => {
  it('rejects a batch whose new positions need more slots than a market has left, and changes nothing', async () => {
    const engine = await start();
    // Market A has one free slot; accounts 2 and 3 would both need one. The update of account 1 comes first.
    expectUnchanged(engine, () => engine.upsertPositions([position(1, A, 5), position(2, A), position(3, A)]), { code: 'CAPACITY_EXCEEDED', field: '[2]' });
    expect(engine.account(1).positions[0]!.size).toBe(1);
    // The same batch without the third row fits.
    engine.upsertPositions([position(1, A, 5), position(2, A)]);
    expect(engine.counts.positions).toBe(2);
    expect(engine.account(1).positions[0]!.size).toBe(5);
  });

  it('rejects a batch that gives one account more positions than positionsPerAccount, and changes nothing', async () => {
    const engine = await start();
    // Account 1 holds A; B fits (2 of 2), C would be its third.
    expectUnchanged(engine, () => engine.upsertPositions([position(1, B), position(2, B), position(1, C)]), { code: 'CAPACITY_EXCEEDED', field: '[2]' });
    expect(engine.account(1).positions.map((p) => p.market)).toEqual([A]);
    expect(engine.hasAccount(2) && engine.account(2).positions).toEqual([]);
  });

  it('counts updates of positions already held as needing no slot, even in a full market', async () => {
    const engine = await start();
    engine.upsertPositions([position(2, A)]); // A is full: 2 of 2
    engine.upsertPositions([position(1, A, -3), position(2, A, 0.5), position(1, A, 2)]);
    expect(engine.counts.positions).toBe(2);
    expect(engine.account(1).positions[0]!.size).toBe(2); // the later row wins
    expect(engine.account(2).positions[0]!.size).toBe(0.5);
  });

  it('allocates one slot for an (account, market) pair that appears twice in a batch, and the later row wins', async () => {
    const engine = await start();
    // A has exactly one free slot: the two rows for account 2 share it.
    engine.upsertPositions([position(2, A, 1), position(2, A, -4)]);
    expect(engine.counts.positions).toBe(2);
    expect(engine.tables.markets.positionCount[0]).toBe(2);
    expect(engine.account(2).positions.map((p) => [p.market, p.size])).toEqual([[A, -4]]);
  });

  it('rejects a batch with one bad row anywhere, with that row\'s code and field, and changes nothing', async () => {
    const engine = await start();
    const cases: [PositionUpdate[], { code: string; field: string }][] = [
      [[position(2, B), position(3, 99)], { code: 'UNKNOWN_MARKET', field: '[1].market' }],
      [[position(2, B), position(9, B)], { code: 'UNKNOWN_ACCOUNT', field: '[1].account' }],
      [[position(2, B), position(3, B, Number.NaN)], { code: 'INVALID_SIZE', field: '[1].size' }],
      [[position(2, B), { ...position(3, B), entryPrice: -1 }], { code: 'INVALID_PRICE', field: '[1].entryPrice' }],
      [[position(2, B), { ...position(3, B), isolatedCollateral: -5 }], { code: 'INVALID_AMOUNT', field: '[1].isolatedCollateral' }],
    ];
    for (const [batch, error] of cases) expectUnchanged(engine, () => engine.upsertPositions(batch), error);
    expect(engine.account(2).positions).toEqual([]);
  });
});

describe('setCollaterals', () => {
  it('with createAccounts false, rejects an unknown account and changes nothing, not even the rows before it', async () => {
    const engine = await start();
    expectUnchanged(engine, () => engine.setCollaterals([{ account: 1, collateral: 5 }, { account: 7, collateral: 9 }], false), {
      code: 'UNKNOWN_ACCOUNT',
      field: '[1].account',
    });
    expect(engine.account(1).collateral).toBe(1_000);
    expect(engine.hasAccount(7)).toBe(false);
  });

  it('with createAccounts true, opens an unknown account with its collateral; a repeated one is opened once and the later row wins', async () => {
    const engine = await start();
    engine.setCollaterals([{ account: 1, collateral: 5 }, { account: 7, collateral: 9 }, { account: 7, collateral: 11 }], true);
    expect(engine.counts.accounts).toBe(4);
    expect(engine.account(1).collateral).toBe(5);
    expect(engine.account(7)).toMatchObject({ collateral: 11, equity: 11, positions: [] });
  });

  it('with createAccounts true, rejects a batch that opens more accounts than the table holds, and changes nothing', async () => {
    const engine = await start();
    // One free account row: 7 fits, 8 does not.
    expectUnchanged(engine, () => engine.setCollaterals([{ account: 7, collateral: 1 }, { account: 1, collateral: 2 }, { account: 8, collateral: 3 }], true), {
      code: 'CAPACITY_EXCEEDED',
      field: '[2]',
    });
    expect(engine.hasAccount(7)).toBe(false);
    expect(engine.account(1).collateral).toBe(1_000);
  });

  it('rejects a batch with a bad value in its last row, and changes nothing', async () => {
    const engine = await start();
    for (const collateral of [Number.NaN, Infinity]) {
      expectUnchanged(engine, () => engine.setCollaterals([{ account: 7, collateral: 1 }, { account: 1, collateral }], true), { code: 'INVALID_AMOUNT', field: '[1].collateral' });
    }
    expectUnchanged(engine, () => engine.setCollaterals([{ account: 1, collateral: 1 }, { account: -1, collateral: 1 }], true), { code: 'INVALID_ID', field: '[1].account' });
    expect(engine.hasAccount(7)).toBe(false);
  });
});
