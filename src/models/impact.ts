/**
 * Market impact fitted to our own fills: the linear model of Almgren and Chriss (2000, "Optimal execution of
 * portfolio transactions") and the square-root law (Almgren et al. 2005; Toth et al. 2011). Per market: the
 * coefficients are in that market's price and size units.
 *
 * A fill observation is one of our orders (or child orders) from sending to its last fill: see FillObservation.
 * With s = side, q = quantity, T = durationSec, P = average fill price, M0 = arrival mid, M1 = mid after and
 * a = permanentShare:
 *
 *   permanent:   s (M1 - M0)            = gamma q + noise
 *   temporary:   s (P - M0) - a gamma q = epsilon + eta (q / T) + noise
 *
 * Almgren-Chriss: trading at rate v = q / T pays a temporary impact h(v) = epsilon + eta v (epsilon: a fixed cost such
 * as half the spread) and moves the price permanently by g(v) = gamma v per unit time, gamma q in all, with gamma from
 * the permanent fit. How much of that permanent move the average price carries depends on how the quantity traded:
 *   a = 1/2   evenly over T (the continuous-time model): the price drifts through the whole move while we trade,
 *             and the average is half way (the default);
 *   a = 0     one order that swept the book: AC's discrete trade k executes at S_{k-1}, before its own permanent
 *             impact, minus the temporary one; a venue that moves its mid after the sweep is this case. Taking
 *             a = 1/2 here takes gamma q / 2 off a cost that never held it, and eta comes out gamma T / 2 short:
 *             negative wherever gamma exceeds the book's slope;
 *   between   several orders back to back: each carries its predecessors' moves, sum_i<j q_i q_j / q^2 in all.
 * Both fits are OLS (./least-squares.ts), the permanent one through the origin. T is the time the observer charges
 * the quantity over: eta is in price per (base per second) of that T (the observer's header says which T it takes).
 *
 * Square-root law, on the fill's relative cost I = s (P - M0) / M0 with sigma = volatility over T and V = bookVolume:
 *
 *   I = Y sigma (q / V)^delta,   fitted as ln(I / sigma) = ln Y + delta ln(q / V) by OLS
 *
 * (delta about 1/2 in the literature). Only fills with I > 0 can enter the log-log fit; fills that did better than
 * arrival are left out of it (counted in `sqrtLawFills`), which biases Y upward when noise is large beside the impact.
 *
 * Fitted on: the last `window` fills. Refitted: first once `minFills` fills are in, then after every `refitEvery`
 * new fills. A fit whose regressors do not vary (every fill the same size and duration) keeps the previous one.
 */
import type { Side } from '../domain/index.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { describe, requirePrice } from '../validate.js';
import { configInteger, stateCount, stateNumber, stateObject } from './check.js';
import { NormalEquations } from './least-squares.js';

/** One of our orders from sending to its last fill. Prices in quote per base, quantities in base units. */
export interface FillObservation {
  /** Our side: 1 bought, -1 sold. */
  readonly side: Side;
  /** Quantity filled, > 0. */
  readonly quantity: number;
  /** Average fill price (quantity-weighted), > 0. */
  readonly price: number;
  /** Mid price when the order was sent: the arrival (decision) price, > 0. */
  readonly arrivalMidPrice: number;
  /**
   * Mid price a fixed delay after the last fill, long enough for the temporary impact to decay (the same delay for
   * every fill; the observer chooses it), > 0.
   */
  readonly midAfter: number;
  /** Seconds from sending to the last fill, > 0; the trading rate is quantity / durationSec. */
  readonly durationSec: number;
  /**
   * The share of the order's own permanent move (gamma q) its average price carries, in [0, 1]; absent: 1/2,
   * trading evenly over durationSec (see the header). 0 for one order that swept the book.
   */
  readonly permanentShare?: number;
  /** Volatility of the log price over durationSec (e.g. EwmaVolatility.volatility(durationSec)), > 0. */
  readonly volatility: number;
  /** The volume reference V of the square-root law, base units > 0: e.g. the book's depth near the mid, or volume traded over a fixed horizon. */
  readonly bookVolume: number;
}

export interface LinearImpact {
  /** Fixed cost per unit, price units. */
  readonly epsilon: number;
  /** Temporary impact per unit of rate, price units per (base units per second). */
  readonly eta: number;
  /** Permanent impact, price units per base unit. */
  readonly gamma: number;
  /** Fills the fit used. */
  readonly fills: number;
}

export interface SquareRootLaw {
  /** The prefactor Y, dimensionless. */
  readonly y: number;
  /** The exponent delta. */
  readonly delta: number;
  /** Fills the fit used (those with a positive cost). */
  readonly sqrtLawFills: number;
}

