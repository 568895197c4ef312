/**
 * Thread: main. The journal's single writer: appends records (src/journal/format.ts) to the current segment and
 * makes them durable by the configured policy (README "Journal"):
 *
 *   sync   an input is acknowledged (`durable()` resolves) only once it is on disk (fdatasync); an epoch's orders
 *          are emitted only once the epoch's records are on disk. A power loss loses nothing acknowledged. The
 *          fdatasync is issued by `durable()` itself (one serves every record written before it), never queued
 *          behind one that does not cover the caller's records.
 *   group  records reach the operating system (write) at the end of each event-loop turn and the disk (fdatasync)
 *          at most `groupWindowMs` later, one sync for the whole group; `durable()` resolves once they are written.
 *          A process crash (kill -9) loses nothing acknowledged; a power loss loses at most the last window.
 *
 * Appending only copies into a buffer: the write and the sync happen at the end of the turn or on `durable()`, so
 * one write serves every record of a turn. The fdatasync runs on libuv's pool, off this thread. After each one the
 * sync mark (src/journal/format.ts) says how far the newest segment is on disk: the reader takes damage before it
 * for corruption, never for a torn tail.
 *
 * A write or sync that fails (a full disk, an I/O error) stops the journal for good: every later append, flush and
 * `durable()` throws the same JOURNAL_IO, `onFailure` hears it once, and the log says it once. Nothing that was not
 * written is acknowledged, and no epoch whose records were not written emits its orders.
 */
import { closeSync, constants, fdatasync, fdatasyncSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, UnwindError } from '../errors.js';
import {
  encodeSyncMark,
  RecordKind,
  recordBytes,
  RECORD_HEADER_BYTES,
  sealRecord,
  SEGMENT_HEADER_BYTES,
  segmentName,
  SYNC_MARK_BYTES,
  SYNC_MARK_NAME,
  writeSegmentHeader,
  type SyncMark,
} from './format.js';
import { toJson } from './payload.js';
import type { ResolvedJournalConfig } from './config.js';

const fdatasyncAsync = (fd: number): Promise<void> => new Promise((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));

/**
 * Where a leader's records are also kept (a replicated log: src/cluster/input-log.ts). It hears every write of
 * whole records, in order, and `durable()` waits for it as well as for the local policy: an input is acknowledged,
 * and an epoch's orders leave, only once the sink has them too.
 */
export interface RecordSink {
  /** Records `first`..`last`, as their bytes on disk (whole records; the buffer is the sink's to keep). */
  append(records: Buffer, first: number, last: number): void;
  /** Resolves once records through `sequence` are kept by the sink; rejects if they cannot be. */
  through(sequence: number): Promise<void>;
  /**
   * Records through `through` (the last appended) end a segment: a snapshot may start after them, so the sink keeps
   * them apart from later records (a replicated log ends a message there: src/cluster/snapshot-store.ts).
   */
  cut?(through: number): void;
}

export class JournalWriter {
  private fd: number;
  private fileBytes: number;
  private buf = Buffer.allocUnsafeSlow(1 << 20);
  private f64 = new Float64Array(this.buf.buffer, 0, this.buf.byteLength / 8);
  private used = 0;
  private sequence: number;
  private writtenSequence: number;
  private syncedSequence: number;
  /** fdatasyncs in flight, each with the sequence it covers once done. */
  private readonly syncs = new Map<Promise<void>, number>();
  private turnFlush = false;
  private groupTimer: NodeJS.Timeout | undefined;
  private failure: UnwindError | undefined;
  /** First sequence of the current segment (its name). */
  private segmentFirst: number;
  private readonly markFd: number;
  private readonly markBuf = Buffer.alloc(SYNC_MARK_BYTES);
  private marked: SyncMark | undefined;
  /** Where the open batch's header is reserved in the buffer, while one is open. */
  private batchAt: number | undefined;
  /** Hears the first write or sync failure, once, after the call that met it has returned. */
  onFailure: ((e: UnwindError) => void) | undefined;
  /** Also receives every write (see RecordSink); set while this process leads a replicated log. */
  sink: RecordSink | undefined;

