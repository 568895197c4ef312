/** Pure margin math: no I/O, no Atomics, no clock. */
export { notional, unrealizedPnl, health, canBeLiquidated, isMarginCall, freeCollateral } from './margin.js';
export {
  liquidationPrice,
  bankruptcyPrice,
  adjustedBankruptcyRating,
  fillablePrice,
  bankruptcyValue,
  underwaterness,
  liquidationFee,
  healingShareBound,
  deleveragePrice,
  type FeeBounds,
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
export {
  type SizingInput,
  type SizingDecision,
  type SizingReason,
  type SizingBound,
  type StateAfterClose,
  type StepCap,
  closeQuantity,
  maxStepQuantity,
  maintenanceAtMark,
  stateAfterClose,
} from './sizing.js';
export { type SizingPolicy, DEFAULT_SIZING_POLICY, validateSizingPolicy } from '../config-types.js';
export {
  type Side,
  type AdlRankPolicy,
  type AdlCandidate,
  type AdlQueueEntry,
  type AdlQueueOptions,
  type AdlBankrupt,
  type AdlMatch,
  type AdlMatchResult,
  pnlPercent,
  effectiveLeverage,
  leveragedPnlRank,
  adlRank,
  adlRankHyperliquid,
  adlQueue,
  adlMatches,
} from './adl.js';
