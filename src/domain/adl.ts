/**
 * Auto-deleveraging (docs/domain.md section 4): when the insurance fund cannot take a bankrupt position, it is closed
 * against positions on the opposite side, at its bankruptcy price, in rank order. Pure functions of plain numbers.
 *
 * Values, signed like the size (long > 0, short < 0), as Binance, Bybit, BitMEX and MEXC define them:
 *   markValue       = size * markPrice
 *   entryValue      = size * entryPrice
 *   bankruptcyValue = size * bankruptcyPrice = markValue - equity
 * where `equity` is the equity (TNC) at the mark of the margin group the position belongs to (the cross group, or
 * the isolated position with its collateral), and the bankruptcy price is the one of `bankruptcyPrice()`: the mark
 * at which that equity reaches 0, other prices held fixed. So for either side
 *   markValue - bankruptcyValue = size * (markPrice - bankruptcyPrice) = equity,
 * which is > 0 while the group is solvent: a long's bankruptcy price lies below its mark, a short's above.
 *
 * Leveraged-PnL rank (Binance "What Is Auto-Deleveraging (ADL)", Bybit, BitMEX; the same text on MEXC's
 * "Automatic Deleveraging System": "Effective Leverage = abs(Mark Value) / (Mark Value - Bankruptcy Value),
 * PNL percentage = (Mark Value - Avg Entry Value) / abs(Avg Entry Value)"):
 *   pnlPercent        = (markValue - entryValue) / |entryValue| = unrealized PnL / entry notional
 *   effectiveLeverage = |markValue| / (markValue - bankruptcyValue) = notional / equity
 *   rank              = pnlPercent * effectiveLeverage   when pnlPercent > 0
 *                       pnlPercent / effectiveLeverage   otherwise
 * Winners rank above losers; among winners the more leveraged first, among losers the more leveraged first too
 * (dividing a loss by a larger leverage brings it closer to 0).
 *
 * Hyperliquid ("Auto-deleveraging" in its docs) sorts by (mark_price / entry_price) * (notional / account_value):
 * the same leverage (notional / equity), times a price ratio instead of the leveraged PnL rule.
 */
import { ErrorCode, UnwindError } from '../errors.js';

/** +1 long, -1 short. */
export type Side = 1 | -1;

/** Which published rank orders the queue. */
export type AdlRankPolicy = 'leveragedPnl' | 'hyperliquid';

/**
 * Unrealized PnL over the entry notional: size * (mark - entry) / |size * entry| = sign(size) * (mark - entry) / entry.
 * 0 for a zero entry notional (size 0 or entry price 0): there is no basis to measure a return against, and a
 * position of size 0 is on neither side of any queue.
 */
export function pnlPercent(size: number, markPrice: number, entryPrice: number): number {
  if (size === 0 || entryPrice === 0) return 0;
  return (Math.sign(size) * (markPrice - entryPrice)) / Math.abs(entryPrice);
}

/** notional / equity, with the edges of `effectiveLeverage`. The one copy of the leverage formula. */
function leverageOf(notional: number, equity: number): number {
  if (Number.isNaN(notional) || Number.isNaN(equity)) return NaN;
  if (notional === 0) return 0;
  return equity > 0 ? notional / equity : Infinity;
}

/**
 * |markValue| / (markValue - bankruptcyValue), both signed like the size (see the header).
 * - 0 for a markValue of 0 (no position).
 * - Infinity when markValue - bankruptcyValue <= 0: the group's equity is gone (the counterparty is itself at or
 *   past bankruptcy), the limit of notional / equity as equity falls to 0.
 * - A long whose equity covers its whole notional has no positive bankruptcy price (`bankruptcyPrice()` returns
 *   NaN): pass bankruptcyValue = markValue - equity, which is then <= 0, and the leverage is notional / equity <= 1,
 *   tending to 0 as equity grows (such a position can never be bankrupted). A NaN bankruptcyValue gives NaN.
 */
export function effectiveLeverage(markValue: number, bankruptcyValue: number): number {
  return leverageOf(Math.abs(markValue), markValue - bankruptcyValue);
}

/**
 * The leveraged-PnL rule: pnlPercent * leverage when pnlPercent > 0, pnlPercent / leverage when < 0, 0 at 0.
 * Infinite leverage gives +Infinity to a winner and 0 to a loser (the limits); never -0.
 */
