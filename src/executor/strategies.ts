/**
 * Execution strategies on the executor thread: how a liquidation's sized quantity is spread over event time
 * (docs/domain.md section 6.6; the config in src/config-types.ts `ExecutionConfig`). A strategy never decides how
 * much to close (the sizing does, every epoch, from the group's margin) nor at what price (every child order is an
 * IOC at the group's fillable price, bounded by the bankruptcy price): only how much of the sized quantity goes now.
 *
 * A liquidation under a strategy other than 'ioc' has a parent: the event time it began and the last step that got
 * a child. Step k begins `k * stepSec` after the start; a step gets at most one child, and a child of a later step
 * takes what the schedule says of what the sizing then asks (so a step without an epoch, or a child that did not
 * fill, is caught up by the next). Deterministic: a function of the tables' event time and this state only.
 */
import type { ExecutionConfig, StrategyChoice, StrategySpec } from '../config-types.js';
import { almgrenChrissHoldings, disposalQuantity, twapSlice } from '../domain/schedules.js';

/** A liquidation in progress under a stepped strategy. */
export interface Parent {
  /** Event time of its first step, microseconds. */
  readonly startUs: number;
  /** The last step that got a child (-1: none yet). */
  lastStep: number;
}

/** The child due now: base units (0: none until the next step) and the step it belongs to. */
export interface Child {
  readonly quantity: number;
  readonly step: number;
}

const US_PER_SECOND = 1_000_000;

export class Strategies {
  private readonly byMarket = new Map<number, StrategyChoice>();

  constructor(private readonly config: ExecutionConfig) {
    for (const m of config.markets ?? []) this.byMarket.set(m.market, m);
  }

  /** The strategy for a position of `notional` (quote, at the mark) in market `marketId`. */
  choose(marketId: number, notional: number): StrategySpec {
    const choice = this.byMarket.get(marketId) ?? this.config;
    let spec = choice.strategy;
    // Size classes are in ascending order: the largest one the position reaches applies.
    for (const c of choice.sizeClasses ?? []) if (notional >= c.minNotional) spec = c.strategy;
    return spec;
  }
}

/**
 * The child of `parent` due at `nowUs` under `spec`, when the sizing asks for `wanted` base units (> 0). 'ioc' takes
 * all of it at once (no parent needed).
 */
export function childQuantity(spec: StrategySpec, wanted: number, parent: Parent, nowUs: number): Child {
  if (spec.kind === 'ioc') return { quantity: wanted, step: 0 };
  const step = Math.max(0, Math.floor((nowUs - parent.startUs) / (spec.stepSec * US_PER_SECOND)));
  if (step <= parent.lastStep) return { quantity: 0, step };
  const elapsedSec = step * spec.stepSec;
  switch (spec.kind) {
    case 'twap':
      return { quantity: twapSlice({ remaining: wanted, dtSec: spec.stepSec, timeLeftSec: spec.horizonSec - elapsedSec, maxParticipation: Infinity, bookVolume: Infinity }), step };
    case 'disposal':
      return { quantity: disposalQuantity({ stepSec: spec.stepSec, fraction: spec.fraction, fullDisposalSize: spec.fullDisposalSize, maxFractionOfBook: 1 }, wanted, Infinity), step };
    case 'almgren-chriss': {
      // The trajectory's share of what is left that this step trades: from x(t) down to x(t + step), on what the
      // sizing now asks (the trajectory of a unit position; it scales).
      const next = elapsedSec + spec.stepSec;
      if (next >= spec.horizonSec) return { quantity: wanted, step };
      const unit = { size: 1, horizonSec: spec.horizonSec, sigma: spec.sigma, eta: spec.eta, lambda: spec.lambda };
      const share = 1 - almgrenChrissHoldings(unit, next) / almgrenChrissHoldings(unit, elapsedSec);
      return { quantity: wanted * share, step };
    }
  }
}
