/**
 * The in-process demo behind `npm start`: simulated markets, accounts and positions, a seeded price path with a
 * crash, the real engine (scan pool + executor thread), and a simulated matching engine that fills every
 * liquidation order at its limit price. Prints liquidations as they happen and a summary at the end.
 */
import { createHash } from 'node:crypto';
import { Engine } from '../engine/engine.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { formatOrder } from './format.js';
import { mulberry32 } from './random.js';
import { moneySummary, seedInsurance, tallySettlements, type MoneySummary } from './tally.js';
import { MARKETS, population, PricePath, TIERS } from './world.js';

export interface DemoOptions {
  readonly seed: number;
  readonly accounts: number;
  readonly steps: number;
  readonly scanWorkers?: number;
  /** Orders printed per epoch before "... and N more". */
  readonly printPerEpoch: number;
  readonly log: (line: string) => void;
  /** A new directory for the engine's journal (README "Journal"); `unwind replay` on it gives `outputDigest`. */
  readonly journal?: string;
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
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const rand = mulberry32(o.seed);
  const engine = await Engine.start({
    scanWorkers: o.scanWorkers,
    autoEpoch: false,
    capacity: { markets: MARKETS.length, accounts: o.accounts, positions: o.accounts * MARKETS.length },
    journal: o.journal === undefined ? undefined : { dir: o.journal },
  });
  const log = o.log;
  try {
    if (engine.inputCount > 0) throw new UnwindError(ErrorCode.InvalidConfig, `${o.journal} already holds a journal; the demo writes a new one`, '--journal');
    for (const m of MARKETS) engine.addMarket({ id: m.id, symbol: m.symbol, price: m.price, tiers: TIERS });
    seedInsurance(engine);
    let positions = 0;
    for (const account of population(rand, o.accounts)) {
      engine.addAccount(account.id, account.collateral);
      for (const p of account.positions) {
        engine.upsertPosition({ account: account.id, ...p });
        positions++;
      }
    }
    log(`unwind demo: ${MARKETS.length} markets, ${o.accounts} accounts, ${positions} positions, ${o.steps} price steps, seed ${o.seed}`);
    log(`engine: ${engine.config.scanWorkers} scan worker(s) + 1 executor thread`);
    await engine.step();

    const path = new PricePath(rand, o.steps);
    let orders = 0;
    let calls = 0;
    const tally = tallySettlements(engine);
    const epochMicros: number[] = [];
    const digest = createHash('sha256');

    for (let step = 1; step <= o.steps; step++) {
      const updates = path.next();
      if (step === path.crashAt) log(`--- step ${step}: crash begins ---`);
      engine.pushPrices(updates);
      const t0 = process.hrtime.bigint();
      const r = await engine.step();
      epochMicros.push(Number(process.hrtime.bigint() - t0) / 1000);
      calls += r.marginCalls.length;
      r.orders.forEach((order, k) => {
        digest.update(JSON.stringify(order));
        if (k < o.printPerEpoch) log(formatOrder(step, order));
      });
      if (r.orders.length > o.printPerEpoch) log(`  ... and ${r.orders.length - o.printPerEpoch} more in epoch ${r.epoch}`);
      // The simulated matching engine fills each order in full at its limit price; the engine settles the fills.
      orders += r.orders.length;
      if (r.orders.length > 0) {
        engine.fill(r.orders.map((x) => ({ orderId: x.id, account: x.account, market: x.market, quantity: x.quantity, price: x.limitPrice, eventTimeUs: step })));
      }
    }
    epochMicros.sort((x, y) => x - y);
    const pct = (q: number): number => Math.round(epochMicros[Math.min(epochMicros.length - 1, Math.floor(q * epochMicros.length))]!);
    return {
      epochs: engine.epochs,
      orders,
      marginCalls: calls,
      ...moneySummary(engine, tally, Array.from({ length: o.accounts }, (_, i) => i + 1)),
      epochMicros: { p50: pct(0.5), p99: pct(0.99), max: Math.round(epochMicros[epochMicros.length - 1] ?? 0) },
      positions,
      orderStreamDigest: digest.digest('hex'),
      outputDigest: engine.outputDigest(),
      journalRecords: engine.recovery === undefined ? 0 : (await engine.durable(), engine.journalSequence),
    };
  } finally {
    await engine.close();
  }
}
