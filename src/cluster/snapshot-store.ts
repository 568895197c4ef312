/**
 * Thread: main. Snapshots in a JetStream object store (README "Replication"): the leader puts one every `everyEpochs`
 * epochs or `everyMessages` log messages, keeping the last `keep`; a replica with no journal of its own (a new one,
 * or one whose journal was set aside) installs the newest it can read and follows the log from the message after it,
 * instead of replaying the log from its start.
 *
 *   bucket    `<name>_snapshots`, file storage, `replicas` copies
 *   object    name      snapshot-<journal sequence, 20 digits>
 *             data      +0  u32 magic 'UNWO'   +4 u32 object format   +8 u32 bytes of the Config record   +12 u32 0
 *                       +16 the journal's Config record (sequence 1) as the log holds it, then the snapshot file
 *                           (src/journal/snapshot.ts) as the leader's journal wrote it
 *             metadata  format, snapshot, layout   object format, snapshot file version, tables layout version
 *                       journalSequence            the last journal record the snapshot includes
 *                       streamSequence             the log message that ends with that record: the state is the
 *                                                  log applied through exactly that message
 *                       epoch, digest              epochs ended then, and the output digest then
 *                       bytes, sha256              of the data (JetStream checks its own digest of the chunks too)
 *                       node                       the leader that put it
 *
 * Exact placement: a snapshot is captured at an epoch's start, after the journal rolls; the roll cuts the log's
 * message there (`LogAppender.cut`), so the snapshot's last record is a message's last. Installed, the journal
 * directory holds segment 1 with the Config record, the snapshot, an empty segment starting at the record after it,
 * and the log mark at it: local recovery loads the snapshot and the standby follows the log from the next message.
 * Its journal then lacks records 2 to the snapshot's (they are in the log; `snapshot-object.json` says which object).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { StorageType, type JetStreamClient, type JetStreamManager, type ObjectInfo, type ObjectStore } from 'nats';
import { ErrorCode, isUnwindError, UnwindError } from '../errors.js';
import { encodeSyncMark, readRecord, RecordKind, recordBytes, SEGMENT_HEADER_BYTES, segmentName, SYNC_MARK_BYTES, SYNC_MARK_NAME, writeSegmentHeader } from '../journal/format.js';
import { fromJson, toJson } from '../journal/payload.js';
import { listSegments } from '../journal/reader.js';
import { loadNewestSnapshot, snapshotName, SNAPSHOT_VERSION } from '../journal/snapshot.js';
import type { EngineCore, EngineState, WrittenSnapshot } from '../engine/core.js';
import { LAYOUT_VERSION } from '../tables/layout.js';
import type { ResolvedClusterConfig } from './config.js';
import { findStreamSequence, lastStreamSequence, logMessage, type LogAppender } from './input-log.js';
import type { OrderPublisher } from './order-stream.js';
import { LOG_MARK_NAME, writeLogMark } from './reconcile.js';

/** The object format this engine writes and reads. */
export const SNAPSHOT_OBJECT_FORMAT = 1;
const OBJECT_MAGIC = 0x4f574e55; // 'UNWO' little-endian
const OBJECT_HEADER = 16;
/** Bytes of each chunk of an object (JetStream clamps it to the servers' max_payload). */
const CHUNK = 1 << 20;
/** Where an installed journal says which object it started from. */
export const SNAPSHOT_ORIGIN_NAME = 'snapshot-object.json';

/** What an object's metadata says (all of it strings in the store). */
export interface SnapshotObjectMeta {
  readonly format: number;
  readonly snapshot: number;
  readonly layout: number;
  readonly journalSequence: number;
  readonly streamSequence: number;
  readonly epoch: number;
  readonly digest: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly node: string;
}

/** An object's name: its journal sequence, padded, so names sort as sequences do. */
export function snapshotObjectName(journalSequence: number): string {
  return `snapshot-${String(journalSequence).padStart(20, '0')}`;
}

const OBJECT_NAME = /^snapshot-(\d{20})$/;

