/**
 * The mark price: what margin uses (docs/domain.md section 5), composed so that no single input moves it alone.
 * Pure functions and one small state (the basis EMA); no clock: times come from the inputs.
 *
 * Components (MarkPolicy.components picks and orders them; the mark is their median):
 *   'oracle-basis'  oracle + EMA of the book's basis (book price - oracle), Hyperliquid's 150 s EMA;
 *                   the oracle alone until the matching engine has sent a book;
 *   'book'          median(bid, ask, last) of the matching engine's book (its known values), while fresh;
 *   'oracle'        the aggregated oracle price.
 * Finally the mark is clamped to oracle * (1 +- maxDeviation), so that even a book pumped for long enough to drag
 * the basis EMA along (the Mango Markets pattern) moves the mark at most that far from the sources.
 */
import { DEFAULT_MARK_POLICY, MARK_COMPONENTS, type MarkPolicy } from '../config-types.js';
import { configNumbers, ErrorCode, UnwindError } from '../errors.js';

/** The top of the matching engine's book for one market; a price of 0 means "not known". */
export interface BookTop {
  /** Best bid, quote per base unit; 0: not known. */
  readonly bid: number;
  /** Best ask; 0: not known. */
  readonly ask: number;
  /** Last trade price; 0: not known. */
  readonly last: number;
  /** When the book was read, microseconds since the Unix epoch. */
  readonly eventTimeUs: number;
}

/** The median of `values` (the mean of the middle pair for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? v[(n - 1) / 2]! : v[n / 2 - 1]! / 2 + v[n / 2]! / 2;
}

/** median(bid, ask, last) over the known (> 0) values; undefined when none is known. */
export function bookPrice(b: BookTop): number | undefined {
  const known = [b.bid, b.ask, b.last].filter((p) => p > 0);
  return known.length === 0 ? undefined : median(known);
}

/** An exponential moving average in event time: weight 1 - exp(-dt / tau) for a value dt after the previous one. */
export class BasisEma {
  value: number | undefined;
  private lastUs = 0;

  /** Snapshot (src/journal). */
  exportState(): { readonly value: number | undefined; readonly lastUs: number } {
    return { value: this.value, lastUs: this.lastUs };
  }
  importState(s: { readonly value: number | undefined; readonly lastUs: number }): void {
    this.value = s.value;
    this.lastUs = s.lastUs;
  }

  update(basis: number, timeUs: number, tauUs: number): void {
    if (this.value === undefined) {
      this.value = basis;
    } else {
      const dt = Math.max(0, timeUs - this.lastUs);
      this.value += (1 - Math.exp(-dt / tauUs)) * (basis - this.value);
    }
    this.lastUs = Math.max(this.lastUs, timeUs);
  }
}

/** The mark price at `nowUs` from the oracle, the basis EMA (undefined: no book yet) and the latest book. */
export function markPrice(oracle: number, basisEma: number | undefined, book: BookTop | undefined, nowUs: number, policy: MarkPolicy = DEFAULT_MARK_POLICY): number {
  const parts: number[] = [];
  for (const c of policy.components) {
    if (c === 'oracle') parts.push(oracle);
    else if (c === 'oracle-basis') parts.push(oracle + (basisEma ?? 0));
    else if (book !== undefined && book.eventTimeUs >= nowUs - policy.bookMaxAgeUs) {
      const p = bookPrice(book);
      if (p !== undefined) parts.push(p);
    }
  }
  const m = parts.length === 0 ? oracle : median(parts);
  const d = policy.maxDeviation;
  return d === Infinity ? m : Math.min(Math.max(m, oracle * (1 - d)), oracle * (1 + d));
}

/** Throws INVALID_CONFIG naming `${field}.x` unless `p` is a usable mark policy. */
export function validateMarkPolicy(p: MarkPolicy, field = 'mark'): MarkPolicy {
  if (!Array.isArray(p?.components) || p.components.length === 0 || p.components.some((c) => !MARK_COMPONENTS.includes(c))) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a non-empty list of ${MARK_COMPONENTS.join(', ')}`, `${field}.components`);
  }
  if (new Set(p.components).size !== p.components.length) {
    throw new UnwindError(ErrorCode.InvalidConfig, 'expected each component at most once', `${field}.components`);
  }
  const check = configNumbers(p, field);
  check('basisEmaUs', (v) => v > 0 && v < Infinity, 'a finite number > 0');
  check('bookMaxAgeUs', (v) => v >= 0, 'a number >= 0');
  check('maxDeviation', (v) => v >= 0, 'a number >= 0 (Infinity: no clamp)');
  return p;
}
