/**
 * The main command's demo (`npm start`): everything over real loopback WebSocket.
 *
 *   price publisher (3 sources x 4 markets) --ticks-->  +-----------------------+  --orders--> risk desk (subscriber)
 *   matching engine (publisher) --positions, fills,-->  | FeedServer (uWS) +    |  --orders--> matching engine
 *                                 expiries, depth       | Engine (scan pool +   |
 *                               <--------orders-------  | executor thread)      |
 *                                                       +-----------------------+
 *
 * The matching engine opens the accounts and positions over the socket and runs the venue simulator (src/sim/venue,
 * set up as the embedded demo's: demoVenue): each liquidation order it receives becomes an IOC at its limit on the
 * venue's book, executing the venue's latency after the epoch that sent it. What the book gave goes back over the
 * socket as a Fills frame (the levels' average price, the filled quantity, the execution time), the unfilled rest
 * as an OrderExpiries frame, and the engine settles them; then a Depth frame with the book volume within 1% of each
 * mid, which the strategies' participation caps take their share of. The price publisher's 3 sources quote around
 * the venue's mids, so our fills' impact moves the prices the engine marks at, and a cascade can follow. It signs each source's
 * ticks (Ed25519, keys from fixed seeds, registered in the engine's oracle config); the oracle aggregates them into
 * each market's oracle and mark price and pauses a market it cannot trust. One forged report and one NaN price are
 * sent on the way and rejected. The risk desk prints liquidations as they arrive, each child of a stepped strategy
 * marked with its place in its liquidation.
 *
 * Time: one price step per second of event time (as the embedded demo), from the wall clock at the first step, so
 * the run's event time runs ahead of the wall clock: the engine's clock follows its sources' quorum time and the
 * server's wall-clock readings, behind it, change nothing. The demo is the exchange's sequencer: the engine runs
 * without autoEpoch and the demo steps it once per price step, after the step's fills, expiries, depth and ticks have been
 * acknowledged, then waits until the step's orders have reached the matching engine and the desk. So each epoch
 * takes the last step's fills and expiries with the new prices, as the embedded demo's do.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { LiquidationOrder } from '../clearing/orders.js';
import type { StrategyKind } from '../config-types.js';
import { Engine } from '../engine/engine.js';
import { FeedClient, FeedClientError } from '../feed/client.js';
import { type Fill, type Tick } from '../feed/messages.js';
import { SourceSigner, signReports } from '../oracle/keys.js';
import { FeedServer, type FeedStats } from '../feed/server.js';
import { loadTransport } from '../feed/transport.js';
import { executionFor } from './backtest.js';
import { demoVenue, STEP_US } from './demo.js';
import { formatOrder } from './format.js';
import { fillOf, PARTICIPATION_BAND, restsOpen, submitChild, type Child } from './matching.js';
import { mulberry32, normal } from './random.js';
import { ExecutionTally, moneySummary, openDeficits, seedInsurance, tallySettlements, type ExecutionSummary, type MoneySummary, type Parent } from './tally.js';
import type { Venue } from './venue/index.js';
import { MARKETS, population, PricePath, TIERS } from './world.js';

export interface FeedDemoOptions {
  readonly seed: number;
  readonly accounts: number;
  readonly steps: number;
  /** Wall time each price step takes at least, milliseconds (a pace for watching; 0: as fast as it goes). */
  readonly intervalMs: number;
  readonly scanWorkers?: number;
  /** Orders printed per step before "... and N more". */
  readonly printPerFrame: number;
  readonly log: (line: string) => void;
  /** The book's loading over the socket: rows (collateral and position updates) accepted so far, of all (a progress bar). */
  readonly progress?: (done: number, total: number) => void;
  /** The execution strategy (README "Execution strategies"; src/sim/backtest.ts `executionFor`). Default 'ioc'. */
  readonly strategy?: StrategyKind;
  /** The feed server's interface and port (`unwind demo --host --port`). Default 127.0.0.1, a free port. */
  readonly host?: string;
  readonly port?: number;
}

