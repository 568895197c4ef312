/**
 * Inputs are values, and there is one path for them: the journal stores the values as they were taken, recovery and
 * `unwind replay` submit them again, and a journal written before inputs became values (test/fixtures/journal-v1,
 * every input record kind, made by test/fixtures/journal-v1-writer.mjs) replays to the digest it was written with.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, ErrorCode, INPUT_KINDS, type EngineConfig, type Input } from '../src/index.js';
import { decodeInput } from '../src/engine/records.js';
import { replayJournal } from '../src/engine/replay.js';
import { KIND_NAMES, RecordKind, type JournalRecord } from '../src/journal/format.js';
import { fromJson } from '../src/journal/payload.js';
import { readJournal } from '../src/journal/reader.js';

const ROOT = new URL('..', import.meta.url).pathname;
const FIXTURE = join(ROOT, 'test/fixtures/journal-v1');
/** The live output digest of the run that wrote the fixture (test/fixtures/journal-v1-writer.mjs). */
const FIXTURE_DIGEST = 'ade7b412ec2e995fe5fc30c19bcea6e45ee0aff7ebb2a1414c13fe06259bb82e';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'unwind-inputs-'));
  dirs.push(d);
  return d;
}

function recordsOf(dir: string): JournalRecord[] {
  return [...readJournal(dir, { repair: false, log: () => {} })];
}

/** A record as comparable data: kind, rows and payload bytes (the sequence is its place in the list). */
const shape = (r: JournalRecord): { kind: string; rows: number; payload: string } => ({ kind: KIND_NAMES[r.kind]!, rows: r.rows, payload: r.payload.toString('base64') });

describe('inputs as values', () => {
  it('a journal written before inputs were values replays to the digest it was written with, for 0 and 2 workers', async () => {
    const kinds = new Set(recordsOf(FIXTURE).map((r) => KIND_NAMES[r.kind]));
    // Every input record kind but Batch (the fixture was made by the embedding API, which writes no Batch).
    for (const k of ['Market', 'Account', 'Collateral', 'Positions', 'Prices', 'Ticks', 'Books', 'Clock', 'KillSwitch', 'Fills', 'Deleverage', 'Expiries', 'Insurance']) expect(kinds).toContain(k);
    for (const workers of [0, 2]) {
      const s = await replayJournal(FIXTURE, { workers });
      expect(s.outputDigest).toBe(FIXTURE_DIGEST);
      expect(s.outputs.order).toBe(53);
      expect(s.outputs.fill).toBe(28);
    }
  });

  it('every record decodes to an input that, submitted again, is journaled as the same bytes and decides the same', async () => {
    const records = recordsOf(FIXTURE);
    const recorded = fromJson(records[0]!.payload.toString('utf8')) as EngineConfig;
    const dir = join(tempDir(), 'journal');
    const engine = await Engine.start({ ...recorded, scanWorkers: 0, autoEpoch: false, journal: { dir, log: () => {} } });
    const submitted = new Set<string>();
    try {
      for (const r of records.slice(1)) {
        if (r.kind === RecordKind.EpochStart) await engine.step();
        else if (r.kind !== RecordKind.EpochEnd) {
          const input: Input = decodeInput(r);
          submitted.add(input.kind);
          engine.submit(input);
        }
      }
      expect(engine.outputDigest()).toBe(FIXTURE_DIGEST);
      await engine.durable();
    } finally {
      await engine.close();
    }
    expect(recordsOf(dir).map(shape)).toEqual(records.map(shape));
    // The batch kinds a journal decodes to (single-item calls journal as batches of one).
    expect([...submitted].sort()).toEqual(['books', 'clock', 'collaterals', 'deleverage', 'expiries', 'fills', 'insurance', 'killSwitch', 'account', 'market', 'positions', 'priceColumns', 'prices', 'ticks'].sort());
    expect(INPUT_KINDS).toEqual(expect.arrayContaining([...submitted]));
  });

  it('journals a depth input (a kind newer than the fixture) and decodes it to the same value', async () => {
    const dir = join(tempDir(), 'journal');
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, journal: { dir, log: () => {} } });
    const books = [{ market: 1, bidVolume: 12.5, askVolume: Infinity }, { market: 2, bidVolume: 0, askVolume: 3 }];
    try {
      engine.addMarket({ id: 1, price: 100, tiers: [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }] });
      engine.addMarket({ id: 2, price: 100, tiers: [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }] });
      engine.pushDepth(books);
      await engine.durable();
    } finally {
      await engine.close();
    }
    const record = recordsOf(dir).find((r) => r.kind === RecordKind.Depth)!;
    expect(decodeInput(record)).toEqual({ kind: 'depth', books });
  });

  it('a record that holds no input is refused by name, not replayed', () => {
    const start = recordsOf(FIXTURE).find((r) => r.kind === RecordKind.EpochStart)!;
    expect(() => decodeInput(start)).toThrow(/kind 15 \(EpochStart\), which is not an input/);
  });

  it('refuses a journal of another format version whole, naming the version, before reading any record', async () => {
    const dir = join(tempDir(), 'journal');
    cpSync(FIXTURE, dir, { recursive: true });
    const first = join(dir, '00000000000000000001.journal');
    const bytes = readFileSync(first);
    bytes.writeUInt32LE(2, 4); // the segment header's format version
    writeFileSync(first, bytes);
    await expect(replayJournal(dir, { workers: 0 })).rejects.toMatchObject({ code: ErrorCode.JournalMismatch, message: expect.stringMatching(/journal format version 2; this engine reads format version 1/) });
    await expect(Engine.start({ scanWorkers: 0, journal: { dir, log: () => {} } })).rejects.toMatchObject({ code: ErrorCode.JournalMismatch });
    expect(readFileSync(first).readUInt32LE(4)).toBe(2); // refused, not repaired
  });
});

