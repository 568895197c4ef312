/**
 * Each market's volatility estimate for the strategies that need one ('adaptive', 'almgren-chriss' without its own
 * sigma): one forecaster per market index, fed the market's mark price at its event time every epoch, and read as
 * the variance of the log mark per second. The model is chosen by `ExecutionConfig.volatility` (src/config-types.ts):
 *
 * - 'ewma': the EWMA on event time (src/models/ewma.ts), as before the choice existed: v, per second.
 * - 'garch': GARCH(1,1) (src/models/garch.ts) on regular returns. The mark is sampled at every multiple of
 *   `intervalSec` of event time since the Unix epoch, each sample the last mark at or before its time (previous tick;
 *   of two marks at exactly that time, the first), taken as soon as a mark at or after that time arrives; each
 *   sample's log return on the one before goes into the model. Fitted by Gaussian quasi-ML on its last `window`
 *   returns; refitted first once `minReturns` returns are in, then every `refitEvery` returns, inside the observe
 *   that brings the count there (a refit costs milliseconds on the default window: see garch.ts). Estimate: the next return's conditional variance s2_{t+1} / intervalSec. Not the h-step average: the strategies'
 *   horizons differ (and 'twap' or 'disposal' have none to offer), and this is what the EWMA's flat forecast means
 *   too, so the model choice changes the estimate of today's variance and not the term structure the strategies
 *   assume. With persistence near 1 (typical fits: 0.95-0.99 per interval) the two barely differ over a few intervals.
 *   A gap of event time with no mark is a run of zero returns (the mark did not move), at most `window` of them.
 * - 'har': HAR-RV (src/models/har.ts) on the mark's squared log returns per base period: its forecast of the next
 *   base period's realized variance / basePeriodSec (the long average in its own fallback cases, see har.ts).
 *   Refitted first once `minRows` rows exist, then every `refitEvery` closed periods.
 *
 * Fallback: under 'garch' and 'har' the EWMA runs alongside, and gives the estimate until the model's first
 * successful fit (too few returns or periods, or a fit that failed: a window of zeros, collinear regressors). A later
 * fit that fails keeps the previous parameters, which still forecast. Undefined until the EWMA has one return.
 *
 * Deterministic: a function of the event times and prices given, in order; no clock. The state crosses threads and
 * goes into snapshots as plain data (exportState), checked whole on import (importState).
 */
import type { ExecutionConfig, StrategySpec, VolatilityConfig, VolatilityModel } from '../config-types.js';
import { DEFAULT_VOLATILITY_INTERVAL_SEC } from '../config-types.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { requirePrice, requireTime } from '../validate.js';
import { EwmaVolatility, type EwmaConfig, type EwmaState } from '../models/ewma.js';
import { GarchVolatility, type GarchParams, type GarchState } from '../models/garch.js';
import { HarRv, type HarCoefficients, type HarState } from '../models/har.js';
import { stateNullableNumber, stateObject } from '../models/check.js';

/** GARCH's sampling of the mark on its clock, as plain data. */
export interface SamplerState {
  /** The last mark taken and its event time (microseconds); null before the first. */
  readonly lastTimeUs: number | null;
  readonly lastPrice: number | null;
  /** The next sample's time, a multiple of the interval (microseconds); null before the first mark. */
  readonly nextSampleUs: number | null;
  /** The last sample's mark; null before the first sample. */
  readonly sampledPrice: number | null;
}

/** One market's forecaster as plain data: the EWMA always, the chosen model beside it. */
export interface MarketVolatilityState {
  readonly ewma: EwmaState;
  readonly garch?: { readonly sampler: SamplerState; readonly model: GarchState };
  readonly har?: HarState;
}

/**
 * The forecasters' state by market index. A snapshot from before the model choice holds an EwmaState per market:
 * it imports as the EWMA, and the chosen model starts empty.
 */
export type VolatilitySnapshot = ReadonlyMap<number, MarketVolatilityState | EwmaState>;

