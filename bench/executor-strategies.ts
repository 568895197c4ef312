/**
 * What execution strategies cost the executor, per epoch, as a ratio to 'ioc' in the same run; and what the models
 * meant to feed them (src/models) cost per call.
 *
 * Topology 1: InlineEpochByStrategy (scanWorkers 0: scan, executor and decode all on the main thread)
 *
 *   +---------------------------------------------------------------------------------------------------+
 *   | main thread, one epoch of one engine:                                                             |
 *   |   t0 pushPrices (4 markets, 0.1% lower than last epoch, event time +1 s)                          |
 *   |      step(): phase 1 + phase 2 inline (InlineBackend)                                             |
 *   |              Executor.step()            <- timed alone too (e0 .. e1)                             |
 *   |              decode the output rows                                                               |
 *   |   t1 step() resolves                                                                              |
 *   |   fills: every order filled whole at its limit price, one fills input (not timed)                 |
 *   +---------------------------------------------------------------------------------------------------+
 *   seven engines over the same seeded book, one per execution config; each round runs one epoch of each,
 *   in an order rotated every round, all seven at the same prices and event time
 *
 * The book: positions in 4 markets, 70% of them long; one account in ten starts near its maintenance
 * (health 1.02..1.62), the rest at 3..10. Prices fall 0.1% per epoch, so a stream of accounts becomes
 * liquidatable, and under a stepped strategy each liquidation sends one child per step (2 s, two epochs) over a
 * 20 s horizon while the fills bring it back: liquidations in progress build up, which is what the executor re-plans
 * every epoch. Same book, same prices, same fills rule for every config: only the executor's decisions differ.
 *
 * Executor.step alone: the engine keeps its executor private (src/engine is not ours to open up), so the bench wraps
 * Executor.prototype.step for the length of the section. Inline, that is the engine's own executor on this thread;
 * threaded engines run theirs in a worker, which the wrapper does not reach. Each engine's measured epochs must
 * have exactly one timed Executor.step each, or the executor columns are left out.
 *
 * Topology 2: MainThreadModelCost (main thread alone, no engine): EwmaVolatility.observe per price, a GARCH(1,1)
 * refit on its default window (the observe that refits, timed one by one), ImpactModel.observe per fill in steady
 * state (window full, refits every 20 fills included in the mean). Shares are of the 'ioc' epoch's p50 above.
 */
import { Bench } from 'tinybench';
import { Engine, type EngineConfig, type Fill, type PositionUpdate } from '../src/index.js';
import { candidateCount } from '../src/concurrency/epoch.js';
import { Executor } from '../src/executor/executor.js';
import { inLiquidation } from '../src/executor/lifecycle.js';
import { EwmaVolatility, GarchVolatility, ImpactModel, type FillObservation } from '../src/models/index.js';
import { mulberry32, normal } from '../src/sim/random.js';
import { fmtCount } from './scan-throughput.js';
import { int, table } from './report.js';
import { Recorder, type Percentiles } from './stats.js';

export interface StrategiesPlan {
  /** Positions in the book (the accounts follow: about 2.4 positions each). */
  readonly positions: number;
  readonly warmupEpochs: number;
  /** Measured epochs per config. */
  readonly epochs: number;
  /** tinybench iterations of the EWMA (batches of EWMA_BATCH prices) and of the impact model (one fill each). */
  readonly modelIterations: number;
  /** GARCH refits timed, on a full default window. */
  readonly garchRefits: number;
}

export interface StrategyRow {
  readonly config: string;
  /** pushPrices + engine.step(), microseconds. */
  readonly epoch: Percentiles;
  /** Executor.step() alone, microseconds; null when it could not be timed (see the header). */
  readonly executor: Percentiles | null;
  /** p50 over the 'ioc' row's p50. */
  readonly epochRatio: number;
  /** Median over rounds of (this epoch / the 'ioc' epoch of the same round). */
  readonly pairedEpochRatio: number;
  readonly executorRatio: number | null;
  readonly pairedExecutorRatio: number | null;
  /** Means per measured epoch: orders, candidates the scan handed over, groups in a liquidation state, stepped liquidations in progress. */
  readonly ordersPerEpoch: number;
  readonly candidatesPerEpoch: number;
  readonly inLiquidationPerEpoch: number;
  readonly steppedPerEpoch: number;
}

