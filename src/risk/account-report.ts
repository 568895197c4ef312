/**
 * An account as a risk desk reads it: equity, margins, health, and per position the liquidation, bankruptcy and
 * fillable prices. Served by `Engine.account()` and printed by `unwind check`; every number is one of the
 * domain functions applied to the table's values, so a user can reproduce it from the published parameters.
 */
import { adlRank } from '../domain/adl.js';
import { bankruptcyPrice, fillablePrice, liquidationPrice } from '../domain/liquidation.js';
import { canBeLiquidated, freeCollateral, health, isMarginCall, notional } from '../domain/margin.js';
import { NONE, PositionFlag, type Tables } from '../tables/layout.js';
import { positionInitial, positionMaintenance, scheduleOf } from '../tables/margin.js';
import { crossGroup, emptyGroup, type GroupMargin, isolatedGroup, positionPnl } from '../scan/group.js';
import type { ExecutorConfig } from '../config-types.js';

/** One position as `engine.account()` reports it. Prices are quote per base unit, amounts quote units. */
export interface PositionReport {
  /** The market id. */
  readonly market: number;
  /** The market's symbol. */
  readonly symbol: string;
  /** Signed base units: long > 0, short < 0. */
  readonly size: number;
  /** The average entry price. */
  readonly entryPrice: number;
  /** The market's mark price. */
  readonly markPrice: number;
  /** |size| x mark price. */
  readonly notional: number;
  /** size x (mark - entry). */
  readonly unrealizedPnl: number;
  /** The position's initial margin at its tier. */
  readonly initialMargin: number;
  /** The position's maintenance margin at its tier. */
  readonly maintenanceMargin: number;
  /** null: cross-margined. */
  readonly isolatedCollateral: number | null;
  /** Health of the isolated group; null when cross (see the account's health). */
  readonly health: number | null;
  /** null where no positive price exists (see docs/domain.md section 1). */
  readonly liquidationPrice: number | null;
  /** The price at which its group's equity reaches 0 (docs/domain.md section 2); null where none is positive. */
  readonly bankruptcyPrice: number | null;
  /** The worst price a liquidation order may fill at: its limit price. */
  readonly fillablePrice: number;
  /**
   * Auto-deleveraging rank (docs/domain.md section 4): pnl% x effective leverage when in profit, pnl% / leverage when
   * not; the higher, the earlier the position is deleveraged against a bankrupt one on the other side. Always a
   * finite number: 0 when flat or when the group has no positive equity (such a position is liquidated, never a
   * counterparty: `adlQueued` is false).
   */
  readonly adlRank: number;
  /** Whether the position stands in an ADL queue: not flat, and its group's equity is positive. */
  readonly adlQueued: boolean;
}

/** An account as `engine.account()` reports it: its cross group and every position. */
export interface AccountReport extends Omit<CrossSummary, 'health'> {
  /** null when the cross group has no requirement (health would be infinite). */
  readonly health: number | null;
  /** Every open position. */
  readonly positions: PositionReport[];
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** An account's cross group: what `AccountReport` says about it without the per-position detail. */
export interface CrossSummary {
  /** The account id. */
  readonly id: number;
  /** Cross collateral, quote units. */
  readonly collateral: number;
  /** Collateral plus the cross positions' unrealized PnL. */
  readonly equity: number;
  /** The cross positions' initial margin. */
  readonly initialMargin: number;
  /** The cross positions' maintenance margin. */
  readonly maintenanceMargin: number;
  /** Equity minus initial margin. */
  readonly freeCollateral: number;
  /** Infinity when the cross group has no requirement. */
  readonly health: number;
  /** Equity below maintenance margin. */
  readonly liquidatable: boolean;
  /** Health below config.marginCallHealth (liquidatable or not). */
  readonly marginCall: boolean;
}

/** The cross group of account index `a` from the table's current values, given its computed group margin. */
export function crossSummary(t: Tables, a: number, config: ExecutorConfig, cross: GroupMargin = crossGroup(t, a, emptyGroup())): CrossSummary {
  return {
    id: t.accounts.id[a]!,
    collateral: t.accounts.collateral[a]!,
    equity: cross.equity,
    initialMargin: cross.initial,
    maintenanceMargin: cross.maintenance,
    freeCollateral: freeCollateral(cross.equity, cross.initial),
    health: health(cross.equity, cross.maintenance),
    liquidatable: canBeLiquidated(cross.equity, cross.maintenance),
    marginCall: isMarginCall(cross.equity, cross.maintenance, config.marginCallHealth),
  };
}

export function accountReport(
  t: Tables,
  a: number,
  config: ExecutorConfig,
  symbolOf: (marketIndex: number) => string,
): AccountReport {
  const cross = crossGroup(t, a, emptyGroup());
  const p = t.positions;
  const positions: PositionReport[] = [];
  for (let s = t.accounts.firstPosition[a]!; s !== NONE; s = p.next[s]!) {
    if ((p.flags[s]! & PositionFlag.Live) === 0) continue;
    const isolated = (p.flags[s]! & PositionFlag.Isolated) !== 0;
    const g = isolated ? isolatedGroup(t, s, emptyGroup()) : cross;
    const m = p.market[s]!;
    const size = p.size[s]!;
    const mark = t.markets.markPrice[m]!;
    const pnl = positionPnl(t, s);
    const mm = positionMaintenance(t, s);
    const otherEquity = g.equity - pnl;
    const otherMaintenance = g.maintenance - mm;
    positions.push({
      market: t.markets.id[m]!,
      symbol: symbolOf(m),
      size,
      entryPrice: p.entryPrice[s]!,
      markPrice: mark,
      notional: notional(size, mark),
      unrealizedPnl: pnl,
      initialMargin: positionInitial(t, s),
      maintenanceMargin: mm,
      isolatedCollateral: isolated ? p.isolatedCollateral[s]! : null,
      health: isolated ? finiteOrNull(health(g.equity, g.maintenance)) : null,
      liquidationPrice: finiteOrNull(liquidationPrice(size, p.entryPrice[s]!, otherEquity, otherMaintenance, scheduleOf(t, m))),
      bankruptcyPrice: finiteOrNull(bankruptcyPrice(size, p.entryPrice[s]!, otherEquity)),
      fillablePrice: fillablePrice(
        t.markets.oraclePrice[m]!,
        size,
        mm,
        g.equity,
        g.maintenance,
        config.bankruptcyAdjustment,
        config.spreadToMaintenanceMarginRatio,
      ),
      adlRank: size === 0 || !(g.equity > 0) ? 0 : Math.max(-Number.MAX_VALUE, Math.min(Number.MAX_VALUE, adlRank(size, p.entryPrice[s]!, mark, g.equity))),
      adlQueued: size !== 0 && g.equity > 0,
    });
  }
  const summary = crossSummary(t, a, config, cross);
  return {
    ...summary,
    health: finiteOrNull(summary.health),
    positions,
  };
}