export interface FeedDemoSummary extends MoneySummary {
  readonly url: string;
  readonly positions: number;
  readonly ticksSent: number;
  readonly epochs: number;
  readonly orders: number;
  readonly marginCalls: number;
  readonly rejectedByCode: Record<string, number>;
  /** From a price frame's send to the first orders frame of its epoch at the risk desk (the epoch included). */
  readonly tickToOrderMicros: { p50: number; p99: number; max: number; samples: number };
  readonly server: FeedStats;
  readonly orderStreamDigest: string;
  readonly strategy: StrategyKind;
  readonly execution: ExecutionSummary;
  /** Fills the matching engine reported (Fills rows) and orders it expired with a rest (OrderExpiries ids). */
  readonly fills: number;
  readonly expiries: number;
  /** Fills reported at a price worse than their order's limit: 0 (the engine would refuse them, INVALID_FILL). */
  readonly beyondLimit: number;
  /** Orders sent in the last epoch, not executed when the demo stopped. */
  readonly inFlight: number;
  /** Negative equity of groups still holding a position at the end (src/sim/tally.ts openDeficits). */
  readonly openDeficits: number;
  /** Fills and expiries the engine refused (rows of rejected Fills and OrderExpiries frames): 0. */
  readonly refused: number;
}

const SOURCES = 3;
/** The price sources' keys, from fixed seeds (a demo; a venue registers its sources' own public keys). */
const SIGNERS = Array.from({ length: SOURCES }, (_, i) => SourceSigner.fromSeed(new Uint8Array(32).fill(0xd0 + i)));
const signerOf = (source: number): SourceSigner => SIGNERS[source - 1]!;
/** Rows per setup frame: 10,000 positions are 400 KB, inside the default 1 MiB frame. */
const SETUP_ROWS = 10_000;
/** Rows per Fills or OrderExpiries frame: a fill row is under 100 bytes, so 5,000 stay well inside 1 MiB. */
const REPORT_ROWS = 5_000;
/** A reply the demo waits for that has not come in this long means something is broken: fail, do not hang. */
const STALL_MS = 60_000;

/**
 * The demo's matching engine: a publisher connection in front of the venue. Every order it receives goes to the
 * venue as an IOC at its limit at the venue's current event time; `report(tUs)` runs the venue to tUs and sends
 * back what our orders did, fills first, then the book volume near each mid (a Depth frame, as src/sim/matching.ts
 * pushes it in process: the strategies' participation caps take their share of it), and resolves once the server
 * has acknowledged every frame.
 */
class VenueMatchingEngine {
  /** Orders sent to the venue and not executed yet, by id. */
  private readonly inFlight = new Map<string, LiquidationOrder>();
  /** The venue's event time: where orders received now are submitted. */
  private nowUs: number;
  received = 0;
  fills = 0;
  expiries = 0;
  beyondLimit = 0;
  refused = 0;

  constructor(
    private readonly client: FeedClient,
    private readonly venue: Venue,
    startUs: number,
    onChild: (c: Child) => void,
    onOrders: () => void,
  ) {
    this.nowUs = startUs;
    client.on('orders', (orders) => {
      for (const order of orders) {
        onChild(submitChild(venue, order, this.nowUs));
        this.inFlight.set(order.id, order);
      }
      this.received += orders.length;
      onOrders();
    });
  }

  get pending(): number {
    return this.inFlight.size;
  }

  async report(tUs: number): Promise<void> {
    this.nowUs = tUs;
    const fills: Fill[] = [];
    /** Rests by execution time: one OrderExpiries frame carries one event time. */
    const rests = new Map<number, string[]>();
    for (const x of this.venue.advance(tUs)) {
      const order = this.inFlight.get(String(x.clientId));
      if (order === undefined) continue;
      this.inFlight.delete(order.id);
      const fill = fillOf(order, x);
      if (fill !== undefined) {
        fills.push(fill);
        if (order.side === 'sell' ? fill.price < order.limitPrice : fill.price > order.limitPrice) this.beyondLimit++;
      }
      if (!restsOpen(order, fill)) continue;
      const ids = rests.get(x.executedUs);
      if (ids === undefined) rests.set(x.executedUs, [order.id]);
      else ids.push(order.id);
    }
    const acks: Promise<void>[] = [];
    // Frames of one connection are applied in order: a partly filled order's fill lands before its expiry.
    for (let i = 0; i < fills.length; i += REPORT_ROWS) {
      const rows = fills.slice(i, i + REPORT_ROWS);
      acks.push(this.acknowledged(this.client.sendFills(rows), rows.length));
      this.fills += rows.length;
    }
    for (const [executedUs, ids] of rests) {
      for (let i = 0; i < ids.length; i += REPORT_ROWS) {
        const rows = ids.slice(i, i + REPORT_ROWS);
        acks.push(this.acknowledged(this.client.sendExpiries(rows, executedUs), rows.length));
        this.expiries += rows.length;
      }
    }
    // What the books hold near the mid after our orders took their share: the next epoch's children are capped by it.
    const v = this.venue;
    const depth = v.markets.map((market) => ({ market, bidVolume: v.bookVolume(market, 'bid', PARTICIPATION_BAND), askVolume: v.bookVolume(market, 'ask', PARTICIPATION_BAND) }));
    acks.push(this.acknowledged(this.client.sendDepth(depth), 0));
    await Promise.all(acks);
  }

