/**
 * The journal's bytes on disk: one source of truth for the segment and record layout (README "Journal").
 *
 * A journal is a directory of segments, each named by the sequence of its first record (20 digits), and of
 * snapshots (src/journal/snapshot.ts). Records are appended in sequence order; a new segment starts after each
 * snapshot, so old segments never change. Little-endian throughout; every record starts 8-byte aligned.
 *
 *   segment      +-----------------------------------------------------------+
 *   byte 0       | magic 'UNWJ' u32 | format version u32 | first sequence f64 |  16 B
 *   byte 16      +-----------------------------------------------------------+
 *                | record                                                    |
 *                | record ...                                                |
 *                +-----------------------------------------------------------+
 *
 *   record       +0   u32  payload length L (bytes)
 *                +4   u32  CRC-32 (zlib) of bytes [+8, +24 + L)
 *                +8   f64  sequence: 1, 2, 3, ... over the whole journal
 *                +16  u32  kind (RecordKind)
 *                +20  u32  rows (column kinds), or 0
 *                +24  payload, L bytes, then zero padding to a multiple of 8
 *
 * Payloads: the hot kinds are f64 columns, column after column, `rows` values each (a kind's column list is in
 * src/engine/records.ts); Ticks then add 64 bytes of signature per row when signed; the rare kinds are UTF-8
 * JSON (non-finite numbers spelled as {"$": "Infinity"}). A Batch record's payload is whole records (each with
 * its header, checksum and padding) that stand or fall together: its sequence field is its first record's, its
 * rows field their count, and it takes no sequence of its own.
 *
 *   sync mark    DIR/sync-mark, rewritten in place after each fdatasync of a segment (and once a new segment's
 *                header is on disk); never synced itself, so after a power loss it may lag, never lead:
 *   +0   u32  magic 'UNWM'
 *   +4   u32  CRC-32 (zlib) of bytes [+8, +32)
 *   +8   f64  first sequence of the segment it speaks of (the segment's name)
 *   +16  f64  bytes of that segment on disk (a record boundary)
 *   +24  f64  sequence of the last record on disk (0: none)
 */
import { crc32 } from 'node:zlib';

export const SEGMENT_MAGIC = 0x4a574e55; // 'UNWJ' little-endian
export const FORMAT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 24;

/** What a record holds. Numbers are stable: kinds are only ever appended. */
export const RecordKind = {
  /** The engine config the journal was written under (JSON); the first record. */
  Config: 1,
  Market: 2,
  Account: 3,
  Collateral: 4,
  Positions: 5,
  Prices: 6,
  Ticks: 7,
  Books: 8,
  Clock: 9,
  KillSwitch: 10,
  Fills: 11,
  Deleverage: 12,
  Expiries: 13,
  Insurance: 14,
  /** An epoch began: every input before this record landed in it (the executor's batch boundary). */
  EpochStart: 15,
  /** An epoch's orders were issued: inputs after this record see them. */
  EpochEnd: 16,
  /** Records that stand or fall together (an initial book): a crash never leaves part of them. */
  Batch: 17,
  /** The venue's book volume near the mid, per market and side (the strategies' participation caps). */
  Depth: 18,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export const KIND_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(RecordKind).map(([k, v]) => [v, k]));

/** Bytes a record with an L-byte payload takes, padding included. */
export function recordBytes(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + ((payloadBytes + 7) & ~7);
}

/** The file name of the segment whose first record is `sequence`. */
export function segmentName(sequence: number): string {
  return `${String(sequence).padStart(20, '0')}.journal`;
}

export function isSegmentName(name: string): boolean {
  return /^\d{20}\.journal$/.test(name);
}

export function writeSegmentHeader(buf: Buffer, firstSequence: number): void {
  buf.writeUInt32LE(SEGMENT_MAGIC, 0);
  buf.writeUInt32LE(FORMAT_VERSION, 4);
  buf.writeDoubleLE(firstSequence, 8);
}

