/**
 * What the executor may do in each market: the operator's kill switch and the oracle guards combined into one mode
 * per market, which the main thread writes to `markets.liquidationMode` between epochs and the executor reads.
 *
 * Kill switch levels (global, or per market; a market's level is the higher of the two):
 *   normal      nothing held back
 *   no-new      no liquidation of a margin group that has had no order yet in its current liquidation; groups
 *               already being liquidated continue (follow-up steps, re-issue after an expiry)
 *   no-reissue  no liquidation order at all; orders already out may still fill, and their fills settle
 *   halt        as no-reissue, and no deleveraging either (automatic ADL after a fill, or `deleverage`)
 * An oracle pause (src/oracle/guards.ts) holds orders like no-reissue: a price that cannot be trusted decides nothing.
 * Margin calls and lifecycle events continue in every mode: they describe accounts, they do not act on them.
 */
import { ErrorCode, UnwindError } from '../errors.js';
import { refill } from '../maps.js';
import { LiquidationMode } from '../tables/layout.js';

/** A level's index here is its `markets.liquidationMode` value (LiquidationMode, src/tables/layout.ts). */
export const KILL_LEVELS = ['normal', 'no-new', 'no-reissue', 'halt'] as const;
/**
 * A kill switch level, each holding back more: 'normal' nothing; 'no-new' no liquidation of a group not yet being
 * liquidated; 'no-reissue' no liquidation order at all (orders out may still fill); 'halt' as no-reissue, and no
 * deleveraging (this file's header, README "Kill switch").
 */
export type KillLevel = (typeof KILL_LEVELS)[number];

export function killLevelOf(v: unknown, field: string): KillLevel {
  if (!KILL_LEVELS.includes(v as KillLevel)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected one of ${KILL_LEVELS.join(', ')}, got ${String(v)}`, field);
  }
  return v as KillLevel;
}

/** A market's status as subscribers see it: paused (with a code and reason) or not. */
export interface MarketStatusChange {
  /** The market id. */
  readonly market: number;
  /** Paused, or resumed. */
  readonly state: 'paused' | 'resumed';
  /** KILL_SWITCH, ORACLE_STALE, ORACLE_TWAP_BAND, ORACLE_CONFIDENCE, ORACLE_FROZEN_SOURCE; HEALTHY on resuming. */
  readonly code: string;
  /** Why, for humans. */
  readonly reason: string;
  /** The event time of the input that changed it, microseconds since the Unix epoch. */
  readonly eventTimeUs: number;
}

interface Held {
  mode: number;
  code: string;
  reason: string;
}

export interface MarketModesState {
  readonly global: { readonly level: KillLevel; readonly reason: string };
  readonly kill: ReadonlyMap<number, { level: KillLevel; reason: string }>;
  readonly pause: ReadonlyMap<number, { code: string; reason: string }>;
  readonly current: ReadonlyMap<number, Held>;
}

/** Per market: the kill switch and the oracle's pause, and the mode and status they make. Main thread only. */
export class MarketModes {
  private global: { level: KillLevel; reason: string } = { level: 'normal', reason: '' };
  private readonly kill = new Map<number, { level: KillLevel; reason: string }>();
  private readonly pause = new Map<number, { code: string; reason: string }>();
  private readonly current = new Map<number, Held>();

  /** Snapshot (src/journal): kill levels, pauses and the modes announced, as plain data. */
  exportState(): MarketModesState {
    return { global: this.global, kill: this.kill, pause: this.pause, current: this.current };
  }
  importState(s: MarketModesState): void {
    this.global = { ...s.global };
    refill(this.kill, s.kill);
    refill(this.pause, s.pause);
    refill(this.current, s.current);
  }

  setKill(level: KillLevel, market: number | undefined, reason: string): void {
    if (market === undefined) this.global = { level, reason };
    else if (level === 'normal') this.kill.delete(market);
    else this.kill.set(market, { level, reason });
  }

  /** The kill level in force for `market` (undefined: the global level). */
  killLevel(market?: number): KillLevel {
    if (market === undefined) return this.global.level;
    const own = this.kill.get(market);
    return own !== undefined && KILL_LEVELS.indexOf(own.level) > KILL_LEVELS.indexOf(this.global.level) ? own.level : this.global.level;
  }

  setPause(market: number, pause: { code: string; reason: string } | null): void {
    if (pause === null) this.pause.delete(market);
    else this.pause.set(market, pause);
  }

  /**
   * Recomputes `market`'s mode. Returns it, whether it changed, and the status change to announce when its mode or
   * code changed (a new reason text alone is not announced).
   */
  update(market: number, eventTimeUs: number): { mode: number; modeChanged: boolean; change: MarketStatusChange | undefined } {
    const level = this.killLevel(market);
    const killed = KILL_LEVELS.indexOf(level);
    const own = this.kill.get(market);
    const killReason = own !== undefined && own.level === level ? own.reason : this.global.reason;
    const paused = this.pause.get(market);
    const mode = Math.max(killed, paused === undefined ? 0 : LiquidationMode.NoReissue);
    const held: Held =
      killed > 0
        ? { mode, code: 'KILL_SWITCH', reason: `kill switch ${level}${killReason === '' ? '' : `: ${killReason}`}` }
        : paused !== undefined
          ? { mode, ...paused }
          : { mode, code: 'HEALTHY', reason: '' };
    const before = this.current.get(market) ?? { mode: 0, code: 'HEALTHY', reason: '' };
    this.current.set(market, held);
    const modeChanged = before.mode !== mode;
    // Only a new mode or code is news: a reason's text changes with its figures (the seconds a source is frozen).
    if (!modeChanged && before.code === held.code) return { mode, modeChanged, change: undefined };
    const state = mode === 0 ? 'resumed' : 'paused';
    return { mode, modeChanged, change: { market, state, code: held.code, reason: held.reason, eventTimeUs } };
  }

  /** The status of `market` now (for a subscriber that just asked). */
  status(market: number): { paused: boolean; code: string; reason: string } {
    const h = this.current.get(market);
    return h === undefined || h.mode === 0 ? { paused: false, code: 'HEALTHY', reason: '' } : { paused: true, code: h.code, reason: h.reason };
  }
}
