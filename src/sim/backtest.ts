/**
 * `unwind backtest`: the execution strategies (README "Execution strategies") against the venue simulator, on the
 * same seeded price paths and the same seeded book of accounts. For each scenario and seed, every strategy gets a
 * fresh engine (scanWorkers 0) and a fresh venue built from the same seed, so the strategies differ only in how
 * they put the liquidations on the book, and the book answers: their fills move the mid, the lower mid liquidates
 * more accounts. Deterministic: the report is a function of the options (no clock, no unseeded randomness).
 *
 * Time: one epoch per second of event time (more for a long CSV: at most MAX_EPOCHS per run), from T0, over the
 * scenario's path and a tail of TAIL_S in which the stepped strategies can finish. Orders execute 2 ms after the
 * epoch that sent them. The engines run the fillable price at dYdX mainnet's spreadToMaintenanceMarginRatio, 1.5
 * (world.ts SIM_SPREAD_TO_MAINTENANCE_MARGIN_RATIO), not the engine's default 0.1.
 *
 * Per strategy and seed (src/sim/tally.ts says how each is counted; a vault's takeover counts as a fill):
 *   shortfallBps       implementation shortfall against the arrival mark, notional-weighted over every parent
 *   badDebt            negative balances left on flat accounts + deficits of groups still holding positions
 *   insuranceDraw      what the insurance funds paid out for fills beyond bankruptcy
 *   adlCount, adlNotional   deleveragings (onDeleverage) and the quote they closed at the bankruptcy price
 *   timeToFlat         event time from a parent's first child to flat: median and max, seconds
 *   peakParticipation  the largest child over the book volume on its side within 1% of the mid (and
 *                      peakParticipationCapped: over the children decided at or above the emergency health)
 *   childOrders        liquidation orders sent
 *   left               liquidations still open at the end, and their notional at the mid
 *   emergencyShare     the share of the filled notional whose order was decided below the emergency health
 *   vaultTaken, vaultPnl   what the backstop vault took (quote at its price) and its equity's change by the end, at the mids
 * and, per strategy, its shortfall minus ioc's on the same seed (paired: the seeds' common noise cancels). After
 * the strategies, the models of src/models scored on the same runs (src/sim/model-eval.ts).
 */
import { ErrorCode, UnwindError } from '../errors.js';
import type { ExecutionConfig, StrategyKind, StrategySpec } from '../config-types.js';
import { Engine } from '../engine/engine.js';
import { compileTiers, initialMargin, type MarginTier, type TierSchedule } from '../domain/tiers.js';
import { VenueMatching, type MatchingStep } from './matching.js';
import { formatModels, modelsReport, ScenarioModels, type ModelsReport, type ScenarioModelsReport } from './model-eval.js';
import { mulberry32 } from './random.js';
import { ExecutionTally, moneySummary, openDeficits, seedInsurance, tallySettlements } from './tally.js';
import { Venue, YEAR_US, betaPath, bookParamsFor, cascadePath, flashCrashPath, flowParamsFor, gbmPath, mertonPath, readPricePathCsv, type PricePath } from './venue/index.js';
import { MARKETS, marketTiers, population, SIM_SPREAD_TO_MAINTENANCE_MARGIN_RATIO, VAULT_ACCOUNT, vaultAccount, type SimAccount } from './world.js';

export const SCENARIO_NAMES = ['gbm', 'jump', 'cascade', 'flash-crash'] as const;

/**
 * A strategy the backtest runs: a kind (README "Execution strategies") in the backtest's config, or a variant of
 * one: '-capped' with a participation cap, 'almgren-chriss-learned' with sigma and eta from the engine's models,
 * 'adaptive-backstop' with the vault as its urgent strategy.
 */
export type StrategyName = StrategyKind | 'twap-capped' | 'disposal-capped' | 'almgren-chriss-capped' | 'almgren-chriss-learned' | 'adaptive-backstop';
/** The strategies a default backtest compares. */
export const STRATEGY_KINDS: readonly StrategyName[] = ['ioc', 'twap', 'twap-capped', 'disposal', 'disposal-capped', 'almgren-chriss', 'almgren-chriss-capped', 'backstop'];
/** And the ones it can run when asked (`--strategies`). */
export const ALL_STRATEGY_KINDS: readonly StrategyName[] = [...STRATEGY_KINDS, 'almgren-chriss-learned', 'dutch-auction', 'adaptive', 'adaptive-backstop'];
/** The kinds the demos run (their world has no vault: a backstop would send everything to the book as 'ioc'). */
export const DEMO_STRATEGY_KINDS: readonly StrategyKind[] = ['ioc', 'twap', 'disposal', 'almgren-chriss', 'dutch-auction', 'adaptive'];

/** Event time of the first epoch: 2025-10-10 20:00 UTC, microseconds. */
export const T0 = 1_760_126_400_000_000;
const SECOND = 1_000_000;
/** After the path: time for the stepped strategies (60 s horizons) to finish. */
const TAIL_S = 120;
/** A run has at most this many epochs: a long CSV gets longer epochs. */
const MAX_EPOCHS = 3_600;
/** The venue: paths read every 100 ms, orders execute 2 ms after they are sent. */
export const VENUE_STEP_US = 100_000;
export const LATENCY_US = 2_000;
/** Quote within 1% of the mid on each side at full liquidity (bookParamsFor's default). */
const DEPTH_NOTIONAL = 5_000_000;

