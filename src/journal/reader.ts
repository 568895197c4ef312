/**
 * Reading a journal back (recovery and `unwind replay`): segments in order, records checked one by one.
 *
 * A bad record is told apart by where it is (README "Journal"). The sync mark (src/journal/format.ts) says how far
 * the newest segment was on disk; everything in older segments was. A torn tail is what a crash can leave past
 * that point in the newest segment: the file ends inside a record, or a record whose checksum fails is followed
 * by nothing but zeros. Recovery cuts it off and says so; it was never acknowledged. Anything else is corruption:
 * a bad record before the synced end or in an older segment, a bad record with more data after it, a segment
 * shorter than the mark says, a missing segment. Reading stops with JOURNAL_CORRUPT naming the file and the offset.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readdirSync, readFileSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, UnwindError } from '../errors.js';
import {
  decodeSyncMark,
  FORMAT_VERSION,
  isSegmentName,
  readRecord,
  RecordKind,
  RECORD_HEADER_BYTES,
  recordBytes,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  segmentName,
  SYNC_MARK_NAME,
  type JournalRecord,
  type SyncMark,
} from './format.js';

export interface Segment {
  readonly path: string;
  readonly firstSequence: number;
}

export function listSegments(dir: string): Segment[] {
  return readdirSync(dir)
    .filter(isSegmentName)
    .sort()
    .map((name) => ({ path: join(dir, name), firstSequence: Number(name.slice(0, 20)) }));
}

/** The sync mark, or undefined: none yet, or a damaged one (named in the log; the journal is read as without one). */
export function readSyncMark(dir: string, log: (line: string) => void): SyncMark | undefined {
  const path = join(dir, SYNC_MARK_NAME);
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (b.byteLength === 0) return undefined; // created; the process stopped before the first segment's header was on disk
  const m = decodeSyncMark(b);
  if (typeof m !== 'string') return m;
  log(`unwind journal: passed over the sync mark ${path}: ${m}`);
  return undefined;
}

export interface ReadOptions {
  /** Records with a smaller sequence are skipped (a snapshot covers them). Default 1. */
  readonly fromSequence?: number;
  /** Cut a torn tail off the last segment (recovery); otherwise leave the file as it is (replay). */
  readonly repair: boolean;
  readonly log: (line: string) => void;
  /** Called with bytes read so far, for a progress bar. */
  readonly progress?: (bytes: number) => void;
}

export interface ReadEnd {
  /** Sequence of the last good record (0: none). */
  readonly lastSequence: number;
  /** The last segment and its good length: where appending continues. */
  readonly last: { readonly path: string; readonly bytes: number; readonly firstSequence: number } | undefined;
  /** Bytes of torn tail found (cut when repairing). */
  readonly tornBytes: number;
}

const CHUNK = 8 << 20;

function corrupt(path: string, offset: number, why: string): UnwindError {
  return new UnwindError(ErrorCode.JournalCorrupt, `${path} at offset ${offset}: ${why}; the journal cannot be replayed past it`);
}

/** A segment that must exist and does not. */
export function missingSegment(path: string, why: string): UnwindError {
  return new UnwindError(ErrorCode.JournalCorrupt, `${path} is missing: ${why}; the journal cannot be replayed without it`);
}

const onDisk = (synced: number): string => (synced === Infinity ? '; the segment was on disk whole (a newer one follows it)' : `; it was on disk (the sync mark vouches for ${synced} bytes of this segment)`);

/**
 * Yields every good record from `fromSequence` on, in order, checking that sequences run without a gap. Each
 * record's payload is valid until the next one is asked for. A Batch record's records are yielded one by one.
 */