  /** Resolves once frame `sequence` is applied; counts its rows as refused if the server rejected it. */
  private acknowledged(sequence: number, rows: number): Promise<void> {
    return this.client.accepted(sequence).then(
      () => undefined,
      (e: unknown) => {
        if (!(e instanceof FeedClientError && e.code === 'REJECTED')) throw e;
        this.refused += rows;
      },
    );
  }
}

export async function runFeedDemo(o: FeedDemoOptions): Promise<FeedDemoSummary> {
  const rand = mulberry32(o.seed);
  const log = o.log;
  const strategy = o.strategy ?? 'ioc';
  const world = population(rand, o.accounts);
  // The same draws as the embedded demo: the same book and the same price path under the venue.
  const path = new PricePath(rand, o.steps);
  const positions = world.reduce((n, a) => n + a.positions.length, 0);
  loadTransport(); // the native feed transport for this Node, or TRANSPORT_UNAVAILABLE before any thread starts
  const engine = await Engine.start({
    scanWorkers: o.scanWorkers,
    autoEpoch: false,
    capacity: { markets: MARKETS.length, accounts: o.accounts, positions: o.accounts * MARKETS.length },
    oracle: {
      markets: MARKETS.map((m) => ({ market: m.id, sources: SIGNERS.map((k, i) => ({ id: i + 1, weight: 1, publicKey: k.publicKeyBase64 })) })),
    },
    execution: executionFor(strategy),
  });
  const symbolOf = new Map<number, string>(MARKETS.map((m) => [m.id, m.symbol]));
  engine.onMarketStatus((s) => {
    if (s.state === 'paused' && s.code === 'ORACLE_STALE' && s.eventTimeUs === 0) return; // at start: no report yet
    o.log(`market ${symbolOf.get(s.market)} ${s.state}${s.code === 'HEALTHY' ? '' : ` (${s.code}: ${s.reason})`}`);
  });
  for (const m of MARKETS) engine.addMarket({ id: m.id, symbol: m.symbol, price: m.price, tiers: TIERS });
  seedInsurance(engine);
  const publisherToken = randomBytes(18).toString('base64url');
  const subscriberToken = randomBytes(18).toString('base64url');
  const server = await FeedServer.start(engine, { host: o.host ?? '127.0.0.1', port: o.port ?? 0, publisherTokens: [publisherToken], subscriberTokens: [subscriberToken] });
  const clients: FeedClient[] = [];
  const replies = new Replies();
  try {
    log(`unwind demo: feed server ${server.url} (uWebSockets.js native), engine with ${engine.config.scanWorkers} scan worker(s) + 1 executor thread`);
    log(`world: ${MARKETS.length} markets, ${o.accounts} accounts, ${positions} positions, ${o.steps} price steps of 1 s of event time, ${SOURCES} sources per market, seed ${o.seed}`);

    // No reconnects: the demo runs in lockstep with its connections, and one that drops fails the run.
    const matcher = await FeedClient.connect({ url: server.url, token: publisherToken, acks: true, reconnect: false });
    const prices = await FeedClient.connect({ url: server.url, token: publisherToken, acks: true, reconnect: false });
    const desk = await FeedClient.connect({ url: server.url, token: subscriberToken, tokenIn: 'query', reconnect: false });
    clients.push(matcher, prices, desk);
    const rejected: Record<string, number> = {};
    for (const c of clients) {
      c.on('serverError', (e) => {
        rejected[e.code] = (rejected[e.code] ?? 0) + 1;
        log(`  rejected by the server: ${e.code} (frame ${e.offendingSequence ?? '?'}): ${e.message}`);
      });
      c.on('close', (code, reason) => replies.fail(`a demo connection closed (${code}${reason === '' ? '' : ` ${reason}`})`));
    }

    // ---- the matching engine opens the book over the socket; it lands in an epoch of its own ----
    matcher.subscribe({ allOrders: true });
    let last = 0;
    const rows = world.flatMap((a) => a.positions.map((p) => ({ account: a.id, ...p })));
    let accepted = 0;
    const loaded = (sequence: number, n: number): void => {
      if (o.progress !== undefined) void matcher.accepted(sequence).then(() => o.progress!((accepted += n), world.length + rows.length), () => {});
    };
    for (let i = 0; i < world.length; i += SETUP_ROWS) {
      last = matcher.sendCollateral(world.slice(i, i + SETUP_ROWS).map((a) => ({ account: a.id, collateral: a.collateral })));
      loaded(last, Math.min(SETUP_ROWS, world.length - i));
    }
    for (let i = 0; i < rows.length; i += SETUP_ROWS) {
      last = matcher.sendPositions(rows.slice(i, i + SETUP_ROWS));
      loaded(last, Math.min(SETUP_ROWS, rows.length - i));
    }
    // Frames of one connection are applied in order: the last one's Ack covers every setup frame.
    await replies.wait(matcher.accepted(last));
    await engine.step();
    log(`book loaded over the socket: ${engine.counts.accounts} accounts, ${engine.counts.positions} positions`);

    // ---- the risk desk watches every order and margin call ----
    let marginCalls = 0;
    /** When the step's price frame was sent, until the first orders frame after it arrives. */
    let priceFrameSentAt: number | undefined;
    const latencies: number[] = [];
    /** The step's orders as the desk got them: printed once the step is done, with their place in their liquidation. */
    let inbox: LiquidationOrder[] = [];
    desk.subscribe({ allOrders: true });
    desk.on('marginCalls', (calls) => (marginCalls += calls.length));
    desk.on('orders', (batch) => {
      if (priceFrameSentAt !== undefined) latencies.push((performance.now() - priceFrameSentAt) * 1000);
      priceFrameSentAt = undefined;
      for (const order of batch) inbox.push(order);
      replies.check();
    });
    await replies.wait(barrier(desk, world[0]!.id));

    // ---- the venue, from the first step's event time; the matching engine sends it every order ----
    const startUs = Math.ceil(Date.now() / 1000) * 1_000_000; // the next whole second
    const venue = demoVenue(o.seed, path, startUs);
    const execution = new ExecutionTally(engine);
    const money = tallySettlements(engine);
    /** Each position's liquidation, as the tally opened it, and each order's place in it (1 for the first child). */
    const parents = new Map<string, Parent>();
    const childIndex = new Map<string, number>();
    const matching = new VenueMatchingEngine(
      matcher,
      venue,
      startUs,
      (c) => {
        const key = `${c.order.account}:${c.order.market}`;
        const before = execution.parents.length;
        execution.child(c);
        if (execution.parents.length > before) parents.set(key, execution.parents[before]!);
        childIndex.set(c.order.id, parents.get(key)!.children);
      },
      () => replies.check(),
    );
    const stepped = strategy !== 'ioc';

    // ---- the price publisher: 3 sources per market around the venue's mids; one epoch per step ----
    const noise = normal(mulberry32(o.seed ^ 0x5eed));
    const sourceSequence = new Array<number>(MARKETS.length * SOURCES).fill(0);
    let ticksSent = 0;
    let orders = 0;
    const badAt = Math.floor(o.steps / 3);
    const digest = createHash('sha256');
    for (let step = 0; step <= o.steps; step++) {
      const stepStart = performance.now();
      const tUs = startUs + step * STEP_US;
      if (step === path.crashAt) log(`--- step ${step}: crash begins ---`);
      execution.at(tUs);
      // The orders of the last step executed latencyUs after it: their fills and expiries go in first.
      await replies.wait(matching.report(tUs));
      const ticks: Tick[] = [];
      for (const m of MARKETS) {
        const mid = venue.mid(m.id);
        // Sources quote around the venue's mid; the middle source quotes it exactly and is sent last.
        for (const s of [0, 2, 1]) {
          const k = m.id * SOURCES + s;
          const price = s === 1 ? mid : Number((mid * (1 + 0.0004 * noise())).toPrecision(8));
          ticks.push({ market: m.id, source: s + 1, price, confidence: mid * 0.0002, eventTimeUs: tUs, sourceSequence: ++sourceSequence[k]! });
        }
      }
      if (step === badAt) {
        log(`--- step ${step}: a source sends a NaN price; the server rejects that frame and nothing changes ---`);
        const nan = prices.accepted(prices.sendTicks([{ ...ticks[0]!, price: Number.NaN }]));
        log(`--- step ${step}: a forged report (signed with a key the registry does not hold) is rejected too ---`);
        const forged = { ...ticks[0]!, price: ticks[0]!.price * 0.5, sourceSequence: ticks[0]!.sourceSequence + 1e9 };
        const bad = prices.accepted(prices.sendSignedTicks([forged], SourceSigner.fromSeed(new Uint8Array(32).fill(0x66)).sign(forged)));
        await replies.wait(Promise.allSettled([nan, bad]));
      }
      const sent = prices.sendSignedTicks(ticks, signReports(ticks, signerOf));
      priceFrameSentAt = performance.now();
      ticksSent += ticks.length;
      await replies.wait(prices.accepted(sent));
      const r = await engine.step();
      orders += r.orders.length;
      // Every order of the epoch at the matching engine (sent to the venue at tUs) and at the desk.
      await replies.wait(replies.until(() => matching.received >= orders && inbox.length >= r.orders.length));
      priceFrameSentAt = undefined;
      inbox.forEach((order, k) => {
        digest.update(JSON.stringify(order));
        if (k >= o.printPerFrame) return;
        log(stepped ? `${formatOrder(step, order)}  ${strategy} child ${childIndex.get(order.id)}` : formatOrder(step, order));
      });
      if (inbox.length > o.printPerFrame) log(`  ... and ${inbox.length - o.printPerFrame} more in epoch ${r.epoch}`);
      inbox = [];
      const spare = o.intervalMs - (performance.now() - stepStart);
      if (spare > 0) await sleep(spare);
    }
    // Every frame the server sent the desk before this answer has arrived (margin calls included).
    await replies.wait(barrier(desk, world[0]!.id));

    latencies.sort((x, y) => x - y);
    const pct = (q: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
    const ids = world.map((a) => a.id);
    return {
      url: server.url,
      positions,
      ticksSent,
      epochs: engine.epochs,
      orders,
      marginCalls,
      ...moneySummary(engine, money, ids),
      rejectedByCode: rejected,
      tickToOrderMicros: { p50: pct(0.5), p99: pct(0.99), max: Math.round(latencies[latencies.length - 1] ?? 0), samples: latencies.length },
      server: server.stats(),
      orderStreamDigest: digest.digest('hex'),
      strategy,
      execution: execution.summary((m) => venue.mid(m)),
      fills: matching.fills,
      expiries: matching.expiries,
      beyondLimit: matching.beyondLimit,
      inFlight: matching.pending,
      openDeficits: openDeficits(engine, ids),
      refused: matching.refused,
    };
  } finally {
    replies.fail('the demo is closing');
    for (const c of clients) c.close();
    await server.close();
    await engine.close();
  }
}

/**
 * What the demo waits for over the sockets: each wait fails, rather than hangs, if a connection closes or nothing
 * has come for STALL_MS. `until(done)` resolves once `done()` holds, checked whenever `check()` is called.
 */
class Replies {
  private readonly waiting = new Set<{ readonly done: () => boolean; readonly resolve: () => void }>();
  private failure: Error | undefined;
  private readonly rejects = new Set<(e: Error) => void>();

  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.add({ done, resolve }));
  }

  check(): void {
    for (const w of this.waiting) {
      if (!w.done()) continue;
      this.waiting.delete(w);
      w.resolve();
    }
  }

  /** `reply`, or the first failure: a closed connection, or STALL_MS without it. */
  wait<T>(reply: Promise<T>): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    let timer: NodeJS.Timeout | undefined;
    let reject: ((e: Error) => void) | undefined;
    const failed = new Promise<never>((_, r) => {
      reject = r;
      this.rejects.add(r);
      timer = setTimeout(() => r(new Error(`the demo got no reply over the socket in ${STALL_MS / 1000} s`)), STALL_MS);
    });
    return Promise.race([reply, failed]).finally(() => {
      clearTimeout(timer);
      this.rejects.delete(reject!);
    });
  }

  fail(why: string): void {
    this.failure ??= new Error(why);
    for (const r of this.rejects) r(this.failure);
  }
}

/** Resolves once the server has answered a subscription to `account` (every earlier frame to `client` has arrived). */
function barrier(client: FeedClient, account: number): Promise<void> {
  return new Promise((resolve) => {
    const off = client.on('accountStates', (states) => {
      if (!states.some((s) => s.account === account)) return;
      off();
      client.unsubscribe({ accounts: [account] });
      resolve();
    });
    client.subscribe({ accounts: [account] });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