// ---- strategies ----

/** Every stepped strategy works a liquidation off over 60 s in steps of 5 s. */
const HORIZON_S = 60;
const STEP_S = 5;
/** The volatility Almgren-Chriss plans with: 80% a year. */
const PLAN_VOLATILITY = 0.8;
/** Almgren-Chriss's risk aversion is set so that kappa T = 2: about two thirds sold in the first half of the horizon. */
const KAPPA_T = 2;
/**
 * The '-capped' variants' share of the book volume within 1% of the mid (the depth the venue reports) that one
 * child may take: 10%, the share of the available volume Vega's liquidation-strategy spec takes as its example
 * (maxFractionConsumed). Below the emergency health no cap applies: the position closes at once.
 */
export const PARTICIPATION_CAP = 0.1;
/**
 * The backstop vault's discount to the oracle: 0.5%. Hyperliquid's vault keeps what equity an account below 2/3 of
 * maintenance has left, at most 2/3 of the maintenance margin: 0.67% of the notional at the 1% maintenance of the
 * first tier, where most positions are. The engine bounds it by the fillable price, which concedes at most 1.5 times
 * the position's maintenance (SIM_SPREAD_TO_MAINTENANCE_MARGIN_RATIO) times how far the group is below maintenance,
 * (1 - health): below health 1 - 0.005 / (1.5 x maintenance fraction) (0.73 for BTC's first tier) the discount binds.
 */
export const VAULT_DISCOUNT = 0.005;
/** The vault takes nothing that would leave its health below 1.5 (the engine's default). */
export const VAULT_MIN_HEALTH = 1.5;
/**
 * 'almgren-chriss-learned' reads sigma from GARCH(1,1) on one return of the mark per second, fitted first at 120
 * returns and then every 30 (as the models table scores it; the EWMA stands in before), and eta from the impact
 * model fitted on the engine's own fills (its defaults: first at 30 orders, the mark 30 s after), each order's
 * quantity charged over the schedule's step (src/engine/impact-observer.ts says why): an IOC fills in 2 ms, but the
 * schedule sends a child every STEP_S and reads eta as the cost of trading it over that step.
 */
const LEARNED_VOLATILITY = { model: 'garch', intervalSec: 1, garch: { window: 1_000, minReturns: 120, refitEvery: 30 } } as const;
const LEARNED_IMPACT = { minDurationSec: STEP_S } as const;

/**
 * The execution config each strategy runs with, the same in every market up to units: 'disposal' disposes whole
 * below 10,000 quote; Almgren-Chriss plans with sigma = 80% a year and eta = the average concession of sweeping the
 * book's 1% depth evenly in one second (0.005 p^2 / 5 M quote per base per base/second), in each market's price.
 * The '-capped' variants add a cap of PARTICIPATION_CAP of the reported depth per child (twap's and Almgren-Chriss's
 * maxParticipation, disposal's maxFractionOfBook). 'backstop' gives every liquidation to the world's vault
 * (VAULT_ACCOUNT) at VAULT_DISCOUNT below the oracle while its health stays above VAULT_MIN_HEALTH.
 * Not in the default comparison: 'almgren-chriss-learned' plans with the same lambda, sigma and eta learned
 * (LEARNED_VOLATILITY, LEARNED_IMPACT); 'dutch-auction' offers all of it from 2% above the oracle, 0.5% lower every
 * second (never past the fillable price); 'adaptive' runs the TWAP while the price is unlikely (5%) to cross the
 * group's bankruptcy level within 60 s (the engine's EWMA volatility), 'ioc' otherwise; 'adaptive-backstop' the
 * same with the vault instead of 'ioc'.
 */
