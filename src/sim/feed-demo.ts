/**
 * The main command's demo (`npm start`): everything over real loopback WebSocket.
 *
 *   price publisher (3 sources x 4 markets) --ticks-->  +-----------------------+  --orders--> risk desk (subscriber)
 *   matching engine (publisher) --positions, fills--->  | FeedServer (uWS) +    |  --orders--> matching engine
 *                               <--------orders-------  | Engine (scan pool +   |
 *                                                       | executor thread)      |
 *                                                       +-----------------------+
 *
 * The matching engine opens the accounts and positions over the socket and fills every liquidation order at its
 * limit price, reporting the fill; the engine settles it (the position shrinks, the fee goes to the market's
 * insurance fund, or the fund covers a fill beyond bankruptcy). The price publisher signs each of its 3 sources'
 * ticks (Ed25519, keys from fixed seeds, registered in the engine's oracle config) and sends one SignedPriceTicks
 * frame per step; the oracle aggregates the sources into each market's oracle and mark price, and pauses a market
 * it cannot trust. One forged report and one NaN price are sent on the way and rejected. The risk desk prints
 * liquidations as they arrive.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Engine } from '../engine/engine.js';
import { FeedClient } from '../feed/client.js';
import { type Tick } from '../feed/messages.js';
import { SourceSigner, signReports } from '../oracle/keys.js';
import { FeedServer, type FeedStats } from '../feed/server.js';
import { formatOrder } from './format.js';
import { mulberry32, normal } from './random.js';
import { moneySummary, seedInsurance, tallySettlements, type MoneySummary } from './tally.js';
import { MARKETS, population, PricePath, TIERS } from './world.js';

export interface FeedDemoOptions {
  readonly seed: number;
  readonly accounts: number;
  readonly steps: number;
  /** Milliseconds between price steps. */
  readonly intervalMs: number;
  readonly scanWorkers?: number;
  /** Orders printed per frame before "... and N more". */
  readonly printPerFrame: number;
  readonly log: (line: string) => void;
}

export interface FeedDemoSummary extends MoneySummary {
  readonly url: string;
  readonly positions: number;
  readonly ticksSent: number;
  readonly epochs: number;
  readonly orders: number;
  readonly fills: number;
  readonly marginCalls: number;
  readonly rejectedByCode: Record<string, number>;
  /** From a price frame's send to the first orders frame after it (later ones may follow fills, not the tick). */
  readonly tickToOrderMicros: { p50: number; p99: number; max: number; samples: number };
  readonly server: FeedStats;
  readonly orderStreamDigest: string;
}

const SOURCES = 3;
/** The price sources' keys, from fixed seeds (a demo; a venue registers its sources' own public keys). */
const SIGNERS = Array.from({ length: SOURCES }, (_, i) => SourceSigner.fromSeed(new Uint8Array(32).fill(0xd0 + i)));
const signerOf = (source: number): SourceSigner => SIGNERS[source - 1]!;
/** Rows per setup frame: 10,000 positions are 400 KB, inside the default 1 MiB frame. */
const SETUP_ROWS = 10_000;

