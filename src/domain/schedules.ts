/**
 * Execution schedules (docs/domain.md section 6.6): how fast to work a position into the book, or how to price it
 * down over time, so that closing it does not move the price against itself. Pure functions of plain numbers: no
 * I/O, no clock (time is an argument), the same answer for the same arguments.
 *
 * Units: sizes in base units, signed (long > 0, short < 0); a quantity closed is > 0; prices in quote per base;
 * times in seconds since the schedule or auction began; fractions plain (0.01 is 1%). A book volume is the base
 * units resting on the side a close trades against, in whatever price range the caller counts.
 *
 *   almgrenChrissHoldings  Almgren & Chriss (2000): the holdings left at time t on the mean-variance optimal path
 *   clipperPrice           MakerDAO Clipper (dss src/clip.sol, src/abaci.sol): a Dutch auction's price at time t
 *   clipperNeedsReset      the Clipper's reset rule (`status` in clip.sol)
 *   disposalQuantity       Vega's liquidation strategy (specs 0012-POSR): what the network tries to close in one step
 *   disposalSchedule       the same, step after step against a book that refills to the same volume
 *   twapSlice              one slice of a time-weighted schedule, capped by participation in the book
 *
 * Arguments are checked: a parameter outside its range is INVALID_CONFIG naming `params.<field>`; a size, price or
 * time that is not a number in range is INVALID_SIZE, INVALID_PRICE or INVALID_ARGUMENT naming the argument.
 */
import { ErrorCode, UnwindError, configNumbers } from '../errors.js';

const finite = (v: number): boolean => Number.isFinite(v);
const finiteNonNegative = (v: number): boolean => Number.isFinite(v) && v >= 0;
const finitePositive = (v: number): boolean => Number.isFinite(v) && v > 0;
const nonNegative = (v: number): boolean => v >= 0;
const unitInterval = (v: number): boolean => v > 0 && v <= 1;

/** Throws `code` naming `field` unless `v` is a number (not NaN) that `ok` accepts. */
function argument(v: number, ok: (v: number) => boolean, code: ErrorCode, field: string, expected: string): void {
  if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) throw new UnwindError(code, `expected ${expected}, got ${String(v)}`, field);
}

// ---------------------------------------------------------------------------------------------------------------
// Almgren-Chriss

/** The Almgren-Chriss optimal execution problem, in the units `almgrenChrissHoldings` takes. */
export interface AlmgrenChrissParams {
  /** The position to work off, X, base units, signed: the holdings keep its sign. */
  readonly size: number;
  /** The horizon T, seconds (> 0): the holdings reach 0 at T. */
  readonly horizonSec: number;
  /** The price's volatility sigma, quote per base per sqrt(second): absolute, so a relative volatility times the price. */
  readonly sigma: number;
  /** Temporary impact eta (> 0): quote per base of price concession per base/second of trading rate. */
  readonly eta: number;
  /** Risk aversion lambda, per quote (1/quote); 0 is risk-neutral, which is TWAP. */
  readonly lambda: number;
}

/** Below this kappa * T the sinh ratio is taken from its series: the next term, (kappa T)^6 / 5040, is under 1e-27. */
const SERIES_BELOW = 1e-4;

/**
 * The holdings left at `tSec` on Almgren and Chriss's optimal liquidation path ("Optimal execution of portfolio
 * transactions", Journal of Risk 3(2), 2000, continuous-time form):
 *
 *   x(t) = X sinh(kappa (T - t)) / sinh(kappa T),   kappa = sqrt(lambda sigma^2 / eta)   (kappa in 1/second)
 *
 * kappa -> 0 (no risk aversion, or no volatility) gives TWAP, X (1 - t / T); a larger kappa front-loads the selling,
 * trading impact cost for less exposure to the price. t <= 0 gives X, t >= T gives 0.
 */
