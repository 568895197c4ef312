import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  canBeLiquidated,
  compileTiers,
  freeCollateral,
  health,
  initialMargin,
  isMarginCall,
  maintenanceMargin,
  notional,
  unrealizedPnl,
} from '../src/domain/index.js';

describe('position margin', () => {
  it.each([
    // size, price, notional
    [0.1, 50_000, 5_000],
    [-0.1, 50_000, 5_000],
    [0, 50_000, 0],
    [-250, 2, 500],
  ])('measures the notional of size %d at price %d as |size| * price = %d', (size, price, expected) => {
    expect(notional(size, price)).toBeCloseTo(expected, 9);
  });

  it.each([
    // size, mark, entry, pnl
    [1, 110, 100, 10],
    [1, 90, 100, -10],
    [-1, 110, 100, -10],
    [-1, 90, 100, 10],
    [-2.5, 40_000, 42_000, 5_000],
    [0, 1, 100, 0],
  ])('gives size %d marked at %d from entry %d an unrealized PnL of %d', (size, mark, entry, pnl) => {
    expect(unrealizedPnl(size, mark, entry)).toBeCloseTo(pnl, 9);
  });
});

describe('group health', () => {
  it.each([
    // equity, maintenance, health, liquidatable
    [499, 500, 0.998, true],
    [500, 500, 1, false],
    [501, 500, 1.002, false],
    [0, 500, 0, true],
    [-100, 500, -0.2, true],
    [1_000, 0, Infinity, false],
    [0, 0, Infinity, false],
    [-1_000, 0, Infinity, false],
  ])('rates equity %d against maintenance %d as health %d (liquidatable: %s)', (equity, maintenance, h, liquidatable) => {
    expect(health(equity, maintenance)).toBeCloseTo(h, 12);
    expect(canBeLiquidated(equity, maintenance)).toBe(liquidatable);
  });

  it.each([
    // equity, maintenance, margin-call health, margin call
    [600, 500, 1.25, true],
    [625, 500, 1.25, false],
    [700, 500, 1.25, false],
    [499, 500, 1.25, true],
    [-1, 0, 1.25, false],
    [0, 0, 1.25, false],
  ])('flags equity %d against maintenance %d at margin-call level %d as a margin call: %s', (equity, maintenance, level, expected) => {
    expect(isMarginCall(equity, maintenance, level)).toBe(expected);
  });

  it.each([
    [1_000, 400, 600],
    [300, 400, -100],
  ])('leaves equity %d minus initial margin %d = %d as free collateral', (equity, initial, free) => {
    expect(freeCollateral(equity, initial)).toBe(free);
  });

  it('makes the worked isolated 0.1 BTC long liquidatable at quote balance -4,501 but not at -4,500', () => {
    const s = compileTiers([{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }]);
    const size = 0.1;
    const oracle = 50_000;
    const mm = maintenanceMargin(notional(size, oracle), s);
    expect(mm).toBeCloseTo(500, 9);
    expect(initialMargin(notional(size, oracle), s)).toBeCloseTo(1_000, 9);
    const equityAt = (quoteBalance: number) => quoteBalance + size * oracle;
    expect(health(equityAt(-4_501), mm)).toBeCloseTo(0.998, 9);
    expect(canBeLiquidated(equityAt(-4_501), mm)).toBe(true);
    expect(canBeLiquidated(equityAt(-4_499), mm)).toBe(false);
    expect(isMarginCall(equityAt(-4_400), mm, 1.25)).toBe(true);
    expect(isMarginCall(equityAt(-4_300), mm, 1.25)).toBe(false);
  });

  it('is liquidatable exactly when health is below 1, for any positive maintenance', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e9, max: 1e9, noNaN: true }),
        fc.double({ min: 1e-6, max: 1e9, noNaN: true }),
        (equity, maintenance) => {
          expect(canBeLiquidated(equity, maintenance)).toBe(health(equity, maintenance) < 1);
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });

  it('raises a margin call whenever the group is liquidatable, for any margin-call level above 1', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e9, max: 1e9, noNaN: true }),
        fc.double({ min: 1e-6, max: 1e9, noNaN: true }),
        fc.double({ min: 1.0001, max: 5, noNaN: true }),
        (equity, maintenance, level) => {
          if (canBeLiquidated(equity, maintenance)) expect(isMarginCall(equity, maintenance, level)).toBe(true);
          if (equity >= maintenance * level) expect(isMarginCall(equity, maintenance, level)).toBe(false);
        },
      ),
      { seed: 42, numRuns: 500 },
    );
  });

  it('never liquidates a group without maintenance requirement, whatever its equity', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), fc.double({ max: 0, noNaN: true }), (equity, maintenance) => {
        expect(canBeLiquidated(equity, maintenance)).toBe(false);
        expect(isMarginCall(equity, maintenance, 1.5)).toBe(false);
        expect(health(equity, maintenance)).toBe(Infinity);
      }),
      { seed: 42, numRuns: 200 },
    );
  });
});