export function leveragedPnlRank(pnlPct: number, leverage: number): number {
  if (Number.isNaN(pnlPct) || Number.isNaN(leverage)) return NaN;
  if (pnlPct === 0) return 0;
  // The limits, spelled out so that an infinite PnL meets an infinite or zero leverage without a NaN.
  if (leverage === Infinity) return pnlPct > 0 ? Infinity : 0;
  if (leverage === 0) return pnlPct > 0 ? 0 : -Infinity;
  return (pnlPct > 0 ? pnlPct * leverage : pnlPct / leverage) + 0; // + 0 turns -0 into 0
}

/**
 * Binance/Bybit/BitMEX ADL rank of a position of signed `size`, from its group's `equity` at `markPrice`.
 * Equal to leveragedPnlRank(pnlPercent(...), effectiveLeverage(size * mark, size * bankruptcyPrice)) wherever
 * the bankruptcy price exists, and defined where it does not (see `effectiveLeverage`).
 */
export function adlRank(size: number, entryPrice: number, markPrice: number, equity: number): number {
  return leveragedPnlRank(pnlPercent(size, markPrice, entryPrice), leverageOf(Math.abs(size) * markPrice, equity));
}

/**
 * Hyperliquid's index (mark / entry) * (notional / accountValue), notional = |size| * mark.
 * Hyperliquid publishes the one formula, which reads as a long's; for a short we use 2 - mark / entry, i.e. the
 * same 1 + pnlPercent that mark / entry is for a long, so equal returns rank equally on both sides. (The literal
 * mark / entry would put a short's deepest losses first.) accountValue <= 0 counts as infinite leverage, as in
 * `effectiveLeverage`; a zero notional or entry price gives 0.
 */
export function adlRankHyperliquid(markPrice: number, entryPrice: number, notional: number, accountValue: number, side: Side = 1): number {
  if (entryPrice === 0) return 0;
  const ratio = side > 0 ? markPrice / entryPrice : 2 - markPrice / entryPrice;
  const leverage = leverageOf(Math.abs(notional), accountValue);
  if (Number.isNaN(ratio) || Number.isNaN(leverage)) return NaN;
  return ratio === 0 || leverage === 0 ? 0 : ratio * leverage + 0;
}

/** A position that may be deleveraged: one per (account, market). */
export interface AdlCandidate {
  /** The account holding it. */
  readonly account: number;
  /** Its market. */
  readonly market: number;
  /** Signed base units; 0 is on neither side and never queued. */
  readonly size: number;
  /** Its average entry price. */
  readonly entryPrice: number;
  /** The market's mark price. */
  readonly markPrice: number;
  /** Equity (TNC) at the mark of the position's margin group: the cross group or the isolated position. */
  readonly equity: number;
}

/** One published line of the queue. */
export interface AdlQueueEntry {
  /** 1-based: 1 is deleveraged first. */
  readonly queuePosition: number;
  /** The account holding the position. */
  readonly account: number;
  /** Its market. */
  readonly market: number;
  /** Signed base units. */
  readonly size: number;
  /** The policy's rank: higher is deleveraged first. */
  readonly rank: number;
  /** Unrealized PnL over the entry notional (0.25 = +25%). */
  readonly pnlPercent: number;
  /** notional / equity: the same factor in both policies. */
  readonly effectiveLeverage: number;
}

/** Which queue `adlQueue` ranks, and by which policy. */
export interface AdlQueueOptions {
  /** Default 'leveragedPnl'. */
  readonly policy?: AdlRankPolicy;
  /** Keep only this market's candidates. Without it, all candidates must be of one market. */
  readonly market?: number;
}

function finiteAt(x: number, code: ErrorCode, field: string, positive: boolean): void {
  if (typeof x !== 'number' || !Number.isFinite(x) || (positive && !(x > 0))) {
    throw new UnwindError(code, `expected a finite${positive ? ' positive' : ''} number, got ${String(x)}`, field);
  }
}

function finite(x: number): number {
  return Math.max(-Number.MAX_VALUE, Math.min(Number.MAX_VALUE, x));
}