export function executionFor(name: StrategyName): ExecutionConfig {
  const backstop = { kind: 'backstop', vault: VAULT_ACCOUNT, discount: VAULT_DISCOUNT, minVaultHealth: VAULT_MIN_HEALTH } as const;
  const twap = { kind: 'twap', horizonSec: HORIZON_S, stepSec: STEP_S } as const;
  const spec = (price: number): StrategySpec => {
    const almgrenChriss = (): StrategySpec & { kind: 'almgren-chriss' } => {
      const sigma = price * PLAN_VOLATILITY * Math.sqrt(SECOND / YEAR_US);
      const eta = (0.005 * price * price) / DEPTH_NOTIONAL;
      const kappa = KAPPA_T / HORIZON_S;
      return { kind: 'almgren-chriss', horizonSec: HORIZON_S, stepSec: STEP_S, sigma, eta, lambda: (kappa * kappa * eta) / (sigma * sigma) };
    };
    const disposal = { kind: 'disposal', stepSec: STEP_S, fraction: 0.5, fullDisposalSize: 10_000 / price } as const;
    const adaptive = { kind: 'adaptive', patient: twap, horizonSec: HORIZON_S, maxCrossProbability: 0.05 } as const;
    switch (name) {
      case 'ioc':
        return { kind: name };
      case 'twap':
        return twap;
      case 'twap-capped':
        return { ...twap, maxParticipation: PARTICIPATION_CAP };
      case 'disposal':
        return disposal;
      case 'disposal-capped':
        return { ...disposal, maxFractionOfBook: PARTICIPATION_CAP };
      case 'almgren-chriss':
        return almgrenChriss();
      case 'almgren-chriss-capped':
        return { ...almgrenChriss(), maxParticipation: PARTICIPATION_CAP };
      case 'almgren-chriss-learned': {
        const { sigma: _sigma, eta: _eta, ...learned } = almgrenChriss();
        return learned;
      }
      case 'dutch-auction':
        return { kind: name, stepSec: 1, buf: 1.02, decrease: { kind: 'stairstep', stepSec: 1, cut: 0.995 }, tailSec: HORIZON_S, cusp: 0.5 };
      case 'backstop':
        return backstop;
      case 'adaptive':
        return adaptive;
      case 'adaptive-backstop':
        return { ...adaptive, urgent: backstop };
      default:
        throw new UnwindError(ErrorCode.InvalidConfig, `expected one of ${ALL_STRATEGY_KINDS.join(', ')}, got ${String(name)}`, 'strategy');
    }
  };
  const config = { strategy: spec(MARKETS[0].price), markets: MARKETS.map((m) => ({ market: m.id, strategy: spec(m.price) })) };
  return name === 'almgren-chriss-learned' ? { ...config, volatility: LEARNED_VOLATILITY, impact: LEARNED_IMPACT } : config;
}

/** A strategy the demos run (`--strategy`): one of DEMO_STRATEGY_KINDS. */
export function strategyKind(name: string, field = 'strategy'): StrategyKind {
  if (!(DEMO_STRATEGY_KINDS as readonly string[]).includes(name)) throw new UnwindError(ErrorCode.InvalidConfig, `expected one of ${DEMO_STRATEGY_KINDS.join(', ')}, got ${JSON.stringify(name)}`, field);
  return name as StrategyKind;
}

/** A strategy the backtest runs (`--strategies`): one of ALL_STRATEGY_KINDS. */
export function strategyName(name: string, field = 'strategies'): StrategyName {
  if (!(ALL_STRATEGY_KINDS as readonly string[]).includes(name)) throw new UnwindError(ErrorCode.InvalidConfig, `expected one of ${ALL_STRATEGY_KINDS.join(', ')}, got ${JSON.stringify(name)}`, field);
  return name as StrategyName;
}

// ---- scenarios ----

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** The path's length; the run adds TAIL_S. */
  readonly durationS: number;
  readonly epochUs: number;
  /** The base path (BTC-USD's); the other markets follow it with their beta. */
  path(seed: number): PricePath;
}

const YEAR_S = YEAR_US / SECOND;

function builtin(name: (typeof SCENARIO_NAMES)[number]): Scenario {
  const startPrice = MARKETS[0].price;
  switch (name) {
    case 'gbm': {
      const sigma = 2;
      // A drift that takes the median path 10% down over the 20 minutes.
      const mu = Math.log(0.9) / (1_200 / YEAR_S) + (sigma * sigma) / 2;
      return { name, description: 'GBM, volatility 200% a year, 10% down over 20 minutes', durationS: 1_200, epochUs: SECOND, path: (seed) => gbmPath({ seed, startPrice, mu, sigma }) };
    }
    case 'jump': {
      const lambda = (4 * YEAR_S) / 1_200;
      const jumpMean = -0.03;
      const jumpStd = 0.02;
      // No compensating drift: the jumps are the crash, not noise around a martingale.
      const mu = lambda * (Math.exp(jumpMean + (jumpStd * jumpStd) / 2) - 1);
      const description = 'Merton jumps, 4 expected in 20 minutes of -3% +- 2% each, volatility 100% a year';
      return { name, description, durationS: 1_200, epochUs: SECOND, path: (seed) => mertonPath({ seed, startPrice, mu, sigma: 1, lambda, jumpMean, jumpStd }) };
    }
    case 'cascade': {
      const description = '2025-10-10 style: 22% down, 75% of it in a 6-minute cascade, depth down 92% at its peak, 30% rebound (2.5 h squeezed into 20 min)';
      const params = { startPrice, calmS: 60, leadInS: 180, cascadeS: 360, tailS: 240, reboundS: 360, liquidityHalfLifeS: 120 };
      return { name, description, durationS: 1_200, epochUs: SECOND, path: (seed) => cascadePath({ seed, ...params }) };
    }
    case 'flash-crash':
      return { name, description: '10% down in 60 s, 20 s at the bottom, all back in 180 s; depth down 95% at the bottom', durationS: 320, epochUs: SECOND, path: (seed) => flashCrashPath({ seed, startPrice }) };
  }
}

