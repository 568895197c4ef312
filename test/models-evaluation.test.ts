import { describe, expect, it } from 'vitest';
import { ErrorCode, UnwindError } from '../src/errors.js';
import { meanQlike, mse, qlike } from '../src/models/index.js';

describe('qlike', () => {
  it('is 0 for a perfect forecast', () => {
    expect(qlike(2.5e-5, 2.5e-5)).toBe(0);
  });

  it('is ratio - ln(ratio) - 1 on known values', () => {
    // Realized twice the forecast: 2 - ln 2 - 1; half of it: 0.5 + ln 2 - 1.
    expect(qlike(2, 1)).toBeCloseTo(1 - Math.LN2, 15);
    expect(qlike(1, 2)).toBeCloseTo(Math.LN2 - 0.5, 15);
    expect(qlike(4e-6, 1e-6)).toBeCloseTo(3 - Math.log(4), 14);
  });

  it('punishes under-prediction more than over-prediction by the same factor', () => {
    expect(qlike(2, 1)).toBeGreaterThan(qlike(1, 2));
  });

  it('refuses a variance that is not > 0', () => {
    expect(() => qlike(0, 1)).toThrow(UnwindError);
    expect(() => qlike(1, -1)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument, field: 'forecast' }));
    expect(() => qlike(1, NaN)).toThrow(UnwindError);
  });

  it('averages over paired series', () => {
    expect(meanQlike([2, 1, 3], [1, 2, 3])).toBeCloseTo((1 - Math.LN2 + Math.LN2 - 0.5 + 0) / 3, 15);
  });
});

describe('mse', () => {
  it('is the mean squared difference', () => {
    expect(mse([1, 2, 3], [1, 1, 1])).toBe(5 / 3);
    expect(mse([0.5], [0.5])).toBe(0);
  });

  it('refuses series of different lengths or empty ones', () => {
    expect(() => mse([1, 2], [1])).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
    expect(() => meanQlike([], [])).toThrow(UnwindError);
    expect(() => mse([1, Infinity], [1, 1])).toThrow(expect.objectContaining({ field: 'realized[1]' }));
  });
});
