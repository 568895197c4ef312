/**
 * HAR-RV, the heterogeneous autoregressive model of realized variance (Corsi 2009), our baseline variance forecaster:
 *
 *   RV_{t+1} = b0 + bd RV_t + bw RV^(w)_t + bm RV^(m)_t + e_{t+1}
 *
 * where RV_t is the realized variance of one base period (the sum of squared log returns that end in it) and RV^(w),
 * RV^(m) are the averages of the last mediumPeriodSec / basePeriodSec and longPeriodSec / basePeriodSec base RVs.
 * Corsi's day / week / month (1, 5, 22 days) become configurable horizons in seconds, by default 1 / 5 / 30 minutes.
 *
 * Input: prices at event times (`observe`), each return counted in the period its later price falls in; a period
 * with no price change closes with RV 0. Or closed periods' RVs directly (`observeRealizedVariance`), for a caller
 * that samples sparsely to damp microstructure noise. Use one or the other.
 *
 * Fitted on: the last `window` regression rows (row t: RV_t, RV^(w)_t, RV^(m)_t against RV_{t+1}) by ordinary
 * least squares (./least-squares.ts). Refitted: first once `minRows` rows exist, then after every `refitEvery`
 * closed periods. A fit with collinear regressors (e.g. a window of zeros) keeps the previous coefficients.
 *
 * Forecast: the next period's RV; before the first fit, and whenever the fitted forecast is not > 0 (OLS can go
 * negative after a quiet stretch) or is above every RV the window holds (a jump inside the fitting window can make
 * the coefficients wild: thousands of times the largest RV seen), the long average RV^(m) instead.
 */
import { ErrorCode, UnwindError } from '../errors.js';
import { requirePrice, requireTime } from '../validate.js';
import { configInteger, stateCount, stateNullableNumber, stateNumber, stateNumbers, stateObject } from './check.js';
import { NormalEquations } from './least-squares.js';
import { RollingWindow } from './rolling-window.js';

/** The HAR-RV volatility model: its periods, window and refit schedule. */
export interface HarConfig {
  /** Length of a base period, seconds, a whole number of microseconds > 0. Default 60 (Corsi's day). */
  readonly basePeriodSec: number;
  /** The medium horizon, seconds, a multiple of the base period above it. Default 300 (Corsi's week). */
  readonly mediumPeriodSec: number;
  /** The long horizon, seconds, a multiple of the base period above the medium one. Default 1,800 (Corsi's month). */
  readonly longPeriodSec: number;
  /** Regression rows the fit uses, the most recent; >= 10. Default 1,000 (about 17 hours of minutes). */
  readonly window: number;
  /** Closed periods between refits, >= 1. Default 60 (hourly at the default base period; ours). */
  readonly refitEvery: number;
  /** Rows needed before the first fit, in [10, window]. Default 100 (ours: 25 per coefficient). */
  readonly minRows: number;
}

export const DEFAULT_HAR_CONFIG: HarConfig = { basePeriodSec: 60, mediumPeriodSec: 300, longPeriodSec: 1800, window: 1000, refitEvery: 60, minRows: 100 };

export interface HarCoefficients {
  readonly b0: number;
  readonly bd: number;
  readonly bw: number;
  readonly bm: number;
}

/** The model's state as plain data. */
export interface HarState {
  /** Closed periods' RVs, oldest first (at most window + long count). */
  readonly rv: number[];
  /** Index of the open period, floor(timeUs / base period in microseconds); null before the first price. */
  readonly period: number | null;
  /** RV so far in the open period. */
  readonly periodRv: number;
  readonly lastPrice: number | null;
  readonly lastTimeUs: number | null;
  /** Periods closed since the last fit (or attempt). */
  readonly sinceFit: number;
  readonly coefficients: HarCoefficients | null;
}

