/**
 * Margin of one margin group read straight from the tables: the authoritative computation the executor uses to
 * re-check a candidate, and the account view uses to report. The scan kernels compute the same per-position
 * terms with the same functions (src/tables/margin.ts) and sum them in the same order (the account's list
 * order), so a group's numbers are bit-identical whichever thread computes them.
 */
import { unrealizedPnl } from '../domain/margin.js';
import { NONE, PositionFlag, type Tables } from '../tables/layout.js';
import { positionInitial, positionMaintenance } from '../tables/margin.js';

export interface GroupMargin {
  equity: number;
  maintenance: number;
  initial: number;
}

export function emptyGroup(): GroupMargin {
  return { equity: 0, maintenance: 0, initial: 0 };
}

export function positionPnl(t: Tables, slot: number): number {
  const p = t.positions;
  return unrealizedPnl(p.size[slot]!, t.markets.markPrice[p.market[slot]!]!, p.entryPrice[slot]!);
}

/** Cross group of account `a`: collateral + PnL of its Live cross positions, their margins. */
export function crossGroup(t: Tables, a: number, out: GroupMargin): GroupMargin {
  const p = t.positions;
  let pnl = 0;
  let mm = 0;
  let im = 0;
  for (let s = t.accounts.firstPosition[a]!; s !== NONE; s = p.next[s]!) {
    if ((p.flags[s]! & (PositionFlag.Live | PositionFlag.Isolated)) !== PositionFlag.Live) continue;
    pnl += positionPnl(t, s);
    mm += positionMaintenance(t, s);
    im += positionInitial(t, s);
  }
  out.equity = t.accounts.collateral[a]! + pnl;
  out.maintenance = mm;
  out.initial = im;
  return out;
}

/** Isolated group of the position in `slot`: its own collateral and PnL, its margins. */
export function isolatedGroup(t: Tables, slot: number, out: GroupMargin): GroupMargin {
  out.equity = t.positions.isolatedCollateral[slot]! + positionPnl(t, slot);
  out.maintenance = positionMaintenance(t, slot);
  out.initial = positionInitial(t, slot);
  return out;
}

export function isLiveIsolated(t: Tables, slot: number): boolean {
  return (t.positions.flags[slot]! & (PositionFlag.Live | PositionFlag.Isolated)) === (PositionFlag.Live | PositionFlag.Isolated);
}
export function isLiveCross(t: Tables, slot: number): boolean {
  return (t.positions.flags[slot]! & (PositionFlag.Live | PositionFlag.Isolated)) === PositionFlag.Live;
}