export interface ModelRow {
  readonly name: string;
  /** Nanoseconds per call. */
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  /** Calls per epoch assumed for the share, and what they stand for. */
  readonly perEpoch: number;
  readonly perEpochMeans: string;
  /** perEpoch * mean over the 'ioc' epoch's p50. */
  readonly shareOfEpoch: number;
}

export interface StrategiesResult {
  readonly positions: number;
  readonly accounts: number;
  readonly rows: StrategyRow[];
  readonly models: ModelRow[];
  /** Why the executor columns are missing, when they are. */
  readonly executorNote: string | null;
}

type Log = (line: string) => void;

const SECOND = 1_000_000;
const T0 = 1_767_225_600 * SECOND;
/** One epoch per second of event time; prices 0.1% lower each. */
const FALL_PER_EPOCH = 0.001;
const MARKETS = [
  { id: 1, symbol: 'BTC-USD', price: 60_000 },
  { id: 2, symbol: 'ETH-USD', price: 3_000 },
  { id: 3, symbol: 'SOL-USD', price: 150 },
  { id: 4, symbol: 'DOGE-USD', price: 0.15 },
] as const;
/** One tier: the positions (500..20,000 of notional) all sit in it, maintenance 5%. */
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];
const MAINTENANCE = 0.05;
/** Share of accounts that start near their maintenance: the ones the falling prices liquidate. */
const DISTRESSED = 0.1;
const SPARE_SLOTS = 8;
/** The backstop row's vault: an account beside the book's, funded to take everything (it is in every engine, idle elsewhere). */
const VAULT = 4_000_000_000;

// The stepped strategies: a child every 2 s (every other epoch) over 20 s.
type Execution = NonNullable<EngineConfig['execution']>;
type Spec = Execution['strategy'];
const TWAP: Spec = { kind: 'twap', horizonSec: 20, stepSec: 2 };
/** kappa = sqrt(lambda sigma^2 / eta) = 0.1 per second: front-loaded over the 20 s horizon (kappa T = 2). */
const ALMGREN_CHRISS: Spec = { kind: 'almgren-chriss', horizonSec: 20, stepSec: 2, lambda: 1e-4, sigma: 1, eta: 0.01 };
/**
 * Almgren-Chriss on each market's GARCH(1,1) estimate (execution.volatility): one return of the mark per second
 * (an epoch), fitted from the 20th and refitted every 10th on a window of 100, so refits fall in the measured epochs.
 */
const GARCH_VOLATILITY: Execution['volatility'] = { model: 'garch', intervalSec: 1, garch: { window: 100, minReturns: 20, refitEvery: 10 } };
/** A quarter of what the sizing asks each step, all of it once that is worth 2,000 or less (in the market's base units). */
const disposal = (price: number): Spec => ({ kind: 'disposal', stepSec: 2, fraction: 0.25, fullDisposalSize: 2_000 / price });

const CONFIGS: readonly { readonly name: string; readonly execution: Execution }[] = [
  { name: 'ioc', execution: { strategy: { kind: 'ioc' } } },
  { name: 'twap', execution: { strategy: TWAP } },
  { name: 'disposal', execution: { strategy: disposal(1), markets: MARKETS.map((m) => ({ market: m.id, strategy: disposal(m.price) })) } },
  { name: 'almgren-chriss', execution: { strategy: ALMGREN_CHRISS } },
  { name: 'backstop', execution: { strategy: { kind: 'backstop', vault: VAULT, discount: 0.005, minVaultHealth: 1.5 } } },
  { name: 'garch', execution: { strategy: { kind: 'almgren-chriss', horizonSec: 20, stepSec: 2, lambda: 1e-4, eta: 0.01 }, volatility: GARCH_VOLATILITY } },
  {
    // By market and size class: BTC ioc, Almgren-Chriss from 5,000; ETH disposal, twap from 15,000; others ioc, twap from 10,000.
    name: 'mixed',
    execution: {
      strategy: { kind: 'ioc' },
      sizeClasses: [{ minNotional: 10_000, strategy: TWAP }],
      markets: [
        { market: 1, strategy: { kind: 'ioc' }, sizeClasses: [{ minNotional: 5_000, strategy: ALMGREN_CHRISS }] },
        { market: 2, strategy: disposal(MARKETS[1].price), sizeClasses: [{ minNotional: 15_000, strategy: TWAP }] },
      ],
    },
  },
];
export const GARCH_DESCRIPTION = "almgren-chriss with each market's GARCH(1,1) sigma (a return per epoch, window 100, fitted from 20 returns, refit every 10)";
export const MIXED_DESCRIPTION = 'BTC ioc, almgren-chriss from 5,000 notional; ETH disposal, twap from 15,000; SOL, DOGE ioc, twap from 10,000';

