/**
 * Every bad call of the embedding API gets a coded UnwindError and changes nothing (README "Errors").
 *
 * The table is generated: every argument of every public method (and of Engine.start's config, and every listener
 * registration) is given every kind of bad value in VALUES, and the batches are given every bad shape (not an
 * array, a hole, a member that is not an object, a bad field in the second member, frozen). Each argument has a
 * judge that says what that value must get: a code and a field, or 'ok' for a good value (good values are not run
 * here, they would change the book). Each refused call must leave the fingerprint of everything observable as it
 * was, and the next epoch must match, byte for byte, that of a twin engine that never saw the bad call.
 *
 * Deliberately accepted (ACCEPTED below runs them on both engines and checks they stay twins):
 * - an empty batch: a well-typed input of no rows; it is counted and journaled like any input and moves nothing;
 * - extra fields on an object: ignored, and never journaled (the journal records the known fields only);
 * - frozen objects: the engine never writes to its inputs;
 * - -0 as an id: it is the integer 0 (Map keys and the tables' integer columns do not tell them apart);
 * - null for an optional field of a spec (symbol, positionCapacity, isolatedCollateral): absent, as the types say;
 * - a direct market's row in pushTicks/pushReports: a direct price has no source, so its source, confidence and
 *   sourceSequence are not read (checking them would cost the feed's hot path a branch per row);
 * - hasAccount/hasMarket: predicates, false for any value that is not the id of what the engine holds.
 * Not coded on purpose: a getter that throws propagates the caller's own error as it is (nothing changed before it).
 * Event times (requireTime, advanceClock) are judged by requireTime itself: their bounds belong to another change.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, ErrorCode, UnwindError, type EngineConfig, type LiquidationOrder, type MarketSpec, type PositionUpdate, type PriceUpdate } from '../src/index.js';
import { MAX_ABS_AMOUNT, MAX_ABS_SIZE, MAX_PRICE, MAX_REASON_LENGTH, MAX_SYMBOL_LENGTH, MAX_TIME_US, requireTime } from '../src/validate.js';
import type { Tick } from '../src/oracle/report.js';
import { MARKET as ORACLE, oracleMarket, Sources, T0 } from './support/oracle.js';

// ---- the book: three markets (one of them an oracle market), three accounts, one open liquidation order ----

const DIRECT = 3;
const OTHER = 5;
const MARKETS = [ORACLE, DIRECT, OTHER];
/** 7: liquidatable (0.1 long at 50,000, TNC 499 < TMMR 500); 8: its counterparty; 9: an isolated short. */
const ACCOUNTS = [7, 8, 9];
const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const FREE_SLOTS = 24;
const BASE: EngineConfig = {
  scanWorkers: 0,
  autoEpoch: false,
  // Each market reserves positions / markets = 8 slots: the three leave 24 free.
  capacity: { markets: 6, accounts: 10, positions: 48, output: 64 },
  oracle: { markets: [oracleMarket({ market: ORACLE })] },
};

