/**
 * The models of src/models scored on the backtest's own runs: how well EWMA, GARCH(1,1) and HAR-RV forecast the
 * venue's volatility, and what the impact model makes of our fills. A ModelObserver watches one run (the backtest
 * gives it every MatchingStep); a ScenarioModels pools a scenario's runs; formatModels prints the table. Nothing
 * here feeds back into a run: it reads the venue's mids and our executions, and the strategies' figures stay as
 * they were.
 *
 * Volatility, on the first market's mid (BTC-USD) sampled once an epoch (1 s in the built-in scenarios):
 *   target     the realized variance of the next HORIZON_EPOCHS returns (60 s, the stepped strategies' horizon):
 *              the sum of their squared log returns;
 *   origins    every ORIGIN_EVERY_EPOCHS epochs from WARM_UP_EPOCHS on, while a whole horizon is left; the targets
 *              of neighbouring origins overlap, so the count overstates the independent forecasts;
 *   naive      the last horizon's realized variance (the baseline a model has to beat);
 *   ewma       EwmaVolatility at its defaults (lambda 0.94 per 60 s) on the mids at event time, v * horizon;
 *   garch      GarchVolatility on the epoch returns: window 1,000, refit every 30 returns from 120 on (the defaults,
 *              250 before the first fit, leave too little of a 20-minute path);
 *   har        HarRv fed the RV of each 5-epoch period (observeRealizedVariance, aligned with the origins), with
 *              medium and long horizons of 30 and 60 epochs, fitted from 12 rows on and refitted every 6 periods;
 *              its one-period forecast times 12 (the class forecasts one period ahead);
 *   scores     MSE (variances in bps^2, so MSE in bps^4) and mean QLIKE (src/models/evaluation.ts), over the same
 *              origins for every model. An origin where the realized or any forecast variance is not > 0 is
 *              left out for all of them and counted as skipped.
 * The warm-up (120 epochs) is when GARCH and HAR have had their first fit: every model is scored as fitted.
 *
 * Impact, fitted per market to our fills (fitLinearImpact, fitSquareRootLaw) pooled over a scenario's runs. One
 * observation is the epoch's liquidation orders in one market: they are sent together and execute back to back
 * one latency later, so each child's mid after carries its earlier siblings' impact; taken one by one they would
 * overstate gamma.
 *   side, quantity, price   our side, the children's filled quantity, its volume-weighted price (src/sim/matching.ts fillOf);
 *   arrivalMidPrice         the venue's mid when they were sent;
 *   midAfter                the mid right after the last of them executed. The venue's mid carries no temporary
 *                           impact (that lives in the book's swept levels), so no delay is needed for it to decay;
 *                           a second later (`gammaNextEpoch`) the path's own move is mixed in;
 *   permanentShare          each child is one sweep and the venue moves the mid after it: child j's price carries
 *                           the moves of the children before it, none of its own, so the batch's average carries
 *                           sum_i<j q_i q_j / q^2 of gamma q (0 for one child, toward 1/2 for many equal ones);
 *   durationSec             the time the quantity is charged over: the run's `minDurationSec` (the step of the
 *                           schedule the eta is for, as the engine's observer charges our orders), or the latency
 *                           from sending to execution if that is longer;
 *   volatility              the market's EWMA volatility over that duration, from the mids before the fill;
 *   bookVolume              the book on the side taken within 1% of the mid, when sent.
 * `bookEta` (per market, given) is the eta a sweep of the book at full liquidity would show over that duration:
 * half its slope near the mid, (tick / depth0) / 2, times durationSec.
 * An epoch in which we both bought and sold a market is left out (`mixed`), as is an order batch sent before the
 * EWMA had a return or into a side swept bare (`unscored`). The venue's gamma is its configured permanent impact.
 */
import type { LiquidationOrder } from '../clearing/orders.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { EwmaVolatility, GarchVolatility, HarRv, fitLinearImpact, fitSquareRootLaw, meanQlike, mse, type FillObservation, type GarchConfig, type HarConfig } from '../models/index.js';
import { fillOf, type MatchingStep } from './matching.js';
import type { Venue } from './venue/index.js';

export const VOLATILITY_MODELS = ['naive', 'ewma', 'garch', 'har'] as const;
export type VolatilityModelName = (typeof VOLATILITY_MODELS)[number];