export interface ImpactConfig {
  /** Fills the fits use, the most recent; >= 3. Default 500 (ours). */
  readonly window: number;
  /** New fills between refits, >= 1. Default 20 (ours). */
  readonly refitEvery: number;
  /** Fills needed before the first fit, in [3, window]. Default 30 (ours: ten per coefficient). */
  readonly minFills: number;
}

export const DEFAULT_IMPACT_CONFIG: ImpactConfig = { window: 500, refitEvery: 20, minFills: 30 };

/** The model's state as plain data. */
export interface ImpactState {
  /** The window's fills, oldest first. */
  readonly fills: FillObservation[];
  /** Fills taken in since the last fit (or attempt). */
  readonly sinceFit: number;
  readonly linear: LinearImpact | null;
  readonly sqrtLaw: SquareRootLaw | null;
}

/** Validates an impact config (defaults filled in): INVALID_CONFIG naming the field. */
export function validateImpactConfig(given: Partial<ImpactConfig> = {}, field = 'impact'): ImpactConfig {
  const c = { ...DEFAULT_IMPACT_CONFIG, ...given };
  configInteger(c.window, 3, `${field}.window`);
  configInteger(c.refitEvery, 1, `${field}.refitEvery`);
  configInteger(c.minFills, 3, `${field}.minFills`);
  if (c.minFills > c.window) throw new UnwindError(ErrorCode.InvalidConfig, `expected at most window (${c.window}), got ${c.minFills}`, `${field}.minFills`);
  return c;
}

/** A fill observation checked field by field, copied as plain data. INVALID_* naming the field. */
export function validateFillObservation(v: FillObservation, field = 'fill'): FillObservation {
  const f = stateObject(v, field) as unknown as FillObservation;
  if (f.side !== 1 && f.side !== -1) throw new UnwindError(ErrorCode.InvalidArgument, `expected 1 (bought) or -1 (sold), got ${describe(f.side)}`, `${field}.side`);
  const positive = (name: 'quantity' | 'durationSec' | 'volatility' | 'bookVolume', code: ErrorCode) => {
    const x = f[name];
    if (typeof x !== 'number' || !(x > 0) || x === Infinity) throw new UnwindError(code, `expected a finite number > 0, got ${describe(x)}`, `${field}.${name}`);
    return x;
  };
  const share = f.permanentShare;
  if (share !== undefined && (typeof share !== 'number' || !(share >= 0 && share <= 1))) {
    throw new UnwindError(ErrorCode.InvalidArgument, `expected a share in [0, 1] or none (1/2), got ${describe(share)}`, `${field}.permanentShare`);
  }
  const checked = {
    side: f.side,
    quantity: positive('quantity', ErrorCode.InvalidSize),
    price: requirePrice(f.price, `${field}.price`),
    arrivalMidPrice: requirePrice(f.arrivalMidPrice, `${field}.arrivalMidPrice`),
    midAfter: requirePrice(f.midAfter, `${field}.midAfter`),
    durationSec: positive('durationSec', ErrorCode.InvalidArgument),
    volatility: positive('volatility', ErrorCode.InvalidArgument),
    bookVolume: positive('bookVolume', ErrorCode.InvalidSize),
  };
  // Absent stays absent: a state exported before the field existed round-trips unchanged.
  return share === undefined ? checked : { ...checked, permanentShare: share };
}

/** The share of its own permanent move a fill's average price carries (absent: 1/2, trading evenly). */
export const DEFAULT_PERMANENT_SHARE = 0.5;

/** Fits the Almgren-Chriss linear model (see the header) to `fills`, in order, each with its permanentShare. Null without variation in q and q / T. */
export function fitLinearImpact(fills: readonly FillObservation[]): LinearImpact | null {
  const permanent = new NormalEquations(1);
  for (const f of fills) permanent.add([f.quantity], f.side * (f.midAfter - f.arrivalMidPrice));
  const g = permanent.solve();
  if (g === null) return null;
  const gamma = g[0];
  const temporary = new NormalEquations(2);
  for (const f of fills) temporary.add([1, f.quantity / f.durationSec], f.side * (f.price - f.arrivalMidPrice) - (f.permanentShare ?? DEFAULT_PERMANENT_SHARE) * gamma * f.quantity);
  const t = temporary.solve();
  return t === null ? null : { epsilon: t[0], eta: t[1], gamma, fills: fills.length };
}

/** Fits the square-root law (see the header) to the fills with a positive cost, in order. Null with fewer than 3 or no variation in q / V. */
export function fitSquareRootLaw(fills: readonly FillObservation[]): SquareRootLaw | null {
  const eq = new NormalEquations(2);
  for (const f of fills) {
    const cost = (f.side * (f.price - f.arrivalMidPrice)) / f.arrivalMidPrice;
    if (cost > 0) eq.add([1, Math.log(f.quantity / f.bookVolume)], Math.log(cost / f.volatility));
  }
  if (eq.rows < 3) return null;
  const b = eq.solve();
  return b === null ? null : { y: Math.exp(b[0]), delta: b[1], sqrtLawFills: eq.rows };
}