  /**
   * Appends to the segment `file` (already holding `fileBytes` valid bytes, records through `lastSequence`), or,
   * with `file` undefined, starts a new segment at `lastSequence + 1`.
   */
  constructor(
    readonly config: ResolvedJournalConfig,
    lastSequence: number,
    file?: { readonly path: string; readonly bytes: number; readonly firstSequence: number },
  ) {
    this.sequence = this.writtenSequence = this.syncedSequence = lastSequence;
    this.fd = -1;
    this.fileBytes = 0;
    this.segmentFirst = lastSequence + 1;
    try {
      this.markFd = openSync(join(config.dir, SYNC_MARK_NAME), constants.O_RDWR | constants.O_CREAT, 0o644);
      if (file !== undefined) {
        this.fd = openSync(file.path, 'r+');
        this.fileBytes = file.bytes;
        this.segmentFirst = file.firstSequence;
      }
    } catch (e) {
      throw new UnwindError(ErrorCode.JournalIo, `cannot open the journal in ${config.dir}: ${e instanceof Error ? e.message : String(e)}`, 'journal.dir');
    }
    if (file === undefined) this.openSegment();
  }

  /** Sequence of the last record appended. */
  get lastSequence(): number {
    return this.sequence;
  }
  /** Sequence of the last record on disk. */
  get syncedThrough(): number {
    return this.syncedSequence;
  }

  /** Appends a record of f64 columns (`undefined`: all NaN), `rows` values each, then `trailer` bytes. */
  appendColumns(kind: number, rows: number, columns: readonly (ArrayLike<number> | undefined)[], trailer?: Uint8Array): number {
    const k = columns.length;
    const trailerBytes = trailer?.byteLength ?? 0;
    const payload = rows * k * 8 + trailerBytes;
    const at = this.reserve(payload);
    const f = this.f64;
    let base = (at + RECORD_HEADER_BYTES) / 8;
    for (let c = 0; c < k; c++, base += rows) {
      const col = columns[c];
      if (col === undefined) f.fill(NaN, base, base + rows);
      else for (let i = 0; i < rows; i++) f[base + i] = col[i]!;
    }
    if (trailer !== undefined) this.buf.set(trailer, at + RECORD_HEADER_BYTES + rows * k * 8);
    return this.seal(at, payload, kind, rows);
  }

  /** Appends a record whose payload is `value` as JSON. */
  appendJson(kind: number, value: unknown): number {
    const text = toJson(value);
    const payload = Buffer.byteLength(text);
    const at = this.reserve(payload);
    this.buf.write(text, at + RECORD_HEADER_BYTES, 'utf8');
    return this.seal(at, payload, kind, 0);
  }

  /**
   * Resolves when every record appended so far is acknowledged by the policy: on disk (sync), or written to the
   * operating system (group). Rejects with JOURNAL_IO if writing or syncing failed.
   */
  async durable(): Promise<void> {
    this.flush();
    const kept = this.sink?.through(this.sequence);
    if (this.config.durability === 'sync') await this.syncThrough(this.sequence);
    await kept;
  }

  /**
   * Appends records as another writer wrote them (a standby mirroring a replicated log): whole records, checked
   * and in sequence, `first` the one after this journal's last. Written with the next flush, like any record.
   */
  appendRecords(records: Uint8Array, first: number, last: number): void {
    this.check();
    if (this.batchAt !== undefined) throw new Error('records are not appended inside a batch');
    if (first !== this.sequence + 1 || last < first) throw new Error(`records ${first}..${last} do not follow this journal's last, ${this.sequence}`);
    if (this.used + records.byteLength > this.buf.byteLength) this.resize(Math.max(2 * this.buf.byteLength, this.used + records.byteLength + (1 << 20)));
    this.buf.set(records, this.used);
    this.used += records.byteLength;
    this.sequence = last;
    this.scheduleFlush();
  }

  /** Resolves once records through `sequence` are on disk, whatever the policy (snapshots wait for this). */
  async onDisk(sequence: number): Promise<void> {
    this.flush();
    await this.syncThrough(sequence);
  }

