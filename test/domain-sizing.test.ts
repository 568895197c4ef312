import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scheduleArb } from './support/arbitraries.js';
import {
  DEFAULT_SIZING_POLICY,
  closeQuantity,
  compileTiers,
  fillablePrice,
  maintenanceAtMark,
  maintenanceMargin,
  maxStepQuantity,
  stateAfterClose,
  validateSizingPolicy,
  type SizingBound,
  type SizingInput,
  type SizingPolicy,
  type SizingReason,
  type TierSchedule,
} from '../src/domain/index.js';
import { UnwindError } from '../src/errors.js';

const RUNS = { seed: 42, numRuns: 400 };

/** One tier: maintenance 10% of notional, i.e. 10 quote per unit at mark 100. */
const FLAT_10 = compileTiers([{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }]);
/** 5% up to 9,000 notional, 10% above (amount 9,000 * 5% = 450): 100 units at 100 owe 1,000 - 450 = 550. */
const KINK_9000 = compileTiers([
  { maxNotional: 9_000, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 },
  { maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 },
]);
/** 1% up to 5,000 notional, 20% above (amount 5,000 * 19% = 950): 100 units at 100 owe 2,000 - 950 = 1,050. */
const STEEP = compileTiers([
  { maxNotional: 5_000, initialMarginFraction: 0.02, maintenanceMarginFraction: 0.01 },
  { maxNotional: null, initialMarginFraction: 0.4, maintenanceMarginFraction: 0.2 },
]);
const T125: SizingPolicy = { ...DEFAULT_SIZING_POLICY, targetHealth: 1.25 };

/** A position in a group whose other positions owe `otherMaintenance`; totalMaintenance includes the position's own. */
function inputOf(size: number, mark: number, fill: number, equity: number, otherMaintenance: number, s: TierSchedule): SizingInput {
  return {
    size,
    markPrice: mark,
    fillPrice: fill,
    equity,
    totalMaintenance: otherMaintenance + maintenanceMargin(Math.abs(size) * mark, s),
    maintenanceAt: maintenanceAtMark(s, mark),
  };
}