/** A scenario by name, or a CSV file of trades or candles (BTC-USD's returns, from the demo's BTC price). */
export function scenarioOf(nameOrFile: string): Scenario {
  if ((SCENARIO_NAMES as readonly string[]).includes(nameOrFile)) return builtin(nameOrFile as (typeof SCENARIO_NAMES)[number]);
  const csv = readPricePathCsv(nameOrFile);
  const durationS = Math.ceil(csv.endUs / SECOND);
  const epochUs = SECOND * Math.max(1, Math.ceil((durationS + TAIL_S) / MAX_EPOCHS));
  const path = betaPath(csv, { beta: 1, startPrice: MARKETS[0].price });
  const description = `${csv.rows} ${csv.kind} from ${nameOrFile}, ${durationS} s, returns applied from ${MARKETS[0].price}`;
  return { name: nameOrFile, description, durationS, epochUs, path: () => path };
}

// ---- the book of accounts ----

/** The initial margin fraction of a position of `notional` quote. */
function initialFraction(tiers: readonly MarginTier[], notional: number): number {
  return (tiers.find((t) => t.maxNotional === null || notional <= t.maxNotional) ?? tiers[tiers.length - 1]!).initialMarginFraction;
}

const SCHEDULES: readonly TierSchedule[] = MARKETS.map((m) => compileTiers(marketTiers(m.id)));

/**
 * The demo's population (src/sim/world.ts) and, one per 100 accounts (at least 4), whales: one cross position of
 * 250,000 to 2,500,000 quote (log-uniform) in a random market, 70% long, with collateral of 1 to 2.5 times its
 * initial margin. A whale is 5% to 50% of the book's 1% depth at full liquidity: its liquidation moves the price.
 * Margins are each market's own (world.ts `marketTiers`), and no account opens beyond its markets' most leverage:
 * collateral below the initial margin (cross, or an isolated position's) is raised to it.
 */
export function backtestBook(seed: number, accounts: number): SimAccount[] {
  const rand = mulberry32(derivedSeed(seed, 2));
  const initial = (p: { readonly market: number; readonly size: number; readonly entryPrice: number }): number => initialMargin(Math.abs(p.size) * p.entryPrice, SCHEDULES[p.market]!);
  const cents = (x: number): number => Math.ceil(x * 100) / 100;
  const book = population(rand, accounts).map((a) => {
    const positions = a.positions.map((p) => (p.isolatedCollateral === null ? p : { ...p, isolatedCollateral: Math.max(p.isolatedCollateral, cents(initial(p))) }));
    const cross = positions.reduce((sum, p) => sum + (p.isolatedCollateral === null ? initial(p) : 0), 0);
    return { id: a.id, collateral: Math.max(a.collateral, cents(cross)), positions };
  });
  const whales = Math.max(4, Math.floor(accounts / 100));
  for (let w = 1; w <= whales; w++) {
    const m = MARKETS[Math.min(MARKETS.length - 1, Math.floor(rand() * MARKETS.length))]!;
    const usd = 250_000 * 10 ** rand();
    const size = ((rand() < 0.7 ? 1 : -1) * usd) / m.price;
    const collateral = Math.round(usd * initialFraction(marketTiers(m.id), usd) * (1 + 1.5 * rand()) * 100) / 100;
    book.push({ id: accounts + w, collateral, positions: [{ market: m.id, size, entryPrice: m.price, isolatedCollateral: null }] });
  }
  return book;
}

/** Independent streams from one seed: the path, the book and the venue's flow never share draws. */
function derivedSeed(seed: number, stream: number): number {
  return (Math.imul(seed ^ 0x2545f491, 0x9e3779b1) + Math.imul(stream, 0x85ebca6b)) >>> 0;
}

// ---- one run ----

export interface RunMetrics {
  readonly seed: number;
  readonly shortfallBps: number;
  /** badDebtFlat + openDeficits, quote. */
  readonly badDebt: number;
  /** Negative balances on accounts with no position left (each named by an UnresolvedDeficit event). */
  readonly badDebtFlat: number;
  /** Negative equity of groups still holding a position at the end. */
  readonly openDeficits: number;
  readonly insuranceDraw: number;
  readonly adlCount: number;
  readonly adlNotional: number;
  readonly timeToFlatP50S: number;
  readonly timeToFlatMaxS: number;
  readonly peakParticipation: number;
  /** Over the children decided at or above the emergency health: those a participation cap applies to. */
  readonly peakParticipationCapped: number;
  readonly childOrders: number;
  /** Liquidations (parents): flat, restored (healthy again with part of the position), left open at the end. */
  readonly parents: number;
  readonly flat: number;
  readonly restored: number;
  readonly left: number;
  readonly leftNotional: number;
  /** Quote filled at the venue. */
  readonly notionalFilled: number;
  /** Fills or expiries the engine refused: 0 unless the matching engine has a bug. */
  readonly refused: number;
  /** The share of the filled notional (venue fills and takeovers) whose order was decided below the emergency health. */
  readonly emergencyShare: number;
  /** Takeovers by the vault, and the quote it took at its price. */
  readonly takeovers: number;
  readonly vaultTaken: number;
  /** The vault's equity at the end (its positions at the venue's mids) less its collateral at the start, quote. */
  readonly vaultPnl: number;
  /** The vault's positions at the end, quote at the mids: the risk it still holds. */
  readonly vaultHeld: number;
  /** BTC-USD's mid at the end. */
  readonly finalMid: number;
}

