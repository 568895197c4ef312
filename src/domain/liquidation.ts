/**
 * Prices at which a position's margin group changes state, and the price a liquidation may fill at
 * (docs/domain.md sections 1 and 2). Pure functions of plain numbers.
 *
 * "Others held fixed": `otherEquity` is the group's collateral plus the unrealized PnL of its other positions,
 * `otherMaintenance` their maintenance margin. For an isolated position both are its own collateral and 0.
 */
import { type TierSchedule } from './tiers.js';

/**
 * The mark price p at which the group's equity equals its maintenance margin, the other prices held fixed:
 *
 *   otherEquity + size * (p - entryPrice) = otherMaintenance + |size| * p * f[t] - amount[t]
 *   p = (otherEquity - otherMaintenance + amount[t] - size * entryPrice) / (|size| * f[t] - size)
 *
 * which is Binance's one-way cross formula with s = sign(size), Q = |size|. The root is tried in each tier and
 * kept where |size| * p falls inside that tier; the group's surplus is monotone in p (f < 1), so there is at
 * most one. NaN when there is none at a positive price (a long that cannot be liquidated, a group that is
 * below maintenance at every price) or the size is 0.
 */
export function liquidationPrice(
  size: number,
  entryPrice: number,
  otherEquity: number,
  otherMaintenance: number,
  s: TierSchedule,
): number {
  if (size === 0) return NaN;
  const q = Math.abs(size);
  const base = otherEquity - otherMaintenance - size * entryPrice;
  let lower = 0;
  for (let t = 0; t < s.count; t++) {
    const upper = s.upperBound[t]!;
    const p = (base + s.maintenanceAmount[t]!) / (q * s.maintenanceFraction[t]! - size);
    const n = q * p;
    // Relative slack: a root computed in one tier may land a few ulps across the boundary it shares.
    const slack = 1e-12 * Math.max(1, n);
    if (p > 0 && Number.isFinite(p) && n >= lower - slack && n <= upper + slack) return p;
    lower = upper;
  }
  return NaN;
}

/**
 * The mark price at which the group's equity reaches 0, the other prices held fixed:
 * otherEquity + size * (p - entryPrice) = 0. NaN when that price is not positive or the size is 0.
 */
export function bankruptcyPrice(size: number, entryPrice: number, otherEquity: number): number {
  if (size === 0) return NaN;
  const p = entryPrice - otherEquity / size;
  return p > 0 && Number.isFinite(p) ? p : NaN;
}

/** dYdX v4's default bankruptcy adjustment (BA). */
export const DEFAULT_BANKRUPTCY_ADJUSTMENT = 1;
/** dYdX v4's default spread to maintenance margin ratio (SMMR). */
export const DEFAULT_SPREAD_TO_MAINTENANCE_MARGIN_RATIO = 0.1;

/**
 * Adjusted bankruptcy rating: clamp(BA * (1 - TNC / TMMR), 0, 1). 0 at TNC = TMMR, 1 at TNC <= 0 (BA = 1).
 */
export function adjustedBankruptcyRating(equity: number, totalMaintenance: number, bankruptcyAdjustment: number): number {
  if (!(totalMaintenance > 0)) return 0;
  // BA * (TMMR - TNC) / TMMR: the same as BA * (1 - TNC / TMMR), with one rounding fewer.
  const r = (bankruptcyAdjustment * (totalMaintenance - equity)) / totalMaintenance;
  return r < 0 ? 0 : r > 1 ? 1 : r;
}

/**
 * dYdX v4 fillable price: (PNNV - ABR * SMMR * PMMR) / PS, PNNV = size * oraclePrice.
 * It concedes from the oracle price towards the bankruptcy side by at most SMMR * PMMR / |size| (for BA = 1).
 * Computed from the whole position's size even when only part of it is closed.
 */
export function fillablePrice(
  oraclePrice: number,
  size: number,
  positionMaintenance: number,
  equity: number,
  totalMaintenance: number,
  bankruptcyAdjustment: number = DEFAULT_BANKRUPTCY_ADJUSTMENT,
  spreadToMaintenanceMarginRatio: number = DEFAULT_SPREAD_TO_MAINTENANCE_MARGIN_RATIO,
): number {
  if (size === 0) return oraclePrice;
  const abr = adjustedBankruptcyRating(equity, totalMaintenance, bankruptcyAdjustment);
  // (PNNV - ABR * SMMR * PMMR) / PS, written as oracle - ABR * SMMR * PMMR / PS so that PNNV / PS does not round.
  return oraclePrice - (abr * spreadToMaintenanceMarginRatio * positionMaintenance) / size;
}

