/**
 * The in-process demo, `unwind demo --embedded`: simulated markets, accounts and positions, a seeded price path with
 * a crash, the real engine (scan pool + executor thread), and the venue simulator as the matching engine: each
 * liquidation order is an IOC on the venue's book at its limit (src/sim/matching.ts), filled at the prices the book
 * gives, in part or not at all, and our fills move the price. Prints liquidations as they happen and a summary at
 * the end: the money (where every deficit went) and the execution (shortfall against the arrival mark).
 *
 * One epoch per second of event time from T0. The world's price path is the venue's reference; the venue's mids,
 * our impact included, are the engine's prices.
 */
import { createHash } from 'node:crypto';
import type { StrategyKind } from '../config-types.js';
import { Engine } from '../engine/engine.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { executionFor, LATENCY_US, T0, VENUE_STEP_US } from './backtest.js';
import { formatOrder } from './format.js';
import { VenueMatching } from './matching.js';
import { mulberry32 } from './random.js';
import { ExecutionTally, moneySummary, openDeficits, seedInsurance, tallySettlements, type ExecutionSummary, type MoneySummary } from './tally.js';
import { bookParamsFor, flowParamsFor, Venue, type PricePath as VenuePath } from './venue/index.js';
import { MARKETS, population, PricePath, TIERS } from './world.js';

/** One price step of the world's path is one second of event time. */
export const STEP_US = 1_000_000;

export interface DemoOptions {
  readonly seed: number;
  readonly accounts: number;
  readonly steps: number;
  readonly scanWorkers?: number;
  /** Orders printed per epoch before "... and N more". */
  readonly printPerEpoch: number;
  readonly log: (line: string) => void;
  /** The book's loading: accounts loaded so far, of `accounts` (a progress bar). */
  readonly progress?: (done: number, total: number) => void;
  /** A new directory for the engine's journal (README "Journal"); `unwind replay` on it gives `outputDigest`. */
  readonly journal?: string;
  /** The execution strategy (README "Execution strategies"; src/sim/backtest.ts `executionFor`). Default 'ioc'. */
  readonly strategy?: StrategyKind;
}

export interface DemoSummary extends MoneySummary {
  readonly epochs: number;
  readonly orders: number;
  readonly marginCalls: number;
  readonly epochMicros: { p50: number; p99: number; max: number };
  readonly positions: number;
  readonly orderStreamDigest: string;
  /** The engine's output digest (every output kind; src/journal/digest.ts): what `unwind replay` prints. */
  readonly outputDigest: string;
  /** Journal records written (0 without a journal). */
  readonly journalRecords: number;
  readonly strategy: StrategyKind;
  readonly execution: ExecutionSummary;
  /** Orders sent in the last epoch, not executed when the demo stopped. */
  readonly inFlight: number;
  /** Negative equity of groups still holding a position at the end (src/sim/tally.ts openDeficits). */
  readonly openDeficits: number;
  /** Fills and expiries the engine refused: 0. */
  readonly refused: number;
}

/**
 * The world's price path as the venue's reference, one point per step (linear in between), and its liquidity: the
 * book thins as the price falls fast, to 1 - 15 x the step's fall (the crash's -3% x beta a step: 55% for BTC,
 * 19% for DOGE), never below 10%.
 */
function worldPaths(path: PricePath): VenuePath[] {
  const series = MARKETS.map((m) => [m.price as number]);
  for (let s = 1; s <= path.steps; s++) path.next().forEach((u, i) => series[i]!.push(u.price));
  return series.map((prices) => {
    const at = (tUs: number): { k: number; frac: number } => {
      const x = Math.min(path.steps, Math.max(0, tUs / STEP_US));
      const k = Math.min(path.steps - 1, Math.floor(x));
      return { k, frac: x - k };
    };
    return {
      startPrice: prices[0]!,
      priceAt: (tUs) => {
        const { k, frac } = at(tUs);
        return prices[k]! + (prices[k + 1]! - prices[k]!) * frac;
      },
      liquidityAt: (tUs) => {
        const { k, frac } = at(tUs);
        const step = frac === 0 ? k : k + 1;
        const fall = step === 0 ? 0 : Math.max(0, -Math.log(prices[step]! / prices[step - 1]!));
        return Math.max(0.1, Math.min(1, 1 - 15 * fall));
      },
    };
  });
}

/**
 * The demos' venue (the embedded demo's and the loopback one's): `path`'s steps (all of them, read here) as its
 * reference, one per STEP_US of event time from `startUs`, with each market's book and flow scaled to its price;
 * orders execute LATENCY_US after they are sent.
 */