  /** Throws the write failure, if any: the engine stops taking inputs once the journal cannot keep them. */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** The failure that stopped the journal, if any (the error every later call throws). */
  get failed(): UnwindError | undefined {
    return this.failure;
  }

  /**
   * Appends the records `write` appends as one Batch record (src/journal/format.ts): on disk they are all there or
   * none is (a torn batch is cut whole). `write` must append synchronously. If it throws, none of its records is
   * kept and the error is rethrown.
   */
  batch(write: () => void): void {
    this.check();
    if (this.batchAt !== undefined) throw new Error('journal batches do not nest');
    const at = this.reserve(0);
    const first = this.sequence + 1;
    this.used = at + RECORD_HEADER_BYTES;
    this.batchAt = at;
    try {
      write();
    } catch (e) {
      this.used = at;
      this.sequence = first - 1;
      throw e;
    } finally {
      this.batchAt = undefined;
    }
    const payload = this.used - at - RECORD_HEADER_BYTES;
    if (payload === 0) this.used = at;
    else sealRecord(this.buf, at, payload, first, RecordKind.Batch, this.sequence - first + 1);
  }

  /**
   * Stops the journal without an I/O error: the caller holds state the journal does not (a batch it applied in part
   * was rejected), so no later input may be journaled after it. Every later call throws JOURNAL_IO saying `why`.
   */
  halt(why: string): void {
    this.failure ??= new UnwindError(ErrorCode.JournalIo, `journal in ${this.config.dir} stopped: ${why}`);
    this.config.log(`unwind journal: ${this.failure.code}: ${this.failure.message}; the engine takes no more inputs`);
  }

  /** Writes what is buffered to the segment (one write). */
  flush(): void {
    this.check();
    if (this.batchAt !== undefined) throw new Error('the journal flushes only between batches');
    if (this.used === 0) return;
    if (this.sink !== undefined) this.sink.append(Buffer.from(this.buf.subarray(0, this.used)), this.writtenSequence + 1, this.sequence);
    try {
      let done = 0;
      while (done < this.used) done += writeSync(this.fd, this.buf, done, this.used - done, this.fileBytes + done);
    } catch (e) {
      this.fail(e);
    }
    this.fileBytes += this.used;
    this.used = 0;
    if (this.buf.byteLength > 16 << 20) this.resize(1 << 20); // a bulk load's buffer is not kept for life
    this.writtenSequence = this.sequence;
    if (this.config.durability === 'group' && this.groupTimer === undefined) {
      this.groupTimer = setTimeout(() => {
        this.groupTimer = undefined;
        this.syncThrough(this.writtenSequence).catch(() => {}); // a failure is kept in `failure`
      }, this.config.groupWindowMs);
    }
    if (this.fileBytes >= this.config.segmentBytes) this.roll();
  }

  /** Closes the current segment (on disk) and starts the next at the next sequence. */
  roll(): void {
    this.flush();
    this.sink?.cut?.(this.writtenSequence);
    if (this.fileBytes === SEGMENT_HEADER_BYTES) return; // the flush rolled already, or nothing was written yet
    const old = this.fd;
    try {
      fdatasyncSync(old);
    } catch (e) {
      this.fail(e);
    }
    this.syncedSequence = this.writtenSequence;
    // Syncs in flight on the old descriptor finish before it is closed.
    if (this.syncs.size === 0) closeSync(old);
    else Promise.allSettled([...this.syncs.keys()]).then(() => closeSync(old), () => {});
    this.openSegment();
  }

  /** Writes, syncs and closes. */
  async close(): Promise<void> {
    if (this.groupTimer !== undefined) clearTimeout(this.groupTimer);
    this.groupTimer = undefined;
    if (this.failure === undefined) await this.onDisk(this.sequence).catch(() => {}); // a failure is reported once, when it happened
    await Promise.allSettled([...this.syncs.keys()]);
    if (this.fd >= 0) closeSync(this.fd);
    closeSync(this.markFd);
  }

