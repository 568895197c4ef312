/**
 * Topology: TickToOrderOverSockets at 1e6 positions, against the same thing in process, and a bare echo.
 *
 *   socket path (timed in the client worker, one clock):
 *   +-------------- client worker --------------+        +------------------- main thread --------------------+
 *   | t0; publisher ws.send(ticks: 1 tick) -----|--TCP-->| uWS message: decodeFrame, pushTicks        ; set |
 *   |                                           |        |   epoch: scan pool (N) -> executor -> decode orders |
 *   | t1 <- allOrders subscriber 'message' <----|<--TCP--|   onOrder ; onEpoch: encodeOrders, ws.send          |
 *   +-------------------------------------------+        +-----------------------------------------------------+
 *   in-process path (main thread, hrtime):  t0 ; engine.pushPrice ; (same epoch) ; onOrder listener: t1
 *   echo path (client worker):  t0 ; ws.send(1-tick frame) -> uWS echo server (main) -> 'message': t1
 *
 * Measures: microseconds from the tick leaving the publisher to the victim's order reaching the subscriber, and,
 * interleaved in the same run on the same engine, from pushPrice to onOrder. Each sample is prepared first on the
 * main thread, outside the timed part: the victim's last order is expired and its position upserted with the same
 * values (a new position sequence, so the executor may issue a new order: a position has at most one open order)
 * and its market set back to the base price, and that epoch is
 * awaited; then the timed tick moves the market 1% (alternately 1.05%) down, where only the victim is liquidatable
 * (bench/fixtures.ts: health 1.5 at base, every other account 3..10, none distressed). Orders or margin calls for
 * anything else are spill (must be 0). The two victims sit in the most and the least held markets.
 *
 * The echo yardstick is sampled twice: "paced", as a third path in the same rotation (after the same untimed
 * preparation, so both threads come to it from the same idle time and the same caches an epoch over 1e6 positions
 * leaves behind), and "back to back" (a tight loop: the transport's best case). On a small shared VM, waking an
 * idle thread costs far more than the loopback itself, so the paced round trip is the fair yardstick.
 *
 * Where the socket path's time goes: the engine's pushTicks is wrapped on this instance to stamp when the server
 * accepts the tick, and onOrder stamps the order, on performance.timeOrigin + now() (the clock the worker's
 * stamps use too): tick in = send -> accepted, engine = accepted -> onOrder, order out = onOrder -> receipt.
 */
import { type Engine } from '../src/index.js';
import { FeedServer } from '../src/feed/server.js';
import { startEchoServer, type EchoServer } from './echo-server.js';
import { type FeedClientWorker } from './feed-client.js';
import { buildEngine, MARKETS, VictimReset, type Book, type Victim } from './fixtures.js';
import { fmtCount } from './scan-throughput.js';
import { Recorder, type Percentiles } from './stats.js';

export interface FeedLatencyPlan {
  readonly positions: number;
  readonly scanWorkers: number;
  /** Samples per (victim, path); the paced echo takes as many per victim. */
  readonly samples: number;
  readonly warmup: number;
  /** Back-to-back echo round trips. */
  readonly echoSamples: number;
  readonly echoWarmup: number;
}

export type LatencyPath = 'in-process' | 'socket' | 'echo';

export interface FeedLatencyRow {
  readonly topology: string;
  readonly path: LatencyPath | 'echo back to back';
  /** The ticked market (the victim's); the echo rows say what preceded them. */
  readonly market: string;
  /** Share of all accounts holding a position in that market (what phase 2 re-assembles); null for echoes. */
  readonly touchedShare: number | null;
  readonly micros: Percentiles;
}

export interface FeedLatencyRatio {
  readonly market: string;
  /** Socket over in-process, at each percentile. */
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  /** Median over sample indexes of (socket - in-process) microseconds, the two taken back to back. */
  readonly pairedAddedMicros: number;
  /** Socket p50 over the paced echo round trip's p50, and over the back-to-back one's. */
  readonly p50VsPacedEcho: number;
  readonly p50VsBackToBackEcho: number;
  /** Medians of the socket path's segments, microseconds (cross-thread stamps: see the header). */
  readonly segments: { readonly tickIn: number; readonly engine: number; readonly orderOut: number };
}

