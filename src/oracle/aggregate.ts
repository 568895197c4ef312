/**
 * Oracle aggregation (docs/domain.md section 5): many sources' quotes -> one price with a confidence. Pure functions of
 * plain values: no I/O, no clock (the caller passes `nowUs`), independent of the order of the quotes.
 *
 * Units: prices and confidences in quote per base, times in microseconds, weights dimensionless (> 0).
 *
 * The method, in order:
 *   1. Fresh: a quote is fresh when `eventTimeUs >= nowUs - maxAgeUs` (a quote stamped in the future counts as fresh:
 *      clock skew between venues is not staleness; replay is the authentication layer's concern). Stale quotes are
 *      ignored entirely. Fewer than `minFreshSources` fresh sources -> `{ ok: false, reason: 'insufficient-sources' }`.
 *   2. Clamp (OKX): m = weightedPercentile(0.5) of the fresh prices, each source one vote at p with its weight. A price
 *      outside [m * (1 - f), m * (1 + f)] is moved to the nearer bound; its confidence is kept. f = Infinity: off.
 *   3. Vote (Pyth): each fresh source votes p - c, p, p + c (p its clamped price, c its confidence), each vote with the
 *      source's weight (Hyperliquid-style venue weights). price = P(0.5), confidence = max(P(0.5) - P(0.25), P(0.75) - P(0.5)).
 *
 * The weighted percentile P(q) of votes (value v_i, weight w_i), total weight W:
 *   lower(q) = the smallest vote value v with  sum{ w_i : v_i <= v } >= q * W
 *   upper(q) = the largest  vote value v with  sum{ w_i : v_i >= v } >= (1 - q) * W
 *   P(q)     = lower(q) / 2 + upper(q) / 2   (kept inside [lower, upper] against rounding)
 * lower <= upper, and they differ only when the cumulative weight lands exactly on q * W between two values; then P is
 * their midpoint. With equal weights this is the textbook median (the middle vote, or the mean of the middle pair, as
 * Pyth's price_model_core does), and P is mirror-symmetric: negating every vote negates P. Sums run over the votes
 * sorted by (value, source, vote), a total order, so the floating-point result does not depend on the input order.
 *
 * Robustness (what test/oracle-aggregate.test.ts checks by property): split the fresh sources into honest H and
 * adversarial A with weight(A) < weight(H). Then P(0.5) lies in [min over H of (p~ - c), max over H of (p~ + c)], where
 * p~ is the honest source's clamped price, and p~ itself lies within [min over H of p, max over H of p]. Proof: votes
 * below the honest minimum are all adversarial, weight <= 3 weight(A) < W / 2, so lower(0.5) cannot be below it; the
 * honest votes alone weigh 3 weight(H) > W / 2, so lower(0.5) <= the honest maximum; upper(0.5) symmetrically. The same
 * argument with one vote per source puts the clamp's reference median within the honest prices, and clamping moves a
 * price toward that median. It does NOT put the price within the honest prices [min p, max p] when honest confidences
 * are non-zero: an adversary can push the median to an honest p + c (or, clamped, to m * (1 + f) +- its own c).
 */
import { DEFAULT_AGGREGATION, type AggregationPolicy } from '../config-types.js';
import { configNumbers, ErrorCode, UnwindError } from '../errors.js';

export interface SourceQuote {
  /** Source id: a non-negative safe integer, unique within one call. */
  readonly source: number;
  /** Quote per base, finite and > 0. */
  readonly price: number;
  /** Quote per base, finite and >= 0, with price + confidence finite. */
  readonly confidence: number;
  /** The source's vote weight, finite and > 0 (Hyperliquid: Binance 3, OKX 2, Bybit 2, others 1). */
  readonly weight: number;
  /** When the source observed the price, microseconds on the caller's clock; finite. */
  readonly eventTimeUs: number;
}

