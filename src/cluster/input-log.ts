/**
 * Thread: main. The input log replicated on NATS JetStream (README "Replication"): the leader's journal records,
 * as the bytes its journal writes, appended to a stream kept on `replicas` servers; standbys read them back in order.
 *
 *   message   data: whole journal records (src/journal/format.ts), at most MESSAGE_BYTES unless one record is larger
 *             headers: Unwind-First, Unwind-Last   journal sequences of its first and last record
 *                      Unwind-Epoch, Unwind-Digest when its last record is an EpochEnd: that epoch and the leader's
 *                                                  output digest after it (standbys compare theirs)
 *             Nats-Msg-Id  <node>:<first>      a retry of the same message by the same leader is stored once
 *             Nats-Expected-Last-Sequence       the stream sequence this leader saw last: a message from a leader
 *                                               that another has overtaken is refused (fencing)
 *
 * A message is acknowledged by JetStream once a quorum of the stream's replicas has it; `through(sequence)`
 * resolves when every record up to `sequence` is, which is when the journal's `durable()` lets an input's
 * acknowledgement and an epoch's orders go.
 */
import { headers, type JetStreamClient, type JetStreamManager, type JsMsg, type MsgHdrs, type PubAck, DiscardPolicy, RetentionPolicy, StorageType } from 'nats';
import { ErrorCode, UnwindError } from '../errors.js';
import { RecordKind, recordBytes } from '../journal/format.js';
import type { RecordSink } from '../journal/writer.js';
import type { ResolvedClusterConfig } from './config.js';

/** Bytes of records per message (the servers' max_payload must exceed it; a single larger record goes alone). */
export const MESSAGE_BYTES = 512 * 1024;

export const H_FIRST = 'Unwind-First';
export const H_LAST = 'Unwind-Last';
export const H_EPOCH = 'Unwind-Epoch';
export const H_DIGEST = 'Unwind-Digest';

/** Creates the input log's stream and the order stream if they do not exist yet. */
export async function ensureStreams(jsm: JetStreamManager, c: ResolvedClusterConfig): Promise<void> {
  const want = [
    { name: c.logStream, subjects: [c.logSubject], duplicate_window: 0 },
    { name: c.orderStream, subjects: [c.orderSubject], duplicate_window: c.duplicateWindowMs },
  ];
  for (const s of want) {
    try {
      await jsm.streams.info(s.name);
      continue;
    } catch {
      // absent: create it below
    }
    await jsm.streams.add({
      name: s.name,
      subjects: s.subjects,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      num_replicas: c.replicas,
      // Nanoseconds; the log's own window only needs to cover one leader's retries.
      duplicate_window: (s.duplicate_window === 0 ? 120_000 : s.duplicate_window) * 1_000_000,
      max_msg_size: -1,
    });
  }
}

/** The records of a message: journal sequences and where each record ends. */
export interface Piece {
  readonly bytes: Buffer;
  readonly first: number;
  readonly last: number;
  /** Kind of the last record. */
  readonly lastKind: number;
}

/** Splits whole records into pieces of at most MESSAGE_BYTES each (a larger record alone), at record boundaries. */
export function splitRecords(records: Buffer): Piece[] {
  const pieces: Piece[] = [];
  let start = 0;
  let at = 0;
  let first = 0;
  let last = 0;
  let lastKind = 0;
  while (at < records.byteLength) {
    const length = records.readUInt32LE(at);
    const size = recordBytes(length);
    const sequence = records.readDoubleLE(at + 8);
    const kind = records.readUInt32LE(at + 16);
    const rows = records.readUInt32LE(at + 20);
    if (at > start && at + size - start > MESSAGE_BYTES) {
      pieces.push({ bytes: records.subarray(start, at), first, last, lastKind });
      start = at;
    }
    if (at === start) first = sequence;
    // A batch takes its first record's sequence and holds `rows` records.
    last = kind === RecordKind.Batch ? sequence + rows - 1 : sequence;
    lastKind = kind;
    at += size;
  }
  if (at > start) pieces.push({ bytes: records.subarray(start, at), first, last, lastKind });
  return pieces;
}

export interface AppenderOptions {
  /** This replica's name (in message ids). */
  readonly node: string;
  /** The stream of the log (to check a retried append), and the stream sequence of its last message as this leader found it. */
  readonly stream: string;
  readonly lastStreamSequence: number;
  /** The epoch and output digest to attach to a message ending with an EpochEnd (read at the flush that writes it). */
  readonly digest: () => { readonly epoch: number; readonly hex: string };
  /** Whether this replica may still append (its lease is valid); checked at each append and each retry. */
  readonly leading: () => boolean;
  /** Heard once, when an append is refused or fails for good: this replica must stop leading. */
  readonly onFailure: (e: UnwindError) => void;
}

