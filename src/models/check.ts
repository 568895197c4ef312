/**
 * Checks shared by the models: their configs (INVALID_CONFIG naming the field) and the plain-data states they import
 * (INVALID_ARGUMENT naming the field), so that a snapshot from another build or a hand-edited file is refused whole
 * instead of poisoning a forecast with NaN.
 */
import { ErrorCode, UnwindError } from '../errors.js';
import { describe } from '../validate.js';

/** A config's integer field in [min, 2^31). */
export function configInteger(v: unknown, min: number, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0x7fffffff) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer in [${min}, 2^31), got ${describe(v)}`, field);
  }
  return v;
}

/** A config's finite number in the open interval (min, max). */
export function configBetween(v: unknown, min: number, max: number, field: string): number {
  if (typeof v !== 'number' || !(v > min && v < max)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a number in (${min}, ${max}), got ${describe(v)}`, field);
  }
  return v;
}

/** A state's object. */
export function stateObject(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UnwindError(ErrorCode.InvalidArgument, `expected an object, got ${describe(v)}`, field);
  return v as Record<string, unknown>;
}

/** A state's finite number, at least `min` (-Infinity for any). */
export function stateNumber(v: unknown, min: number, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new UnwindError(ErrorCode.InvalidArgument, `expected a finite number >= ${min}, got ${describe(v)}`, field);
  }
  return v;
}

/** A state's count: an integer >= 0. */
export function stateCount(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new UnwindError(ErrorCode.InvalidArgument, `expected an integer >= 0, got ${describe(v)}`, field);
  }
  return v;
}

/** A state's finite number >= min, or null. */
export function stateNullableNumber(v: unknown, min: number, field: string): number | null {
  return v === null ? null : stateNumber(v, min, field);
}

/** A state's array of at most `maxLength` finite numbers >= min, copied. */
export function stateNumbers(v: unknown, min: number, maxLength: number, field: string): number[] {
  if (!Array.isArray(v) || v.length > maxLength) {
    throw new UnwindError(ErrorCode.InvalidArgument, `expected an array of at most ${maxLength} numbers, got ${describe(v)}`, field);
  }
  return v.map((x, i) => stateNumber(x, min, `${field}[${i}]`));
}
