/**
 * The configuration vocabulary the layers share: each policy's type, its default and, where config resolution needs
 * it, its validator. Nearly a leaf: it imports src/errors.ts, src/validate.ts and the models' own config validators
 * (src/models/{ewma,garch,har}.ts, which import nothing of the engine), so the tables, the domain math, the executor,
 * the oracle and src/config.ts (which resolves EngineConfig) all take their settings from here without importing one
 * another. A model must never import this file. The journal keeps its own (src/journal imports nothing above it).
 */
import { configNumbers, ErrorCode, UnwindError } from './errors.js';
import { describe, MAX_TIME_US } from './validate.js';
import { validateEwmaConfig, type EwmaConfig } from './models/ewma.js';
import { validateGarchConfig, type GarchConfig } from './models/garch.js';
import { validateHarConfig, type HarConfig } from './models/har.js';

// ---- tables (src/tables/layout.ts) ----

/** Rows preallocated in the shared-memory tables: nothing grows after start (CAPACITY_EXCEEDED beyond them). */
export interface Capacities {
  /** Markets. */
  readonly markets: number;
  /** Accounts. */
  readonly accounts: number;
  /** Positions over all accounts. */
  readonly positions: number;
  /** K: most positions one account may hold (one per market). Default 16. */
  readonly positionsPerAccount?: number;
  /** Liquidatable groups one epoch's scan may propose. */
  readonly candidates: number;
  /** Output rows (orders, margin calls, state changes) of one epoch; more are left for the next. */
  readonly output: number;
}

export const DEFAULT_POSITIONS_PER_ACCOUNT = 16;

/**
 * Every capacity an integer in [1, 2^31) (INVALID_CONFIG naming the first bad one, in the given order, the default
 * last), and accounts * positionsPerAccount, the rows of the terms table, at most 2^32 - 1.
 */
