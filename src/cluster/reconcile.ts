/**
 * Thread: main. Before a replica recovers from its own journal: does that journal hold only what the replicated log
 * holds? A leader killed mid-append may have written records to its disk that no quorum kept; the new leader then
 * wrote other records under the same sequences. Replaying those would diverge, so they are found here and the local
 * journal is set aside, to be rebuilt from the log (README "Replication").
 *
 * The log mark (DIR/log-mark: the journal sequence through which this replica knows the log holds its records) says
 * where to look: every local record after it must be in the log, byte for byte (sequence, kind, rows, payload). Records
 * with identical bytes are the same inputs and boundaries, whoever wrote them.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JetStreamManager } from 'nats';
import { readRecord, RecordKind, type JournalRecord } from '../journal/format.js';
import { listSegments, readJournal } from '../journal/reader.js';
import type { ResolvedClusterConfig } from './config.js';
import { findStreamSequence, logMessage, type LogMessage } from './input-log.js';

export const LOG_MARK_NAME = 'log-mark';

/** The log mark of journal `dir` (0: none). */
export function readLogMark(dir: string): number {
  const path = join(dir, LOG_MARK_NAME);
  if (!existsSync(path)) return 0;
  const n = Number(readFileSync(path, 'utf8').trim());
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/** Records through `sequence` are in the log (written in place; a stale mark only makes the check look further back). */
export function writeLogMark(dir: string, sequence: number): void {
  writeFileSync(join(dir, LOG_MARK_NAME), `${sequence}\n`);
}

/** Each record of a log message, batches opened, in order. */
export function* messageRecords(m: LogMessage): Generator<JournalRecord> {
  const bytes = m.records;
  for (let at = 0; at < bytes.byteLength; ) {
    const r = readRecord(bytes, at, bytes.byteLength, 0);
    if (r.status !== 'ok') throw new Error(`input log message ${m.streamSequence}: ${r.status === 'bad' ? r.why : 'a record is cut short'}`);
    if (r.record.kind === RecordKind.Batch) {
      const p = r.record.payload;
      for (let q = 0; q < p.byteLength; ) {
        const inner = readRecord(p, q, p.byteLength, 0);
        if (inner.status !== 'ok') throw new Error(`input log message ${m.streamSequence}: a batch's record is damaged`);
        yield inner.record;
        q = inner.next;
      }
    } else {
      yield r.record;
    }
    at = r.next;
  }
}

const same = (a: JournalRecord, b: JournalRecord): boolean => a.sequence === b.sequence && a.kind === b.kind && a.rows === b.rows && a.payload.equals(b.payload);

/**
 * Checks journal `dir` against the log; if a record after its log mark is not in the log as it is here, moves the
 * directory aside (DIR.set-aside-N) and says why. Returns the reason, or undefined when the journal is kept.
 */
export async function reconcileJournal(dir: string, jsm: JetStreamManager, c: ResolvedClusterConfig, log: (line: string) => void): Promise<string | undefined> {
  if (!existsSync(dir) || listSegments(dir).length === 0) return undefined;
  const mark = readLogMark(dir);
  const local = readJournal(dir, { fromSequence: mark + 1, repair: false, log: () => {} });
  let message: LogMessage | undefined;
  let records: Generator<JournalRecord> | undefined;
  let why: string | undefined;
  for (let next = local.next(); next.done !== true; next = local.next()) {
    const r = next.value;
    if (r.sequence <= mark) continue;
    if (message === undefined || r.sequence > message.last) {
      const seq = await findStreamSequence(jsm, c.logStream, r.sequence);
      const stored = await jsm.streams.getMessage(c.logStream, { seq }).catch(() => undefined);
      if (stored === undefined) {
        why = `its record ${r.sequence} is not in the input log (the log ends before it)`;
        break;
      }
      message = logMessage(seq, stored.data, stored.header);
      if (message.first > r.sequence) {
        why = `its record ${r.sequence} is not in the input log`;
        break;
      }
      records = messageRecords(message);
    }
    let theirs = records!.next();
    while (theirs.done !== true && theirs.value.sequence < r.sequence) theirs = records!.next();
    if (theirs.done === true || !same(theirs.value, r)) {
      why = `its record ${r.sequence} differs from the input log's`;
      break;
    }
  }
  local.return({ lastSequence: 0, last: undefined, tornBytes: 0 }); // closes the segment
  if (why === undefined) return undefined;
  let n = 1;
  while (existsSync(`${dir}.set-aside-${n}`)) n++;
  renameSync(dir, `${dir}.set-aside-${n}`);
  log(`unwind cluster ${c.name}: the journal in ${dir} was set aside as ${dir}.set-aside-${n}: ${why}; rebuilding it from the log`);
  return why;
}
