/**
 * Seeded price paths: where the venue's reference mid goes, and how much depth its book shows, as functions of
 * event time. Each path is a pure function of (seed, params): the same arguments give the same prices, bit for bit,
 * whatever order or how often they are queried.
 *
 * Time is path time in microseconds from the path's start (t = 0 is `startPrice`); a venue maps its own event time
 * onto it. Stochastic paths are drawn on a fixed grid of `stepUs` (drawn lazily, in grid order, so a query never
 * changes what comes later) and interpolated linearly in between. Drift and volatility are annualized over a
 * 365-day year (crypto trades every day); durations in params are seconds (suffix S), steps microseconds (suffix Us).
 */
import { ErrorCode, UnwindError, configNumbers } from '../../errors.js';
import { mulberry32, normal } from '../random.js';

/** Microseconds in a 365-day year: the unit of annualized drift and volatility. */
export const YEAR_US = 365 * 24 * 3600 * 1e6;

/** Grid points one stochastic path may draw (8 bytes each) before it refuses: use a coarser `stepUs` beyond it. */
export const MAX_PATH_POINTS = 10_000_000;

export interface PricePath {
  /** The price at path time 0 (quote per base). */
  readonly startPrice: number;
  /** The mid-price target at path time `tUs` (times before 0 read as 0). */
  priceAt(tUs: number): number;
  /** The share of its normal depth the book shows at `tUs`, in (0, 1]: 1 in calm markets, lower under stress. */
  liquidityAt(tUs: number): number;
}

/** Geometric Brownian motion: `ln(S(t+dt)/S(t)) ~ N((mu - sigma^2/2) dt, sigma^2 dt)`, dt in years. */
export interface GbmParams {
  readonly seed: number;
  readonly startPrice: number;
  /** Annualized drift. */
  readonly mu: number;
  /** Annualized volatility. */
  readonly sigma: number;
  /** Grid step in microseconds (default 1 s). */
  readonly stepUs?: number;
  /** Constant liquidity factor (default 1). */
  readonly liquidity?: number;
}

/**
 * Merton jump diffusion: GBM plus Poisson jumps (`lambda` a year) whose log sizes are N(jumpMean, jumpStd^2). The
 * drift is compensated (`mu - sigma^2/2 - lambda * kappa`, `kappa = exp(jumpMean + jumpStd^2/2) - 1`) so that the
 * expected simple return is still `mu`.
 */
export interface MertonParams extends GbmParams {
  /** Jumps per year. */
  readonly lambda: number;
  /** Mean of a jump's log size (negative: crashes). */
  readonly jumpMean: number;
  /** Standard deviation of a jump's log size. */
  readonly jumpStd: number;
}

/**
 * A liquidation cascade modelled on 2025-10-10. Public accounts of that day (Amberdata's, among others): after a
 * macro shock, prices drifted lower for hours while books thinned; from 20:50 UTC a 40-minute cascade liquidated
 * about 70% of the day's 9.9 B, peaking 25 minutes in (21:15 UTC, 3.2 B in one minute); book depth fell by more
 * than 90% and spreads widened from single-digit basis points to percents; BTC fell about 12-16%, ETH about 16-20%,
 * many altcoins far more, then partly rebounded.
 *
 * Our shape, in log price (the fall is split in shares of the total log fall `-ln(1 - drop)`):
 *   calm (`calmS`, default 0): flat, liquidity 1;
 *   lead-in (`leadInS`, default 20 min): `leadInShare` (15%) of the fall, linear; liquidity thins linearly to
 *     `leadInLiquidity` (0.7);
 *   cascade (`cascadeS`, default 40 min): `cascadeShare` (75%) of the fall, at a rate shaped like a Beta(6,4)
 *     density, i.e. peaking 62.5% of the way in (25 of 40 minutes); liquidity falls with the rate to
 *     `minLiquidity` (0.08: depth down 92%) at the peak and back to `leadInLiquidity` at the end;
 *   tail (`tailS`, default 30 min): the rest of the fall, eased; liquidity recovers toward 1 with half-life
 *     `liquidityHalfLifeS` (15 min) from the end of the cascade on;
 *   rebound (`reboundS`, default 60 min): `reboundShare` (30%) of the log fall comes back, eased; then flat.
 * With the defaults (drop 22%) the price is 20% down one hour after the lead-in starts, 74% of the fall inside the
 * 40-minute window. Noise: zero-mean Brownian log noise of annualized `sigma` (default 0.6), on the `stepUs` grid.
 */