export function validateCapacities(given: Capacities): Required<Capacities> {
  const capacities: Required<Capacities> = { ...given, positionsPerAccount: given.positionsPerAccount ?? DEFAULT_POSITIONS_PER_ACCOUNT };
  for (const [k, v] of Object.entries(capacities)) {
    if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) {
      throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer in [1, 2^31), got ${String(v)}`, `capacity.${k}`);
    }
  }
  const terms = capacities.accounts * capacities.positionsPerAccount;
  if (terms > 0xffffffff) throw new UnwindError(ErrorCode.InvalidConfig, `accounts * positionsPerAccount exceeds 2^32 (${terms})`, 'capacity');
  return capacities;
}

// ---- money (src/ledger) ----

/** Decimals of the quote currency: one quote unit is 10^6 atoms, like USDC. */
export const DEFAULT_QUOTE_DECIMALS = 6;

/** The liquidation fee's bounds and the insurance funds' layout (src/ledger/settle.ts; a FeeBounds of src/domain). */
export interface FeePolicy {
  /** Largest fee as a fraction of the closed notional at the fill price, [0, 1]. dYdX: 0.015. */
  readonly maxFeeFraction: number;
  /**
   * Largest fee as a share k of the maintenance margin the close releases, >= 0. Default 0.5 (dYdX launched with a
   * 1.5% fee cap over 3% maintenance), lowered where needed so that every close above the emergency level heals.
   */
  readonly maxMaintenanceShare: number;
  /** Insurance funds per market, or one pooled fund. */
  readonly fund: 'per-market' | 'pooled';
}

export const DEFAULT_FEE_POLICY: FeePolicy = { maxFeeFraction: 0.015, maxMaintenanceShare: 0.5, fund: 'per-market' };

// ---- liquidation sizing (src/domain/sizing.ts) ----

/** How much of a liquidatable group each order closes (src/domain/sizing.ts). */
export interface SizingPolicy {
  /** Health (equity / maintenance) a partial close restores, > 1. */
  readonly targetHealth: number;
  /** Quote units at the mark; a position whose remainder would be worth less closes whole. >= 0. */
  readonly minNotional: number;
  /** Largest fraction of a position closed per step, in (0, 1] (dYdX max_position_portion_liquidated_ppm / 1e6). */
  readonly maxPortion: number;
  /** Quote units at the mark; positions worth more step down (Hyperliquid: 100,000). Infinity disables. */
  readonly largeNotional: number;
  /** Fraction of a large position closed per step, in (0, 1] (Hyperliquid: 20%). */
  readonly largeStepPortion: number;
  /** Health below which caps are bypassed and the position closes whole, in [0, 1] (Hyperliquid backstop: 2/3). */
  readonly emergencyHealth: number;
  /**
   * Quote units at the mark: the smallest liquidation order (dYdX min_position_notional_liquidated: 1,000). A smaller
   * close is raised to it (or to the whole position); a cap that leaves less than this waits instead. >= 0.
   */
  readonly minOrderNotional: number;
}

/**
 * docs/domain.md section 3's defaults. Target 1.05: maintenance plus a 5% buffer, above the 2% sticky exit buffer
 * (Drift), so a close that restores the target also lets the account leave the liquidating state, with some
 * room for the next tick. Max portion 1 as dYdX's default: only large positions step down.
 */
export const DEFAULT_SIZING_POLICY: SizingPolicy = Object.freeze({
  targetHealth: 1.05,
  minNotional: 1_000,
  maxPortion: 1,
  largeNotional: 100_000,
  largeStepPortion: 0.2,
  emergencyHealth: 2 / 3,
  minOrderNotional: 1_000,
});

/** Throws INVALID_CONFIG naming the field (`${field}.targetHealth`, ...) unless `p` is a usable policy. */
export function validateSizingPolicy(p: SizingPolicy, field = 'sizing'): SizingPolicy {
  const check = configNumbers(p, field);
  check('targetHealth', (v) => v > 1 && v < Infinity, 'a finite number > 1');
  check('minNotional', (v) => v >= 0 && v < Infinity, 'a finite number >= 0');
  check('maxPortion', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  check('largeNotional', (v) => v > 0, 'a positive number (Infinity disables step-down)');
  check('largeStepPortion', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  check('emergencyHealth', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  check('minOrderNotional', (v) => v >= 0 && v < Infinity, 'a finite number >= 0');
  return p;
}

// ---- the executor (src/executor) ----

/** The account lifecycle's levels (src/executor/lifecycle.ts). */
export interface LifecycleConfig {
  /** Health below which a margin call is raised (> 1). Default 1.2. */
  readonly marginCallHealth: number;
  /** A margin call clears at marginCallHealth + this (>= 0). Default 0.05. */
  readonly marginCallHysteresis: number;
  /** Liquidation ends above health 1 + this (>= 0). Default 0.02 (Drift). */
  readonly exitBuffer: number;
}

export const DEFAULT_LIFECYCLE: LifecycleConfig = { marginCallHealth: 1.2, marginCallHysteresis: 0.05, exitBuffer: 0.02 };

/** Liquidation caps (src/executor/caps.ts). */
export interface CapsConfig {
  /** Largest liquidated notional per account per interval, quote units, >= 0. Infinity disables. */
  readonly accountNotionalPerInterval: number;
  /** Largest insurance-fund loss attributed to one account per interval, quote units, >= 0. Infinity disables. */
  readonly accountInsuranceLossPerInterval: number;
  /** The per-account interval, microseconds, finite and > 0; fixed buckets aligned to multiples of it. */
  readonly intervalUs: number;
  /** Largest liquidated notional per market over the sliding window, quote units, >= 0. Infinity disables. */
  readonly marketNotionalPerWindow: number;
  /** The per-market sliding window, microseconds, finite and > 0. */
  readonly marketWindowUs: number;
  /** Largest number of liquidation orders in flight, an integer >= 0. Infinity disables. */
  readonly maxInFlight: number;
}

/** Every cap off (the engine's default: caps need event time from the inputs). Intervals are placeholders. */
export const NO_CAPS: CapsConfig = {
  accountNotionalPerInterval: Infinity,
  accountInsuranceLossPerInterval: Infinity,
  intervalUs: 1_600_000,
  marketNotionalPerWindow: Infinity,
  marketWindowUs: 30_000_000,
  maxInFlight: Infinity,
};

/**
 * Defaults. Interval 1.6 s: dYdX's liquidation round (docs/domain.md section 8), its limits reset per block; dYdX's own
 * per-subaccount limits default to 100,000,000 quote (1e14 quantums), in effect off, so these are tighter: 1,000,000
 * notional per account per interval (ten times the 100,000 above which Hyperliquid steps positions down) and
 * 50,000 of insurance-fund loss (5% of it). Market window 30 s, as Synthetix perps v3's maxSecondsInLiquidationWindow,
 * with 10,000,000 notional per window. In flight: 50, dYdX's most liquidation attempts per block (section 8).
 */
export const DEFAULT_CAPS: CapsConfig = {
  accountNotionalPerInterval: 1_000_000,
  accountInsuranceLossPerInterval: 50_000,
  intervalUs: 1_600_000,
  marketNotionalPerWindow: 10_000_000,
  marketWindowUs: 30_000_000,
  maxInFlight: 50,
};

/** Throws INVALID_CONFIG naming the field (`${field}.intervalUs`, ...) unless `c` is a usable config. */
export function validateCaps(c: CapsConfig, field = 'caps'): CapsConfig {
  const check = configNumbers(c, field);
  check('accountNotionalPerInterval', (v) => v >= 0, 'a number >= 0 (Infinity disables)');
  check('accountInsuranceLossPerInterval', (v) => v >= 0, 'a number >= 0 (Infinity disables)');
  check('intervalUs', (v) => v > 0 && v < Infinity, 'a finite number of microseconds > 0');
  check('marketNotionalPerWindow', (v) => v >= 0, 'a number >= 0 (Infinity disables)');
  check('marketWindowUs', (v) => v > 0 && v < Infinity, 'a finite number of microseconds > 0');
  check('maxInFlight', (v) => v === Infinity || (Number.isInteger(v) && v >= 0), 'an integer >= 0 (Infinity disables)');
  return c;
}

/** What the executor's decision (src/executor/executor.ts) is configured with: the resolved config's part it reads. */
// ---- execution strategies (src/executor/strategies.ts) ----

/**
 * How a liquidation is put on the book. Every child order is still an IOC at the group's fillable price (bounded by
 * the bankruptcy price), sized no larger than the sizing asks, and admitted by the caps; a strategy only spreads the
 * sized quantity over event time. Below the emergency health every strategy closes at once (as 'ioc').
 * - 'ioc': the whole sized quantity at once (dYdX).
 * - 'twap': every `stepSec`, `remaining * stepSec / timeLeft` of what the sizing asks, so that it is done by `horizonSec`.
 * - 'disposal': Vega's position resolution: every `stepSec`, `fraction` of what remains, all of it once it is at most
 *   `fullDisposalSize` base units.
 * - 'almgren-chriss': every `stepSec`, down to the Almgren-Chriss trajectory `x(t) = X sinh(kappa (T - t)) / sinh(kappa T)`,
 *   `kappa = sqrt(lambda sigma^2 / eta)` (sigma per sqrt(second), eta quote per (base/second) per base, lambda per quote).
 * - 'dutch-auction': MakerDAO's Clipper: every `stepSec`, all of the sized quantity at a price that starts at
 *   `oracle * buf` (a sell; a buy mirrors it below the oracle) and falls by `decrease`, never past the fillable price;
 *   the auction restarts from the oracle then after `tailSec`, or once the price falls below `cusp` of its start.
 * - 'backstop': a liquidity vault (an account of the book: Hyperliquid's HLP, Orderly's insurance fund account) takes
 *   the sized quantity at once, off the book, at `oracle * (1 - discount)` for a long (`1 + discount` for a short),
 *   never worse for the liquidated account than the fillable price. It settles as a fill (fee to the insurance fund,
 *   the fund's cover and the deficit policy below the bankruptcy value), and the vault's position grows by what it
 *   took. The vault takes nothing that would leave its own health below `minVaultHealth`: that work goes to the
 *   book as 'ioc'. Below the emergency health it takes the whole position.
 * - 'adaptive': `patient` while the probability that the price crosses the group's bankruptcy level within `horizonSec`
 *   (the market's volatility estimate, `ExecutionConfig.volatility`, a driftless walk) is at most `maxCrossProbability`;
 *   at once (`urgent`: 'ioc' or a backstop) above it, below the emergency health, or while no volatility is known yet.
 */
export type PatientStrategy =
  | {
      readonly kind: 'twap';
      /** Seconds of event time by which all of the sized quantity is sent. */
      readonly horizonSec: number;
      /** Seconds of event time between children. */
      readonly stepSec: number;
      /** The most of the book's volume on its side (a `depth` input) one child may take, in (0, 1]. Default 1. */
      readonly maxParticipation?: number;
    }
  | {
      readonly kind: 'disposal';
      /** Seconds of event time between steps. */
      readonly stepSec: number;
      /** The fraction of what remains each step sends, in (0, 1]. */
      readonly fraction: number;
      /** Base units at or below which the rest goes at once. */
      readonly fullDisposalSize: number;
      /** Vega's maxFractionConsumed: the most of the book's volume on its side one step may take, in (0, 1]. Default 1. */
      readonly maxFractionOfBook?: number;
    }
  | {
      readonly kind: 'almgren-chriss';
      /** Seconds of event time of the whole trajectory (T). */
      readonly horizonSec: number;
      /** Seconds of event time between children. */
      readonly stepSec: number;
      /** As twap's. */
      readonly maxParticipation?: number;
      /** Risk aversion, per quote (> 0 for a front-loaded trajectory). */
      readonly lambda: number;
      /** Quote per base per sqrt(second); absent: the market's volatility estimate of its mark (as for 'adaptive') times the mark. */
      readonly sigma?: number;
      /**
       * Temporary impact, quote per base per base/second of trading rate, > 0; absent: the market's impact fitted to
       * our own fills (markets.impactEta; src/engine/impact-observer.ts), and until there is one kappa is 0 (TWAP's
       * trajectory).
       */
      readonly eta?: number;
    }
  | {
      readonly kind: 'dutch-auction';
      /** Seconds of event time between price steps. */
      readonly stepSec: number;
      /** The starting price as a multiple of the oracle price (a sell; a buy mirrors it), >= 1. */
      readonly buf: number;
      /** How the price falls: linearly to 0 over `tauSec`, or by `cut` every `stepSec` (Clipper's abaci). */
      readonly decrease: { readonly kind: 'linear'; readonly tauSec: number } | { readonly kind: 'stairstep'; readonly stepSec: number; readonly cut: number };
      /** Seconds after which the auction restarts. */
      readonly tailSec: number;
      /** The fraction of its start below which the price restarts the auction. */
      readonly cusp: number;
    };

/** A vault that takes liquidated positions off the book ('backstop'). */
export interface BackstopStrategy {
  /** The strategy's kind. */
  readonly kind: 'backstop';
  /** The vault's account id: an account of the book, with collateral, that takes the positions into its cross group. */
  readonly vault: number;
  /** What the vault earns against the oracle price, a fraction in [0, 0.5). Default 0 (it takes at the oracle, bounded by the fillable price). */
  readonly discount?: number;
  /** The vault's health (equity / maintenance) after a takeover, at the mark, may not fall below this (>= 1). Default 1.5. */
  readonly minVaultHealth?: number;
}

/** An execution strategy (PatientStrategy's comment says what each kind does). */
export type StrategySpec =
  | { readonly kind: 'ioc' }
  | PatientStrategy
  | BackstopStrategy
  | {
      readonly kind: 'adaptive';
      /** The strategy while the price is unlikely to cross the bankruptcy level. */
      readonly patient: PatientStrategy;
      /** At once: above `maxCrossProbability`, below the emergency health, or with no volatility known. Default 'ioc'. */
      readonly urgent?: { readonly kind: 'ioc' } | BackstopStrategy;
      /** Seconds ahead over which the crossing probability is estimated. */
      readonly horizonSec: number;
      /** The largest crossing probability under which `patient` is used, in [0, 1]. */
      readonly maxCrossProbability: number;
      /**
       * The EWMA's decay per interval and the interval, seconds (src/models/ewma.ts). Default 0.94 per 60 s. Kept for
       * configs from before `ExecutionConfig.volatility`: the same as `volatility: { model: 'ewma', ewma: { lambda,
       * intervalSec } }` there, beside which it may not be set.
       */
      readonly volatility?: { readonly lambda: number; readonly intervalSec: number };
    };

export type StrategyKind = StrategySpec['kind'];

/** A strategy, and others for larger positions. */
export interface StrategyChoice {
  /** For positions below every size class. */
  readonly strategy: StrategySpec;
  /** A position whose notional at the mark (quote) is at least a class's `minNotional` uses the largest such class. */
  readonly sizeClasses?: readonly { readonly minNotional: number; readonly strategy: StrategySpec }[];
}

/**
 * The model that estimates each market's volatility of its mark price on event time, for the strategies that need one
 * ('adaptive', and 'almgren-chriss' without its own sigma); src/executor/forecasts.ts. Under 'garch' and 'har' the
 * EWMA runs alongside and stands in until the model has its first fit.
 * - 'ewma': RiskMetrics on event time (src/models/ewma.ts), `ewma: { lambda, intervalSec }`.
 * - 'garch': GARCH(1,1) (src/models/garch.ts) on one log return of the mark per `intervalSec` of event time,
 *   `garch: { window, refitEvery, minReturns, varianceTargeting }`: fitted first once `minReturns` returns are in,
 *   then every `refitEvery` returns.
 * - 'har': HAR-RV (src/models/har.ts) on the mark's realized variance per base period, `har: { basePeriodSec, ... }`:
 *   fitted first once `minRows` rows exist, then every `refitEvery` closed periods.
 */
export interface VolatilityConfig {
  /** The model (its `ewma`, `garch` or `har` parameters below). */
  readonly model: VolatilityModel;
  /** GARCH's return clock: seconds of event time per return, > 0 in whole microseconds. Default 60. */
  readonly intervalSec?: number;
  /** EWMA parameters (src/models/ewma.ts); absent ones take their defaults. */
  readonly ewma?: Partial<EwmaConfig>;
  /** GARCH(1,1) parameters (src/models/garch.ts); absent ones take their defaults. */
  readonly garch?: Partial<GarchConfig>;
  /** HAR-RV parameters (src/models/har.ts); absent ones take their defaults. */
  readonly har?: Partial<HarConfig>;
}

/** The volatility models. */
export type VolatilityModel = 'ewma' | 'garch' | 'har';
export const VOLATILITY_MODELS: readonly VolatilityModel[] = ['ewma', 'garch', 'har'];
export const DEFAULT_VOLATILITY_INTERVAL_SEC = 60;

/** Execution strategies: a default choice, and per market ones; the volatility model the strategies read. */
export interface ExecutionConfig extends StrategyChoice {
  /** Per-market choices, overriding the default for their `market`. */
  readonly markets?: readonly ({ readonly market: number } & StrategyChoice)[];
  /** Absent: the EWMA, with the first 'adaptive' strategy's `volatility` decay if it has one. */
  readonly volatility?: VolatilityConfig;
  /** The impact model fitted to our own fills (src/engine/impact-observer.ts); absent: its defaults. */
  readonly impact?: ImpactFitConfig;
}

/**
 * The market-impact fit on the engine's own fills (src/engine/impact-observer.ts, src/models/impact.ts), whose eta
 * 'almgren-chriss' takes where its config gives none. Every field optional.
 */
export interface ImpactFitConfig {
  /**
   * Seconds of the market's event time after an order's last fill at which its mark is read as the price after
   * (the temporary impact has decayed by then), >= 0. Default 30 (ours: three of the venue simulator's 10 s
   * resilience half-lives).
   */
  readonly delaySec?: number;
  /**
   * Seconds an order's quantity is charged over at least, > 0: an order that filled sooner (an IOC fills in the
   * venue's latency) counts as traded at quantity / minDurationSec, so that eta is that of a child sent once every
   * minDurationSec. Set it to the stepSec of the 'almgren-chriss' schedule that reads the fitted eta. Default 1
   * (ours: the eta of trading a quantity in one second).
   */
  readonly minDurationSec?: number;
  /** Observations the fit uses, the most recent; an integer >= 3. Default 500. */
  readonly window?: number;
  /** New observations between refits, an integer >= 1. Default 20. */
  readonly refitEvery?: number;
  /** Observations before the first fit, an integer in [3, window]. Default 30. */
  readonly minFills?: number;
}

/** Checks an impact fit config (INVALID_CONFIG naming the field); returns the fields given (the observer fills in defaults). */
function validateImpactFit(c: ImpactFitConfig, field: string): ImpactFitConfig {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new UnwindError(ErrorCode.InvalidConfig, 'expected { delaySec?, minDurationSec?, window?, refitEvery?, minFills? }', field);
  const check = configNumbers(c, field);
  const integer = (min: number) => (v: number) => Number.isInteger(v) && v >= min && v <= 0x7fffffff;
  if (c.delaySec !== undefined) check('delaySec', (v) => v >= 0 && v <= MAX_TIME_US / 1e6, 'seconds >= 0');
  if (c.minDurationSec !== undefined) check('minDurationSec', (v) => v > 0 && v <= MAX_TIME_US / 1e6, 'seconds > 0');
  if (c.window !== undefined) check('window', integer(3), 'an integer in [3, 2^31)');
  if (c.refitEvery !== undefined) check('refitEvery', integer(1), 'an integer in [1, 2^31)');
  // Against the default window, src/models/impact.ts validateImpactConfig checks it when the engine starts.
  if (c.minFills !== undefined) check('minFills', (v) => integer(3)(v) && v <= (c.window ?? Infinity), 'an integer in [3, window]');
  const out: { -readonly [K in keyof ImpactFitConfig]: number } = {};
  for (const k of ['delaySec', 'minDurationSec', 'window', 'refitEvery', 'minFills'] as const) if (c[k] !== undefined) out[k] = c[k];
  return out;
}

export const DEFAULT_EXECUTION: ExecutionConfig = { strategy: { kind: 'ioc' } };

/** Checks an execution config (INVALID_CONFIG naming the field under `execution`); returns it with size classes in ascending order. */
export function validateExecution(c: ExecutionConfig, field = 'execution'): ExecutionConfig {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new UnwindError(ErrorCode.InvalidConfig, 'expected { strategy, sizeClasses?, markets? }', field);
  const choice = (x: StrategyChoice, at: string): StrategyChoice => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new UnwindError(ErrorCode.InvalidConfig, 'expected { strategy, sizeClasses? }', at);
    const strategy = validateStrategy(x.strategy, `${at}.strategy`);
    if (x.sizeClasses === undefined) return { strategy };
    if (!Array.isArray(x.sizeClasses) || x.sizeClasses.length > 16) throw new UnwindError(ErrorCode.InvalidConfig, 'expected an array of at most 16 { minNotional, strategy }', `${at}.sizeClasses`);
    const classes = x.sizeClasses.map((k, i) => {
      const f = `${at}.sizeClasses[${i}]`;
      if (k === null || typeof k !== 'object') throw new UnwindError(ErrorCode.InvalidConfig, 'expected { minNotional, strategy }', f);
      configNumbers(k, f)('minNotional', (v) => v > 0 && Number.isFinite(v), 'a finite number > 0 (quote)');
      return { minNotional: k.minNotional, strategy: validateStrategy(k.strategy, `${f}.strategy`) };
    });
    return { strategy, sizeClasses: classes.sort((p, q) => p.minNotional - q.minNotional) };
  };
  const top = choice(c, field);
  let markets: ({ market: number } & StrategyChoice)[] | undefined;
  if (c.markets !== undefined) {
    if (!Array.isArray(c.markets) || c.markets.length > 1_000_000) throw new UnwindError(ErrorCode.InvalidConfig, 'expected an array of { market, strategy, sizeClasses? }', `${field}.markets`);
    const seen = new Set<number>();
    markets = c.markets.map((m, i) => {
      const f = `${field}.markets[${i}]`;
      const ch = choice(m, f);
      const market = m.market;
      if (typeof market !== 'number' || !Number.isInteger(market) || market < 0 || market > 0xffffffff) throw new UnwindError(ErrorCode.InvalidConfig, `expected a market id, got ${String(market)}`, `${f}.market`);
      if (seen.has(market)) throw new UnwindError(ErrorCode.InvalidConfig, `market ${market} is listed twice`, `${f}.market`);
      seen.add(market);
      return { market, ...ch };
    });
    markets.sort((p, q) => p.market - q.market);
  }
  const impact = c.impact === undefined ? {} : { impact: validateImpactFit(c.impact, `${field}.impact`) };
  if (c.volatility === undefined) return markets === undefined ? { ...top, ...impact } : { ...top, markets, ...impact };
  // One volatility setting: beside execution.volatility, an adaptive strategy's own (the older form) would be overruled.
  const choices: [StrategyChoice, string][] = [[c, field], ...(c.markets ?? []).map((m, i): [StrategyChoice, string] => [m, `${field}.markets[${i}]`])];
  for (const [x, at] of choices) {
    const specs: [StrategySpec, string][] = [[x.strategy, `${at}.strategy`], ...(x.sizeClasses ?? []).map((k, i): [StrategySpec, string] => [k.strategy, `${at}.sizeClasses[${i}].strategy`])];
    for (const [s, f] of specs) {
      if (s.kind === 'adaptive' && s.volatility !== undefined) {
        throw new UnwindError(ErrorCode.InvalidConfig, `expected no volatility here beside ${field}.volatility (set the EWMA's decay in ${field}.volatility.ewma)`, `${f}.volatility`);
      }
    }
  }
  const volatility = validateVolatility(c.volatility, `${field}.volatility`);
  return markets === undefined ? { ...top, volatility, ...impact } : { ...top, markets, volatility, ...impact };
}