export interface FeedLatencyResult {
  readonly size: number;
  readonly positions: number;
  readonly accounts: number;
  readonly scanWorkers: number;
  readonly fillMillis: number;
  readonly rows: FeedLatencyRow[];
  readonly ratios: FeedLatencyRatio[];
  readonly spill: { readonly orders: number; readonly marginCalls: number };
  /** Orders the engine emitted, the server sent (ordersOut) and the subscriber received: all equal when sound. */
  readonly orders: { readonly emitted: number; readonly sent: number; readonly received: number };
}

type Log = (line: string) => void;

/** Fixed bench tokens (the server only hashes them). */
export const PUBLISHER_TOKEN = 'bench-publisher-token-0001';
export const SUBSCRIBER_TOKEN = 'bench-subscriber-token-0001';
const SAMPLE_TIMEOUT_MS = 10_000;

export const topologies = (workers: number): Record<LatencyPath, string> => ({
  'in-process': `main: pushPrice -> scan pool (${workers}) -> executor -> onOrder`,
  socket: `worker ws -> uWS feed (main) -> scan pool (${workers}) -> executor -> uWS -> worker ws`,
  echo: 'worker ws -> uWS echo (main) -> worker ws',
});

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 === 1 ? s[n >> 1]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

/** The shared clock of both threads, milliseconds. */
const sharedNow = (): number => performance.timeOrigin + performance.now();

/** The engine's listeners: which epochs have completed, the armed victim order, and everything else as spill. */
class Probe {
  readonly spill = { orders: 0, marginCalls: 0 };
  emitted = 0;
  /** When the feed server last handed ticks to the engine (the wrapped pushPrices), on the shared clock. */
  acceptedAt = NaN;
  private completedThrough = 0;
  private waiters: { sequence: number; resolve: () => void }[] = [];
  private armed: { account: number; positionSequence: number; t1?: bigint; orderAt?: number } | undefined;
  private readonly victims: Set<number>;
  private readonly offs: (() => void)[];
  /** A victim's position set again before each sample, its last order expired. */
  readonly reset: VictimReset;

  constructor(
    private readonly engine: Engine,
    book: Book,
  ) {
    this.victims = new Set(book.victims.map((v) => v.account));
    this.reset = new VictimReset(engine, book.victims);
    this.offs = [
      () => this.reset.detach(),
      engine.onOrder((o) => {
        this.emitted++;
        const a = this.armed;
        if (a !== undefined && a.t1 === undefined && o.account === a.account && o.positionSequence === a.positionSequence) {
          a.t1 = process.hrtime.bigint(); // the in-process receipt
          a.orderAt = sharedNow();
        } else this.spill.orders++;
      }),
      engine.onMarginCall((c) => {
        if (!this.victims.has(c.account)) this.spill.marginCalls++;
      }),
      engine.onEpoch((r) => {
        this.completedThrough = Math.max(this.completedThrough, r.lastSequence);
        const ready = this.waiters.filter((w) => w.sequence <= this.completedThrough);
        this.waiters = this.waiters.filter((w) => w.sequence > this.completedThrough);
        for (const w of ready) w.resolve();
      }),
      engine.onError((e) => {
        throw e;
      }),
    ];
    // Instrumentation of this instance only: the feed's ingest calls engine.pushTicks for every ticks frame.
    const pushTicks = engine.pushTicks.bind(engine);
    engine.pushTicks = (batch) => {
      this.acceptedAt = sharedNow();
      pushTicks(batch);
    };
  }

  /** Resolves once an epoch that saw input `sequence` has completed. */
  epochThrough(sequence: number): Promise<void> {
    if (sequence <= this.completedThrough) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no epoch saw input ${sequence} within ${SAMPLE_TIMEOUT_MS} ms`)), SAMPLE_TIMEOUT_MS);
      this.waiters.push({
        sequence,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  arm(account: number, positionSequence: number): void {
    this.armed = { account, positionSequence };
  }

  /** Disarms; the in-process receipt, or throws when the armed order never came. */
  take(what: string): { t1: bigint; orderAt: number } {
    const a = this.armed;
    this.armed = undefined;
    if (a?.t1 === undefined) throw new Error(`${what}: the epoch completed without the victim's order`);
    return { t1: a.t1, orderAt: a.orderAt! };
  }