export interface CascadeParams {
  readonly seed: number;
  readonly startPrice: number;
  readonly drop?: number;
  readonly calmS?: number;
  readonly leadInS?: number;
  readonly cascadeS?: number;
  readonly tailS?: number;
  readonly reboundS?: number;
  readonly leadInShare?: number;
  readonly cascadeShare?: number;
  readonly reboundShare?: number;
  readonly leadInLiquidity?: number;
  readonly minLiquidity?: number;
  readonly liquidityHalfLifeS?: number;
  readonly sigma?: number;
  readonly stepUs?: number;
}

/**
 * A flash crash that recovers: calm for `calmS` (60 s), a fall of `drop` (10%) eased over `fallS` (60 s), the
 * bottom held for `bottomS` (20 s), then `recoverShare` (100%) of the log fall recovered eased over `recoverS`
 * (180 s). Liquidity falls with the price to `minLiquidity` (0.05) and comes back with it. Noise as in the cascade
 * (default sigma 0.3).
 */
export interface FlashCrashParams {
  readonly seed: number;
  readonly startPrice: number;
  readonly drop?: number;
  readonly calmS?: number;
  readonly fallS?: number;
  readonly bottomS?: number;
  readonly recoverS?: number;
  readonly recoverShare?: number;
  readonly minLiquidity?: number;
  readonly sigma?: number;
  readonly stepUs?: number;
}

const S = 1e6;
const DEFAULT_STEP_US = 1e6;

/** A lazily drawn grid: point i at i * stepUs; point i+1 from point i and the next draws of one stream. */
class LazyGrid {
  private readonly values: number[];

  constructor(
    readonly stepUs: number,
    first: number,
    private readonly next: (previous: number) => number,
  ) {
    this.values = [first];
  }

  point(i: number): number {
    if (i >= MAX_PATH_POINTS) {
      throw new UnwindError(ErrorCode.CapacityExceeded, `a path of more than ${MAX_PATH_POINTS} grid points; use a coarser stepUs`, 'priceAt');
    }
    const v = this.values;
    while (v.length <= i) v.push(this.next(v[v.length - 1]!));
    return v[i]!;
  }

  /** Linear interpolation between the two grid points around `tUs`. */
  at(tUs: number): number {
    const x = pathTime(tUs) / this.stepUs;
    const i = Math.floor(x);
    const a = this.point(i);
    const frac = x - i;
    return frac === 0 ? a : a + (this.point(i + 1) - a) * frac;
  }
}

function pathTime(tUs: number): number {
  if (typeof tUs !== 'number' || Number.isNaN(tUs)) throw new UnwindError(ErrorCode.InvalidArgument, `expected a time in microseconds, got ${String(tUs)}`, 'tUs');
  return tUs < 0 ? 0 : tUs;
}

function checkCommon(p: { seed: number; startPrice: number; stepUs?: number }, field: string): void {
  const check = configNumbers(p, field);
  check('seed', Number.isInteger, 'an integer');
  check('startPrice', (v) => v > 0 && Number.isFinite(v), 'a finite price > 0');
  if (p.stepUs !== undefined) check('stepUs', (v) => Number.isInteger(v) && v > 0, 'an integer number of microseconds > 0');
}

/** Knuth's Poisson draw: fine for the small means of one grid step. */
function poisson(mean: number, uniform: () => number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = uniform(); p > limit; p *= uniform()) k++;
  return k;
}

export function gbmPath(params: GbmParams): PricePath {
  return mertonPath({ ...params, lambda: 0, jumpMean: 0, jumpStd: 0 }, 'gbm');
}

