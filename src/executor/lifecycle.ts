/**
 * An account's liquidation lifecycle as an explicit state machine (README "Liquidation procedures", docs/domain.md section 3.5).
 *
 *             health < marginCall                    health < 1
 *   healthy ----------------------> margin-call ----------------------> liquidating (sticky)
 *      ^  <----------------------------  |                                 |   |   |
 *      |   health >= marginCall + hysteresis                               |   |   | the fund covers a loss
 *      |                                                                   |   |   v
 *      |        health > 1 + exitBuffer (positions left)                   |   |  backstopped
 *      +-------------------------------------------------------------------+   |   | the fund cannot: ADL
 *                                                                              |   v
 *      closed <------------------- no position left ---------------------------+-- deleveraged
 *
 * healthy may also go straight to liquidating. A liquidating, backstopped or deleveraged account leaves only when
 * its health exceeds 1 + exitBuffer (Drift: 2%), so it does not flap around 1; a margin call clears only above the
 * margin-call level plus its hysteresis. Pure: the next state is a function of the state and the observation.
 */
import { DEFAULT_LIFECYCLE, type LifecycleConfig } from '../config-types.js';

/** A margin group's lifecycle state (README "Liquidation procedures"). */
export type LifecycleState = 'healthy' | 'margin-call' | 'liquidating' | 'backstopped' | 'deleveraged' | 'closed';

/** Every state, in a fixed order: a state's index is its code in the executor's output rows. */
export const LIFECYCLE_STATES: readonly LifecycleState[] = ['healthy', 'margin-call', 'liquidating', 'backstopped', 'deleveraged', 'closed'];

/** What the executor knows about an account's group after an epoch or a settlement. */
export interface Observation {
  /** Equity / maintenance margin; Infinity when there is no requirement. */
  readonly health: number;
  /** No open position left in the group. */
  readonly flat: boolean;
  /** The insurance fund covered a loss of this account in this step. */
  readonly backstopped?: boolean;
  /** Auto-deleveraging closed (part of) this account's position in this step. */
  readonly deleveraged?: boolean;
}

export interface Transition {
  readonly from: LifecycleState;
  readonly to: LifecycleState;
}

const LIQUIDATION_STATES: ReadonlySet<LifecycleState> = new Set(['liquidating', 'backstopped', 'deleveraged']);

export function inLiquidation(s: LifecycleState): boolean {
  return LIQUIDATION_STATES.has(s);
}

/** The next state; `null` when the state does not change. */
export function nextState(state: LifecycleState, o: Observation, c: LifecycleConfig = DEFAULT_LIFECYCLE): LifecycleState | null {
  const next = decide(state, o, c);
  return next === state ? null : next;
}

function decide(state: LifecycleState, o: Observation, c: LifecycleConfig): LifecycleState {
  if (inLiquidation(state)) {
    if (o.deleveraged) return o.flat ? 'closed' : 'deleveraged';
    if (o.backstopped) return o.flat ? 'closed' : state === 'deleveraged' ? 'deleveraged' : 'backstopped';
    if (o.flat) return 'closed';
    if (o.health > 1 + c.exitBuffer) return o.health < c.marginCallHealth ? 'margin-call' : 'healthy';
    return state; // sticky
  }
  if (state === 'closed' && o.flat) return 'closed';
  if (o.health < 1) return 'liquidating';
  if (o.health < c.marginCallHealth) return 'margin-call';
  if (state === 'margin-call' && o.health < c.marginCallHealth + c.marginCallHysteresis) return 'margin-call';
  return 'healthy';
}