export function almgrenChrissHoldings(params: AlmgrenChrissParams, tSec: number): number {
  const check = configNumbers(params, 'params');
  argument(params.size, finite, ErrorCode.InvalidSize, 'params.size', 'a finite size');
  check('horizonSec', finitePositive, 'a finite number of seconds > 0');
  check('sigma', finiteNonNegative, 'a finite number >= 0');
  check('eta', finitePositive, 'a finite number > 0 (kappa divides by it)');
  check('lambda', finiteNonNegative, 'a finite number >= 0');
  argument(tSec, () => true, ErrorCode.InvalidArgument, 'tSec', 'a number of seconds');
  const { size, horizonSec, sigma, eta, lambda } = params;
  if (tSec <= 0) return size;
  if (tSec >= horizonSec) return 0;
  // Written so that lambda = 0 or sigma = 0 gives 0 even where lambda / eta overflows; an overflow to Infinity is
  // the limit of selling at once, which remainingShare handles.
  const kappa = lambda === 0 || sigma === 0 ? 0 : Math.sqrt(lambda / eta) * sigma;
  return size * remainingShare(kappa, horizonSec, tSec);
}

/** sinh(kappa (T - t)) / sinh(kappa T) for 0 < t < T, with no NaN from kappa = 0 to kappa = Infinity. */
function remainingShare(kappa: number, T: number, t: number): number {
  const twap = (T - t) / T;
  const b = kappa * T;
  if (b < SERIES_BELOW) {
    // sinh z = z (1 + z^2/6 + z^4/120 + ...), so the ratio is the TWAP share times a correction within b^2/6 of 1.
    // kappa = 0 gives the TWAP share exactly, where sinh's own ratio would be 0 / 0.
    const a2 = (kappa * (T - t)) ** 2;
    const b2 = b * b;
    return (twap * (1 + a2 / 6 + (a2 * a2) / 120)) / (1 + b2 / 6 + (b2 * b2) / 120);
  }
  // sinh a / sinh b = e^(a - b) (1 - e^-2a) / (1 - e^-2b), and a - b = -kappa t: nothing overflows (sinh does past
  // 710), and expm1 keeps a small 1 - e^-2z accurate.
  return Math.exp(-kappa * t) * (Math.expm1(-2 * kappa * (T - t)) / Math.expm1(-2 * b));
}

// ---------------------------------------------------------------------------------------------------------------
// MakerDAO Clipper. dss works in fixed point (RAY = 1e27) on whole seconds; these are the same formulas in plain
// floats on any seconds >= 0, so they match dss to float precision, not to the last RAY digit.

/** How the price falls from `top` (dss `calc`, an Abacus in src/abaci.sol). */
export type ClipperDecrease =
  /** LinearDecrease: reaches 0 at `tauSec`. */
  | { readonly kind: 'linear'; readonly tauSec: number }
  /** StairstepExponentialDecrease: multiplied by `cut` (in [0, 1]; 0.99 is a 1% drop) every `stepSec`. */
  | { readonly kind: 'stairstep'; readonly stepSec: number; readonly cut: number };

/** A Clipper auction's price curve. */
export interface ClipperParams {
  /** The starting price's multiple of the oracle price (dss `buf`): 1.30 starts 30% above it. */
  readonly buf: number;
  /** How the price falls from its start. */
  readonly decrease: ClipperDecrease;
}

/** When a Clipper auction needs a reset (dss `clip.status`). */
export interface ClipperResetParams {
  /** The longest an auction may run before it needs a reset, seconds (dss `tail`). Infinity: never for time. */
  readonly tailSec: number;
  /** The lowest price / top before it needs a reset (dss `cusp`), in [0, 1]; 0: never for price. */
  readonly cusp: number;
}

/**
 * The auction's price `elapsedSec` after it started (or was last reset) at `oraclePrice`:
 *
 *   top = oraclePrice * buf                                   (clip.sol `kick` and `redo`: top = rmul(price, buf))
 *   linear:    price = top * (tau - dur) / tau, 0 once dur >= tau      (abaci.sol LinearDecrease.price)
 *   stairstep: price = top * cut ^ floor(dur / step)                   (abaci.sol StairstepExponentialDecrease.price)
 *
 * where dur = elapsedSec. At 0 both give top, which is what clipperNeedsReset compares against.
 */