async function startBook(dir: string): Promise<Engine> {
  const e = await Engine.start({ ...BASE, journal: { dir } });
  e.addMarket({ id: ORACLE, symbol: 'ORA-USD', price: 100, tiers: TEN_PERCENT });
  e.addMarket({ id: DIRECT, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
  e.addMarket({ id: OTHER, price: 10, tiers: TEN_PERCENT });
  e.addAccount(7, 499);
  e.addAccount(8, 10_000);
  e.addAccount(9, 1_000);
  e.upsertPositions([
    { account: 7, market: DIRECT, size: 0.1, entryPrice: 50_000 },
    { account: 8, market: DIRECT, size: -0.1, entryPrice: 50_000 },
    { account: 8, market: OTHER, size: 2, entryPrice: 10 },
    { account: 9, market: OTHER, size: -1, entryPrice: 10, isolatedCollateral: 5 },
  ]);
  e.depositInsurance(DIRECT, 30);
  e.depositInsurance('pooled', 5);
  e.setKillSwitch('no-new', OTHER, 'maintenance');
  new Sources(e, ORACLE).publish(0, { 1: 100, 2: 100, 3: 100 });
  e.pushBooks([{ market: ORACLE, bid: 99, ask: 101, last: 100, eventTimeUs: T0 }]);
  e.advanceClock(T0 + 1);
  const first = await e.step();
  expect(first.orders.map((o) => o.account)).toEqual([7]);
  return e;
}

/** Everything a caller can observe, as one string. Oracle rejections are left out: a refused batch is counted there by design. */
function fingerprint(e: Engine, accounts: readonly number[] = ACCOUNTS): string {
  const { rejected: _counted, ...oracle } = e.oracleStats();
  const state = {
    tables: createHash('sha256').update(new Uint8Array(e.tables.buffer)).digest('hex'),
    counts: e.counts,
    lastSequence: e.lastSequence,
    inputCount: e.inputCount,
    journalSequence: e.journalSequence,
    epochs: e.epochs,
    outputDigest: e.outputDigest(),
    outputCounts: e.outputCounts,
    accounts: accounts.map((id) => e.account(id)),
    openOrders: e.openOrders(),
    funds: (['pooled', ...MARKETS.filter((m) => e.hasMarket(m))] as const).map((m) => e.insuranceFund(m)),
    ledger: [...e.ledger.exportState().balances],
    oracle,
    kill: [e.killSwitch(), ...MARKETS.filter((m) => e.hasMarket(m)).map((m) => e.killSwitch(m))],
    status: MARKETS.filter((m) => e.hasMarket(m)).map((m) => e.marketStatus(m)),
  };
  return JSON.stringify(state, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

// ---- kinds of bad value, and judges that say what each argument must get for one ----

const VALUES: readonly (readonly [label: string, value: unknown])[] = [
  ['undefined', undefined],
  ['null', null],
  ['a numeric string', '1'],
  ['an empty string', ''],
  ['a boolean', true],
  ['an object', { id: 1 }],
  ['an array', [1]],
  ['a function', () => 1],
  ['a bigint', 1n],
  ['a symbol', Symbol('bad')],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['-0', -0],
  ['0', 0],
  ['-1', -1],
  ['0.5', 0.5],
  ['2^32', 2 ** 32],
  ['1e300', 1e300],
  ['a frozen object', Object.freeze({})],
];

type Verdict = { readonly code: string; readonly field: string | undefined } | 'ok';
type Judge = (v: unknown) => Verdict;
/** Any code: the rule for that value belongs to another change (event times). */
const ANY_CODE = '*';

const bad = (code: string, field: string | undefined): Verdict => ({ code, field });
const isNumber = (v: unknown): v is number => typeof v === 'number';
const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);
const isId = (v: unknown): v is number => isNumber(v) && Number.isInteger(v) && v >= 0 && v <= 0xfffffffe;

/** An id that must name one of `held` (undefined: a new id, any valid one is good). */
const id =
  (field: string, held: readonly number[] | undefined, unknownCode: string): Judge =>
  (v) =>
    !isId(v) ? bad(ErrorCode.InvalidId, field) : held === undefined || held.includes(v) ? 'ok' : bad(unknownCode, field);
const market = (field: string, held: readonly number[] = MARKETS): Judge => id(field, held, ErrorCode.UnknownMarket);
const account = (field: string): Judge => id(field, ACCOUNTS, ErrorCode.UnknownAccount);
const price = (field: string): Judge => (v) => (isNumber(v) && v > 0 && v <= MAX_PRICE ? 'ok' : bad(ErrorCode.InvalidPrice, field));
const amount = (field: string): Judge => (v) => (isNumber(v) && Number.isFinite(v) && Math.abs(v) <= MAX_ABS_AMOUNT ? 'ok' : bad(ErrorCode.InvalidAmount, field));
const size = (field: string): Judge => (v) => (isNumber(v) && Number.isFinite(v) && Math.abs(v) <= MAX_ABS_SIZE ? 'ok' : bad(ErrorCode.InvalidSize, field));
const time =
  (field: string): Judge =>
  (v) => {
    try {
      requireTime(v, field);
      return 'ok';
    } catch {
      return bad(ANY_CODE, field);
    }
  };
const argument = (field: string, ok: (v: unknown) => boolean): Judge => (v) => (ok(v) ? 'ok' : bad(ErrorCode.InvalidArgument, field));
const optional = (j: Judge): Judge => (v) => (v === undefined ? 'ok' : j(v));
const nullable = (j: Judge): Judge => (v) => (v === undefined || v === null ? 'ok' : j(v));
/** A value `j` finds good still makes the call fail, with `verdict` (e.g. an unsigned report with good fields). */
const otherwise = (j: Judge, verdict: Verdict): Judge => (v) => (j(v) === 'ok' ? verdict : j(v));
const symbolName = (field: string): Judge => nullable(argument(field, (v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_SYMBOL_LENGTH));

// ---- the table ----

interface Context {
  /** The open liquidation order of account 7 on the engine under test. */
  order: LiquidationOrder;
}
type Call = (e: Engine, c: Context) => unknown;
interface Case {
  readonly name: string;
  readonly call: Call;
  readonly code: string;
  readonly field: string | undefined;
}

const CASES: Case[] = [];
const caseOf = (name: string, call: Call, v: Verdict): void => {
  if (v !== 'ok') CASES.push({ name, call, code: v.code, field: v.field });
};

/** Argument `index` of `method` takes every value; the others stay `good`. */
function argumentCases(method: string, good: (c: Context) => unknown[], index: number, name: string, judge: Judge): void {
  for (const [l, v] of VALUES) {
    caseOf(`${method}(${name} = ${l})`, (e, c) => {
      const args = good(c);
      args[index] = v;
      return (e[method as keyof Engine] as (...a: unknown[]) => unknown).apply(e, args);
    }, judge(v));
  }
}

/** Field `key` of the object `good` makes takes every value (and goes missing); `call` passes the object. */
function fieldCases<T extends object>(what: string, good: (c: Context) => T, key: keyof T & string, judge: Judge, call: (e: Engine, o: T, c: Context) => unknown): void {
  for (const [l, v] of VALUES) caseOf(`${what}.${key} = ${l}`, (e, c) => call(e, { ...good(c), [key]: v }, c), judge(v));
  caseOf(`${what}.${key} missing`, (e, c) => {
    const o: Record<string, unknown> = { ...(good(c) as Record<string, unknown>) };
    delete o[key];
    return call(e, o as T, c);
  }, judge(undefined));
}

/**
 * A batch argument: not an array (every non-array value), a hole, each kind of non-object member, frozen, and each
 * field of its second member with every value (`fields`, errors naming `[1].key`).
 */
function batchCases<T extends object>(
  method: string,
  param: string,
  good: (c: Context) => T[],
  fields: readonly (readonly [key: keyof T & string, judge: (field: string) => Judge])[],
  /** The method also takes one member on its own (fill): an object is not a bad batch. */
  acceptsOne = false,
): void {
  const call = (e: Engine, b: unknown): unknown => (e[method as keyof Engine] as (b: unknown) => unknown).call(e, b);
  for (const [l, v] of VALUES) {
    if (!Array.isArray(v) && !(acceptsOne && isObject(v))) caseOf(`${method}(${param} = ${l})`, (e) => call(e, v), bad(ErrorCode.InvalidArgument, param));
    if (!isObject(v)) {
      caseOf(`${method}([good, ${l}])`, (e, c) => call(e, [good(c)[0], v]), bad(ErrorCode.InvalidArgument, '[1]'));
      caseOf(`${method}(frozen [good, ${l}])`, (e, c) => call(e, Object.freeze([Object.freeze(good(c)[0]), v])), bad(ErrorCode.InvalidArgument, '[1]'));
    }
  }
  // A hole: Array map and forEach skip holes, the engine's checks must not.
  caseOf(`${method}([good, hole, good])`, (e, c) => call(e, [good(c)[0], , good(c)[0]]), bad(ErrorCode.InvalidArgument, '[1]'));
  for (const [key, judge] of fields) {
    fieldCases(`${method}([good, x]) x`, (c) => good(c)[0]!, key, judge(`[1].${key}`), (e, o, c) => call(e, [good(c)[0], o]));
  }
}

/** A whole object argument that is not an object (arrays included). */
function objectCases(method: string, field: string, call: (e: Engine, v: unknown) => unknown): void {
  for (const [l, v] of VALUES) if (!isObject(v)) caseOf(`${method}(${l})`, (e) => call(e, v), bad(ErrorCode.InvalidArgument, field));
}

// addMarket, and the same input as a value (submit).
const newMarket = (): MarketSpec => ({ id: 11, symbol: 'NEW-USD', price: 10, tiers: TEN_PERCENT, positionCapacity: 1 });
for (const [method, prefix, add] of [
  ['addMarket', 'market', (e: Engine, s: unknown) => e.addMarket(s as MarketSpec)],
  ['submit market', 'market', (e: Engine, s: unknown) => e.submit({ kind: 'market', spec: s as MarketSpec })],
] as const) {
  objectCases(method, prefix, add);
  fieldCases(method, newMarket, 'id', id(`${prefix}.id`, undefined, ''), (e, s) => add(e, s));
  fieldCases(method, newMarket, 'symbol', symbolName(`${prefix}.symbol`), (e, s) => add(e, s));
  fieldCases(method, newMarket, 'price', price(`${prefix}.price`), (e, s) => add(e, s));
  // A non-empty array is judged by its first tier; an array is an object to the tier check (no fractions in it).
  const tiers: Judge = (v) => bad(ErrorCode.InvalidTiers, Array.isArray(v) && v.length > 0 ? `${prefix}.tiers[0]` : `${prefix}.tiers`);
  fieldCases(method, newMarket, 'tiers', tiers, (e, s) => add(e, s));
  for (const [l, v] of VALUES) {
    const field = v !== null && typeof v === 'object' ? `${prefix}.tiers[0].maintenanceMarginFraction` : `${prefix}.tiers[0]`;
    caseOf(`${method}(tiers = [${l}])`, (e) => add(e, { ...newMarket(), tiers: [v] }), bad(ErrorCode.InvalidTiers, field));
  }
  const capacity: Judge = (v) =>
    v === undefined || v === null ? 'ok' : !isNumber(v) || !Number.isInteger(v) || v < 1 ? bad(ErrorCode.InvalidConfig, `${prefix}.positionCapacity`) : v > FREE_SLOTS ? bad(ErrorCode.CapacityExceeded, `${prefix}.positionCapacity`) : 'ok';
  fieldCases(method, newMarket, 'positionCapacity', capacity, (e, s) => add(e, s));
  caseOf(`${method}(a duplicate id)`, (e) => add(e, { ...newMarket(), id: DIRECT }), bad(ErrorCode.DuplicateMarket, `${prefix}.id`));
  caseOf(`${method}(a symbol of ${MAX_SYMBOL_LENGTH + 1} characters)`, (e) => add(e, { ...newMarket(), symbol: 'X'.repeat(MAX_SYMBOL_LENGTH + 1) }), bad(ErrorCode.InvalidArgument, `${prefix}.symbol`));
}

// addAccount, and as a value; setCollateral.
argumentCases('addAccount', () => [12, 1], 0, 'id', id('account.id', undefined, ''));
argumentCases('addAccount', () => [12, 1], 1, 'collateral', optional(amount('account.collateral')));
for (const [l, v] of VALUES) {
  caseOf(`submit account(id = ${l})`, (e) => e.submit({ kind: 'account', id: v as number, collateral: 1 }), id('account.id', undefined, '')(v));
  caseOf(`submit account(collateral = ${l})`, (e) => e.submit({ kind: 'account', id: 12, collateral: v as number }), amount('account.collateral')(v));
}
caseOf('addAccount(a duplicate id)', (e) => e.addAccount(8, 1), bad(ErrorCode.DuplicateAccount, 'account.id'));
argumentCases('setCollateral', () => [8, 9_000], 0, 'account', account('account'));
argumentCases('setCollateral', () => [8, 9_000], 1, 'collateral', amount('collateral'));

// Positions: one at a time, and as a batch.
const movePosition = (): PositionUpdate => ({ account: 8, market: OTHER, size: 3, entryPrice: 10 });
const positionFields = [
  ['account', account],
  ['market', (f: string) => market(f)],
  ['size', size],
  ['entryPrice', price],
  ['isolatedCollateral', (f: string) => nullable((v) => (amount(f)(v) === 'ok' && (v as number) >= 0 ? 'ok' : bad(ErrorCode.InvalidAmount, f)))],
] as const;
objectCases('upsertPosition', 'position', (e, v) => e.upsertPosition(v as PositionUpdate));
for (const [key, judge] of positionFields) fieldCases('upsertPosition', movePosition, key, judge(`position.${key}`), (e, u) => e.upsertPosition(u));
for (const [key, judge] of positionFields) fieldCases('submit position', movePosition, key, judge(`position.${key}`), (e, u) => e.submit({ kind: 'position', update: u }));

// An input value that is no input: not an object, or of no kind the engine knows.
for (const [l, v] of VALUES) if (!isObject(v)) caseOf(`submit(${l})`, (e) => e.submit(v as never), bad(ErrorCode.InvalidArgument, 'input'));
for (const [l, v] of VALUES) caseOf(`submit(kind = ${l})`, (e) => e.submit({ kind: v } as never), bad(ErrorCode.InvalidArgument, 'kind'));
for (const kind of ['Market', 'fill', 'epochStart', '__proto__', 'constructor']) caseOf(`submit(kind = '${kind}')`, (e) => e.submit({ kind } as never), bad(ErrorCode.InvalidArgument, 'kind'));
batchCases('upsertPositions', 'updates', () => [movePosition()], positionFields);

// Collateral as a batch.
const collateralOf = (): { account: number; collateral: number } => ({ account: 8, collateral: 9_500 });
batchCases('setCollaterals', 'updates', () => [collateralOf()], [
  ['account', account],
  ['collateral', amount],
]);
argumentCases('setCollaterals', () => [[collateralOf()], false], 1, 'createAccounts', optional(argument('createAccounts', (v) => typeof v === 'boolean')));

// Direct prices: one, a batch of objects, columns.
argumentCases('pushPrice', () => [DIRECT, 49_000], 0, 'market', market('market'));
argumentCases('pushPrice', () => [DIRECT, 49_000], 1, 'price', price('price'));
argumentCases('pushPrice', () => [DIRECT, 49_000, 49_000], 2, 'oraclePrice', optional(price('oraclePrice')));
caseOf('pushPrice(an oracle market)', (e) => e.pushPrice(ORACLE, 100), bad(ErrorCode.OracleMarket, 'market'));
batchCases('pushPrices', 'updates', () => [{ market: DIRECT, price: 49_000 }], [
  ['market', market],
  ['price', price],
]);
const priceUpdate = (): PriceUpdate => ({ market: DIRECT, price: 49_000 });
fieldCases('pushPrices([good, x]) x', priceUpdate, 'oraclePrice', optional(price('[1].oraclePrice')), (e, u) => e.pushPrices([{ market: DIRECT, price: 49_500 }, u]));
fieldCases('pushPrices([good, x]) x', priceUpdate, 'eventTimeUs', optional(time('[1].eventTimeUs')), (e, u) => e.pushPrices([{ market: DIRECT, price: 49_500 }, u]));
caseOf('pushPrices([an oracle market])', (e) => e.pushPrices([{ market: ORACLE, price: 100 }]), bad(ErrorCode.OracleMarket, '[0].market'));

const columns = (): unknown[] => [[DIRECT, OTHER], [49_000, 9], 2, [T0 + 5, T0 + 5]];
const arrayLike = (v: unknown): boolean => v !== null && typeof v === 'object' && Number.isSafeInteger((v as { length?: unknown }).length);
for (const [index, name] of [[0, 'marketIds'], [1, 'prices'], [3, 'eventTimesUs']] as const) {
  const judge = argument(name, arrayLike);
  argumentCases('pushPriceColumns', columns, index, name, index === 3 ? optional(judge) : (v) => (Array.isArray(v) ? 'ok' : judge(v)));
}
argumentCases('pushPriceColumns', columns, 2, 'n', (v) => (isNumber(v) && Number.isInteger(v) && v >= 0 && v <= 2 ? 'ok' : bad(ErrorCode.InvalidSize, 'n')));
for (const [index, name, judge] of [[0, 'market', market('[1].market', [DIRECT, OTHER])], [1, 'price', price('[1].price')], [3, 'eventTimeUs', time('[1].eventTimeUs')]] as const) {
  for (const [l, v] of VALUES) {
    caseOf(`pushPriceColumns(row 1 ${name} = ${l})`, (e) => {
      const args = columns() as [number[], number[], number, number[]];
      (args[index] as unknown[])[1] = v;
      return e.pushPriceColumns(...args);
    }, judge(v));
  }
}
caseOf('pushPriceColumns(an oracle market)', (e) => e.pushPriceColumns([DIRECT, ORACLE], [49_000, 100], 2), bad(ErrorCode.OracleMarket, '[1].market'));
caseOf('pushPriceColumns(n = 2^53 over one row)', (e) => e.pushPriceColumns([DIRECT], [49_000], 2 ** 53), bad(ErrorCode.InvalidSize, 'n'));

// Source reports, as objects and as columns: unsigned, so a report whose fields are all good is UNSIGNED_REPORT.
const report = (): Tick => ({ market: ORACLE, source: 4, price: 101, confidence: 0, eventTimeUs: T0 + 5, sourceSequence: 100 });
const unsigned = bad(ErrorCode.UnsignedReport, '[0]');
const sequence = (f: string): Judge => (v) => (isNumber(v) && Number.isSafeInteger(v) && v >= 0 ? 'ok' : bad(ErrorCode.InvalidAmount, f));
const confidence = (f: string): Judge => (v) => (isNumber(v) && v >= 0 && v < Infinity ? 'ok' : bad(ErrorCode.InvalidAmount, f));
const reportFields = [
  ['market', (f: string) => market(f, [])],
  ['source', (f: string) => id(f, [1, 2, 3, 4, 5], ErrorCode.UnknownSource)],
  ['price', price],
  ['confidence', confidence],
  ['eventTimeUs', time],
  ['sourceSequence', sequence],
] as const;
const columnsOf = (rows: readonly Tick[]): Record<string, unknown> => ({
  length: rows.length,
  ...Object.fromEntries(reportFields.map(([key]) => [key, rows.map((r) => r[key])])),
  signed: false,
});
for (const [key, judge] of reportFields) {
  // market 0 is no market at all: its row is a direct price of an unknown market.
  const j = key === 'market' ? (v: unknown): Verdict => (isId(v) ? bad(ErrorCode.UnknownMarket, '[0].market') : bad(ErrorCode.InvalidId, '[0].market')) : otherwise(judge('[0].' + key), unsigned);
  fieldCases('pushReports(x) x', report, key, j, (e, r) => e.pushReports(r));
  fieldCases('pushReports([x]) x', report, key, j, (e, r) => e.pushReports([r]));
  fieldCases('pushTicks(row 0) x', report, key, j, (e, r) => e.pushTicks(columnsOf([r]) as never));
}
for (const [l, v] of VALUES) {
  if (!isObject(v) && !Array.isArray(v)) caseOf(`pushReports(${l})`, (e) => e.pushReports(v as Tick), bad(ErrorCode.InvalidArgument, 'reports'));
  if (!isObject(v)) caseOf(`pushReports([good, ${l}])`, (e) => e.pushReports([report(), v as Tick]), bad(ErrorCode.InvalidArgument, '[1]'));
}
argumentCases('pushReports', () => [[report()], new Uint8Array(64)], 1, 'signatures', optional(argument('signatures', (v) => v instanceof Uint8Array)));

// pushTicks' columns themselves.
objectCases('pushTicks', 'batch', (e, v) => e.pushTicks(v as never));
for (const [key] of reportFields) {
  for (const [l, v] of VALUES) {
    if (!arrayLike(v)) caseOf(`pushTicks(column ${key} = ${l})`, (e) => e.pushTicks({ ...columnsOf([report()]), [key]: v } as never), bad(ErrorCode.InvalidArgument, key));
  }
}
for (const [l, v] of VALUES) {
  const rows = isNumber(v) && Number.isInteger(v) && v >= 0 && v <= 1;
  if (!rows) caseOf(`pushTicks(length = ${l})`, (e) => e.pushTicks({ ...columnsOf([report()]), length: v } as never), bad(ErrorCode.InvalidSize, 'length'));
  if (typeof v !== 'boolean') caseOf(`pushTicks(signed = ${l})`, (e) => e.pushTicks({ ...columnsOf([report()]), signed: v } as never), bad(ErrorCode.InvalidArgument, 'signed'));
  if (!(v instanceof Uint8Array)) caseOf(`pushTicks(signed, signatures = ${l})`, (e) => e.pushTicks({ ...columnsOf([report()]), signed: true, signatures: v } as never), bad(ErrorCode.InvalidArgument, 'signatures'));
}
caseOf('pushTicks(signed, 10 signature bytes for a row)', (e) => e.pushTicks({ ...columnsOf([report()]), signed: true, signatures: new Uint8Array(10) } as never), bad(ErrorCode.BadSignature, '[0].signature'));

// Book tops of oracle markets.
const top = (): { market: number; bid: number; ask: number; last: number; eventTimeUs: number } => ({ market: ORACLE, bid: 99, ask: 101, last: 100, eventTimeUs: T0 + 5 });
const bookSide = (f: string): Judge => (v) => (v === 0 ? 'ok' : price(f)(v));
batchCases('pushBooks', 'books', () => [top()], [
  ['market', (f) => market(f, [ORACLE])],
  ['bid', (f) => (v) => (isNumber(v) && v > 101 ? bad(ErrorCode.InvalidPrice, f) : bookSide(f)(v))],
  ['ask', (f) => (v) => (isNumber(v) && v > 0 && v < 99 ? bad(ErrorCode.InvalidPrice, '[1].bid') : bookSide(f)(v))],
  ['last', bookSide],
  ['eventTimeUs', time],
]);
caseOf('pushBooks([a direct market])', (e) => e.pushBooks([{ ...top(), market: DIRECT }]), bad(ErrorCode.UnknownMarket, '[0].market'));

// Book depth (the execution strategies' participation caps): volumes >= 0, Infinity for unknown.
const depth = (): { market: number; bidVolume: number; askVolume: number } => ({ market: DIRECT, bidVolume: 100, askVolume: 120 });
const volume = (f: string): Judge => (v) => (isNumber(v) && v >= 0 ? 'ok' : bad(ErrorCode.InvalidSize, f));
batchCases('pushDepth', 'books', () => [depth()], [
  ['market', (f) => market(f)],
  ['bidVolume', volume],
  ['askVolume', volume],
]);

// The clock and the kill switch.
argumentCases('advanceClock', () => [T0 + 30], 0, 'nowUs', time('nowUs'));
const LEVELS = ['normal', 'no-new', 'no-reissue', 'halt'];
argumentCases('setKillSwitch', () => ['no-reissue', OTHER, 'why'], 0, 'level', (v) => (LEVELS.includes(v as string) ? 'ok' : bad(ErrorCode.InvalidConfig, 'level')));
argumentCases('setKillSwitch', () => ['no-reissue', OTHER, 'why'], 1, 'market', optional(market('market')));
argumentCases('setKillSwitch', () => ['no-reissue', OTHER, 'why'], 2, 'reason', optional(argument('reason', (v) => typeof v === 'string')));
caseOf(`setKillSwitch(a reason of ${MAX_REASON_LENGTH + 1} characters)`, (e) => e.setKillSwitch('halt', OTHER, 'x'.repeat(MAX_REASON_LENGTH + 1)), bad(ErrorCode.InvalidArgument, 'reason'));
argumentCases('killSwitch', () => [OTHER], 0, 'market', optional(market('market')));
argumentCases('marketStatus', () => [OTHER], 0, 'market', market('market'));

// Fills, expiries, deleveraging, the insurance funds.
const fillOf = (c: Context, quantity = c.order.quantity): { orderId: string; account: number; market: number; quantity: number; price: number; eventTimeUs: number } => ({
  orderId: c.order.id,
  account: c.order.account,
  market: c.order.market,
  quantity,
  price: c.order.limitPrice,
  eventTimeUs: T0 + 5,
});
const fillFields = [
  ['orderId', (f: string) => (v: unknown) => (typeof v === 'string' ? bad(ErrorCode.UnknownOrder, f) : bad(ErrorCode.InvalidArgument, f))],
  ['account', (f: string) => (v: unknown) => (isId(v) ? bad(ErrorCode.InvalidFill, f.replace('.account', '')) : bad(ErrorCode.InvalidId, f))],
  ['market', (f: string) => (v: unknown) => (isId(v) ? bad(ErrorCode.InvalidFill, f.replace('.market', '')) : bad(ErrorCode.InvalidId, f))],
  // Every value here is bad: none is a quantity in (0, the order's quantity].
  ['quantity', (f: string) => () => bad(ErrorCode.InvalidFill, f)],
  ['price', price],
  ['eventTimeUs', time],
] as const;
// In a batch the good first fill takes half the order, so that the second is judged by its bad field alone.
batchCases('fill', 'fills', (c) => [fillOf(c, c.order.quantity / 2)], fillFields, true);
for (const [l, v] of VALUES) if (isObject(v)) caseOf(`fill(${l})`, (e) => e.fill(v as never), bad(ErrorCode.InvalidArgument, '[0].orderId'));
for (const [key, judge] of fillFields) fieldCases('fill(x) x', (c) => fillOf(c), key, judge(`[0].${key}`), (e, f) => e.fill(f));

for (const [l, v] of VALUES) {
  if (typeof v === 'string') caseOf(`expire(${l})`, (e) => e.expire(v), bad(ErrorCode.UnknownOrder, '[0]'));
  else if (!Array.isArray(v)) caseOf(`expire(${l})`, (e) => e.expire(v as never), bad(ErrorCode.InvalidArgument, 'orderIds'));
  if (typeof v !== 'string') caseOf(`expire([open, ${l}])`, (e, c) => e.expire([c.order.id, v as string]), bad(ErrorCode.InvalidArgument, '[1]'));
}
caseOf('expire([open, open])', (e, c) => e.expire([c.order.id, c.order.id]), bad(ErrorCode.InvalidFill, '[1]'));

argumentCases('deleverage', () => [9, OTHER], 0, 'account', account('account'));
argumentCases('deleverage', () => [9, OTHER], 1, 'market', market('market'));
caseOf('deleverage(a market the account holds nothing in)', (e) => e.deleverage(9, DIRECT), bad(ErrorCode.InvalidFill, 'market'));

const fund = (f: string): Judge => (v) => (v === 'pooled' ? 'ok' : market(f)(v));
argumentCases('depositInsurance', () => [DIRECT, 1], 0, 'market', fund('market'));
argumentCases('depositInsurance', () => [DIRECT, 1], 1, 'amount', (v) => (isNumber(v) && v > 0 && v <= MAX_ABS_AMOUNT ? 'ok' : bad(ErrorCode.InvalidAmount, 'amount')));
caseOf('depositInsurance(an amount that rounds to 0 atoms)', (e) => e.depositInsurance(DIRECT, 1e-9), bad(ErrorCode.InvalidAmount, 'amount'));
caseOf('depositInsurance(market "POOLED")', (e) => e.depositInsurance('POOLED' as never, 1), bad(ErrorCode.InvalidId, 'market'));
argumentCases('insuranceFund', () => [DIRECT], 0, 'market', fund('market'));

// Queries.
objectCases('previewFill', 'order', (e, v) => e.previewFill(v as LiquidationOrder));
fieldCases('previewFill', (c) => c.order, 'account', account('order.account'), (e, o) => e.previewFill(o));
fieldCases('previewFill', (c) => c.order, 'market', market('order.market'), (e, o) => e.previewFill(o));
fieldCases('previewFill', (c) => c.order, 'quantity', (v) => (isNumber(v) && v > 0 && v <= MAX_ABS_SIZE ? 'ok' : bad(ErrorCode.InvalidSize, 'order.quantity')), (e, o) => e.previewFill(o));
fieldCases('previewFill', (c) => c.order, 'limitPrice', price('order.limitPrice'), (e, o) => e.previewFill(o));
argumentCases('adlQueue', () => [DIRECT, 1], 0, 'market', market('market'));
argumentCases('adlQueue', () => [DIRECT, 1], 1, 'bankruptSide', (v) => (v === 1 || v === -1 ? 'ok' : bad(ErrorCode.InvalidArgument, 'bankruptSide')));
argumentCases('account', () => [8], 0, 'id', account('account'));
argumentCases('accountSummary', () => [8], 0, 'id', account('account'));

// Listeners: a listener that is not a function is refused when it is registered, not when it is first called.
// Every registration there is, found on the prototype (a listener added later is covered without a change here).
const LISTENERS = Object.getOwnPropertyNames(Engine.prototype).filter((name) => /^on[A-Z]/.test(name));
for (const on of LISTENERS) argumentCases(on, () => [() => {}], 0, 'listener', argument('listener', (v) => typeof v === 'function'));
argumentCases('atomically', () => [() => {}], 0, 'load', argument('load', (v) => typeof v === 'function'));

/** Public methods with no argument that could be bad, and why. */
const NOT_IN_THE_TABLE: Readonly<Record<string, string>> = {
  step: 'no arguments',
  settled: 'no arguments',
  durable: 'no arguments',
  close: 'no arguments',
  orders: 'no arguments',
  openOrders: 'no arguments',
  oracleStats: 'no arguments',
  outputDigest: 'no arguments',
  scanStats: 'no arguments',
  start: 'its config has a table of its own below',
  hasAccount: 'a predicate, checked below: false for any value that is not a held id',
  hasMarket: 'a predicate, checked below: false for any value that is not a held id',
  fromCore: '@internal: src/cluster builds a replica\'s engine around the core it started',
  marketSymbol: 'a lookup by market id: INVALID_ID or UNKNOWN_MARKET from the writer, as account() and marketStatus() give',
};

/** The public methods of src/engine/engine.ts as declared (a method added later fails the coverage check until it has cases). */
function publicMethods(): string[] {
  const source = readFileSync(fileURLToPath(new URL('../src/engine/engine.ts', import.meta.url)), 'utf8');
  return [...source.matchAll(/^ {2}(?:static )?(?:async )?\*?(\w+)\(/gm)].map((m) => m[1]!);
}

/** What `call` threw; fails when it returned. */
function thrown(call: () => unknown): unknown {
  let result: unknown;
  try {
    result = call();
  } catch (e) {
    return e;
  }
  throw new Error(`accepted (returned ${typeof result})`);
}

const root = mkdtempSync(join(tmpdir(), 'unwind-api-validation-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a bad call of the embedding API', () => {
  // `subject` receives every bad call; `control` is its twin that never sees one.
  let subject: Engine;
  let control: Engine;
  const context = {} as Context;

  beforeAll(async () => {
    [subject, control] = await Promise.all([startBook(join(root, 'subject')), startBook(join(root, 'control'))]);
    context.order = subject.openOrders()[0]!.order;
    expect(fingerprint(subject)).toBe(fingerprint(control));
  });
  afterAll(async () => {
    await Promise.all([subject?.close(), control?.close()]);
  });

  it('covers every public method with thousands of cases', () => {
    const covered = new Set(CASES.map((c) => /^[A-Za-z]+/.exec(c.name)![0]));
    const declared = publicMethods();
    expect(declared.length).toBeGreaterThan(45);
    expect(declared.filter((m) => !covered.has(m) && NOT_IN_THE_TABLE[m] === undefined)).toEqual([]);
    expect([...covered].filter((m) => !declared.includes(m))).toEqual([]);
    expect(LISTENERS).toEqual(expect.arrayContaining(['onOrder', 'onMarginCall', 'onStateChange', 'onUnresolvedDeficit', 'onSocializedLoss', 'onDeleverage', 'onFill', 'onEpoch', 'onError', 'onMarketStatus']));
    expect(CASES.length).toBeGreaterThan(1_000);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES)('$name: $code naming $field, and nothing changes', async ({ call, code, field }) => {
    const before = fingerprint(subject);
    const e = thrown(() => call(subject, context));
    expect(e).toBeInstanceOf(UnwindError);
    const error = e as UnwindError;
    if (code === ANY_CODE) expect(Object.values(ErrorCode)).toContain(error.code);
    else expect(error.code).toBe(code);
    expect(error.field).toBe(field);
    expect(error.message.length).toBeGreaterThan(10);
    expect(fingerprint(subject)).toBe(before);
    expect(fingerprint(subject)).toBe(fingerprint(control));
    // The next epoch is the twin's, byte for byte.
    const [s, c] = await Promise.all([subject.step(), control.step()]);
    expect(JSON.stringify(s)).toBe(JSON.stringify(c));
    expect(subject.outputDigest()).toBe(control.outputDigest());
  });
});

// ---- Engine.start's config ----

const cfgNumber =
  (field: string, ok: (v: number) => boolean): Judge =>
  (v) =>
    v === undefined || (isNumber(v) && !Number.isNaN(v) && ok(v)) ? 'ok' : bad(ErrorCode.InvalidConfig, field);
const cfgOneOf =
  (field: string, values: readonly unknown[]): Judge =>
  (v) =>
    v === undefined || values.includes(v) ? 'ok' : bad(ErrorCode.InvalidConfig, field);
const cfgObject = (field: string): Judge => (v) => (v === undefined || isObject(v) ? 'ok' : bad(ErrorCode.InvalidConfig, field));
const integerIn = (lo: number, hi: number) => (v: number) => Number.isInteger(v) && v >= lo && v <= hi;
const finiteAtLeast = (lo: number) => (v: number) => Number.isFinite(v) && v >= lo;

/** [path, judge]: a path of one key is a top-level field, of two a field of that object. */
const CONFIG_FIELDS: readonly (readonly [path: readonly string[], judge: Judge])[] = [
  [['capacity'], cfgObject('capacity')],
  ...['markets', 'accounts', 'positions', 'positionsPerAccount', 'candidates', 'output'].map(
    (k) => [['capacity', k], cfgNumber(`capacity.${k}`, integerIn(1, 2 ** 31 - 1))] as const,
  ),
  [['scanWorkers'], cfgNumber('scanWorkers', integerIn(0, 64))],
  [['bankruptcyAdjustment'], cfgNumber('bankruptcyAdjustment', finiteAtLeast(1))],
  [['spreadToMaintenanceMarginRatio'], cfgNumber('spreadToMaintenanceMarginRatio', finiteAtLeast(0))],
  [['marginCallHealth'], cfgNumber('marginCallHealth', (v) => Number.isFinite(v) && v > 1)],
  [['autoEpoch'], cfgOneOf('autoEpoch', [true, false])],
  [['autoDeleverage'], cfgOneOf('autoDeleverage', [true, false])],
  [['quoteDecimals'], cfgNumber('quoteDecimals', integerIn(0, 12))],
  [['fees'], cfgObject('fees')],
  [['fees', 'maxFeeFraction'], cfgNumber('fees.maxFeeFraction', (v) => v >= 0 && v <= 1)],
  // Up to 0.5 may be within the healing bound; above the bound or not a number it is refused.
  [['fees', 'maxMaintenanceShare'], cfgNumber('fees.maxMaintenanceShare', (v) => v >= 0 && v <= 0.5)],
  [['fees', 'fund'], cfgOneOf('fees.fund', ['per-market', 'pooled'])],
  [['maxOpenOrders'], cfgNumber('maxOpenOrders', (v) => Number.isInteger(v) && v >= 1)],
  [['deficitPolicy'], cfgOneOf('deficitPolicy', ['adl', 'socialized'])],
  [['fundDrawdown'], cfgObject('fundDrawdown')],
  [['fundDrawdown', 'max'], cfgNumber('fundDrawdown.max', (v) => v > 0 && v <= 1)],
  [['fundDrawdown', 'windowUs'], cfgNumber('fundDrawdown.windowUs', finiteAtLeast(0))],
  [['sizing'], cfgObject('sizing')],
  [['sizing', 'targetHealth'], cfgNumber('sizing.targetHealth', (v) => Number.isFinite(v) && v > 1)],
  [['sizing', 'minNotional'], cfgNumber('sizing.minNotional', finiteAtLeast(0))],
  [['sizing', 'maxPortion'], cfgNumber('sizing.maxPortion', (v) => v > 0 && v <= 1)],
  [['sizing', 'largeNotional'], cfgNumber('sizing.largeNotional', (v) => v > 0)],
  [['sizing', 'largeStepPortion'], cfgNumber('sizing.largeStepPortion', (v) => v > 0 && v <= 1)],
  // In [0, 1] the fee policy's healing bound may still refuse it (naming the same field).
  [['sizing', 'emergencyHealth'], cfgNumber('sizing.emergencyHealth', (v) => v >= 0 && v <= 1)],
  [['sizing', 'minOrderNotional'], cfgNumber('sizing.minOrderNotional', finiteAtLeast(0))],
  [['stepDownCooldownUs'], cfgNumber('stepDownCooldownUs', finiteAtLeast(0))],
  [['fillPriceBand'], cfgNumber('fillPriceBand', (v) => v >= 0 && v <= 1)],
  [['orderTimeoutUs'], cfgNumber('orderTimeoutUs', (v) => v > 0)],
  [['clock'], cfgObject('clock')],
  [['clock', 'maxSkewUs'], cfgNumber('clock.maxSkewUs', (v) => v >= 0 && v <= MAX_TIME_US)],
  [['clock', 'maxStepUs'], cfgNumber('clock.maxStepUs', (v) => v > 0 && v <= MAX_TIME_US)],
  [['lifecycle'], cfgObject('lifecycle')],
  [['lifecycle', 'marginCallHysteresis'], cfgNumber('lifecycle.marginCallHysteresis', finiteAtLeast(0))],
  [['lifecycle', 'exitBuffer'], cfgNumber('lifecycle.exitBuffer', finiteAtLeast(0))],
  [['caps'], cfgObject('caps')],
  [['caps', 'accountNotionalPerInterval'], cfgNumber('caps.accountNotionalPerInterval', (v) => v >= 0)],
  [['caps', 'accountInsuranceLossPerInterval'], cfgNumber('caps.accountInsuranceLossPerInterval', (v) => v >= 0)],
  [['caps', 'intervalUs'], cfgNumber('caps.intervalUs', (v) => v > 0 && v < Infinity)],
  [['caps', 'marketNotionalPerWindow'], cfgNumber('caps.marketNotionalPerWindow', (v) => v >= 0)],
  [['caps', 'marketWindowUs'], cfgNumber('caps.marketWindowUs', (v) => v > 0 && v < Infinity)],
  [['caps', 'maxInFlight'], cfgNumber('caps.maxInFlight', (v) => v === Infinity || (Number.isInteger(v) && v >= 0))],
  [['oracle'], cfgObject('oracle')],
  [['oracle', 'signatures'], cfgOneOf('oracle.signatures', ['required', 'off'])],
  [['oracle', 'markets'], (v) => (v === undefined || v === null || Array.isArray(v) ? 'ok' : bad(ErrorCode.InvalidConfig, 'oracle.markets'))],
  [['journal'], (v) => (v === undefined ? 'ok' : bad(ErrorCode.InvalidConfig, 'journal'))],
];

/** A small engine that would start: no threads, a journal directory that must not appear when the config is refused. */
const startConfig = (dir: string): Record<string, unknown> => ({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 2, positions: 4 }, journal: { dir } });

interface ConfigCase {
  readonly name: string;
  readonly config: (dir: string) => unknown;
  readonly code: string;
  readonly field: string | undefined;
}
const CONFIG_CASES: ConfigCase[] = [];
for (const [l, v] of VALUES) if (!isObject(v) && v !== undefined) CONFIG_CASES.push({ name: `config = ${l}`, config: () => v, code: ErrorCode.InvalidConfig, field: undefined });
for (const [path, judge] of CONFIG_FIELDS) {
  for (const [l, v] of VALUES) {
    const verdict = judge(v);
    if (verdict === 'ok') continue;
    const config = (dir: string): unknown => {
      const c = startConfig(dir);
      const [outer, inner] = path as [string, string | undefined];
      if (inner === undefined) c[outer] = v;
      else c[outer] = { ...(c[outer] as object | undefined), [inner]: v };
      return c;
    };
    CONFIG_CASES.push({ name: `config.${path.join('.')} = ${l}`, config, ...verdict });
  }
}
CONFIG_CASES.push({
  name: 'config.oracle.markets = [null]',
  config: (dir) => ({ ...startConfig(dir), oracle: { markets: [null] } }),
  code: ErrorCode.InvalidId,
  field: 'oracle.markets[0].market',
});

describe('Engine.start with a bad config', () => {
  it.each(CONFIG_CASES.map((c, i) => ({ ...c, i })))('$name: $code naming $field, and nothing is created', async ({ config, code, field, i }) => {
    const dir = join(root, `start-${i}`);
    let e: unknown;
    try {
      const engine = await Engine.start(config(dir) as EngineConfig);
      await engine.close();
      e = new Error('accepted');
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(UnwindError);
    expect({ code: (e as UnwindError).code, field: (e as UnwindError).field }).toEqual({ code, field });
    expect(existsSync(dir), 'the journal directory was created').toBe(false);
  });
});

// ---- what is accepted on purpose, and a caller's own exception ----

describe('a deliberately accepted call', () => {
  let subject: Engine;
  let control: Engine;
  const context = {} as Context;

  beforeAll(async () => {
    [subject, control] = await Promise.all([startBook(join(root, 'accepted-subject')), startBook(join(root, 'accepted-control'))]);
    context.order = subject.openOrders()[0]!.order;
  });
  afterAll(async () => {
    await Promise.all([subject?.close(), control?.close()]);
  });

  it('hasAccount and hasMarket answer false for any value that is not a held id (before -0 adds account 0 below), and throw for none', () => {
    for (const [, v] of VALUES) {
      expect(subject.hasAccount(v as number)).toBe(false);
      expect(subject.hasMarket(v as number)).toBe(false);
    }
    expect(ACCOUNTS.every((a) => subject.hasAccount(a)) && MARKETS.every((m) => subject.hasMarket(m))).toBe(true);
  });

  /** Both engines take their epoch: the outputs, and then everything observable, must be the same. */
  async function stepTwins(): Promise<void> {
    expect(fingerprint(subject)).toBe(fingerprint(control));
    const [s, c] = await Promise.all([subject.step(), control.step()]);
    expect(JSON.stringify(s)).toBe(JSON.stringify(c));
    expect(fingerprint(subject)).toBe(fingerprint(control));
  }

  const emptyColumns = { length: 0, market: [], source: [], price: [], confidence: [], eventTimeUs: [], sourceSequence: [], signed: false };
  it.each<[string, Call]>([
    ['upsertPositions', (e) => e.upsertPositions([])],
    ['setCollaterals', (e) => e.setCollaterals([])],
    ['pushPrices', (e) => e.pushPrices([])],
    ['pushPriceColumns', (e) => e.pushPriceColumns([], [], 0)],
    ['pushTicks', (e) => e.pushTicks(emptyColumns)],
    ['pushReports', (e) => e.pushReports([])],
    ['pushBooks', (e) => e.pushBooks([])],
    ['fill', (e) => e.fill([])],
    ['expire', (e) => e.expire([])],
  ])('%s with an empty batch: an input of no rows, counted and journaled, that moves nothing else', async (_method, call) => {
    const before = JSON.parse(fingerprint(subject)) as Record<string, unknown> & { inputCount: number; journalSequence: number };
    call(subject, context);
    call(control, context);
    expect(JSON.parse(fingerprint(subject))).toEqual({ ...before, inputCount: before.inputCount + 1, journalSequence: before.journalSequence + 1 });
    await stepTwins();
  });

  it.each<[string, Call, Call]>([
    ['extra fields on a position update', (e) => e.upsertPosition({ ...movePosition(), size: 4, note: 'x' } as PositionUpdate), (e) => e.upsertPosition({ ...movePosition(), size: 4 })],
    ['extra fields on a batch of prices', (e) => e.pushPrices([{ market: DIRECT, price: 49_900, venue: 'x' } as never]), (e) => e.pushPrices([{ market: DIRECT, price: 49_900 }])],
    ['extra fields on collateral updates', (e) => e.setCollaterals([{ account: 9, collateral: 1_001, memo: 1 } as never]), (e) => e.setCollaterals([{ account: 9, collateral: 1_001 }])],
    ['extra fields on a book top', (e) => e.pushBooks([{ ...top(), depth: 3 } as never]), (e) => e.pushBooks([top()])],
    ['a frozen batch of frozen position updates', (e) => e.upsertPositions(Object.freeze([Object.freeze({ ...movePosition(), size: 5 })])), (e) => e.upsertPositions([{ ...movePosition(), size: 5 }])],
    ['a frozen batch of prices', (e) => e.pushPrices(Object.freeze([Object.freeze({ market: OTHER, price: 9.5 })])), (e) => e.pushPrices([{ market: OTHER, price: 9.5 }])],
    ['frozen price columns', (e) => e.pushPriceColumns(Object.freeze([OTHER]), Object.freeze([9.6]), 1), (e) => e.pushPriceColumns([OTHER], [9.6], 1)],
    ['-0 as a new account id (the integer 0)', (e) => e.addAccount(-0, 1), (e) => e.addAccount(0, 1)],
    [
      'null for a spec\'s optional symbol and positionCapacity, and extra fields (absent)',
      (e) => e.addMarket({ ...newMarket(), symbol: null, positionCapacity: null, listed: true } as never),
      (e) => e.addMarket({ id: newMarket().id, price: newMarket().price, tiers: TEN_PERCENT }),
    ],
    ['null isolatedCollateral (cross)', (e) => e.upsertPosition({ ...movePosition(), size: 6, isolatedCollateral: null }), (e) => e.upsertPosition({ ...movePosition(), size: 6 })],
    [
      'junk in the unread source columns of a direct market\'s tick',
      (e) => e.pushTicks({ ...columnsOf([{ ...report(), market: DIRECT, price: 49_800 }]), source: [-1], confidence: [NaN], sourceSequence: [0.5] } as never),
      (e) => e.pushTicks(columnsOf([{ ...report(), market: DIRECT, price: 49_800 }]) as never),
    ],
    ['a frozen fill with extra fields', (e, c) => e.fill(Object.freeze({ ...fillOf(c), venueFillId: 'f-1' })), (e, c) => e.fill(fillOf(c))],
  ])('%s', async (_label, mine, theirs) => {
    mine(subject, context);
    theirs(control, context);
    await stepTwins();
  });

  it.each<[string, (e: Engine, boom: () => never) => unknown]>([
    ['a position update', (e, boom) => e.upsertPosition({ ...movePosition(), get size() { return boom(); } })],
    ['a batch of position updates', (e, boom) => e.upsertPositions([movePosition(), { ...movePosition(), get entryPrice() { return boom(); } }])],
    ['a batch of prices', (e, boom) => e.pushPrices([{ market: DIRECT, price: 1 }, { market: DIRECT, get price() { return boom(); } }])],
    ['a market spec', (e, boom) => e.addMarket({ ...newMarket(), id: 12, get tiers() { return boom(); } })],
    ['a fill', (e, boom) => e.fill({ ...fillOf(context), get price() { return boom(); } })],
    ['a book top', (e, boom) => e.pushBooks([{ ...top(), get eventTimeUs() { return boom(); } }])],
  ])('a getter that throws in %s: the caller\'s own error comes back as it was, and nothing changes', (_label, call) => {
    const before = fingerprint(subject);
    const mine = new Error('the caller\'s getter');
    const boom = (): never => {
      throw mine;
    };
    expect(thrown(() => call(subject, boom))).toBe(mine);
    expect(fingerprint(subject)).toBe(before);
  });
});

describe('a tick batch that mixes oracle and direct rows', () => {
  // With signatures off an oracle row passes its checks unsigned, so a direct row after it is reached.
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.start({ ...BASE, oracle: { signatures: 'off', markets: [oracleMarket({ market: ORACLE })] } });
    engine.addMarket({ id: ORACLE, price: 100, tiers: TEN_PERCENT });
    engine.addMarket({ id: DIRECT, price: 50_000, tiers: TEN_PERCENT });
  });
  afterAll(async () => {
    await engine?.close();
  });

  it.each<[string, Partial<Tick>, string, string]>([
    ['a NaN price', { price: NaN }, ErrorCode.InvalidPrice, '[1].price'],
    ['a price given as a string (not coerced to a number)', { price: '49000' as never }, ErrorCode.InvalidPrice, '[1].price'],
    ['a market id given as a string', { market: String(DIRECT) as never }, ErrorCode.InvalidId, '[1].market'],
    ['an event time given as a bigint', { eventTimeUs: 1n as never }, ErrorCode.InvalidAmount, '[1].eventTimeUs'],
    ['an unknown market', { market: 0 }, ErrorCode.UnknownMarket, '[1].market'],
  ])('names the batch\'s own row of a direct row with %s', (_label, bad, code, field) => {
    const before = fingerprint(engine, []);
    const batch = columnsOf([report(), { ...report(), market: DIRECT, price: 49_000, ...bad }]);
    expect(thrown(() => engine.pushTicks(batch as never))).toMatchObject({ name: 'UnwindError', code, field });
    expect(fingerprint(engine, [])).toBe(before);
  });
});