interface Outgoing {
  readonly piece: Piece;
  readonly headers: MsgHdrs;
  /** Its last record ends the message (a snapshot starts after it: `cut`). */
  cut?: boolean;
}

/**
 * The leader's side: a RecordSink that appends every journal write to the stream, one message in flight at a time
 * (what arrives meanwhile is appended next, so a message carries every record of its wait: group commit), fenced by
 * the stream sequence. A message that meets a passing failure (no stream leader for a moment, a timeout) is sent
 * again, with the same id and the same expected sequence, while the lease lasts: stored once either way.
 */
export class LogAppender implements RecordSink {
  private expected: number;
  private acked = 0;
  private failure: UnwindError | undefined;
  private readonly waiters: { sequence: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly queue: Outgoing[] = [];
  private sending = false;
  /** Messages appended, and the stream sequence of the last. */
  messages = 0;
  streamSequence: number;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly subject: string,
    private readonly o: AppenderOptions,
    /** Records through this journal sequence are already in the log. */
    inLogThrough: number,
  ) {
    this.expected = o.lastStreamSequence;
    this.streamSequence = o.lastStreamSequence;
    this.acked = inLogThrough;
  }

  append(records: Buffer, _first: number, _last: number): void {
    if (this.failure !== undefined) return;
    if (!this.o.leading()) {
      this.fail(new UnwindError(ErrorCode.NotLeader, 'the lease is no longer valid: this replica appends nothing more'));
      return;
    }
    for (const piece of splitRecords(records)) {
      const h = headers();
      h.set(H_FIRST, String(piece.first));
      h.set(H_LAST, String(piece.last));
      if (piece.lastKind === RecordKind.EpochEnd) {
        const d = this.o.digest();
        h.set(H_EPOCH, String(d.epoch));
        h.set(H_DIGEST, d.hex);
      }
      this.queue.push({ piece, headers: h });
    }
    void this.pump();
  }

  /**
   * Records through `through` end a message: a snapshot taken after them maps to exactly that stream sequence. They
   * are the last appended, so they are either queued (marked here) or already the end of a message sent or in flight.
   */
  cut(through: number): void {
    const last = this.queue[this.queue.length - 1];
    if (last !== undefined && last.piece.last === through) last.cut = true;
  }

  through(sequence: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.acked >= sequence) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ sequence, resolve, reject }));
  }

  /** The journal sequence through which the log holds this replica's records. */
  get keptThrough(): number {
    return this.acked;
  }

  get failed(): UnwindError | undefined {
    return this.failure;
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length > 0 && this.failure === undefined) {
        const next = this.coalesce();
        await this.send(next);
      }
    } finally {
      this.sending = false;
    }
  }

  /** The queue's first messages as one, up to MESSAGE_BYTES, through the first that ends an epoch (its digest header) or is cut. */
  private coalesce(): Outgoing {
    const first = this.queue.shift()!;
    if (first.headers.has(H_EPOCH) || first.cut === true) return first;
    const parts = [first.piece.bytes];
    let bytes = first.piece.bytes.byteLength;
    let last = first.piece;
    while (this.queue.length > 0 && bytes + this.queue[0]!.piece.bytes.byteLength <= MESSAGE_BYTES) {
      const n = this.queue.shift()!;
      parts.push(n.piece.bytes);
      bytes += n.piece.bytes.byteLength;
      last = n.piece;
      if (n.headers.has(H_EPOCH)) {
        first.headers.set(H_EPOCH, n.headers.get(H_EPOCH));
        first.headers.set(H_DIGEST, n.headers.get(H_DIGEST));
        break;
      }
      if (n.cut === true) break;
    }
    if (parts.length === 1) return first;
    first.headers.set(H_LAST, String(last.last));
    return { piece: { bytes: Buffer.concat(parts), first: first.piece.first, last: last.last, lastKind: last.lastKind }, headers: first.headers };
  }

  private async send(m: Outgoing): Promise<void> {
    const after = this.expected;
    const msgID = `${this.o.node}:${m.piece.first}`;
    for (let attempt = 0; ; attempt++) {
      if (!this.o.leading()) return this.fail(new UnwindError(ErrorCode.NotLeader, 'the lease lapsed before the log kept these records: this replica appends nothing more'));
      let ack: PubAck;
      try {
        ack = await this.js.publish(this.subject, m.piece.bytes, { headers: m.headers, msgID, expect: { lastSequence: after }, timeout: 5_000 });
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        if (/wrong last sequence/i.test(message)) {
          // Our own earlier attempt may be the one stored there.
          if (attempt > 0 && (await this.storedAt(after + 1)) === msgID) return this.kept(after + 1, m.piece.last);
          return this.fail(new UnwindError(ErrorCode.NotLeader, `the log moved on without this replica (${message}): another leader appends`));
        }
        // determinism: how long the log takes to answer decides when an input is acknowledged, not what it is
        await new Promise((resolve) => setTimeout(resolve, Math.min(500, 25 * 2 ** attempt)));
        continue;
      }
      if (ack.seq !== after + 1) {
        return this.fail(new UnwindError(ErrorCode.NotLeader, `the log stored this replica's records at stream sequence ${ack.seq}${ack.duplicate ? ' (a duplicate)' : ''}, expected ${after + 1}`));
      }
      return this.kept(ack.seq, m.piece.last);
    }
  }

  private async storedAt(seq: number): Promise<string | undefined> {
    try {
      return (await this.jsm.streams.getMessage(this.o.stream, { seq })).header.get('Nats-Msg-Id');
    } catch {
      return undefined;
    }
  }

  private kept(streamSequence: number, last: number): void {
    this.expected = streamSequence;
    this.messages++;
    this.streamSequence = streamSequence;
    this.acked = Math.max(this.acked, last);
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i]!;
      if (w.sequence <= this.acked) {
        w.resolve();
        this.waiters.splice(i, 1);
      } else i++;
    }
  }

  private fail(e: UnwindError): void {
    if (this.failure !== undefined) return;
    this.failure = e;
    this.queue.length = 0;
    for (const w of this.waiters.splice(0)) w.reject(e);
    this.o.onFailure(e);
  }
}

