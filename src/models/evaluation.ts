/**
 * Forecast evaluation for variance forecasts: the squared error and QLIKE, the two losses that rank volatility
 * forecasts consistently when the realized variance is a noisy proxy of the true one (Patton 2011, "Volatility
 * forecast comparison using imperfect volatility proxies"). QLIKE penalizes under-prediction more than
 * over-prediction, which is the costly error for a liquidation schedule.
 */
import { ErrorCode, UnwindError } from '../errors.js';
import { describe } from '../validate.js';

/** QLIKE of one forecast: `real / forecast - ln(real / forecast) - 1`; 0 when they agree, > 0 otherwise. Both > 0. */
export function qlike(realized: number, forecast: number): number {
  positive(realized, 'realized');
  positive(forecast, 'forecast');
  const ratio = realized / forecast;
  return ratio - Math.log(ratio) - 1;
}

/** Mean QLIKE over paired series (summed in order). */
export function meanQlike(realized: readonly number[], forecast: readonly number[]): number {
  paired(realized, forecast);
  let sum = 0;
  for (let i = 0; i < realized.length; i++) sum += qlike(realized[i], forecast[i]);
  return sum / realized.length;
}

/** Mean squared error over paired series (summed in order): mean of (realized - forecast)^2. */
export function mse(realized: readonly number[], forecast: readonly number[]): number {
  paired(realized, forecast);
  let sum = 0;
  for (let i = 0; i < realized.length; i++) {
    const e = finite(realized[i], `realized[${i}]`) - finite(forecast[i], `forecast[${i}]`);
    sum += e * e;
  }
  return sum / realized.length;
}

function paired(a: readonly number[], b: readonly number[]): void {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length || a.length === 0) {
    throw new UnwindError(ErrorCode.InvalidArgument, `expected two non-empty arrays of equal length, got ${describe(a)} of ${a?.length} and ${describe(b)} of ${b?.length}`, 'forecast');
  }
}

function finite(v: number, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UnwindError(ErrorCode.InvalidArgument, `expected a finite number, got ${describe(v)}`, field);
  return v;
}

function positive(v: number, field: string): void {
  if (typeof v !== 'number' || !(v > 0) || v === Infinity) throw new UnwindError(ErrorCode.InvalidArgument, `expected a finite variance > 0, got ${describe(v)}`, field);
}
