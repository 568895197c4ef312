/**
 * EWMA volatility, the RiskMetrics estimator (J.P. Morgan/Reuters, RiskMetrics Technical Document, 1996):
 *
 *   s2_t = lambda * s2_{t-1} + (1 - lambda) * r_t^2,   r_t = ln(p_t / p_{t-1})
 *
 * over a price series observed at event times (oracle or mid prices; trade prices add bid-ask bounce).
 *
 * Irregular time steps. RiskMetrics assumes equally spaced returns. Here a return over dt seconds is first scaled to
 * a per-second variance, r^2 / dt (unbiased for a random walk: E[r^2] = sigma^2 dt), and the decay follows elapsed
 * time rather than the count of observations (the inhomogeneous EMA of Zumbach and Mueller 2001):
 *
 *   v_t = d * v_{t-1} + (1 - d) * r_t^2 / dt,   d = lambda^(dt / intervalSec)
 *
 * so lambda decays over each `intervalSec` of time however many prices arrived in it, and with one price every
 * `intervalSec` this is RiskMetrics exactly (d = lambda), on the per-second scale. The first return seeds v (no
 * prior is assumed). A price at the same event time as the previous one replaces it (a move with no elapsed time has
 * no per-second variance); a price at an earlier time is refused. A long gap makes d nearly 0, so v becomes that one
 * return's r^2 / dt, the gap's own average per-second variance.
 *
 * Forecast: EWMA's forecast is flat (a random walk in variance), so the variance over the next h seconds is v * h.
 *
 * Fitted on: nothing; lambda is set, not estimated. Refitted: never. State: the last price and time, v, a count.
 */
import { ErrorCode, UnwindError } from '../errors.js';
import { requirePrice, requireTime } from '../validate.js';
import { configBetween, stateCount, stateNullableNumber, stateObject } from './check.js';

/** The EWMA volatility model (RiskMetrics on event time). */
export interface EwmaConfig {
  /**
   * Decay per `intervalSec`, in (0, 1). Default 0.94, RiskMetrics' decay factor for daily returns, kept as the
   * per-interval factor: an effective memory of 1 / (1 - 0.94), about 17 intervals, and a half-life of about 11.
   */
  readonly lambda: number;
  /**
   * Seconds that one factor of lambda decays over, > 0. Default 60: with 0.94, a half-life of about 11 minutes, the
   * scale of a liquidation's execution horizon (ours; RiskMetrics' interval is a trading day).
   */
  readonly intervalSec: number;
}

export const DEFAULT_EWMA_CONFIG: EwmaConfig = { lambda: 0.94, intervalSec: 60 };

/** The EWMA's state as plain data. */
export interface EwmaState {
  /** Event time of the last price, microseconds; null before the first. */
  readonly lastTimeUs: number | null;
  readonly lastPrice: number | null;
  /** v, variance per second; null before the first return. */
  readonly variancePerSec: number | null;
  /** Returns taken in so far. */
  readonly returns: number;
}

/** Validates an EWMA config (defaults filled in): INVALID_CONFIG naming the field. */
export function validateEwmaConfig(given: Partial<EwmaConfig> = {}, field = 'ewma'): EwmaConfig {
  const c = { ...DEFAULT_EWMA_CONFIG, ...given };
  configBetween(c.lambda, 0, 1, `${field}.lambda`);
  configBetween(c.intervalSec, 0, Infinity, `${field}.intervalSec`);
  return c;
}

export class EwmaVolatility {
  readonly config: EwmaConfig;
  private readonly intervalUs: number;
  private lastTimeUs: number | null = null;
  private lastPrice: number | null = null;
  private variance: number | null = null;
  private count = 0;

  constructor(config: Partial<EwmaConfig> = {}) {
    this.config = validateEwmaConfig(config);
    this.intervalUs = this.config.intervalSec * 1e6;
  }

  /** Takes a price at an event time (microseconds): one return from the previous price, scaled per second. */
  observe(timeUs: number, price: number): void {
    requireTime(timeUs, 'timeUs');
    requirePrice(price, 'price');
    if (this.lastTimeUs !== null && timeUs < this.lastTimeUs) {
      throw new UnwindError(ErrorCode.InvalidArgument, `expected an event time at or after the last one (${this.lastTimeUs}), got ${timeUs}`, 'timeUs');
    }
    if (this.lastTimeUs !== null && timeUs > this.lastTimeUs) {
      const elapsedUs = timeUs - this.lastTimeUs;
      const r = Math.log(price / this.lastPrice!);
      const sample = (r * r) / (elapsedUs / 1e6);
      if (this.variance === null) {
        this.variance = sample;
      } else {
        const d = Math.pow(this.config.lambda, elapsedUs / this.intervalUs);
        this.variance = d * this.variance + (1 - d) * sample;
      }
      this.count++;
    }
    this.lastTimeUs = timeUs;
    this.lastPrice = price;
  }

  /** Event time of the last price taken, microseconds; null before the first. */
  get lastObservedUs(): number | null {
    return this.lastTimeUs;
  }

  /** Returns taken in so far. */
  get returns(): number {
    return this.count;
  }

  /** v: the variance of log returns per second; undefined before the first return. */
  variancePerSecond(): number | undefined {
    return this.variance ?? undefined;
  }

  /** The variance of the log return over the next `horizonSec` seconds: v * horizonSec. */
  forecastVariance(horizonSec: number): number | undefined {
    return this.variance === null ? undefined : this.variance * horizonSec;
  }

  /** The volatility (standard deviation of the log return) over the next `horizonSec` seconds. */
  volatility(horizonSec: number): number | undefined {
    const v = this.forecastVariance(horizonSec);
    return v === undefined ? undefined : Math.sqrt(v);
  }

  exportState(): EwmaState {
    return { lastTimeUs: this.lastTimeUs, lastPrice: this.lastPrice, variancePerSec: this.variance, returns: this.count };
  }

  /** Restores a state from exportState (of a model with the same config): INVALID_ARGUMENT naming a bad field. */
  importState(state: EwmaState): void {
    const s = stateObject(state, 'state');
    const lastTimeUs = stateNullableNumber(s.lastTimeUs, 0, 'state.lastTimeUs');
    const lastPrice = stateNullableNumber(s.lastPrice, Number.MIN_VALUE, 'state.lastPrice');
    const variance = stateNullableNumber(s.variancePerSec, 0, 'state.variancePerSec');
    const count = stateCount(s.returns, 'state.returns');
    if ((lastTimeUs === null) !== (lastPrice === null) || (variance === null) !== (count === 0)) {
      throw new UnwindError(ErrorCode.InvalidArgument, 'expected lastTimeUs and lastPrice both set or both null, and variancePerSec set exactly when returns > 0', 'state');
    }
    this.lastTimeUs = lastTimeUs;
    this.lastPrice = lastPrice;
    this.variance = variance;
    this.count = count;
  }
}