/**
 * The quote amount that closing part of a position must bring for the group's TNC / TMMR to stay unchanged:
 * -DNNV - TNC * |DMMR| / TMMR, where DNNV and DMMR are the changes in net notional and in maintenance margin.
 * Closing 0.1 BTC long at 50,000 (DNNV = -5,000, DMMR = -500) with TNC 499 and TMMR 500 gives 4,501.
 */
export function bankruptcyValue(deltaNetNotional: number, deltaMaintenance: number, equity: number, totalMaintenance: number): number {
  const share = totalMaintenance > 0 ? (equity * Math.abs(deltaMaintenance)) / totalMaintenance : 0;
  return -deltaNetNotional - share;
}

/** Relative distance of a fill from the oracle: the first key of docs/domain.md section 7's ordering. */
export function underwaterness(fillable: number, oraclePrice: number): number {
  return Math.abs(fillable - oraclePrice) / oraclePrice;
}

/** The bounds of the liquidation fee (README "Liquidation procedures"): fractions, >= 0. */
export interface FeeBounds {
  /** The most the fee may take per quote of fill value (dYdX: 0.015). */
  readonly maxFeeFraction: number;
  /** The most the fee may take per quote of maintenance margin the close releases (k; dYdX at launch: 0.5). */
  readonly maxMaintenanceShare: number;
}

/**
 * The liquidation fee of a close (docs/domain.md section 2): `min(surplus, k * |DMMR|, maxFeeFraction * |fill value|)`,
 * and 0 when the fill is at or below its bankruptcy value (surplus <= 0). A fee equal to the whole surplus would
 * keep TNC / TMMR where it was; the k bound leaves a share of the released margin with the account, so a partial
 * close at the fillable price raises health (see `healingShareBound`). The one copy of the fee rule: the sizing
 * model uses it as is, the ledger rounds it down to atoms.
 */
export function liquidationFee(surplus: number, maintenanceReleased: number, fillValue: number, fees: FeeBounds): number {
  if (!(surplus > 0)) return 0;
  return Math.max(0, Math.min(surplus, fees.maxMaintenanceShare * Math.abs(maintenanceReleased), fees.maxFeeFraction * Math.abs(fillValue)));
}

/**
 * The largest k (`fees.maxMaintenanceShare`) for which every close at the fillable price of a group above health
 * `emergencyHealth` raises its health. Closing a share phi of a position at the fillable price, with the fee at
 * its k bound, moves health from h to (h - phi * (a + k)) / (1 - phi), a = min(BA * (1 - h), 1) * SMMR (the
 * fillable price's concession per quote of maintenance), which rises exactly when h > a + k. h - a(h) grows with
 * h, so the binding case is h = emergencyHealth: k <= e - min(BA * (1 - e), 1) * SMMR. Negative when the
 * concession alone outweighs the margin released just above that level (no fee rule can heal there).
 */
export function healingShareBound(emergencyHealth: number, bankruptcyAdjustment: number, spreadToMaintenanceMarginRatio: number): number {
  const e = emergencyHealth;
  return e - Math.min(bankruptcyAdjustment * (1 - e), 1) * spreadToMaintenanceMarginRatio;
}

/**
 * The price at which closing `quantity` of a position keeps its group's TNC / TMMR unchanged, valued at the mark:
 * `mark - (TNC / TMMR) * |DMMR| / (sign(size) * quantity)`, the bankruptcy value of docs/domain.md section 2 per base
 * unit. Closing every position of a group at these prices takes its equity to exactly 0, each position taking the
 * share of the deficit (or of what is left) that its maintenance margin has of the group's (dYdX): this is the
 * price auto-deleveraging closes at. For a group of one position it is `bankruptcyPrice()`. NaN when not positive.
 */
export function deleveragePrice(markPrice: number, size: number, quantity: number, maintenanceReleased: number, equity: number, totalMaintenance: number): number {
  if (size === 0 || !(quantity > 0)) return NaN;
  const side = Math.sign(size);
  const p = totalMaintenance > 0 ? markPrice - ((equity / totalMaintenance) * Math.abs(maintenanceReleased)) / (side * quantity) : markPrice - equity / (side * quantity);
  return p > 0 && Number.isFinite(p) ? p : NaN;
}
