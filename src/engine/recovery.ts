/**
 * Startup from a journal, and replay (README "Journal"). Recovery loads the newest valid snapshot, replays the
 * journal's tail into the engine at the epoch boundaries it recorded, then appends where the journal ends. An
 * epoch the crash interrupted is completed, and its orders, which never left, are emitted then. Orders of every
 * epoch whose end is in the journal are known again (open orders, the executor's issued set) and never re-emitted.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineConfig } from '../config.js';
import { ErrorCode, isUnwindError, UnwindError } from '../errors.js';
import { LAYOUT_VERSION } from '../tables/layout.js';
import { KIND_NAMES, RecordKind, segmentName, type JournalRecord } from '../journal/format.js';
import { fromJson, toJson } from '../journal/payload.js';
import { listSegments, missingSegment, readJournal, type ReadEnd } from '../journal/reader.js';
import { loadNewestSnapshot, type LoadedSnapshot } from '../journal/snapshot.js';
import { resolveJournalConfig, type ResolvedJournalConfig } from '../journal/config.js';
import { JournalWriter } from '../journal/writer.js';
import type { EngineCore, EngineState, EpochResult } from './core.js';
import { decodeInput, epochBoundary } from './records.js';

/** What recovery found and did (`engine.recovery`). */
export interface Recovery {
  /** The journal's directory. */
  readonly dir: string;
  /** The snapshot loaded, or undefined (the journal was replayed from its start). */
  readonly snapshot: { readonly path: string; readonly sequence: number } | undefined;
  /** Journal records replayed after the snapshot. */
  readonly replayedRecords: number;
  /** Sequence of the journal's last record before this run appended any. */
  readonly lastSequence: number;
  /** Bytes of torn tail cut off the last segment. */
  readonly tornBytes: number;
  /** An epoch had begun but its orders had not left: it was completed, and its orders are emitted after start. */
  readonly interruptedEpoch: boolean;
  /** Inputs after the journal's last epoch boundary: the next epoch takes them. */
  readonly pendingInputs: number;
}

export interface FoundJournal {
  readonly config: ResolvedJournalConfig;
  /** The config that decides (everything but threads, autoEpoch and the journal), canonical. */
  readonly decisions: unknown;
  readonly snapshot: LoadedSnapshot | undefined;
}

/**
 * The part of a config that decides outputs: a journal replays only under the same one. Keys sorted. One shard of one
 * is a single engine (its journal is one's); a shard's journal is its shard's (a replay skips the same accounts).
 */
export function decisionConfig(config: EngineConfig): unknown {
  const { scanWorkers: _w, autoEpoch: _a, journal: _j, shard, ...decides } = config;
  return fromJson(toJson(canonical(shard === undefined || (shard.count ?? 1) === 1 ? decides : { ...decides, shard })));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** The first path at which two canonical values differ, or undefined. */
function difference(a: unknown, b: unknown, path = 'config'): string | undefined {
  if (toJson(a) === toJson(b)) return undefined;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return path;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const k of keys) {
    const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`);
    if (d !== undefined) return d;
  }
  return path;
}

/**
 * A file system error met while opening or reading the journal, as JOURNAL_IO naming `journal.dir` (coded errors
 * pass through).
 */
function ioError(e: unknown, dir: string): unknown {
  if (isUnwindError(e) || typeof (e as NodeJS.ErrnoException)?.code !== 'string') return e;
  return new UnwindError(ErrorCode.JournalIo, `cannot read the journal in ${dir}: ${(e as Error).message}`, 'journal.dir');
}

/** Opens (creating) the journal directory, checks it was written under this config, and loads the newest snapshot. */
export function openJournal(config: EngineConfig): FoundJournal {
  const jc = resolveJournalConfig(config.journal!);
  try {
    mkdirSync(jc.dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new UnwindError(ErrorCode.InvalidConfig, `${jc.dir} is not a directory, nor can it be made one (${(e as Error).message})`, 'journal.dir');
    }
    throw new UnwindError(ErrorCode.JournalIo, `cannot create the journal directory ${jc.dir}: ${(e as Error).message}`, 'journal.dir');
  }
  try {
    return findJournal(config, jc);
  } catch (e) {
    throw ioError(e, jc.dir);
  }
}

function findJournal(config: EngineConfig, jc: ResolvedJournalConfig): FoundJournal {
  const decisions = decisionConfig(config);
  const recorded = readRecordedConfig(jc.dir);
  if (recorded !== undefined) {
    const at = difference(recorded, decisions);
    if (at !== undefined) {
      throw new UnwindError(ErrorCode.JournalMismatch, `the journal in ${jc.dir} was written under another engine config (first difference at ${at}); replaying it under this one would decide differently`, 'journal.dir');
    }
  }
  const snapshot =
    recorded === undefined
      ? undefined
      : loadNewestSnapshot(jc.dir, jc.log, (s) => {
          const version = s.tables.readUInt32LE(4);
          return version === LAYOUT_VERSION ? undefined : `its tables are layout version ${version}, this engine's is ${LAYOUT_VERSION}`;
        });
  // A snapshot is written only once the segment after it exists (the writer rolls first): without that segment,
  // the records after the snapshot are gone, whatever the sync mark says (it may be gone too).
  if (snapshot !== undefined && !listSegments(jc.dir).some((s) => s.firstSequence === snapshot.sequence + 1)) {
    throw missingSegment(join(jc.dir, segmentName(snapshot.sequence + 1)), `${snapshot.path} holds the records through ${snapshot.sequence}, and the journal went on in that segment`);
  }
  return { config: jc, decisions, snapshot };
}

