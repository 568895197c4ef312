/**
 * Reads a verified BookTickers table (schemas/unwind.fbs) into book tops, checking every value; a value out of its
 * domain throws a FieldError naming it (`books[2].ask`), which `decodeFrame` answers INVALID_FIELD.
 */
import type * as flatbuffers from 'flatbuffers';
import { describe, MAX_PRICE, requireId } from '../validate.js';
import { BookTicker as BookTickerStruct, BookTickers } from './generated/unwind_generated.js';
import { FieldError, nonEmpty, timeAt } from './fields.js';
import type { BookTop } from './messages.js';

/** A book price: 0 (not known), or finite in (0, MAX_PRICE]; -0 is read as 0. */
function bookPrice(x: number, field: string): number {
  if (x === 0) return 0;
  if (!(x > 0 && x <= MAX_PRICE)) throw new FieldError(field, `expected 0 (not known) or a finite price in (0, ${MAX_PRICE}], got ${describe(x)}`);
  return x;
}

export function readBookTickers(bb: flatbuffers.ByteBuffer, at: number): BookTop[] {
  const t = new BookTickers().__init(at, bb);
  const count = t.booksLength();
  nonEmpty(count, 'books');
  const books: BookTop[] = new Array<BookTop>(count);
  const s = new BookTickerStruct();
  for (let i = 0; i < count; i++) {
    t.books(i, s);
    const f = `books[${i}]`;
    const market = requireId(s.market(), `${f}.market`);
    // Frozen at 0: a non-zero value is a writer that laid the struct out wrongly (bid at byte 4, say).
    const padding = s.padding();
    if (padding !== 0) throw new FieldError(`${f}.padding`, `expected 0, got ${padding}`);
    const bid = bookPrice(s.bid(), `${f}.bid`);
    const ask = bookPrice(s.ask(), `${f}.ask`);
    if (bid > 0 && ask > 0 && bid > ask) throw new FieldError(`${f}.ask`, `expected 0 (not known) or an ask >= the bid ${bid}, got ${ask}`);
    books[i] = { market, bid, ask, last: bookPrice(s.last(), `${f}.last`), eventTimeUs: timeAt(s.eventTimeUs(), `${f}.eventTimeUs`) };
  }
  return books;
}
