/** Pure margin math: no I/O, no Atomics, no clock. */
export { notional, unrealizedPnl, health, canBeLiquidated, isMarginCall, freeCollateral } from './margin.js';
export {
  liquidationPrice,
  bankruptcyPrice,
  adjustedBankruptcyRating,
  fillablePrice,
  bankruptcyValue,
  underwaterness,
  DEFAULT_BANKRUPTCY_ADJUSTMENT,
  DEFAULT_SPREAD_TO_MAINTENANCE_MARGIN_RATIO,
} from './liquidation.js';
export {
  type MarginTier,
  type TierSchedule,
  MAX_TIERS,
  compileTiers,
  tieredMargin,
  maintenanceMargin,
  initialMargin,
  tierOf,
} from './tiers.js';