/** The first seed's run over time, for the SVG: seconds from T0, open liquidation inventory (quote), BTC-USD's mid. */
export interface Series {
  readonly tS: number[];
  readonly inventory: number[];
  readonly mid: number[];
}

/** What a caller (a test) may watch of one run: every step, and the engine and tallies before the engine closes. */
export interface RunHooks {
  /** Record the series for the SVG. */
  readonly record?: boolean;
  /** Once the world is loaded, before the first epoch: subscribe to the engine's events here. */
  readonly onStart?: (engine: Engine) => void;
  readonly onStep?: (step: MatchingStep, venue: Venue) => void;
  readonly onEnd?: (engine: Engine, execution: ExecutionTally, book: readonly SimAccount[]) => void;
}

/**
 * One scenario, strategy and seed: a fresh engine and venue, every epoch of the path and its tail. The book's
 * accounts and the vault (world.ts `vaultAccount`, in every run: only 'backstop' strategies use it) are the engine's.
 */
export async function runOnce(scenario: Scenario, kind: StrategyName, seed: number, accounts: number, hooks: RunHooks = {}): Promise<{ metrics: RunMetrics; series?: Series }> {
  const book = backtestBook(seed, accounts);
  const vault = vaultAccount(book);
  const base = scenario.path(derivedSeed(seed, 1));
  const venue = new Venue({
    seed: derivedSeed(seed, 3),
    stepUs: VENUE_STEP_US,
    latencyUs: LATENCY_US,
    startUs: T0,
    markets: MARKETS.map((m) => ({ id: m.id, path: betaPath(base, { beta: m.beta, startPrice: m.price }), book: bookParamsFor(m.price), flow: flowParamsFor(m.price) })),
  });
  const engine = await Engine.start({
    scanWorkers: 0,
    autoEpoch: false,
    capacity: { markets: MARKETS.length, accounts: book.length + 1, positions: (book.length + 1) * MARKETS.length },
    spreadToMaintenanceMarginRatio: SIM_SPREAD_TO_MAINTENANCE_MARGIN_RATIO,
    execution: executionFor(kind),
  });
  try {
    for (const m of MARKETS) engine.addMarket({ id: m.id, symbol: m.symbol, price: m.price, tiers: marketTiers(m.id) });
    seedInsurance(engine);
    for (const a of [...book, vault]) {
      engine.addAccount(a.id, a.collateral);
      for (const p of a.positions) engine.upsertPosition({ account: a.id, ...p });
    }
    const money = tallySettlements(engine);
    const execution = new ExecutionTally(engine);
    hooks.onStart?.(engine);
    const matching = new VenueMatching(engine, venue);
    const mid = (m: number): number => venue.mid(m);
    const series: Series | undefined = hooks.record === true ? { tS: [], inventory: [], mid: [] } : undefined;
    let refused = 0;
    const epochs = Math.ceil(((scenario.durationS + TAIL_S) * SECOND) / scenario.epochUs);
    for (let k = 0; k <= epochs; k++) {
      const t = T0 + k * scenario.epochUs;
      execution.at(t);
      const step = await matching.step(t);
      hooks.onStep?.(step, venue);
      refused += step.refused.length;
      for (const c of step.children) execution.child(c);
      if (series !== undefined) {
        series.tS.push((t - T0) / SECOND);
        series.inventory.push(execution.openInventory(mid));
        series.mid.push(venue.mid(0));
      }
    }
    const ids = [...book, vault].map((a) => a.id);
    const x = execution.summary(mid);
    const s = moneySummary(engine, money, ids);
    const deficits = openDeficits(engine, ids);
    const v = engine.account(vault.id);
    hooks.onEnd?.(engine, execution, book);
    const metrics: RunMetrics = {
      seed,
      shortfallBps: x.shortfallBps,
      badDebt: s.badDebt + deficits,
      badDebtFlat: s.badDebt,
      openDeficits: deficits,
      insuranceDraw: s.insuranceCover,
      adlCount: x.adlCount,
      adlNotional: x.adlNotional,
      timeToFlatP50S: x.timeToFlatS.p50,
      timeToFlatMaxS: x.timeToFlatS.max,
      peakParticipation: x.peakParticipation,
      peakParticipationCapped: x.peakParticipationCapped,
      childOrders: x.childOrders,
      parents: x.parents,
      flat: x.flat,
      restored: x.restored,
      left: x.left,
      leftNotional: x.leftNotional,
      notionalFilled: s.notionalLiquidated,
      refused,
      finalMid: venue.mid(0),
      emergencyShare: x.emergencyShare,
      takeovers: x.takeovers,
      vaultTaken: x.takenNotional,
      vaultPnl: v.equity - vault.collateral,
      vaultHeld: v.positions.reduce((sum, p) => sum + Math.abs(p.size) * mid(p.market), 0),
    };
    return series === undefined ? { metrics } : { metrics, series };
  } finally {
    await engine.close();
  }
}

// ---- the backtest ----