/** Writes a record's header (and its CRC, over header tail and payload, which must be in place) at `at`. */
export function sealRecord(buf: Buffer, at: number, payloadBytes: number, sequence: number, kind: number, rows: number): void {
  buf.writeUInt32LE(payloadBytes, at);
  buf.writeDoubleLE(sequence, at + 8);
  buf.writeUInt32LE(kind, at + 16);
  buf.writeUInt32LE(rows, at + 20);
  const end = at + recordBytes(payloadBytes);
  buf.fill(0, at + RECORD_HEADER_BYTES + payloadBytes, end);
  buf.writeUInt32LE(crc32(buf.subarray(at + 8, at + RECORD_HEADER_BYTES + payloadBytes)), at + 4);
}

/** One record as read back; `payload` is a view into the reader's buffer, valid until the next read. */
export interface JournalRecord {
  readonly sequence: number;
  readonly kind: number;
  readonly rows: number;
  readonly payload: Buffer;
  /** Where the record starts in its segment file. */
  readonly offset: number;
}

/** What reading a record at `at` of `buf` (bytes [0, end)) found. */
export type RecordRead =
  | { readonly status: 'ok'; readonly record: JournalRecord; readonly next: number }
  | { readonly status: 'short' } // not all of it is in [at, end): read more, or it is torn
  | { readonly status: 'bad'; readonly why: string };

export function readRecord(buf: Buffer, at: number, end: number, fileOffset: number): RecordRead {
  if (end - at < RECORD_HEADER_BYTES) return { status: 'short' };
  const length = buf.readUInt32LE(at);
  const next = at + recordBytes(length);
  if (next > end) return { status: 'short' };
  const crc = crc32(buf.subarray(at + 8, at + RECORD_HEADER_BYTES + length));
  if (crc !== buf.readUInt32LE(at + 4)) return { status: 'bad', why: `checksum 0x${buf.readUInt32LE(at + 4).toString(16)} does not match the record's 0x${crc.toString(16)}` };
  const record = {
    sequence: buf.readDoubleLE(at + 8),
    kind: buf.readUInt32LE(at + 16),
    rows: buf.readUInt32LE(at + 20),
    payload: buf.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length),
    offset: fileOffset,
  };
  return { status: 'ok', record, next };
}

export const SYNC_MARK_NAME = 'sync-mark';
const SYNC_MARK_MAGIC = 0x4d574e55; // 'UNWM' little-endian
export const SYNC_MARK_BYTES = 32;

/** What the writer last knew to be on disk. */
export interface SyncMark {
  /** First sequence of the segment (its name). */
  readonly segment: number;
  /** Bytes of that segment on disk. */
  readonly bytes: number;
  /** Sequence of the last record on disk. */
  readonly sequence: number;
}

export function encodeSyncMark(buf: Buffer, m: SyncMark): void {
  buf.writeUInt32LE(SYNC_MARK_MAGIC, 0);
  buf.writeDoubleLE(m.segment, 8);
  buf.writeDoubleLE(m.bytes, 16);
  buf.writeDoubleLE(m.sequence, 24);
  buf.writeUInt32LE(crc32(buf.subarray(8, SYNC_MARK_BYTES)), 4);
}

/** The mark in `buf`, or why it is not one. */
export function decodeSyncMark(buf: Buffer): SyncMark | string {
  if (buf.byteLength < SYNC_MARK_BYTES || buf.readUInt32LE(0) !== SYNC_MARK_MAGIC) return `not a sync mark (${buf.byteLength} bytes)`;
  if (crc32(buf.subarray(8, SYNC_MARK_BYTES)) !== buf.readUInt32LE(4)) return 'its checksum does not match';
  const m = { segment: buf.readDoubleLE(8), bytes: buf.readDoubleLE(16), sequence: buf.readDoubleLE(24) };
  if (!Number.isInteger(m.segment) || m.segment < 1 || !Number.isInteger(m.bytes) || m.bytes < SEGMENT_HEADER_BYTES || m.bytes % 8 !== 0) return 'its fields are out of range';
  return m;
}
