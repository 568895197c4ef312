/**
 * A frame's ticks as columns: the server's hot path decodes PriceTicks and SignedPriceTicks into one reused
 * TickBatchBuffer instead of an object per tick (a tick object, a price update and a staged closure each cost a
 * collection later).
 */
import type { TickBatch } from '../oracle/report.js';
import { SIGNATURE_BYTES, writeTickSigningBytes } from '../oracle/signing.js';

/** A TickBatch whose columns are typed arrays, reused across decodes (grown when a frame needs more rows). */
export class TickBatchBuffer implements TickBatch {
  /** Ticks held; rows [0, length) of every column are valid. */
  length = 0;
  /**
   * True when the rows came from a SignedPriceTicks frame: `signatures` then holds row i's signature at bytes
   * [64 i, 64 i + 64), not yet verified. False for PriceTicks (the signatures column is then stale).
   */
  signed = false;
  /** Market id of each row. */
  market!: Uint32Array;
  /** Source id of each row. */
  source!: Uint32Array;
  /** Price of each row, quote per base unit. */
  price!: Float64Array;
  /** Confidence half-width of each row, quote per base unit (0: not reported). */
  confidence!: Float64Array;
  /** Event time of each row, microseconds since the Unix epoch. */
  eventTimeUs!: Float64Array;
  /** Source sequence of each row. */
  sourceSequence!: Float64Array;
  /** SIGNATURE_BYTES per row. */
  signatures!: Uint8Array;

  constructor(capacity = 1024) {
    this.allocate(capacity);
  }

  /** Makes room for `n` rows (growing every column, contents not kept) and sets `length` to n. */
  reset(n: number): void {
    if (n > this.market.length) this.allocate(Math.max(n, 2 * this.market.length));
    this.length = n;
  }

  /** Row i's signature: a view of `signatures`, valid until the next decode into this batch. */
  signature(i: number): Uint8Array {
    return this.signatures.subarray(i * SIGNATURE_BYTES, (i + 1) * SIGNATURE_BYTES);
  }

  /** The message row i's source signed (src/oracle/signing.ts), written into `out` when given (at least 54 bytes). */
  signingBytes(i: number, out?: Uint8Array): Uint8Array {
    return writeTickSigningBytes(out, this.market[i], this.source[i], this.price[i], this.confidence[i], this.eventTimeUs[i], this.sourceSequence[i]);
  }

  /** A copy of rows [0, length) in a batch of its own (a frame that waits its turn outlives the reused buffer). */
  copy(): TickBatchBuffer {
    const n = this.length;
    const c = new TickBatchBuffer(Math.max(1, n));
    c.reset(n);
    c.signed = this.signed;
    c.market.set(this.market.subarray(0, n));
    c.source.set(this.source.subarray(0, n));
    c.price.set(this.price.subarray(0, n));
    c.confidence.set(this.confidence.subarray(0, n));
    c.eventTimeUs.set(this.eventTimeUs.subarray(0, n));
    c.sourceSequence.set(this.sourceSequence.subarray(0, n));
    if (this.signed) c.signatures.set(this.signatures.subarray(0, n * SIGNATURE_BYTES));
    return c;
  }

  private allocate(capacity: number): void {
    this.market = new Uint32Array(capacity);
    this.source = new Uint32Array(capacity);
    this.price = new Float64Array(capacity);
    this.confidence = new Float64Array(capacity);
    this.eventTimeUs = new Float64Array(capacity);
    this.sourceSequence = new Float64Array(capacity);
    this.signatures = new Uint8Array(capacity * SIGNATURE_BYTES);
  }
}
