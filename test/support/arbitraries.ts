/** fast-check arbitraries shared by the domain tests. */
import fc from 'fast-check';
import { compileTiers, type MarginTier } from '../../src/domain/index.js';

/**
 * A compiled tier schedule of 1..8 tiers: bounds growing 1.5x..10x from 1,000..1,000,000 quote, maintenance
 * fractions non-decreasing from 0.1%..10% (initial = maintenance), the last tier unbounded.
 */
export const scheduleArb = fc
  .array(fc.tuple(fc.double({ min: 1.5, max: 10, noNaN: true }), fc.integer({ min: 0, max: 50_000 })), { minLength: 1, maxLength: 8 })
  .chain((steps) =>
    fc.tuple(fc.integer({ min: 1_000, max: 1_000_000 }), fc.integer({ min: 1_000, max: 100_000 })).map(([first, mmf0]) => {
      let bound = first;
      let ppm = mmf0;
      return compileTiers(
        steps.map(([g, d], i): MarginTier => {
          if (i > 0) (bound *= g), (ppm += d);
          return { maxNotional: i === steps.length - 1 ? null : bound, maintenanceMarginFraction: ppm / 1e6, initialMarginFraction: ppm / 1e6 };
        }),
      );
    }),
  );
