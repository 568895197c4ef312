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
const FIXTURE_DIGEST = '7769ec4deee081533b028e9276e1ee98a1bad2c75f4d3f7afc32dbf9e27a764c';

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
      expect(s.outputs.order).toBe(54);
      expect(s.outputs.fill).toBe(46);
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