/** The forecast horizon: 60 epochs (60 s at the built-in scenarios' 1 s epochs). */
export const HORIZON_EPOCHS = 60;
/** A forecast every 5 epochs: HAR's base period, so HAR has just closed a period at each origin. */
export const ORIGIN_EVERY_EPOCHS = 5;
/** No forecast is scored before GARCH's first fit (120 returns) and HAR's (12 rows after a 12-period long average). */
export const WARM_UP_EPOCHS = 120;
const HAR_PERIOD_EPOCHS = 5;
const GARCH_CONFIG: Partial<GarchConfig> = { window: 1_000, refitEvery: 30, minReturns: 120 };
/** Variances are scored in bps^2: squared log returns times 1e8. */
const BPS2 = 1e8;

function harConfig(epochS: number): Partial<HarConfig> {
  return { basePeriodSec: HAR_PERIOD_EPOCHS * epochS, mediumPeriodSec: 30 * epochS, longPeriodSec: 60 * epochS, window: 1_000, refitEvery: 6, minRows: 12 };
}

/** One run's forecasts and the realized variances they are scored against, paired by index (variances of log returns). */
export interface VolatilityForecasts {
  readonly realized: number[];
  readonly forecasts: Record<VolatilityModelName, number[]>;
  /** Origins left out because the realized or some forecast variance was not > 0. */
  readonly skipped: number;
}

/** Runs the four forecasters over `mids` (one a epoch, `epochUs` apart) and pairs their forecasts with what followed. */
export function volatilityForecasts(mids: readonly number[], epochUs: number): VolatilityForecasts {
  if (!Number.isInteger(epochUs) || epochUs <= 0) throw new UnwindError(ErrorCode.InvalidArgument, `expected an epoch of whole microseconds > 0, got ${String(epochUs)}`, 'epochUs');
  const epochS = epochUs / 1e6;
  const returns = new Float64Array(mids.length);
  for (let k = 1; k < mids.length; k++) returns[k] = Math.log(mids[k]! / mids[k - 1]!);
  /** Realized variance of the returns ending at epochs from + 1 .. to, summed in order. */
  const rv = (from: number, to: number): number => {
    let s = 0;
    for (let j = from + 1; j <= to; j++) s += returns[j]! * returns[j]!;
    return s;
  };
  const ewma = new EwmaVolatility();
  const garch = new GarchVolatility(GARCH_CONFIG);
  const har = new HarRv(harConfig(epochS));
  const out: VolatilityForecasts = { realized: [], forecasts: { naive: [], ewma: [], garch: [], har: [] }, skipped: 0 };
  let skipped = 0;
  let periodRv = 0;
  for (let k = 0; k < mids.length; k++) {
    ewma.observe(k * epochUs, mids[k]!);
    if (k > 0) {
      const r = returns[k]!;
      garch.observe(r);
      periodRv += r * r;
      if (k % HAR_PERIOD_EPOCHS === 0) {
        har.observeRealizedVariance(periodRv);
        periodRv = 0;
      }
    }
    if (k < WARM_UP_EPOCHS || k % ORIGIN_EVERY_EPOCHS !== 0 || k + HORIZON_EPOCHS >= mids.length) continue;
    const realized = rv(k, k + HORIZON_EPOCHS);
    const f: Record<VolatilityModelName, number | undefined> = {
      naive: rv(k - HORIZON_EPOCHS, k),
      ewma: ewma.forecastVariance(HORIZON_EPOCHS * epochS),
      garch: garch.forecastVariance(HORIZON_EPOCHS),
      har: (har.forecast() ?? NaN) * (HORIZON_EPOCHS / HAR_PERIOD_EPOCHS),
    };
    const usable = (v: number | undefined): v is number => v !== undefined && v > 0 && Number.isFinite(v);
    if (!usable(realized) || !VOLATILITY_MODELS.every((m) => usable(f[m]))) {
      skipped++;
      continue;
    }
    out.realized.push(realized);
    for (const m of VOLATILITY_MODELS) out.forecasts[m].push(f[m]!);
  }
  return { ...out, skipped };
}

export interface VolatilityScore {
  readonly model: VolatilityModelName;
  readonly forecasts: number;
  /** Mean squared error, bps^4 (variances in bps^2). */
  readonly mse: number;
  /** Mean QLIKE: 0 for a perfect forecast. */
  readonly qlike: number;
  /** Mean forecast, bps^2. */
  readonly meanForecast: number;
}

