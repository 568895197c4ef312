/**
 * GARCH(1,1) volatility (Bollerslev 1986) on returns sampled on a regular clock (e.g. one log return per second or
 * per minute, from the last price in each interval; for event-time returns use the EWMA, which scales by time):
 *
 *   r_t = s_t z_t,  z_t ~ N(0, 1)            (zero mean: intraday returns carry no usable drift)
 *   s2_t = omega + alpha r_{t-1}^2 + beta s2_{t-1},   omega > 0, alpha >= 0, beta >= 0, alpha + beta < 1
 *
 * Fitted on: the last `window` returns, by Gaussian maximum likelihood (quasi-ML: consistent for non-normal z too),
 * with the filter started at the window's mean square, s2_1 = mean(r^2). The likelihood is minimized with
 * Nelder-Mead (./nelder-mead.ts) over unconstrained coordinates that map onto the constraints:
 *
 *   alpha + beta = logistic(u),  alpha / (alpha + beta) = logistic(v),  omega = m2 * exp(w),  m2 = mean(r^2)
 *
 * so every point the optimizer tries is a valid model, and omega is on the data's scale. With variance targeting,
 * omega = m2 (1 - alpha - beta) (the unconditional variance pinned to the sample's; Engle and Mezrich 1996) and only
 * u, v are fitted. The first fit starts at alpha 0.05, beta 0.90 (typical of fitted values), later ones at the
 * previous fit; each fit is run twice, the second from the first's optimum, since Nelder-Mead can stall early.
 *
 * Refitted: first once `minReturns` returns are in the window, then after every `refitEvery` new returns, inside
 * the `observe` that brings the count there: about 200 likelihood passes over the window, 1.5 ms (median; up to 14 ms
 * on a loaded machine) for 1,000 returns on our 2-core machine, so size window and refitEvery for the executor's
 * budget. Between fits the filter advances with each return. A fit that fails (a window of zeros) keeps the previous
 * parameters.
 *
 * Forecasts are in the returns' unit: variance per return interval.
 */
import { ErrorCode, UnwindError } from '../errors.js';
import { configInteger, stateCount, stateNumber, stateNumbers, stateObject } from './check.js';
import { nelderMead } from './nelder-mead.js';
import { RollingWindow } from './rolling-window.js';

/** The GARCH(1,1) volatility model: its window and refit schedule. */
export interface GarchConfig {
  /** Returns the fit uses, the most recent; >= 10. Default 1,000. */
  readonly window: number;
  /** New returns between refits, >= 1. Default 100 (ours: a tenth of the window turns over between fits). */
  readonly refitEvery: number;
  /** Returns needed before the first fit, in [10, window]. Default 250 (ours; fewer leave alpha and beta loose). */
  readonly minReturns: number;
  /** Pin the unconditional variance to the window's mean square and fit alpha, beta only. Default false. */
  readonly varianceTargeting: boolean;
}

export const DEFAULT_GARCH_CONFIG: GarchConfig = { window: 1000, refitEvery: 100, minReturns: 250, varianceTargeting: false };

export interface GarchParams {
  readonly omega: number;
  readonly alpha: number;
  readonly beta: number;
}

export interface GarchFit extends GarchParams {
  /** The Gaussian log-likelihood at the fit, constants included. */
  readonly logLikelihood: number;
  /** Objective evaluations the two Nelder-Mead runs took. */
  readonly evaluations: number;
  /** Whether the second run met its tolerances. */
  readonly converged: boolean;
}

/** The model's state as plain data. */
export interface GarchState {
  /** The window, oldest first. */
  readonly returns: number[];
  /** Returns taken in since the last fit (or attempt). */
  readonly sinceFit: number;
  /** The fitted parameters; null before the first fit. */
  readonly params: GarchParams | null;
  /** s2 for the next return, when fitted; null before. */
  readonly variance: number | null;
}

/** Validates a GARCH config (defaults filled in): INVALID_CONFIG naming the field. */
export function validateGarchConfig(given: Partial<GarchConfig> = {}, field = 'garch'): GarchConfig {
  const c = { ...DEFAULT_GARCH_CONFIG, ...given };
  configInteger(c.window, 10, `${field}.window`);
  configInteger(c.refitEvery, 1, `${field}.refitEvery`);
  configInteger(c.minReturns, 10, `${field}.minReturns`);
  if (c.minReturns > c.window) throw new UnwindError(ErrorCode.InvalidConfig, `expected at most window (${c.window}), got ${c.minReturns}`, `${field}.minReturns`);
  if (typeof c.varianceTargeting !== 'boolean') throw new UnwindError(ErrorCode.InvalidConfig, `expected a boolean, got ${String(c.varianceTargeting)}`, `${field}.varianceTargeting`);
  return c;
}

