/** Input validation shared by the embedding API and the scenario loader. Each check names the field it rejects. */
import { ErrorCode, UnwindError } from '../errors.js';

/** Largest |size| accepted, base units; keeps notional and PnL far inside float64's exact-integer range. */
export const MAX_ABS_SIZE = 1e12;
/** Largest |amount| of collateral accepted, quote units. */
export const MAX_ABS_AMOUNT = 1e15;
/** Largest price accepted, quote per base. */
export const MAX_PRICE = 1e12;

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

export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
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
