/**
 * Circuit breakers (docs/domain.md section 5): when a market's prices cannot be trusted, its liquidations pause, and
 * they resume on their own once the prices are healthy again. The checks, in the order a pause reports them:
 *   ORACLE_STALE          fewer fresh sources than the aggregation requires
 *   ORACLE_TWAP_BAND      the oracle left a band around its own recent time-weighted average (Drift: 50% vs 5 min)
 *   ORACLE_CONFIDENCE     the aggregate's confidence is too wide relative to its price (Drift: 2%)
 *   ORACLE_FROZEN_SOURCE  a fresh source has not moved for a while although the oracle moved since it last did
 *                         (Chainlink's minAnswer floor during LUNA: a feed that stopped moving while others moved)
 */
import type { GuardPolicy } from '../config-types.js';
import { configNumbers } from '../errors.js';

export const OracleGuardCode = {
  Stale: 'ORACLE_STALE',
  TwapBand: 'ORACLE_TWAP_BAND',
  Confidence: 'ORACLE_CONFIDENCE',
  FrozenSource: 'ORACLE_FROZEN_SOURCE',
} as const;
export type OracleGuardCode = (typeof OracleGuardCode)[keyof typeof OracleGuardCode];

/** Why a market is paused: a stable code and a sentence for humans. */
export interface PauseReason {
  readonly code: string;
  readonly reason: string;
}

export function validateGuardPolicy(p: GuardPolicy, field = 'guards'): GuardPolicy {
  const check = configNumbers(p, field);
  check('twapWindowUs', (v) => v > 0 && v < Infinity, 'a finite number > 0');
  check('twapBand', (v) => v >= 0, 'a number >= 0 (Infinity: off)');
  check('maxConfidenceFraction', (v) => v >= 0, 'a number >= 0 (Infinity: off)');
  check('frozenAfterUs', (v) => v > 0, 'a number > 0');
  check('frozenMoveFraction', (v) => v >= 0, 'a number >= 0 (Infinity: off)');
  return p;
}

/** The percentage of `x`, for reasons: 0.1234 -> "12.34%". */
export function percent(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}
