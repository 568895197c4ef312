/**
 * Splitting an amount of atoms pro rata (the socialized-loss policy, docs/domain.md section 4). Pure and exact.
 */
import { min, type Atoms } from './money.js';

/**
 * `amount` split over payers pro rata to their integer `weight`, in their given order (put the largest first):
 * each share rounds down and the remainder falls on the first payer, so the shares sum to exactly `amount`; then
 * no payer gives more than its `cap` (what it holds), so the sum may fall short of `amount` when the caps bind.
 */
export function proRataShares(amount: Atoms, payers: readonly { readonly weight: bigint; readonly cap: Atoms }[]): Atoms[] {
  if (payers.length === 0 || amount <= 0n) return payers.map(() => 0n);
  const total = payers.reduce((sum, x) => sum + x.weight, 0n);
  const shares = payers.map((x) => (amount * x.weight) / total);
  shares[0]! += amount - shares.reduce((sum, x) => sum + x, 0n);
  return shares.map((share, i) => min(share, payers[i]!.cap));
}
