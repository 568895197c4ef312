/**
 * Exact money off the wire: Settlements and InsuranceFunds carry ledger amounts as integer atoms of the quote
 * currency (a BigInt), one quote unit being 10^quoteDecimals atoms. Browser-safe: no Node API.
 */

/** Atoms as a quote amount in a float (exact while |atoms| < 2^53; for display and charts). */
export function atomsToQuote(atoms: bigint, quoteDecimals: number): number {
  const scale = 10n ** BigInt(quoteDecimals);
  return Number(atoms / scale) + Number(atoms % scale) / Number(scale);
}

/** Atoms as an exact decimal string: formatAtoms(-1234567n, 6) is "-1.234567"; no rounding, whatever the size. */
export function formatAtoms(atoms: bigint, quoteDecimals: number): string {
  const negative = atoms < 0n;
  const digits = (negative ? -atoms : atoms).toString().padStart(quoteDecimals + 1, '0');
  const whole = digits.slice(0, digits.length - quoteDecimals);
  const part = digits.slice(digits.length - quoteDecimals);
  return `${negative ? '-' : ''}${whole}${quoteDecimals > 0 ? `.${part}` : ''}`;
}