export interface BacktestOptions {
  /** Scenario names or CSV files (default: the four built-in ones). */
  readonly scenarios?: readonly string[];
  readonly strategies?: readonly StrategyName[];
  /** Seeds firstSeed, firstSeed + 1, ... (default 3 from 1). */
  readonly seeds?: number;
  readonly firstSeed?: number;
  /** Accounts of the demo's population (default 2,000), plus one whale per 100. */
  readonly accounts?: number;
  /** Before each run (`done` runs finished, `label` the next one) and once at the end. */
  readonly progress?: (done: number, total: number, label: string) => void;
}

export interface Stat {
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly stddev: number;
}

export type MetricName = Exclude<keyof RunMetrics, 'seed'>;

export interface StrategyResult {
  readonly strategy: StrategyName;
  readonly runs: readonly RunMetrics[];
  /** Over the seeds; stddev is the population's (divided by n). */
  readonly stats: Readonly<Record<MetricName, Stat>>;
  /**
   * Shortfall minus ioc's on the same seed (same paths, same book), over the seeds: the seeds' common noise cancels.
   * Absent when ioc did not run.
   */
  readonly shortfallVersusIoc?: Stat;
}

export interface BacktestReport {
  readonly settings: {
    readonly seeds: readonly number[];
    readonly accounts: number;
    readonly whales: number;
    readonly latencyUs: number;
    readonly venueStepUs: number;
    readonly tailS: number;
    /** The vault's account and collateral (the same in every run of a seed: VAULT_SHARE of the book's notional, per seed). */
    readonly vault: { readonly account: number; readonly collateral: readonly number[] };
    readonly strategies: Readonly<Record<string, ExecutionConfig>>;
  };
  readonly scenarios: readonly {
    readonly name: string;
    readonly description: string;
    readonly durationS: number;
    readonly epochS: number;
    readonly results: readonly StrategyResult[];
  }[];
  /** The models of src/models scored on these runs (src/sim/model-eval.ts). */
  readonly models: ModelsReport;
}

/** Per scenario, then strategy: the first seed's series. */
export type BacktestSeries = Map<string, Map<StrategyName, Series>>;

export async function runBacktest(o: BacktestOptions = {}): Promise<{ report: BacktestReport; series: BacktestSeries }> {
  const scenarios = (o.scenarios ?? SCENARIO_NAMES).map(scenarioOf);
  const strategies = o.strategies ?? STRATEGY_KINDS;
  const count = o.seeds ?? 3;
  const accounts = o.accounts ?? 2_000;
  if (!Number.isInteger(count) || count < 1) throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer >= 1, got ${String(count)}`, 'seeds');
  if (!Number.isInteger(accounts) || accounts < 1) throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer >= 1, got ${String(accounts)}`, 'accounts');
  if (strategies.length === 0) throw new UnwindError(ErrorCode.InvalidConfig, 'expected at least one strategy', 'strategies');
  const seeds = Array.from({ length: count }, (_, i) => (o.firstSeed ?? 1) + i);
  const total = scenarios.length * strategies.length * seeds.length;
  const series: BacktestSeries = new Map();
  let done = 0;
  const results = [];
  const models: ScenarioModelsReport[] = [];
  // The venue's permanent impact per market, as runOnce configures its books: what the impact fit should find; and
  // the temporary impact of sweeping a full book, half its slope near the mid, charged over a step.
  const modelMarkets = MARKETS.map((m) => {
    const book = bookParamsFor(m.price);
    return { id: m.id, symbol: m.symbol, gamma: book.gamma, bookEta: (book.tick / book.depth0 / 2) * STEP_S };
  });
  for (const sc of scenarios) {
    const perStrategy: StrategyResult[] = [];
    const scSeries = new Map<StrategyName, Series>();
    series.set(sc.name, scSeries);
    const scModels = new ScenarioModels(modelMarkets, sc.epochUs, STEP_S);
    for (const kind of strategies) {
      const runs: RunMetrics[] = [];
      for (const seed of seeds) {
        o.progress?.(done, total, `${sc.name} ${kind} seed ${seed}`);
        const observer = scModels.observer();
        const r = await runOnce(sc, kind, seed, accounts, { record: seed === seeds[0], onStep: (step, venue) => observer.step(step, venue) });
        // Volatility on the first strategy's runs only: the others see nearly the same mids.
        scModels.add(observer, kind === strategies[0]);
        runs.push(r.metrics);
        if (r.series !== undefined) scSeries.set(kind, r.series);
        done++;
      }
      perStrategy.push({ strategy: kind, runs, stats: statsOf(runs) });
    }
    const ioc = perStrategy.find((r) => r.strategy === 'ioc');
    if (ioc !== undefined) {
      perStrategy.forEach((r, i) => (perStrategy[i] = { ...r, shortfallVersusIoc: statOf(r.runs.map((x, j) => x.shortfallBps - ioc.runs[j]!.shortfallBps)) }));
    }
    results.push({ name: sc.name, description: sc.description, durationS: sc.durationS, epochS: sc.epochUs / SECOND, results: perStrategy });
    models.push(scModels.report(sc.name, strategies[0]!));
  }
  o.progress?.(done, total, 'done');
  const report: BacktestReport = {
    settings: {
      seeds,
      accounts,
      whales: Math.max(4, Math.floor(accounts / 100)),
      latencyUs: LATENCY_US,
      venueStepUs: VENUE_STEP_US,
      tailS: TAIL_S,
      vault: { account: VAULT_ACCOUNT, collateral: seeds.map((seed) => vaultAccount(backtestBook(seed, accounts)).collateral) },
      strategies: Object.fromEntries(strategies.map((k) => [k, executionFor(k)])),
    },
    scenarios: results,
    models: modelsReport(MARKETS[0].symbol, STEP_S, models),
  };
  return { report, series };
}

