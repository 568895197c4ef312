/**
 * The journal's settings (`EngineConfig.journal`) and their defaults: a leaf, so the engine's config can name them
 * without importing the writer.
 */
import { ErrorCode, UnwindError } from '../errors.js';

/**
 * When an input is acknowledged (README "Journal", durability policies): 'sync' once on disk (fdatasync), 'group'
 * once written to the operating system, synced at most `groupWindowMs` later with the rest of its group.
 */
export type Durability = 'sync' | 'group';

/** The journal (`EngineConfig.journal`; README "Journal"). */
export interface JournalConfig {
  /** The journal's directory (created if missing): segments and snapshots. */
  readonly dir: string;
  /** Default 'sync'. */
  readonly durability?: Durability;
  /** group: the longest a written record waits for its fdatasync. Default 5 ms. */
  readonly groupWindowMs?: number;
  /** A snapshot at the first epoch after this many records since the last one. Default 100,000; Infinity: never. */
  readonly snapshotEveryRecords?: number;
  /** A new segment once the current one passes this size. Default 256 MiB. */
  readonly segmentBytes?: number;
  /** Where recovery's log lines go (a torn tail cut, the snapshot loaded). Default: stderr. */
  readonly log?: (line: string) => void;
  /** Called as recovery reads the journal: bytes read and to read, records replayed so far (a progress bar). */
  readonly progress?: (bytes: number, total: number, records: number) => void;
}

export type ResolvedJournalConfig = Required<JournalConfig>;

export function resolveJournalConfig(c: JournalConfig): ResolvedJournalConfig {
  if (c === null || typeof c !== 'object' || typeof c.dir !== 'string' || c.dir === '') {
    throw new UnwindError(ErrorCode.InvalidConfig, 'expected { dir: string, ... }', 'journal');
  }
  const durability = c.durability ?? 'sync';
  if (durability !== 'sync' && durability !== 'group') {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected 'sync' or 'group', got ${String(durability)}`, 'journal.durability');
  }
  const positive = (v: number, field: string, allowInfinity = false): number => {
    if (typeof v !== 'number' || !(v > 0) || (!allowInfinity && !Number.isFinite(v))) {
      throw new UnwindError(ErrorCode.InvalidConfig, `expected a number > 0, got ${String(v)}`, `journal.${field}`);
    }
    return v;
  };
  return {
    dir: c.dir,
    durability,
    groupWindowMs: positive(c.groupWindowMs ?? 5, 'groupWindowMs'),
    snapshotEveryRecords: positive(c.snapshotEveryRecords ?? 100_000, 'snapshotEveryRecords', true),
    segmentBytes: positive(c.segmentBytes ?? 256 << 20, 'segmentBytes'),
    log: c.log ?? ((line) => process.stderr.write(`${line}\n`)),
    progress: c.progress ?? (() => {}),
  };
}