export function mertonPath(params: MertonParams, field = 'merton'): PricePath {
  checkCommon(params, field);
  const check = configNumbers(params, field);
  check('mu', Number.isFinite, 'a finite annualized drift');
  check('sigma', (v) => v >= 0 && Number.isFinite(v), 'a finite annualized volatility >= 0');
  check('lambda', (v) => v >= 0 && Number.isFinite(v), 'a finite jump rate >= 0 a year');
  check('jumpMean', Number.isFinite, 'a finite mean log jump');
  check('jumpStd', (v) => v >= 0 && Number.isFinite(v), 'a finite jump log-size deviation >= 0');
  const liquidity = params.liquidity ?? 1;
  if (params.liquidity !== undefined) check('liquidity', (v) => v > 0 && v <= 1, 'a liquidity factor in (0, 1]');
  const stepUs = params.stepUs ?? DEFAULT_STEP_US;
  const dt = stepUs / YEAR_US;
  const { mu, sigma, lambda, jumpMean, jumpStd } = params;
  const kappa = Math.exp(jumpMean + (jumpStd * jumpStd) / 2) - 1;
  const drift = (mu - (sigma * sigma) / 2 - lambda * kappa) * dt;
  const diffusion = sigma * Math.sqrt(dt);
  const uniform = mulberry32(params.seed);
  const gauss = normal(uniform);
  const grid = new LazyGrid(stepUs, params.startPrice, (s) => {
    let r = drift + diffusion * gauss();
    if (lambda > 0) {
      const jumps = poisson(lambda * dt, uniform);
      // The sum of n normal jumps is one normal draw: N(n * mean, n * std^2).
      if (jumps > 0) r += jumps * jumpMean + jumpStd * Math.sqrt(jumps) * gauss();
    }
    return s * Math.exp(r);
  });
  return { startPrice: params.startPrice, priceAt: (t) => grid.at(t), liquidityAt: () => liquidity };
}

/** Zero-mean Brownian log noise on a grid (none when sigma is 0). */
function logNoise(seed: number, sigma: number, stepUs: number): (tUs: number) => number {
  if (sigma === 0) return () => 0;
  const gauss = normal(mulberry32(seed));
  const scale = sigma * Math.sqrt(stepUs / YEAR_US);
  const grid = new LazyGrid(stepUs, 0, (w) => w + scale * gauss());
  return (t) => grid.at(t);
}

/** Ease in and out on [0, 1]: zero slope at both ends. */
const smooth = (u: number): number => u * u * (3 - 2 * u);
const clamp01 = (u: number): number => (u < 0 ? 0 : u > 1 ? 1 : u);

/** The Beta(6,4) CDF, exact for integer shapes: `sum_{j=6..9} C(9,j) u^j (1-u)^(9-j)`. */
function beta64Cdf(u: number): number {
  const v = 1 - u;
  return 84 * u ** 6 * v ** 3 + 36 * u ** 7 * v ** 2 + 9 * u ** 8 * v + u ** 9;
}

/** The Beta(6,4) density over its maximum (at u = 5/8): 1 at the peak of the cascade, 0 at its ends. */
function beta64Shape(u: number): number {
  const peak = 0.625 ** 5 * 0.375 ** 3;
  return (u ** 5 * (1 - u) ** 3) / peak;
}

export function cascadePath(params: CascadeParams): PricePath {
  checkCommon(params, 'cascade');
  const p = {
    drop: 0.22,
    calmS: 0,
    leadInS: 1_200,
    cascadeS: 2_400,
    tailS: 1_800,
    reboundS: 3_600,
    leadInShare: 0.15,
    cascadeShare: 0.75,
    reboundShare: 0.3,
    leadInLiquidity: 0.7,
    minLiquidity: 0.08,
    liquidityHalfLifeS: 900,
    sigma: 0.6,
    stepUs: DEFAULT_STEP_US,
    ...params,
  };
  const check = configNumbers(p, 'cascade');
  check('drop', (v) => v > 0 && v < 1, 'a fraction in (0, 1)');
  for (const d of ['calmS', 'leadInS', 'tailS', 'reboundS'] as const) check(d, (v) => v >= 0 && Number.isFinite(v), 'a finite duration >= 0 in seconds');
  check('cascadeS', (v) => v > 0 && Number.isFinite(v), 'a finite duration > 0 in seconds');
  check('liquidityHalfLifeS', (v) => v > 0, 'a half-life > 0 in seconds');
  check('leadInShare', (v) => v >= 0 && v <= 1, 'a share in [0, 1]');
  check('cascadeShare', (v) => v >= 0 && v <= 1 - p.leadInShare, 'a share in [0, 1 - leadInShare]');
  check('reboundShare', (v) => v >= 0 && v <= 1, 'a share in [0, 1]');
  check('leadInLiquidity', (v) => v > 0 && v <= 1, 'a liquidity factor in (0, 1]');
  check('minLiquidity', (v) => v > 0 && v <= p.leadInLiquidity, 'a liquidity factor in (0, leadInLiquidity]');
  check('sigma', (v) => v >= 0 && Number.isFinite(v), 'a finite annualized volatility >= 0');
  const fall = -Math.log(1 - p.drop);
  const tailShare = 1 - p.leadInShare - p.cascadeShare;
  const t1 = p.calmS * S;
  const t2 = t1 + p.leadInS * S;
  const t3 = t2 + p.cascadeS * S;
  const t4 = t3 + p.tailS * S;
  const t5 = t4 + p.reboundS * S;
  const u = (t: number, from: number, to: number): number => (to > from ? clamp01((t - from) / (to - from)) : 1);
  const noise = logNoise(p.seed, p.sigma, p.stepUs);
  const shape = (t: number): number => {
    if (t < t1) return 0;
    if (t < t2) return -fall * p.leadInShare * u(t, t1, t2);
    if (t < t3) return -fall * (p.leadInShare + p.cascadeShare * beta64Cdf(u(t, t2, t3)));
    if (t < t4) return -fall * (p.leadInShare + p.cascadeShare + tailShare * smooth(u(t, t3, t4)));
    return -fall * (1 - p.reboundShare * smooth(u(t, t4, t5)));
  };
  return {
    startPrice: p.startPrice,
    priceAt: (tUs) => {
      const t = pathTime(tUs);
      return p.startPrice * Math.exp(shape(t) + noise(t));
    },
    liquidityAt: (tUs) => {
      const t = pathTime(tUs);
      if (t < t1) return 1;
      if (t < t2) return 1 - (1 - p.leadInLiquidity) * u(t, t1, t2);
      if (t < t3) return p.leadInLiquidity - (p.leadInLiquidity - p.minLiquidity) * beta64Shape(u(t, t2, t3));
      return 1 - (1 - p.leadInLiquidity) * 2 ** (-(t - t3) / (p.liquidityHalfLifeS * S));
    },
  };
}

