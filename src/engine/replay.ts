/**
 * `unwind replay DIR`: replays a journal from its first record, under the config it recorded, into a fresh
 * engine with any number of scan workers, and reports what came out, with the output stream's SHA-256. The
 * journal is only read (a torn tail is reported, not cut). The same journal gives the same digest for any
 * worker count and on every run; that is the audit: why each order was issued is in the inputs before it.
 */
import { statSync } from 'node:fs';
import type { EngineConfig } from '../config.js';
import { startCore } from './start.js';
import { KIND_NAMES, RecordKind } from '../journal/format.js';
import { listSegments, readJournal } from '../journal/reader.js';
import { readRecordedConfig, replayRecords } from './recovery.js';
import { ErrorCode, UnwindError } from '../errors.js';

export interface ReplayOptions {
  /** Scan workers (0: all on this thread). */
  readonly workers: number;
  /** Called as bytes are read: (read, total). */
  readonly progress?: (bytes: number, total: number) => void;
  readonly log?: (line: string) => void;
}

export interface ReplaySummary {
  readonly dir: string;
  readonly workers: number;
  readonly segments: number;
  readonly bytes: number;
  readonly records: number;
  /** Records by kind name (Ticks, Positions, EpochStart, ...). */
  readonly recordsByKind: Readonly<Record<string, number>>;
  readonly lastSequence: number;
  readonly tornBytes: number;
  readonly epochs: number;
  /** Outputs by kind: order, marginCall, stateChange, capped, fill, deleverage, socializedLoss, marketStatus. */
  readonly outputs: Readonly<Record<string, number>>;
  /** An epoch began whose end the journal does not hold: it ran here, and its orders are in the digest. */
  readonly interruptedEpoch: boolean;
  readonly ledgerTotal: string;
  /** SHA-256 (hex) of the output stream (src/journal/digest.ts). */
  readonly outputDigest: string;
  readonly seconds: number;
}

export async function replayJournal(dir: string, o: ReplayOptions): Promise<ReplaySummary> {
  // determinism: the replay's own run time, for its summary; no decision reads it
  const t0 = process.hrtime.bigint();
  const segments = listSegments(dir);
  if (segments.length === 0) throw new UnwindError(ErrorCode.JournalCorrupt, `${dir} holds no journal segments`, 'DIR');
  const total = segments.reduce((sum, s) => sum + statSync(s.path).size, 0);
  const recorded = readRecordedConfig(dir);
  if (recorded === undefined) throw new UnwindError(ErrorCode.JournalCorrupt, `${dir}: the journal holds no records`, 'DIR');
  const config = { ...(recorded as EngineConfig), scanWorkers: o.workers, autoEpoch: false };
  const { core: engine } = await startCore(config);
  const byKind: Record<string, number> = {};
  try {
    const records = readJournal(dir, { repair: false, log: o.log ?? (() => {}), progress: o.progress === undefined ? undefined : (b) => o.progress!(b, total) });
    const r = await replayRecords(engine, records, (rec) => {
      const name = KIND_NAMES[rec.kind] ?? String(rec.kind);
      byKind[name] = (byKind[name] ?? 0) + 1;
    });
    if (r.inFlight !== undefined) await r.inFlight;
    return {
      dir,
      workers: o.workers,
      segments: segments.length,
      bytes: total,
      records: r.records,
      recordsByKind: byKind,
      lastSequence: r.end.lastSequence,
      tornBytes: r.end.tornBytes,
      epochs: engine.epochs,
      outputs: { ...engine.digest.counts },
      interruptedEpoch: r.inFlight !== undefined,
      ledgerTotal: String(engine.clearing.ledger.total()),
      outputDigest: engine.digest.hex(),
      // determinism: the replay's own run time, for its summary; no decision reads it
      seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    };
  } finally {
    await engine.close();
  }
}

/** The summary as the CLI prints it. */
export function formatSummary(s: ReplaySummary): string {
  const kinds = Object.entries(s.recordsByKind)
    .filter(([k]) => k !== KIND_NAMES[RecordKind.Config])
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const outputs = Object.entries(s.outputs)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const mb = (s.bytes / 1e6).toFixed(1);
  return [
    `journal              ${s.dir}: ${s.segments} segment(s), ${mb} MB, ${s.records} records through sequence ${s.lastSequence}${s.tornBytes > 0 ? ` (torn tail of ${s.tornBytes} bytes ignored)` : ''}`,
    `records              ${kinds}`,
    `epochs               ${s.epochs}${s.interruptedEpoch ? ' (the last one was interrupted and ran here)' : ''}`,
    `outputs              ${outputs || 'none'}`,
    `ledger sum           ${s.ledgerTotal} atoms`,
    `scan workers         ${s.workers}`,
    `replay time          ${s.seconds.toFixed(2)} s (${Math.round(s.records / Math.max(s.seconds, 1e-9)).toLocaleString('en-US')} records/s)`,
    `output sha256        ${s.outputDigest}`,
  ].join('\n');
}
