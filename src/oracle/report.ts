/**
 * A tick (one price from one source, the wire's Tick struct), ticks as columns (TickBatch), and the bytes a tick's
 * Ed25519 signature covers (src/oracle/signing.ts, schemas/README.md "Signed ticks"), browser-safe, so a publisher
 * in any runtime builds the same 54 bytes. The oracle owns these; the feed imports them.
 */
import { SIGNATURE_BYTES, tickSigningBytes, TICK_SIGNING_BYTES, writeTickSigningBytes, type SignedFields } from './signing.js';

export { SIGNATURE_BYTES, TICK_SIGNING_BYTES, tickSigningBytes, writeTickSigningBytes };

/** One source's observation of one market; its source sequence strictly increases per (source, market). */
export type Tick = SignedFields;

/** Ticks as columns (the feed decodes into a TickBatchBuffer, src/feed/tick-batch.ts): rows [0, length). */
export interface TickBatch {
  /** Rows: [0, length) of every column. */
  readonly length: number;
  /** Market id of each row. */
  readonly market: ArrayLike<number>;
  /** Source id of each row. */
  readonly source: ArrayLike<number>;
  /** Price of each row, quote per base unit. */
  readonly price: ArrayLike<number>;
  /** Confidence half-width of each row, quote per base unit (0: not reported). */
  readonly confidence: ArrayLike<number>;
  /** Event time of each row, microseconds since the Unix epoch. */
  readonly eventTimeUs: ArrayLike<number>;
  /** Source sequence of each row. */
  readonly sourceSequence: ArrayLike<number>;
  /** True when `signatures` holds row i's Ed25519 signature at bytes [64 i, 64 i + 64). */
  readonly signed: boolean;
  /** The signatures, 64 bytes per row, when `signed`. */
  readonly signatures?: Uint8Array;
}

/** Ticks (and optional signatures, 64 bytes each in order) as columns. */
export function tickBatchOf(ticks: readonly Tick[], signatures?: Uint8Array): TickBatch {
  const col = (f: (t: Tick) => number): number[] => ticks.map(f);
  return {
    length: ticks.length,
    market: col((r) => r.market),
    source: col((r) => r.source),
    price: col((r) => r.price),
    confidence: col((r) => r.confidence),
    eventTimeUs: col((r) => r.eventTimeUs),
    sourceSequence: col((r) => r.sourceSequence),
    signed: signatures !== undefined,
    signatures,
  };
}
