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

export interface PositionReport {
  readonly market: number;
  readonly symbol: string;
  readonly size: number;
  readonly entryPrice: number;
  readonly markPrice: number;
  readonly notional: number;
  readonly unrealizedPnl: number;
  readonly initialMargin: number;
  readonly maintenanceMargin: number;
  /** null: cross-margined. */
  readonly isolatedCollateral: number | null;
  /** Health of the isolated group; null when cross (see the account's health). */
  readonly health: number | null;
  /** null where no positive price exists (see docs/domain.md section 1). */
  readonly liquidationPrice: number | null;
  readonly bankruptcyPrice: number | null;
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
  readonly positions: PositionReport[];
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** An account's cross group: what `AccountReport` says about it without the per-position detail. */
export interface CrossSummary {
  readonly id: number;
  readonly collateral: number;
  readonly equity: number;
  readonly initialMargin: number;
  readonly maintenanceMargin: number;
  readonly freeCollateral: number;
  /** Infinity when the cross group has no requirement. */
  readonly health: number;
  readonly liquidatable: boolean;
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