interface Forecaster {
  readonly ewma: EwmaVolatility;
  readonly garch?: { sampler: Sampler; readonly model: GarchVolatility };
  readonly har?: HarRv;
}

interface Sampler {
  lastTimeUs: number | null;
  lastPrice: number | null;
  nextSampleUs: number | null;
  sampledPrice: number | null;
}

/**
 * The volatility config an executor runs: `execution.volatility`, else (configs from before it) the EWMA with the
 * decay of the first 'adaptive' among `strategies`, when that one sets its own `volatility`; else the EWMA's defaults.
 */
export function chosenVolatility(execution: ExecutionConfig, strategies: readonly StrategySpec[]): VolatilityConfig {
  if (execution.volatility !== undefined) return execution.volatility;
  const adaptive = strategies.find((x) => x.kind === 'adaptive');
  const ewma = adaptive?.kind === 'adaptive' ? adaptive.volatility : undefined;
  return ewma === undefined ? { model: 'ewma' } : { model: 'ewma', ewma };
}

const emptySampler = (): Sampler => ({ lastTimeUs: null, lastPrice: null, nextSampleUs: null, sampledPrice: null });

export class VolatilityForecasts {
  readonly model: VolatilityModel;
  /** GARCH's return clock, microseconds. */
  private readonly intervalUs: number;
  private readonly ewmaConfig: Partial<EwmaConfig>;
  private readonly settings: VolatilityConfig;
  private readonly markets = new Map<number, Forecaster>();

  /** `config` as validated by validateExecution, or given here directly (the models check their own parts). */
  constructor(config: VolatilityConfig = { model: 'ewma' }) {
    this.model = config.model;
    this.settings = config;
    this.ewmaConfig = config.ewma ?? {};
    const intervalSec = config.intervalSec ?? DEFAULT_VOLATILITY_INTERVAL_SEC;
    this.intervalUs = intervalSec * 1e6;
    if (!Number.isSafeInteger(this.intervalUs) || this.intervalUs < 1) {
      throw new UnwindError(ErrorCode.InvalidConfig, `expected seconds > 0 in whole microseconds, got ${String(intervalSec)}`, 'volatility.intervalSec');
    }
    // Built once, so that a bad model config is refused here and not at the first price.
    this.create();
  }

  private create(): Forecaster {
    const s = this.settings;
    const ewma = new EwmaVolatility(this.ewmaConfig);
    if (s.model === 'garch') return { ewma, garch: { sampler: emptySampler(), model: new GarchVolatility(s.garch) } };
    if (s.model === 'har') return { ewma, har: new HarRv(s.har) };
    return { ewma };
  }

  private forecaster(m: number): Forecaster {
    let f = this.markets.get(m);
    if (f === undefined) this.markets.set(m, (f = this.create()));
    return f;
  }

  /**
   * Takes market index `m`'s mark `price` at event time `timeUs` (microseconds): at or after the last one taken for
   * the market (the same time replaces its price). Checked before anything changes.
   */
  observe(m: number, timeUs: number, price: number): void {
    if (!Number.isInteger(m) || m < 0 || m > 0x7fffffff) throw new UnwindError(ErrorCode.InvalidArgument, `expected a market index, got ${String(m)}`, 'market');
    requireTime(timeUs, 'timeUs');
    requirePrice(price, 'price');
    const f = this.forecaster(m);
    const last = f.ewma.lastObservedUs;
    if (last !== null && timeUs < last) throw new UnwindError(ErrorCode.InvalidArgument, `expected an event time at or after the last one (${last}), got ${timeUs}`, 'timeUs');
    f.ewma.observe(timeUs, price);
    if (f.garch !== undefined) this.sample(f.garch.sampler, f.garch.model, timeUs, price);
    f.har?.observe(timeUs, price);
  }