/** Scores runs' forecasts pooled (runs in order, origins in order); null when no origin was scored. */
export function scoreVolatility(runs: readonly VolatilityForecasts[]): { meanRealized: number; skipped: number; scores: VolatilityScore[] } | null {
  const realized = runs.flatMap((r) => r.realized).map((v) => v * BPS2);
  const skipped = runs.reduce((n, r) => n + r.skipped, 0);
  if (realized.length === 0) return null;
  const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const scores = VOLATILITY_MODELS.map((model) => {
    const forecast = runs.flatMap((r) => r.forecasts[model]).map((v) => v * BPS2);
    return { model, forecasts: forecast.length, mse: mse(realized, forecast), qlike: meanQlike(realized, forecast), meanForecast: mean(forecast) };
  });
  return { meanRealized: mean(realized), skipped, scores };
}

// ---- impact ----

/** A fill observation (src/models/impact.ts) of one market's orders in one epoch, and what else the table shows. */
export interface ImpactObservation extends FillObservation {
  readonly market: number;
  /** Child orders with a fill in the batch. */
  readonly children: number;
  /** The mid at the next epoch (one epoch less the latency after the fills). */
  readonly midNextEpoch: number;
}

interface Sent {
  readonly order: LiquidationOrder;
  readonly arrivalMid: number;
  readonly bookVolume: number;
}

interface Batch {
  side: 1 | -1;
  mixed: boolean;
  quantity: number;
  /** The sum over the children in execution order of q_j * (the quantity before it): sum_i<j q_i q_j. */
  carried: number;
  notional: number;
  children: number;
  arrivalMid: number;
  bookVolume: number;
  durationUs: number;
  midAfter: number;
}

/** Watches one run through the backtest's onStep hook: the first market's mid each epoch and our fills. */
export class ModelObserver {
  /** The first market's mid at each epoch. */
  readonly mids: number[] = [];
  readonly observations: ImpactObservation[] = [];
  /** Per market (in `markets` order): epochs in which we both bought and sold it, left out. */
  readonly mixed: number[];
  /** Per market: order batches sent before the EWMA had a return or into an empty book side, left out. */
  readonly unscored: number[];
  private readonly sent = new Map<string, Sent>();
  private readonly ewma: EwmaVolatility[];

  constructor(
    readonly markets: readonly number[],
    /** Seconds each batch's quantity is charged over at least (durationSec in the header). */
    readonly minDurationSec: number,
  ) {
    this.ewma = markets.map(() => new EwmaVolatility());
    this.mixed = markets.map(() => 0);
    this.unscored = markets.map(() => 0);
  }

  /** One epoch, after the matching step: the last epoch's orders have executed, this epoch's have just been sent. */
  step(step: MatchingStep, venue: Venue): void {
    const batches = new Map<number, Batch>();
    for (const x of step.executions) {
      const sent = this.sent.get(String(x.clientId));
      if (sent === undefined) continue;
      this.sent.delete(String(x.clientId));
      const fill = fillOf(sent.order, x);
      if (fill === undefined) continue;
      const side = sent.order.side === 'buy' ? 1 : -1;
      let b = batches.get(x.market);
      if (b === undefined) {
        b = { side, mixed: false, quantity: 0, carried: 0, notional: 0, children: 0, arrivalMid: sent.arrivalMid, bookVolume: sent.bookVolume, durationUs: 0, midAfter: x.midAfter };
        batches.set(x.market, b);
      }
      b.mixed ||= b.side !== side;
      // Executions come in the venue's order: this child swept after the ones before it had moved the mid.
      b.carried += fill.quantity * b.quantity;
      b.quantity += fill.quantity;
      b.notional += fill.quantity * fill.price;
      b.children++;
      b.durationUs = Math.max(b.durationUs, x.executedUs - x.submittedUs);
      b.midAfter = x.midAfter;
    }
    this.markets.forEach((market, i) => {
      const b = batches.get(market);
      if (b === undefined) return;
      if (b.mixed) {
        this.mixed[i]!++;
        return;
      }
      const durationSec = Math.max(b.durationUs / 1e6, this.minDurationSec);
      // The EWMA has seen the mids up to the epoch that sent the orders, not this one: no look-ahead.
      const volatility = this.ewma[i]!.volatility(durationSec);
      if (volatility === undefined || !(volatility > 0) || !(b.bookVolume > 0) || !(durationSec > 0)) {
        this.unscored[i]!++;
        return;
      }
      this.observations.push({
        market,
        side: b.side,
        quantity: b.quantity,
        price: b.notional / b.quantity,
        arrivalMidPrice: b.arrivalMid,
        midAfter: b.midAfter,
        durationSec,
        permanentShare: b.carried / (b.quantity * b.quantity),
        volatility,
        bookVolume: b.bookVolume,
        children: b.children,
        midNextEpoch: venue.mid(market),
      });
    });
    this.mids.push(venue.mid(this.markets[0]!));
    this.markets.forEach((market, i) => this.ewma[i]!.observe(step.timeUs, venue.mid(market)));
    // The venue has not run this epoch's orders yet: its mid is the one they were decided at.
    for (const c of step.children) this.sent.set(c.order.id, { order: c.order, arrivalMid: venue.mid(c.order.market), bookVolume: c.bookVolume });
  }
}