/** The bucket, created (file storage, `replicas` copies) if it does not exist. */
export async function openSnapshotStore(js: JetStreamClient, c: ResolvedClusterConfig): Promise<ObjectStore> {
  return js.views.os(c.snapshotBucket, { storage: StorageType.File, replicas: c.replicas, description: `snapshots of the Unwind deployment ${c.name}` });
}

/** The object's data: header, Config record, snapshot file. */
export function snapshotObjectData(configRecord: Uint8Array, snapshotFile: Uint8Array): Buffer {
  const header = Buffer.alloc(OBJECT_HEADER);
  header.writeUInt32LE(OBJECT_MAGIC, 0);
  header.writeUInt32LE(SNAPSHOT_OBJECT_FORMAT, 4);
  header.writeUInt32LE(configRecord.byteLength, 8);
  return Buffer.concat([header, configRecord, snapshotFile]);
}

function metaRecord(m: SnapshotObjectMeta): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
}

/** The metadata of `info`, checked for shape (JOURNAL_CORRUPT) and for versions this engine reads (LAYOUT_MISMATCH). */
export function readObjectMeta(info: ObjectInfo): SnapshotObjectMeta {
  const corrupt = (why: string): never => {
    throw new UnwindError(ErrorCode.JournalCorrupt, `snapshot object ${info.name}: ${why}`);
  };
  const md = info.metadata ?? {};
  const int = (k: string): number => {
    const n = Number(md[k]);
    if (md[k] === undefined || !Number.isSafeInteger(n) || n < 0) corrupt(`its metadata's ${k} is ${JSON.stringify(md[k])}, expected an integer`);
    return n;
  };
  const m: SnapshotObjectMeta = {
    format: int('format'),
    snapshot: int('snapshot'),
    layout: int('layout'),
    journalSequence: int('journalSequence'),
    streamSequence: int('streamSequence'),
    epoch: int('epoch'),
    digest: md.digest ?? '',
    bytes: int('bytes'),
    sha256: md.sha256 ?? '',
    node: md.node ?? '',
  };
  if (m.format !== SNAPSHOT_OBJECT_FORMAT || m.snapshot !== SNAPSHOT_VERSION || m.layout !== LAYOUT_VERSION) {
    throw new UnwindError(
      ErrorCode.LayoutMismatch,
      `snapshot object ${info.name} is object format ${m.format}, snapshot version ${m.snapshot}, tables layout ${m.layout}; this engine reads ${SNAPSHOT_OBJECT_FORMAT}, ${SNAPSHOT_VERSION}, ${LAYOUT_VERSION}`,
    );
  }
  if (info.name !== snapshotObjectName(m.journalSequence)) corrupt(`its metadata says journal sequence ${m.journalSequence}, its name another`);
  if (m.journalSequence < 2 || m.streamSequence < 1) corrupt('its sequences are out of range');
  if (!/^[0-9a-f]{64}$/.test(m.digest) || !/^[0-9a-f]{64}$/.test(m.sha256)) corrupt('its digest or sha256 is not 64 hex digits');
  if (m.bytes !== info.size) corrupt(`its metadata says ${m.bytes} bytes, the store holds ${info.size}`);
  return m;
}

/** The store's objects that look like snapshots, newest (highest journal sequence) first. */
async function listNewestFirst(os: ObjectStore): Promise<ObjectInfo[]> {
  const all = (await os.list()).filter((i) => !i.deleted && OBJECT_NAME.test(i.name));
  return all.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
}

/** What a replica installed (`ReplicaStats.snapshot`). */
export interface InstalledSnapshot {
  /** The object's name. */
  readonly name: string;
  /** The last journal record the snapshot includes. */
  readonly journalSequence: number;
  /** The log message ending with that record: the replica followed the log from the one after it. */
  readonly streamSequence: number;
  /** Epochs ended at that point. */
  readonly epoch: number;
}

/** Whether `dir` holds a journal of its own (a segment). */
export function hasJournal(dir: string): boolean {
  return existsSync(dir) && listSegments(dir).length > 0;
}

/**
 * Installs the newest usable snapshot object into `dir` (which holds no journal), in the form local recovery reads.
 * An object that is corrupt, from another version, or not placed in this log is named in the log with its code and
 * the next older one tried. Returns what was installed, or undefined (none usable: the log is replayed from its start).
 */
