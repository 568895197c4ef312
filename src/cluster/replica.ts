/**
 * Thread: main. A replica of a replicated engine (README "Replication"): every replica keeps its engine, its journal
 * and its snapshots, follows the input log on NATS JetStream (src/cluster/input-log.ts) through the same path as
 * replay, and exactly one, the holder of the lease (src/cluster/lease.ts), takes inputs and emits orders.
 *
 *   standby   reads the log from where its journal ends, applies each record (RecordApplier: inputs, epoch
 *             boundaries, the order count each epoch recorded), writes the records to its own journal as the leader
 *             wrote them, and compares its output digest with the leader's at every epoch end that the log carries
 *             one for (REPLICA_DIVERGED stops it). Its epochs' orders are kept, not sent.
 *   takeover  once it holds the lease: reads the log to its end, finishes the epoch the log began and did not end
 *             (and ends it in the log), then publishes the orders of the epochs it applied within the order stream's
 *             duplicate window (epochs the old leader published are dropped by JetStream), and only then leads.
 *   leader    its journal's writes go to the log too (LogAppender, fenced by the stream sequence it last saw), so an
 *             input is acknowledged and an epoch's orders leave only once a quorum has them; each epoch's orders go to
 *             the order stream as one message whose id is the epoch's, in epoch order. It renews the lease; when the lease lapses or the log
 *             refuses an append it stops at once (`onStop`): no input, no order after that.
 */