  detach(): void {
    for (const off of this.offs) off();
    delete (this.engine as { pushTicks?: unknown }).pushTicks; // back to the class's method
  }
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Per victim: a recorder per path, and the socket samples' extra time and segments. */
interface VictimSamples {
  readonly recorders: Record<'in-process' | 'socket', Recorder>;
  readonly added: number[];
  readonly tickIn: number[];
  readonly engine: number[];
  readonly orderOut: number[];
}

export async function runFeedLatency(plan: FeedLatencyPlan, client: FeedClientWorker, seed: number, log: Log): Promise<FeedLatencyResult> {
  log(`feed latency ${fmtCount(plan.positions)}: building the book ...`);
  const { engine, book, fillMs } = await buildEngine(
    { positions: plan.positions, seed, distressedEvery: 0 },
    // Nobody fills the benchmark's orders: with the server's wall clock they would time out (orderTimeoutUs) and
    // re-stamp positions between samples, inputs the samples do not count.
    { scanWorkers: plan.scanWorkers, autoEpoch: true, orderTimeoutUs: Infinity },
  );
  let server: FeedServer | undefined;
  let echo: EchoServer | undefined;
  let probe: Probe | undefined;
  try {
    await engine.step(); // the first full epoch (every market dirty) outside the samples
    server = await FeedServer.start(engine, { port: 0, publisherTokens: [PUBLISHER_TOKEN], subscriberTokens: [SUBSCRIBER_TOKEN] });
    echo = await startEchoServer();
    const tokens = { publisherToken: PUBLISHER_TOKEN, subscriberToken: SUBSCRIBER_TOKEN };
    await client.request({ cmd: 'latency.open', url: server.url, ...tokens, echoUrl: echo.url });
    await nextTurn();
    probe = new Probe(engine, book);
    const p = probe;

    const paths: LatencyPath[] = ['in-process', 'socket', 'echo'];
    const perVictim: VictimSamples[] = book.victims.map(() => ({
      recorders: { 'in-process': new Recorder(), socket: new Recorder() },
      added: [],
      tickIn: [],
      engine: [],
      orderOut: [],
    }));
    const pacedEcho = new Recorder();
    const started = performance.now();
    for (let i = 0; i < plan.warmup + plan.samples; i++) {
      for (let v = 0; v < book.victims.length; v++) {
        const victim = book.victims[v]!;
        const x = perVictim[v]!;
        const pair: Partial<Record<LatencyPath, number>> = {};
        for (let k = 0; k < paths.length; k++) {
          const path = paths[(i + v + k) % paths.length]!; // rotate which path goes first
          const r = await sample(engine, p, client, victim, i, path);
          pair[path] = r.micros;
          if (i >= plan.warmup) {
            const nanos = BigInt(Math.round(r.micros * 1000));
            if (path === 'echo') pacedEcho.recordSince(0n, nanos);
            else x.recorders[path].recordSince(0n, nanos);
            if (r.segments) {
              x.tickIn.push(r.segments.tickIn);
              x.engine.push(r.segments.engine);
              x.orderOut.push(r.segments.orderOut);
            }
          }
          await nextTurn();
        }
        if (i >= plan.warmup) x.added.push(pair.socket! - pair['in-process']!);
      }
    }
    log(`  ${plan.samples} samples per victim and path (after ${plan.warmup} warm-up) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const { ordersReceived } = await client.request({ cmd: 'latency.close' });

    log(`  echo round trips back to back: ${plan.echoSamples} ...`);
    const market = MARKETS[0]!;
    const echoed = echo.stats().framesEchoed;
    const { micros: backToBack } = await client.request({
      cmd: 'echo.roundTrips',
      url: echo.url,
      samples: plan.echoSamples,
      warmup: plan.echoWarmup,
      market: { id: market.id, price: market.price },
    });
    const es = echo.stats();
    const expected = (plan.warmup + plan.samples) * book.victims.length + plan.echoSamples + plan.echoWarmup;
    if (es.dropped > 0 || es.framesEchoed !== expected || es.framesEchoed - echoed !== plan.echoSamples + plan.echoWarmup) {
      throw new Error(`echo server: ${es.framesEchoed} frames echoed (expected ${expected}), ${es.dropped} dropped`);
    }
    const backToBackRecorder = new Recorder();
    for (const m of backToBack) backToBackRecorder.recordSince(0n, BigInt(Math.round(m * 1000)));
    const paced = pacedEcho.summary();
    const tight = backToBackRecorder.summary();

    const names = topologies(plan.scanWorkers);
    const accounts = book.capacity.accounts;
    const symbol = (v: Victim): string => v.market.symbol ?? String(v.market.id);
    const rows: FeedLatencyRow[] = book.victims.flatMap((v, i) =>
      (['in-process', 'socket'] as const).map((path) => ({
        topology: names[path],
        path,
        market: symbol(v),
        touchedShare: (v.accountsInMarket + 1) / accounts,
        micros: perVictim[i]!.recorders[path].summary(),
      })),
    );
    rows.push({ topology: names.echo, path: 'echo', market: 'paced', touchedShare: null, micros: paced });
    rows.push({ topology: names.echo, path: 'echo back to back', market: 'tight loop', touchedShare: null, micros: tight });
    const ratios = book.victims.map((v, i) => {
      const x = perVictim[i]!;
      const a = x.recorders['in-process'].summary();
      const b = x.recorders.socket.summary();
      return {
        market: symbol(v),
        p50: b.p50 / a.p50,
        p99: b.p99 / a.p99,
        p999: b.p999 / a.p999,
        pairedAddedMicros: median(x.added),
        p50VsPacedEcho: b.p50 / paced.p50,
        p50VsBackToBackEcho: b.p50 / tight.p50,
        segments: { tickIn: median(x.tickIn), engine: median(x.engine), orderOut: median(x.orderOut) },
      };
    });
    return {
      size: plan.positions,
      positions: book.totalPositions,
      accounts,
      scanWorkers: plan.scanWorkers,
      fillMillis: fillMs,
      rows,
      ratios,
      spill: { ...p.spill },
      orders: { emitted: p.emitted, sent: server.stats().ordersOut, received: ordersReceived },
    };
  } finally {
    probe?.detach();
    await echo?.close();
    await server?.close();
    await engine.close();
  }
}

interface Sample {
  readonly micros: number;
  /** Socket samples only: tick in, engine, order out, microseconds on the shared clock. */
  readonly segments?: { readonly tickIn: number; readonly engine: number; readonly orderOut: number };
}

/** One prepared, timed sample; microseconds from the tick (or pushPrice) to the victim's order, or of the echo. */
async function sample(engine: Engine, p: Probe, client: FeedClientWorker, victim: Victim, i: number, path: LatencyPath): Promise<Sample> {
  const mk = victim.market;
  // Prepare (untimed): a new position sequence for the victim, its market back at the base price, that epoch done.
  const positionSequence = p.reset.reset(victim);
  engine.pushPrice(mk.id, mk.price);
  const prepared = engine.lastSequence;
  await p.epochThrough(prepared);
  await nextTurn();

  if (path === 'echo') {
    const r = await client.request({ cmd: 'latency.echo', market: { id: mk.id, price: mk.price }, index: i, timeoutMs: SAMPLE_TIMEOUT_MS });
    return { micros: r.micros };
  }
  const price = mk.price * (i % 2 === 0 ? 0.99 : 0.9895);
  p.arm(victim.account, positionSequence);
  if (path === 'in-process') {
    const t0 = process.hrtime.bigint();
    engine.pushPrice(mk.id, price);
    await p.epochThrough(engine.lastSequence);
    return { micros: Number(p.take(`in-process sample ${i}`).t1 - t0) / 1000 };
  }
  p.acceptedAt = NaN;
  const r = await client.request({
    cmd: 'latency.sample',
    market: mk.id,
    price,
    account: victim.account,
    positionSequence,
    index: i,
    timeoutMs: SAMPLE_TIMEOUT_MS,
  });
  // The subscriber has the order, so the epoch that saw the tick (the next input after `prepared`) has completed.
  if (engine.lastSequence !== prepared + 1) {
    throw new Error(`socket sample ${i}: expected one input (the tick) after ${prepared}, engine is at ${engine.lastSequence}`);
  }
  await p.epochThrough(prepared + 1);
  const { orderAt } = p.take(`socket sample ${i}`);
  if (Number.isNaN(p.acceptedAt)) throw new Error(`socket sample ${i}: the server never called engine.pushTicks`);
  const ms = 1000;
  return {
    micros: r.micros,
    segments: { tickIn: (p.acceptedAt - r.sentAt) * ms, engine: (orderAt - p.acceptedAt) * ms, orderOut: (r.receivedAt - orderAt) * ms },
  };
}
