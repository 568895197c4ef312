/**
 * A frame's ticks as columns: the server's hot path decodes PriceTicks into one reused TickBatch instead of an
 * object per tick (a tick object, a price update and a staged closure each cost a collection later).
 */
export class TickBatch {
  /** Ticks held; rows [0, length) of every column are valid. */
  length = 0;
  market!: Uint32Array;
  source!: Uint32Array;
  price!: Float64Array;
  confidence!: Float64Array;
  eventTimeUs!: Float64Array;
  sourceSequence!: Float64Array;

  constructor(capacity = 1024) {
    this.allocate(capacity);
  }

  /** Makes room for `n` rows (growing every column, contents not kept) and sets `length` to n. */
  reset(n: number): void {
    if (n > this.market.length) this.allocate(Math.max(n, 2 * this.market.length));
    this.length = n;
  }

  private allocate(capacity: number): void {
    this.market = new Uint32Array(capacity);
    this.source = new Uint32Array(capacity);
    this.price = new Float64Array(capacity);
    this.confidence = new Float64Array(capacity);
    this.eventTimeUs = new Float64Array(capacity);
    this.sourceSequence = new Float64Array(capacity);
  }
}