export type Aggregate =
  | {
      readonly ok: true;
      /** P(0.5) of the votes. */
      readonly price: number;
      /** max(P(0.5) - P(0.25), P(0.75) - P(0.5)), >= 0. */
      readonly confidence: number;
      /** Fresh sources that voted. */
      readonly fresh: number;
      /** Fresh sources whose price the clamp moved. */
      readonly clamped: number;
    }
  | { readonly ok: false; readonly reason: 'insufficient-sources'; readonly fresh: number };

/** One weighted vote; `source` and `rank` (0: p - c, 1: p, 2: p + c) only break ties deterministically. */
interface Vote {
  readonly value: number;
  readonly weight: number;
  readonly source: number;
  readonly rank: number;
}

/**
 * The oracle price of one market from its sources' quotes at `nowUs` (see the file header). Throws UnwindError
 * (INVALID_ID, INVALID_PRICE, INVALID_AMOUNT, INVALID_CONFIG) naming `quotes[i].field` or `policy.field`.
 */
export function aggregate(quotes: readonly SourceQuote[], nowUs: number, policy: AggregationPolicy = DEFAULT_AGGREGATION): Aggregate {
  validateAggregationPolicy(policy);
  validateQuotes(quotes);
  if (typeof nowUs !== 'number' || !Number.isFinite(nowUs)) {
    throw new UnwindError(ErrorCode.InvalidAmount, `expected a finite time in microseconds, got ${String(nowUs)}`, 'nowUs');
  }
  return aggregateValid(quotes, nowUs, policy);
}

/**
 * `aggregate` without its checks, for a caller whose quotes, time and policy are valid by construction: the oracle
 * layer checks each report as it arrives and its policy once at start, and aggregates on every report.
 */
export function aggregateValid(quotes: readonly SourceQuote[], nowUs: number, policy: AggregationPolicy): Aggregate {
  const oldest = nowUs - policy.maxAgeUs;
  const fresh = quotes.filter((q) => q.eventTimeUs >= oldest);
  if (fresh.length < policy.minFreshSources) return { ok: false, reason: 'insufficient-sources', fresh: fresh.length };

  let clamped = 0;
  const votes: Vote[] = [];
  const f = policy.clampFraction;
  let lo = -Infinity;
  let hi = Infinity;
  if (f !== Infinity) {
    const m = weightedPercentile(
      fresh.map((q) => ({ value: q.price, weight: q.weight, source: q.source, rank: 0 })),
      0.5,
    );
    lo = m * (1 - f);
    hi = m * (1 + f);
  }
  for (const q of fresh) {
    const p = q.price < lo ? lo : q.price > hi ? hi : q.price;
    if (p !== q.price) clamped++;
    votes.push(
      { value: p - q.confidence, weight: q.weight, source: q.source, rank: 0 },
      { value: p, weight: q.weight, source: q.source, rank: 1 },
      { value: p + q.confidence, weight: q.weight, source: q.source, rank: 2 },
    );
  }
  votes.sort(byVote);
  const p25 = percentileOfSorted(votes, 0.25);
  const p50 = percentileOfSorted(votes, 0.5);
  const p75 = percentileOfSorted(votes, 0.75);
  return { ok: true, price: p50, confidence: Math.max(p50 - p25, p75 - p50, 0), fresh: fresh.length, clamped };
}

/**
 * P(q) of weighted values (the file header's definition), for q in [0, 1]; independent of the input order.
 * Exported for the clamp's reference median and for tests; `values` must be non-empty with finite values and weights > 0.
 */
export function weightedPercentile(values: readonly { readonly value: number; readonly weight: number; readonly source?: number; readonly rank?: number }[], q: number): number {
  if (values.length === 0) throw new UnwindError(ErrorCode.InvalidAmount, 'expected at least one value', 'values');
  const votes: Vote[] = values.map((v, i) => ({ value: v.value, weight: v.weight, source: v.source ?? i, rank: v.rank ?? 0 }));
  votes.sort(byVote);
  return percentileOfSorted(votes, q);
}