import { connect, headers, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import type { EngineConfig } from '../config.js';
import { ErrorCode, isUnwindError, UnwindError } from '../errors.js';
import type { LiquidationOrder } from '../clearing/orders.js';
import { readRecord, RecordKind, type JournalRecord } from '../journal/format.js';
import { fromJson, toJson } from '../journal/payload.js';
import type { JournalWriter } from '../journal/writer.js';
import type { EngineCore, EpochResult } from '../engine/core.js';
import { Engine } from '../engine/engine.js';
import { decisionConfig, type RecordApplier } from '../engine/recovery.js';
import { journalEpochEnd } from '../engine/records.js';
import { startCore } from '../engine/start.js';
import { resolveClusterConfig, type ClusterConfig, type ResolvedClusterConfig } from './config.js';
import { ensureStreams, findStreamSequence, fromJsMsg, lastStreamSequence, LogAppender, recordsAfter, type LogMessage } from './input-log.js';
import { Lease } from './lease.js';
import { OrderPublisher, orderStreamTail, type EpochOrders } from './order-stream.js';

/** Epochs with orders a standby keeps for a takeover (and at most the order stream's duplicate window of them). */
const KEPT_EPOCHS = 100_000;
import { reconcileJournal, writeLogMark } from './reconcile.js';
import { hasJournal, installNewestSnapshot, SnapshotPublisher, type InstalledSnapshot } from './snapshot-store.js';

/**
 * A replica's role: 'standby' follows the log (and catches up once it holds the lease), 'leader' takes inputs and emits
 * orders, 'stopped' is for good (`Replica.stopped` says why).
 */
export type Role = 'standby' | 'leader' | 'stopped';

/** What `Replica.start` takes. */
export interface ReplicaOptions {
  /** The engine's config; `journal.dir` is required (each replica keeps its own journal). */
  readonly engine: EngineConfig;
  /** Where the NATS cluster is, and this replica's and the deployment's names in it. */
  readonly cluster: ClusterConfig;
  /** Takes the replica's log lines (lease taken, caught up, leading, stopping). Default: console.error. */
  readonly log?: (line: string) => void;
  /** Called once this replica leads, after it has caught up and before it takes inputs: start the feed here. */
  readonly onLead?: (engine: Engine) => void | Promise<void>;
  /** Called once when this replica stops for good (lease lost, fenced, diverged, the log unreachable): exit then. */
  readonly onStop?: (e: UnwindError) => void;
}

/** A replica's counters (`Replica.stats()`). */
export interface ReplicaStats {
  /** The replica's role now. */
  readonly role: Role;
  /** Log messages applied (as a standby and at takeover), and the stream sequence of the last one. */
  readonly appliedMessages: number;
  /** The input log's stream sequence this replica has reached: the last message applied, or as leader appended. */
  readonly streamSequence: number;
  /** Messages this replica appended to the log as leader. */
  readonly appendedMessages: number;
  /** Orders published to the order stream by this replica (duplicates JetStream dropped included). */
  readonly publishedOrders: number;
  /** Epoch-end digests compared with the leader's. */
  readonly digestsCompared: number;
  /** The snapshot object this replica started from (it had no journal of its own), or undefined. */
  readonly snapshot: InstalledSnapshot | undefined;
  /** Snapshot objects this replica put as leader. */
  readonly snapshotsPut: number;
  /** Snapshot puts that failed (each logged). */
  readonly snapshotPutsFailed: number;
}

interface KeptOrders extends EpochOrders {
  readonly at: number;
}

/** One replica of a replicated engine (see the file's header); `Replica.start` joins the cluster as a standby. */
export class Replica {
  private state: Role = 'standby';
  private readonly kept: KeptOrders[] = [];
  private orderStream: OrderPublisher | undefined;
  private messages: ConsumerMessages | undefined;
  private following: Promise<void> = Promise.resolve();
  private appender: LogAppender | undefined;
  private timers: NodeJS.Timeout[] = [];
  private campaigning = false;
  /** The consumer has log messages this replica has not applied yet. */
  private behind = true;
  /** This replica holds the lease (taking over or leading). */
  private holding = false;
  private applied = 0;
  private streamSeq = 0;
  private compared = 0;
  private marked = 0;
  private stopError: UnwindError | undefined;
  private installed: InstalledSnapshot | undefined;
  private publisher: SnapshotPublisher | undefined;
  private readonly decisions: string;
  private readonly log: (line: string) => void;

  private constructor(
    /** This replica's engine: readable whatever the role; it takes inputs only while this replica leads. */
    readonly engine: Engine,
    private readonly core: EngineCore,
    private readonly writer: JournalWriter,
    private readonly applier: RecordApplier,
    private readonly c: ResolvedClusterConfig,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly lease: Lease,
    private readonly o: ReplicaOptions,
  ) {
    this.decisions = toJson(decisionConfig(o.engine));
    this.log = o.log ?? ((line) => console.error(line));
  }

  /** Starts the engine from its journal, joins the cluster as a standby, and campaigns for the lease. */
  static async start(o: ReplicaOptions): Promise<Replica> {
    const c = resolveClusterConfig(o.cluster);
    const log = o.log ?? ((line: string) => console.error(line));
    if (o.engine.journal === undefined) throw new UnwindError(ErrorCode.InvalidConfig, 'a replica keeps a journal: set journal.dir', 'journal');
    let nc: NatsConnection | undefined;
    let core: EngineCore | undefined;
    try {
      // A replica started before NATS is up waits for it (as a supervisor would restart it until it is).
      nc = await connect({ servers: [...c.servers], name: `unwind-${c.name}-${c.node}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5_000, waitOnFirstConnect: true });
      const js = nc.jetstream();
      const jsm = await nc.jetstreamManager({ checkAPI: false });
      // A cluster just started elects its JetStream leaders first: retried for 30 s.
      // determinism: how long the cluster takes to answer decides when a replica starts, not what it decides
      const until = performance.now() + 30_000;
      const lease = await retryWhile(
        async () => {
          await ensureStreams(jsm, c);
          return Lease.open(js, c);
        },
        () => performance.now() < until,
        250,
      );
      await reconcileJournal(o.engine.journal.dir, jsm, c, log);
      // No journal of its own (new, or set aside just now): the newest snapshot object, when there is a usable one.
      const installed =
        c.snapshots === undefined || hasJournal(o.engine.journal.dir)
          ? undefined
          : await installNewestSnapshot(js, jsm, c, o.engine.journal.dir, toJson(decisionConfig(o.engine)), log).catch((e: unknown) => {
              log(`unwind cluster ${c.name}: cannot read the snapshot objects (${e instanceof Error ? e.message : String(e)}); replaying the log from its start`);
              return undefined;
            });
      // The epochs recovery replays from the journal count as kept too: their orders may be what a takeover sends.
      const early: KeptOrders[] = [];
      const heard = (result: EpochResult): void => {
        // determinism: when a replica saw an epoch decides only whether its orders are sent at takeover, not what they are
        if (result.orders.length > 0) early.push({ at: performance.now(), epoch: result.epoch, orders: result.orders });
      };
      const started = await startCore({ ...o.engine, autoEpoch: o.engine.autoEpoch ?? true }, true, (c0) => c0.listeners.epoch.add(heard));
      core = started.core;
      const recovery = started.recovery;
      const r = new Replica(Engine.fromCore(core, recovery), core, recovery.mirror.writer, recovery.mirror.applier, c, nc, js, jsm, lease, o);
      r.installed = installed;
      if (installed !== undefined) r.marked = installed.journalSequence;
      core.refuseInputs(new UnwindError(ErrorCode.NotLeader, `${c.node} is a standby of ${c.name}: inputs go to the leader`));
      r.kept.push(...early.slice(-KEPT_EPOCHS));
      core.listeners.epoch.delete(heard);
      r.engine.onEpoch((result) => r.onEpoch(result.epoch, result.orders));
      await r.follow();
      r.every(Math.max(50, Math.floor(c.leaseMs / 6)), () => void r.campaign());
      r.every(100, () => r.markLog());
      return r;
    } catch (e) {
      await nc?.close().catch(() => {});
      await core?.close();
      throw isUnwindError(e) ? e : new UnwindError(ErrorCode.ReplicationFailed, `cannot join the cluster at ${c.servers.join(', ')}: ${e instanceof Error ? e.message : String(e)}`, 'cluster.servers');
    }
  }

  /** 'standby' until it leads (taking over included), then 'leader'; 'stopped' once it has stopped. */
  get role(): Role {
    return this.state;
  }

  /** The replica's counters now. */
  stats(): ReplicaStats {
    return {
      role: this.state,
      appliedMessages: this.applied,
      streamSequence: this.appender?.streamSequence ?? this.streamSeq,
      appendedMessages: this.appender?.messages ?? 0,
      publishedOrders: this.orderStream?.orders ?? 0,
      digestsCompared: this.compared,
      snapshot: this.installed,
      snapshotsPut: this.publisher?.put ?? 0,
      snapshotPutsFailed: this.publisher?.failed ?? 0,
    };
  }

  /** Stops: a leader gives the lease up (a standby can take over at once), then the engine and the connection close. */
  async close(): Promise<void> {
    if (this.state === 'leader') {
      // What this leader decided leaves before it steps down: the epoch in flight, then its orders.
      this.core.refuseInputs(new UnwindError(ErrorCode.NotLeader, `${this.c.node} is stepping down`));
      // No epoch of its own after this one (a follow-up for deferred or timed-out orders would be journaled after the
      // lease is given up, refused by the log, and leave this journal ahead of it): the next leader runs it.
      this.core.setReplaying(true);
      await this.engine.settled().catch(() => {});
      // determinism: a turn for a follow-up epoch already scheduled to start, which is journaled and in the log like any
      await new Promise((resolve) => setImmediate(resolve));
      await this.engine.settled().catch(() => {});
      await this.orderStream?.drained();
    }
    if (this.state !== 'stopped') this.markLog();
    if (this.holding) await this.lease.release();
    this.halt(new UnwindError(ErrorCode.NotLeader, 'the replica was closed'), false);
    await this.following.catch(() => {});
    await this.engine.close().catch(() => {});
    // A snapshot being put is finished (or fails) before the connection closes: no half-kept objects.
    await this.publisher?.settled();
    await this.nc.close().catch(() => {});
  }

  /** Writes the log mark (src/cluster/reconcile.ts) when the log holds more of this replica's journal than it says. */
  private markLog(): void {
    const kept = this.appender !== undefined ? this.appender.keptThrough : this.state === 'standby' ? this.writer.lastSequence : 0;
    if (kept <= this.marked) return;
    try {
      writeLogMark(this.writer.config.dir, kept);
      this.marked = kept;
    } catch {
      // the next tick tries again; a stale mark only makes a restart check more records
    }
  }

  // ---- standby ----

  /** Reads the log from the message holding the journal's next record, applying each message in order. */
  private async follow(): Promise<void> {
    const from = await findStreamSequence(this.jsm, this.c.logStream, this.writer.lastSequence + 1);
    // Everything before `from` is in the journal already.
    this.streamSeq = from - 1;
    this.behind = from <= (await lastStreamSequence(this.jsm, this.c.logStream));
    const consumer = await this.js.consumers.get(this.c.logStream, { opt_start_seq: from });
    const messages = await consumer.consume({ max_messages: 256 });
    this.messages = messages;
    this.following = (async () => {
      for await (const m of messages) {
        if (this.state === 'stopped') break;
        try {
          await this.apply(fromJsMsg(m));
          this.behind = m.info.pending > 0;
        } catch (e) {
          this.halt(isUnwindError(e) ? e : new UnwindError(ErrorCode.JournalCorrupt, `applying input log message ${m.seq}: ${e instanceof Error ? e.message : String(e)}`));
          break;
        }
      }
    })();
  }

  /** One log message: its records into the engine (those after the journal's last), then into the journal. */
  private async apply(m: LogMessage): Promise<void> {
    this.streamSeq = m.streamSequence;
    const part = recordsAfter(m, this.writer.lastSequence);
    if (part === undefined) return;
    const bytes = part.bytes;
    for (let at = 0; at < bytes.byteLength; ) {
      const r = readRecord(bytes, at, bytes.byteLength, 0);
      if (r.status !== 'ok') throw new UnwindError(ErrorCode.JournalCorrupt, `input log message ${m.streamSequence}: ${r.status === 'bad' ? r.why : 'a record is cut short'}`);
      if (r.record.kind === RecordKind.Batch) {
        const p = r.record.payload;
        for (let q = 0; q < p.byteLength; ) {
          const inner = readRecord(p, q, p.byteLength, 0);
          if (inner.status !== 'ok') throw new UnwindError(ErrorCode.JournalCorrupt, `input log message ${m.streamSequence}: a batch's record is damaged`);
          await this.applyRecord(inner.record);
          q = inner.next;
        }
      } else {
        await this.applyRecord(r.record);
      }
      at = r.next;
    }
    this.writer.appendRecords(bytes, part.first, m.last);
    this.applied++;
    if (m.digest !== undefined) {
      const mine = { epoch: this.core.epochs, hex: this.core.digest.hex() };
      this.compared++;
      if (mine.epoch !== m.digest.epoch || mine.hex !== m.digest.hex) {
        throw new UnwindError(
          ErrorCode.ReplicaDiverged,
          `at stream sequence ${m.streamSequence} the leader's output digest after epoch ${m.digest.epoch} is ${m.digest.hex}; this replica's after epoch ${mine.epoch} is ${mine.hex}`,
        );
      }
    }
  }

  private async applyRecord(r: JournalRecord): Promise<void> {
    if (r.kind === RecordKind.Config) {
      const recorded = toJson(fromJson(r.payload.toString('utf8')));
      if (recorded !== this.decisions) {
        throw new UnwindError(ErrorCode.JournalMismatch, `the input log was written under another engine config than this replica's: replaying it would decide differently`, 'engine');
      }
      return;
    }
    const ended = this.applier.apply(r);
    if (ended !== undefined) await ended;
  }

  /** An epoch's orders: kept by a standby, queued for the order stream by the leader. */
  private onEpoch(epoch: number, orders: readonly LiquidationOrder[]): void {
    this.publisher?.epochEnded();
    if (orders.length === 0) return;
    if (this.state === 'standby') {
      // determinism: when a standby saw an epoch decides only whether its orders are re-published at takeover, not what they are
      const now = performance.now();
      this.kept.push({ at: now, epoch, orders });
      // Enough to cover any leader's backlog; older epochs' orders are in the stream or were never to be sent.
      const horizon = now - this.c.duplicateWindowMs;
      let drop = Math.max(0, this.kept.length - KEPT_EPOCHS);
      while (drop < this.kept.length && this.kept[drop]!.at < horizon) drop++;
      if (drop > 0) this.kept.splice(0, drop);
      return;
    }
    if (this.state !== 'leader') return;
    if (!this.lease.valid) {
      this.halt(new UnwindError(ErrorCode.NotLeader, `the lease lapsed before the orders of epoch ${epoch} could leave: they are not sent`));
      return;
    }
    this.orderStream!.publish([{ epoch, orders }]);
  }

  // ---- takeover and leading ----

  private async campaign(): Promise<void> {
    // A replica still reading the log's backlog does not ask: it would hold the lease while it catches up.
    if (this.state !== 'standby' || this.campaigning || this.behind) return;
    this.campaigning = true;
    try {
      if (!(await this.lease.acquire())) {
        if (process.env.UNWIND_CLUSTER_DEBUG) this.log(`unwind cluster ${this.c.name}: ${this.c.node} did not get the lease: ${this.lease.lastRefusal}`);
        return;
      }
      if (this.state !== 'standby') return;
      // Held from now on: renewed while catching up too.
      this.holding = true;
      this.every(Math.max(50, Math.floor(this.c.leaseMs / 5)), () => void this.renew());
      await this.takeOver();
    } catch (e) {
      this.halt(isUnwindError(e) ? e : new UnwindError(ErrorCode.ReplicationFailed, `taking over failed: ${e instanceof Error ? e.message : String(e)}`));
    } finally {
      this.campaigning = false;
    }
  }

  private async takeOver(): Promise<void> {
    // Everything the log holds first: the old leader appended nothing after its lease lapsed.
    const end = await retryWhile(() => lastStreamSequence(this.jsm, this.c.logStream), () => this.lease.valid);
    this.log(`unwind cluster ${this.c.name}: ${this.c.node} holds the lease; catching up from stream sequence ${this.streamSeq} to ${end}`);
    while (this.streamSeq < end && this.state === 'standby') {
      if (!this.lease.valid) throw new UnwindError(ErrorCode.NotLeader, 'the lease lapsed while catching up with the log');
      // determinism: how long catching up takes decides when this replica leads, not what it decides
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    if (this.state !== 'standby') return;
    this.messages?.stop();
    await this.following;
    this.log(`unwind cluster ${this.c.name}: ${this.c.node} caught up (stream sequence ${this.streamSeq}, journal ${this.writer.lastSequence}${this.applier.inFlight === undefined ? '' : ', an epoch open'})`);
    if (!this.lease.valid) throw new UnwindError(ErrorCode.NotLeader, 'the lease lapsed while catching up with the log');
    const writer = this.writer;
    const core = this.core;
    this.appender = new LogAppender(
      this.js,
      this.jsm,
      this.c.logSubject,
      {
        node: this.c.node,
        stream: this.c.logStream,
        lastStreamSequence: this.streamSeq,
        digest: () => ({ epoch: core.epochs, hex: core.digest.hex() }),
        leading: () => this.lease.valid,
        onFailure: (e) => this.halt(e),
      },
      writer.lastSequence,
    );
    writer.sink = this.appender;
    if (writer.lastSequence === 0) writer.appendJson(RecordKind.Config, fromJson(this.decisions));
    // The epoch the log began and did not end ran here already: its end goes into the log now.
    const open = this.applier.inFlight;
    if (open !== undefined) {
      this.applier.inFlight = undefined;
      const result = await open;
      journalEpochEnd(writer, result.epoch, result.orders.length);
    }
    core.attachJournal(writer, undefined);
    await writer.durable();
    // Orders of the epochs applied here that the old leader did not send: those after the stream's last epoch.
    const tail = await retryWhile(() => orderStreamTail(this.jsm, this.c.orderStream), () => this.lease.valid);
    if (this.state !== 'standby') return;
    this.state = 'leader';
    core.refuseInputs(undefined);
    this.log(`unwind cluster ${this.c.name}: ${this.c.node} leads from stream sequence ${this.streamSeq} (journal ${writer.lastSequence}, epoch ${core.epochs})`);
    this.orderStream = new OrderPublisher(
      this.js,
      this.jsm,
      { stream: this.c.orderStream, subject: this.c.orderSubject, node: this.c.node, term: this.lease.term, leading: () => this.lease.valid, onFailure: (e) => this.halt(e) },
      tail,
    );
    const kept = this.kept.splice(0);
    if (kept.length > 0 && kept[0]!.epoch > tail.epoch + 1) {
      this.log(`unwind cluster ${this.c.name}: ${this.c.node} holds no orders of epochs ${tail.epoch + 1}..${kept[0]!.epoch - 1} (older than it kept); the stream has none of them`);
    }
    this.orderStream.publish(kept);
    if (this.c.snapshots !== undefined) {
      this.publisher = new SnapshotPublisher(this.js, this.jsm, { c: this.c, core, appender: this.appender, orders: this.orderStream, leading: () => this.state === 'leader' && this.lease.valid, log: this.log });
    }
    core.setReplaying(false);
    await this.o.onLead?.(this.engine);
  }

  private async renew(): Promise<void> {
    if (!this.holding || this.state === 'stopped') return;
    const r = await this.lease.renew();
    if (r === 'lost') this.halt(new UnwindError(ErrorCode.NotLeader, 'the lease was lost: another replica holds it'));
    else if (!this.lease.valid) this.halt(new UnwindError(ErrorCode.NotLeader, 'the lease lapsed: no renewal got through in time'));
  }

  private every(ms: number, f: () => void): void {
    // determinism: the lease's timers decide who leads, never what any replica decides
    this.timers.push(setInterval(f, ms));
  }

  /** Stops for good: no input is taken and no order leaves from here on. */
  private halt(e: UnwindError, report = true): void {
    if (this.state === 'stopped') return;
    const was = this.state;
    this.state = 'stopped';
    this.stopError = e;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.messages?.stop();
    this.publisher?.stop();
    this.core.refuseInputs(e);
    if (was === 'leader' && report) this.writer.halt(`${e.code}: ${e.message}`);
    if (report) {
      this.log(`unwind cluster ${this.c.name}: ${this.c.node} stops (${was}): ${e.code}: ${e.message}`);
      this.o.onStop?.(e);
    }
  }

  /** Why this replica stopped, once it has. */
  get stopped(): UnwindError | undefined {
    return this.stopError;
  }
}

/** Retries `f` every `everyMs` while `go()` holds; then its last error. */
async function retryWhile<T>(f: () => Promise<T>, go: () => boolean, everyMs = 100): Promise<T> {
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (!go()) throw e;
      // determinism: how long the cluster takes to answer decides when a replica starts or leads, not what it decides
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}
