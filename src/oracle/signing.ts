/**
 * What a price source signs for each tick of a SignedPriceTicks frame (schemas/unwind.fbs, schemas/README.md
 * "Signed ticks"). Browser-safe (no Node API): a publisher in a browser signs with the same bytes.
 *
 * The signed message, 54 bytes:
 *
 *   0         14      18      22          30             38               46                54
 *   | domain  | market| source| price     | confidence   | event_time_us  | source_sequence |
 *   "UNWIND-TICK-V1"  u32 LE  u32 LE  f64 LE      f64 LE         f64 LE           f64 LE
 *
 * Bytes 14..54 are the 40-byte Tick struct exactly as FlatBuffers lays it out in the frame, except that a -0 is
 * written as 0: the receiver reads -0 as 0, and it verifies the tick it read. The domain prefix keeps a tick
 * signature from being valid for any other message signed with the same key.
 */

/**
 * The fields a tick's signature covers, in the byte map's order. Everywhere else this is `Tick` (src/oracle/report.ts
 * exports it under that name); it is declared here so that this module stays a leaf.
 */
export interface SignedFields {
  /** The market id. */
  readonly market: number;
  /** The source id (the key registry's). */
  readonly source: number;
  /** Quote per base unit. */
  readonly price: number;
  /** Half-width of the source's confidence interval, quote per base unit; 0: not reported. */
  readonly confidence: number;
  /** Microseconds since the Unix epoch, an integer. */
  readonly eventTimeUs: number;
  /** Strictly increasing per (source, market): replays are refused. */
  readonly sourceSequence: number;
}

/** Bytes of one Ed25519 signature in `SignedPriceTicks.signatures` (R then S, RFC 8032). */
export const SIGNATURE_BYTES = 64;
/** The ASCII prefix of every signed tick: which message this is, and its version. */
export const TICK_SIGNING_DOMAIN = 'UNWIND-TICK-V1';
/** Length of the signed message of one tick: the 14-byte domain and the 40-byte Tick struct. */
export const TICK_SIGNING_BYTES = 54;

const DOMAIN = Uint8Array.from(TICK_SIGNING_DOMAIN, (c) => c.charCodeAt(0));
const STRUCT_AT = DOMAIN.length;

/**
 * The message a source signs for one tick, written into `out` (at least TICK_SIGNING_BYTES long; reuse it to
 * sign or verify many ticks without allocating) or into a new array. Returns the 54 bytes (a view of `out`).
 */
export function tickSigningBytes(t: SignedFields, out?: Uint8Array): Uint8Array {
  return writeTickSigningBytes(out, t.market, t.source, t.price, t.confidence, t.eventTimeUs, t.sourceSequence);
}

/** As tickSigningBytes, from a tick's fields (TickBatchBuffer.signingBytes reads them from its columns). */
export function writeTickSigningBytes(
  out: Uint8Array | undefined,
  market: number,
  source: number,
  price: number,
  confidence: number,
  eventTimeUs: number,
  sourceSequence: number,
): Uint8Array {
  const bytes = out === undefined ? new Uint8Array(TICK_SIGNING_BYTES) : out.subarray(0, TICK_SIGNING_BYTES);
  if (bytes.length < TICK_SIGNING_BYTES) throw new RangeError(`expected an output of at least ${TICK_SIGNING_BYTES} bytes, got ${out!.length}`);
  writeTickSigningBytesAt(bytes, new DataView(bytes.buffer, bytes.byteOffset, TICK_SIGNING_BYTES), 0, market, source, price, confidence, eventTimeUs, sourceSequence);
  return bytes;
}

/**
 * As writeTickSigningBytes, at byte `at` of `bytes`, through `view` (a DataView of the same bytes, from the same
 * start): many messages in one buffer without a view per message (src/oracle/verifier.ts packs its jobs so).
 */
export function writeTickSigningBytesAt(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  market: number,
  source: number,
  price: number,
  confidence: number,
  eventTimeUs: number,
  sourceSequence: number,
): void {
  bytes.set(DOMAIN, at);
  const s = at + STRUCT_AT;
  // The Tick struct's offsets (schemas/unwind.fbs; test/feed-signing.test.ts compares with an encoded frame).
  view.setUint32(s, market, true);
  view.setUint32(s + 4, source, true);
  view.setFloat64(s + 8, price + 0, true); // + 0: -0 as 0, as the receiver reads it
  view.setFloat64(s + 16, confidence + 0, true);
  view.setFloat64(s + 24, eventTimeUs + 0, true);
  view.setFloat64(s + 32, sourceSequence + 0, true);
}