describe('the input path', () => {
  const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];

  /** A journaled engine whose account 1 (long 1 at 100, collateral 5) is liquidatable at 95: one order open. */
  async function withOrder(dir: string): Promise<Engine> {
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 4, positions: 4 }, sizing: { emergencyHealth: 1 }, journal: { dir, log: () => {} } });
    engine.addMarket({ id: 1, price: 100, tiers: TIERS });
    engine.addAccount(1, 5);
    engine.addAccount(2, 1_000);
    engine.upsertPosition({ account: 1, market: 1, size: 1, entryPrice: 100 });
    engine.upsertPosition({ account: 2, market: 1, size: -1, entryPrice: 100 });
    engine.depositInsurance(1, 1_000);
    engine.pushPrice(1, 95);
    const r = await engine.step();
    expect(r.orders).toHaveLength(1);
    return engine;
  }

  it('journals nothing for a rejected input, and the input it takes before anything of it lands', async () => {
    const engine = await withOrder(join(tempDir(), 'journal'));
    try {
      const before = { journal: engine.journalSequence, inputs: engine.inputCount, sequence: engine.lastSequence };
      expect(() => engine.submit({ kind: 'price', market: 1, price: -1 })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidPrice }));
      expect({ journal: engine.journalSequence, inputs: engine.inputCount, sequence: engine.lastSequence }).toEqual(before);
      engine.submit({ kind: 'price', market: 1, price: 96 });
      expect({ journal: engine.journalSequence, inputs: engine.inputCount, sequence: engine.lastSequence }).toEqual({ journal: before.journal + 1, inputs: before.inputs + 1, sequence: before.sequence + 1 });
    } finally {
      await engine.close();
    }
  });

  it('lands a fill whole when a listener of its settlement throws: the error goes to onError, and replay decides the same', async () => {
    const dir = join(tempDir(), 'journal');
    const engine = await withOrder(dir);
    const errors: unknown[] = [];
    let digest: string;
    try {
      engine.onError((e) => errors.push(e));
      engine.onFill(() => {
        throw new Error('a subscriber failed');
      });
      const { order } = engine.openOrders()[0]!;
      engine.fill({ orderId: order.id, account: 1, market: 1, quantity: order.quantity, price: order.limitPrice, eventTimeUs: 0 });
      expect(errors).toEqual([expect.objectContaining({ message: 'a subscriber failed' })]);
      expect(engine.openOrders()).toEqual([]);
      expect(engine.account(1).positions.find((p) => p.market === 1)?.size ?? 0).toBe(0);
      expect(engine.outputCounts.fill).toBe(1);
      await engine.step();
      digest = engine.outputDigest();
      engine.pushPrice(1, 97); // the engine still takes inputs (this one lands in no epoch: the digest stays)
    } finally {
      await engine.close();
    }
    for (const workers of [0, 2]) {
      const replayed = await replayJournal(dir, { workers });
      expect(replayed.outputDigest).toBe(digest);
      expect(replayed.outputs.fill).toBe(1);
    }
  });
});

describe('the public Engine', () => {
  const INTERNALS = ['importState', 'exportState', 'beginEpoch', 'attachJournal', 'replaying', 'setReplaying', 'addMarketAt', 'addAccountAt', 'upsertPositionAt'];

  it('has no recovery internals, in its prototype or its declared type', () => {
    const names = Object.getOwnPropertyNames(Engine.prototype);
    expect(names).toContain('submit');
    for (const n of INTERNALS) expect(names).not.toContain(n);
    // The declaration users compile against (built by `npm test` before the tests run).
    const dts = readFileSync(join(ROOT, 'dist/src/engine/engine.d.ts'), 'utf8');
    const members = [...dts.matchAll(/^ {4}(?!private )(?:static |readonly |get )*(\w+)[(:<]/gm)].map((m) => m[1]!);
    expect(members).toEqual(expect.arrayContaining(['submit', 'addMarket', 'fill', 'step', 'recovery']));
    for (const n of INTERNALS) expect(members).not.toContain(n);
    expect(members.filter((m) => /At$/.test(m))).toEqual([]);
  });
});