export function demoVenue(seed: number, path: PricePath, startUs: number): Venue {
  const paths = worldPaths(path);
  return new Venue({
    seed,
    stepUs: VENUE_STEP_US,
    latencyUs: LATENCY_US,
    startUs,
    markets: MARKETS.map((m, i) => ({ id: m.id, path: paths[i]!, book: bookParamsFor(m.price), flow: flowParamsFor(m.price) })),
  });
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const rand = mulberry32(o.seed);
  const strategy = o.strategy ?? 'ioc';
  const engine = await Engine.start({
    scanWorkers: o.scanWorkers,
    autoEpoch: false,
    capacity: { markets: MARKETS.length, accounts: o.accounts, positions: o.accounts * MARKETS.length },
    journal: o.journal === undefined ? undefined : { dir: o.journal },
    execution: executionFor(strategy),
  });
  const log = o.log;
  try {
    if (engine.inputCount > 0) throw new UnwindError(ErrorCode.InvalidConfig, `${o.journal} already holds a journal; the demo writes a new one`, '--journal');
    for (const m of MARKETS) engine.addMarket({ id: m.id, symbol: m.symbol, price: m.price, tiers: TIERS });
    seedInsurance(engine);
    let positions = 0;
    let loaded = 0;
    for (const account of population(rand, o.accounts)) {
      if ((++loaded & 4095) === 0) o.progress?.(loaded, o.accounts);
      engine.addAccount(account.id, account.collateral);
      for (const p of account.positions) {
        engine.upsertPosition({ account: account.id, ...p });
        positions++;
      }
    }
    o.progress?.(o.accounts, o.accounts);
    const path = new PricePath(rand, o.steps);
    const venue = demoVenue(o.seed, path, T0);
    log(`unwind demo: ${MARKETS.length} markets, ${o.accounts} accounts, ${positions} positions, ${o.steps} price steps, seed ${o.seed}`);
    log(`engine: ${engine.config.scanWorkers} scan worker(s) + 1 executor thread; venue: simulated books, orders execute ${LATENCY_US / 1000} ms after their epoch; strategy ${strategy}`);

    const matching = new VenueMatching(engine, venue);
    const execution = new ExecutionTally(engine);
    const tally = tallySettlements(engine);
    let orders = 0;
    let calls = 0;
    let refused = 0;
    const epochMicros: number[] = [];
    const digest = createHash('sha256');

    // Step 0 gives the engine the venue's opening mids; step s is s seconds of event time later.
    for (let step = 0; step <= o.steps; step++) {
      if (step === path.crashAt) log(`--- step ${step}: crash begins ---`);
      const tUs = T0 + step * STEP_US;
      execution.at(tUs);
      const t0 = process.hrtime.bigint();
      const s = await matching.step(tUs);
      if (step > 0) epochMicros.push(Number(process.hrtime.bigint() - t0) / 1000);
      refused += s.refused.length;
      for (const c of s.children) execution.child(c);
      const r = s.epoch;
      calls += r.marginCalls.length;
      r.orders.forEach((order, k) => {
        digest.update(JSON.stringify(order));
        if (k < o.printPerEpoch) log(formatOrder(step, order));
      });
      if (r.orders.length > o.printPerEpoch) log(`  ... and ${r.orders.length - o.printPerEpoch} more in epoch ${r.epoch}`);
      orders += r.orders.length;
    }
    epochMicros.sort((x, y) => x - y);
    const pct = (q: number): number => Math.round(epochMicros[Math.min(epochMicros.length - 1, Math.floor(q * epochMicros.length))]!);
    const accounts = Array.from({ length: o.accounts }, (_, i) => i + 1);
    return {
      epochs: engine.epochs,
      orders,
      marginCalls: calls,
      ...moneySummary(engine, tally, accounts),
      epochMicros: { p50: pct(0.5), p99: pct(0.99), max: Math.round(epochMicros[epochMicros.length - 1] ?? 0) },
      positions,
      orderStreamDigest: digest.digest('hex'),
      outputDigest: engine.outputDigest(),
      journalRecords: engine.recovery === undefined ? 0 : (await engine.durable(), engine.journalSequence),
      strategy,
      execution: execution.summary((m) => venue.mid(m)),
      inFlight: matching.pending,
      openDeficits: openDeficits(engine, accounts),
      refused,
    };
  } finally {
    await engine.close();
  }
}

const quote = (x: number): string => Math.round(x).toLocaleString('en-US');

/** The summary's execution lines: how the orders met the book, and what is left. */
export function executionLines(s: Pick<DemoSummary, 'strategy' | 'execution' | 'inFlight' | 'refused' | 'openDeficits'>): string[] {
  const x = s.execution;
  return [
    `execution            ${s.strategy}: ${x.childOrders} orders for ${x.parents} liquidations; shortfall ${x.shortfallBps.toFixed(1)} bps against the arrival mark (${quote(x.shortfallCost)} quote); peak participation ${(100 * x.peakParticipation).toFixed(1)}% of the book within 1%`,
    `liquidations         ${x.flat} flat (time to flat p50 ${x.timeToFlatS.p50.toFixed(1)} s, max ${x.timeToFlatS.max.toFixed(1)} s), ${x.restored} healthy again with part kept, ${x.left} still open (${quote(x.leftNotional)} quote at the mid), ${s.inFlight} orders in flight; ${s.refused} fills refused`,
    `deficits open        ${s.openDeficits.toFixed(2)} quote of negative equity on groups still holding positions; ADL ${x.adlCount} deleveragings, ${quote(x.adlNotional)} quote`,
  ];
}