const LN_2PI = Math.log(2 * Math.PI);
const START: GarchParams = { omega: 0, alpha: 0.05, beta: 0.9 };
/** Step of the initial simplex in the unconstrained coordinates: a logit or log step of 0.5 moves each parameter visibly. */
const INITIAL_STEP = 0.5;
/** From the previous fit the optimum has only drifted: a smaller simplex finds it in fewer evaluations. */
const WARM_STEP = 0.1;
/** The restart probes around the first run's optimum. */
const RESTART_STEP = 0.05;
/**
 * Stop when the simplex spans 1e-4 in the coordinates (alpha moves by about 1e-5 there, far inside its standard error
 * of about 0.01 on 1,000 returns) and 1e-6 in the summed negative log-likelihood.
 */
const TOLERANCES = { xTolerance: 1e-4, fTolerance: 1e-6, maxIterations: 2000, maxEvaluations: 4000 } as const;

const logistic = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));

function meanSquare(returns: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < returns.length; i++) s += returns[i] * returns[i];
  return s / returns.length;
}

/**
 * Sum over the returns of ln s2_t + r_t^2 / s2_t (the negative log-likelihood without its constants and factor 1/2),
 * with s2_1 = m2; and s2 for the return after the last, through `next` when given.
 */
function negativeLogLikelihood(p: GarchParams, returns: ArrayLike<number>, m2: number, next?: { variance: number }): number {
  let s2 = m2;
  let sum = 0;
  for (let i = 0; i < returns.length; i++) {
    const r2 = returns[i] * returns[i];
    sum += Math.log(s2) + r2 / s2;
    s2 = p.omega + p.alpha * r2 + p.beta * s2;
  }
  if (next !== undefined) next.variance = s2;
  return sum;
}

/** The conditional variance of the return after `returns`, filtered from s2_1 = mean(r^2) under `params`. */
export function garchFilter(params: GarchParams, returns: ArrayLike<number>): number {
  const next = { variance: NaN };
  negativeLogLikelihood(params, returns, meanSquare(returns), next);
  return next.variance;
}

/** The Gaussian log-likelihood of `returns` under `params`, constants included, with s2_1 = mean(r^2) as in the fit. */
export function garchLogLikelihood(params: GarchParams, returns: ArrayLike<number>): number {
  return -0.5 * (returns.length * LN_2PI + negativeLogLikelihood(params, returns, meanSquare(returns)));
}

/**
 * Fits GARCH(1,1) to `returns` (oldest first) by Gaussian maximum likelihood. Null when there are fewer than 10
 * returns or their mean square is 0 or not finite.
 */
export function fitGarch(returns: ArrayLike<number>, options: { readonly varianceTargeting?: boolean; readonly start?: GarchParams } = {}): GarchFit | null {
  const n = returns.length;
  if (n < 10) return null;
  const m2 = meanSquare(returns);
  if (!(m2 > 0) || !Number.isFinite(m2)) return null;
  const targeting = options.varianceTargeting ?? false;
  const params = (x: readonly number[]): GarchParams => {
    const persistence = logistic(x[0]);
    const share = logistic(x[1]);
    return { omega: targeting ? m2 * (1 - persistence) : m2 * Math.exp(x[2]), alpha: persistence * share, beta: persistence * (1 - share) };
  };
  const objective = (x: readonly number[]): number => {
    const p = params(x);
    if (!(p.omega > 0) || !(p.alpha + p.beta < 1) || !Number.isFinite(p.omega)) return Infinity;
    return negativeLogLikelihood(p, returns, m2);
  };
  const start = options.start ?? { ...START, omega: m2 * (1 - START.alpha - START.beta) };
  const persistence = start.alpha + start.beta;
  const x0 = [logit(persistence), logit(start.alpha / persistence)];
  if (!targeting) x0.push(Math.log(start.omega / m2));
  if (!x0.every(Number.isFinite)) return fitGarch(returns, { varianceTargeting: targeting });
  const first = nelderMead(objective, x0, { ...TOLERANCES, initialStep: options.start === undefined ? INITIAL_STEP : WARM_STEP });
  const second = nelderMead(objective, first.x, { ...TOLERANCES, initialStep: RESTART_STEP });
  const best = second.fx <= first.fx ? second : first;
  if (!Number.isFinite(best.fx)) return null;
  return { ...params(best.x), logLikelihood: -0.5 * (n * LN_2PI + best.fx), evaluations: first.evaluations + second.evaluations, converged: second.converged };
}

