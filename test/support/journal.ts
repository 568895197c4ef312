/**
 * Helpers for the journal tests: temporary journal directories, a seeded input script that drives an engine through
 * margin calls, liquidations, fills (whole, partial, beyond bankruptcy), expiries, the kill switch, collateral
 * changes and insurance deposits, and a walk over a segment's records.
 *
 * The walk follows the layout documented in src/journal/format.ts with its own arithmetic, so that the tests check
 * the bytes on disk against the documentation, not the reader against itself.
 *
 * The script is a function of (seed, step) only: each step draws from its own generator, and the orders a step
 * fills or expires are those its own epoch issued. So a run cut between steps 0..k and continued over k..n, in
 * another engine recovered from the journal, gives the engine exactly the inputs an uninterrupted run gives it.
 */
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, isUnwindError, type EngineConfig, type LiquidationOrder, type UnwindError } from '../../src/index.js';
import type { Fill } from '../../src/clearing/open-orders.js';
import { Random } from './random.js';

const tempDirs: string[] = [];

/** A new empty directory under the system's temporary directory; `removeTempDirs` deletes it. */
export function tempDir(prefix = 'unwind-journal-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Markets 1 to 3, all at 100, maintenance 5%, initial 10%. */
export const MARKETS = [1, 2, 3] as const;
const TIERS = [{ maxNotional: null, maintenanceMarginFraction: 0.05, initialMarginFraction: 0.1 }];
export const ACCOUNTS = 240;

/** The seed of every journal test's script. */
export const SEED = 11;
/** Steps of the whole script, and the step after which the interrupted runs close. */
export const STEPS = 30;
export const CUT = 14;

/** The decision config every journal test runs under (a test changes one field to see a mismatch). */
export const BASE_CONFIG: EngineConfig = {
  scanWorkers: 0,
  autoEpoch: false,
  capacity: { markets: 4, accounts: 400, positions: 1_200 },
  marginCallHealth: 1.25,
};

/** `BASE_CONFIG` with a journal in `dir` whose log lines go to `log`. */
export function journaled(dir: string, log: string[], journal: Partial<NonNullable<EngineConfig['journal']>> = {}, config: EngineConfig = {}): EngineConfig {
  return { ...BASE_CONFIG, ...config, journal: { dir, log: (line) => log.push(line), ...journal } };
}

/**
 * Markets, accounts and positions drawn from `seed`: longs and shorts at 100 with leverage from about 2x to 15x,
 * some accounts in two markets, some with an isolated position; insurance funds seeded.
 */
export function loadBook(engine: Engine, seed: number): void {
  const rand = new Random(seed);
  for (const id of MARKETS) engine.addMarket({ id, symbol: `M${id}-USD`, tiers: TIERS, price: 100 });
  for (let a = 1; a <= ACCOUNTS; a++) {
    const size = rand.int(1, 20) * (rand.chance(0.6) ? 1 : -1);
    engine.addAccount(a, Math.round(100 * Math.abs(size) * rand.range(0.07, 0.5)));
    const market = MARKETS[a % 3]!;
    engine.upsertPosition({ account: a, market, size, entryPrice: 100 });
    if (rand.chance(0.2)) {
      const other = MARKETS[(a + 1) % 3]!;
      engine.upsertPositions([{ account: a, market: other, size: -size / 2, entryPrice: 100, isolatedCollateral: rand.chance(0.5) ? Math.abs(size) * 10 : null }]);
    }
  }
  engine.setCollaterals([
    { account: 1, collateral: 500 },
    { account: 2, collateral: 400 },
  ]);
  for (const id of MARKETS) engine.depositInsurance(id, 30);
}

/** What the script's steps gave: outputs of each kind it saw, so a test can check the script exercises them. */
export interface Played {
  orders: number;
  marginCalls: number;
  fills: number;
  expiries: number;
}

/**
 * Market 1 falls (longs go under) and gaps down 8% at step `GAP`: longs it catches with less than that of margin are
 * bankrupt before any order can go out, and the small funds cannot pay their fills at the limit, so screening
 * deleverages them. Market 2 rises (shorts go under), market 3 wanders.
 */
const GAP = 10;
function prices(step: number, rand: Random): [number, number, number] {
  const noise = (): number => 1 + rand.range(-0.004, 0.004);
  const gap = step >= GAP ? 0.92 : 1;
  return [100 * (1 - 0.006 * step) * gap * noise(), 100 * (1 + 0.005 * step) * noise(), 100 * (1 + 0.03 * Math.sin(step / 3)) * noise()];
}

/** The kill switch holds new liquidations in market 3 over steps 8 to 11. */
const KILL_ON = 8;
const KILL_OFF = 12;

/**
 * Steps `from` to `to - 1` of the script: prices (single and batched), now and then a collateral top-up, an
 * insurance deposit or a kill-switch change, an epoch, then fills and expiries of that epoch's orders.
 */
export async function playSteps(engine: Engine, seed: number, from: number, to: number): Promise<Played> {
  const played: Played = { orders: 0, marginCalls: 0, fills: 0, expiries: 0 };
  for (let step = from; step < to; step++) {
    stepInputs(engine, seed, step);
    const r = await engine.step();
    played.orders += r.orders.length;
    played.marginCalls += r.marginCalls.length;
    const { fills, expiries } = settle(engine, seed, step, r.orders);
    played.fills += fills;
    played.expiries += expiries;
  }
  return played;
}

/** The inputs of `step` that its epoch takes. */
export function stepInputs(engine: Engine, seed: number, step: number): void {
  const rand = new Random(seed * 10_000 + step);
  const [p1, p2, p3] = prices(step, rand);
  const t = eventTime(step);
  engine.pushPrice(1, p1);
  engine.pushPrices([
    { market: 2, price: p2, eventTimeUs: t },
    { market: 3, price: p3, eventTimeUs: t },
  ]);
  if (rand.chance(0.3)) engine.setCollateral(rand.int(1, ACCOUNTS), rand.int(50, 400));
  if (step % 5 === 2) engine.depositInsurance(MARKETS[step % 3]!, 20);
  if (step === KILL_ON) engine.setKillSwitch('no-new', 3, 'operator drill');
  if (step === KILL_OFF) engine.setKillSwitch('normal', 3, 'drill over');
}

const eventTime = (step: number): number => (step + 1) * 1_000_000;

/**
 * The matching engine's answer to the orders of `step`'s epoch: each is filled whole at its limit, half at its
 * limit, half at its oracle price (better than the limit, inside the band a fill may beat it by), expired, or left
 * open. A fill may not be worse than its limit (INVALID_FILL); an order of an account already under water has its
 * limit past bankruptcy, so a fill there still has the fund cover the gap, or a deficit deleveraged.
 */
export function settle(engine: Engine, seed: number, step: number, orders: readonly LiquidationOrder[]): { fills: number; expiries: number } {
  const rand = new Random(seed * 10_000 + 5_000 + step);
  const fills: Fill[] = [];
  const expiries: string[] = [];
  orders.forEach((o, k) => {
    // Keys in Fill's order: the live digest depends on it (journal-recovery.test.ts, "whatever fill objects").
    const fill = (quantity: number, price: number): Fill => ({ orderId: o.id, account: o.account, market: o.market, quantity, price, eventTimeUs: eventTime(step) + k });
    const d = rand.float();
    if (d < 0.4) fills.push(fill(o.quantity, o.limitPrice));
    else if (d < 0.55) fills.push(fill(o.quantity / 2, o.limitPrice));
    else if (d < 0.65) fills.push(fill(o.quantity / 2, o.oraclePrice));
    else if (d < 0.85) expiries.push(o.id);
  });
  if (fills.length > 0) engine.fill(fills);
  if (expiries.length > 0) engine.expire(expiries);
  return { fills: fills.length, expiries: expiries.length };
}

const references = new Map<number, Promise<unknown>>();

/** `stateOf` an engine without a journal that loaded the book and played steps 0 to `steps - 1` in one go. */
export function referenceState(steps = STEPS): Promise<unknown> {
  let r = references.get(steps);
  if (r === undefined) {
    r = (async () => {
      const engine = await Engine.start(BASE_CONFIG);
      try {
        loadBook(engine, SEED);
        await playSteps(engine, SEED, 0, steps);
        return stateOf(engine);
      } finally {
        await engine.close();
      }
    })();
    references.set(steps, r);
  }
  return r;
}

/** A journal in a new directory holding the book and steps 0 to `steps - 1`, cleanly closed. */
export async function writeJournal(steps: number, journal: Partial<NonNullable<EngineConfig['journal']>> = {}, config: EngineConfig = {}): Promise<{ dir: string }> {
  const dir = tempDir();
  const engine = await Engine.start(journaled(dir, [], journal, config));
  try {
    loadBook(engine, SEED);
    await playSteps(engine, SEED, 0, steps);
    return { dir };
  } finally {
    await engine.close();
  }
}

/** The error `Engine.start(config)` rejects with (the test fails if it starts). */
export async function startFailure(config: EngineConfig): Promise<UnwindError> {
  let engine: Engine;
  try {
    engine = await Engine.start(config);
  } catch (e) {
    if (isUnwindError(e)) return e;
    throw e;
  }
  await engine.close();
  throw new Error('Engine.start resolved; expected it to reject');
}

/** Everything a test compares between two engines: output digest and counts, inputs, ledger, open orders, accounts. */
export function stateOf(engine: Engine): unknown {
  return {
    outputDigest: engine.outputDigest(),
    outputs: engine.outputCounts,
    inputs: engine.inputCount,
    epochs: engine.epochs,
    ledger: engine.ledger.entries(),
    insurance: MARKETS.map((m) => engine.insuranceFund(m)),
    openOrders: engine.openOrders(),
    accounts: Array.from({ length: ACCOUNTS }, (_, i) => engine.account(i + 1)),
  };
}

// ---- the files, by the layout of src/journal/format.ts ----

export const SEGMENT_HEADER = 16;
export const RECORD_HEADER = 24;

/** Record kinds used by the tests (src/journal/format.ts). */
export const Kind = { Config: 1, Prices: 6, EpochStart: 15, EpochEnd: 16 } as const;

export interface RecordAt {
  /** Where the record starts in its segment file. */
  readonly offset: number;
  /** Payload length. */
  readonly length: number;
  /** Where the next record starts: header, payload, padding to 8. */
  readonly end: number;
  readonly sequence: number;
  readonly kind: number;
}

/** The records of a whole segment file, walked by their length fields. */
export function recordsOf(path: string): RecordAt[] {
  const b = readFileSync(path);
  const out: RecordAt[] = [];
  for (let at = SEGMENT_HEADER; at < b.byteLength; ) {
    const length = b.readUInt32LE(at);
    const end = at + RECORD_HEADER + Math.ceil(length / 8) * 8;
    out.push({ offset: at, length, end, sequence: b.readDoubleLE(at + 8), kind: b.readUInt32LE(at + 16) });
    at = end;
  }
  return out;
}

/** The last record of `kind` in `records`. */
export function lastOfKind(records: readonly RecordAt[], kind: number): RecordAt {
  for (let i = records.length - 1; i >= 0; i--) if (records[i]!.kind === kind) return records[i]!;
  throw new Error(`no record of kind ${kind}`);
}

/** The journal's segment files, in sequence order. */
export function segmentsOf(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => /^\d{20}\.journal$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** The journal's snapshot files, oldest first. */
export function snapshotsOf(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => /^snapshot-\d{20}\.snap$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/**
 * Writes the sync mark (DIR/sync-mark, src/journal/format.ts): "`bytes` of the segment whose first record is
 * `segment` were on disk, records through `sequence`". A test that cuts a segment to stand for a stop before the
 * cut-off records were synced writes the mark the writer would have left then.
 */
export function writeSyncMark(dir: string, mark: { readonly segment: number; readonly bytes: number; readonly sequence: number }): void {
  const b = Buffer.alloc(32);
  b.write('UNWM', 0, 'latin1');
  b.writeDoubleLE(mark.segment, 8);
  b.writeDoubleLE(mark.bytes, 16);
  b.writeDoubleLE(mark.sequence, 24);
  b.writeUInt32LE(crc32(b.subarray(8, 32)), 4);
  writeFileSync(join(dir, 'sync-mark'), b);
}

/** The first sequence of a segment, from its name. */
export function firstSequenceOf(segment: string): number {
  return Number(/(\d{20})\.journal$/.exec(segment)![1]);
}

/** Writes `bytes` over `path` at `offset`. */
export function overwrite(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.byteLength, offset);
  closeSync(fd);
}

/** Flips one byte of `path` at `offset` (corruption, as a bad sector would). */
export function flipByte(path: string, offset: number): void {
  overwrite(path, offset, Buffer.from([readFileSync(path)[offset]! ^ 0x5a]));
}
