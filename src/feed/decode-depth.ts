/**
 * Reads a verified Depth table (schemas/unwind.fbs) into book depths, checking every value; a value out of its domain
 * throws a FieldError naming it (`books[2].bidVolume`), which `decodeFrame` answers INVALID_FIELD. Whether each
 * market exists is the engine's check (UNKNOWN_MARKET), as for book tops.
 */
import type * as flatbuffers from 'flatbuffers';
import { describe, requireId } from '../validate.js';
import { Depth, MarketDepth as MarketDepthStruct } from './generated/unwind_generated.js';
import { FieldError, nonEmpty } from './fields.js';
import { DEPTH_ROWS_PER_FRAME, type MarketDepth } from './messages.js';

/** A book volume: base units >= 0, or +Infinity (not known); -0 is read as 0. NaN and negatives are refused. */
function volume(x: number, field: string): number {
  if (!(x >= 0)) throw new FieldError(field, `expected a volume >= 0 (base units; Infinity: not known), got ${describe(x)}`);
  return x + 0;
}

export function readDepth(bb: flatbuffers.ByteBuffer, at: number): MarketDepth[] {
  const t = new Depth().__init(at, bb);
  const count = t.booksLength();
  nonEmpty(count, 'books');
  // Each row takes an input sequence number and a journal row: a frame may not carry an unbounded batch of them.
  if (count > DEPTH_ROWS_PER_FRAME) throw new FieldError('books', `expected at most ${DEPTH_ROWS_PER_FRAME} rows per frame, got ${count}`);
  const books: MarketDepth[] = new Array<MarketDepth>(count);
  const s = new MarketDepthStruct();
  for (let i = 0; i < count; i++) {
    t.books(i, s);
    const f = `books[${i}]`;
    const market = requireId(s.market(), `${f}.market`);
    // Frozen at 0: a non-zero value is a writer that laid the struct out wrongly (bid_volume at byte 4, say).
    const padding = s.padding();
    if (padding !== 0) throw new FieldError(`${f}.padding`, `expected 0, got ${padding}`);
    books[i] = { market, bidVolume: volume(s.bidVolume(), `${f}.bidVolume`), askVolume: volume(s.askVolume(), `${f}.askVolume`) };
  }
  return books;
}
