/**
 * Topology: OneToNScanPoolPushToOrderLatency, in process, automatic epochs (autoEpoch: true).
 *
 *   t0 = hrtime                                                                           t1 = hrtime
 *   |                                                                                     ^
 *   +-------------+  setImmediate  +-----------------------+   +-------------+   +-------------------+
 *   | main thread | -------------> | piscina scan pool (N) | ->| executor    | ->| main thread       |
 *   | pushPrice   |   epoch starts | phase 1: that market  |   | re-check,   |   | decode, onOrder   |
 *   | (1 market)  |                | phase 2: all accounts |   | orders      |   | listener: the     |
 *   +-------------+                | (re-assembles those   |   +-------------+   | victim's order    |
 *                                  |  holding the market)  |                     +-------------------+
 *                                  +-----------------------+
 *
 * Measures: for each sample, the time from `pushPrice` to the moment the `onOrder` listener receives the victim's
 * order, in microseconds. Before each push the victim's last order is expired and its position upserted with the
 * same values (a new input sequence, so the executor may issue a new order for it: a position has at most one open
 * order; bench/fixtures.ts VictimReset); the push moves the victim's market to 1% (alternately
 * 1.05%) below its base price, where the victim (health 1.5 at the base price) is liquidatable and every other
 * account, with health 3..10 and no distressed accounts in this book, stays far above its margin-call level.
 * Orders or margin calls for any other account are counted as spill (it must be 0 for the figure to mean what it
 * says). Two victims (fixtures.ts): one in the most held market, one in the least held, since phase 2 re-assembles
 * the accounts holding the pushed market and reuses its cached results for the others.
 *
 * Samples rotate over engines (1 and 2 workers with the default trigger index, and 2 workers with `scan: { mode:
 * 'full' }`, the full scan every epoch, as a same-run yardstick) and victims, and each waits for the previous epoch
 * to finish, so no sample queues behind another's epoch. Under the index an epoch visits the positions whose
 * trigger the push crossed (the victim's), not the market; every 64th epoch also runs the full scan (the safety net).
 */
import { type Engine } from '../src/index.js';
import { buildEngine, cloneEngine, VictimReset, type Book, type Victim } from './fixtures.js';
import { fmtCount, topologyOf } from './scan-throughput.js';
import { Recorder, type Percentiles } from './stats.js';

export interface LatencyPlan {
  readonly positions: number;
  /** Samples per (engine, victim). */
  readonly samples: number;
  readonly warmup: number;
}

export interface LatencyRow {
  readonly topology: string;
  readonly positions: number;
  readonly workers: number;
  /** The pushed market (the victim's). */
  readonly market: string;
  /** Share of all accounts holding a position in that market: what phase 2 re-assembles after the push. */
  readonly touchedShare: number;
  readonly micros: Percentiles;
  readonly spill: { readonly orders: number; readonly marginCalls: number };
}

export interface LatencyResult {
  /** Nominal size: positions of the regular accounts. */
  readonly size: number;
  /** Positions in the tables (size + the victims'). */
  readonly positions: number;
  readonly accounts: number;
  readonly fillMillis: number;
  readonly cloneMillis: number;
  readonly rows: LatencyRow[];
}

type Log = (line: string) => void;

interface Pending {
  readonly victim: Victim;
  /** Input sequence of the victim's upsert: its order carries it as positionSequence. */
  readonly sequence: number;
  readonly t0: bigint;
  t1?: bigint;
  readonly resolve: (nanos: bigint) => void;
  readonly reject: (e: unknown) => void;
}

/** One engine's listeners, installed once; a sample arms `pending` and waits for the epoch that sees its push. */
export class EngineProbe {
  readonly recorders: Recorder[];
  readonly spill = { orders: 0, marginCalls: 0 };
  private pending: Pending | undefined;
  private readonly victims: Set<number>;
  private readonly offs: (() => void)[];
  private readonly reset: VictimReset;

