/**
 * Topology: OneToOneFeedIngestThroughput, against a bare uWebSockets.js echo as the transport's ceiling.
 *
 *   +---------- client worker ----------+         +------------------------ main thread ------------------------+
 *   | ws.send(frame) x frames, as fast  |--TCP--->| feed: uWS message -> decodeFrame -> pushPriceColumns (ticksIn)    |
 *   |   as the socket drains;           |         |       setImmediate -> epoch: scan pool (1) -> executor      |
 *   | then ws.ping(): 'pong' = t1       |<--TCP---| uWS answers the ping after reading every earlier frame      |
 *   +-----------------------------------+         +-------------------------------------------------------------+
 *   echo: the same client code and frames -> uWS echo server (main) -> every frame back; t1 = the last echo
 *
 * Measures: ticks/s and frames/s the feed server accepts from one publisher, at one tick per frame and in batched
 * frames, from the first send to the barrier (the pong; uWS answers a ping after handling every frame before it,
 * and the handler accepts a frame's ticks before it returns). The book is deliberately small (8 markets, about a
 * thousand positions): the figure is the feed path's, with epochs running as they would (autoEpoch) but cheap.
 * The echo rows are the same frames from the same client to a server that does nothing but send them back:
 * "vs echo" is the feed's share of what the transport carries in that frame shape (the echo also carries every
 * frame back, so it is a conservative ceiling). Rounds interleave feed and echo runs; rates are medians of rounds.
 * Checks per feed run: stats().ticksIn and framesIn grew by exactly what was sent, the engine's input sequence by
 * the number of ticks, no frame was rejected, no order or margin call was issued; per echo run: every frame came
 * back and uWS dropped none.
 *
 * Breakdown (main thread, no sockets): decodeFrame alone, then pushPriceColumns as the server calls it (the decoded
 * ticks mapped to { market, price }), on the same frames, in nanoseconds per tick.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { type Engine } from '../src/index.js';
import { decodeFrame, DEFAULT_MAX_FRAME_BYTES, TickBatchBuffer } from '../src/feed/codec.js';
import { FeedServer, type FeedStats } from '../src/feed/server.js';
import { startEchoServer, type EchoServer } from './echo-server.js';
import { type FeedClientWorker } from './feed-client.js';
import { ingestFrames } from './feed-frames.js';
import { PUBLISHER_TOKEN } from './feed-latency.js';
import { type IngestReply, type TickMarket } from './feed-protocol.js';
import { buildEngine, MARKETS } from './fixtures.js';

export interface IngestShape {
  readonly ticksPerFrame: number;
  /** Frames per run. */
  readonly frames: number;
  /** Frames the client hands its socket per write: 1 is `ws`'s default (a syscall per frame). */
  readonly framesPerWrite: number;
}

export interface FeedIngestPlan {
  /** Positions of the small book (fixtures.ts shape: 8 markets). */
  readonly positions: number;
  readonly scanWorkers: number;
  /** Runs per (shape, server), interleaved. */
  readonly rounds: number;
  readonly shapes: readonly IngestShape[];
  /** Ticks decoded and applied per shape in the in-process breakdown. */
  readonly breakdownTicks: number;
  /** One-tick epochs timed on the small book, for the per-epoch cost. */
  readonly epochSamples: number;
}

export interface IngestSide {
  readonly topology: string;
  /** Medians over rounds. */
  readonly ticksPerSecond: number;
  readonly framesPerSecond: number;
  readonly megabytesPerSecond: number;
  /** Ticks per second of every round, in order. */
  readonly ticksPerSecondByRound: readonly number[];
  /** The server's main thread: event-loop active time per tick (median of runs), and as a share of the run. */
  readonly mainBusyNanosPerTick: number;
  readonly mainBusyShare: number;
  /** Main-thread garbage collection during a run, per tick (median of runs). */
  readonly gcNanosPerTick: number;
}

export interface IngestRow {
  readonly ticksPerFrame: number;
  readonly framesPerWrite: number;
  readonly frameBytes: number;
  readonly framesPerRun: number;
  readonly feed: IngestSide;
  readonly echo: IngestSide;
  /** Feed over echo: ratio of the medians, and the median of per-round ratios. */
  readonly ratioToEcho: number;
  readonly pairedRatioToEcho: number;
  /** Median epochs the engine ran during a feed run (ticks of a run coalesce into these). */
  readonly epochsPerRun: number;
  /** The main thread's epoch cost per tick in a feed run: epochsPerRun x epoch.mainBusyMicros / ticks per run. */
  readonly epochNanosPerTick: number;
  /** In-process breakdown: decodeFrame alone, and pushPrices as the server calls it. */
  readonly decodeNanosPerTick: number;
  readonly applyNanosPerTick: number;
}