export function clipperPrice(params: ClipperParams, oraclePrice: number, elapsedSec: number): number {
  configNumbers(params, 'params')('buf', finitePositive, 'a finite number > 0');
  const decrease = params.decrease;
  // Throws at once when `decrease` is no object; its fields are checked by kind below.
  configNumbers(decrease, 'params.decrease');
  if (decrease.kind === 'linear') {
    configNumbers(decrease, 'params.decrease')('tauSec', finitePositive, 'a finite number of seconds > 0');
  } else if (decrease.kind === 'stairstep') {
    const check = configNumbers(decrease, 'params.decrease');
    check('stepSec', finitePositive, 'a finite number of seconds > 0');
    // dss refuses cut > RAY (`cut-gt-RAY`): the price never rises.
    check('cut', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  } else {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected 'linear' or 'stairstep', got ${String((decrease as { kind: unknown }).kind)}`, 'params.decrease.kind');
  }
  argument(oraclePrice, finitePositive, ErrorCode.InvalidPrice, 'oraclePrice', 'a finite price > 0');
  // dss computes dur = block.timestamp - tic with a checked subtraction, so a time before the start reverts.
  argument(elapsedSec, finiteNonNegative, ErrorCode.InvalidArgument, 'elapsedSec', 'a finite number of seconds >= 0');
  const top = oraclePrice * params.buf;
  if (decrease.kind === 'linear') {
    if (elapsedSec >= decrease.tauSec) return 0;
    return top * ((decrease.tauSec - elapsedSec) / decrease.tauSec);
  }
  // 0 ** 0 is 1, as dss's rpow(x, 0) is RAY for any x: the first step is at top whatever the cut.
  return top * decrease.cut ** Math.floor(elapsedSec / decrease.stepSec);
}

/**
 * Whether the auction needs a reset (dss clip.sol `status`: done = dur > tail || rdiv(price, top) < cusp): it has run
 * for longer than `tailSec`, or its price has fallen below `cusp` of its starting price. Both comparisons are strict,
 * as in dss: at exactly tail seconds, or exactly cusp * top, it runs on. A reset restarts it at the oracle price then.
 */
export function clipperNeedsReset(params: ClipperResetParams, topPrice: number, price: number, elapsedSec: number): boolean {
  const check = configNumbers(params, 'params');
  check('tailSec', nonNegative, 'a number of seconds >= 0');
  check('cusp', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  argument(topPrice, finitePositive, ErrorCode.InvalidPrice, 'topPrice', 'a finite price > 0');
  argument(price, finiteNonNegative, ErrorCode.InvalidPrice, 'price', 'a finite price >= 0');
  argument(elapsedSec, finiteNonNegative, ErrorCode.InvalidArgument, 'elapsedSec', 'a finite number of seconds >= 0');
  return elapsedSec > params.tailSec || price / topPrice < params.cusp;
}

// ---------------------------------------------------------------------------------------------------------------
// Vega's liquidation strategy

/** Vega's position-resolution parameters (network liquidation strategy). */
export interface DisposalParams {
  /** Seconds between disposal attempts (Vega `disposalTimeStep`): step k is tried k * stepSec after the first. */
  readonly stepSec: number;
  /** The part of the remaining position tried in one step while above fullDisposalSize, in (0, 1] (`disposalFraction`). */
  readonly fraction: number;
  /** At or below this remaining size, base units, all of it is tried at once (`fullDisposalSize`); may be Infinity. */
  readonly fullDisposalSize: number;
  /** The most of the book side's volume one step may take, in (0, 1] (`maxFractionConsumed`). */
  readonly maxFractionOfBook: number;
}

/** A schedule longer than this is refused: a book too thin for the position, or a fraction too small to progress. */
const MAX_DISPOSAL_STEPS = 1_000_000;

function checkDisposal(params: DisposalParams): void {
  const check = configNumbers(params, 'params');
  check('stepSec', finitePositive, 'a finite number of seconds > 0');
  check('fraction', unitInterval, 'a number in (0, 1]');
  check('fullDisposalSize', nonNegative, 'a size >= 0');
  check('maxFractionOfBook', unitInterval, 'a number in (0, 1]');
}

/** The book's cap on one step; an infinite book is no cap (and 0 * Infinity is not asked). */
function disposalCap(params: DisposalParams, bookVolume: number): number {
  return bookVolume === Infinity ? Infinity : params.maxFractionOfBook * bookVolume;
}

/**
 * The quantity (> 0, or 0 when there is nothing to do) Vega's network tries to close in one step of its liquidation
 * strategy (specs 0012-POSR "Managing network's position"; vega core/execution/liquidation/engine.go `OnTick`):
 *
 *   candidate = |remaining|              when |remaining| <= fullDisposalSize
 *               fraction * |remaining|   otherwise
 *   quantity  = min(candidate, maxFractionOfBook * bookVolume)
 *
 * Vega's sizes are integers: it rounds fraction * |remaining| to the nearest integer and the book cap up. Unwind's
 * sizes are floats, so neither is rounded here.
 */
export function disposalQuantity(params: DisposalParams, remaining: number, bookVolume: number): number {
  checkDisposal(params);
  argument(remaining, finite, ErrorCode.InvalidSize, 'remaining', 'a finite size');
  argument(bookVolume, nonNegative, ErrorCode.InvalidArgument, 'bookVolume', 'a volume >= 0');
  return stepQuantity(params, Math.abs(remaining), disposalCap(params, bookVolume));
}

function stepQuantity(params: DisposalParams, remaining: number, cap: number): number {
  const candidate = remaining <= params.fullDisposalSize ? remaining : params.fraction * remaining;
  return Math.min(candidate, cap);
}

/**
 * The quantities closed at each step (one every `stepSec`, the first at once) until a position of `size` is gone,
 * each as disposalQuantity gives it, against a book side whose volume stays `bookVolume` (the book refills between
 * steps, as in Vega's acceptance case 0012-POSR-013). The quantities are > 0 whatever the sign of `size`, and sum to
 * |size| (to float rounding); the last one closes exactly what remains. Size 0 gives no step.
 *
 * Vega's case: steps of 10 s, fraction 0.5, full disposal at 50, at most 1% of a 10,000 book (100 a step): 280 closes
 * as min(140, 100) = 100, then min(90, 100) = 90, then 45, then the 45 left (<= 50) whole.
 *
 * Vega ends a schedule with fullDisposalSize 0 by rounding to whole units; in floats a fraction below 1 never reaches
 * 0, so such a schedule is refused (INVALID_CONFIG). An empty book never closes anything and is refused too.
 */
export function disposalSchedule(params: DisposalParams, size: number, bookVolume: number): number[] {
  checkDisposal(params);
  argument(size, finite, ErrorCode.InvalidSize, 'size', 'a finite size');
  argument(bookVolume, nonNegative, ErrorCode.InvalidArgument, 'bookVolume', 'a volume >= 0');
  let remaining = Math.abs(size);
  if (remaining === 0) return [];
  if (params.fullDisposalSize === 0 && params.fraction < 1) {
    throw new UnwindError(ErrorCode.InvalidConfig, 'expected a size > 0 when fraction < 1: a float position never shrinks to 0 by a fraction', 'params.fullDisposalSize');
  }
  if (bookVolume === 0) throw new UnwindError(ErrorCode.InvalidArgument, 'expected a volume > 0: an empty book closes nothing', 'bookVolume');
  const cap = disposalCap(params, bookVolume);
  const steps: number[] = [];
  while (remaining > 0) {
    if (steps.length === MAX_DISPOSAL_STEPS) {
      throw new UnwindError(ErrorCode.CapacityExceeded, `the schedule needs more than ${MAX_DISPOSAL_STEPS} steps (book volume ${bookVolume} for a size of ${size})`, 'bookVolume');
    }
    const quantity = stepQuantity(params, remaining, cap);
    steps.push(quantity);
    // The last step closes min(remaining, cap) = remaining, so this reaches exactly 0.
    remaining -= quantity;
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------------------------
// TWAP

/** One TWAP step's inputs, as `twapSlice` takes them. */
export interface TwapSliceInput {
  /** What is left to trade, base units; the slice keeps its sign. */
  readonly remaining: number;
  /** Seconds until the next slice (> 0). */
  readonly dtSec: number;
  /** Seconds left before the deadline; at or below dtSec the whole remainder is due. */
  readonly timeLeftSec: number;
  /** The most of the book a slice may take, > 0 (0.1 is 10%); Infinity for no cap. */
  readonly maxParticipation: number;
  /** Volume on the side the slice trades against, base units, >= 0; Infinity for no cap. */
  readonly bookVolume: number;
}

/**
 * One slice of a time-weighted schedule: the remainder spread evenly over the time left,
 *
 *   slice = remaining * dt / timeLeft   (all of remaining when timeLeft <= dt)
 *
 * capped in size at maxParticipation * bookVolume (no cap when either is Infinity). What the cap holds back is left
 * for later slices, which grow to catch up; the last one is due whole, cap permitting.
 */
export function twapSlice(input: TwapSliceInput): number {
  if (input === null || typeof input !== 'object') throw new UnwindError(ErrorCode.InvalidArgument, 'expected an object', 'input');
  argument(input.remaining, finite, ErrorCode.InvalidSize, 'input.remaining', 'a finite size');
  argument(input.dtSec, finitePositive, ErrorCode.InvalidArgument, 'input.dtSec', 'a finite number of seconds > 0');
  argument(input.timeLeftSec, finite, ErrorCode.InvalidArgument, 'input.timeLeftSec', 'a finite number of seconds');
  argument(input.maxParticipation, (v) => v > 0, ErrorCode.InvalidArgument, 'input.maxParticipation', 'a number > 0 or Infinity');
  argument(input.bookVolume, nonNegative, ErrorCode.InvalidArgument, 'input.bookVolume', 'a volume >= 0 or Infinity');
  const { remaining, dtSec, timeLeftSec, maxParticipation, bookVolume } = input;
  const due = timeLeftSec <= dtSec ? remaining : (remaining * dtSec) / timeLeftSec;
  const cap = maxParticipation === Infinity || bookVolume === Infinity ? Infinity : maxParticipation * bookVolume;
  if (Math.abs(due) <= cap) return due;
  // An empty book allows nothing: 0, not -0 for a short.
  return cap === 0 ? 0 : Math.sign(due) * cap;
}

// ---------------------------------------------------------------------------------------------------------------
// Risk of waiting

/**
 * The standard normal CDF, by Abramowitz & Stegun 7.1.26 for erf (absolute error below 1.5e-7): enough for a
 * threshold on a probability, and the same bits on every machine (only +, *, / and Math.exp).
 */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/**
 * The probability that a driftless Brownian log-price with volatility `sigma` (per sqrt(second)) moves by at least
 * `distance` (a log-return > 0) against a position within `horizonSec`, by the reflection principle:
 * `2 * (1 - Phi(distance / (sigma sqrt(horizon))))`. 1 at distance <= 0; 0 with no volatility and a positive distance.
 */
export function crossingProbability(distance: number, sigma: number, horizonSec: number): number {
  argument(distance, (v) => !Number.isNaN(v), ErrorCode.InvalidArgument, 'distance', 'a number');
  argument(sigma, nonNegative, ErrorCode.InvalidArgument, 'sigma', 'a volatility >= 0');
  argument(horizonSec, nonNegative, ErrorCode.InvalidArgument, 'horizonSec', 'a number of seconds >= 0');
  if (distance <= 0) return 1;
  const spread = sigma * Math.sqrt(horizonSec);
  if (!(spread > 0)) return 0;
  return Math.min(1, 2 * (1 - normalCdf(distance / spread)));
}