function statsOf(runs: readonly RunMetrics[]): Record<MetricName, Stat> {
  const names = Object.keys(runs[0]!).filter((k) => k !== 'seed') as MetricName[];
  return Object.fromEntries(names.map((name) => [name, statOf(runs.map((r) => r[name]))])) as Record<MetricName, Stat>;
}

function statOf(xs: readonly number[]): Stat {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const stddev = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { mean, min: Math.min(...xs), max: Math.max(...xs), stddev };
}

// ---- the table and the SVG ----

/** 1234567 -> '1.23M', 43018 -> '43.0k', 12.3 -> '12.3'. */
function quote(x: number): string {
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return a >= 100 || x === 0 ? x.toFixed(0) : x.toFixed(1);
}

interface Column {
  readonly title: string;
  readonly metric: MetricName;
  readonly show: (x: number) => string;
}

const percent = (x: number): string => `${(100 * x).toFixed(0)}%`;

const COLUMNS: readonly Column[] = [
  { title: 'shortfall bps', metric: 'shortfallBps', show: (x) => x.toFixed(1) },
  { title: 'bad debt', metric: 'badDebt', show: quote },
  { title: 'fund draw', metric: 'insuranceDraw', show: quote },
  { title: 'ADL n', metric: 'adlCount', show: (x) => x.toFixed(x % 1 === 0 ? 0 : 1) },
  { title: 'ADL notional', metric: 'adlNotional', show: quote },
  { title: 'to flat p50 s', metric: 'timeToFlatP50S', show: (x) => x.toFixed(1) },
  { title: 'to flat max s', metric: 'timeToFlatMaxS', show: (x) => x.toFixed(0) },
  { title: 'peak particip.', metric: 'peakParticipation', show: (x) => `${(100 * x).toFixed(x < 0.1 ? 2 : 0)}%` },
  { title: 'above emerg.', metric: 'peakParticipationCapped', show: (x) => `${(100 * x).toFixed(x < 0.1 ? 2 : 0)}%` },
  { title: 'children', metric: 'childOrders', show: (x) => x.toFixed(0) },
  { title: 'left', metric: 'left', show: (x) => x.toFixed(x % 1 === 0 ? 0 : 1) },
  { title: 'filled below emerg.', metric: 'emergencyShare', show: percent },
];

/** Shown for a scenario where any strategy uses the vault. */
const VAULT_COLUMNS: readonly Column[] = [
  { title: 'vault took', metric: 'vaultTaken', show: quote },
  { title: 'vault PnL', metric: 'vaultPnl', show: quote },
];

/** Whether strategy `name` gives work to the vault. */
export function usesVault(name: StrategyName): boolean {
  return name === 'backstop' || name === 'adaptive-backstop';
}

/**
 * The report as tables: per scenario, a row per strategy, each cell the mean over seeds and +- its stddev, and the
 * shortfall's difference to ioc's on the same seeds; the vault's columns where a strategy uses it.
 */
export function formatBacktest(r: BacktestReport): string {
  const s = r.settings;
  const seeds = s.seeds.length === 1 ? `seed ${s.seeds[0]}` : `seeds ${s.seeds[0]}..${s.seeds.at(-1)}`;
  const lines = [
    `backtest: ${s.accounts.toLocaleString('en-US')} accounts + ${s.whales} whales, ${seeds}; orders execute ${s.latencyUs / 1000} ms after their epoch; mean +- stddev over seeds`,
  ];
  const show = (st: Stat, f: (x: number) => string, n: number, g = f): string => (st.stddev === 0 || n === 1 ? f(st.mean) : `${f(st.mean)} +-${g(st.stddev)}`);
  const signed = (x: number): string => `${x > 0 ? '+' : ''}${x.toFixed(1)}`;
  for (const sc of r.scenarios) {
    const versus = sc.results.some((x) => x.shortfallVersusIoc !== undefined);
    const columns = sc.results.some((x) => usesVault(x.strategy)) ? [...COLUMNS, ...VAULT_COLUMNS] : COLUMNS;
    const head = ['strategy', columns[0]!.title, ...(versus ? ['vs ioc bps'] : []), ...columns.slice(1).map((c) => c.title)];
    const rows = sc.results.map((res) => {
      const cells = columns.map((c) => show(res.stats[c.metric], c.show, res.runs.length));
      const vs = res.shortfallVersusIoc === undefined ? '' : res.strategy === 'ioc' ? '-' : show(res.shortfallVersusIoc, signed, res.runs.length, (x) => x.toFixed(1));
      return [res.strategy, cells[0]!, ...(versus ? [vs] : []), ...cells.slice(1)];
    });
    const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ');
    lines.push('', `${sc.name}: ${sc.description} (+${s.tailS} s, epochs of ${sc.epochS} s)`, line(head), ...rows.map(line));
  }
  lines.push('', formatModels(r.models, seeds));
  return lines.join('\n');
}