export interface FeedCheck {
  readonly what: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface FeedIngestResult {
  readonly book: { readonly markets: number; readonly accounts: number; readonly positions: number; readonly scanWorkers: number };
  /** One epoch of the small book after a 1-tick push, in process: median wall time, and main-thread busy time. */
  readonly epoch: { readonly wallMicros: number; readonly mainBusyMicros: number };
  readonly rows: IngestRow[];
  readonly checks: FeedCheck[];
}

type Log = (line: string) => void;

export const ingestTopologies = (workers: number): { feed: string; echo: string } => ({
  feed: `worker ws -> uWS feed (main): decode, pushPriceColumns; auto epochs: scan pool (${workers}) -> executor`,
  echo: 'worker ws -> uWS echo (main) -> worker ws',
});

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 === 1 ? s[n >> 1]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

const TICK_MARKETS: readonly TickMarket[] = MARKETS.map((m) => ({ id: m.id, price: m.price }));

/** Tallies every check's failures, so the report says how many of how many runs failed and the first reason. */
class Checks {
  private readonly byWhat = new Map<string, { runs: number; failed: number; first: string }>();
  check(what: string, ok: boolean, detail: () => string): void {
    const c = this.byWhat.get(what) ?? { runs: 0, failed: 0, first: '' };
    c.runs++;
    if (!ok) {
      c.failed++;
      if (c.failed === 1) c.first = detail();
    }
    this.byWhat.set(what, c);
  }
  list(): FeedCheck[] {
    return [...this.byWhat].map(([what, c]) => ({
      what,
      ok: c.failed === 0,
      detail: c.failed === 0 ? `ok in all ${c.runs} runs` : `FAILED in ${c.failed} of ${c.runs} runs; first: ${c.first}`,
    }));
  }
}

export async function runFeedIngest(plan: FeedIngestPlan, client: FeedClientWorker, seed: number, log: Log): Promise<FeedIngestResult> {
  const { engine, book } = await buildEngine(
    { positions: plan.positions, seed, distressedEvery: 0 },
    // Nobody fills the benchmark's orders: with the server's wall clock they would time out (orderTimeoutUs) and
    // re-stamp positions between samples, inputs the samples do not count.
    { scanWorkers: plan.scanWorkers, autoEpoch: true, orderTimeoutUs: Infinity },
  );
  let server: FeedServer | undefined;
  let echo: EchoServer | undefined;
  let outputs = 0;
  let gc: GcLog | undefined;
  const offs = [engine.onOrder(() => outputs++), engine.onMarginCall(() => outputs++)];
  try {
    await engine.step();
    server = await FeedServer.start(engine, { port: 0, publisherTokens: [PUBLISHER_TOKEN] });
    const echoServer = await startEchoServer();
    echo = echoServer;
    const checks = new Checks();
    gc = new GcLog();
    const feedUrl = `${server.url}?token=${PUBLISHER_TOKEN}`;
    const runs = plan.shapes.map(() => ({ feed: [] as Run[], echo: [] as Run[], epochs: [] as number[] }));

    log(`feed ingest: ${plan.rounds} rounds x ${plan.shapes.length} frame shapes x (feed, echo) ...`);
    const started = performance.now();
    for (let r = 0; r < plan.rounds; r++) {
      for (let k = 0; k < plan.shapes.length; k++) {
        const s = (k + r) % plan.shapes.length; // rotate which shape goes first
        const shape = plan.shapes[s]!;
        const request = { cmd: 'ingest', ...shape, markets: TICK_MARKETS, seed: seed + s } as const;
        const order = r % 2 === 0 ? (['feed', 'echo'] as const) : (['echo', 'feed'] as const);
        for (const target of order) {
          const where = `${shape.ticksPerFrame} ticks/frame x ${shape.framesPerWrite} per write, round ${r + 1}`;
          if (target === 'feed') {
            const before = { stats: server.stats(), sequence: engine.lastSequence, epochs: engine.epochs };
            const run = await timed(() => client.request({ ...request, url: feedUrl, barrier: 'pong' }));
            const after = { stats: server.stats(), sequence: engine.lastSequence, epochs: engine.epochs };
            await engine.step(); // the ticks' last epoch, outside the timing: the next run starts idle
            runs[s]!.feed.push(run);
            runs[s]!.epochs.push(after.epochs - before.epochs);
            checkFeedRun(checks, where, run.reply, before, after);
          } else {
            const before = echoServer.stats();
            const run = await timed(() => client.request({ ...request, url: echoServer.url, barrier: 'echo' }));
            const after = echoServer.stats();
            runs[s]!.echo.push(run);
            const x = run.reply;
            const echoed = after.framesEchoed - before.framesEchoed;
            const dropped = after.dropped - before.dropped;
            checks.check(
              'echo: every frame echoed, none dropped',
              x.framesReceived === x.framesSent && echoed === x.framesSent && dropped === 0,
              () => `${where}: sent ${x.framesSent}, echoed ${echoed}, received ${x.framesReceived}, dropped ${dropped}`,
            );
          }
        }
      }
    }
    await gc.settle();
    checks.check('feed: small moves issue no order or margin call', outputs === 0, () => `${outputs} orders and margin calls`);
    log(`  ${plan.rounds} rounds in ${((performance.now() - started) / 1000).toFixed(1)} s; breakdown ...`);
    const epoch = await epochCost(engine, plan.epochSamples);

    const names = ingestTopologies(plan.scanWorkers);
    const rows: IngestRow[] = [];
    for (let s = 0; s < plan.shapes.length; s++) {
      const shape = plan.shapes[s]!;
      const feed = side(names.feed, runs[s]!.feed, gc);
      const echoSide = side(names.echo, runs[s]!.echo, gc);
      const frame = ingestFrames(TICK_MARKETS, shape.ticksPerFrame, 1, seed + s)[0]!;
      const { decodeNanosPerTick, applyNanosPerTick } = await breakdown(engine, shape.ticksPerFrame, plan.breakdownTicks, seed + s);
      rows.push({
        ticksPerFrame: shape.ticksPerFrame,
        framesPerWrite: shape.framesPerWrite,
        frameBytes: frame.byteLength,
        framesPerRun: shape.frames,
        feed,
        echo: echoSide,
        ratioToEcho: feed.ticksPerSecond / echoSide.ticksPerSecond,
        pairedRatioToEcho: median(feed.ticksPerSecondByRound.map((x, r) => x / echoSide.ticksPerSecondByRound[r]!)),
        epochsPerRun: median(runs[s]!.epochs),
        epochNanosPerTick: (median(runs[s]!.epochs) * epoch.mainBusyMicros * 1000) / (shape.frames * shape.ticksPerFrame),
        decodeNanosPerTick,
        applyNanosPerTick,
      });
    }
    return {
      book: { markets: MARKETS.length, accounts: book.capacity.accounts, positions: book.totalPositions, scanWorkers: plan.scanWorkers },
      epoch,
      rows,
      checks: checks.list(),
    };
  } finally {
    for (const off of offs) off();
    gc?.close();
    await echo?.close();
    await server?.close();
    await engine.close();
  }
}

interface FeedSnapshot {
  readonly stats: FeedStats;
  readonly sequence: number;
  readonly epochs: number;
}

function checkFeedRun(checks: Checks, where: string, x: IngestReply, before: FeedSnapshot, after: FeedSnapshot): void {
  const ticksIn = after.stats.ticksIn - before.stats.ticksIn;
  const framesIn = after.stats.framesIn - before.stats.framesIn;
  const sequences = after.sequence - before.sequence;
  const rejectedTotal = (st: FeedStats): number => Object.values(st.rejected).reduce((a, b) => a + b, 0);
  const rejected = rejectedTotal(after.stats) - rejectedTotal(before.stats);
  checks.check('feed: stats().ticksIn grew by the ticks sent', ticksIn === x.ticksSent, () => `${where}: ticksIn +${ticksIn}, sent ${x.ticksSent}`);
  checks.check('feed: stats().framesIn grew by the frames sent', framesIn === x.framesSent, () => `${where}: framesIn +${framesIn}, sent ${x.framesSent}`);
  checks.check('feed: the engine took one input sequence per tick', sequences === x.ticksSent, () => `${where}: +${sequences}, sent ${x.ticksSent}`);
  checks.check('feed: no frame rejected', rejected === 0 && x.errorFrames === 0, () => `${where}: ${rejected} rejected; first ${x.firstError}`);
}

/** Runs one client request, with the main thread's event-loop active time and clock window around it. */
async function timed(request: () => Promise<IngestReply>): Promise<Run> {
  const elu = performance.eventLoopUtilization();
  const from = performance.now();
  const reply = await request();
  const { active } = performance.eventLoopUtilization(elu);
  return { reply, activeMillis: active, window: [from, performance.now()] };
}

/** One run: the client's reply, and the main thread's event-loop active time and clock while it was in flight. */
interface Run {
  readonly reply: IngestReply;
  readonly activeMillis: number;
  readonly window: readonly [number, number];
}

/** The main thread's GC pauses (perf_hooks 'gc' entries), summed over a window of performance.now(). */
class GcLog {
  private readonly pauses: { start: number; duration: number }[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.pauses.push({ start: e.startTime, duration: e.duration });
  });
  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }
  /** Entries reach the observer asynchronously: wait a turn of the event loop before summing. */
  settle(): Promise<void> {
    return new Promise((r) => setTimeout(r, 10));
  }
  millisBetween(from: number, to: number): number {
    let sum = 0;
    for (const p of this.pauses) if (p.start >= from && p.start < to) sum += p.duration;
    return sum;
  }
  close(): void {
    this.observer.disconnect();
  }
}