  /**
   * GARCH's clock: the samples due up to `timeUs`. Those before it are the previous mark (the last one at or before
   * their time); one at exactly `timeUs` is this mark. Each sample gives a return on the one before.
   */
  private sample(s: Sampler, model: GarchVolatility, timeUs: number, price: number): void {
    if (s.nextSampleUs === null) s.nextSampleUs = Math.ceil(timeUs / this.intervalUs) * this.intervalUs;
    if (s.nextSampleUs <= timeUs) {
      const due = Math.floor((timeUs - s.nextSampleUs) / this.intervalUs) + 1;
      const exact = s.nextSampleUs + (due - 1) * this.intervalUs === timeUs;
      // Samples of the previous mark (none at the first mark: its first sample time is at or after it). All but the
      // first are zero returns; past a window of them the window holds only zeros, so the rest are not taken.
      const previous = exact ? due - 1 : due;
      if (previous > 0) {
        take(s, model, s.lastPrice!);
        for (let k = Math.min(previous - 1, model.config.window); k > 0; k--) model.observe(0);
      }
      if (exact) take(s, model, price);
      s.nextSampleUs += due * this.intervalUs;
    }
    s.lastTimeUs = timeUs;
    s.lastPrice = price;
  }

  /** Event time of market index `m`'s last mark taken; undefined before the first. */
  lastObservedUs(m: number): number | undefined {
    return this.markets.get(m)?.ewma.lastObservedUs ?? undefined;
  }

  /** Market index `m`'s variance of the log mark per second (see the header); undefined while nothing is known. */
  variancePerSecond(m: number): number | undefined {
    const f = this.markets.get(m);
    if (f === undefined) return undefined;
    return this.modelVariance(f) ?? f.ewma.variancePerSecond();
  }

  /** The chosen model's estimate per second, once it has fitted; undefined under 'ewma' and while it falls back. */
  private modelVariance(f: Forecaster): number | undefined {
    let v: number | undefined;
    if (f.garch !== undefined && f.garch.model.fitted !== null) v = f.garch.model.nextVariance()! / (this.intervalUs / 1e6);
    else if (f.har !== undefined && f.har.fitted !== null) v = f.har.forecast()! / f.har.config.basePeriodSec;
    return v !== undefined && v >= 0 && Number.isFinite(v) ? v : undefined;
  }

  /** Which model gives market index `m`'s estimate now: the chosen one once fitted, else 'ewma'; undefined with none. */
  source(m: number): VolatilityModel | undefined {
    const f = this.markets.get(m);
    if (f === undefined) return undefined;
    if (this.modelVariance(f) !== undefined) return this.model;
    return f.ewma.variancePerSecond() === undefined ? undefined : 'ewma';
  }

  /** The chosen model's last fit for market index `m` (a new object at each successful fit); null under 'ewma' or before the first. */
  fitted(m: number): GarchParams | HarCoefficients | null {
    const f = this.markets.get(m);
    return f?.garch?.model.fitted ?? f?.har?.fitted ?? null;
  }

  /** Returns the chosen model has taken in for market index `m`: GARCH's window, HAR's closed periods, the EWMA's count. */
  returns(m: number): number {
    const f = this.markets.get(m);
    if (f === undefined) return 0;
    return f.garch?.model.returns ?? f.har?.periods ?? f.ewma.returns;
  }

  /** Every market's forecaster as plain data, by market index in ascending order. */
  exportState(): Map<number, MarketVolatilityState> {
    const out = new Map<number, MarketVolatilityState>();
    for (const m of [...this.markets.keys()].sort((x, y) => x - y)) {
      const f = this.markets.get(m)!;
      out.set(m, {
        ewma: f.ewma.exportState(),
        ...(f.garch === undefined ? {} : { garch: { sampler: { ...f.garch.sampler }, model: f.garch.model.exportState() } }),
        ...(f.har === undefined ? {} : { har: f.har.exportState() }),
      });
    }
    return out;
  }