export class ImpactModel {
  readonly config: ImpactConfig;
  private fills: FillObservation[] = [];
  private sinceFit = 0;
  private linearFit: LinearImpact | null = null;
  private sqrtLawFit: SquareRootLaw | null = null;

  constructor(config: Partial<ImpactConfig> = {}) {
    this.config = validateImpactConfig(config);
  }

  /** Takes one fill observation; refits when the schedule says so. */
  observe(fill: FillObservation): void {
    this.fills.push(validateFillObservation(fill));
    // Fills are rare beside ticks: dropping the oldest by shift (a copy of the window) is cheap enough.
    if (this.fills.length > this.config.window) this.fills.shift();
    this.sinceFit++;
    if (this.fills.length >= this.config.minFills && ((this.linearFit === null && this.sqrtLawFit === null) || this.sinceFit >= this.config.refitEvery)) {
      this.sinceFit = 0;
      this.linearFit = fitLinearImpact(this.fills) ?? this.linearFit;
      this.sqrtLawFit = fitSquareRootLaw(this.fills) ?? this.sqrtLawFit;
    }
  }

  /** The linear model of the last successful fit; null before one. */
  get linear(): LinearImpact | null {
    return this.linearFit;
  }

  /** The square-root law of the last successful fit; null before one. */
  get sqrtLaw(): SquareRootLaw | null {
    return this.sqrtLawFit;
  }

  /** Fills in the window. */
  get count(): number {
    return this.fills.length;
  }

  /**
   * Expected cost per unit of trading `quantity` evenly over `durationSec`, price units against the arrival mid
   * (a positive number is a cost on either side): epsilon + eta q / T + gamma q / 2.
   */
  expectedCost(quantity: number, durationSec: number): number | undefined {
    const m = this.linearFit;
    return m === null ? undefined : m.epsilon + (m.eta * quantity) / durationSec + (m.gamma * quantity) / 2;
  }

  /** The permanent price move of trading `quantity`, price units in the direction of the trade: gamma q. */
  permanentImpact(quantity: number): number | undefined {
    return this.linearFit === null ? undefined : this.linearFit.gamma * quantity;
  }

  /** The square-root law's relative cost of `quantity`: Y sigma (q / V)^delta. */
  sqrtLawCost(quantity: number, volatility: number, bookVolume: number): number | undefined {
    const m = this.sqrtLawFit;
    return m === null ? undefined : m.y * volatility * Math.pow(quantity / bookVolume, m.delta);
  }

  exportState(): ImpactState {
    return {
      fills: this.fills.map((f) => ({ ...f })),
      sinceFit: this.sinceFit,
      linear: this.linearFit === null ? null : { ...this.linearFit },
      sqrtLaw: this.sqrtLawFit === null ? null : { ...this.sqrtLawFit },
    };
  }

  /** Restores a state from exportState (of a model with the same config): INVALID_* naming a bad field. */
  importState(state: ImpactState): void {
    const s = stateObject(state, 'state');
    if (!Array.isArray(s.fills) || s.fills.length > this.config.window) {
      throw new UnwindError(ErrorCode.InvalidArgument, `expected an array of at most ${this.config.window} fills, got ${describe(s.fills)}`, 'state.fills');
    }
    const fills = s.fills.map((f, i) => validateFillObservation(f as FillObservation, `state.fills[${i}]`));
    const sinceFit = stateCount(s.sinceFit, 'state.sinceFit');
    let linear: LinearImpact | null = null;
    if (s.linear !== null) {
      const m = stateObject(s.linear, 'state.linear');
      linear = {
        epsilon: stateNumber(m.epsilon, -Infinity, 'state.linear.epsilon'),
        eta: stateNumber(m.eta, -Infinity, 'state.linear.eta'),
        gamma: stateNumber(m.gamma, -Infinity, 'state.linear.gamma'),
        fills: stateCount(m.fills, 'state.linear.fills'),
      };
    }
    let sqrtLaw: SquareRootLaw | null = null;
    if (s.sqrtLaw !== null) {
      const m = stateObject(s.sqrtLaw, 'state.sqrtLaw');
      sqrtLaw = { y: stateNumber(m.y, 0, 'state.sqrtLaw.y'), delta: stateNumber(m.delta, -Infinity, 'state.sqrtLaw.delta'), sqrtLawFills: stateCount(m.sqrtLawFills, 'state.sqrtLaw.sqrtLawFills') };
    }
    this.fills = fills;
    this.sinceFit = sinceFit;
    this.linearFit = linear;
    this.sqrtLawFit = sqrtLaw;
  }
}