describe('closeQuantity', () => {
  it.each<[string, number, number, number, number, number, TierSchedule, SizingPolicy, number, SizingReason, SizingBound | null, number, number]>([
    // label, size, mark, fill, equity, other MM, tiers, policy, quantity, reason, bound, uncapped, health after
    // 100 @ 100, MM 1,000, health 0.89. Each unit closed frees 1.25 * 10 = 12.5 of target margin and costs 0.5 of
    // slippage: surplus(q) = 890 - 0.5q - 1.25 * 10 * (100 - q) = -360 + 12q -> q = 30.
    // After: equity 890 - 15 = 875, MM 700, health 1.25.
    ['a long in one tier, sold below the mark', 100, 100, 99.5, 890, 0, FLAT_10, T125, 30, 'restore-target', null, 30, 1.25],
    // The mirror: bought back 0.5 above the mark; the same arithmetic.
    ['a short in one tier, bought above the mark', -100, 100, 100.5, 890, 0, FLAT_10, T125, 30, 'restore-target', null, 30, 1.25],
    // Others owe 500, TMMR 1,500, TNC 1,200 (health 0.8): 1,200 - 0.5q - 1.25 * (500 + 10 * (100 - q)) = -675 + 12q -> q = 56.25.
    // After: equity 1,171.875, MM 500 + 437.5 = 937.5, health 1.25.
    ['a long sharing its group with other positions', 100, 100, 99.5, 1_200, 500, FLAT_10, T125, 56.25, 'restore-target', null, 56.25, 1.25],
    // MM 550, TNC 500 (0.909), fill at the mark. Target MM <= 500 / 1.25 = 400, below the 450 owed at the 9,000 boundary:
    // in the 5% tier, 5 * rem <= 400 -> rem 80 -> q = 20 (the 10% tier's line alone, 10 * rem - 450 <= 400, would say 15).
    ['a long whose close crosses a tier boundary', 100, 100, 100, 500, 0, KINK_9000, T125, 20, 'restore-target', null, 20, 1.25],
    // Default target 1.05: 840 >= 1.05 * 10 * (100 - q) -> q = 20; after: MM 800, health 1.05.
    ['a long under the default policy', 100, 100, 100, 840, 0, FLAT_10, DEFAULT_SIZING_POLICY, 20, 'restore-target', null, 20, 1.05],
    // 15 @ 100 (notional 1,500, MM 150), TNC 120 (0.8): restoring needs 10 * rem <= 96 -> rem 9.6 (960 quote) < 1,000 -> whole.
    ['a small position whose remainder would be dust', 15, 100, 100, 120, 0, FLAT_10, T125, 15, 'min-notional', null, 15, Infinity],
    // 12 @ 100, MM 120, TNC 100: restoring leaves 800 < 1,000 -> whole; the 50% cap would leave 600 < 1,000, so it lifts.
    ['a small position under a 50% max portion', 12, 100, 100, 100, 0, FLAT_10, { ...T125, maxPortion: 0.5 }, 12, 'min-notional', null, 12, Infinity],
    // TNC 600 / TMMR 1,000 = 0.6 < 2/3: whole, the 25% cap bypassed.
    ['a long below the emergency health', 100, 100, 100, 600, 0, FLAT_10, { ...T125, maxPortion: 0.25 }, 100, 'emergency', null, 100, Infinity],
    // 2,000 @ 100 = 200,000 notional, TNC 12,000 / 20,000 = 0.6: whole despite the 20% step-down.
    ['a large long below the emergency health', 2_000, 100, 100, 12_000, 0, FLAT_10, T125, 2_000, 'emergency', null, 2_000, Infinity],
    // 200,000 notional, MM 20,000, TNC 19,000 (0.95): 10 * rem <= 15,200 -> rem 1,520 -> q 480 (24%), over 100k -> 20% = 400.
    // After: MM 16,000, health 19,000 / 16,000 = 1.1875.
    ['a large long that steps down by 20%', 2_000, 100, 100, 19_000, 0, FLAT_10, T125, 400, 'restore-target', 'step-down', 480, 1.1875],
    // The first case capped at 25%: equity 890 - 12.5 = 877.5, MM 750, health 1.17.
    ['a long capped at a 25% max portion', 100, 100, 99.5, 890, 0, FLAT_10, { ...T125, maxPortion: 0.25 }, 25, 'restore-target', 'max-portion', 30, 1.17],
    // 10 @ 100 (MM 100) beside others owing 900, TNC 800 (0.8): even closed whole, 800 / 900 = 0.889 < 1.25 -> whole.
    ['a small long that cannot restore its group', 10, 100, 100, 800, 900, FLAT_10, T125, 10, 'cannot-restore', null, 10, 800 / 900],
    // Fill 20 below the mark costs more per unit than the 12.5 it frees: surplus = -360 - 7.5q only falls -> whole.
    // After: equity 890 - 2,000 = -1,110 (bad debt), no requirement left -> health Infinity.
    ['a long whose fill costs more than it frees', 100, 100, 80, 890, 0, FLAT_10, T125, 100, 'cannot-restore', null, 100, Infinity],
    // STEEP, fill 90 (10 per unit), TNC 862.5 / 1,050 = 0.82. In the 20% tier (rem >= 50): 862.5 - 10q - 1.25 * (20 * (100 - q) - 950)
    // = -450 + 15q -> q = 30. Below rem 50 each unit frees 1.25 * 1 but costs 10, so closing all ends at
    // surplus(100) = 862.5 - 1,000 - 0 = -137.5: surplus peaks inside. After q = 30: equity 562.5, MM 20 * 70 - 950 = 450, health 1.25.
    ['a long whose surplus peaks before the position is gone', 100, 100, 90, 862.5, 0, STEEP, T125, 30, 'restore-target', null, 30, 1.25],
  ])('sizes %s', (_l, size, mark, fill, equity, others, s, policy, quantity, reason, bound, uncapped, healthAfter) => {
    const d = closeQuantity(inputOf(size, mark, fill, equity, others, s), policy);
    expect(d).not.toBeNull();
    expect(d!.quantity).toBeCloseTo(quantity, 9);
    expect(d!.reason).toBe(reason);
    expect(d!.bound).toBe(bound);
    expect(d!.uncappedQuantity).toBeCloseTo(uncapped, 9);
    if (healthAfter === Infinity) expect(d!.healthAfter).toBe(Infinity);
    else expect(d!.healthAfter).toBeCloseTo(healthAfter, 9);
    if (d!.reason !== 'restore-target') expect(d!.uncappedQuantity).toBe(Math.abs(size));
  });

  it('reports the equity and maintenance the close leaves, bad debt included', () => {
    const d = closeQuantity(inputOf(100, 100, 80, 890, 0, FLAT_10), T125)!;
    expect(d.equityAfter).toBeCloseTo(-1_110, 9);
    expect(d.maintenanceAfter).toBe(0);
    const e = closeQuantity(inputOf(100, 100, 99.5, 890, 0, FLAT_10), T125)!;
    expect(e.equityAfter).toBeCloseTo(875, 9);
    expect(e.maintenanceAfter).toBeCloseTo(700, 9);
  });

  it.each([
    ['at exactly the target health 1.05', 100, 1_050],
    ['above the target health', 100, 1_500],
    ['with a size of 0', 0, 500],
  ])('gives no decision to a group %s', (_l, size, equity) => {
    expect(closeQuantity({ ...inputOf(size, 100, 100, equity, 0, FLAT_10), totalMaintenance: 1_000 })).toBeNull();
  });

  it('charges the fee cap on the closed notional', () => {
    // FLAT_10, 100 @ 100, fill at the mark, fee cap 1% of 100 = 1 per unit: 890 - q - 1,250 + 12.5q = 0 -> q = 360 / 11.5.
    const d = closeQuantity({ ...inputOf(100, 100, 100, 890, 0, FLAT_10), feeFraction: 0.01 }, T125)!;
    expect(d.quantity).toBeCloseTo(360 / 11.5, 9);
    expect(d.healthAfter).toBeCloseTo(1.25, 9);
  });
});

