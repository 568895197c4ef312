/**
 * Timing and HDR percentiles for every bench. Times are taken with process.hrtime.bigint() and recorded in
 * whole microseconds (at least 1) into an hdr-histogram-js histogram with 3 significant digits.
 */
import { build, type Histogram } from 'hdr-histogram-js';

/** Largest value recorded: 60 s in microseconds; longer samples are clamped (and would be obvious in max). */
const HIGHEST_MICROS = 60_000_000;

export interface Percentiles {
  /** Samples recorded. */
  readonly n: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export class Recorder {
  private readonly h: Histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_MICROS, numberOfSignificantValueDigits: 3 });

  /** Records the interval from `start` (a process.hrtime.bigint() reading) to `end`, in microseconds. */
  recordSince(start: bigint, end: bigint = process.hrtime.bigint()): number {
    const micros = Math.min(HIGHEST_MICROS, Math.max(1, Math.round(Number(end - start) / 1000)));
    this.h.recordValue(micros);
    return micros;
  }

  /** Percentiles are HDR's highest equivalent values (within 0.1%), capped at the exact max. */
  summary(): Percentiles {
    const h = this.h;
    const max = h.maxValue;
    const at = (p: number): number => Math.min(max, h.getValueAtPercentile(p));
    return { n: h.totalCount, min: h.minNonZeroValue, mean: Math.round(h.mean), p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max };
  }
}

/** Items per second when one sample of `items` takes `micros` microseconds. */
export function perSecond(items: number, micros: number): number {
  return micros > 0 ? (items * 1e6) / micros : 0;
}