interface Book {
  readonly accounts: { readonly id: number; readonly collateral: number }[];
  readonly updates: PositionUpdate[];
  readonly perMarket: number[];
}

/** The seeded book (see the header). Entry prices are the start prices, so collateral alone sets the health. */
function generateBook(positions: number, seed: number): Book {
  const rand = mulberry32(seed);
  const accounts: Book['accounts'] = [];
  const updates: PositionUpdate[] = [];
  const perMarket = MARKETS.map(() => 0);
  while (updates.length < positions) {
    const id = accounts.length + 1;
    let gross = 0;
    for (let k = 0; k < MARKETS.length; k++) {
      if (updates.length >= positions) break;
      // Each market held with probability 0.6; the last one whenever the account holds nothing yet.
      if (!(rand() < 0.6) && !(k === MARKETS.length - 1 && gross === 0)) continue;
      const m = MARKETS[k]!;
      const notional = 500 + rand() * 19_500;
      const side = rand() < 0.7 ? 1 : -1;
      updates.push({ account: id, market: m.id, size: (side * notional) / m.price, entryPrice: m.price });
      perMarket[k]!++;
      gross += notional;
    }
    const health = rand() < DISTRESSED ? 1.02 + rand() * 0.6 : 3 + rand() * 7;
    accounts.push({ id, collateral: health * MAINTENANCE * gross });
  }
  return { accounts, updates, perMarket };
}

async function startEngine(book: Book, execution: Execution): Promise<Engine> {
  const positions = book.updates.length + MARKETS.length * SPARE_SLOTS;
  const engine = await Engine.start({
    scanWorkers: 0,
    autoEpoch: false,
    capacity: { markets: MARKETS.length, accounts: book.accounts.length + 1, positions },
    execution,
  });
  try {
    MARKETS.forEach((m, k) => engine.addMarket({ ...m, tiers: TIERS, positionCapacity: book.perMarket[k]! + SPARE_SLOTS }));
    // Enough that no fill at the fillable price leaves a deficit: the clearing stays on its plain path.
    for (const m of MARKETS) engine.depositInsurance(m.id, 1e12);
    engine.setCollaterals(book.accounts.map((a) => ({ account: a.id, collateral: a.collateral })), true);
    engine.addAccount(VAULT, 1e13);
    for (let i = 0; i < book.updates.length; i += 10_000) engine.upsertPositions(book.updates.slice(i, i + 10_000));
    return engine;
  } catch (e) {
    await engine.close();
    throw e;
  }
}

/** One engine's run: its recorders and the raw samples by round, for the paired ratios. */
interface Run {
  readonly name: string;
  readonly engine: Engine;
  readonly epochs: Recorder;
  readonly executor: Recorder;
  readonly epochByRound: number[];
  readonly executorByRound: number[];
  executorCalls: number;
  orders: number;
  candidates: number;
  inLiquidation: number;
  stepped: number;
}

/**
 * Wraps Executor.prototype.step on this thread until the returned function restores it: `onStep` gets the executor
 * and the step's start and end (hrtime). Only the timing is added; the step itself is the original.
 */
function timeExecutorSteps(onStep: (executor: Executor, start: bigint, end: bigint) => void): () => void {
  const proto = Executor.prototype;
  const original = proto.step;
  proto.step = function step(this: Executor) {
    const start = process.hrtime.bigint();
    const r = original.call(this);
    onStep(this, start, process.hrtime.bigint());
    return r;
  };
  return () => {
    proto.step = original;
  };
}

