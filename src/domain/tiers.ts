/**
 * Tiered margin (Binance "maintenance amount" form, docs/domain.md section 1).
 *
 *   margin(notional) = notional * fraction[t] - amount[t],   t = first tier with notional <= upperBound[t]
 *   amount[0] = 0,  amount[n] = upperBound[n-1] * (fraction[n] - fraction[n-1]) + amount[n-1]
 *
 * The amounts make margin continuous in notional. The same `tieredMargin` serves the scan workers (reading
 * tier columns straight out of the shared market table), the executor, the CLI and the tests.
 */
import { ErrorCode, UnwindError } from '../errors.js';

/** A tier as a user writes it. `maxNotional: null` (or Infinity) means unbounded; only the last tier may be. */
export interface MarginTier {
  /** The tier's upper notional bound, quote units; null (or Infinity): unbounded. */
  readonly maxNotional: number | null;
  /** Initial margin per quote of notional in this tier, in [maintenanceMarginFraction, 1]. */
  readonly initialMarginFraction: number;
  /** Maintenance margin per quote of notional in this tier, in (0, 1). */
  readonly maintenanceMarginFraction: number;
}

/** Tiers compiled into columns; `upperBound` of the last tier is always Infinity. */
export interface TierSchedule {
  /** Tiers. */
  readonly count: number;
  /** Each tier's upper notional bound. */
  readonly upperBound: Float64Array;
  /** Each tier's maintenance margin fraction. */
  readonly maintenanceFraction: Float64Array;
  /** Each tier's maintenance amount: margin = notional x fraction - amount, continuous across tiers. */
  readonly maintenanceAmount: Float64Array;
  /** Each tier's initial margin fraction. */
  readonly initialFraction: Float64Array;
  /** Each tier's initial amount, as `maintenanceAmount`. */
  readonly initialAmount: Float64Array;
}

/** The most tiers a schedule may have. */
export const MAX_TIERS = 8;

/**
 * The margin of `notional` under the tiers stored at `[base, base + count)` of the given columns.
 * Notional exactly on a boundary belongs to the lower tier; continuity makes the choice immaterial.
 */
export function tieredMargin(
  notional: number,
  upperBound: Float64Array,
  fraction: Float64Array,
  amount: Float64Array,
  base: number,
  count: number,
): number {
  let t = base;
  const last = base + count - 1;
  while (t < last && notional > upperBound[t]!) t++;
  return notional * fraction[t]! - amount[t]!;
}

/** The maintenance margin of `notional` (quote units) under schedule `s`. */
export function maintenanceMargin(notional: number, s: TierSchedule): number {
  return tieredMargin(notional, s.upperBound, s.maintenanceFraction, s.maintenanceAmount, 0, s.count);
}

/** The initial margin of `notional` (quote units) under schedule `s`. */
export function initialMargin(notional: number, s: TierSchedule): number {
  return tieredMargin(notional, s.upperBound, s.initialFraction, s.initialAmount, 0, s.count);
}

/** Index of the tier that `notional` falls in. */
export function tierOf(notional: number, s: TierSchedule): number {
  let t = 0;
  while (t < s.count - 1 && notional > s.upperBound[t]!) t++;
  return t;
}

/** Validates user tiers and computes the maintenance and initial amounts. Throws INVALID_TIERS naming the field. */
export function compileTiers(tiers: readonly MarginTier[], field = 'tiers'): TierSchedule {
  if (!Array.isArray(tiers) || tiers.length === 0) {
    throw new UnwindError(ErrorCode.InvalidTiers, 'expected a non-empty array of tiers', field);
  }
  if (tiers.length > MAX_TIERS) {
    throw new UnwindError(ErrorCode.InvalidTiers, `at most ${MAX_TIERS} tiers, got ${tiers.length}`, field);
  }
  const n = tiers.length;
  const s: TierSchedule = {
    count: n,
    upperBound: new Float64Array(n),
    maintenanceFraction: new Float64Array(n),
    maintenanceAmount: new Float64Array(n),
    initialFraction: new Float64Array(n),
    initialAmount: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const t = tiers[i]!;
    const at = `${field}[${i}]`;
    if (t === null || typeof t !== 'object') throw new UnwindError(ErrorCode.InvalidTiers, 'expected an object', at);
    const mmf = t.maintenanceMarginFraction;
    const imf = t.initialMarginFraction;
    if (typeof mmf !== 'number' || !(mmf > 0 && mmf < 1)) {
      throw new UnwindError(ErrorCode.InvalidTiers, `expected a number in (0, 1), got ${String(mmf)}`, `${at}.maintenanceMarginFraction`);
    }
    if (typeof imf !== 'number' || !(imf >= mmf && imf <= 1)) {
      throw new UnwindError(ErrorCode.InvalidTiers, `expected a number in [maintenanceMarginFraction, 1], got ${String(imf)}`, `${at}.initialMarginFraction`);
    }
    const max = t.maxNotional === null || t.maxNotional === undefined ? Infinity : t.maxNotional;
    if (typeof max !== 'number' || Number.isNaN(max) || max <= 0) {
      throw new UnwindError(ErrorCode.InvalidTiers, `expected a positive number or null, got ${String(t.maxNotional)}`, `${at}.maxNotional`);
    }
    if (max === Infinity && i !== n - 1) {
      throw new UnwindError(ErrorCode.InvalidTiers, 'only the last tier may be unbounded (null)', `${at}.maxNotional`);
    }
    if (i > 0) {
      if (!(max > s.upperBound[i - 1]!)) {
        throw new UnwindError(ErrorCode.InvalidTiers, `must exceed the previous tier's ${s.upperBound[i - 1]}`, `${at}.maxNotional`);
      }
      if (mmf < s.maintenanceFraction[i - 1]! || imf < s.initialFraction[i - 1]!) {
        throw new UnwindError(ErrorCode.InvalidTiers, 'margin fractions must not decrease from one tier to the next', at);
      }
    }
    s.upperBound[i] = max;
    s.maintenanceFraction[i] = mmf;
    s.initialFraction[i] = imf;
    if (i === 0) {
      s.maintenanceAmount[i] = 0;
      s.initialAmount[i] = 0;
    } else {
      const floor = s.upperBound[i - 1]!;
      s.maintenanceAmount[i] = floor * (mmf - s.maintenanceFraction[i - 1]!) + s.maintenanceAmount[i - 1]!;
      s.initialAmount[i] = floor * (imf - s.initialFraction[i - 1]!) + s.initialAmount[i - 1]!;
    }
  }
  // A bounded last tier extends upward: positions above it keep its fractions.
  s.upperBound[n - 1] = Infinity;
  return s;
}
