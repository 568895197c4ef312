/**
 * Margin read straight from the market table's tier columns: the one place that turns a market's tiers in the
 * tables into a margin. The scan kernels call it per position, the executor re-checks and sizes with it, clearing
 * prices deleveragings with it and the account view reports it, so every thread gets the same bits from the same
 * arithmetic. Any thread: it only reads the tables.
 */
import { notional as notionalOf } from '../domain/margin.js';
import { tieredMargin, type TierSchedule } from '../domain/tiers.js';
import { tierBase, type Tables } from './layout.js';

/**
 * Maintenance margin of `notional` (quote units) under the `count` tiers at `base` of the tier columns, i.e.
 * `tierBase(m)` and `markets.tierCount[m]` of a market m. The phase-1 kernel resolves base and count once per
 * market slice and calls this per position (reading them per call cost that loop about a fifth of its speed).
 * Anything else calls `marketMaintenance`.
 */
export function tierMaintenance(mk: Tables['markets'], base: number, count: number, notional: number): number {
  return tieredMargin(notional, mk.tierUpperBound, mk.maintenanceFraction, mk.maintenanceAmount, base, count);
}

/** Initial margin of `notional` under the `count` tiers at `base` of the tier columns (as `tierMaintenance`). */
export function tierInitial(mk: Tables['markets'], base: number, count: number, notional: number): number {
  return tieredMargin(notional, mk.tierUpperBound, mk.initialFraction, mk.initialAmount, base, count);
}

/** Maintenance margin of `notional` (quote units) under market `m`'s tiers. */
export function marketMaintenance(t: Tables, m: number, notional: number): number {
  return tierMaintenance(t.markets, tierBase(m), t.markets.tierCount[m]!, notional);
}

/** Initial margin of `notional` (quote units) under market `m`'s tiers. */
export function marketInitial(t: Tables, m: number, notional: number): number {
  return tierInitial(t.markets, tierBase(m), t.markets.tierCount[m]!, notional);
}

/** Maintenance margin of the position in `slot` at its market's mark price. */
export function positionMaintenance(t: Tables, slot: number): number {
  const m = t.positions.market[slot]!;
  return marketMaintenance(t, m, notionalOf(t.positions.size[slot]!, t.markets.markPrice[m]!));
}

/** Initial margin of the position in `slot` at its market's mark price. */
export function positionInitial(t: Tables, slot: number): number {
  const m = t.positions.market[slot]!;
  return marketInitial(t, m, notionalOf(t.positions.size[slot]!, t.markets.markPrice[m]!));
}

/** Market `m`'s tier schedule as views into the tier columns (no copy), for the domain functions that take one. */
export function scheduleOf(t: Tables, m: number): TierSchedule {
  const mk = t.markets;
  const base = tierBase(m);
  const n = mk.tierCount[m]!;
  return {
    count: n,
    upperBound: mk.tierUpperBound.subarray(base, base + n),
    maintenanceFraction: mk.maintenanceFraction.subarray(base, base + n),
    maintenanceAmount: mk.maintenanceAmount.subarray(base, base + n),
    initialFraction: mk.initialFraction.subarray(base, base + n),
    initialAmount: mk.initialAmount.subarray(base, base + n),
  };
}
