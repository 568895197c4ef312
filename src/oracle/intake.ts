/**
 * Thread: main. The inputs of a server (or an embedding application) in the order they arrived, with the
 * signed ones verified off the main thread (src/oracle/verifier.ts) before they land:
 *
 *   arrival:   A(signed)  b  C(signed)  d            (b, d: anything else: fills, books, subscribes, ...)
 *   verdicts:        C's in, then A's
 *   lands:     A b C d    (never C before A, never b before A: the input sequence is the arrival sequence)
 *
 * While nothing waits, an input lands at once, in the caller's stack, exactly as without the intake. Once a signed
 * batch waits for its verdicts, every later input waits behind it, from every owner (a connection), so the engine's
 * input sequence, and so the journal, never depends on how fast the workers were. Each input still goes through
 * the engine's one input path (check -> journal -> land) when its turn comes: a report is journaled only after its
 * verdict, and only if the engine took it (a BAD_SIGNATURE batch is refused there, with its code, changing nothing).
 * The journal keeps the signatures; replay verifies them again inline, with the same function, so it reaches the
 * same verdicts.
 *
 * Bounded: the bytes waiting (as the caller counts them: the frame's size on the wire) are limited per owner and in
 * all; an input beyond either is refused at once with BACKPRESSURE and changes nothing.
 */
import { ErrorCode, UnwindError } from '../errors.js';
import { requireColumns } from '../validate.js';
import { SIGNATURE_BYTES, type Tick, type TickBatch, tickBatchOf } from './report.js';
import { SignatureVerifier, type Pending } from './verifier.js';
import type { ResolvedOracleConfig } from './oracle.js';

/** How many bytes of inputs may wait for their verdicts before BACKPRESSURE. */
export interface IntakeLimits {
  /** Bytes waiting over all owners. */
  readonly maxBytes: number;
  /** Bytes waiting for one owner. */
  readonly maxBytesPerOwner: number;
}

/** What the promise API needs of the engine (the Engine: its oracle registry and its tick input). */
export interface IntakeTarget {
  /** The registry reports are verified under (`engine.oracleConfig`). */
  readonly oracleConfig: ResolvedOracleConfig;
  /** Takes a batch whose verdicts are in (`engine.pushTicks`). */
  pushTicks(batch: TickBatch): void;
}

/** The intake's counters (`intake.stats()`). */
export interface IntakeStats {
  /** Inputs and bytes waiting now. */
  readonly waiting: number;
  /** Bytes waiting now. */
  readonly bytes: number;
  /** Inputs that waited their turn, and those refused with BACKPRESSURE. */
  readonly queued: number;
  /** Inputs refused with BACKPRESSURE. */
  readonly refused: number;
}

/** A report's weight when no wire size is given: its Tick struct and its signature. */
export const BYTES_PER_SIGNED_TICK = 40 + SIGNATURE_BYTES;

const TICK_COLUMNS = ['market', 'source', 'price', 'confidence', 'eventTimeUs', 'sourceSequence'] as const;

interface Item {
  readonly owner: unknown;
  readonly bytes: number;
  /** The verdicts it waits for; none: it waits only for its turn. */
  readonly pending: Pending | undefined;
  readonly land: () => void;
}

/** Inputs in arrival order, signed ones verified on worker threads before they land (this file's header). */
export class VerifyingIntake {
  /** Inputs waiting, oldest at `head`. */
  private items: (Item | undefined)[] = [];
  private head = 0;
  private bytes = 0;
  private readonly bytesOf = new Map<unknown, number>();
  private draining = false;
  private idle: (() => void)[] = [];
  private counts = { queued: 0, refused: 0 };

  constructor(
    /** The verifier whose workers check the signatures. */
    readonly verifier: SignatureVerifier,
    /** The bytes that may wait, per owner and in all. */
    readonly limits: IntakeLimits,
  ) {
    if (!(limits.maxBytesPerOwner > 0 && limits.maxBytes >= limits.maxBytesPerOwner)) {
      throw new UnwindError(ErrorCode.InvalidConfig, `expected 0 < maxBytesPerOwner <= maxBytes, got ${limits.maxBytesPerOwner} and ${limits.maxBytes}`, 'limits');
    }
  }

  /** Inputs waiting (0: the next one lands at once). */
  get waiting(): number {
    return this.items.length - this.head;
  }

  /**
   * Runs `land` in its turn: at once when nothing waits (what it throws reaches the caller), else after every input
   * that came before. `land` must not throw once queued: it handles its own rejection (the server sends an
   * ErrorFrame). Throws BACKPRESSURE, nothing queued, beyond the limits.
   */
  inTurn(owner: unknown, bytes: number, land: () => void): void {
    if (this.waiting === 0) return land();
    this.admit(owner, bytes);
    this.items.push({ owner, bytes, pending: undefined, land });
    this.counts.queued++;
  }

  /**
   * Verifies the signed `batch` on the workers, then runs `land(batch)` in its turn, the batch sealed with its
   * verdicts. The caller gives up `batch` (a copy of its own: nothing may change it until it lands). Throws
   * BACKPRESSURE, nothing queued, beyond the limits.
   */
  verifyThen<B extends TickBatch>(owner: unknown, bytes: number, batch: B, land: (batch: B) => void): void {
    this.admit(owner, bytes);
    const item: { -readonly [K in keyof Item]: Item[K] } = { owner, bytes, pending: undefined, land: () => land(batch) };
    // Queued first: a batch whose rows need no worker is ready on return, and lands in the drain below.
    this.items.push(item);
    this.counts.queued++;
    item.pending = this.verifier.submit(batch, () => this.drain());
    this.drain();
  }