const COLORS: Readonly<Record<StrategyName, string>> = {
  ioc: '#1f77b4',
  twap: '#ff7f0e',
  'twap-capped': '#ffbb78',
  disposal: '#2ca02c',
  'disposal-capped': '#98df8a',
  'almgren-chriss': '#d62728',
  'almgren-chriss-capped': '#ff9896',
  'almgren-chriss-learned': '#bcbd22',
  'dutch-auction': '#9467bd',
  backstop: '#e377c2',
  adaptive: '#8c564b',
  'adaptive-backstop': '#c49c94',
};

/**
 * A hand-built SVG: a panel per scenario, the first seed's open liquidation inventory per strategy (solid, left axis,
 * quote) and BTC-USD's mid under that strategy (dashed, right axis) over event time.
 */
export function backtestSvg(r: BacktestReport, series: BacktestSeries): string {
  const W = 900;
  const H = 260;
  const pad = { left: 70, right: 80, top: 30, bottom: 36 };
  const kinds = [...new Set(r.scenarios.flatMap((sc) => sc.results.map((x) => x.strategy)))];
  // Keys in rows of 5 above the title line.
  const keyRows = Math.ceil(kinds.length / 5);
  const legend = 30 + 14 * keyRows;
  const out: string[] = [];
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  r.scenarios.forEach((sc, i) => {
    const lines = [...(series.get(sc.name) ?? new Map<StrategyName, Series>())];
    if (lines.length === 0) return;
    const y0 = legend + i * H;
    const tMax = Math.max(...lines.map(([, s]) => s.tS.at(-1) ?? 0), 1);
    const invMax = Math.max(...lines.flatMap(([, s]) => s.inventory), 1);
    const mids = lines.flatMap(([, s]) => s.mid);
    const midLo = Math.min(...mids);
    const midHi = Math.max(...mids, midLo * 1.0001);
    const x = (t: number): number => pad.left + ((W - pad.left - pad.right) * t) / tMax;
    const yInv = (v: number): number => y0 + H - pad.bottom - ((H - pad.top - pad.bottom) * v) / invMax;
    const yMid = (v: number): number => y0 + H - pad.bottom - ((H - pad.top - pad.bottom) * (v - midLo)) / (midHi - midLo);
    out.push(`<text x="${pad.left}" y="${y0 + 18}" font-weight="bold">${esc(sc.name)}</text>`);
    out.push(`<rect x="${pad.left}" y="${y0 + pad.top}" width="${W - pad.left - pad.right}" height="${H - pad.top - pad.bottom}" fill="none" stroke="#999"/>`);
    for (let k = 0; k <= 4; k++) {
      const f = k / 4;
      out.push(`<text x="${pad.left - 6}" y="${yInv(f * invMax) + 4}" text-anchor="end">${quote(f * invMax)}</text>`);
      out.push(`<text x="${W - pad.right + 6}" y="${yMid(midLo + f * (midHi - midLo)) + 4}">${(midLo + f * (midHi - midLo)).toFixed(0)}</text>`);
      out.push(`<text x="${x(f * tMax)}" y="${y0 + H - pad.bottom + 16}" text-anchor="middle">${(f * tMax).toFixed(0)} s</text>`);
    }
    out.push(`<text x="${pad.left - 6}" y="${y0 + pad.top - 6}" text-anchor="end">inventory</text>`, `<text x="${W - pad.right + 6}" y="${y0 + pad.top - 6}">BTC mid</text>`);
    for (const [kind, s] of lines) {
      // At most about 600 points a line: every stride-th epoch, and the last.
      const stride = Math.max(1, Math.ceil(s.tS.length / 600));
      const at = s.tS.map((_, j) => j).filter((j) => j % stride === 0 || j === s.tS.length - 1);
      const pts = (y: (v: number) => number, vs: readonly number[]): string => at.map((j) => `${x(s.tS[j]!).toFixed(1)},${y(vs[j]!).toFixed(1)}`).join(' ');
      out.push(`<polyline fill="none" stroke="${COLORS[kind]}" stroke-width="1.6" points="${pts(yInv, s.inventory)}"/>`);
      out.push(`<polyline fill="none" stroke="${COLORS[kind]}" stroke-width="0.8" stroke-dasharray="4 3" points="${pts(yMid, s.mid)}"/>`);
    }
  });
  const keys = kinds.map((k, j) => {
    const kx = pad.left + (j % 5) * 150;
    const ky = 8 + 14 * Math.floor(j / 5);
    return `<rect x="${kx}" y="${ky}" width="14" height="4" fill="${COLORS[k]}"/><text x="${kx + 20}" y="${ky + 6}">${k}</text>`;
  });
  const title = `<text x="${pad.left}" y="${18 + 14 * keyRows}">solid: open liquidation inventory (quote, left axis); dashed: BTC-USD mid (right axis); seed ${r.settings.seeds[0]}</text>`;
  const height = legend + r.scenarios.length * H;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    ...keys,
    title,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