export interface ImpactFit {
  readonly market: number;
  readonly symbol: string;
  /** Observations the linear fit used (one per market-epoch), and the child fills in them. */
  readonly fills: number;
  readonly childFills: number;
  /** Market-epochs left out: both sides traded; no EWMA volatility yet or an empty book side. */
  readonly mixed: number;
  readonly unscored: number;
  /** The venue's configured permanent impact, price units per base unit. */
  readonly venueGamma: number;
  /** The eta of sweeping the venue's book at full liquidity, over the charged duration (ModelMarket.bookEta). */
  readonly bookEta: number;
  /** Almgren-Chriss (fitLinearImpact); null when the fit failed or had no fills. */
  readonly gamma: number | null;
  readonly eta: number | null;
  readonly epsilon: number | null;
  /** gamma again, with the mid one epoch after the fills as mid after. */
  readonly gammaNextEpoch: number | null;
  /** The square-root law (fitSquareRootLaw). */
  readonly delta: number | null;
  readonly y: number | null;
  readonly sqrtLawFills: number;
}

export interface ScenarioModelsReport {
  readonly name: string;
  /** The runs the volatility forecasts were scored on: the first strategy's, every seed. */
  readonly volatilityStrategy: string;
  /** Mean realized variance over the scored origins, bps^2; null (and no scores) when none was scored. */
  readonly meanRealized: number | null;
  readonly skipped: number;
  readonly volatility: readonly VolatilityScore[];
  /** Per market, in config order. */
  readonly impact: readonly ImpactFit[];
}

export interface ModelsReport {
  /** The first market, whose mid the volatility models forecast. */
  readonly volatilityMarket: string;
  readonly horizonEpochs: number;
  readonly originEveryEpochs: number;
  readonly warmUpEpochs: number;
  /** Seconds each impact observation's quantity was charged over at least. */
  readonly minDurationSec: number;
  readonly scenarios: readonly ScenarioModelsReport[];
}

export interface ModelMarket {
  readonly id: number;
  readonly symbol: string;
  /** The venue's permanent impact in this market. */
  readonly gamma: number;
  /**
   * The temporary impact a sweep of the venue's book shows at full liquidity, over `minDurationSec`: half the book's
   * slope near the mid (tick / depth0 per base unit) times minDurationSec, quote per base per base/second.
   */
  readonly bookEta: number;
}

/** One scenario's runs pooled: the volatility forecasts of the runs asked for, every run's fill observations. */
export class ScenarioModels {
  private readonly forecasts: VolatilityForecasts[] = [];
  private readonly observations: ImpactObservation[] = [];
  private readonly mixed: number[];
  private readonly unscored: number[];

  constructor(
    readonly markets: readonly ModelMarket[],
    readonly epochUs: number,
    /** Seconds each observation's quantity is charged over at least (ModelObserver). */
    readonly minDurationSec: number,
  ) {
    this.mixed = markets.map(() => 0);
    this.unscored = markets.map(() => 0);
  }

  /** An observer for the next run. */
  observer(): ModelObserver {
    return new ModelObserver(this.markets.map((m) => m.id), this.minDurationSec);
  }

  /** A finished run; its mids are scored when `volatility` is set. */
  add(observer: ModelObserver, volatility: boolean): void {
    if (volatility) this.forecasts.push(volatilityForecasts(observer.mids, this.epochUs));
    this.observations.push(...observer.observations);
    observer.mixed.forEach((n, i) => (this.mixed[i]! += n));
    observer.unscored.forEach((n, i) => (this.unscored[i]! += n));
  }