/**
 * The sum over k = 1..steps of E[s2_{t+k}] = s2bar + (alpha + beta)^(k-1) (next - s2bar), next = s2_{t+1}, s2bar =
 * omega / (1 - alpha - beta), in closed form: steps s2bar + (next - s2bar) (1 - (alpha + beta)^steps) / (1 - alpha - beta).
 */
function cumulativeVariance(p: GarchParams, next: number, steps: number): number {
  const persistence = p.alpha + p.beta;
  const unconditional = p.omega / (1 - persistence);
  return steps * unconditional + ((next - unconditional) * (1 - Math.pow(persistence, steps))) / (1 - persistence);
}

export class GarchVolatility {
  readonly config: GarchConfig;
  private readonly window: RollingWindow;
  private sinceFit = 0;
  private params: GarchParams | null = null;
  private variance: number | null = null;

  constructor(config: Partial<GarchConfig> = {}) {
    this.config = validateGarchConfig(config);
    this.window = new RollingWindow(this.config.window);
  }

  /** Takes the next return (a log return on the model's regular clock); refits when the schedule says so. */
  observe(r: number): void {
    if (typeof r !== 'number' || !Number.isFinite(r)) throw new UnwindError(ErrorCode.InvalidArgument, `expected a finite log return, got ${String(r)}`, 'return');
    this.window.push(r);
    this.sinceFit++;
    if (this.params !== null) this.variance = this.params.omega + this.params.alpha * r * r + this.params.beta * this.variance!;
    if (this.window.length >= this.config.minReturns && (this.params === null || this.sinceFit >= this.config.refitEvery)) this.refit();
  }

  private refit(): void {
    this.sinceFit = 0;
    const returns = this.window.toArray();
    const fit = fitGarch(returns, { varianceTargeting: this.config.varianceTargeting, ...(this.params === null ? {} : { start: this.params }) });
    if (fit === null) return;
    this.params = { omega: fit.omega, alpha: fit.alpha, beta: fit.beta };
    this.variance = garchFilter(this.params, returns);
  }

  /** The parameters of the last fit; null before the first. */
  get fitted(): GarchParams | null {
    return this.params;
  }

  /** Returns in the window. */
  get returns(): number {
    return this.window.length;
  }

  /**
   * The variance of the next return: the filter's s2 once fitted, the window's mean square before; undefined with
   * no return yet.
   */
  nextVariance(): number | undefined {
    if (this.variance !== null) return this.variance;
    return this.window.length === 0 ? undefined : meanSquare(this.window.toArray());
  }

  /**
   * The variance of the sum of the next `steps` returns: the sum of E[s2_{t+k}], k = 1..steps, which mean-reverts
   * from s2_{t+1} to omega / (1 - alpha - beta) (the mean square times `steps` before the first fit).
   */
  forecastVariance(steps: number): number | undefined {
    const next = this.nextVariance();
    if (next === undefined) return undefined;
    return this.params === null ? next * steps : cumulativeVariance(this.params, next, steps);
  }

  exportState(): GarchState {
    return { returns: this.window.toArray(), sinceFit: this.sinceFit, params: this.params === null ? null : { ...this.params }, variance: this.variance };
  }

  /** Restores a state from exportState (of a model with the same config): INVALID_ARGUMENT naming a bad field. */
  importState(state: GarchState): void {
    const s = stateObject(state, 'state');
    const returns = stateNumbers(s.returns, -Infinity, this.config.window, 'state.returns');
    const sinceFit = stateCount(s.sinceFit, 'state.sinceFit');
    let params: GarchParams | null = null;
    if (s.params !== null) {
      const p = stateObject(s.params, 'state.params');
      params = { omega: stateNumber(p.omega, 0, 'state.params.omega'), alpha: stateNumber(p.alpha, 0, 'state.params.alpha'), beta: stateNumber(p.beta, 0, 'state.params.beta') };
      if (!(params.alpha + params.beta < 1)) throw new UnwindError(ErrorCode.InvalidArgument, 'expected alpha + beta < 1', 'state.params');
    }
    const variance = s.variance === null ? null : stateNumber(s.variance, 0, 'state.variance');
    if ((params === null) !== (variance === null)) throw new UnwindError(ErrorCode.InvalidArgument, 'expected params and variance both set or both null', 'state');
    this.window.reset(returns);
    this.sinceFit = sinceFit;
    this.params = params;
    this.variance = variance;
  }
}
