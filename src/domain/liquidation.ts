/**
 * Prices at which a position's margin group changes state, and the price a liquidation may fill at
 * (DOMAIN.md sections 1 and 2). Pure functions of plain numbers.
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

/** dYdX v4 defaults. */
export const DEFAULT_BANKRUPTCY_ADJUSTMENT = 1;
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

/** Relative distance of a fill from the oracle: the first key of DOMAIN.md section 7's ordering. */
export function underwaterness(fillable: number, oraclePrice: number): number {
  return Math.abs(fillable - oraclePrice) / oraclePrice;
}
