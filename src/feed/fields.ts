/**
 * The value checks of `decodeFrame` (decode.ts, decode-adl.ts): each returns the value (never -0) or throws a
 * FieldError naming the field, which the decoder turns into INVALID_FIELD.
 */

import { MAX_TIME_US } from '../validate.js';

/** Strict UTF-8: a string with invalid bytes is INVALID_FIELD, not silently replaced. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A value out of its domain; UnwindErrors from validate.ts are turned into INVALID_FIELD the same way. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    why: string,
  ) {
    super(`${field}: ${why}`);
  }
}

/** A verified string field (the accessor called with Encoding.UTF8_BYTES), decoded strictly. */
export function text(raw: string | Uint8Array | null, field: string): string {
  if (raw === null) return '';
  if (typeof raw === 'string') return raw;
  try {
    return utf8.decode(raw);
  } catch {
    throw new FieldError(field, 'expected UTF-8 text');
  }
}

export function isSequence(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}
/** Sequences, epochs, times: integers in [0, 2^53) carried in float64 (schemas/unwind.fbs, "Why float64"). */
export function sequenceAt(x: number, field: string): number {
  if (!isSequence(x)) throw new FieldError(field, `expected an integer in [0, 2^53), got ${x}`);
  return x + 0; // -0 -> 0: a table drops a -0 equal to its default, so the decoder never returns -0
}
/** Event times: integer microseconds since the Unix epoch in [0, MAX_TIME_US] (2100-01-01): a clock, range-checked. */
export function isTime(x: number): boolean {
  return isSequence(x) && x <= MAX_TIME_US;
}
export function timeAt(x: number, field: string): number {
  if (!isTime(x)) throw new FieldError(field, `expected integer microseconds in [0, ${MAX_TIME_US}] (up to 2100-01-01), got ${x}`);
  return x + 0;
}
export function finite(x: number, field: string): number {
  if (!Number.isFinite(x)) throw new FieldError(field, `expected a finite number, got ${x}`);
  return x + 0;
}
export function nonNegative(x: number, field: string): number {
  if (!Number.isFinite(x) || x < 0) throw new FieldError(field, `expected a finite number >= 0, got ${x}`);
  return x + 0;
}
export function positive(x: number, field: string): number {
  if (!Number.isFinite(x) || x <= 0) throw new FieldError(field, `expected a finite number > 0, got ${x}`);
  return x + 0;
}
export function notNaN(x: number, field: string): number {
  if (Number.isNaN(x)) throw new FieldError(field, 'expected a number, got NaN');
  return x + 0;
}
export function enumValue<T>(map: ReadonlyMap<number, T>, x: number, field: string): T {
  const v = map.get(x);
  if (v === undefined) throw new FieldError(field, `expected one of ${[...map.keys()].join(', ')}, got ${x}`);
  return v;
}
export function nonEmpty(n: number, field: string): void {
  if (n === 0) throw new FieldError(field, 'expected at least one element');
}