/** A message of the log as a standby reads it. */
export interface LogMessage {
  readonly streamSequence: number;
  readonly first: number;
  readonly last: number;
  readonly records: Buffer;
  /** The leader's epoch and digest, when the message ends with an EpochEnd. */
  readonly digest: { readonly epoch: number; readonly hex: string } | undefined;
}

export function logMessage(streamSequence: number, data: Uint8Array, h: MsgHdrs | undefined): LogMessage {
  const first = Number(h?.get(H_FIRST));
  const last = Number(h?.get(H_LAST));
  if (!(Number.isInteger(first) && Number.isInteger(last) && first >= 1 && last >= first)) {
    throw new UnwindError(ErrorCode.JournalCorrupt, `input log message ${streamSequence} has no valid ${H_FIRST}/${H_LAST} headers`);
  }
  const epoch = h?.get(H_EPOCH);
  const hex = h?.get(H_DIGEST);
  return {
    streamSequence,
    first,
    last,
    records: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    digest: epoch && hex ? { epoch: Number(epoch), hex } : undefined,
  };
}

export function fromJsMsg(m: JsMsg): LogMessage {
  return logMessage(m.seq, m.data, m.headers);
}

/** The stream's last sequence (0: empty). */
export async function lastStreamSequence(jsm: JetStreamManager, stream: string): Promise<number> {
  const info = await jsm.streams.info(stream);
  return info.state.last_seq;
}

/**
 * The stream sequence of the message holding journal sequence `sequence`, or the stream's last + 1 when none does
 * yet (binary search over the messages' headers: the log's journal sequences grow with its stream sequences).
 */
export async function findStreamSequence(jsm: JetStreamManager, stream: string, sequence: number): Promise<number> {
  const info = await jsm.streams.info(stream);
  let lo = info.state.first_seq;
  let hi = info.state.last_seq;
  if (info.state.messages === 0) return hi + 1;
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    const m = await jsm.streams.getMessage(stream, { seq: mid });
    const lm = logMessage(mid, m.data, m.header);
    if (lm.last < sequence) lo = mid + 1;
    else if (lm.first > sequence) hi = mid - 1;
    else return mid;
  }
  return lo;
}

/** Records of `m` after journal sequence `through` (a standby that has some of them already): a sub-buffer. */
export function recordsAfter(m: LogMessage, through: number): { bytes: Buffer; first: number } | undefined {
  if (m.last <= through) return undefined;
  if (m.first > through) return { bytes: m.records, first: m.first };
  let at = 0;
  while (at < m.records.byteLength) {
    const length = m.records.readUInt32LE(at);
    const sequence = m.records.readDoubleLE(at + 8);
    const kind = m.records.readUInt32LE(at + 16);
    const rows = m.records.readUInt32LE(at + 20);
    const last = kind === RecordKind.Batch ? sequence + rows - 1 : sequence;
    if (sequence > through) return { bytes: m.records.subarray(at), first: sequence };
    if (last > through) throw new UnwindError(ErrorCode.JournalCorrupt, `journal sequence ${through} falls inside a batch of the log (${sequence}..${last})`);
    at += recordBytes(length);
  }
  return undefined;
}