  /**
   * The embedding API: a tick batch (signed or not) through the intake into `target` (the Engine). Resolves once it
   * has landed, or rejects with the engine's UnwindError (BAD_SIGNATURE, REPLAYED_REPORT, ...) or BACKPRESSURE. The
   * batch is copied: the caller may reuse it at once.
   */
  pushTicks(target: IntakeTarget, batch: TickBatch, owner: unknown = target): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const land = (b: TickBatch): void => {
        try {
          target.pushTicks(b);
          resolve();
        } catch (e) {
          reject(e);
        }
      };
      try {
        // A malformed batch is refused at once with the engine's code (the shape is no state: nothing to order).
        const n = wellFormed(batch) ? batch.length : requireColumns(batch, TICK_COLUMNS, 'batch');
        const copy = copyTickBatch(batch, n);
        const bytes = Math.max(1, n * BYTES_PER_SIGNED_TICK);
        // Verdicts count only under the engine's own registry; anything the verifier cannot use lands as it is.
        if (copy.signed === true && copy.signatures instanceof Uint8Array && target.oracleConfig === this.verifier.registry) this.verifyThen(owner, bytes, copy, land);
        else this.inTurn(owner, bytes, () => land(copy));
      } catch (e) {
        reject(e);
      }
    });
  }

  /** As pushTicks, from report objects and their signatures (64 bytes each, in order), as Engine.pushReports takes them. */
  pushReports(target: IntakeTarget, reports: readonly Tick[], signatures?: Uint8Array, owner: unknown = target): Promise<void> {
    return this.pushTicks(target, tickBatchOf(reports, signatures), owner);
  }

  /** Resolves once nothing waits (every input queued so far has landed or been refused at landing). */
  settled(): Promise<void> {
    if (this.waiting === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /** The counters now. */
  stats(): IntakeStats {
    return { waiting: this.waiting, bytes: this.bytes, ...this.counts };
  }

  /** Lets what waits land (its verifications finish), then stops the verifier's workers. */
  async close(): Promise<void> {
    await this.settled();
    await this.verifier.close();
  }

  private admit(owner: unknown, bytes: number): void {
    const mine = this.bytesOf.get(owner) ?? 0;
    const { maxBytes, maxBytesPerOwner } = this.limits;
    let why: string | undefined;
    if (mine + bytes > maxBytesPerOwner) why = `${mine} bytes of this sender's inputs wait for signature verification; ${bytes} more would pass the limit of ${maxBytesPerOwner}`;
    else if (this.bytes + bytes > maxBytes) why = `${this.bytes} bytes of inputs wait for signature verification; ${bytes} more would pass the limit of ${maxBytes}`;
    if (why !== undefined) {
      this.counts.refused++;
      throw new UnwindError(ErrorCode.Backpressure, `${why}: resend once earlier inputs have landed (acks)`);
    }
    this.bytes += bytes;
    this.bytesOf.set(owner, mine + bytes);
  }

  private release(item: Item): void {
    this.bytes -= item.bytes;
    const left = this.bytesOf.get(item.owner)! - item.bytes;
    if (left === 0) this.bytesOf.delete(item.owner);
    else this.bytesOf.set(item.owner, left);
  }

  /** Lands the inputs at the head whose verdicts are in, in order, up to the first still at a worker. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    let failure: { error: unknown } | undefined;
    try {
      while (this.head < this.items.length) {
        const item = this.items[this.head]!;
        if (item.pending !== undefined && !item.pending.ready) break;
        this.items[this.head++] = undefined;
        this.release(item);
        try {
          item.land();
        } catch (e) {
          // A land that throws is a bug of its caller (it handles rejections); the others still land in turn.
          failure ??= { error: e };
        }
      }
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
    } finally {
      this.draining = false;
    }
    if (this.waiting === 0 && this.idle.length > 0) for (const r of this.idle.splice(0)) r();
    if (failure !== undefined) throw failure.error;
  }
}

/** The common case of requireColumns, without building its message: every column an array or typed array of `length` rows at least. */
function wellFormed(b: TickBatch): boolean {
  if (b === null || typeof b !== 'object' || !Number.isSafeInteger(b.length) || b.length < 0) return false;
  for (const name of TICK_COLUMNS) {
    const c = b[name];
    if (!(Array.isArray(c) || ArrayBuffer.isView(c)) || c.length < b.length) return false;
  }
  return true;
}

/** A copy of rows [0, n) of `b` (columns as given: typed arrays stay typed, values are not converted). */
export function copyTickBatch(b: TickBatch, n = b.length): TickBatch {
  const col = <T>(c: ArrayLike<T>): ArrayLike<T> =>
    ArrayBuffer.isView(c) || Array.isArray(c) ? (c as unknown as { slice(a: number, z: number): ArrayLike<T> }).slice(0, n) : Array.from({ length: n }, (_, i) => c[i]!);
  const signatures = b.signatures instanceof Uint8Array ? b.signatures.slice(0, n * SIGNATURE_BYTES) : b.signatures;
  return {
    length: n,
    market: col(b.market),
    source: col(b.source),
    price: col(b.price),
    confidence: col(b.confidence),
    eventTimeUs: col(b.eventTimeUs),
    sourceSequence: col(b.sourceSequence),
    signed: b.signed,
    signatures,
  };
}