/** The config recorded as the journal's first record (undefined: an empty journal). */
export function readRecordedConfig(dir: string): unknown {
  const records = readJournal(dir, { repair: false, log: () => {} });
  const first = records.next();
  records.return({ lastSequence: 0, last: undefined, tornBytes: 0 }); // closes the segment
  if (first.done === true) return undefined;
  if (first.value.kind !== RecordKind.Config) {
    throw new UnwindError(ErrorCode.JournalCorrupt, `${dir}: the first record is ${KIND_NAMES[first.value.kind] ?? first.value.kind}, expected Config`);
  }
  return fromJson(first.value.payload.toString('utf8'));
}

/**
 * A standby's journal (src/cluster/): the writer where its records go as the leader wrote them, and the applier
 * that goes on feeding the engine from the replicated log where the local journal ended. Not attached to the
 * engine (it journals nothing itself) until the standby leads.
 */
export interface Mirror {
  readonly writer: JournalWriter;
  readonly applier: RecordApplier;
}

/**
 * Replays the journal's tail into `engine` (already holding the snapshot's tables) and attaches the journal.
 * Returns what it found and did. As a `standby`, leaves the engine replaying and the journal unattached, and
 * returns them as its mirror.
 */
export async function recover(engine: EngineCore, found: FoundJournal): Promise<Recovery>;
export async function recover(engine: EngineCore, found: FoundJournal, standby: true): Promise<Recovery & { readonly mirror: Mirror }>;
export async function recover(engine: EngineCore, found: FoundJournal, standby = false): Promise<Recovery & { readonly mirror?: Mirror }> {
  const { config: jc, snapshot } = found;
  if (snapshot !== undefined) {
    engine.importState(snapshot.state as EngineState, snapshot.sequence);
    jc.log(`unwind journal: loaded ${snapshot.path} (records through ${snapshot.sequence})`);
  }
  engine.setReplaying(true);
  const fromSequence = (snapshot?.sequence ?? 0) + 1;
  // Progress: bytes of the segments the reader goes through (from the last one that begins at or before fromSequence).
  const total = tailBytes(jc.dir, fromSequence);
  let replayed = 0;
  let bytesRead = 0;
  const records = readJournal(jc.dir, { fromSequence, repair: true, log: jc.log, progress: (b) => jc.progress((bytesRead = b), total, replayed) });
  const applier = new RecordApplier(engine);
  let r: Replayed;
  try {
    // Awaited as it is: an epoch the stop interrupted runs on meanwhile, and must find the journal attached below
    // before its end (a wrapper promise here would cost it the turns that keep that order).
    r = await replayRecords(
      engine,
      records,
      () => {
        if ((++replayed & 4095) === 0) jc.progress(bytesRead, total, replayed);
      },
      applier,
    );
    jc.progress(bytesRead, total, replayed);
  } catch (e) {
    throw ioError(e, jc.dir);
  }
  const writer = new JournalWriter(jc, r.end.lastSequence, r.end.last);
  const recovery: Recovery = {
    dir: jc.dir,
    snapshot: snapshot === undefined ? undefined : { path: snapshot.path, sequence: snapshot.sequence },
    replayedRecords: r.records,
    lastSequence: r.end.lastSequence,
    tornBytes: r.end.tornBytes,
    interruptedEpoch: r.inFlight !== undefined,
    pendingInputs: r.pendingInputs,
  };
  if (standby) {
    if (r.records > 0) jc.log(`unwind journal: replayed ${r.records} records of ${jc.dir} through ${r.end.lastSequence}; following the replicated log from there`);
    return { ...recovery, mirror: { writer, applier } };
  }
  // The orders of an epoch completed now wait a turn: the caller attaches its listeners after start resolves.
  // determinism: the gate delays when a completed epoch's orders are heard, not what they are
  const gate = r.inFlight === undefined ? undefined : new Promise<void>((resolve) => setImmediate(resolve));
  engine.attachJournal(writer, gate);
  if (r.end.lastSequence === 0) writer.appendJson(RecordKind.Config, found.decisions);
  if (r.records > 0) jc.log(`unwind journal: replayed ${r.records} records of ${jc.dir} through ${r.end.lastSequence}${r.inFlight === undefined ? '' : '; completing the epoch the stop interrupted'}`);
  engine.setReplaying(false);
  r.inFlight?.catch(() => {}); // its failure reaches step()/onError like any epoch's
  return recovery;
}

