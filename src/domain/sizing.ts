/**
 * How much of a position to close in one liquidation step (docs/domain.md section 3). Pure functions of plain values.
 *
 * Units: sizes and quantities in base units (size signed, long > 0; quantity > 0), prices in quote per base,
 * equity, maintenance margin and notional in quote units, health and portions dimensionless.
 *
 * The model. Closing quantity q of a position of size `size` (n = |size|, side s = sign(size)) at `fillPrice`
 * while the group is marked at `markPrice`:
 *
 *   equityAfter(q)      = equity - q * s * (markPrice - fillPrice) - fee(q)
 *   maintenanceAfter(q) = otherMaintenance + maintenanceAt(n - q),  otherMaintenance = totalMaintenance - maintenanceAt(n)
 *   fee(q)              = liquidationFee(surplus, released, q * fillPrice): min(surplus, k * released, cap * q * fillPrice)
 *   surplus             = s * q * (fillPrice - oraclePrice) + equity * released / totalMaintenance,
 *   released            = maintenanceAt(n) - maintenanceAt(n - q)
 *
 * Equity already holds the position's PnL at the mark, so a close at the mark leaves it unchanged; only the
 * distance of the fill from the mark (a long sold below the mark, a short bought above it) and the fee move it.
 * The fee is the settlement's own rule (src/domain/liquidation.ts), so the model is what a fill at `fillPrice`
 * settles. Other prices and positions are held fixed. The target is reached at q when
 *
 *   surplus(q) = equityAfter(q) - targetHealth * maintenanceAfter(q) >= 0
 *
 * (the product form, so that a group left with no requirement counts as restored when its equity is >= 0).
 * With one tier every term is linear in q, so surplus is linear and one bisection over [0, n] finds the left end
 * of the q that reach the target. With several tiers the released margin is concave in q and the fee's bounds
 * cross; when surplus(n) < 0 the search runs over [0, peak] (golden section). Either way the returned q reaches
 * the target as computed, though past the first tier not necessarily as the smallest such q.
 *
 * The rules, in order:
 *   1. at or above the target health (or size 0): no decision (null), never a quantity. The executor asks only for
 *      groups that are liquidatable or whose liquidation has not yet restored the target: docs/domain.md section 3's sticky state;
 *   2. emergency (health < emergencyHealth): close whole, bypassing every cap;
 *   3. restore: the smallest q that reaches targetHealth; when none does, even closing all, close whole;
 *   4. min-notional floor: a remainder worth less than minNotional at the mark is closed too (whole); a close
 *      worth less than minOrderNotional is raised to it (dYdX's min_position_notional_liquidated), so no order is dust;
 *   5. caps: at most maxPortion of the position, or largeStepPortion when its notional exceeds largeNotional;
 *      a cap that would itself leave a remainder below minNotional is lifted to the whole position, as dYdX
 *      raises its maximum liquidatable notional to the minimum. So a step leaves either nothing or at least
 *      minNotional, and dust never needs a step of its own.
 * Cooldowns (the step-down's 30 s), the sticky exit buffer and the per-account, per-market and global caps belong
 * to the state machine and the executor, which apply them on top of this decision.
 */
import { DEFAULT_SIZING_POLICY, type SizingPolicy } from '../config-types.js';
import { liquidationFee } from './liquidation.js';
import { health } from './margin.js';
import { maintenanceMargin, type TierSchedule } from './tiers.js';

/** A liquidatable position and its margin group, as `closeQuantity` takes them. Amounts in quote units. */
export interface SizingInput {
  /** Signed position size, base units. */
  readonly size: number;
  /** Mark price: values the group's equity and maintenance before and after the close. */
  readonly markPrice: number;
  /** The price the close is expected to fill at, e.g. the fillable price (a worst case for a limit order). */
  readonly fillPrice: number;
  /** The group's equity (TNC) now, at the mark. */
  readonly equity: number;
  /** The group's maintenance margin (TMMR) now, at the mark, this position's included. */
  readonly totalMaintenance: number;
  /**
   * This position's maintenance margin at a remaining size (base units, 0..|size|) at the mark; maintenanceAt(|size|)
   * is its share of totalMaintenance. Must be non-decreasing and convex with maintenanceAt(0) = 0, as tiered margin
   * is (see `maintenanceAtMark`).
   */
  readonly maintenanceAt: (remainingSize: number) => number;
  /** Oracle price: the settlement values the bankruptcy value at it (docs/domain.md section 2). Default: the mark. */
  readonly oraclePrice?: number;
  /** The most the liquidation fee may take per quote of closed notional at the fill price (the fee cap); default 0. */
  readonly feeFraction?: number;
  /** The most the fee may take per quote of maintenance margin released (k); default Infinity (no such bound). */
  readonly maintenanceShare?: number;
}