function sideAt(side: number, field: string): Side {
  if (side !== 1 && side !== -1) throw new UnwindError(ErrorCode.InvalidSize, `expected 1 (long) or -1 (short), got ${String(side)}`, field);
  return side;
}

/**
 * Rank descending, then |size| descending (the larger position absorbs more, so fewer accounts are touched), then
 * account ascending. With one candidate per account this is a strict total order: the queue does not depend on the
 * order of the input.
 */
function compareEntries(x: Pick<AdlQueueEntry, 'rank' | 'size' | 'account'>, y: Pick<AdlQueueEntry, 'rank' | 'size' | 'account'>): number {
  // Validated inputs never give a NaN rank (see leveragedPnlRank, adlRankHyperliquid), so this order is total.
  if (x.rank !== y.rank) return x.rank > y.rank ? -1 : 1; // no subtraction: Infinity - Infinity is NaN
  return Math.abs(y.size) - Math.abs(x.size) || x.account - y.account;
}

/**
 * The ADL queue against a bankrupt position on `bankruptSide`: the candidates on the other side (sign(size) ===
 * -bankruptSide) whose group's equity is positive, in deleveraging order, each with its 1-based queue position. This is the list traders see.
 * Throws INVALID_SIZE / INVALID_PRICE / INVALID_AMOUNT / INVALID_ID / DUPLICATE_ACCOUNT / INVALID_CONFIG naming the field.
 */