function side(topology: string, runs: readonly Run[], gc: GcLog): IngestSide {
  const perSecond = (n: (x: IngestReply) => number): number => median(runs.map(({ reply: x }) => (n(x) * 1000) / x.millis));
  return {
    topology,
    ticksPerSecond: perSecond((x) => x.ticksSent),
    framesPerSecond: perSecond((x) => x.framesSent),
    megabytesPerSecond: perSecond((x) => x.bytesSent) / 1e6,
    ticksPerSecondByRound: runs.map(({ reply: x }) => (x.ticksSent * 1000) / x.millis),
    mainBusyNanosPerTick: median(runs.map((x) => (x.activeMillis * 1e6) / x.reply.ticksSent)),
    // The active time also covers the connect before t0, so this slightly overstates the share.
    mainBusyShare: median(runs.map((x) => Math.min(1, x.activeMillis / x.reply.millis))),
    gcNanosPerTick: median(runs.map((x) => (gc.millisBetween(x.window[0], x.window[1]) * 1e6) / x.reply.ticksSent)),
  };
}

/**
 * The server's per-tick work without the socket, on the main thread: decodeFrame of the bench's frames, then
 * pushPriceColumns of the decoded ticks as FeedServer.ingest calls it. The engine is idle (no epoch in flight), so
 * prices are written at once rather than staged. Nanoseconds per tick, best of 3 passes.
 */