describe('maxStepQuantity', () => {
  it.each<[string, number, SizingPolicy, number, SizingBound | null]>([
    // label, size (at mark 100), policy, quantity, bound
    ['lets a 10,000 position close whole under the defaults', 100, DEFAULT_SIZING_POLICY, 100, null],
    ['steps a 200,000 position down by 20%', -2_000, DEFAULT_SIZING_POLICY, 400, 'step-down'],
    ['does not step down a position of exactly 100,000', 1_000, DEFAULT_SIZING_POLICY, 1_000, null],
    ['caps a position at the max portion', 100, { ...DEFAULT_SIZING_POLICY, maxPortion: 0.25 }, 25, 'max-portion'],
    ['keeps the max portion when it is tighter than the step-down', 2_000, { ...DEFAULT_SIZING_POLICY, maxPortion: 0.1 }, 200, 'max-portion'],
    ['lifts a cap that would leave less than the minimum notional', 12, { ...DEFAULT_SIZING_POLICY, maxPortion: 0.5 }, 12, null],
  ])('%s', (_l, size, policy, quantity, bound) => {
    const cap = maxStepQuantity(size, 100, policy);
    expect(cap.quantity).toBeCloseTo(quantity, 9);
    expect(cap.bound).toBe(bound);
  });
});

describe('the model', () => {
  it('values a tiered position at the mark with maintenanceAtMark', () => {
    const at = maintenanceAtMark(KINK_9000, 100);
    expect(at(100)).toBeCloseTo(550, 9);
    expect(at(80)).toBeCloseTo(400, 9);
    expect(at(0)).toBe(0);
  });

  it('moves equity only by the distance of the fill from the mark', () => {
    // Long 100 sold 30 at 99.5 against mark 100: -15. Short 100 bought back 30 at 100.5: -15. At the mark: 0.
    expect(stateAfterClose(inputOf(100, 100, 99.5, 890, 0, FLAT_10), 30).equity).toBeCloseTo(875, 9);
    expect(stateAfterClose(inputOf(-100, 100, 100.5, 890, 0, FLAT_10), 30).equity).toBeCloseTo(875, 9);
    expect(stateAfterClose(inputOf(100, 100, 100, 890, 0, FLAT_10), 30).equity).toBe(890);
    // A fill better than the mark adds to equity.
    expect(stateAfterClose(inputOf(100, 100, 101, 890, 0, FLAT_10), 30).equity).toBeCloseTo(920, 9);
  });
});

