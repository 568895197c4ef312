/**
 * Thread: main. Ed25519 verification of signed reports on worker threads (workers/verify.worker.ts), so that the
 * main thread's ingest is not bound by it (about 80 us a report with node:crypto, 12,000 a second on one core).
 *
 *   main thread                                             verify workers (N, node:worker_threads)
 *   -----------                                             ----------------------------------------
 *   submit(batch): a key index, the 54 signed bytes and
 *   the signature of each row, packed into jobs of at
 *   most JOB_ROWS rows -------- postMessage (transfer) ---->  verify each row (node:crypto, as inline)
 *   verdicts copied into the batch's Pending  <------------  postMessage the job back (transfer)
 *   all rows in: seal(batch, registry, verdicts), then
 *   whenReady() (the intake lands it in its turn)
 *
 * Jobs coalesce: a job is posted at once when a worker has room (at most MAX_JOBS_PER_WORKER in flight each), else
 * rows gather in the open job until one has, so a stream of one-report frames becomes jobs of many rows under load.
 *
 * What it decides: nothing. A verdict is a function of the registered key, the signed bytes and the signature; a
 * row it cannot check (no key, a signature not 64 bytes, a worker lost) is left VERDICT_UNCHECKED and the oracle
 * layer verifies it inline, as before. So the outcome of a check never depends on timing or on the workers.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  JOB_ROWS,
  jobLayout,
  jobViews,
  MESSAGE_BYTES,
  PUBLIC_KEY_BYTES,
  VERDICT_UNCHECKED,
  type JobRequest,
  type JobResult,
  type VerifyWorkerData,
} from '../concurrency/verify-batch.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { rawPublicKeyBase64 } from './keys.js';
import type { ResolvedOracleConfig } from './oracle.js';
import { SIGNATURE_BYTES, type TickBatch } from './report.js';
import { writeTickSigningBytesAt } from './signing.js';
import { seal } from './verdicts.js';

/** Jobs a worker holds at once: one being verified, one waiting, so it never idles for a round trip. */
const MAX_JOBS_PER_WORKER = 2;

/** How a SignatureVerifier runs. */
export interface VerifierOptions {
  /** Worker threads, >= 1. */
  readonly workers: number;
}

/** A verifier's counters since start (`verifier.stats()`). */
export interface VerifierStats {
  /** Worker threads alive. */
  readonly workers: number;
  /** Jobs posted to the workers, and the rows they verified. */
  readonly jobs: number;
  /** Rows the workers verified. */
  readonly rowsVerified: number;
  /** Rows left to the main thread (no key, a malformed signature, a worker lost). */
  readonly rowsUnchecked: number;
  /** Workers that failed or exited early (their jobs' rows were left unchecked). */
  readonly workersLost: number;
}

/** One batch's verdicts as they come in. `ready` once every row has one; `batch` is then sealed. */
export class Pending {
  /** One verdict per row of `batch` (VERDICT_UNCHECKED until its worker answers). */
  readonly verdicts: Uint8Array;
  /** Rows still at a worker. */
  left = 0;
  /** True once every row has its verdict and `batch` is sealed. */
  ready = false;

  constructor(
    /** The batch whose rows are verified. */
    readonly batch: TickBatch,
    private readonly whenReady: () => void,
  ) {
    this.verdicts = new Uint8Array(batch.length).fill(VERDICT_UNCHECKED);
  }

  /** @internal the verifier's: every row has its verdict. `notify`: call whenReady (not while submit() runs). */
  complete(registry: object, notify: boolean): void {
    if (this.ready) return;
    this.ready = true;
    seal(this.batch, registry, this.verdicts);
    if (notify) this.whenReady();
  }
}

/** Rows of a Pending that sit in one job: job rows [at, at + count) are the batch's rows [from, from + count). */
interface Segment {
  readonly pending: Pending;
  readonly from: number;
  readonly at: number;
  count: number;
}

interface Job {
  readonly id: number;
  buffer: ArrayBuffer;
  views: ReturnType<typeof jobViews>;
  /** The messages region as a DataView (the signed bytes are written through it). */
  messageView: DataView;
  rows: number;
  readonly segments: Segment[];
}

interface Slot {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
  alive: boolean;
}

/**
 * The compiled worker entry. From dist/src/oracle/*.js it is dist/workers/verify.worker.js; from TypeScript source
 * (under vitest) the compiled one in dist is used: `npm test` builds first. (As src/engine/backends.ts's
 * workerFile, which this floor may not import.)
 */
function workerEntry(): string {
  const fromHere = import.meta.url.endsWith('.ts') ? '../../dist/workers/verify.worker.js' : '../../workers/verify.worker.js';
  const path = fileURLToPath(new URL(fromHere, import.meta.url));
  if (!existsSync(path)) throw new Error(`worker entry ${path} is missing: run \`npm run build\``);
  return path;
}