export function* readJournal(dir: string, o: ReadOptions): Generator<JournalRecord, ReadEnd> {
  const from = o.fromSequence ?? 1;
  const mark = readSyncMark(dir, o.log);
  const all = listSegments(dir);
  if (mark !== undefined && !all.some((s) => s.firstSequence === mark.segment)) {
    throw missingSegment(join(dir, segmentName(mark.segment)), `the sync mark says records through ${mark.sequence} were on disk in it`);
  }
  /** Bytes of a segment known to have been on disk. */
  const syncedIn = (first: number): number => (mark === undefined || first > mark.segment ? 0 : first < mark.segment ? Infinity : mark.bytes);
  // Start in the last segment that begins at or before `from`.
  let first = 0;
  for (let i = 0; i < all.length; i++) if (all[i]!.firstSequence <= from) first = i;
  const segments = all.slice(first);
  let expected = segments[0]?.firstSequence ?? from;
  let lastSequence = from - 1;
  let last: ReadEnd['last'];
  let tornBytes = 0;
  let bytesRead = 0;
  for (let s = 0; s < segments.length; s++) {
    const { path, firstSequence } = segments[s]!;
    const isLast = s === segments.length - 1;
    const synced = syncedIn(firstSequence);
    const fd = openSync(path, isLast && o.repair ? 'r+' : 'r');
    try {
      const size = fstatSync(fd).size;
      const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
      if (size < SEGMENT_HEADER_BYTES || readSync(fd, header, 0, SEGMENT_HEADER_BYTES, 0) < SEGMENT_HEADER_BYTES) {
        if (!isLast || synced > 0) throw corrupt(path, 0, `the segment is ${size} bytes, shorter than its header${onDisk(synced)}`);
        // Created, then the process died before its header was on disk: nothing in it was ever acknowledged.
        o.log(`unwind journal: removed ${path}, an empty segment without its header (${size} bytes)`);
        if (o.repair) unlinkSync(path); // the descriptor is closed below; Linux unlinks an open file
        return { lastSequence, last, tornBytes: size };
      }
      bytesRead += SEGMENT_HEADER_BYTES;
      if (header.readUInt32LE(0) !== SEGMENT_MAGIC) {
        throw corrupt(path, 0, `not a journal segment (magic 0x${header.readUInt32LE(0).toString(16)})`);
      }
      const version = header.readUInt32LE(4);
      if (version !== FORMAT_VERSION) {
        // Not damage: another engine version wrote it. Refused whole, never read as this version's records.
        throw new UnwindError(ErrorCode.JournalMismatch, `${path} is journal format version ${version}; this engine reads format version ${FORMAT_VERSION}`, 'journal.dir');
      }
      if (header.readDoubleLE(8) !== firstSequence || firstSequence !== expected) {
        throw corrupt(path, 0, `the segment starts at sequence ${header.readDoubleLE(8)}, expected ${expected}`);
      }
      let buf = Buffer.allocUnsafeSlow(CHUNK);
      let base = SEGMENT_HEADER_BYTES; // file offset of buf[0]
      let len = 0;
      for (;;) {
        const want = Math.min(buf.byteLength - len, size - (base + len));
        if (want > 0) {
          const got = readSync(fd, buf, len, want, base + len);
          len += got;
          bytesRead += got;
          o.progress?.(bytesRead);
        }
        let pos = 0;
        for (;;) {
          const r = readRecord(buf, pos, len, base + pos);
          if (r.status === 'short') break;
          if (r.status === 'bad') {
            // Complete (its length fits in the file), but its checksum fails.
            const at = base + pos;
            if (!isLast || at < synced) throw corrupt(path, at, `${r.why}${onDisk(synced)}`);
            if (nonZeroFrom(fd, at + recordBytes(buf.readUInt32LE(pos)), size)) throw corrupt(path, at, `${r.why}, and more data follows it`);
            tornBytes = size - at;
            cut(fd, path, at, tornBytes, o);
            return { lastSequence, last: { path, bytes: at, firstSequence }, tornBytes };
          }
          const rec = r.record;
          if (rec.sequence !== expected) throw corrupt(path, base + pos, `record sequence ${rec.sequence}, expected ${expected}`);
          if (rec.kind === RecordKind.Batch) {
            // Its records, checked as any (its own checksum held, so damage inside is the writer's, not a crash's).
            const end = pos + RECORD_HEADER_BYTES + rec.payload.byteLength;
            let q = pos + RECORD_HEADER_BYTES;
            for (let n = 0; n < rec.rows; n++) {
              const inner = readRecord(buf, q, end, base + q);
              const where = `record ${n} of the batch at offset ${base + pos}`;
              if (inner.status !== 'ok') throw corrupt(path, base + q, `${where}: ${inner.status === 'short' ? 'it runs past the batch' : inner.why}`);
              const ir = inner.record;
              if (ir.kind === RecordKind.Batch) throw corrupt(path, base + q, `${where}: a batch inside a batch`);
              if (ir.sequence !== expected) throw corrupt(path, base + q, `${where}: record sequence ${ir.sequence}, expected ${expected}`);
              expected++;
              q = inner.next;
              if (ir.sequence >= from) {
                lastSequence = ir.sequence;
                yield ir;
              }
            }
            if (q !== end) throw corrupt(path, base + q, `the batch at offset ${base + pos} holds more than its ${rec.rows} records`);
            pos = r.next;
            continue;
          }
          expected++;
          pos = r.next;
          if (rec.sequence >= from) {
            lastSequence = rec.sequence;
            yield rec;
          }
        }
        const atEnd = base + len >= size;
        if (atEnd) {
          if (pos < len) {
            // The file ends inside a record: a torn write, unless good records follow (its length field is damaged).
            const at = base + pos;
            const why = `the segment ends inside a record (${len - pos} of its bytes present)`;
            if (!isLast || at < synced) throw corrupt(path, at, `${why}${onDisk(synced)}`);
            // A torn batch holds good records of its own; past the synced end they are not records after it.
            const batch = len - pos >= RECORD_HEADER_BYTES && buf.readUInt32LE(pos + 16) === RecordKind.Batch;
            if (!batch && goodRecordAfter(fd, at + 8, size, expected)) throw corrupt(path, at, why);
            tornBytes = len - pos;
            cut(fd, path, at, tornBytes, o);
            return { lastSequence, last: { path, bytes: at, firstSequence }, tornBytes };
          }
          if (synced !== Infinity && size < synced) throw corrupt(path, size, `the segment ends here, but the sync mark says ${synced} bytes of it were on disk`);
          last = { path, bytes: size, firstSequence };
          break;
        }
        // Keep the partial record at the front (records stay 8-byte aligned in the buffer) and read on.
        buf.copy(buf, 0, pos, len);
        base += pos;
        len -= pos;
        if (len === buf.byteLength) {
          const grown = Buffer.allocUnsafeSlow(2 * buf.byteLength);
          buf.copy(grown, 0, 0, len);
          buf = grown;
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  return { lastSequence, last, tornBytes };
}

/** Whether any byte in [from, size) of the file is not zero. */
function nonZeroFrom(fd: number, from: number, size: number): boolean {
  const chunk = Buffer.allocUnsafeSlow(1 << 20);
  for (let at = from; at < size; ) {
    const n = readSync(fd, chunk, 0, Math.min(chunk.byteLength, size - at), at);
    if (n <= 0) break;
    for (let i = 0; i < n; i++) if (chunk[i] !== 0) return true;
    at += n;
  }
  return false;
}

/**
 * Whether a good record (checksum, and a sequence after `expected`) starts at an 8-aligned offset in [from, size):
 * then the bad record before it is damage in the middle, not a torn tail. Candidates are found by their sequence
 * field, so only plausible offsets are checksummed.
 */
function goodRecordAfter(fd: number, from: number, size: number, expected: number): boolean {
  const chunk = Buffer.allocUnsafeSlow(1 << 20);
  for (let start = from + ((8 - (from % 8)) % 8); start + RECORD_HEADER_BYTES <= size; start += chunk.byteLength - RECORD_HEADER_BYTES) {
    const n = readSync(fd, chunk, 0, Math.min(chunk.byteLength, size - start), start);
    for (let i = 0; i + RECORD_HEADER_BYTES <= n; i += 8) {
      const sequence = chunk.readDoubleLE(i + 8);
      if (!(sequence > expected && sequence < expected + 2 ** 32 && Number.isInteger(sequence))) continue;
      const length = chunk.readUInt32LE(i);
      if (start + i + RECORD_HEADER_BYTES + length > size) continue;
      const whole = Buffer.allocUnsafeSlow(recordBytes(length));
      const got = readSync(fd, whole, 0, Math.min(whole.byteLength, size - start - i), start + i);
      if (readRecord(whole, 0, got, start + i).status === 'ok') return true;
    }
    if (start + n >= size) break;
  }
  return false;
}

function cut(fd: number, path: string, at: number, bytes: number, o: ReadOptions): void {
  if (o.repair) {
    ftruncateSync(fd, at);
    o.log(`unwind journal: cut a torn record off ${path} at offset ${at} (${bytes} bytes; it was never acknowledged)`);
  } else {
    o.log(`unwind journal: ${path} ends in a torn record at offset ${at} (${bytes} bytes), ignored`);
  }
}