/** What set the quantity before caps. */
export type SizingReason = 'restore-target' | 'cannot-restore' | 'min-notional' | 'min-order' | 'emergency';
/** The cap that cut the quantity. */
export type SizingBound = 'max-portion' | 'step-down';

/** How much of a position one liquidation step closes, and why. */
export interface SizingDecision {
  /** Base units to close, in (0, |size|]; exactly |size| when the position closes whole. */
  readonly quantity: number;
  /** What set the quantity before caps. */
  readonly reason: SizingReason;
  /** The cap that bound, or null when none did (always null in an emergency). */
  readonly bound: SizingBound | null;
  /** What the rules asked for before caps; > quantity exactly when `bound` is set. The rest is work for later steps. */
  readonly uncappedQuantity: number;
  /** The model's group state after the close (see the file header). */
  readonly equityAfter: number;
  /** The model's group maintenance margin after the close. */
  readonly maintenanceAfter: number;
  /** equityAfter / maintenanceAfter; Infinity when no requirement remains (see equityAfter for bad debt). */
  readonly healthAfter: number;
}

/** A margin group's state after closing part of a position (at the mark). */
export interface StateAfterClose {
  /** Equity after, quote units. */
  readonly equity: number;
  /** Maintenance margin after, quote units. */
  readonly maintenance: number;
  /** equity / maintenance; Infinity when no requirement remains. */
  readonly health: number;
}

/** The most one non-emergency step may close, and the cap that sets it (null: the whole position). */
export interface StepCap {
  /** Base units. */
  readonly quantity: number;
  /** The cap that sets it, or null. */
  readonly bound: SizingBound | null;
}

/** `maintenanceAt` for a position under `schedule` at `markPrice`: maintenanceMargin(remainingSize * markPrice). */
export function maintenanceAtMark(schedule: TierSchedule, markPrice: number): (remainingSize: number) => number {
  return (remainingSize) => maintenanceMargin(remainingSize * markPrice, schedule);
}

/** The model: the group's equity, maintenance and health after closing `quantity` (0..|size|) of the position. */
export function stateAfterClose(input: SizingInput, quantity: number): StateAfterClose {
  const m = modelOf(input);
  const equity = m.equityAfter(quantity);
  const maintenance = m.maintenanceAfter(quantity);
  return { equity, maintenance, health: health(equity, maintenance) };
}

/** Rule 5: at most the portion that applies to this position, lifted to whole when the remainder would be dust. */
export function maxStepQuantity(size: number, markPrice: number, policy: SizingPolicy): StepCap {
  const whole = Math.abs(size);
  let portion = policy.maxPortion;
  let bound: SizingBound = 'max-portion';
  if (whole * markPrice > policy.largeNotional && policy.largeStepPortion < portion) {
    portion = policy.largeStepPortion;
    bound = 'step-down';
  }
  if (portion >= 1) return { quantity: whole, bound: null };
  const quantity = whole * portion;
  if ((whole - quantity) * markPrice < policy.minNotional) return { quantity: whole, bound: null };
  return { quantity, bound };
}

/**
 * How much of the position to close in this step (rules 1 to 5 of the file header); null when the group is not
 * liquidatable, so a healthy group never gets a quantity.
 */
