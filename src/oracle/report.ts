/**
 * A source's price report, and the bytes its Ed25519 signature covers. Browser-safe (no node: imports): a
 * publisher in any runtime builds the same 54 bytes.
 *
 *   bytes  0..14  ASCII "UNWIND-TICK-V1" (context: a signature over these bytes means nothing elsewhere)
 *   bytes 14..54  the report exactly as the wire's Tick struct lays it out, little-endian:
 *                 market u32 | source u32 | price f64 | confidence f64 | event_time_us f64 | source_sequence f64
 */
export const REPORT_SIGNING_CONTEXT = 'UNWIND-TICK-V1';
export const REPORT_SIGNING_BYTES = 54;
export const SIGNATURE_BYTES = 64;

/** One source's observation of one market (the wire's Tick). */
export interface SourceReport {
  readonly market: number;
  readonly source: number;
  /** Quote per base, finite, > 0. */
  readonly price: number;
  /** Half-width of the source's confidence interval, quote per base, >= 0 (0: not reported). */
  readonly confidence: number;
  /** When the source observed the price, microseconds since the Unix epoch. */
  readonly eventTimeUs: number;
  /** The source's own sequence, strictly increasing per (source, market): a report is never accepted twice. */
  readonly sourceSequence: number;
}

/** Writes the signed bytes of a report into `out` (54 bytes, reused by callers on hot paths) and returns it. */
export function reportSigningBytes(r: SourceReport, out: Uint8Array = new Uint8Array(REPORT_SIGNING_BYTES)): Uint8Array {
  for (let i = 0; i < REPORT_SIGNING_CONTEXT.length; i++) out[i] = REPORT_SIGNING_CONTEXT.charCodeAt(i);
  const v = new DataView(out.buffer, out.byteOffset, REPORT_SIGNING_BYTES);
  const at = REPORT_SIGNING_CONTEXT.length;
  v.setUint32(at, r.market, true);
  v.setUint32(at + 4, r.source, true);
  v.setFloat64(at + 8, r.price, true);
  v.setFloat64(at + 16, r.confidence, true);
  v.setFloat64(at + 24, r.eventTimeUs, true);
  v.setFloat64(at + 32, r.sourceSequence, true);
  return out;
}

/** Reports as columns (the feed's TickBatch has this shape): rows [0, length). */
export interface ReportColumns {
  readonly length: number;
  readonly market: ArrayLike<number>;
  readonly source: ArrayLike<number>;
  readonly price: ArrayLike<number>;
  readonly confidence: ArrayLike<number>;
  readonly eventTimeUs: ArrayLike<number>;
  readonly sourceSequence: ArrayLike<number>;
  /** True when `signatures` holds row i's Ed25519 signature at bytes [64 i, 64 i + 64). */
  readonly signed: boolean;
  readonly signatures?: Uint8Array;
}

/** Reports (and optional signatures, 64 bytes each in order) as columns. */
export function reportColumns(reports: readonly SourceReport[], signatures?: Uint8Array): ReportColumns {
  const col = (f: (r: SourceReport) => number): number[] => reports.map(f);
  return {
    length: reports.length,
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
