/**
 * Circuit breakers (DOMAIN.md section 5): when a market's prices cannot be trusted, its liquidations pause, and
 * they resume on their own once the prices are healthy again. The checks, in the order a pause reports them:
 *   ORACLE_STALE          fewer fresh sources than the aggregation requires
 *   ORACLE_TWAP_BAND      the oracle left a band around its own recent time-weighted average (Drift: 50% vs 5 min)
 *   ORACLE_CONFIDENCE     the aggregate's confidence is too wide relative to its price (Drift: 2%)
 *   ORACLE_FROZEN_SOURCE  a fresh source has not moved for a while although the oracle moved since it last did
 *                         (Chainlink's minAnswer floor during LUNA: a feed that stopped moving while others moved)
 */
import { configNumbers } from '../errors.js';

export const OracleGuardCode = {
  Stale: 'ORACLE_STALE',
  TwapBand: 'ORACLE_TWAP_BAND',
  Confidence: 'ORACLE_CONFIDENCE',
  FrozenSource: 'ORACLE_FROZEN_SOURCE',
} as const;
export type OracleGuardCode = (typeof OracleGuardCode)[keyof typeof OracleGuardCode];

export interface GuardPolicy {
  /** The TWAP's window, microseconds of event time (> 0). */
  readonly twapWindowUs: number;
  /** Pause when |oracle - TWAP| > twapBand * TWAP. >= 0; Infinity: off. */
  readonly twapBand: number;
  /** Pause when confidence > maxConfidenceFraction * price. >= 0; Infinity: off. */
  readonly maxConfidenceFraction: number;
  /** A fresh source whose price has not changed for this long (microseconds, > 0) ... */
  readonly frozenAfterUs: number;
  /** ... while the oracle moved more than this fraction since the source last changed, is frozen. >= 0; Infinity: off. */
  readonly frozenMoveFraction: number;
}

/**
 * Drift's oracle guard rails: a 5-minute TWAP with a 50% band, and a confidence interval at most 2% of the price.
 * Frozen: 30 s without a change while the oracle moved 2% (the clamp's width: a move the clamp would hide).
 */
export const DEFAULT_GUARD_POLICY: GuardPolicy = Object.freeze({
  twapWindowUs: 300_000_000,
  twapBand: 0.5,
  maxConfidenceFraction: 0.02,
  frozenAfterUs: 30_000_000,
  frozenMoveFraction: 0.02,
});

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
