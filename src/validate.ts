/** Input validation shared by the embedding API and the scenario loader. Each check names the field it rejects. */
import { ErrorCode, UnwindError } from './errors.js';

/** Largest |size| accepted, base units; keeps notional and PnL far inside float64's exact-integer range. */
export const MAX_ABS_SIZE = 1e12;
/** Largest |amount| of collateral accepted, quote units. */
export const MAX_ABS_AMOUNT = 1e15;
/** Largest price accepted, quote per base. */
export const MAX_PRICE = 1e12;
/** Longest market symbol, UTF-16 code units: it travels with every order. */
export const MAX_SYMBOL_LENGTH = 64;
/** Longest kill switch reason, UTF-16 code units: it is journaled and travels with every market status. */
export const MAX_REASON_LENGTH = 1024;

/** A plain object (not null, not an array), e.g. a spec or a batch's member; INVALID_ARGUMENT naming `field` otherwise. */
export function requireObject<T extends object>(v: T | null | undefined, field: string, expected: string): T {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new UnwindError(ErrorCode.InvalidArgument, `expected ${expected}, got ${describe(v)}`, field);
  }
  return v;
}

/** A batch: an array (its members are checked one by one where they are read). */
export function requireArray<T>(v: readonly T[], field: string, expected: string): readonly T[] {
  if (!Array.isArray(v)) throw new UnwindError(ErrorCode.InvalidArgument, `expected an array of ${expected}, got ${describe(v)}`, field);
  return v;
}

/** A column: an array or typed array (anything with an integer length), not a string. Returns its length. */
export function requireColumn(v: ArrayLike<unknown> | null | undefined, field: string): number {
  const length = v !== null && typeof v === 'object' ? v.length : undefined;
  if (!Number.isSafeInteger(length) || length! < 0) {
    throw new UnwindError(ErrorCode.InvalidArgument, `expected an array or typed array column, got ${describe(v)}`, field);
  }
  return length!;
}

/**
 * A batch of columns (`{ length, [name]: column }`): an object whose columns are columns (requireColumn, naming the
 * column) and whose `length` (rows) none of them falls short of. Returns the row count.
 */
export function requireColumns(batch: unknown, names: readonly string[], field: string): number {
  const b = requireObject(batch as Record<string, ArrayLike<unknown>> | null, field, `columns { length, ${names.join(', ')} }`);
  let rows = Infinity;
  for (const name of names) rows = Math.min(rows, requireColumn(b[name], name));
  return requireRowCount(b.length, rows, 'length');
}

/** A count of rows in [0, rows]. */
export function requireRowCount(v: unknown, rows: number, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > rows) {
    throw new UnwindError(ErrorCode.InvalidSize, `expected a row count in [0, ${rows}], got ${describe(v)}`, field);
  }
  return v;
}

/** A string of at most `maxLength` UTF-16 code units (and at least one unless `empty`). */
export function requireString(v: unknown, field: string, maxLength: number, empty = false): string {
  if (typeof v !== 'string' || v.length > maxLength || (!empty && v.length === 0)) {
    const shown = typeof v === 'string' ? `a string of ${v.length} characters` : describe(v);
    throw new UnwindError(ErrorCode.InvalidArgument, `expected a${empty ? '' : ' non-empty'} string of at most ${maxLength} characters, got ${shown}`, field);
  }
  return v;
}

export function requireId(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xfffffffe) {
    throw new UnwindError(ErrorCode.InvalidId, `expected an integer id in [0, 4294967294], got ${describe(v)}`, field);
  }
  return v;
}

export function requirePrice(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > MAX_PRICE) {
    throw new UnwindError(ErrorCode.InvalidPrice, `expected a finite price in (0, ${MAX_PRICE}], got ${describe(v)}`, field);
  }
  return v;
}

export function requireSize(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > MAX_ABS_SIZE) {
    throw new UnwindError(ErrorCode.InvalidSize, `expected a finite size with |size| <= ${MAX_ABS_SIZE}, got ${describe(v)}`, field);
  }
  return v;
}

export function requireAmount(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > MAX_ABS_AMOUNT) {
    throw new UnwindError(ErrorCode.InvalidAmount, `expected a finite amount with |amount| <= ${MAX_ABS_AMOUNT}, got ${describe(v)}`, field);
  }
  return v;
}

export function requireNonNegativeAmount(v: unknown, field: string): number {
  const a = requireAmount(v, field);
  if (a < 0) throw new UnwindError(ErrorCode.InvalidAmount, `expected an amount >= 0, got ${a}`, field);
  return a;
}

/** A value for an error message, whatever it is (a symbol or a bigint cannot go into a template literal or JSON). */
export function describe(v: unknown): string {
  if (typeof v === 'string') return v.length > 64 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (typeof v === 'bigint') return `${v}n (a bigint)`;
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

/**
 * Latest event time accepted: 2100-01-01T00:00:00Z in microseconds since the Unix epoch. Times are clocks, and a
 * clock far in the future is a fault or an attack, never data (a time past it would make every later one "stale").
 */
export const MAX_TIME_US = 4_102_444_800_000_000;

/** An event time: microseconds since the Unix epoch, in [0, MAX_TIME_US]. */
export function requireTime(v: unknown, field: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= MAX_TIME_US)) {
    throw new UnwindError(ErrorCode.InvalidAmount, `expected an event time in microseconds in [0, ${MAX_TIME_US}] (up to 2100-01-01), got ${describe(v)}`, field);
  }
  return v;
}

/**
 * An input's event time: in range (requireTime) and not beyond `latestUs`, the engine's clock plus its maximum skew
 * (CLOCK_SKEW), so that no publisher can date its prices, books or fills far ahead of the clock.
 */
export function requireEventTime(v: unknown, latestUs: number, field: string): number {
  const time = requireTime(v, field);
  if (time > latestUs) throw new UnwindError(ErrorCode.ClockSkew, `event time ${time} is beyond ${latestUs}, the engine's clock plus its maximum skew (clock.maxSkewUs)`, field);
  return time;
}