describe('validateSizingPolicy', () => {
  it('accepts the default policy', () => {
    expect(validateSizingPolicy(DEFAULT_SIZING_POLICY)).toBe(DEFAULT_SIZING_POLICY);
    expect(validateSizingPolicy({ ...DEFAULT_SIZING_POLICY, largeNotional: Infinity, emergencyHealth: 0 })).toBeTruthy();
  });

  it.each<[string, Partial<Record<keyof SizingPolicy, unknown>>, string]>([
    ['a target health of 1', { targetHealth: 1 }, 'targetHealth'],
    ['an infinite target health', { targetHealth: Infinity }, 'targetHealth'],
    ['a negative minimum notional', { minNotional: -1 }, 'minNotional'],
    ['a max portion of 0', { maxPortion: 0 }, 'maxPortion'],
    ['a max portion above 1', { maxPortion: 1.5 }, 'maxPortion'],
    ['a NaN large notional', { largeNotional: NaN }, 'largeNotional'],
    ['a step-down portion of 0', { largeStepPortion: 0 }, 'largeStepPortion'],
    ['an emergency health above 1', { emergencyHealth: 1.1 }, 'emergencyHealth'],
    ['a string where a number belongs', { minNotional: '1000' }, 'minNotional'],
  ])('rejects %s with INVALID_CONFIG naming the field', (_l, patch, name) => {
    let caught: unknown;
    try {
      validateSizingPolicy({ ...DEFAULT_SIZING_POLICY, ...patch } as SizingPolicy, 'markets[2].sizing');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UnwindError);
    expect((caught as UnwindError).code).toBe('INVALID_CONFIG');
    expect((caught as UnwindError).field).toBe(`markets[2].sizing.${name}`);
  });
});

/** Evenly spread over [min, max] (fc.double leans towards the ends and 0, which would make most cases emergencies). */
const uniform = (min: number, max: number) => fc.integer({ min: 0, max: 1 << 20 }).map((i) => min + ((max - min) * i) / (1 << 20));
/** Evenly spread in magnitude: notionals from dust to a billion. */
const logUniform = (min: number, max: number) => uniform(Math.log10(min), Math.log10(max)).map((e) => 10 ** e);

const policyArb: fc.Arbitrary<SizingPolicy> = fc.record({
  targetHealth: uniform(1.01, 2),
  minNotional: fc.oneof(fc.constant(0), uniform(0, 5_000)),
  maxPortion: fc.oneof(fc.constant(1), uniform(0.05, 1)),
  largeNotional: fc.oneof(fc.constant(Infinity), logUniform(1_000, 1e7)),
  largeStepPortion: uniform(0.05, 1),
  emergencyHealth: uniform(0, 0.8),
});

/** A position, its group and a policy; the fill is dYdX's fillable price (oracle = mark) plus an optional fee cap. */
const caseArb = fc.record({
  s: scheduleArb,
  q: logUniform(1e-3, 1e4),
  long: fc.boolean(),
  mark: logUniform(1, 1e5),
  others: fc.oneof(fc.constant(0), uniform(0, 3)),
  h: uniform(-0.3, 1.3),
  h2: uniform(-0.3, 1.3),
  smmr: uniform(0, 1),
  fee: fc.constantFrom(0, 0.001, 0.01),
  policy: policyArb,
});
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

/** The case's input at group health h (equity = h * TMMR). */
function build(c: Case, h: number): SizingInput {
  const size = c.long ? c.q : -c.q;
  const pmm = maintenanceMargin(c.q * c.mark, c.s);
  const totalMaintenance = pmm * (1 + c.others);
  const equity = h * totalMaintenance;
  const fill = fillablePrice(c.mark, size, pmm, equity, totalMaintenance, 1, c.smmr);
  return { size, markPrice: c.mark, fillPrice: fill, equity, totalMaintenance, maintenanceAt: maintenanceAtMark(c.s, c.mark), feeFraction: c.fee };
}

