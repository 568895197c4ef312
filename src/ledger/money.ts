/**
 * Exact money: integer quote atoms in a BigInt. One quote unit is 10^decimals atoms (default 6, like USDC), so
 * balances, fees and the insurance fund add and subtract without rounding. Floats (prices, margin math) meet
 * atoms only at the conversions below, each of which says which way it rounds.
 */
import { DEFAULT_QUOTE_DECIMALS } from '../config-types.js';

export type Atoms = bigint;

export class Money {
  readonly scale: number;
  private readonly scaleBig: bigint;

  constructor(readonly decimals: number = DEFAULT_QUOTE_DECIMALS) {
    if (!Number.isInteger(decimals) || decimals < 0 || decimals > 12) throw new RangeError(`decimals: expected an integer in [0, 12], got ${decimals}`);
    this.scale = 10 ** decimals;
    this.scaleBig = 10n ** BigInt(decimals);
  }

  /** Quote units -> atoms, rounded toward negative infinity (what an account is credited never exceeds the float). */
  floor(quote: number): Atoms {
    return BigInt(Math.floor(this.checked(quote) * this.scale));
  }
  /** Quote units -> atoms, rounded toward positive infinity (what an account is charged never falls short). */
  ceil(quote: number): Atoms {
    return BigInt(Math.ceil(this.checked(quote) * this.scale));
  }
  /** Quote units -> atoms, to nearest (ties away from zero): for amounts that arrive from outside, e.g. deposits. */
  round(quote: number): Atoms {
    const x = this.checked(quote) * this.scale;
    return BigInt(Math.sign(x) * Math.round(Math.abs(x)));
  }
  /** Atoms -> quote units as a float, for margin math and display (exact while |atoms| < 2^53). */
  toQuote(atoms: Atoms): number {
    const whole = atoms / this.scaleBig;
    const part = atoms % this.scaleBig;
    return Number(whole) + Number(part) / this.scale;
  }

  private checked(quote: number): number {
    if (!Number.isFinite(quote)) throw new RangeError(`expected a finite quote amount, got ${quote}`);
    return quote;
  }
}

export const min = (a: Atoms, b: Atoms): Atoms => (a < b ? a : b);
export const max = (a: Atoms, b: Atoms): Atoms => (a > b ? a : b);