  private openSegment(): void {
    const first = this.sequence + 1;
    const path = join(this.config.dir, segmentName(first));
    this.fd = -1; // the old descriptor is closed (or being closed): never close it twice
    try {
      this.fd = openSync(path, 'wx');
      const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
      writeSegmentHeader(header, first);
      writeSync(this.fd, header, 0, header.byteLength, 0);
      fdatasyncSync(this.fd);
      // The new name itself must survive a power loss.
      const dir = openSync(this.config.dir, 'r');
      fsyncSync(dir);
      closeSync(dir);
      this.segmentFirst = first;
      this.fileBytes = SEGMENT_HEADER_BYTES;
      // From now on this segment is the newest: were it lost, the mark names it.
      this.mark({ segment: first, bytes: SEGMENT_HEADER_BYTES, sequence: this.sequence });
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * Rewrites the sync mark if `m` is further on than the last one (a sync of an older segment can finish after
   * a roll). Not synced: a kill -9 leaves it in the page cache; a power loss may leave an older one, which only
   * makes the reader take less for corruption.
   */
  private mark(m: SyncMark): void {
    const last = this.marked;
    if (last !== undefined && (m.segment < last.segment || (m.segment === last.segment && m.bytes <= last.bytes))) return;
    encodeSyncMark(this.markBuf, m);
    writeSync(this.markFd, this.markBuf, 0, SYNC_MARK_BYTES, 0);
    this.marked = m;
  }

  /** Room for one record with a `payload`-byte payload at the end of the buffer; returns its offset. */
  private reserve(payload: number): number {
    this.check();
    const need = recordBytes(payload);
    if (this.used + need > this.buf.byteLength) this.resize(Math.max(2 * this.buf.byteLength, this.used + need + (1 << 20)));
    return this.used;
  }

  private resize(bytes: number): void {
    const next = Buffer.allocUnsafeSlow(bytes);
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
    this.f64 = new Float64Array(next.buffer, 0, next.byteLength >>> 3);
  }

  private seal(at: number, payload: number, kind: number, rows: number): number {
    const sequence = ++this.sequence;
    sealRecord(this.buf, at, payload, sequence, kind, rows);
    this.used = at + recordBytes(payload);
    this.scheduleFlush();
    return sequence;
  }

  private scheduleFlush(): void {
    if (!this.turnFlush) {
      this.turnFlush = true;
      // The end of this turn: one write for its records (their fdatasync: the next durable(), or the group's timer).
      setImmediate(() => {
        this.turnFlush = false;
        if (this.failure !== undefined) return;
        try {
          this.flush();
        } catch {
          // kept in `failure`; the next input or durable() reports it
        }
      });
    }
  }

  /** Resolves once records through `target` (written already) are on disk: waits for a sync that covers them, or starts one. */
  private async syncThrough(target: number): Promise<void> {
    this.check();
    if (this.syncedSequence >= target) return;
    for (const [p, covers] of this.syncs) {
      if (covers >= target) {
        await p.catch(() => {});
        return this.check();
      }
    }
    const covering = this.writtenSequence;
    const synced: SyncMark = { segment: this.segmentFirst, bytes: this.fileBytes, sequence: covering };
    const p: Promise<void> = fdatasyncAsync(this.fd).then(
      () => {
        this.syncedSequence = Math.max(this.syncedSequence, covering);
        try {
          this.mark(synced);
        } catch (e) {
          this.fail(e);
        }
      },
      (e: unknown) => this.fail(e),
    );
    this.syncs.set(p, covering);
    await p.catch(() => {});
    this.syncs.delete(p);
    this.check();
  }

  private fail(e: unknown): never {
    if (this.failure === undefined) {
      const failure = new UnwindError(ErrorCode.JournalIo, `journal in ${this.config.dir}: ${e instanceof Error ? e.message : String(e)}`);
      this.failure = failure;
      this.config.log(`unwind journal: ${failure.code}: ${failure.message}; the engine takes no more inputs`);
      // Told after the call that met it has unwound (it may be deep inside an epoch or a turn's flush).
      process.nextTick(() => this.onFailure?.(failure));
    }
    throw this.failure;
  }
}