export async function runFeedDemo(o: FeedDemoOptions): Promise<FeedDemoSummary> {
  const rand = mulberry32(o.seed);
  const log = o.log;
  const world = population(rand, o.accounts);
  const positions = world.reduce((n, a) => n + a.positions.length, 0);
  const engine = await Engine.start({
    scanWorkers: o.scanWorkers,
    capacity: { markets: MARKETS.length, accounts: o.accounts, positions: o.accounts * MARKETS.length },
    oracle: {
      markets: MARKETS.map((m) => ({ market: m.id, sources: SIGNERS.map((k, i) => ({ id: i + 1, weight: 1, publicKey: k.publicKeyBase64 })) })),
    },
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
  const server = await FeedServer.start(engine, { port: 0, publisherTokens: [publisherToken], subscriberTokens: [subscriberToken] });
  const clients: FeedClient[] = [];
  let stopping = false;
  try {
    log(`unwind demo: feed server ${server.url} (uWebSockets.js native), engine with ${engine.config.scanWorkers} scan worker(s) + 1 executor thread`);
    log(`world: ${MARKETS.length} markets, ${o.accounts} accounts, ${positions} positions, ${o.steps} price steps of ${o.intervalMs} ms, ${SOURCES} sources per market, seed ${o.seed}`);

    const matcher = await FeedClient.connect({ url: server.url, token: publisherToken });
    const prices = await FeedClient.connect({ url: server.url, token: publisherToken });
    const desk = await FeedClient.connect({ url: server.url, token: subscriberToken, tokenIn: 'query' });
    clients.push(matcher, prices, desk);
    const rejected: Record<string, number> = {};
    for (const c of clients) {
      c.on('serverError', (e) => {
        rejected[e.code] = (rejected[e.code] ?? 0) + 1;
        log(`  rejected by the server: ${e.code} (frame ${e.offendingSequence ?? '?'}): ${e.message}`);
      });
    }

    // ---- the matching engine opens the book over the socket ----
    for (let i = 0; i < world.length; i += SETUP_ROWS) {
      matcher.sendCollateral(world.slice(i, i + SETUP_ROWS).map((a) => ({ account: a.id, collateral: a.collateral })));
    }
    const rows = world.flatMap((a) => a.positions.map((p) => ({ account: a.id, ...p })));
    for (let i = 0; i < rows.length; i += SETUP_ROWS) matcher.sendPositions(rows.slice(i, i + SETUP_ROWS));
    // Frames of one connection are applied in order: the snapshot of the last account arrives after every setup frame.
    await barrier(matcher, world[world.length - 1]!.id);
    log(`book loaded over the socket: ${engine.counts.accounts} accounts, ${engine.counts.positions} positions`);

    // ---- the matching engine fills every order at its limit price; the engine settles each fill ----
    let fills = 0;
    const tally = tallySettlements(engine);
    matcher.subscribe({ allOrders: true });
    matcher.on('orders', (orders) => {
      if (stopping) return; // orders of an epoch still in flight at the end: the matching engine has closed
      const eventTimeUs = nowUs();
      matcher.sendFills(orders.map((o) => ({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs })));
      fills += orders.length;
    });

    // ---- the risk desk watches every order and margin call ----
    let orders = 0;
    let marginCalls = 0;
    /** When the latest price frame was sent, until the first orders frame after it arrives. */
    let priceFrameSentAt: number | undefined;
    let steps = 0;
    const latencies: number[] = [];
    const digest = createHash('sha256');
    desk.subscribe({ allOrders: true });
    desk.on('marginCalls', (calls) => (marginCalls += calls.length));
    desk.on('orders', (batch) => {
      if (priceFrameSentAt !== undefined) latencies.push((performance.now() - priceFrameSentAt) * 1000);
      priceFrameSentAt = undefined;
      batch.forEach((order, k) => {
        digest.update(JSON.stringify(order));
        if (k < o.printPerFrame) log(formatOrder(steps, order));
      });
      if (batch.length > o.printPerFrame) log(`  ... and ${batch.length - o.printPerFrame} more in epoch ${batch[0]!.epoch}`);
      orders += batch.length;
    });
    await barrier(desk, world[0]!.id);

    // ---- the price publisher: 3 sources per market around the path ----
    const path = new PricePath(rand, o.steps);
    const noise = normal(mulberry32(o.seed ^ 0x5eed));
    const sourceSequence = new Array<number>(MARKETS.length * SOURCES).fill(0);
    let ticksSent = 0;
    const badAt = Math.floor(o.steps / 3);
    for (let step = 1; step <= o.steps; step++) {
      const updates = path.next();
      if (step === path.crashAt) log(`--- step ${step}: crash begins ---`);
      const t = nowUs();
      const ticks: Tick[] = [];
      for (const u of updates) {
        // Sources quote around the path; the middle source quotes it exactly and is sent last.
        for (const s of [0, 2, 1]) {
          const k = u.market * SOURCES + s;
          const price = s === 1 ? u.price : Number((u.price * (1 + 0.0004 * noise())).toPrecision(8));
          ticks.push({ market: u.market, source: s + 1, price, confidence: u.price * 0.0002, eventTimeUs: t, sourceSequence: ++sourceSequence[k]! });
        }
      }
      if (step === badAt) {
        log(`--- step ${step}: a source sends a NaN price; the server rejects that frame and nothing changes ---`);
        prices.sendTicks([{ ...ticks[0]!, price: Number.NaN }]);
        log(`--- step ${step}: a forged report (signed with a key the registry does not hold) is rejected too ---`);
        const forged = { ...ticks[0]!, price: ticks[0]!.price * 0.5, sourceSequence: ticks[0]!.sourceSequence + 1e9 };
        prices.sendSignedTicks([forged], SourceSigner.fromSeed(new Uint8Array(32).fill(0x66)).sign(forged));
      }
      steps = step;
      priceFrameSentAt = performance.now();
      prices.sendSignedTicks(ticks, signReports(ticks, signerOf));
      ticksSent += ticks.length;
      await sleep(o.intervalMs);
    }
    await sleep(Math.max(100, 4 * o.intervalMs));
    await barrier(matcher, world[0]!.id);
    await sleep(50);

    latencies.sort((x, y) => x - y);
    const pct = (q: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
    return {
      url: server.url,
      positions,
      ticksSent,
      epochs: engine.epochs,
      orders,
      fills,
      marginCalls,
      ...moneySummary(engine, tally, world.map((a) => a.id)),
      rejectedByCode: rejected,
      tickToOrderMicros: { p50: pct(0.5), p99: pct(0.99), max: Math.round(latencies[latencies.length - 1] ?? 0), samples: latencies.length },
      server: server.stats(),
      orderStreamDigest: digest.digest('hex'),
    };
  } finally {
    stopping = true;
    for (const c of clients) c.close();
    await server.close();
    await engine.close();
  }
}

/** Resolves once the server has answered a subscription to `account` (every earlier frame of `client` has landed). */
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
const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);
