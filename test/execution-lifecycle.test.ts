/** The account lifecycle state machine: hysteresis, stickiness, backstop, deleveraging, closing. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIFECYCLE } from '../src/config-types.js';
import { inLiquidation, nextState, type LifecycleState, type Observation } from '../src/executor/lifecycle.js';

const at = (health: number, extra: Partial<Observation> = {}): Observation => ({ health, flat: false, ...extra });

describe('the account lifecycle', () => {
  it.each<[LifecycleState, Observation, LifecycleState | null]>([
    ['healthy', at(1.5), null],
    ['healthy', at(1.19), 'margin-call'],
    ['healthy', at(0.99), 'liquidating'],
    ['margin-call', at(1.22), null], // inside the hysteresis band [1.2, 1.25)
    ['margin-call', at(1.25), 'healthy'],
    ['margin-call', at(0.999), 'liquidating'],
    ['liquidating', at(1.01), null], // sticky below 1 + 2%
    ['liquidating', at(1.02), null], // the exit is strictly above 1.02
    ['liquidating', at(1.021), 'margin-call'],
    ['liquidating', at(1.3), 'healthy'],
    ['liquidating', at(0.5, { backstopped: true }), 'backstopped'],
    ['backstopped', at(0.5, { deleveraged: true }), 'deleveraged'],
    ['deleveraged', at(0.5, { backstopped: true }), null],
    ['liquidating', at(Infinity, { flat: true }), 'closed'],
    ['deleveraged', at(Infinity, { flat: true, deleveraged: true }), 'closed'],
    ['closed', at(Infinity, { flat: true }), null],
    ['closed', at(3), 'healthy'], // the account trades again
  ])('from %s observing %o goes to %s', (from, o, to) => {
    expect(nextState(from, o)).toBe(to);
  });

  it('never flaps: a health path that crosses 1 back and forth inside the exit buffer leaves liquidation once', () => {
    let s: LifecycleState = 'healthy';
    const seen: LifecycleState[] = [];
    for (const h of [1.1, 0.99, 1.005, 0.998, 1.01, 0.999, 1.019, 1.03, 1.01, 0.99]) {
      s = nextState(s, at(h)) ?? s;
      seen.push(s);
    }
    expect(seen).toEqual(['margin-call', 'liquidating', 'liquidating', 'liquidating', 'liquidating', 'liquidating', 'liquidating', 'margin-call', 'margin-call', 'liquidating']);
  });

  it('holds these invariants for any path: below 1 is always in liquidation, and liquidation ends only above 1 + exit buffer or flat', () => {
    const obs = fc.record({
      health: fc.oneof(fc.double({ min: -2, max: 3, noNaN: true }), fc.constant(Infinity)),
      flat: fc.boolean(),
      backstopped: fc.boolean(),
      deleveraged: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(obs, { minLength: 1, maxLength: 40 }), (path) => {
        let s: LifecycleState = 'healthy';
        for (const o of path) {
          const before = s;
          s = nextState(s, o) ?? s;
          if (o.health < 1 && !o.flat) expect(inLiquidation(s)).toBe(true);
          if (inLiquidation(before) && !inLiquidation(s)) {
            expect(o.flat || o.health > 1 + DEFAULT_LIFECYCLE.exitBuffer).toBe(true);
          }
          if (s === 'closed') expect(o.flat).toBe(true);
        }
      }),
      { seed: 0x11fec7, numRuns: 500 },
    );
  });
});