export function adlQueue(candidates: readonly AdlCandidate[], bankruptSide: Side, options: AdlQueueOptions = {}): AdlQueueEntry[] {
  const side = sideAt(bankruptSide, 'bankruptSide');
  const policy = options.policy ?? 'leveragedPnl';
  if (policy !== 'leveragedPnl' && policy !== 'hyperliquid') {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected 'leveragedPnl' or 'hyperliquid', got ${String(policy)}`, 'options.policy');
  }
  const market = options.market ?? candidates[0]?.market;
  const seen = new Set<number>();
  const kept: AdlCandidate[] = [];
  candidates.forEach((c, i) => {
    const at = `candidates[${i}]`;
    finiteAt(c.market, ErrorCode.InvalidId, `${at}.market`, false);
    if (c.market !== market) {
      if (options.market !== undefined) return;
      throw new UnwindError(ErrorCode.InvalidId, `expected market ${market} like candidates[0], or options.market to filter`, `${at}.market`);
    }
    finiteAt(c.account, ErrorCode.InvalidId, `${at}.account`, false);
    finiteAt(c.size, ErrorCode.InvalidSize, `${at}.size`, false);
    finiteAt(c.entryPrice, ErrorCode.InvalidPrice, `${at}.entryPrice`, true);
    finiteAt(c.markPrice, ErrorCode.InvalidPrice, `${at}.markPrice`, true);
    finiteAt(c.equity, ErrorCode.InvalidAmount, `${at}.equity`, false);
    if (seen.has(c.account)) throw new UnwindError(ErrorCode.DuplicateAccount, `account ${c.account} appears twice in market ${market}`, `${at}.account`);
    seen.add(c.account);
    kept.push(c);
  });
  return adlOrder(kept, side, policy).map((r, i) => {
    const c = kept[r.index]!;
    return { queuePosition: i + 1, account: c.account, market: c.market, size: c.size, rank: r.rank, pnlPercent: r.pnlPercent, effectiveLeverage: r.effectiveLeverage };
  });
}

/** A candidate's place in the queue: its index in the input, and the published numbers. */
export interface AdlRanked {
  readonly index: number;
  readonly rank: number;
  readonly pnlPercent: number;
  readonly effectiveLeverage: number;
}

/**
 * The queue order of candidates that are already valid (finite, one per account, one market; `adlQueue` checks
 * them): the indices of those on the side opposite to `bankruptSide` whose group's equity is positive, in
 * deleveraging order, with their rank. The one ranking both the published queue and the clearing's batches use.
 */
export function adlOrder(candidates: readonly AdlCandidate[], bankruptSide: Side, policy: AdlRankPolicy = 'leveragedPnl'): AdlRanked[] {
  const ranked: (AdlRanked & { size: number; account: number })[] = [];
  for (let index = 0; index < candidates.length; index++) {
    const c = candidates[index]!;
    // Only counterparties with positive equity: a bankrupt account is liquidated, never used to absorb another's
    // loss (docs/domain.md section 4). So every queued rank is finite.
    if (Math.sign(c.size) !== -bankruptSide || !(c.equity > 0)) continue;
    const notional = Math.abs(c.size) * c.markPrice;
    const pnl = pnlPercent(c.size, c.markPrice, c.entryPrice);
    // Published numbers are finite: an equity so small that notional / equity overflows saturates at MAX_VALUE.
    const exact = leverageOf(notional, c.equity);
    const rank = finite(
      policy === 'hyperliquid'
        ? adlRankHyperliquid(c.markPrice, c.entryPrice, notional, c.equity, c.size > 0 ? 1 : -1)
        : leveragedPnlRank(pnl, exact),
    );
    ranked.push({ index, rank, pnlPercent: pnl, effectiveLeverage: finite(exact), size: c.size, account: c.account });
  }
  ranked.sort(compareEntries);
  return ranked;
}

/** The position to close: signed size and its bankruptcy price (from `bankruptcyPrice()`, or the caller's floor). */
export interface AdlBankrupt {
  /** Signed base units. */
  readonly size: number;
  /** The price every match closes at, quote per base unit. */
  readonly bankruptcyPrice: number;
}

/** A counterparty closes `quantity` (> 0, base units, toward 0) of its position at `price`. */
export interface AdlMatch {
  /** The counterparty. */
  readonly account: number;
  /** Base units it closes, > 0. */
  readonly quantity: number;
  /** The bankrupt position's bankruptcy price. */
  readonly price: number;
}

/** What `adlMatches` found: the counterparties in queue order and how much of the position they take. */
export interface AdlMatchResult {
  /** One per counterparty, in queue order. */
  readonly matches: AdlMatch[];
  /** min(|size|, available): exactly |size| when covered, else the queue-order sum of the counterparties' sizes. */
  readonly matched: number;
  /** What the opposite side could not absorb: exactly 0 when covered, else |size| - matched (> 0). */
  readonly remainder: number;
}

/**
 * Closes the bankrupt position's |size| against `queue` in order (as `adlQueue` returns it), each counterparty
 * giving at most its own |size|, all at the bankrupt position's bankruptcy price.
 *
 * Exactness: `cum` is the IEEE sum of the quantities taken so far, in queue order. A counterparty gives its whole
 * |size| while cum + |size| stays below the need; the last one gives min(|size|, need - cum), so the remainder is
 * exactly 0, no dust is left and nothing is overshot. Summing the quantities in queue order then gives exactly
 * `matched` whenever the sizes lie on a common binary grid (multiples of some 2^-k below 2^53 of them), and
 * otherwise at most one ulp of `matched` away: there are rounding ties for which no double closes the gap.
 */
export function adlMatches(bankrupt: AdlBankrupt, queue: readonly { readonly account: number; readonly size: number }[]): AdlMatchResult {
  finiteAt(bankrupt.size, ErrorCode.InvalidSize, 'bankrupt.size', false);
  const need = Math.abs(bankrupt.size);
  if (need === 0) return { matches: [], matched: 0, remainder: 0 };
  finiteAt(bankrupt.bankruptcyPrice, ErrorCode.InvalidPrice, 'bankrupt.bankruptcyPrice', true);
  const price = bankrupt.bankruptcyPrice;
  const matches: AdlMatch[] = [];
  let cum = 0;
  for (let i = 0; i < queue.length; i++) {
    const q = queue[i]!;
    finiteAt(q.size, ErrorCode.InvalidSize, `queue[${i}].size`, false);
    if (q.size === 0) continue;
    if (Math.sign(q.size) === Math.sign(bankrupt.size)) {
      throw new UnwindError(ErrorCode.InvalidSize, `expected the side opposite to the bankrupt position, got ${q.size}`, `queue[${i}].size`);
    }
    const available = Math.abs(q.size);
    if (cum + available < need) {
      matches.push({ account: q.account, quantity: available, price });
      cum += available;
      continue;
    }
    // The last match: what remains, never more than this counterparty holds (need - cum may round up past it).
    matches.push({ account: q.account, quantity: Math.min(available, need - cum), price });
    return { matches, matched: need, remainder: 0 };
  }
  return { matches, matched: cum, remainder: need - cum };
}
