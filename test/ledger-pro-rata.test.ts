/** Splitting a deficit pro rata (src/ledger/pro-rata.ts): exact to the atom, never beyond what a payer holds. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { proRataShares } from '../src/ledger/pro-rata.js';

describe('pro rata shares', () => {
  it('splits 100 atoms 3:1 as 75 and 25, and puts the rounding remainder on the first payer', () => {
    expect(proRataShares(100n, [{ weight: 3n, cap: 1_000n }, { weight: 1n, cap: 1_000n }])).toEqual([75n, 25n]);
    expect(proRataShares(10n, [{ weight: 1n, cap: 100n }, { weight: 1n, cap: 100n }, { weight: 1n, cap: 100n }])).toEqual([4n, 3n, 3n]);
  });

  it('never takes more than a payer holds: a cap leaves the rest unpaid', () => {
    expect(proRataShares(100n, [{ weight: 1n, cap: 10n }, { weight: 1n, cap: 100n }])).toEqual([10n, 50n]);
  });

  it('sums to the amount exactly when no cap binds, and never above it or a cap, over random splits', () => {
    const payer = fc.record({ weight: fc.bigInt({ min: 1n, max: 10n ** 12n }), cap: fc.bigInt({ min: 0n, max: 10n ** 15n }) });
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.array(payer, { minLength: 1, maxLength: 20 }), (amount, payers) => {
        const shares = proRataShares(amount, payers);
        const sum = shares.reduce((x, y) => x + y, 0n);
        shares.forEach((s, i) => {
          expect(s >= 0n).toBe(true);
          expect(s <= payers[i]!.cap).toBe(true);
        });
        expect(sum <= amount).toBe(true);
        const uncapped = proRataShares(amount, payers.map((p) => ({ weight: p.weight, cap: amount })));
        expect(uncapped.reduce((x, y) => x + y, 0n)).toBe(amount);
      }),
      { seed: 0x9e7a, numRuns: 300 },
    );
  });
});