/** Checks a volatility config (INVALID_CONFIG naming the field); returns it with intervalSec and the given models' configs filled in. */
function validateVolatility(v: VolatilityConfig, field: string): VolatilityConfig {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UnwindError(ErrorCode.InvalidConfig, "expected { model: 'ewma' | 'garch' | 'har', intervalSec?, ewma?, garch?, har? }", field);
  if (!VOLATILITY_MODELS.includes(v.model)) throw new UnwindError(ErrorCode.InvalidConfig, `expected 'ewma', 'garch' or 'har', got ${describe(v.model)}`, `${field}.model`);
  const intervalSec: unknown = v.intervalSec ?? DEFAULT_VOLATILITY_INTERVAL_SEC;
  if (typeof intervalSec !== 'number' || !(intervalSec > 0) || !Number.isSafeInteger(intervalSec * 1e6)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected seconds > 0 in whole microseconds, got ${describe(intervalSec)}`, `${field}.intervalSec`);
  }
  // Each model's own validator fills in its defaults and names a bad field under this path.
  const part = <C>(name: 'ewma' | 'garch' | 'har', validate: (given: Partial<C>, at: string) => C): Record<string, C> => {
    const given: unknown = v[name];
    if (given === undefined) return {};
    if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new UnwindError(ErrorCode.InvalidConfig, `expected an object, got ${describe(given)}`, `${field}.${name}`);
    return { [name]: validate(given as Partial<C>, `${field}.${name}`) };
  };
  return { model: v.model, intervalSec, ...part('ewma', validateEwmaConfig), ...part('garch', validateGarchConfig), ...part('har', validateHarConfig) };
}

function validateStrategy(s: StrategySpec, field: string): StrategySpec {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new UnwindError(ErrorCode.InvalidConfig, "expected { kind: 'ioc' | 'twap' | 'disposal' | 'almgren-chriss' | 'dutch-auction' | 'backstop' | 'adaptive', ... }", field);
  const check = configNumbers(s, field) as (name: string, ok: (v: number) => boolean, expected: string) => void;
  const positive = (name: string): void => check(name, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
  // An optional share of the book, in (0, 1]; absent stays absent (no cap).
  const share = <K extends string>(v: number | undefined, name: K): Partial<Record<K, number>> => {
    if (v === undefined) return {};
    check(name, (x) => x > 0 && x <= 1, 'a share of the book in (0, 1]');
    return { [name]: v } as Partial<Record<K, number>>;
  };
  switch (s.kind) {
    case 'ioc':
      return { kind: 'ioc' };
    case 'twap':
      positive('horizonSec');
      positive('stepSec');
      return { kind: 'twap', horizonSec: s.horizonSec, stepSec: s.stepSec, ...share(s.maxParticipation, 'maxParticipation') };
    case 'disposal':
      positive('stepSec');
      check('fraction', (v) => v > 0 && v <= 1, 'a fraction in (0, 1]');
      check('fullDisposalSize', (v) => v >= 0 && Number.isFinite(v), 'a finite number >= 0 (base units)');
      return { kind: 'disposal', stepSec: s.stepSec, fraction: s.fraction, fullDisposalSize: s.fullDisposalSize, ...share(s.maxFractionOfBook, 'maxFractionOfBook') };
    case 'almgren-chriss':
      positive('horizonSec');
      positive('stepSec');
      check('lambda', (v) => v >= 0 && Number.isFinite(v), 'a finite number >= 0');
      if (s.sigma !== undefined) check('sigma', (v) => v >= 0 && Number.isFinite(v), 'a finite number >= 0, or absent for the market estimate');
      if (s.eta !== undefined) check('eta', (v) => v > 0 && Number.isFinite(v), 'a finite number > 0, or absent for the market fit');
      return {
        kind: 'almgren-chriss',
        horizonSec: s.horizonSec,
        stepSec: s.stepSec,
        ...share(s.maxParticipation, 'maxParticipation'),
        lambda: s.lambda,
        ...(s.sigma === undefined ? {} : { sigma: s.sigma }),
        ...(s.eta === undefined ? {} : { eta: s.eta }),
      };
    case 'dutch-auction': {
      positive('stepSec');
      check('buf', (v) => v >= 1 && Number.isFinite(v), 'a finite number >= 1 (MakerDAO buf: the start price over the oracle)');
      positive('tailSec');
      check('cusp', (v) => v >= 0 && v < 1, 'a fraction in [0, 1)');
      const d = s.decrease;
      const at = `${field}.decrease`;
      if (d === null || typeof d !== 'object') throw new UnwindError(ErrorCode.InvalidConfig, "expected { kind: 'linear', tauSec } or { kind: 'stairstep', stepSec, cut }", at);
      const dc = configNumbers(d, at) as (name: string, ok: (v: number) => boolean, expected: string) => void;
      let decrease: typeof d;
      if (d.kind === 'linear') {
        dc('tauSec', (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
        decrease = { kind: 'linear', tauSec: d.tauSec };
      } else if (d.kind === 'stairstep') {
        dc('stepSec', (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
        dc('cut', (v) => v > 0 && v <= 1, 'a factor in (0, 1]');
        decrease = { kind: 'stairstep', stepSec: d.stepSec, cut: d.cut };
      } else throw new UnwindError(ErrorCode.InvalidConfig, `expected 'linear' or 'stairstep', got ${String((d as { kind: unknown }).kind)}`, `${at}.kind`);
      return { kind: 'dutch-auction', stepSec: s.stepSec, buf: s.buf, decrease, tailSec: s.tailSec, cusp: s.cusp };
    }
    case 'backstop': {
      const vault = s.vault;
      if (typeof vault !== 'number' || !Number.isInteger(vault) || vault < 0 || vault > 0xffffffff) throw new UnwindError(ErrorCode.InvalidConfig, `expected an account id, got ${String(vault)}`, `${field}.vault`);
      if (s.discount !== undefined) check('discount', (v) => v >= 0 && v < 0.5, 'a fraction in [0, 0.5)');
      if (s.minVaultHealth !== undefined) check('minVaultHealth', (v) => v >= 1 && Number.isFinite(v), 'a finite health >= 1');
      return { kind: 'backstop', vault, discount: s.discount ?? 0, minVaultHealth: s.minVaultHealth ?? 1.5 };
    }
    case 'adaptive': {
      positive('horizonSec');
      check('maxCrossProbability', (v) => v > 0 && v < 1, 'a probability in (0, 1)');
      const patient = validateStrategy(s.patient, `${field}.patient`);
      if (patient.kind === 'ioc' || patient.kind === 'adaptive' || patient.kind === 'backstop') throw new UnwindError(ErrorCode.InvalidConfig, `expected a stepped strategy, got '${patient.kind}'`, `${field}.patient.kind`);
      let urgent: { readonly kind: 'ioc' } | BackstopStrategy = { kind: 'ioc' };
      if (s.urgent !== undefined) {
        const u = validateStrategy(s.urgent, `${field}.urgent`);
        if (u.kind !== 'ioc' && u.kind !== 'backstop') throw new UnwindError(ErrorCode.InvalidConfig, `expected 'ioc' or 'backstop', got '${u.kind}'`, `${field}.urgent.kind`);
        urgent = u;
      }
      let volatility = s.volatility;
      if (volatility !== undefined) {
        const v = configNumbers(volatility, `${field}.volatility`) as (name: string, ok: (x: number) => boolean, expected: string) => void;
        v('lambda', (x) => x > 0 && x < 1, 'a decay in (0, 1)');
        v('intervalSec', (x) => x > 0 && Number.isFinite(x), 'a finite number > 0');
        volatility = { lambda: volatility.lambda, intervalSec: volatility.intervalSec };
      }
      return { kind: 'adaptive', patient, urgent, horizonSec: s.horizonSec, maxCrossProbability: s.maxCrossProbability, ...(volatility === undefined ? {} : { volatility }) };
    }
    default:
      throw new UnwindError(ErrorCode.InvalidConfig, `expected 'ioc', 'twap', 'disposal', 'almgren-chriss', 'dutch-auction', 'backstop' or 'adaptive', got ${String((s as { kind: unknown }).kind)}`, `${field}.kind`);
  }
}

export interface ExecutorConfig {
  /** Execution strategies: how a sized liquidation is spread over event time. */
  readonly execution: ExecutionConfig;
  /** Liquidation caps (src/executor/caps.ts); all Infinity turns them off. They run on the inputs' event time. */
  readonly caps: CapsConfig;
  /** The account lifecycle's margin-call hysteresis and liquidation exit buffer (src/executor/lifecycle.ts). */
  readonly lifecycle: Pick<LifecycleConfig, 'marginCallHysteresis' | 'exitBuffer'>;
  /** How much of a liquidatable group to close per step (docs/domain.md section 3; src/domain/sizing.ts). */
  readonly sizing: SizingPolicy;
  /** After a large position's step, event time before it is planned again (Hyperliquid: 30 s). */
  readonly stepDownCooldownUs: number;
  /** The liquidation fee policy: sizing keeps the target health after paying the fee cap. */
  readonly fees: FeePolicy;
  /** dYdX BA: scales how far the fillable price concedes as equity falls. Default 1. */
  readonly bankruptcyAdjustment: number;
  /** dYdX SMMR: the largest concession, as a fraction of the position's maintenance margin. Default 0.1. */
  readonly spreadToMaintenanceMarginRatio: number;
  /** Health below which a margin call is raised (> 1). Default 1.2. */
  readonly marginCallHealth: number;
}

// ---- the oracle (src/oracle) ----

/** The engine's clock rules (README "Oracle and mark price", "Clock"). */
export interface ClockPolicy {
  /** An input's event time may be at most this far ahead of the clock, once the engine has a clock input. Default 10 s. */
  readonly maxSkewUs: number;
  /** One clock reading moves the clock by at most this much. Default 60 s. */
  readonly maxStepUs: number;
}

export const DEFAULT_CLOCK_POLICY: ClockPolicy = { maxSkewUs: 10_000_000, maxStepUs: 60_000_000 };

/** Validates `config.clock`'s values (INVALID_CONFIG naming `clock.maxSkewUs` ...); its shape is resolveConfig's (checkShape). */
export function resolveClockPolicy(c: Partial<ClockPolicy> | undefined): ClockPolicy {
  const p = { ...DEFAULT_CLOCK_POLICY, ...c };
  const check = configNumbers(p, 'clock');
  check('maxSkewUs', (v) => v >= 0 && v <= MAX_TIME_US, 'microseconds in [0, MAX_TIME_US]');
  check('maxStepUs', (v) => v > 0 && v <= MAX_TIME_US, 'microseconds in (0, MAX_TIME_US]');
  return { maxSkewUs: p.maxSkewUs, maxStepUs: p.maxStepUs };
}

/** How a market's sources' quotes become one price (src/oracle/aggregate.ts). */
export interface AggregationPolicy {
  /** Quotes with eventTimeUs < nowUs - maxAgeUs are stale and ignored. >= 0; Infinity: never stale. */
  readonly maxAgeUs: number;
  /** Fewer fresh sources than this -> no aggregate. An integer >= 1. */
  readonly minFreshSources: number;
  /** Fresh prices further than this fraction from the weighted median of fresh prices are clamped to it. >= 0; Infinity: off. */
  readonly clampFraction: number;
}

/**
 * docs/domain.md section 5's references. Max age 10 s: Pyth counts a publisher's quote only if it was sent within the last
 * 25 slots (PC_MAX_SEND_LATENCY), about 10 s at 400 ms slots. Minimum 3 fresh sources: the fewest for which one bad
 * source is a strict minority that the median ignores. Clamp 2%: OKX's index clamps constituents outside median +- 2%.
 */
export const DEFAULT_AGGREGATION: AggregationPolicy = Object.freeze({
  maxAgeUs: 10_000_000,
  minFreshSources: 3,
  clampFraction: 0.02,
});

/** When a market's prices cannot be trusted and its liquidations pause (src/oracle/guards.ts). */
export interface GuardPolicy {
  /** The TWAP's window, microseconds of event time (> 0). */
  readonly twapWindowUs: number;
  /** Pause when |oracle - TWAP| > twapBand * TWAP. >= 0; Infinity: off. */
  readonly twapBand: number;
  /** Pause when confidence > maxConfidenceFraction * price. >= 0; Infinity: off. */
  readonly maxConfidenceFraction: number;
  /** A fresh source whose price has not changed for this long (microseconds, > 0) ... */
  readonly frozenAfterUs: number;
  /** ... while the oracle moved more than this fraction since the source last changed, is frozen. >= 0; Infinity: off. */
  readonly frozenMoveFraction: number;
}

/**
 * Drift's oracle guard rails: a 5-minute TWAP with a 50% band, and a confidence interval at most 2% of the price.
 * Frozen: 30 s without a change while the oracle moved 2% (the clamp's width: a move the clamp would hide).
 */
export const DEFAULT_GUARD_POLICY: GuardPolicy = Object.freeze({
  twapWindowUs: 300_000_000,
  twapBand: 0.5,
  maxConfidenceFraction: 0.02,
  frozenAfterUs: 30_000_000,
  frozenMoveFraction: 0.02,
});

/** The mark price's components (src/oracle/mark.ts says what each is). */
export const MARK_COMPONENTS = ['oracle-basis', 'book', 'oracle'] as const;
/** One component of the mark price. */
export type MarkComponent = (typeof MARK_COMPONENTS)[number];

/** How the mark price is composed (src/oracle/mark.ts). */
export interface MarkPolicy {
  /** The components whose median is the mark (src/oracle/mark.ts); default all three. */
  readonly components: readonly MarkComponent[];
  /** Time constant of the basis EMA, microseconds of event time (> 0). */
  readonly basisEmaUs: number;
  /** A book older than this (event time) is left out of the 'book' component. >= 0. */
  readonly bookMaxAgeUs: number;
  /** The mark stays within oracle * (1 +- maxDeviation). >= 0; Infinity: no clamp. */
  readonly maxDeviation: number;
}

/**
 * Hyperliquid's composition (median of oracle + 150 s EMA basis, the book's median(bid, ask, last), and the
 * oracle as the external reference). A book is fresh for 10 s, like a source's quote (src/oracle/aggregate.ts).
 * The 5% clamp is Unwind's choice, not a venue's figure (docs/domain.md section 5); it is wider than a normal perp
 * basis, and narrow enough that a pumped book cannot trigger liquidations on its own.
 */
export const DEFAULT_MARK_POLICY: MarkPolicy = Object.freeze({
  components: Object.freeze([...MARK_COMPONENTS]),
  basisEmaUs: 150_000_000,
  bookMaxAgeUs: 10_000_000,
  maxDeviation: 0.05,
});

/** A price source of an oracle market. */
export interface OracleSourceConfig {
  /** The source id its reports carry. */
  readonly id: number;
  /** Vote weight (Hyperliquid: Binance 3, OKX 2, Bybit 2, others 1). Default 1. */
  readonly weight?: number;
  /** Ed25519 public key: base64 of the raw 32 bytes, or PEM. Without one, the source can only report unsigned. */
  readonly publicKey?: string;
}

/** An oracle market: its sources, and how their reports become the oracle and mark prices. */
export interface OracleMarketConfig {
  /** The market id. */
  readonly market: number;
  /** Its price sources. */
  readonly sources: readonly OracleSourceConfig[];
  /** How reports aggregate into the oracle price; absent fields take DEFAULT_AGGREGATION's. */
  readonly aggregation?: Partial<AggregationPolicy>;
  /** When liquidations pause; absent fields take DEFAULT_GUARD_POLICY's. */
  readonly guards?: Partial<GuardPolicy>;
  /** How the mark price is composed; absent fields take DEFAULT_MARK_POLICY's. */
  readonly mark?: Partial<MarkPolicy>;
}

/** The oracle markets and their sources (src/oracle/oracle.ts resolves it: resolveOracleConfig). */
export interface OracleConfig {
  /**
   * 'required' (default): every report to an oracle market must be signed by its source's registered key.
   * 'off': unsigned reports are taken too (trusted in-process use); the engine says so with a process warning at
   * start, and its stats report it. Signed reports are verified either way.
   */
  readonly signatures?: 'required' | 'off';
  /** The oracle markets; markets not listed take direct prices. */
  readonly markets?: readonly OracleMarketConfig[];
}
