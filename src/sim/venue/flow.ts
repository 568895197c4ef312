/**
 * Background flow: the other traders of a simulated market, as seeded market orders. Arrivals are a Poisson process
 * (exponential gaps at `ratePerS`, rounded up to whole microseconds); sizes are log-normal around `medianSize`;
 * each is a buy with probability `buyShare`. Their executions sweep the book and move the mid like ours do.
 */
import { configNumbers } from '../../errors.js';
import { mulberry32, normal } from '../random.js';
import { type OrderSide } from './book.js';

export interface FlowParams {
  /** Mean arrivals per second (0: no flow). */
  readonly ratePerS: number;
  /** Median order size, base units. */
  readonly medianSize: number;
  /** Standard deviation of ln(size). */
  readonly sizeSigma: number;
  /** Probability an arrival buys (default 0.5). */
  readonly buyShare?: number;
}

/** Flow for a market near `startPrice`: `ratePerS` orders a second (default 1) of about `medianNotional` quote (default 20,000). */
export function flowParamsFor(startPrice: number, o: { readonly ratePerS?: number; readonly medianNotional?: number; readonly sizeSigma?: number } = {}): FlowParams {
  const params = { ratePerS: o.ratePerS ?? 1, medianSize: (o.medianNotional ?? 20_000) / startPrice, sizeSigma: o.sizeSigma ?? 1 };
  validateFlowParams(params, 'flowParamsFor');
  return params;
}

export function validateFlowParams(p: FlowParams, field = 'flow'): void {
  const check = configNumbers(p, field);
  check('ratePerS', (v) => v >= 0 && Number.isFinite(v), 'a finite rate >= 0 a second');
  check('medianSize', (v) => v > 0 && Number.isFinite(v), 'a finite size > 0');
  check('sizeSigma', (v) => v >= 0 && Number.isFinite(v), 'a finite deviation >= 0');
  if (p.buyShare !== undefined) check('buyShare', (v) => v >= 0 && v <= 1, 'a probability in [0, 1]');
}

export class BackgroundFlow {
  /** Event time of the next arrival (Infinity without flow). */
  nextUs: number;
  private readonly uniform: () => number;
  private readonly gauss: () => number;

  constructor(
    private readonly params: FlowParams,
    seed: number,
    startUs: number,
  ) {
    validateFlowParams(params);
    this.uniform = mulberry32(seed);
    this.gauss = normal(this.uniform);
    this.nextUs = startUs;
    this.schedule();
  }

  /** The order arriving at `nextUs`; schedules the one after it. */
  take(): { side: OrderSide; quantity: number } {
    const side: OrderSide = this.uniform() < (this.params.buyShare ?? 0.5) ? 'buy' : 'sell';
    const quantity = this.params.medianSize * Math.exp(this.params.sizeSigma * this.gauss());
    this.schedule();
    return { side, quantity };
  }

  private schedule(): void {
    if (this.params.ratePerS === 0) {
      this.nextUs = Infinity;
      return;
    }
    const gapUs = Math.ceil((-Math.log(1 - this.uniform()) / this.params.ratePerS) * 1e6);
    this.nextUs += Math.max(1, gapUs);
  }
}
