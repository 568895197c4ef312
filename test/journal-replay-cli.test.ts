/**
 * `unwind replay DIR` as an auditor runs it: a real child process over a journal a live engine wrote (several
 * segments, snapshots beside them). The digest it prints is the live engine's, for any worker count; damage is
 * reported, never repaired, since replay only reads.
 */
import { appendFileSync, cpSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/index.js';
import { KIND_NAMES } from '../src/journal/format.js';
import { runCli, type CliRun } from './support/cli.js';
import { firstSequenceOf, journaled, Kind, lastOfKind, loadBook, playSteps, RECORD_HEADER, recordsOf, removeTempDirs, SEED, segmentsOf, STEPS, tempDir, writeSyncMark } from './support/journal.js';


function replay(...args: string[]): Promise<CliRun> {
  return runCli('replay', ...args);
}

/** What the live engine that wrote the journal said. */
let live: { dir: string; digest: string; epochs: number; outputs: Record<string, number>; lastEpochDigest: string };

beforeAll(async () => {
  const dir = tempDir('unwind-replay-');
  const engine = await Engine.start(journaled(dir, [], { segmentBytes: 16_384, snapshotEveryRecords: 50 }));
  let lastEpochDigest = '';
  engine.onEpoch(() => (lastEpochDigest = engine.outputDigest())); // no output is pending at an epoch's end
  loadBook(engine, SEED);
  await playSteps(engine, SEED, 0, STEPS);
  live = { dir, digest: engine.outputDigest(), epochs: engine.epochs, outputs: { ...engine.outputCounts }, lastEpochDigest };
  await engine.close();
});
afterAll(removeTempDirs);

/** A copy of the live journal to damage. */
function copyOfJournal(): string {
  const dir = tempDir('unwind-replay-copy-');
  cpSync(live.dir, dir, { recursive: true });
  return dir;
}

describe('unwind replay', () => {
  it('prints with --json the live engine output digest, the same for 0, 1 and 2 scan workers', async () => {
    const segments = segmentsOf(live.dir);
    expect(segments.length).toBeGreaterThan(1);
    const records = segments.flatMap(recordsOf);
    const byKind: Record<string, number> = {};
    for (const r of records) byKind[KIND_NAMES[r.kind]!] = (byKind[KIND_NAMES[r.kind]!] ?? 0) + 1;

    const runs = await Promise.all([0, 1, 2].map((n) => replay(live.dir, '--workers', String(n), '--json')));
    for (const [n, run] of runs.entries()) {
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const summary = JSON.parse(run.stdout);
      expect(summary).toMatchObject({
        dir: live.dir,
        workers: n,
        segments: segments.length,
        bytes: segments.reduce((sum, p) => sum + statSync(p).size, 0),
        records: records.length,
        recordsByKind: byKind,
        lastSequence: records.at(-1)!.sequence,
        tornBytes: 0,
        epochs: live.epochs,
        outputs: live.outputs,
        interruptedEpoch: false,
        ledgerTotal: '0',
        outputDigest: live.digest,
      });
      expect(summary.seconds).toBeGreaterThan(0);
    }
  });

  it('prints a text summary whose last line is the output sha256', async () => {
    const run = await replay(live.dir);
    expect(run.status).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe(`output sha256        ${live.digest}`);
    expect(lines).toContain('scan workers         0');
    expect(lines).toContain(`epochs               ${live.epochs}`);
    const records = segmentsOf(live.dir).flatMap(recordsOf);
    expect(lines[0]).toContain(`${records.length} records through sequence ${records.at(-1)!.sequence}`);
  });

  it('draws a progress bar on stderr with --progress, though stderr is not a terminal', async () => {
    const run = await replay(live.dir, '--progress', '--json');
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/^replay \|/);
    expect(JSON.parse(run.stdout).outputDigest).toBe(live.digest);
  });

  it('ends the progress bar at 100% once every segment is read', async () => {
    const run = await replay(live.dir, '--progress');
    const bars = run.stderr.split('\n').filter((l) => l.startsWith('replay |'));
    expect(bars.at(-1)).toMatch(/\| 100% /);
  });

  it('exits 2 with JOURNAL_CORRUPT naming the file and the offset of a damaged record, and prints no summary', async () => {
    const dir = copyOfJournal();
    const segment = segmentsOf(dir)[1]!;
    const damaged = recordsOf(segment)[3]!;
    const bytes = readFileSync(segment);
    bytes[damaged.offset + RECORD_HEADER] ^= 0x01;
    writeFileSync(segment, bytes);
    const run = await replay(dir, '--json');
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(new RegExp(`^unwind: JOURNAL_CORRUPT: ${segment} at offset ${damaged.offset}: checksum`));
  });

  it('reports a torn tail and leaves it in the file, replaying everything before it', async () => {
    const dir = copyOfJournal();
    const segment = segmentsOf(dir).at(-1)!;
    const size = statSync(segment).size;
    appendFileSync(segment, Buffer.alloc(40));
    const run = await replay(dir, '--json');
    expect(run.status).toBe(0);
    expect(run.stderr).toContain(`unwind journal: ${segment} ends in a torn record at offset ${size} (40 bytes), ignored`);
    expect(JSON.parse(run.stdout)).toMatchObject({ tornBytes: 40, outputDigest: live.digest });
    expect(statSync(segment).size).toBe(size + 40);
  });

  it('runs an epoch whose end the journal lacks and counts its orders in the digest', async () => {
    const dir = copyOfJournal();
    const segment = segmentsOf(dir).at(-1)!;
    const start = lastOfKind(recordsOf(segment), Kind.EpochStart);
    truncateSync(segment, start.end);
    writeSyncMark(dir, { segment: firstSequenceOf(segment), bytes: start.end, sequence: start.sequence }); // synced through the epoch's start
    const run = await replay(dir, '--json');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ interruptedEpoch: true, epochs: live.epochs, lastSequence: start.sequence, outputDigest: live.lastEpochDigest });
  });
});