/** Health after closing q, recomputed here from the model's definition. */
function healthAt(input: SizingInput, s: TierSchedule, q: number): number {
  const n = Math.abs(input.size);
  const side = Math.sign(input.size);
  const equity = input.equity - q * (side * (input.markPrice - input.fillPrice) + (input.feeFraction ?? 0) * input.fillPrice);
  const others = input.totalMaintenance - maintenanceMargin(n * input.markPrice, s);
  const maintenance = Math.max(0, others) + maintenanceMargin((n - q) * input.markPrice, s);
  return maintenance > 0 ? equity / maintenance : Infinity;
}

describe('closeQuantity properties', () => {
  it('gives no quantity to a group at or above the target health and a quantity in (0, |size|] to every one below it', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const input = build(c, c.h);
        const d = closeQuantity(input, c.policy);
        if (input.equity >= c.policy.targetHealth * input.totalMaintenance) {
          expect(d).toBeNull();
          return;
        }
        expect(d).not.toBeNull();
        expect(d!.quantity).toBeGreaterThan(0);
        expect(d!.quantity).toBeLessThanOrEqual(c.q);
        expect(d!.uncappedQuantity).toBeGreaterThanOrEqual(d!.quantity);
        expect(d!.bound === null).toBe(d!.uncappedQuantity === d!.quantity);
      }),
      RUNS,
    );
  });

  it('closes whole below the emergency health, whatever the caps', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const input = build(c, c.h);
        const d = closeQuantity(input, c.policy);
        if (d === null || !(input.equity / input.totalMaintenance < c.policy.emergencyHealth)) return;
        expect(d.reason).toBe('emergency');
        expect(d.quantity).toBe(c.q);
        expect(d.bound).toBeNull();
      }),
      RUNS,
    );
  });

  it('reaches the target health with the quantity it chose, and 99% of it would not', () => {
    let restored = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        // Health in [0.3, 1) and an emergency level below 0.3, so that most cases get to the restoring rule.
        const policy = { ...c.policy, emergencyHealth: c.policy.emergencyHealth * 0.3 };
        const input = build(c, 0.3 + (0.7 * (c.h2 + 0.3)) / 1.6000001);
        const d = closeQuantity(input, policy);
        if (d === null || d.reason !== 'restore-target' || d.bound !== null) return;
        restored++;
        const target = policy.targetHealth;
        expect(d.healthAfter).toBeGreaterThanOrEqual(target * (1 - 1e-9));
        expect(healthAt(input, c.s, d.quantity)).toBeGreaterThanOrEqual(target * (1 - 1e-9));
        expect(healthAt(input, c.s, d.quantity * 0.99)).toBeLessThan(target * (1 + 1e-9));
      }),
      RUNS,
    );
    expect(restored).toBeGreaterThan(RUNS.numRuns / 10);
  });

  it('never closes more than the max portion or the step-down portion, except in an emergency or to leave no dust', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const input = build(c, c.h);
        const d = closeQuantity(input, c.policy);
        if (d === null || d.reason === 'emergency') return;
        const large = c.q * c.mark > c.policy.largeNotional;
        const portion = Math.min(c.policy.maxPortion, large ? c.policy.largeStepPortion : 1);
        expect(d.quantity).toBeLessThanOrEqual(maxStepQuantity(input.size, c.mark, c.policy).quantity);
        if (d.quantity > c.q * portion * (1 + 1e-12)) {
          expect(d.quantity).toBe(c.q);
          expect(c.q * (1 - portion) * c.mark).toBeLessThan(c.policy.minNotional);
        }
      }),
      RUNS,
    );
  });

  it('leaves either nothing or at least the minimum notional', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const d = closeQuantity(build(c, c.h), c.policy);
        if (d === null || d.quantity === c.q) return;
        expect((c.q - d.quantity) * c.mark).toBeGreaterThanOrEqual(c.policy.minNotional * (1 - 1e-9));
      }),
      RUNS,
    );
  });

  it('never closes less of the same position when the group has less equity', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const [lo, hi] = c.h <= c.h2 ? [c.h, c.h2] : [c.h2, c.h];
        const qLo = closeQuantity(build(c, lo), c.policy)?.quantity ?? 0;
        const qHi = closeQuantity(build(c, hi), c.policy)?.quantity ?? 0;
        expect(qLo).toBeGreaterThanOrEqual(qHi * (1 - 1e-9));
      }),
      RUNS,
    );
  });
});
