/**
 * Execution strategies on the executor thread: how a liquidation's sized quantity is spread over event time
 * (docs/domain.md section 6.6; the config in src/config-types.ts `ExecutionConfig`). A strategy never decides how
 * much to close (the sizing does, every epoch, from the group's margin). It decides how much of the sized quantity
 * goes now, and a Dutch auction also at what price, never past the group's fillable price.
 *
 * A liquidation under a stepped strategy has a parent: the event time it began and the last step that got a child.
 * Step k begins `k * stepSec` after the start; a step gets at most one child, and a child of a later step takes
 * what the schedule says of what the sizing then asks (so a step without an epoch, or a child that did not fill,
 * is caught up by the next). Deterministic: a function of the tables' event time and this state only.
 */
import type { BackstopStrategy, ExecutionConfig, PatientStrategy, StrategyChoice, StrategySpec } from '../config-types.js';
import { almgrenChrissHoldings, clipperNeedsReset, clipperPrice, disposalQuantity, twapSlice } from '../domain/schedules.js';

/** A liquidation in progress under a stepped strategy. */
export interface Parent {
  /** Event time of its first step, microseconds (a Dutch auction's restart moves it). */
  startUs: number;
  /** The last step that got a child (-1: none yet). */
  lastStep: number;
  /** A Dutch auction's oracle price at its start, which its price starts from. */
  oracle?: number;
}

/** What the position's market looks like to its child: prices in quote per base; side 1 sells a long, -1 buys back a short. */
export interface ChildContext {
  readonly nowUs: number;
  readonly oraclePrice: number;
  /** The group's fillable price: the price no child goes past. */
  readonly fillablePrice: number;
  readonly side: 1 | -1;
  /** The market's volatility, quote per base per sqrt(second), for an Almgren-Chriss schedule without its own; 0 when unknown. */
  readonly sigma: number;
  /** The book's volume on the side a child trades against (a `depth` input), base units; Infinity when unknown. */
  readonly bookVolume: number;
  /**
   * The market's temporary impact fitted to our own fills (markets.impactEta, src/engine/impact-observer.ts), quote per
   * base per base/second, for an Almgren-Chriss schedule without its own; NaN before a fit (a fit <= 0 is none too).
   */
  readonly eta: number;
}

/** The child due now: base units (0: none until the next step), the step it takes, and its limit price. */
export interface Child {
  readonly quantity: number;
  readonly step: number;
  readonly limitPrice: number;
  /** The most the book lets this step take (the participation cap), base units; Infinity without one. */
  readonly ceiling: number;
}

/** A strategy's share of the book on the child's side, base units (Infinity: no cap, or the depth is unknown). */
function bookShare(share: number | undefined, c: ChildContext): number {
  return share === undefined || c.bookVolume === Infinity ? Infinity : share * c.bookVolume;
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

  /** Whether a market volatility estimate is needed: an adaptive strategy, or an Almgren-Chriss one without its own sigma. */
  needsVolatility(): boolean {
    return this.all().some((x) => x.kind === 'adaptive' || (x.kind === 'almgren-chriss' && x.sigma === undefined));
  }

  /** Every strategy the config can choose, an adaptive one's patient strategy included. */
  all(): StrategySpec[] {
    const choices: StrategyChoice[] = [this.config, ...this.byMarket.values()];
    const chosen = choices.flatMap((c): StrategySpec[] => [c.strategy, ...(c.sizeClasses ?? []).map((k) => k.strategy)]);
    return chosen.flatMap((x): StrategySpec[] => (x.kind === 'adaptive' ? [x, x.patient, x.urgent ?? { kind: 'ioc' }] : [x]));
  }
}

/**
 * The price a backstop vault takes a position at: `oracle * (1 - discount)` when it buys a long, `oracle * (1 + discount)`
 * when it sells to a short, never worse for the liquidated account than the group's fillable price.
 */
export function backstopPrice(spec: BackstopStrategy, oraclePrice: number, fillablePrice: number, side: 1 | -1): number {
  const discount = spec.discount ?? 0;
  return side === 1 ? Math.max(oraclePrice * (1 - discount), fillablePrice) : Math.min(oraclePrice * (1 + discount), fillablePrice);
}

