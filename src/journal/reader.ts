/**
 * Reading a journal back (recovery and `unwind replay`): segments in order, records checked one by one.
 *
 * A bad record is told apart by where it is. At the end of the last segment (nothing but zeros after it, or the
 * file ends inside it) it is a torn write: recovery cuts it off and says so; it was never acknowledged. Anywhere
 * else it is corruption: reading stops with JOURNAL_CORRUPT naming the file and the offset.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readdirSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, UnwindError } from '../errors.js';
import { FORMAT_VERSION, isSegmentName, readRecord, RECORD_HEADER_BYTES, recordBytes, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC, type JournalRecord } from './format.js';

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
  readonly last: { readonly path: string; readonly bytes: number } | undefined;
  /** Bytes of torn tail found (cut when repairing). */
  readonly tornBytes: number;
}

const CHUNK = 8 << 20;

function corrupt(path: string, offset: number, why: string): UnwindError {
  return new UnwindError(ErrorCode.JournalCorrupt, `${path} at offset ${offset}: ${why}; the journal cannot be replayed past it`);
}

/**
 * Yields every good record from `fromSequence` on, in order, checking that sequences run without a gap. Each
 * record's payload is valid until the next one is asked for.
 */
export function* readJournal(dir: string, o: ReadOptions): Generator<JournalRecord, ReadEnd> {
  const from = o.fromSequence ?? 1;
  const all = listSegments(dir);
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
    const fd = openSync(path, isLast && o.repair ? 'r+' : 'r');
    try {
      const size = fstatSync(fd).size;
      const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
      if (size < SEGMENT_HEADER_BYTES || readSync(fd, header, 0, SEGMENT_HEADER_BYTES, 0) < SEGMENT_HEADER_BYTES) {
        if (!isLast) throw corrupt(path, 0, `the segment is ${size} bytes, shorter than its header`);
        // Created, then the process died before its header was on disk: nothing in it was ever acknowledged.
        o.log(`unwind journal: removed ${path}, an empty segment without its header (${size} bytes)`);
        if (o.repair) unlinkSync(path); // the descriptor is closed below; Linux unlinks an open file
        return { lastSequence, last, tornBytes: size };
      }
      bytesRead += SEGMENT_HEADER_BYTES;
      if (header.readUInt32LE(0) !== SEGMENT_MAGIC || header.readUInt32LE(4) !== FORMAT_VERSION) {
        throw corrupt(path, 0, `not a version ${FORMAT_VERSION} journal segment (magic 0x${header.readUInt32LE(0).toString(16)}, version ${header.readUInt32LE(4)})`);
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
            const at = base + pos;
            if (!isLast || goodRecordAfter(fd, at + 8, size, expected)) throw corrupt(path, at, r.why);
            tornBytes = size - at;
            cut(fd, path, at, tornBytes, o);
            return { lastSequence, last: { path, bytes: at }, tornBytes };
          }
          const rec = r.record;
          if (rec.sequence !== expected) throw corrupt(path, base + pos, `record sequence ${rec.sequence}, expected ${expected}`);
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
            const why = `the segment ends inside a record (${len - pos} of its bytes present)`;
            if (!isLast || goodRecordAfter(fd, base + pos + 8, size, expected)) throw corrupt(path, base + pos, why);
            tornBytes = len - pos;
            cut(fd, path, base + pos, tornBytes, o);
            return { lastSequence, last: { path, bytes: base + pos }, tornBytes };
          }
          last = { path, bytes: size };
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
