/**
 * Snapshots: the engine's whole state at an epoch's start, so that recovery replays only the journal's tail.
 *
 *   snapshot     +0   u32  magic 'UNWS'
 *                +4   u32  format version
 *                +8   f64  sequence of the last journal record the snapshot includes
 *                +16  u32  CRC-32 (zlib) of bytes [+32, end)
 *                +20  u32  bytes of the compressed tables
 *                +24  f64  bytes of the tables (the SharedArrayBuffer)
 *                +32  tables, deflate-raw; then the state (v8 serialization) to the end
 *
 * The state: the writer's indexes, the ledger and open orders, the oracle's quotes, sequences, TWAPs, basis EMAs
 * and books, kill levels and pauses, the executor's memory (lifecycle states, orders issued, caps, cooldowns),
 * the output digest and the engine config. A snapshot is written to a temporary name, synced, then renamed: a
 * file with a snapshot's name is whole or fails its checksum (then the one before it is used).
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize } from 'node:v8';
import { crc32, deflateRaw, inflateRawSync } from 'node:zlib';
import { promisify } from 'node:util';

export const SNAPSHOT_MAGIC = 0x53574e55; // 'UNWS' little-endian
export const SNAPSHOT_VERSION = 1;
const HEADER = 32;
/** Snapshots kept; older ones are deleted once a newer one is on disk. Journal segments are all kept (audit). */
const KEEP = 2;

const deflate = promisify(deflateRaw);

export function snapshotName(sequence: number): string {
  return `snapshot-${String(sequence).padStart(20, '0')}.snap`;
}

function listSnapshots(dir: string): { path: string; sequence: number }[] {
  return readdirSync(dir)
    .filter((n) => /^snapshot-\d{20}\.snap$/.test(n))
    .sort()
    .map((n) => ({ path: join(dir, n), sequence: Number(n.slice(9, 29)) }));
}

/** What is captured synchronously at an epoch's start (the executor's part follows with the epoch's result). */
export interface Capture {
  readonly sequence: number;
  /** A copy of the tables' bytes. */
  readonly tables: Uint8Array;
  /** The main thread's state, serialized (v8) at capture time. */
  readonly state: Buffer;
}

/** Writes a snapshot in the background: compress, write to a temporary file, sync, rename, sync the directory. */
export async function writeSnapshot(dir: string, capture: Capture, executorState: Buffer): Promise<string> {
  const packed = await deflate(capture.tables, { level: 1 });
  const header = Buffer.alloc(HEADER);
  header.writeUInt32LE(SNAPSHOT_MAGIC, 0);
  header.writeUInt32LE(SNAPSHOT_VERSION, 4);
  header.writeDoubleLE(capture.sequence, 8);
  header.writeUInt32LE(packed.byteLength, 20);
  header.writeDoubleLE(capture.tables.byteLength, 24);
  const lengths = Buffer.alloc(8);
  lengths.writeUInt32LE(capture.state.byteLength, 0);
  lengths.writeUInt32LE(executorState.byteLength, 4);
  const body = [packed, lengths, capture.state, executorState];
  let crc = 0;
  for (const b of body) crc = crc32(b, crc);
  header.writeUInt32LE(crc, 16);
  const path = join(dir, snapshotName(capture.sequence));
  const tmp = `${path}.tmp`;
  const f = await open(tmp, 'w');
  try {
    await f.writev([header, ...body]);
    await f.datasync();
  } finally {
    await f.close();
  }
  await rename(tmp, path);
  const d = openSync(dir, 'r');
  fsyncSync(d);
  closeSync(d);
  for (const old of listSnapshots(dir).slice(0, -KEEP)) unlinkSync(old.path);
  return path;
}

export interface LoadedSnapshot {
  readonly path: string;
  readonly sequence: number;
  readonly tables: Buffer;
  readonly state: unknown;
  readonly executorState: unknown;
}

/**
 * The newest snapshot that reads whole and that `usable` accepts (layout and config), or undefined. A bad one is
 * named in the log and passed over: the journal still holds everything it summarized.
 */
export function loadNewestSnapshot(dir: string, log: (line: string) => void, usable: (s: LoadedSnapshot) => string | undefined): LoadedSnapshot | undefined {
  for (const { path, sequence } of listSnapshots(dir).reverse()) {
    try {
      const b = readFileSync(path);
      if (b.byteLength < HEADER || b.readUInt32LE(0) !== SNAPSHOT_MAGIC || b.readUInt32LE(4) !== SNAPSHOT_VERSION) throw new Error('not a snapshot of this version');
      if (crc32(b.subarray(HEADER)) !== b.readUInt32LE(16)) throw new Error('checksum does not match');
      const packed = b.readUInt32LE(20);
      const tables = inflateRawSync(b.subarray(HEADER, HEADER + packed));
      if (tables.byteLength !== b.readDoubleLE(24)) throw new Error('tables are not the recorded size');
      let at = HEADER + packed;
      const stateBytes = b.readUInt32LE(at);
      const executorBytes = b.readUInt32LE(at + 4);
      at += 8;
      const state = deserialize(b.subarray(at, at + stateBytes));
      const executorState = deserialize(b.subarray(at + stateBytes, at + stateBytes + executorBytes));
      const s = { path, sequence: b.readDoubleLE(8), tables, state, executorState };
      if (s.sequence !== sequence) throw new Error(`holds sequence ${s.sequence}, its name says ${sequence}`);
      const why = usable(s);
      if (why !== undefined) throw new Error(why);
      return s;
    } catch (e) {
      log(`unwind journal: passed over snapshot ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return undefined;
}