/** Bytes of the segments a read from `fromSequence` goes through (0 for none: a new journal). */
function tailBytes(dir: string, fromSequence: number): number {
  const segments = listSegments(dir);
  let first = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.firstSequence <= fromSequence) first = i;
  return segments.slice(first).reduce((sum, s) => sum + statSync(s.path).size, 0);
}

export interface Replayed {
  readonly end: ReadEnd;
  readonly records: number;
  /** An epoch begun by the last EpochStart whose EpochEnd is not in the journal. */
  readonly inFlight: Promise<EpochResult> | undefined;
  readonly pendingInputs: number;
}

/**
 * Feeds records into `engine` (autoEpoch held off) at the epoch boundaries they record, checking that the engine
 * reaches each boundary with the epoch number, input sequence and order count the journal says: a replay that
 * would decide differently stops with JOURNAL_MISMATCH instead of going on.
 */
export async function replayRecords(
  engine: EngineCore,
  records: Generator<JournalRecord, ReadEnd>,
  onRecord?: (r: JournalRecord) => void,
  applier = new RecordApplier(engine),
): Promise<Replayed> {
  for (;;) {
    const next = records.next();
    if (next.done === true) return { end: next.value, records: applier.records, inFlight: applier.inFlight, pendingInputs: applier.pendingInputs };
    const r = next.value;
    const ended = applier.apply(r);
    if (ended !== undefined) await ended;
    onRecord?.(r);
    // Between epochs, a turn of the event loop now and then: a probe listener started before the engine answers
    // (README "Observability") while a long replay runs. Nothing else can submit to this engine until start resolves.
    // determinism: a pause between records, with no epoch in flight, changes no input and no boundary
    if (applier.inFlight === undefined && applier.records % YIELD_EVERY_RECORDS === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * One record at a time into `engine` (autoEpoch held off), as replay does: recovery and `unwind replay` drive it
 * from the files, a standby from a replicated log (src/cluster/). Inputs are submitted, EpochStart begins the epoch
 * its inputs make, EpochEnd waits for it and checks its order count. A shard's records of other shards' accounts go
 * the same way as live: they take their sequence numbers and change nothing (src/engine/shard.ts). Any difference from what the record says is
 * JOURNAL_MISMATCH naming the record.
 */
export class RecordApplier {
  /** An epoch begun by the last EpochStart whose EpochEnd has not come. */
  inFlight: Promise<EpochResult> | undefined;
  /** Inputs since the last EpochStart. */
  pendingInputs = 0;
  records = 0;
  /** The last epoch ended by a record, and its result. */
  lastEnded: EpochResult | undefined;

  constructor(private readonly engine: EngineCore) {}

  /** Applies `r`; returns a promise only for an EpochEnd (await it before the next record). */
  apply(r: JournalRecord): Promise<void> | undefined {
    this.records++;
    try {
      if (r.kind === RecordKind.EpochStart) {
        const b = epochBoundary(r);
        if (this.inFlight !== undefined) throw new Error('an epoch starts before the previous one ended');
        expect('epoch', this.engine.epochs + 1, b.epoch);
        expect('input sequence', this.engine.writer.lastSequence, b.value);
        this.inFlight = this.engine.beginEpoch();
        this.pendingInputs = 0;
      } else if (r.kind === RecordKind.EpochEnd) {
        if (this.inFlight === undefined) throw new Error('an epoch ends that did not start');
        const b = epochBoundary(r);
        const inFlight = this.inFlight;
        this.inFlight = undefined;
        return inFlight.then(
          (result) => {
            this.lastEnded = result;
            this.check(r, () => expect(`orders of epoch ${result.epoch}`, result.orders.length, b.value));
          },
          (e: unknown) => this.check(r, () => {
            throw e;
          }),
        );
      } else if (r.kind !== RecordKind.Config) {
        this.engine.submit(decodeInput(r), true);
        this.pendingInputs++;
      }
    } catch (e) {
      throw mismatch(r, e);
    }
    return undefined;
  }

  private check(r: JournalRecord, f: () => void): void {
    try {
      f();
    } catch (e) {
      throw mismatch(r, e);
    }
  }
}

function mismatch(r: JournalRecord, e: unknown): UnwindError {
  const why = e instanceof Error ? e.message : String(e);
  return new UnwindError(ErrorCode.JournalMismatch, `replaying record ${r.sequence} (${KIND_NAMES[r.kind] ?? r.kind}, offset ${r.offset}): ${why}`);
}

/** Records between the replay's turns of the event loop (about a millisecond of replay each). */
const YIELD_EVERY_RECORDS = 4096;

function expect(what: string, actual: number, recorded: number): void {
  if (actual !== recorded) throw new Error(`the replay reached ${what} ${actual}, the journal recorded ${recorded}`);
}