  report(name: string, volatilityStrategy: string): ScenarioModelsReport {
    const v = scoreVolatility(this.forecasts);
    const impact = this.markets.map((m, i): ImpactFit => {
      const obs = this.observations.filter((o) => o.market === m.id);
      const linear = obs.length === 0 ? null : fitLinearImpact(obs);
      const later = obs.length === 0 ? null : fitLinearImpact(obs.map((o) => ({ ...o, midAfter: o.midNextEpoch })));
      const sqrt = fitSquareRootLaw(obs);
      return {
        market: m.id,
        symbol: m.symbol,
        fills: obs.length,
        childFills: obs.reduce((n, o) => n + o.children, 0),
        mixed: this.mixed[i]!,
        unscored: this.unscored[i]!,
        venueGamma: m.gamma,
        bookEta: m.bookEta,
        gamma: linear?.gamma ?? null,
        eta: linear?.eta ?? null,
        epsilon: linear?.epsilon ?? null,
        gammaNextEpoch: later?.gamma ?? null,
        delta: sqrt?.delta ?? null,
        y: sqrt?.y ?? null,
        sqrtLawFills: sqrt?.sqrtLawFills ?? 0,
      };
    });
    return { name, volatilityStrategy, meanRealized: v?.meanRealized ?? null, skipped: v?.skipped ?? 0, volatility: v?.scores ?? [], impact };
  }
}

export function modelsReport(volatilityMarket: string, minDurationSec: number, scenarios: readonly ScenarioModelsReport[]): ModelsReport {
  return { volatilityMarket, horizonEpochs: HORIZON_EPOCHS, originEveryEpochs: ORIGIN_EVERY_EPOCHS, warmUpEpochs: WARM_UP_EPOCHS, minDurationSec, scenarios };
}

// ---- the table ----

/** Three significant digits, in exponent form outside [0.01, 1e6). */
function sig(x: number | null): string {
  if (x === null) return '-';
  const a = Math.abs(x);
  return a !== 0 && (a < 0.01 || a >= 1e6) ? x.toExponential(2) : Number(x.toPrecision(3)).toString();
}

function table(head: readonly string[], rows: readonly string[][]): string[] {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ');
  return [line(head), ...rows.map(line)];
}

/** The models table: per scenario, the volatility scores, then the impact fit per market. */
export function formatModels(r: ModelsReport, seeds: string): string {
  const lines = [
    `models: forecasts of ${r.volatilityMarket}'s realized variance over the next ${r.horizonEpochs} epochs (the sum of squared log returns of the mid, one per epoch), made every ${r.originEveryEpochs} epochs from epoch ${r.warmUpEpochs}; ${seeds}`,
    `MSE in bps^4 (variances in bps^2); QLIKE is 0 for a perfect forecast; naive = the realized variance of the last ${r.horizonEpochs} epochs`,
  ];
  const vRows = r.scenarios.flatMap((sc) =>
    // A path shorter than the warm-up and one horizon has no forecast to score: one row says so.
    sc.volatility.length === 0 ? [[sc.name, sc.volatilityStrategy, '-', '-', '0', '-', '-', '-']] : sc.volatility.map((s, i) => [i === 0 ? sc.name : '', i === 0 ? sc.volatilityStrategy : '', i === 0 ? sig(sc.meanRealized) : '', s.model, String(s.forecasts), sig(s.mse), s.qlike.toFixed(3), sig(s.meanForecast)]),
  );
  lines.push('', ...table(['scenario', 'runs', 'mean RV bps2', 'model', 'forecasts', 'MSE', 'QLIKE', 'mean forecast'], vRows));
  lines.push(
    '',
    "impact: fitted per market to our fills from every strategy and seed; one fill is a market's orders of one epoch, which execute together",
    'gamma: quote per base per base filled, from the mid right after the fills (+1 epoch: from the mid one epoch later); eta: quote per base per base/s,',
    `each fill charged over ${r.minDurationSec} s (the stepped strategies' step); book eta: the book's at full depth; delta: the exponent of the square-root law`,
  );
  const iRows = r.scenarios.flatMap((sc) =>
    sc.impact.map((m, i) => [
      i === 0 ? sc.name : '',
      m.symbol,
      String(m.fills),
      String(m.childFills),
      sig(m.venueGamma),
      sig(m.gamma),
      m.gamma === null ? '-' : (m.gamma / m.venueGamma).toFixed(3),
      m.gammaNextEpoch === null ? '-' : (m.gammaNextEpoch / m.venueGamma).toFixed(2),
      sig(m.bookEta),
      sig(m.eta),
      m.eta === null ? '-' : (m.eta / m.bookEta).toFixed(2),
      sig(m.epsilon),
      m.delta === null ? '-' : m.delta.toFixed(3),
      String(m.sqrtLawFills),
    ]),
  );
  lines.push(...table(['scenario', 'market', 'fills', 'children', 'venue gamma', 'gamma', '/venue', '+1 epoch /venue', 'book eta', 'eta', '/book', 'epsilon', 'delta', 'sqrt-law fills'], iRows));
  return lines.join('\n');
}