export function closeQuantity(input: SizingInput, policy: SizingPolicy = DEFAULT_SIZING_POLICY): SizingDecision | null {
  const { size, markPrice, equity, totalMaintenance } = input;
  if (size === 0 || !(equity < policy.targetHealth * totalMaintenance)) return null;
  const m = modelOf(input);
  const whole = m.whole;
  if (health(equity, totalMaintenance) < policy.emergencyHealth) return decide(m, whole, 'emergency', null, whole);

  const restoring = smallestRestoring(m, policy.targetHealth);
  let wanted = restoring ?? whole;
  let reason: SizingReason = restoring === null ? 'cannot-restore' : 'restore-target';
  if (wanted < whole && (whole - wanted) * markPrice < policy.minNotional) {
    wanted = whole;
    reason = 'min-notional';
  } else if (wanted * markPrice < policy.minOrderNotional) {
    wanted = Math.min(whole, policy.minOrderNotional / markPrice);
    reason = 'min-order';
  }
  const cap = maxStepQuantity(size, markPrice, policy);
  if (cap.quantity < wanted) return decide(m, cap.quantity, reason, cap.bound, wanted);
  return decide(m, wanted, reason, null, wanted);
}

interface Model {
  readonly whole: number;
  equityAfter(q: number): number;
  maintenanceAfter(q: number): number;
}

function modelOf(input: SizingInput): Model {
  const whole = Math.abs(input.size);
  const side = input.size > 0 ? 1 : -1;
  const { markPrice, fillPrice, equity, totalMaintenance } = input;
  const oracle = input.oraclePrice ?? markPrice;
  const fees = { maxFeeFraction: input.feeFraction ?? 0, maxMaintenanceShare: input.maintenanceShare ?? Infinity };
  const at = input.maintenanceAt;
  const held = at(whole);
  // Clamped: for an isolated position the difference is rounding noise around 0.
  const otherMaintenance = Math.max(0, totalMaintenance - held);
  return {
    whole,
    equityAfter: (q) => {
      const released = held - at(whole - q);
      const surplus = side * q * (fillPrice - oracle) + (totalMaintenance > 0 ? (equity * released) / totalMaintenance : 0);
      return equity - q * side * (markPrice - fillPrice) - liquidationFee(surplus, released, q * fillPrice, fees);
    },
    maintenanceAfter: (q) => otherMaintenance + at(whole - q),
  };
}

function decide(m: Model, quantity: number, reason: SizingReason, bound: SizingBound | null, uncappedQuantity: number): SizingDecision {
  const equityAfter = m.equityAfter(quantity);
  const maintenanceAfter = m.maintenanceAfter(quantity);
  return { quantity, reason, bound, uncappedQuantity, equityAfter, maintenanceAfter, healthAfter: health(equityAfter, maintenanceAfter) };
}

/** Bisection stops within this fraction of the position: a few ulps of |size|. */
const RESOLUTION = 2 ** -50;
/** Golden-section steps: 0.618^100 < 1e-20 of the position. */
const PEAK_STEPS = 100;

/**
 * The left end of { q in (0, n] : surplus(q) >= 0 }, or null when it is empty. The returned q always satisfies
 * surplus(q) >= 0 as computed. When surplus(n) >= 0 the bisection's midpoints depend only on n and the predicate,
 * so a lower surplus everywhere (lower equity, a worse fill) never returns a smaller q; past a peak the same holds
 * up to the search's resolution.
 */
function smallestRestoring(m: Model, target: number): number | null {
  const surplus = (q: number): number => m.equityAfter(q) - target * m.maintenanceAfter(q);
  const n = m.whole;
  let hi = n;
  if (!(surplus(n) >= 0)) {
    hi = peakOf(surplus, n);
    if (!(surplus(hi) >= 0)) return null;
  }
  let lo = 0;
  const resolution = n * RESOLUTION;
  while (hi - lo > resolution) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (surplus(mid) >= 0) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** A maximiser of the concave f on [0, n], by golden-section search. */
function peakOf(f: (q: number) => number, n: number): number {
  const r = (Math.sqrt(5) - 1) / 2;
  let a = 0;
  let b = n;
  let x1 = b - r * (b - a);
  let x2 = a + r * (b - a);
  let f1 = f(x1);
  let f2 = f(x2);
  for (let i = 0; i < PEAK_STEPS; i++) {
    if (f1 < f2) {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + r * (b - a);
      f2 = f(x2);
    } else {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - r * (b - a);
      f1 = f(x1);
    }
  }
  return f1 >= f2 ? x1 : x2;
}