async function measureStrategies(plan: StrategiesPlan, seed: number, log: Log): Promise<{ rows: StrategyRow[]; accounts: number; positions: number; executorNote: string | null }> {
  log(`executor strategies ${fmtCount(plan.positions)}: building ${CONFIGS.length} engines over the same book ...`);
  const book = generateBook(plan.positions, seed);
  const runs: Run[] = [];
  let current: Run | null = null;
  const restore = timeExecutorSteps((executor, start, end) => {
    if (current === null) return;
    const run = current;
    run.executorByRound.push(run.executor.recordSince(start, end));
    run.executorCalls++;
    // Outside the timed step: the state it left (its maps by reference).
    const s = executor.exportState();
    for (const state of s.states.values()) if (inLiquidation(state)) run.inLiquidation++;
    run.stepped += s.parents?.size ?? 0;
  });
  try {
    const t0 = performance.now();
    for (const c of CONFIGS) {
      const engine = await startEngine(book, c.execution);
      runs.push({ name: c.name, engine, epochs: new Recorder(), executor: new Recorder(), epochByRound: [], executorByRound: [], executorCalls: 0, orders: 0, candidates: 0, inLiquidation: 0, stepped: 0 });
    }
    log(`  ${int(book.accounts.length)} accounts, ${int(book.updates.length)} positions; built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const total = plan.warmupEpochs + plan.epochs;
    const started = performance.now();
    for (let round = 0; round < total; round++) {
      const record = round >= plan.warmupEpochs;
      const eventTimeUs = T0 + round * SECOND;
      const factor = (1 - FALL_PER_EPOCH) ** round;
      const prices = MARKETS.map((m) => ({ market: m.id, price: m.price * factor, eventTimeUs }));
      for (let j = 0; j < runs.length; j++) {
        const run = runs[(round + j) % runs.length]!;
        current = record ? run : null;
        const start = process.hrtime.bigint();
        run.engine.pushPrices(prices);
        const r = await run.engine.step();
        const end = process.hrtime.bigint();
        current = null;
        if (record) {
          run.epochByRound.push(run.epochs.recordSince(start, end));
          run.orders += r.orders.length + r.takeovers.length; // a backstop's takeovers are its orders
          run.candidates += candidateCount(run.engine.tables);
        }
        // The venue takes every order whole at its limit: the same rule for every config.
        const fills: Fill[] = r.orders.map((o) => ({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs }));
        if (fills.length > 0) run.engine.fill(fills);
      }
    }
    log(`  ${total} rounds of ${runs.length} epochs (${plan.warmupEpochs} warm-up) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    restore();
    await Promise.all(runs.map((r) => r.engine.close()));
  }

  const timed = runs.every((r) => r.executorCalls === plan.epochs);
  const executorNote = timed
    ? null
    : `Executor.step not timed: ${runs.map((r) => `${r.name} ${r.executorCalls}`).join(', ')} timed steps for ${plan.epochs} epochs each`;
  const ioc = runs[0]!;
  const iocEpoch = ioc.epochs.summary();
  const iocExecutor = ioc.executor.summary();
  const rows = runs.map((run): StrategyRow => {
    const epoch = run.epochs.summary();
    const executor = timed ? run.executor.summary() : null;
    return {
      config: run.name,
      epoch,
      executor,
      epochRatio: epoch.p50 / iocEpoch.p50,
      pairedEpochRatio: median(run.epochByRound.map((x, i) => x / ioc.epochByRound[i]!)),
      executorRatio: executor === null ? null : executor.p50 / iocExecutor.p50,
      pairedExecutorRatio: executor === null ? null : median(run.executorByRound.map((x, i) => x / ioc.executorByRound[i]!)),
      ordersPerEpoch: run.orders / plan.epochs,
      candidatesPerEpoch: run.candidates / plan.epochs,
      inLiquidationPerEpoch: timed ? run.inLiquidation / plan.epochs : NaN,
      steppedPerEpoch: timed ? run.stepped / plan.epochs : NaN,
    };
  });
  return { rows, accounts: book.accounts.length, positions: book.updates.length, executorNote };
}

/** Prices per tinybench iteration of the EWMA: one call costs a few nanoseconds, below the timer's own cost. */
const EWMA_BATCH = 1_000;

async function measureModels(plan: StrategiesPlan, seed: number, log: Log): Promise<Omit<ModelRow, 'perEpoch' | 'perEpochMeans' | 'shareOfEpoch'>[]> {
  log('models: EWMA, GARCH refits, impact ...');
  const rand = mulberry32(seed);
  const z = normal(rand);

  // EWMA: a random walk of prices a quarter second apart, on and on (the times only grow).
  const walk = new Float64Array(EWMA_BATCH);
  walk[0] = 100;
  for (let i = 1; i < walk.length; i++) walk[i] = walk[i - 1]! * Math.exp(1e-4 * z());
  const ewma = new EwmaVolatility();
  let ewmaTimeUs = T0;

  // Impact: steady state, the default window (500) full before timing starts.
  const impact = new ImpactModel();
  const pool = fillObservations(4_096, rand, z);
  let nextFill = 0;
  for (let i = 0; i < impact.config.window; i++) impact.observe(pool[nextFill++ % pool.length]!);

  const bench = new Bench({ iterations: plan.modelIterations, time: 0, warmupIterations: Math.min(1_000, plan.modelIterations), warmupTime: 0 });
  bench
    .add(`EwmaVolatility.observe (batches of ${EWMA_BATCH})`, () => {
      for (let i = 0; i < EWMA_BATCH; i++) ewma.observe((ewmaTimeUs += 250_000), walk[i]!);
    })
    .add('ImpactModel.observe', () => impact.observe(pool[nextFill++ % pool.length]!));
  await bench.run();
  const [ewmaTask, impactTask] = bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}`);
    return r.latency;
  });
  if (ewma.variancePerSecond() === undefined || impact.linear === null) throw new Error('models: no estimate after the runs');
  const garch = garchRefits(plan.garchRefits, z);
  return [
    { name: 'EwmaVolatility.observe, per price', p50: (ewmaTask!.p50 * 1e6) / EWMA_BATCH, p99: (ewmaTask!.p99 * 1e6) / EWMA_BATCH, mean: (ewmaTask!.mean * 1e6) / EWMA_BATCH },
    { name: `GarchVolatility refit, window ${new GarchVolatility().config.window}`, ...garch },
    { name: 'ImpactModel.observe, per fill (window 500, refit every 20)', p50: impactTask!.p50 * 1e6, p99: impactTask!.p99 * 1e6, mean: impactTask!.mean * 1e6 },
  ];
}

/**
 * Times the observes that refit a GARCH(1,1) with the default config once its window is full: a refit replaces the
 * fitted parameters' object, which is how it is told apart from an observe that only filters. Returns nanoseconds.
 */
function garchRefits(refits: number, z: () => number): { p50: number; p99: number; mean: number } {
  const model = new GarchVolatility();
  // Simulated GARCH(1,1) returns (per-second scale, unconditional variance 1e-8), so the fits have something to find.
  const omega = 2e-10;
  const alpha = 0.08;
  const beta = 0.9;
  let s2 = omega / (1 - alpha - beta);
  const next = (): number => {
    const r = Math.sqrt(s2) * z();
    s2 = omega + alpha * r * r + beta * s2;
    return r;
  };
  while (model.returns < model.config.window) model.observe(next());
  const times: number[] = [];
  while (times.length < refits) {
    const before = model.fitted;
    const r = next();
    const start = process.hrtime.bigint();
    model.observe(r);
    const nanos = Number(process.hrtime.bigint() - start);
    if (model.fitted !== before) times.push(nanos);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return { p50: median(times), p99: at(0.99), mean: times.reduce((a, b) => a + b, 0) / times.length };
}

/** Plausible fills (of a market at about 100): impact grows with size and rate, plus noise. */
function fillObservations(n: number, rand: () => number, z: () => number): FillObservation[] {
  const out: FillObservation[] = [];
  for (let i = 0; i < n; i++) {
    const side = rand() < 0.5 ? 1 : -1;
    const quantity = 1 + rand() * 99;
    const durationSec = 1 + rand() * 9;
    const mid = 100 * (1 + 0.01 * z());
    const price = mid + side * (0.01 + 0.002 * (quantity / durationSec) + 0.0002 * quantity) + 0.01 * z();
    const midAfter = mid + side * 0.0004 * quantity + 0.01 * z();
    out.push({ side, quantity, price, arrivalMidPrice: mid, midAfter, durationSec, volatility: 0.001 * Math.sqrt(durationSec), bookVolume: 1_000 });
  }
  return out;
}

export async function runExecutorStrategies(plan: StrategiesPlan, seed: number, log: Log): Promise<StrategiesResult> {
  const s = await measureStrategies(plan, seed, log);
  const costs = await measureModels(plan, seed + 1, log);
  const epochNanos = s.rows[0]!.epoch.p50 * 1_000;
  const mixed = s.rows.find((r) => r.config === 'mixed')!;
  const perEpoch: [number, string][] = [
    [MARKETS.length, `one price per market (${MARKETS.length})`],
    [1, 'one refit (with refitEvery 100 on a 1 s clock: one epoch in 100)'],
    [mixed.ordersPerEpoch, "one per fill: the 'mixed' run's orders per epoch"],
  ];
  const models = costs.map((c, i) => ({ ...c, perEpoch: perEpoch[i]![0], perEpochMeans: perEpoch[i]![1], shareOfEpoch: (perEpoch[i]![0] * c.mean) / epochNanos }));
  return { positions: s.positions, accounts: s.accounts, rows: s.rows, models, executorNote: s.executorNote };
}

/** Failed when the figures would not measure what they say: no liquidations, or no stepped liquidation in progress. */
export function strategiesFailed(r: StrategiesResult | null): boolean {
  if (r === null) return false;
  return r.rows.some((x) => x.ordersPerEpoch === 0 || (x.config !== 'ioc' && x.config !== 'backstop' && r.executorNote === null && !(x.steppedPerEpoch > 0)));
}

const ratio = (x: number | null): string => (x === null ? '-' : `${x.toFixed(2)}x`);
const count = (x: number): string => (Number.isNaN(x) ? '-' : x >= 100 ? int(x) : x.toFixed(1));

function nanos(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} ms`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)} us`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(2)} us`;
  return `${x.toFixed(1)} ns`;
}