/** Validates a HAR config (defaults filled in): INVALID_CONFIG naming the field. */
export function validateHarConfig(given: Partial<HarConfig> = {}, field = 'har'): HarConfig {
  const c = { ...DEFAULT_HAR_CONFIG, ...given };
  const baseUs = c.basePeriodSec * 1e6;
  if (typeof c.basePeriodSec !== 'number' || !Number.isSafeInteger(baseUs) || baseUs < 1) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected seconds > 0 in whole microseconds, got ${String(c.basePeriodSec)}`, `${field}.basePeriodSec`);
  }
  const multiple = (name: 'mediumPeriodSec' | 'longPeriodSec', above: number) => {
    const us = c[name] * 1e6;
    if (typeof c[name] !== 'number' || !Number.isSafeInteger(us) || us % baseUs !== 0 || us / baseUs <= above) {
      throw new UnwindError(ErrorCode.InvalidConfig, `expected a multiple of basePeriodSec (${c.basePeriodSec}) above ${(above * baseUs) / 1e6} s, got ${String(c[name])}`, `${field}.${name}`);
    }
    return us / baseUs;
  };
  multiple('longPeriodSec', multiple('mediumPeriodSec', 1));
  configInteger(c.window, 10, `${field}.window`);
  configInteger(c.refitEvery, 1, `${field}.refitEvery`);
  configInteger(c.minRows, 10, `${field}.minRows`);
  if (c.minRows > c.window) throw new UnwindError(ErrorCode.InvalidConfig, `expected at most window (${c.window}), got ${c.minRows}`, `${field}.minRows`);
  return c;
}

/** Mean of rv[end - count + 1 .. end] (fewer at the start of the series), summed oldest first. */
function trailingMean(rv: ArrayLike<number>, end: number, count: number): number {
  const from = Math.max(0, end - count + 1);
  let s = 0;
  for (let i = from; i <= end; i++) s += rv[i];
  return s / (end - from + 1);
}

/**
 * Fits HAR-RV by OLS to a series of base-period RVs (oldest first), with the medium and long horizons spanning
 * `mediumCount` and `longCount` base periods. Rows start where the long average is full. Null when the regressors are
 * collinear or there are fewer than 4 rows.
 */
export function fitHar(rv: ArrayLike<number>, mediumCount: number, longCount: number): HarCoefficients | null {
  const eq = new NormalEquations(4);
  const x = new Float64Array(4);
  x[0] = 1;
  for (let t = longCount - 1; t + 1 < rv.length; t++) {
    x[1] = rv[t];
    x[2] = trailingMean(rv, t, mediumCount);
    x[3] = trailingMean(rv, t, longCount);
    eq.add(x, rv[t + 1]);
  }
  const b = eq.solve();
  return b === null ? null : { b0: b[0], bd: b[1], bw: b[2], bm: b[3] };
}

export class HarRv {
  readonly config: HarConfig;
  readonly mediumCount: number;
  readonly longCount: number;
  private readonly baseUs: number;
  private readonly rv: RollingWindow;
  private period: number | null = null;
  private periodRv = 0;
  private lastPrice: number | null = null;
  private lastTimeUs: number | null = null;
  private sinceFit = 0;
  private coefficients: HarCoefficients | null = null;

  constructor(config: Partial<HarConfig> = {}) {
    this.config = validateHarConfig(config);
    this.baseUs = this.config.basePeriodSec * 1e6;
    this.mediumCount = (this.config.mediumPeriodSec * 1e6) / this.baseUs;
    this.longCount = (this.config.longPeriodSec * 1e6) / this.baseUs;
    this.rv = new RollingWindow(this.config.window + this.longCount);
  }

  /** Takes a price at an event time (microseconds); closes the periods that ended before it. */
  observe(timeUs: number, price: number): void {
    requireTime(timeUs, 'timeUs');
    requirePrice(price, 'price');
    if (this.lastTimeUs !== null && timeUs < this.lastTimeUs) {
      throw new UnwindError(ErrorCode.InvalidArgument, `expected an event time at or after the last one (${this.lastTimeUs}), got ${timeUs}`, 'timeUs');
    }
    const period = Math.floor(timeUs / this.baseUs);
    if (this.period !== null && period > this.period) {
      // The open period closes, and so does each empty one up to this price's (at most a window's worth: older ones fall out).
      const empty = period - this.period - 1;
      this.rv.push(this.periodRv);
      for (let i = 0; i < Math.min(empty, this.rv.capacity); i++) this.rv.push(0);
      this.periodRv = 0;
      this.closed(1 + empty);
    }
    this.period = period;
    if (this.lastPrice !== null) {
      const r = Math.log(price / this.lastPrice);
      this.periodRv += r * r;
    }
    this.lastPrice = price;
    this.lastTimeUs = timeUs;
  }

  /** Takes a closed base period's realized variance (>= 0), for callers that aggregate returns themselves. */
  observeRealizedVariance(rv: number): void {
    if (typeof rv !== 'number' || !(rv >= 0) || rv === Infinity) throw new UnwindError(ErrorCode.InvalidArgument, `expected a finite realized variance >= 0, got ${String(rv)}`, 'rv');
    this.rv.push(rv);
    this.closed(1);
  }

  private closed(periods: number): void {
    this.sinceFit += periods;
    const rows = this.rv.length - this.longCount;
    if (rows >= this.config.minRows && (this.coefficients === null || this.sinceFit >= this.config.refitEvery)) {
      this.sinceFit = 0;
      this.coefficients = fitHar(this.rv.toArray(), this.mediumCount, this.longCount) ?? this.coefficients;
    }
  }

  /** The coefficients of the last fit; null before the first. */
  get fitted(): HarCoefficients | null {
    return this.coefficients;
  }

  /** Closed periods held (at most window + long count). */
  get periods(): number {
    return this.rv.length;
  }

  /** The forecast RV of the next base period (see the header for the fallback); undefined before a period has closed. */
  forecast(): number | undefined {
    const n = this.rv.length;
    if (n === 0) return undefined;
    const long = this.recentMean(this.longCount);
    const c = this.coefficients;
    if (c === null) return long;
    const f = c.b0 + c.bd * this.rv.at(n - 1) + c.bw * this.recentMean(this.mediumCount) + c.bm * long;
    return f > 0 && f <= this.largestHeld() ? f : long;
  }

  /** The largest RV the window holds. */
  private largestHeld(): number {
    let max = 0;
    for (let i = 0; i < this.rv.length; i++) if (this.rv.at(i) > max) max = this.rv.at(i);
    return max;
  }

  /** trailingMean over the newest `count` periods held, read in place (the same sums, in the same order). */
  private recentMean(count: number): number {
    const n = this.rv.length;
    const from = Math.max(0, n - count);
    let s = 0;
    for (let i = from; i < n; i++) s += this.rv.at(i);
    return s / (n - from);
  }

  exportState(): HarState {
    return {
      rv: this.rv.toArray(),
      period: this.period,
      periodRv: this.periodRv,
      lastPrice: this.lastPrice,
      lastTimeUs: this.lastTimeUs,
      sinceFit: this.sinceFit,
      coefficients: this.coefficients === null ? null : { ...this.coefficients },
    };
  }

  /** Restores a state from exportState (of a model with the same config): INVALID_ARGUMENT naming a bad field. */
  importState(state: HarState): void {
    const s = stateObject(state, 'state');
    const rv = stateNumbers(s.rv, 0, this.rv.capacity, 'state.rv');
    const period = s.period === null ? null : stateCount(s.period, 'state.period');
    const periodRv = stateNumber(s.periodRv, 0, 'state.periodRv');
    const lastPrice = stateNullableNumber(s.lastPrice, Number.MIN_VALUE, 'state.lastPrice');
    const lastTimeUs = stateNullableNumber(s.lastTimeUs, 0, 'state.lastTimeUs');
    const sinceFit = stateCount(s.sinceFit, 'state.sinceFit');
    let coefficients: HarCoefficients | null = null;
    if (s.coefficients !== null) {
      const c = stateObject(s.coefficients, 'state.coefficients');
      coefficients = {
        b0: stateNumber(c.b0, -Infinity, 'state.coefficients.b0'),
        bd: stateNumber(c.bd, -Infinity, 'state.coefficients.bd'),
        bw: stateNumber(c.bw, -Infinity, 'state.coefficients.bw'),
        bm: stateNumber(c.bm, -Infinity, 'state.coefficients.bm'),
      };
    }
    if ((lastPrice === null) !== (lastTimeUs === null) || (lastPrice === null) !== (period === null)) {
      throw new UnwindError(ErrorCode.InvalidArgument, 'expected period, lastPrice and lastTimeUs all set or all null', 'state');
    }
    this.rv.reset(rv);
    this.period = period;
    this.periodRv = periodRv;
    this.lastPrice = lastPrice;
    this.lastTimeUs = lastTimeUs;
    this.sinceFit = sinceFit;
    this.coefficients = coefficients;
  }
}