  /**
   * Restores exportState's data (of forecasters with the same config), or an EwmaState per market from before the
   * model choice. A part the config does not keep is left out; one it keeps that is absent starts empty. Checked
   * whole before anything changes: INVALID_ARGUMENT naming the bad field.
   */
  importState(state: VolatilitySnapshot): void {
    if (state === null || typeof state !== 'object' || typeof (state as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new UnwindError(ErrorCode.InvalidArgument, 'expected a map of market index to volatility state', 'volatility');
    }
    const restored = new Map<number, Forecaster>();
    for (const entry of state as Iterable<unknown>) {
      if (!Array.isArray(entry) || entry.length !== 2) throw new UnwindError(ErrorCode.InvalidArgument, 'expected [market index, state] entries', 'volatility');
      const [m, value] = entry as [unknown, unknown];
      if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > 0x7fffffff || restored.has(m)) {
        throw new UnwindError(ErrorCode.InvalidArgument, `expected a market index listed once, got ${String(m)}`, 'volatility');
      }
      const field = `volatility[${m}]`;
      const s = stateObject(value, field);
      const f = this.create();
      // From before the model choice: the EWMA's state itself.
      const legacy = s.ewma === undefined;
      withField(legacy ? field : `${field}.ewma`, () => f.ewma.importState((legacy ? s : s.ewma) as EwmaState));
      if (!legacy && f.garch !== undefined && s.garch !== undefined) {
        const g = stateObject(s.garch, `${field}.garch`);
        f.garch.sampler = this.checkSampler(g.sampler, `${field}.garch.sampler`);
        withField(`${field}.garch.model`, () => f.garch!.model.importState(g.model as GarchState));
      }
      if (!legacy && f.har !== undefined && s.har !== undefined) withField(`${field}.har`, () => f.har!.importState(s.har as HarState));
      restored.set(m, f);
    }
    this.markets.clear();
    for (const [m, f] of [...restored].sort((x, y) => x[0] - y[0])) this.markets.set(m, f);
  }

  private checkSampler(v: unknown, field: string): Sampler {
    const s = stateObject(v, field);
    const lastTimeUs = stateNullableNumber(s.lastTimeUs, 0, `${field}.lastTimeUs`);
    const lastPrice = stateNullableNumber(s.lastPrice, Number.MIN_VALUE, `${field}.lastPrice`);
    const nextSampleUs = stateNullableNumber(s.nextSampleUs, 0, `${field}.nextSampleUs`);
    const sampledPrice = stateNullableNumber(s.sampledPrice, Number.MIN_VALUE, `${field}.sampledPrice`);
    if ((lastTimeUs === null) !== (lastPrice === null) || (lastTimeUs === null) !== (nextSampleUs === null) || (nextSampleUs === null && sampledPrice !== null)) {
      throw new UnwindError(ErrorCode.InvalidArgument, 'expected lastTimeUs, lastPrice and nextSampleUs all set or all null, and no sampledPrice before them', field);
    }
    if (nextSampleUs !== null && (!Number.isSafeInteger(nextSampleUs) || nextSampleUs % this.intervalUs !== 0 || nextSampleUs <= lastTimeUs!)) {
      throw new UnwindError(ErrorCode.InvalidArgument, `expected a multiple of the interval (${this.intervalUs} us) after lastTimeUs, got ${nextSampleUs}`, `${field}.nextSampleUs`);
    }
    return { lastTimeUs, lastPrice, nextSampleUs, sampledPrice };
  }
}

/** A sample of `price` on GARCH's clock: its log return on the previous sample goes into the model. */
function take(s: Sampler, model: GarchVolatility, price: number): void {
  if (s.sampledPrice !== null) model.observe(Math.log(price / s.sampledPrice));
  s.sampledPrice = price;
}

/** Runs a model's importState, its error's field ('state.x') put under `field`. */
function withField(field: string, run: () => void): void {
  try {
    run();
  } catch (e) {
    if (!(e instanceof UnwindError) || e.code !== ErrorCode.InvalidArgument) throw e;
    const inner = e.field ?? 'state';
    const message = e.message.startsWith(`${inner}: `) ? e.message.slice(inner.length + 2) : e.message;
    throw new UnwindError(e.code, message, `${field}${inner.replace(/^state/, '')}`);
  }
}