/** A parent for a liquidation that starts now. */
export function newParent(spec: PatientStrategy, c: ChildContext): Parent {
  return spec.kind === 'dutch-auction' ? { startUs: c.nowUs, lastStep: -1, oracle: c.oraclePrice } : { startUs: c.nowUs, lastStep: -1 };
}

/** The child of `parent` due now under `spec`, when the sizing asks for `wanted` base units (> 0). */
export function childOf(spec: PatientStrategy, wanted: number, parent: Parent, c: ChildContext): Child {
  if (spec.kind === 'dutch-auction') restartIfDue(spec, parent, c);
  const step = Math.max(0, Math.floor((c.nowUs - parent.startUs) / (spec.stepSec * US_PER_SECOND)));
  const none = { quantity: 0, step, limitPrice: c.fillablePrice, ceiling: Infinity };
  if (step <= parent.lastStep) return none;
  const elapsedSec = step * spec.stepSec;
  switch (spec.kind) {
    case 'twap':
      return {
        ...none,
        quantity: twapSlice({ remaining: wanted, dtSec: spec.stepSec, timeLeftSec: spec.horizonSec - elapsedSec, maxParticipation: spec.maxParticipation ?? Infinity, bookVolume: c.bookVolume }),
        ceiling: bookShare(spec.maxParticipation, c),
      };
    case 'disposal':
      return {
        ...none,
        quantity: disposalQuantity({ stepSec: spec.stepSec, fraction: spec.fraction, fullDisposalSize: spec.fullDisposalSize, maxFractionOfBook: spec.maxFractionOfBook ?? 1 }, wanted, spec.maxFractionOfBook === undefined ? Infinity : c.bookVolume),
        ceiling: bookShare(spec.maxFractionOfBook, c),
      };
    case 'almgren-chriss': {
      // The trajectory's share of what is left that this step trades: from x(t) down to x(t + step), on what the
      // sizing now asks (the trajectory of a unit position; it scales).
      const cap = bookShare(spec.maxParticipation, c);
      const next = elapsedSec + spec.stepSec;
      if (next >= spec.horizonSec) return { ...none, quantity: Math.min(wanted, cap), ceiling: cap };
      // Without a volatility (configured or estimated) kappa is 0: the trajectory is TWAP's. So it is without an eta
      // (configured, or fitted > 0): lambda 0 gives kappa 0 whatever the placeholder eta of 1.
      const eta = spec.eta ?? c.eta;
      const known = eta > 0 && eta < Infinity;
      const unit = { size: 1, horizonSec: spec.horizonSec, sigma: spec.sigma ?? c.sigma, eta: known ? eta : 1, lambda: known ? spec.lambda : 0 };
      return { ...none, quantity: Math.min(cap, wanted * (1 - almgrenChrissHoldings(unit, next) / almgrenChrissHoldings(unit, elapsedSec))), ceiling: cap };
    }
    case 'dutch-auction': {
      // All of it, at the auction's price now: a sell from oracle * buf down, a buy mirrored from below the oracle
      // up; never past the fillable price, which is where a sell's auction ends.
      const sell = clipperPrice({ buf: spec.buf, decrease: spec.decrease }, parent.oracle!, (c.nowUs - parent.startUs) / US_PER_SECOND);
      const limitPrice = c.side === 1 ? Math.max(sell, c.fillablePrice) : Math.min(2 * parent.oracle! - sell, c.fillablePrice);
      return { quantity: wanted, step, limitPrice, ceiling: Infinity };
    }
  }
}

/** MakerDAO's `redo`: an auction past its tail, or whose price fell below `cusp` of its start, starts again from the oracle now. */
function restartIfDue(spec: Extract<PatientStrategy, { kind: 'dutch-auction' }>, parent: Parent, c: ChildContext): void {
  const elapsedSec = (c.nowUs - parent.startUs) / US_PER_SECOND;
  const top = parent.oracle! * spec.buf;
  const price = clipperPrice({ buf: spec.buf, decrease: spec.decrease }, parent.oracle!, elapsedSec);
  if (!clipperNeedsReset({ tailSec: spec.tailSec, cusp: spec.cusp }, top, price, elapsedSec)) return;
  parent.startUs = c.nowUs;
  parent.lastStep = -1;
  parent.oracle = c.oraclePrice;
}