export async function installNewestSnapshot(
  js: JetStreamClient,
  jsm: JetStreamManager,
  c: ResolvedClusterConfig,
  dir: string,
  decisions: string,
  log: (line: string) => void,
): Promise<InstalledSnapshot | undefined> {
  // A bucket nobody made holds nothing: not created here (the leader does, when it puts).
  const exists = await jsm.streams.info(`OBJ_${c.snapshotBucket}`).then(
    () => true,
    () => false,
  );
  if (!exists) return undefined;
  // Only into a directory of its own: absent, or holding nothing but marks and what an install cut short left.
  const ours = (f: string): boolean => f === SYNC_MARK_NAME || f === LOG_MARK_NAME || f === SNAPSHOT_ORIGIN_NAME || /^snapshot-\d{20}\.snap(\.tmp)?$/.test(f);
  const foreign = existsSync(dir) ? readdirSync(dir).filter((f) => !ours(f)) : [];
  if (foreign.length > 0) {
    log(`unwind cluster ${c.name}: no snapshot object installed: ${dir} holds ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''} and no journal; replaying the log from its start`);
    return undefined;
  }
  const os = await js.views.os(c.snapshotBucket);
  const objects = await listNewestFirst(os);
  // Read after the listing: an object is put only once the log holds its records, so each listed one is before this.
  const end = await lastStreamSequence(jsm, c.logStream);
  const logConfig = end === 0 ? undefined : await logConfigRecord(jsm, c);
  for (const info of objects) {
    const staging = `${dir}.installing-${process.pid}`;
    try {
      const m = readObjectMeta(info);
      await checkPlacement(jsm, c, info.name, m, end);
      let data: Uint8Array | null;
      try {
        data = await os.getBlob(info.name);
      } catch (e) {
        throw new UnwindError(ErrorCode.JournalCorrupt, `snapshot object ${info.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (data === null) throw new UnwindError(ErrorCode.JournalCorrupt, `snapshot object ${info.name} was deleted while being read`);
      const { configRecord, snapshotFile } = checkData(info.name, m, Buffer.from(data.buffer, data.byteOffset, data.byteLength), decisions);
      if (logConfig === undefined || !configRecord.equals(logConfig)) throw new UnwindError(ErrorCode.JournalCorrupt, `snapshot object ${info.name}: its Config record is not the log's first record`);
      rmSync(staging, { recursive: true, force: true });
      mkdirSync(staging, { recursive: true });
      writeFileSync(join(staging, snapshotName(m.journalSequence)), snapshotFile);
      // Read back as recovery will read it: whole, this layout, and the state the metadata says.
      const loaded = loadNewestSnapshot(staging, () => {}, (s) => {
        const version = s.tables.readUInt32LE(4);
        if (version !== LAYOUT_VERSION) return `its tables are layout version ${version}`;
        const st = s.state as EngineState;
        const hex = Buffer.from(st.digest.chain).toString('hex');
        if (st.epochs !== m.epoch || hex !== m.digest) return `it holds epoch ${st.epochs} and digest ${hex}; its metadata says epoch ${m.epoch} and digest ${m.digest}`;
        return undefined;
      });
      if (loaded === undefined) throw new UnwindError(ErrorCode.JournalCorrupt, `snapshot object ${info.name}: its snapshot does not read back whole, or is not the state its metadata describes`);
      placeJournal(staging, m, configRecord, info.name);
      if (existsSync(dir)) {
        // Leftovers go; segment 1 comes last: until it is there, the directory holds no journal (a cut install is redone).
        for (const f of readdirSync(dir)) rmSync(join(dir, f));
        const first = segmentName(1);
        const files = readdirSync(staging).sort((x, y) => Number(x === first) - Number(y === first));
        for (const f of files) renameSync(join(staging, f), join(dir, f));
        rmSync(staging, { recursive: true });
        syncDir(dir);
      } else {
        renameSync(staging, dir);
      }
      log(
        `unwind cluster ${c.name}: installed snapshot object ${info.name} into ${dir} (journal ${m.journalSequence}, stream sequence ${m.streamSequence}, epoch ${m.epoch}); following the log from stream sequence ${m.streamSequence + 1}`,
      );
      return { name: info.name, journalSequence: m.journalSequence, streamSequence: m.streamSequence, epoch: m.epoch };
    } catch (e) {
      rmSync(staging, { recursive: true, force: true });
      const u = isUnwindError(e) ? e : new UnwindError(ErrorCode.ReplicationFailed, `snapshot object ${info.name}: ${e instanceof Error ? e.message : String(e)}`);
      log(`unwind cluster ${c.name}: passed over snapshot object ${info.name}: ${u.code}: ${u.message}`);
    }
  }
  log(`unwind cluster ${c.name}: no usable snapshot object in ${c.snapshotBucket}; replaying the log from its start`);
  return undefined;
}

/** The log message `m.streamSequence` must exist and end with the snapshot's record: else the object is not this log's. */
async function checkPlacement(jsm: JetStreamManager, c: ResolvedClusterConfig, name: string, m: SnapshotObjectMeta, end: number): Promise<void> {
  if (m.streamSequence > end) throw new UnwindError(ErrorCode.JournalCorrupt, `snapshot object ${name} is at stream sequence ${m.streamSequence}; the log ends at ${end}`);
  const stored = await jsm.streams.getMessage(c.logStream, { seq: m.streamSequence });
  const lm = logMessage(m.streamSequence, stored.data, stored.header);
  if (lm.last !== m.journalSequence) {
    throw new UnwindError(ErrorCode.JournalCorrupt, `snapshot object ${name} says log message ${m.streamSequence} ends with record ${m.journalSequence}; it ends with ${lm.last}`);
  }
}

/** The object's data checked (size, sha256, header, Config record, snapshot header): its two parts. */
function checkData(name: string, m: SnapshotObjectMeta, b: Buffer, decisions: string): { configRecord: Buffer; snapshotFile: Buffer } {
  const corrupt = (why: string): never => {
    throw new UnwindError(ErrorCode.JournalCorrupt, `snapshot object ${name}: ${why}`);
  };
  if (b.byteLength !== m.bytes) corrupt(`${b.byteLength} bytes, its metadata says ${m.bytes}`);
  if (createHash('sha256').update(b).digest('hex') !== m.sha256) corrupt('its SHA-256 is not the one its metadata records');
  if (b.byteLength < OBJECT_HEADER || b.readUInt32LE(0) !== OBJECT_MAGIC) corrupt('not a snapshot object (magic)');
  if (b.readUInt32LE(4) !== SNAPSHOT_OBJECT_FORMAT) throw new UnwindError(ErrorCode.LayoutMismatch, `snapshot object ${name} is object format ${b.readUInt32LE(4)}; this engine reads ${SNAPSHOT_OBJECT_FORMAT}`);
  const configBytes = b.readUInt32LE(8);
  const configRecord = b.subarray(OBJECT_HEADER, OBJECT_HEADER + configBytes);
  const r = readRecord(configRecord, 0, configRecord.byteLength, 0);
  if (r.status !== 'ok' || r.next !== configBytes || r.record.sequence !== 1 || r.record.kind !== RecordKind.Config) corrupt('its first part is not the journal\'s Config record');
  if (r.status === 'ok' && toJson(fromJson(r.record.payload.toString('utf8'))) !== decisions) {
    throw new UnwindError(ErrorCode.JournalMismatch, `snapshot object ${name} was written under another engine config than this replica's`, 'engine');
  }
  const snapshotFile = b.subarray(OBJECT_HEADER + configBytes);
  if (snapshotFile.byteLength < 32 || snapshotFile.readDoubleLE(8) !== m.journalSequence) corrupt(`its snapshot is not at journal sequence ${m.journalSequence}`);
  return { configRecord, snapshotFile };
}

/** The journal around the snapshot in `dir`: segment 1 (Config), the empty segment after it, the sync and log marks. */
function placeJournal(dir: string, m: SnapshotObjectMeta, configRecord: Buffer, name: string): void {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  writeSegmentHeader(header, 1);
  writeFileSync(join(dir, segmentName(1)), Buffer.concat([header, configRecord]));
  const next = m.journalSequence + 1;
  writeSegmentHeader(header, next);
  writeFileSync(join(dir, segmentName(next)), header);
  const mark = Buffer.alloc(SYNC_MARK_BYTES);
  encodeSyncMark(mark, { segment: next, bytes: SEGMENT_HEADER_BYTES, sequence: m.journalSequence });
  writeFileSync(join(dir, SYNC_MARK_NAME), mark);
  writeLogMark(dir, m.journalSequence);
  writeFileSync(join(dir, SNAPSHOT_ORIGIN_NAME), `${JSON.stringify({ object: name, ...m }, null, 2)}\n`);
  for (const f of readdirSync(dir)) {
    const fd = openSync(join(dir, f), 'r');
    fsyncSync(fd);
    closeSync(fd);
  }
  syncDir(dir);
}

function syncDir(dir: string): void {
  const d = openSync(dir, 'r');
  fsyncSync(d);
  closeSync(d);
}

/** What the leader's SnapshotPublisher needs from the replica. */
export interface PublisherOptions {
  readonly c: ResolvedClusterConfig;
  readonly core: EngineCore;
  readonly appender: LogAppender;
  readonly orders: OrderPublisher;
  /** Whether this replica still leads: nothing is put once it does not. */
  readonly leading: () => boolean;
  readonly log: (line: string) => void;
}

/**
 * The leader's side: counts epochs and log messages; when a snapshot is due, asks the engine for one at its next
 * epoch's start (`EngineCore.requestSnapshot`) and, once that snapshot is on disk, puts it off the epoch path: after
 * the log holds its records and the order stream the orders of its epochs, one put at a time, hashing and sending in
 * chunks between event-loop turns. A failed put is logged; the next is due at the next cadence.
 */
export class SnapshotPublisher {
  private epochsAt = 0;
  private messagesAt: number;
  /** 'requested': a snapshot was asked for and is awaited; 'putting': one is being put (the only one). */
  private state: 'idle' | 'requested' | 'putting' = 'idle';
  private stopped = false;
  private configRecord: Buffer | undefined;
  private putting: Promise<void> = Promise.resolve();
  /** Objects put by this replica. */
  put = 0;
  /** Puts that failed. */
  failed = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly o: PublisherOptions,
  ) {
    this.messagesAt = o.appender.messages;
    this.epochsAt = o.core.epochs;
    o.core.onSnapshot = (s) => this.written(s);
  }

  /** After each epoch: asks for a snapshot when one is due and none is in flight. */
  epochEnded(): void {
    const s = this.o.c.snapshots!;
    if (this.state !== 'idle' || this.stopped) return;
    if (this.o.core.epochs - this.epochsAt < s.everyEpochs && this.o.appender.messages - this.messagesAt < s.everyMessages) return;
    this.state = 'requested';
    this.o.core.requestSnapshot();
  }

  /** No more puts (the replica stops leading or closes); one in flight ends without a log line. */
  stop(): void {
    this.stopped = true;
    if (this.o.core.onSnapshot !== undefined) this.o.core.onSnapshot = undefined;
  }

  /** Resolves once the put in flight, if any, has ended (stored, or failed). */
  async settled(): Promise<void> {
    await this.putting;
  }

  private written(s: WrittenSnapshot): void {
    // A snapshot of the journal's own cadence while none is due, or while one is being put, is not put.
    if (this.state !== 'requested' || this.stopped) return;
    this.state = 'putting';
    this.epochsAt = s.epoch;
    this.messagesAt = this.o.appender.messages;
    this.putting = this.putSnapshot(s)
      .then(() => void this.put++)
      .catch((e: unknown) => {
        this.failed++;
        if (this.stopped) return;
        const u = isUnwindError(e) ? e : new UnwindError(ErrorCode.ReplicationFailed, e instanceof Error ? e.message : String(e));
        this.o.log(`unwind cluster ${this.o.c.name}: snapshot at journal sequence ${s.sequence} not put into ${this.o.c.snapshotBucket}: ${u.code}: ${u.message}`);
      })
      .finally(() => (this.state = 'idle'));
  }

  private async putSnapshot(s: WrittenSnapshot): Promise<void> {
    const { c, appender, orders } = this.o;
    // The object stands for a log position: only once the log holds its records, and the order stream its orders.
    await appender.through(s.sequence);
    while (!orders.sentThrough(s.epoch)) {
      if (this.stopped || !this.o.leading() || orders.failed !== undefined) throw new UnwindError(ErrorCode.NotLeader, 'this replica stopped leading before the snapshot\'s orders were in the order stream');
      // determinism: waiting for the order stream decides when a snapshot is put, not what any replica decides
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const streamSequence = await findStreamSequence(this.jsm, c.logStream, s.sequence);
    const stored = await this.jsm.streams.getMessage(c.logStream, { seq: streamSequence });
    const lm = logMessage(streamSequence, stored.data, stored.header);
    if (lm.last !== s.sequence) throw new UnwindError(ErrorCode.ReplicationFailed, `the log message holding record ${s.sequence} (stream sequence ${streamSequence}) ends at ${lm.last}, not there`);
    this.configRecord ??= await logConfigRecord(this.jsm, c);
    const file = await readFile(s.path);
    const data = snapshotObjectData(this.configRecord, file);
    const sha256 = await hashInTurns(data);
    if (this.stopped || !this.o.leading()) throw new UnwindError(ErrorCode.NotLeader, 'this replica stopped leading');
    const os = await openSnapshotStore(this.js, c);
    const name = snapshotObjectName(s.sequence);
    const meta: SnapshotObjectMeta = {
      format: SNAPSHOT_OBJECT_FORMAT,
      snapshot: SNAPSHOT_VERSION,
      layout: LAYOUT_VERSION,
      journalSequence: s.sequence,
      streamSequence,
      epoch: s.epoch,
      digest: s.digest,
      bytes: data.byteLength,
      sha256,
      node: c.node,
    };
    await os.put({ name, description: `${basename(s.path)} of ${c.node}`, metadata: metaRecord(meta), options: { max_chunk_size: CHUNK } }, chunksInTurns(data));
    this.o.log(`unwind cluster ${c.name}: put snapshot object ${name} (stream sequence ${streamSequence}, epoch ${s.epoch}, ${data.byteLength} bytes)`);
    // The last `keep`, by journal sequence.
    for (const old of (await listNewestFirst(os)).slice(c.snapshots!.keep)) await os.delete(old.name);
  }

}

/** The log's record 1 (Config), as its first message holds it. */
async function logConfigRecord(jsm: JetStreamManager, c: ResolvedClusterConfig): Promise<Buffer> {
  const info = await jsm.streams.info(c.logStream);
  const stored = await jsm.streams.getMessage(c.logStream, { seq: info.state.first_seq });
  const m = logMessage(info.state.first_seq, stored.data, stored.header);
  const r = readRecord(m.records, 0, m.records.byteLength, 0);
  if (m.first !== 1 || r.status !== 'ok' || r.record.kind !== RecordKind.Config) throw new UnwindError(ErrorCode.JournalCorrupt, 'the log does not begin with the journal\'s Config record');
  return Buffer.from(m.records.subarray(0, recordBytes(r.record.payload.byteLength)));
}

// determinism: a pause between chunks of a snapshot being put changes nothing any replica decides
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** SHA-256 of `b`, hex, a chunk per event-loop turn. */
async function hashInTurns(b: Buffer): Promise<string> {
  const h = createHash('sha256');
  for (let at = 0; at < b.byteLength; at += CHUNK) {
    h.update(b.subarray(at, at + CHUNK));
    await turn();
  }
  return h.digest('hex');
}

/** `b` as a stream of CHUNK-byte pieces, one per event-loop turn (the client hashes and publishes each as it comes). */
function chunksInTurns(b: Buffer): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at >= b.byteLength) {
        controller.close();
        return;
      }
      await turn();
      controller.enqueue(new Uint8Array(b.buffer, b.byteOffset + at, Math.min(CHUNK, b.byteLength - at)));
      at += CHUNK;
    },
  });
}