export function flashCrashPath(params: FlashCrashParams): PricePath {
  checkCommon(params, 'flashCrash');
  const p = {
    drop: 0.1,
    calmS: 60,
    fallS: 60,
    bottomS: 20,
    recoverS: 180,
    recoverShare: 1,
    minLiquidity: 0.05,
    sigma: 0.3,
    stepUs: DEFAULT_STEP_US,
    ...params,
  };
  const check = configNumbers(p, 'flashCrash');
  check('drop', (v) => v > 0 && v < 1, 'a fraction in (0, 1)');
  for (const d of ['calmS', 'fallS', 'bottomS', 'recoverS'] as const) check(d, (v) => v >= 0 && Number.isFinite(v), 'a finite duration >= 0 in seconds');
  check('recoverShare', (v) => v >= 0 && v <= 1, 'a share in [0, 1]');
  check('minLiquidity', (v) => v > 0 && v <= 1, 'a liquidity factor in (0, 1]');
  check('sigma', (v) => v >= 0 && Number.isFinite(v), 'a finite annualized volatility >= 0');
  const fall = -Math.log(1 - p.drop);
  const t1 = p.calmS * S;
  const t2 = t1 + p.fallS * S;
  const t3 = t2 + p.bottomS * S;
  const t4 = t3 + p.recoverS * S;
  const u = (t: number, from: number, to: number): number => (to > from ? clamp01((t - from) / (to - from)) : 1);
  /** How far into the crash: 0 calm, 1 at the bottom. Price and liquidity both follow it. */
  const depth = (t: number): number => {
    if (t < t1) return 0;
    if (t < t2) return smooth(u(t, t1, t2));
    if (t < t3) return 1;
    return 1 - p.recoverShare * smooth(u(t, t3, t4));
  };
  const noise = logNoise(p.seed, p.sigma, p.stepUs);
  return {
    startPrice: p.startPrice,
    priceAt: (tUs) => {
      const t = pathTime(tUs);
      return p.startPrice * Math.exp(-fall * depth(t) + noise(t));
    },
    liquidityAt: (tUs) => 1 - (1 - p.minLiquidity) * depth(pathTime(tUs)),
  };
}

/**
 * A path that follows `base` with `beta` times its log return, from its own start price: how the demos move several
 * markets in one crash (altcoins fall harder than BTC). Liquidity is the base path's.
 */
export function betaPath(base: PricePath, params: { readonly beta: number; readonly startPrice: number }): PricePath {
  const check = configNumbers(params, 'betaPath');
  check('beta', Number.isFinite, 'a finite beta');
  check('startPrice', (v) => v > 0 && Number.isFinite(v), 'a finite price > 0');
  return {
    startPrice: params.startPrice,
    priceAt: (t) => params.startPrice * (base.priceAt(t) / base.startPrice) ** params.beta,
    liquidityAt: (t) => base.liquidityAt(t),
  };
}