  constructor(
    readonly engine: Engine,
    book: Book,
    /** How a sample moves the victim's market to `price` (default: a direct pushPrice). */
    private readonly push: (engine: Engine, victim: Victim, price: number, i: number) => void = (e, v, price) => e.pushPrice(v.market.id, price),
  ) {
    this.recorders = book.victims.map(() => new Recorder());
    this.victims = new Set(book.victims.map((v) => v.account));
    this.reset = new VictimReset(engine, book.victims);
    this.offs = [
      () => this.reset.detach(),
      engine.onOrder((o) => {
        const p = this.pending;
        if (!this.victims.has(o.account)) this.spill.orders++;
        // The moment the victim's order for this sample's position state reaches the embedding application.
        else if (p && p.t1 === undefined && o.account === p.victim.account && o.positionSequence === p.sequence) p.t1 = process.hrtime.bigint();
      }),
      engine.onMarginCall((c) => {
        if (!this.victims.has(c.account)) this.spill.marginCalls++;
      }),
      engine.onEpoch((r) => {
        const p = this.pending;
        if (!p || r.lastSequence <= p.sequence) return; // not yet the epoch with the push (sequence + 1)
        this.pending = undefined;
        if (p.t1 !== undefined) p.resolve(p.t1 - p.t0);
        else p.reject(new Error(`epoch ${r.epoch} saw the push but issued no order for victim ${p.victim.account} (sequence ${p.sequence})`));
      }),
      engine.onError((e) => {
        const p = this.pending;
        this.pending = undefined;
        p?.reject(e);
      }),
    ];
  }

  /** One sample on `victim`; resolves with push-to-order nanoseconds once that epoch completes. */
  sample(victim: Victim, i: number): Promise<bigint> {
    const e = this.engine;
    const mk = victim.market;
    return new Promise<bigint>((resolve, reject) => {
      // Same values, new input sequence (the last order expired): the executor may issue a new order for this state.
      const sequence = this.reset.reset(victim);
      const price = mk.price * (i % 2 === 0 ? 0.99 : 0.9895);
      const t0 = process.hrtime.bigint();
      this.pending = { victim, sequence, t0, resolve, reject };
      this.push(e, victim, price, i);
    });
  }

  detach(): void {
    for (const off of this.offs) off();
  }
}

export const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function runPushToOrderLatency(plan: LatencyPlan, workers: readonly number[], seed: number, log: Log): Promise<LatencyResult> {
  const engines: Engine[] = [];
  try {
    log(`latency ${fmtCount(plan.positions)}: building the book ...`);
    const first = await buildEngine({ positions: plan.positions, seed, distressedEvery: 0 }, { scanWorkers: workers[0]!, autoEpoch: true });
    engines.push(first.engine);
    const book = first.book;
    await first.engine.step(); // settle: no epoch in flight while cloning
    const t1 = performance.now();
    for (const w of workers.slice(1)) engines.push(await cloneEngine(first.engine, book, { scanWorkers: w, autoEpoch: true }));
    // The same book under the full scan every epoch, for the same-run ratio of what the trigger index saves.
    engines.push(await cloneEngine(first.engine, book, { scanWorkers: workers[workers.length - 1]!, autoEpoch: true, scan: { mode: 'full' } }));
    const cloneMillis = performance.now() - t1;
    for (const e of engines) await e.step(); // each engine's first full epoch (all markets dirty) outside the samples
    await nextTurn();

    const probes = engines.map((e) => new EngineProbe(e, book));
    const started = performance.now();
    for (let i = 0; i < plan.warmup + plan.samples; i++) {
      for (const p of probes) {
        for (let v = 0; v < book.victims.length; v++) {
          const nanos = await p.sample(book.victims[v]!, i);
          if (i >= plan.warmup) p.recorders[v]!.recordSince(0n, nanos);
          await nextTurn(); // let the epoch that delivered the order return before the next input
        }
      }
    }
    log(`  ${plan.samples} samples per engine and victim (after ${plan.warmup} warm-up) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const accounts = book.capacity.accounts;
    const rows = probes.flatMap((p) => {
      p.detach();
      return book.victims.map((v, i) => ({
        topology: `${topologyOf(p.engine.config.scanWorkers)}${p.engine.config.scan.mode === 'full' ? ' full-scan' : ''}`,
        positions: book.totalPositions,
        workers: p.engine.config.scanWorkers,
        market: v.market.symbol ?? String(v.market.id),
        touchedShare: (v.accountsInMarket + 1) / accounts,
        micros: p.recorders[i]!.summary(),
        spill: { ...p.spill },
      }));
    });
    return { size: plan.positions, positions: book.totalPositions, accounts, fillMillis: first.fillMs, cloneMillis, rows };
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
}
