/**
 * The journal's files as the disk holds them (src/journal/format.ts): the documented byte layout, segments rolled
 * at segmentBytes, and what recovery does with damage, told apart by where it is: a torn tail of the last segment
 * is cut off with a log line, anything else stops startup with JOURNAL_CORRUPT naming the file and the offset.
 * Expected offsets come from walking the records by the documented layout (test/support/journal.ts).
 */
import { appendFileSync, closeSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/index.js';
import {
  CUT,
  journaled,
  Kind,
  loadBook,
  playSteps,
  RECORD_HEADER,
  recordsOf,
  referenceState,
  removeTempDirs,
  SEED,
  SEGMENT_HEADER,
  segmentsOf,
  snapshotsOf,
  startFailure,
  stateOf,
  STEPS,
  tempDir,
  writeJournal,
  writeSyncMark,
  type RecordAt,
  flipByte,
  overwrite,
} from './support/journal.js';

afterEach(removeTempDirs);

const NO_SNAPSHOTS = { snapshotEveryRecords: Infinity };

/** Starts on `dir`, plays the script from step CUT to the end, and checks the result is the uninterrupted run's. */
async function recoverAndFinish(dir: string, log: string[]): Promise<Engine> {
  const engine = await Engine.start(journaled(dir, log, NO_SNAPSHOTS));
  try {
    await playSteps(engine, SEED, CUT, STEPS);
    expect(stateOf(engine)).toEqual(await referenceState());
    return engine;
  } finally {
    await engine.close();
  }
}

describe('the journal on disk', () => {
  it('is a segment header, then records with sequences 1, 2, 3, ..., each checksummed and padded to 8 bytes, the Config first', async () => {
    const { dir } = await writeJournal(6, NO_SNAPSHOTS);
    const [segment, ...more] = segmentsOf(dir);
    expect(more).toEqual([]);
    expect(basename(segment!)).toBe('00000000000000000001.journal');
    const b = readFileSync(segment!);
    expect(b.readUInt32LE(4)).toBe(1); // format version
    expect(b.readDoubleLE(8)).toBe(1); // first sequence

    const records = recordsOf(segment!);
    expect(records.map((r) => r.sequence)).toEqual(records.map((_, i) => i + 1));
    expect(records.at(-1)!.end).toBe(b.byteLength);
    for (const r of records) {
      expect(r.offset % 8).toBe(0);
      expect(b.readUInt32LE(r.offset + 4)).toBe(crc32(b.subarray(r.offset + 8, r.offset + RECORD_HEADER + r.length)));
      expect(b.subarray(r.offset + RECORD_HEADER + r.length, r.end).every((x) => x === 0)).toBe(true);
    }

    const config = JSON.parse(b.subarray(SEGMENT_HEADER + RECORD_HEADER, SEGMENT_HEADER + RECORD_HEADER + records[0]!.length).toString('utf8'));
    expect(records[0]!.kind).toBe(Kind.Config);
    expect(config.marginCallHealth).toBe(1.25);
    expect(config).not.toHaveProperty('scanWorkers'); // threads and the journal do not decide outputs
    expect(config).not.toHaveProperty('journal');
    expect(records.filter((r) => r.kind === Kind.EpochStart)).toHaveLength(6);
    expect(records.filter((r) => r.kind === Kind.EpochEnd)).toHaveLength(6);
  });

  // format.ts draws the segment's magic as 'UNWJ' and snapshot.ts the snapshot's as 'UNWS'; both are read as u32 LE.
  it.each([
    { file: 'segment', magic: 'UNWJ', of: (dir: string) => segmentsOf(dir)[0]! },
    { file: 'snapshot', magic: 'UNWS', of: (dir: string) => snapshotsOf(dir)[0]! },
  ])('starts each $file with the documented magic $magic', async ({ magic, of }) => {
    const { dir } = await writeJournal(2, { snapshotEveryRecords: 1 });
    expect(readFileSync(of(dir)).subarray(0, 4).toString('latin1')).toBe(magic);
  });

  // format.ts: "a new segment starts after each snapshot, so old segments never change".
  it('starts a new segment after each snapshot', async () => {
    const { dir } = await writeJournal(CUT, { snapshotEveryRecords: 20 });
    const firstSequences = segmentsOf(dir).map((p) => Number(basename(p).slice(0, 20)));
    const snapshots = snapshotsOf(dir).map((p) => Number(/snapshot-(\d{20})\.snap$/.exec(p)![1]));
    expect(snapshots.length).toBeGreaterThan(0);
    for (const sequence of snapshots) expect(firstSequences).toContain(sequence + 1);
  });

  it('rolls to a new segment once the current one passes segmentBytes, each named by its first sequence, and recovery reads across them', async () => {
    const segmentBytes = 4096;
    const dir = tempDir();
    const first = await Engine.start(journaled(dir, [], { ...NO_SNAPSHOTS, segmentBytes }));
    loadBook(first, SEED);
    await playSteps(first, SEED, 0, CUT);
    await first.close();

    const segments = segmentsOf(dir);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    let next = 1;
    for (const [i, path] of segments.entries()) {
      const records = recordsOf(path);
      expect(basename(path)).toBe(`${String(next).padStart(20, '0')}.journal`);
      expect(readFileSync(path).readDoubleLE(8)).toBe(next);
      expect(records.map((r) => r.sequence)).toEqual(records.map((_, k) => next + k));
      if (i < segments.length - 1) expect(statSync(path).size).toBeGreaterThanOrEqual(segmentBytes);
      next += records.length;
    }
    await recoverAndFinish(dir, []);
  });
});

describe('a torn tail of the last segment', () => {
  /** A journal of steps 0 to CUT - 1 and one more price the next epoch has not taken: the record to tear. */
  async function journalEndingInAnInput(): Promise<{ dir: string; segment: string; records: RecordAt[] }> {
    const dir = tempDir();
    const engine = await Engine.start(journaled(dir, [], NO_SNAPSHOTS));
    loadBook(engine, SEED);
    await playSteps(engine, SEED, 0, CUT);
    engine.pushPrice(1, 1);
    await engine.durable();
    await engine.close();
    const segment = segmentsOf(dir).at(-1)!;
    return { dir, segment, records: recordsOf(segment) };
  }

  it('is cut when the last record lacks its final bytes, with a log line, and the engine starts from the record before', async () => {
    const { dir, segment, records } = await journalEndingInAnInput();
    const torn = records.at(-1)!;
    expect(torn.kind).toBe(Kind.Prices);
    // The process died writing the price, before any sync covered it: the sync mark is where it was before.
    truncateSync(segment, torn.end - 3);
    writeSyncMark(dir, { segment: 1, bytes: torn.offset, sequence: torn.sequence - 1 });
    const log: string[] = [];
    const engine = await recoverAndFinish(dir, log);
    const bytes = torn.end - 3 - torn.offset;
    expect(log).toContain(`unwind journal: cut a torn record off ${segment} at offset ${torn.offset} (${bytes} bytes; it was never acknowledged)`);
    expect(engine.recovery).toMatchObject({ tornBytes: bytes, lastSequence: torn.sequence - 1 });
  });

  it('is cut when zeros follow the last record, losing nothing, and appending continues where the records end', async () => {
    const { dir, segment, records } = await journalEndingInAnInput();
    const last = records.at(-1)!;
    appendFileSync(segment, Buffer.alloc(64));
    const log: string[] = [];
    const engine = await Engine.start(journaled(dir, log, NO_SNAPSHOTS));
    try {
      expect(log).toContain(`unwind journal: cut a torn record off ${segment} at offset ${last.end} (64 bytes; it was never acknowledged)`);
      expect(engine.recovery).toMatchObject({ tornBytes: 64, lastSequence: last.sequence });
      expect(statSync(segment).size).toBe(last.end);
      engine.pushPrice(1, 2);
      await engine.durable();
    } finally {
      await engine.close();
    }
    const after = recordsOf(segment);
    expect(after.map((r) => r.sequence)).toEqual([...records.map((r) => r.sequence), last.sequence + 1]);
    expect(after.at(-1)!.offset).toBe(last.end);
  });

  it('is cut when the file ends inside the next record header', async () => {
    const { dir, segment, records } = await journalEndingInAnInput();
    const last = records.at(-1)!;
    const header = Buffer.alloc(12);
    header.writeUInt32LE(16, 0); // a payload length
    header.writeUInt32LE(0xdeadbeef, 4); // a checksum; the sequence field is cut off
    appendFileSync(segment, header);
    const log: string[] = [];
    const engine = await Engine.start(journaled(dir, log, NO_SNAPSHOTS));
    await engine.close();
    expect(log).toContain(`unwind journal: cut a torn record off ${segment} at offset ${last.end} (12 bytes; it was never acknowledged)`);
    expect(engine.recovery).toMatchObject({ tornBytes: 12, lastSequence: last.sequence });
  });
});

describe('damage anywhere but the tail', () => {
  it.each([
    { field: 'payload', at: (r: RecordAt) => r.offset + RECORD_HEADER + 3, pick: (rs: RecordAt[]) => rs[Math.floor(rs.length / 2)]! },
    { field: 'sequence', at: (r: RecordAt) => r.offset + 8, pick: (rs: RecordAt[]) => rs[Math.floor(rs.length / 2)]! },
    { field: 'kind', at: (r: RecordAt) => r.offset + 16, pick: (rs: RecordAt[]) => rs[Math.floor(rs.length / 3)]! },
    { field: 'checksum', at: (r: RecordAt) => r.offset + 4, pick: (rs: RecordAt[]) => rs.at(-2)! },
    { field: 'Config payload', at: (r: RecordAt) => r.offset + RECORD_HEADER + 1, pick: (rs: RecordAt[]) => rs[0]! },
  ])('stops startup with JOURNAL_CORRUPT naming the file and the offset of a record with a flipped byte in its $field', async ({ at, pick }) => {
    const { dir } = await writeJournal(CUT, NO_SNAPSHOTS);
    const [segment] = segmentsOf(dir) as [string];
    const damaged = pick(recordsOf(segment));
    flipByte(segment, at(damaged));
    const size = statSync(segment).size;
    const e = await startFailure(journaled(dir, [], NO_SNAPSHOTS));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${segment} at offset ${damaged.offset}: checksum`);
    expect(statSync(segment).size).toBe(size); // nothing was cut
  });

  it.each([
    { label: 'runs past the end of the file', length: (r: RecordAt) => r.length + (1 << 20), why: 'the segment ends inside a record' },
    { label: 'is 8 bytes too long', length: (r: RecordAt) => r.length + 8, why: 'checksum' },
    { label: 'is zero', length: () => 0, why: 'checksum' },
  ])('takes a record in the middle whose length field $label for corruption, not a torn tail', async ({ length, why }) => {
    const { dir } = await writeJournal(CUT, NO_SNAPSHOTS);
    const [segment] = segmentsOf(dir) as [string];
    const records = recordsOf(segment);
    const damaged = records[records.length - 20]!;
    const field = Buffer.alloc(4);
    field.writeUInt32LE(length(damaged));
    overwrite(segment, damaged.offset, field);
    const size = statSync(segment).size;
    const e = await startFailure(journaled(dir, [], NO_SNAPSHOTS));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${segment} at offset ${damaged.offset}: ${why}`);
    expect(statSync(segment).size).toBe(size);
  });

  /** A journal of several small segments: the first segment, and its last record. */
  async function severalSegments(): Promise<{ dir: string; segment: string; last: RecordAt }> {
    const dir = tempDir();
    const engine = await Engine.start(journaled(dir, [], { ...NO_SNAPSHOTS, segmentBytes: 4096 }));
    loadBook(engine, SEED);
    await playSteps(engine, SEED, 0, 4);
    await engine.close();
    const [segment] = segmentsOf(dir) as [string];
    return { dir, segment, last: recordsOf(segment).at(-1)! };
  }

  it('takes a damaged last record of a segment that is not the last for corruption', async () => {
    const { dir, segment, last } = await severalSegments();
    flipByte(segment, last.offset + RECORD_HEADER);
    const e = await startFailure(journaled(dir, [], NO_SNAPSHOTS));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${segment} at offset ${last.offset}: checksum`);
  });

  it('takes a segment that is not the last and ends inside a record for corruption', async () => {
    const { dir, segment, last } = await severalSegments();
    truncateSync(segment, last.end - 5);
    const e = await startFailure(journaled(dir, [], NO_SNAPSHOTS));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${segment} at offset ${last.offset}: the segment ends inside a record`);
  });
});