/** Throws INVALID_CONFIG naming `${field}.maxAgeUs`, ... unless `p` is a usable policy. */
export function validateAggregationPolicy(p: AggregationPolicy, field = 'policy'): AggregationPolicy {
  const check = configNumbers(p, field);
  check('maxAgeUs', (v) => v >= 0, 'a number >= 0 (Infinity: never stale)');
  check('minFreshSources', (v) => Number.isSafeInteger(v) && v >= 1, 'an integer >= 1');
  check('clampFraction', (v) => v >= 0, 'a number >= 0 (Infinity: no clamp)');
  return p;
}

function validateQuotes(quotes: readonly SourceQuote[]): void {
  if (!Array.isArray(quotes)) throw new UnwindError(ErrorCode.InvalidConfig, 'expected an array of quotes', 'quotes');
  const seen = new Set<number>();
  quotes.forEach((q, i) => {
    const at = `quotes[${i}]`;
    if (q === null || typeof q !== 'object') throw new UnwindError(ErrorCode.InvalidConfig, 'expected an object', at);
    if (typeof q.source !== 'number' || !Number.isSafeInteger(q.source) || q.source < 0) {
      throw new UnwindError(ErrorCode.InvalidId, `expected a non-negative integer, got ${String(q.source)}`, `${at}.source`);
    }
    if (seen.has(q.source)) throw new UnwindError(ErrorCode.InvalidId, `source ${q.source} quotes twice; expected one quote per source`, `${at}.source`);
    seen.add(q.source);
    if (typeof q.price !== 'number' || !Number.isFinite(q.price) || !(q.price > 0)) {
      throw new UnwindError(ErrorCode.InvalidPrice, `expected a finite positive price, got ${String(q.price)}`, `${at}.price`);
    }
    if (typeof q.confidence !== 'number' || !Number.isFinite(q.confidence) || !(q.confidence >= 0)) {
      throw new UnwindError(ErrorCode.InvalidAmount, `expected a finite confidence >= 0, got ${String(q.confidence)}`, `${at}.confidence`);
    }
    if (!Number.isFinite(q.price + q.confidence)) {
      throw new UnwindError(ErrorCode.InvalidAmount, `expected price + confidence to be finite, got ${q.price} + ${q.confidence}`, `${at}.confidence`);
    }
    if (typeof q.weight !== 'number' || !Number.isFinite(q.weight) || !(q.weight > 0)) {
      throw new UnwindError(ErrorCode.InvalidAmount, `expected a finite weight > 0, got ${String(q.weight)}`, `${at}.weight`);
    }
    if (typeof q.eventTimeUs !== 'number' || !Number.isFinite(q.eventTimeUs)) {
      throw new UnwindError(ErrorCode.InvalidAmount, `expected a finite time in microseconds, got ${String(q.eventTimeUs)}`, `${at}.eventTimeUs`);
    }
  });
}

function byVote(a: Vote, b: Vote): number {
  return a.value - b.value || a.source - b.source || a.rank - b.rank;
}

/** P(q) of votes already sorted by `byVote`. Cumulative sums run in that order, so rounding is order-independent too. */
function percentileOfSorted(votes: readonly Vote[], q: number): number {
  const n = votes.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += votes[i].weight;
  // lower: first index whose prefix sum reaches q * W (sums over equal values end on the last of them, same value).
  const needBelow = q * total;
  let lower = votes[n - 1].value;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += votes[i].weight;
    if (sum >= needBelow) {
      lower = votes[i].value;
      break;
    }
  }
  // upper: last index whose suffix sum reaches (1 - q) * W.
  const needAbove = (1 - q) * total;
  let upper = votes[0].value;
  sum = 0;
  for (let i = n - 1; i >= 0; i--) {
    sum += votes[i].weight;
    if (sum >= needAbove) {
      upper = votes[i].value;
      break;
    }
  }
  if (lower === upper) return lower;
  const mid = lower / 2 + upper / 2;
  return Math.min(Math.max(mid, Math.min(lower, upper)), Math.max(lower, upper));
}