/** Ed25519 verification of signed reports on worker threads (this file's header); decides nothing itself. */
export class SignatureVerifier {
  /** Key index of each (market, source) with a registered key. */
  private readonly keyIndex = new Map<number, Map<number, number>>();
  private readonly slots: Slot[] = [];
  /** Jobs full and not yet posted, oldest first; then the open one, which rows join. */
  private readonly queued: Job[] = [];
  private open: Job | undefined;
  private readonly free: ArrayBuffer[] = [];
  private nextJob = 1;
  private closed = false;
  private counts = { jobs: 0, rowsVerified: 0, rowsUnchecked: 0, workersLost: 0 };
  /** Set while close() waits for the jobs in flight. */
  private drained: (() => void) | undefined;

  /**
   * Starts `options.workers` threads that verify under `registry`'s keys (the engine's own oracle config object:
   * `engine.oracleConfig`; verdicts count only for the registry they were found under).
   */
  constructor(
    /** The oracle registry whose keys it verifies under. */
    readonly registry: ResolvedOracleConfig,
    options: VerifierOptions,
  ) {
    const workers = options.workers;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
      throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer in [1, 64], got ${String(workers)}`, 'verifyWorkers');
    }
    const raw: Uint8Array[] = [];
    for (const m of registry.markets) {
      const bySource = new Map<number, number>();
      for (const s of m.sources) {
        if (s.key === undefined) continue;
        bySource.set(s.id, raw.length);
        raw.push(Buffer.from(rawPublicKeyBase64(s.key), 'base64'));
      }
      this.keyIndex.set(m.market, bySource);
    }
    const keys = new Uint8Array(raw.length * PUBLIC_KEY_BYTES);
    raw.forEach((k, i) => keys.set(k, i * PUBLIC_KEY_BYTES));
    const data: VerifyWorkerData = { keys };
    const entry = workerEntry();
    for (let w = 0; w < workers; w++) {
      const worker = new Worker(entry, { workerData: data });
      const slot: Slot = { worker, jobs: new Map(), alive: true };
      worker.on('message', (r: JobResult) => this.finished(slot, r));
      worker.on('error', () => this.lost(slot));
      worker.on('exit', () => this.lost(slot));
      // Idle workers do not keep the process alive; one holding jobs does (ref() in post()).
      worker.unref();
      this.slots.push(slot);
    }
  }

  /** True when some (market, source) has a registered key: there is something to verify. */
  static hasKeys(registry: ResolvedOracleConfig): boolean {
    return registry.markets.some((m) => m.sources.some((s) => s.key !== undefined));
  }

  /**
   * Sends `batch`'s rows to the workers. The caller owns `batch` and must not change it until it has landed (the
   * verdicts are for the bytes read now). `whenReady` runs once every row has its verdict, the batch sealed; when no
   * row needs a worker, the Pending returned is ready already and `whenReady` is not called. `batch` must be well
   * formed (columns of at least `length` rows): the engine's own check refuses one that is not.
   */
  submit(batch: TickBatch, whenReady: () => void): Pending {
    const p = new Pending(batch, whenReady);
    const n = batch.length;
    const sigs = batch.signatures;
    const live = !this.closed && sigs instanceof Uint8Array && this.slots.some((s) => s.alive);
    let i = 0;
    while (live && i < n) {
      if (this.keyOf(batch, i) < 0) {
        i++;
        continue;
      }
      i = this.pack(p, i);
    }
    this.counts.rowsUnchecked += n - p.left;
    if (p.left === 0) p.complete(this.registry, false);
    else this.pump();
    return p;
  }

  /** Its counters now. */
  stats(): VerifierStats {
    return { workers: this.slots.filter((s) => s.alive).length, ...this.counts };
  }

  /** Waits for the jobs in flight (their batches complete), then stops the workers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Nothing more is posted; what is queued completes unchecked (verified inline when it lands).
    for (const job of this.queued.splice(0)) this.abandon(job);
    if (this.open !== undefined) this.abandon(this.open);
    this.open = undefined;
    if (this.slots.some((s) => s.jobs.size > 0)) await new Promise<void>((r) => (this.drained = r));
    await Promise.all(
      this.slots.map((s) => {
        s.alive = false;
        return s.worker.terminate();
      }),
    );
  }

  /** close(): every job in flight has come back (or its worker was lost). */
  private checkDrained(): void {
    if (this.drained !== undefined && this.slots.every((s) => s.jobs.size === 0)) {
      this.drained();
      this.drained = undefined;
    }
  }

  // ---- jobs ----

  /**
   * Row i's key index, or -1 when no worker can check it: no key, a signature short of 64 bytes, or a field the
   * engine refuses before the signature (not a number) and that the signed bytes could not be written from.
   */
  private keyOf(b: TickBatch, i: number): number {
    const key = this.keyIndex.get(b.market[i]!)?.get(b.source[i]!);
    if (key === undefined || b.signatures!.length < (i + 1) * SIGNATURE_BYTES) return -1;
    const numbers = typeof b.price[i] === 'number' && typeof b.confidence[i] === 'number' && typeof b.eventTimeUs[i] === 'number' && typeof b.sourceSequence[i] === 'number';
    return numbers ? key : -1;
  }

  /** Packs the run of checkable rows from `from` into the open job, as far as it has room; returns the row after the run. */
  private pack(p: Pending, from: number): number {
    let job = this.open;
    if (job === undefined || job.rows === JOB_ROWS) {
      if (job !== undefined) this.queued.push(job);
      job = this.open = this.newJob();
    }
    const b = p.batch;
    const at = job.rows;
    const end = Math.min(b.length, from + JOB_ROWS - at);
    let row = from;
    for (let key = this.keyOf(b, row); key >= 0; key = row < end ? this.keyOf(b, row) : -1) {
      const k = at + (row - from);
      job.views.keys[k] = key;
      writeTickSigningBytesAt(job.views.messages, job.messageView, k * MESSAGE_BYTES, b.market[row]!, b.source[row]!, b.price[row]!, b.confidence[row]!, b.eventTimeUs[row]!, b.sourceSequence[row]!);
      row++;
    }
    const count = row - from;
    // One copy for the run's signatures.
    job.views.signatures.set(b.signatures!.subarray(from * SIGNATURE_BYTES, row * SIGNATURE_BYTES), at * SIGNATURE_BYTES);
    job.segments.push({ pending: p, from, at, count });
    job.rows += count;
    p.left += count;
    return row;
  }

  private newJob(): Job {
    const buffer = this.free.pop() ?? new ArrayBuffer(jobLayout(JOB_ROWS).bytes);
    const views = jobViews(buffer, JOB_ROWS);
    return { id: this.nextJob++, buffer, views, messageView: new DataView(buffer, views.messages.byteOffset, views.messages.byteLength), rows: 0, segments: [] };
  }

  /** Posts jobs while a worker has room: full ones first, then the open one (so an idle pool starts at once). */
  private pump(): void {
    for (;;) {
      let slot: Slot | undefined;
      for (const s of this.slots) if (s.alive && s.jobs.size < MAX_JOBS_PER_WORKER && (slot === undefined || s.jobs.size < slot.jobs.size)) slot = s;
      if (slot === undefined) return;
      let job = this.queued.shift();
      if (job === undefined && this.open !== undefined && this.open.rows > 0) {
        job = this.open;
        this.open = undefined;
      }
      if (job === undefined) return;
      this.post(slot, job);
    }
  }

  private post(slot: Slot, job: Job): void {
    slot.jobs.set(job.id, job);
    if (slot.jobs.size === 1) slot.worker.ref();
    this.counts.jobs++;
    const request: JobRequest = { id: job.id, rows: job.rows, buffer: job.buffer };
    // Publishes the job's rows to the worker (the buffer moves: this thread no longer reads or writes it).
    slot.worker.postMessage(request, [job.buffer]);
  }

  private finished(slot: Slot, r: JobResult): void {
    const job = slot.jobs.get(r.id);
    if (job === undefined) return;
    slot.jobs.delete(r.id);
    if (slot.jobs.size === 0) slot.worker.unref();
    this.counts.rowsVerified += job.rows;
    this.settle(job, jobViews(r.buffer, JOB_ROWS).verdicts);
    this.free.push(r.buffer);
    if (!this.closed) this.pump();
    this.checkDrained();
  }

  /** A worker failed or exited: its jobs' rows stay unchecked (verified inline when they land), the rest goes on. */
  private lost(slot: Slot): void {
    if (!slot.alive) return;
    slot.alive = false;
    if (!this.closed) this.counts.workersLost++;
    const jobs = [...slot.jobs.values()];
    slot.jobs.clear();
    for (const job of jobs) this.abandon(job);
    if (!this.slots.some((s) => s.alive)) {
      for (const job of this.queued.splice(0)) this.abandon(job);
      if (this.open !== undefined) this.abandon(this.open);
      this.open = undefined;
    } else if (!this.closed) this.pump();
    this.checkDrained();
  }

  private abandon(job: Job): void {
    this.counts.rowsUnchecked += job.rows;
    this.settle(job, undefined);
  }

  /** Hands a job's verdicts (undefined: none, the rows stay unchecked) to its batches; completes those with all rows in. */
  private settle(job: Job, verdicts: Uint8Array | undefined): void {
    const done: Pending[] = [];
    for (const s of job.segments) {
      if (verdicts !== undefined) s.pending.verdicts.set(verdicts.subarray(s.at, s.at + s.count), s.from);
      s.pending.left -= s.count;
      if (s.pending.left === 0) done.push(s.pending);
    }
    for (const p of done) p.complete(this.registry, true);
  }
}