/** The section of the bench report. */
export function strategiesSection(r: StrategiesResult, plan: StrategiesPlan): string {
  const rows = r.rows.map((x) => [
    x.config,
    count(x.ordersPerEpoch),
    count(x.candidatesPerEpoch),
    count(x.inLiquidationPerEpoch),
    count(x.steppedPerEpoch),
    int(x.epoch.p50),
    int(x.epoch.p99),
    ratio(x.epochRatio),
    ratio(x.pairedEpochRatio),
    x.executor === null ? '-' : int(x.executor.p50),
    x.executor === null ? '-' : int(x.executor.p99),
    ratio(x.executorRatio),
    ratio(x.pairedExecutorRatio),
  ]);
  const header = ['config', 'orders', 'candidates', 'in liq.', 'stepped', 'epoch p50', 'p99', 'vs ioc', 'paired', 'executor p50', 'p99', 'vs ioc', 'paired'];
  const models = r.models.map((m) => [m.name, nanos(m.p50), nanos(m.p99), nanos(m.mean), m.perEpoch >= 10 ? int(m.perEpoch) : String(m.perEpoch), `${(m.shareOfEpoch * 100).toPrecision(2)}%`]);
  return [
    `Execution strategies (InlineEpochByStrategy, ${fmtCount(r.positions)} positions, ${int(r.accounts)} accounts, 4 markets, scanWorkers 0):`,
    `${plan.epochs} epochs per config after ${plan.warmupEpochs} of warm-up, prices -0.1% and event time +1 s per epoch, every order filled whole;`,
    'the seven engines interleaved in rotating rounds. Microseconds; "epoch" = pushPrices + step() (inline scan, executor,',
    'decode), "executor" = Executor.step() alone. "vs ioc": p50 over ioc\'s p50; "paired": median of per-round ratios.',
    'Means per epoch: orders (a backstop\'s takeovers); candidates from the scan; groups in a liquidation state; stepped liquidations in progress.',
    `Stepped: a child every 2 s over 20 s (twap, almgren-chriss kappa 0.1/s), disposal 25% a step; mixed: ${MIXED_DESCRIPTION};`,
    `garch: ${GARCH_DESCRIPTION}; backstop: a vault takes each sized close off the book (0.5% discount), the takeover landing in the epoch.`,
    '',
    table(header, rows),
    ...(r.executorNote === null ? [] : ['', r.executorNote]),
    '',
    `Models (MainThreadModelCost; tinybench, ${int(plan.modelIterations)} iterations; GARCH: ${plan.garchRefits} refits timed one by one).`,
    '"share": calls per epoch x mean over the ioc epoch\'s p50.',
    '',
    table(['call', 'p50', 'p99', 'mean', 'per epoch', 'share'], models),
    ...r.models.map((m) => `  ${m.name}: per epoch = ${m.perEpochMeans}`),
  ].join('\n');
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
