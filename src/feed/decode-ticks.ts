/**
 * The ticks of PriceTicks and SignedPriceTicks (schemas/unwind.fbs), read from a verified table: as objects, or into
 * a reused TickBatchBuffer (the server's hot path, no object per tick). Both check every tick the same way, so they
 * report the same first error (`ticks[3].price`), which `decodeFrame` answers INVALID_FIELD.
 */
import type * as flatbuffers from 'flatbuffers';
import { MAX_PRICE, requireId, requirePrice } from '../validate.js';
import { Message, PriceTicks, SignedPriceTicks, Tick as TickStruct } from './generated/unwind_generated.js';
import { FieldError, isSequence, isTime, nonEmpty, nonNegative, sequenceAt, timeAt } from './fields.js';
import type { Tick } from './messages.js';
import { SIGNATURE_BYTES } from '../oracle/signing.js';
import type { TickBatchBuffer } from './tick-batch.js';

/**
 * A PriceTicks frame (`batch.signed` false) or a SignedPriceTicks frame (`batch.signed` true, the signatures in
 * `batch.signatures`, not yet verified) decoded into a TickBatchBuffer, valid until the next decode into the same
 * batch.
 */
export interface TickBatchMessage {
  /** Always 'tickBatch'. */
  readonly kind: 'tickBatch';
  /** The frame's Envelope.sequence. */
  readonly sequence: number;
  /** The ticks, decoded into the caller's reused buffer. */
  readonly batch: TickBatchBuffer;
}

/**
 * The signatures of a SignedPriceTicks table of `count` ticks: a view of the frame, checked to hold SIGNATURE_BYTES
 * per tick.
 */
export function signaturesOf(t: SignedPriceTicks, count: number): Uint8Array {
  const n = t.signaturesLength();
  if (n !== count * SIGNATURE_BYTES) {
    throw new FieldError('signatures', `expected ${SIGNATURE_BYTES} bytes per tick (${count * SIGNATURE_BYTES} for ${count} ticks), got ${n}`);
  }
  return t.signaturesArray()!; // present: the field is required, verified
}

/** Rows [0, n) of `batch` (grown as needed) from the frame's ticks, `signed` set and, when signed, the signatures copied. */
export function readTickBatch(
  bb: flatbuffers.ByteBuffer,
  type: Message.PriceTicks | Message.SignedPriceTicks,
  at: number,
  sequence: number,
  batch: TickBatchBuffer,
): TickBatchMessage {
  const signed = type === Message.SignedPriceTicks;
  const t = signed ? new SignedPriceTicks().__init(at, bb) : new PriceTicks().__init(at, bb);
  const count = t.ticksLength();
  nonEmpty(count, 'ticks');
  // Checked before the batch is touched, as an empty frame is.
  const signatures = signed ? signaturesOf(t as SignedPriceTicks, count) : null;
  batch.reset(count);
  batch.signed = signed;
  const s = new TickStruct();
  for (let i = 0; i < count; i++) {
    t.ticks(i, s);
    const market = s.market();
    const source = s.source();
    const price = s.price();
    const confidence = s.confidence() + 0;
    const eventTimeUs = s.eventTimeUs() + 0;
    const sourceSequence = s.sourceSequence() + 0;
    if (!isValidTick(market, source, price, confidence, eventTimeUs, sourceSequence)) {
      rejectTick({ market, source, price, confidence, eventTimeUs, sourceSequence }, i);
    }
    batch.market[i] = market;
    batch.source[i] = source;
    batch.price[i] = price;
    batch.confidence[i] = confidence;
    batch.eventTimeUs[i] = eventTimeUs;
    batch.sourceSequence[i] = sourceSequence;
  }
  if (signatures !== null) batch.signatures.set(signatures);
  return { kind: 'tickBatch', sequence, batch };
}

/** The ticks of a PriceTicks or SignedPriceTicks table (the same vector, id 0), each checked. */
export function readTicks(t: PriceTicks | SignedPriceTicks, count: number): Tick[] {
  const ticks: Tick[] = new Array<Tick>(count);
  const s = new TickStruct();
  for (let i = 0; i < count; i++) {
    t.ticks(i, s);
    const tick: Tick = {
      market: s.market(),
      source: s.source(),
      price: s.price(),
      confidence: s.confidence() + 0, // + 0: never return -0 (see sequenceAt)
      eventTimeUs: s.eventTimeUs() + 0,
      sourceSequence: s.sourceSequence() + 0,
    };
    // The hot path: one branch per tick; field names are built only to report a failure.
    if (!isValidTick(tick.market, tick.source, tick.price, tick.confidence, tick.eventTimeUs, tick.sourceSequence)) rejectTick(tick, i);
    ticks[i] = tick;
  }
  return ticks;
}

const MAX_ID = 0xfffffffe;

function isValidTick(market: number, source: number, price: number, confidence: number, eventTimeUs: number, sourceSequence: number): boolean {
  return (
    market <= MAX_ID &&
    source <= MAX_ID &&
    price > 0 &&
    price <= MAX_PRICE &&
    confidence >= 0 &&
    confidence < Infinity &&
    isTime(eventTimeUs) &&
    isSequence(sourceSequence)
  );
}

/** Throws the FieldError or UnwindError naming the first bad field of a tick isValidTick refused. */
function rejectTick(t: Tick, i: number): never {
  requireId(t.market, `ticks[${i}].market`);
  requireId(t.source, `ticks[${i}].source`);
  requirePrice(t.price, `ticks[${i}].price`);
  nonNegative(t.confidence, `ticks[${i}].confidence`);
  timeAt(t.eventTimeUs, `ticks[${i}].eventTimeUs`);
  sequenceAt(t.sourceSequence, `ticks[${i}].sourceSequence`);
  throw new FieldError(`ticks[${i}]`, 'invalid tick'); // unreachable: isValidTick and the checks above agree
}

