/**
 * Settling a liquidation fill (docs/domain.md section 2): the account's realized PnL against the market's clearing
 * entry, then the liquidation fee or the insurance fund's cover, as ledger transfers in atoms.
 *
 *   bankruptcy value BV = -DNNV - TNC * |DMMR| / TMMR   (the quote the close must bring to keep TNC / TMMR unchanged)
 *   fill value          = -DNNV at the fill price = sign(size) * quantity * price
 *   surplus             = fill value - BV = sign(size) * quantity * (price - oracle) + TNC * |DMMR| / TMMR
 *   surplus >= 0: fee = min(surplus, k * |DMMR|, maxFeeFraction * quantity * price), account -> insurance fund
 *                 (k = maxMaintenanceShare: a partial close then leaves part of the released margin with the account)
 *   surplus <  0: the fund pays the gap to the account, as far as it holds; what it cannot pay is the deficit,
 *                 left for auto-deleveraging or socialized loss.
 * A fee never exceeds the surplus, so it never takes the group's TNC / TMMR below where it was: no account is
 * pushed past bankruptcy by a fee. Every amount is converted to atoms once, rounding against the account.
 */
import type { FeePolicy } from '../config-types.js';
import { liquidationFee } from '../domain/liquidation.js';
import { entry, type EntryId, type Transfer } from './ledger.js';
import { max, min, type Atoms, type Money } from './money.js';

export interface CloseToSettle {
  readonly account: number;
  readonly market: number;
  /** The position carries its own collateral (isolated) rather than the account's cross collateral. */
  readonly isolated: boolean;
  /** Signed size before the fill. */
  readonly size: number;
  readonly entryPrice: number;
  /** Base units closed, in (0, |size|]. */
  readonly quantity: number;
  /** Fill price. */
  readonly price: number;
  readonly oraclePrice: number;
  /** Maintenance margin the close removes (|DMMR| >= 0), quote. */
  readonly maintenanceReleased: number;
  /** The margin group's equity (TNC) and maintenance margin (TMMR) before the fill, quote. */
  readonly equity: number;
  readonly totalMaintenance: number;
}

export interface LedgerSettlement {
  readonly transfers: Transfer[];
  /** Credited to the position's collateral (negative: debited), atoms. */
  readonly realizedPnl: Atoms;
  /** Paid into the insurance fund, atoms >= 0. */
  readonly fee: Atoms;
  /** Paid by the insurance fund, atoms >= 0. */
  readonly insuranceCover: Atoms;
  /** The part of the gap the fund could not pay, atoms >= 0: for ADL or socialized loss. */
  readonly deficit: Atoms;
  /** Quote, as floats: the bankruptcy value and the surplus over it. */
  readonly bankruptcyValue: number;
  readonly surplus: number;
}

export function fundEntry(policy: FeePolicy, market: number): EntryId {
  return entry.fund(policy.fund === 'pooled' ? 'pooled' : market);
}

export function collateralEntry(f: Pick<CloseToSettle, 'account' | 'market' | 'isolated'>): EntryId {
  return f.isolated ? entry.isolated(f.account, f.market) : entry.account(f.account);
}

/** The transfers that settle `fill`, given what the insurance fund holds now. Pure: applies nothing. */
export function settleClose(fill: CloseToSettle, policy: FeePolicy, fundBalance: Atoms, money: Money): LedgerSettlement {
  const { size, quantity: q, price, oraclePrice, equity, totalMaintenance } = fill;
  if (!(q > 0 && q <= Math.abs(size))) throw new RangeError(`quantity: expected a number in (0, |size| = ${Math.abs(size)}], got ${q}`);
  const side = Math.sign(size);
  const collateral = collateralEntry(fill);
  const fund = fundEntry(policy, fill.market);
  const clearing = entry.clearing(fill.market);
  const transfers: Transfer[] = [];

  // Realized PnL against the counterparties, credited rounding down (the account never gains a fraction of an atom).
  const realizedPnl = money.floor(side * q * (price - fill.entryPrice));
  if (realizedPnl > 0n) transfers.push({ from: clearing, to: collateral, atoms: realizedPnl, reason: 'realized-pnl' });
  if (realizedPnl < 0n) transfers.push({ from: collateral, to: clearing, atoms: -realizedPnl, reason: 'realized-pnl' });

  const share = totalMaintenance > 0 ? (equity * Math.abs(fill.maintenanceReleased)) / totalMaintenance : 0;
  const deltaNetNotional = -side * q * oraclePrice;
  const bankruptcyValue = -deltaNetNotional - share;
  const surplus = side * q * (price - oraclePrice) + share;

  let fee = 0n;
  let insuranceCover = 0n;
  let deficit = 0n;
  if (surplus > 0) {
    // Rounded down: the fee never exceeds any of its bounds (floor is monotone, so floor(min) = min(floor)).
    fee = money.floor(liquidationFee(surplus, fill.maintenanceReleased, q * price, policy));
    if (fee > 0n) transfers.push({ from: collateral, to: fund, atoms: fee, reason: 'liquidation-fee' });
  } else if (surplus < 0) {
    const gap = money.ceil(-surplus);
    insuranceCover = min(gap, max(fundBalance, 0n));
    deficit = gap - insuranceCover;
    if (insuranceCover > 0n) transfers.push({ from: fund, to: collateral, atoms: insuranceCover, reason: 'insurance-cover' });
  }
  return { transfers, realizedPnl, fee, insuranceCover, deficit, bankruptcyValue, surplus };
}