async function breakdown(engine: Engine, ticksPerFrame: number, ticks: number, seed: number): Promise<{ decodeNanosPerTick: number; applyNanosPerTick: number }> {
  const frames = ingestFrames(TICK_MARKETS, ticksPerFrame, 32, seed);
  const reps = Math.max(1, Math.ceil(ticks / ticksPerFrame));
  // As the server does: every frame decoded into one reused TickBatchBuffer (columns, no object per tick).
  const batch = new TickBatchBuffer();
  const decoded = frames.map((f) => {
    const m = decodeFrame(f, DEFAULT_MAX_FRAME_BYTES, new TickBatchBuffer());
    if (m.kind !== 'tickBatch') throw new Error(`breakdown: the bench's frame decoded to ${m.kind}`);
    return m.batch;
  });
  let decodeBest = Infinity;
  let applyBest = Infinity;
  let sink = 0;
  for (let pass = 0; pass < 3; pass++) {
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) {
      const m = decodeFrame(frames[i & 31]!, DEFAULT_MAX_FRAME_BYTES, batch);
      if (m.kind === 'tickBatch') sink += m.batch.length;
    }
    decodeBest = Math.min(decodeBest, Number(process.hrtime.bigint() - t0) / (reps * ticksPerFrame));
    await engine.step(); // idle before timing the writes
    t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) {
      const b = decoded[i & 31]!;
      engine.pushPriceColumns(b.market, b.price, b.length);
    }
    applyBest = Math.min(applyBest, Number(process.hrtime.bigint() - t0) / (reps * ticksPerFrame));
    await engine.step();
  }
  if (sink !== 3 * reps * ticksPerFrame) throw new Error('breakdown: decodeFrame returned a wrong tick count');
  return { decodeNanosPerTick: decodeBest, applyNanosPerTick: applyBest };
}

/**
 * One epoch's cost on the small book: `samples` times, push one price and wait for the epoch that sees it. Wall
 * time per epoch (median) and the main thread's event-loop active time per epoch (the total over all samples):
 * dispatching the scan tasks to the pool, waking the executor, decoding the output, the listeners.
 */
async function epochCost(engine: Engine, samples: number): Promise<{ wallMicros: number; mainBusyMicros: number }> {
  await engine.step();
  const m = MARKETS[0]!;
  const walls: number[] = [];
  const epochs = engine.epochs;
  const elu = performance.eventLoopUtilization();
  for (let i = 0; i < samples; i++) {
    const sequence = engine.lastSequence + 1;
    const seen = new Promise<void>((resolve) => {
      const off = engine.onEpoch((r) => {
        if (r.lastSequence < sequence) return;
        off();
        resolve();
      });
    });
    const t0 = performance.now();
    engine.pushPrice(m.id, m.price * (i % 2 === 0 ? 1.0001 : 1));
    await seen;
    walls.push((performance.now() - t0) * 1000);
  }
  const { active } = performance.eventLoopUtilization(elu);
  const ran = engine.epochs - epochs;
  if (ran !== samples) throw new Error(`epoch cost: ${ran} epochs for ${samples} pushes`);
  return { wallMicros: median(walls), mainBusyMicros: (active * 1000) / ran };
}
