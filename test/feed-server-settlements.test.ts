/**
 * The venue topics on the feed: fills as they settled (Settlements, money in exact atoms, with how each deficit was
 * placed), the public liquidation tape (Liquidations, as ccxt's unified structure), insurance fund balances
 * (InsuranceFunds) and market summaries (MarketSummaries). A real FeedServer on loopback, `ws` clients that decode
 * every frame, the SDK client, an engine with automatic epochs.
 *
 * The book (BTC, market 0, at 50,000; ETH, market 1, at 3,000; maintenance 10%, initial 20%; empty insurance funds;
 * deficitPolicy 'socialized'):
 *   account 7:  0.1 BTC long from 50,000 on 600. BTC falls to 44,000: equity 0, its order's limit 43,560; filled
 *               there it realizes -644 on 600, and the empty fund leaves a deficit of 44, which the shorts pay.
 *   account 8:  0.1 BTC long from 50,000 on 900: equity 300 < maintenance 440 at 44,000; its fill pays a fee into
 *               the fund (after account 7's, so the fund holds exactly that fee).
 *   shorts:     accounts 20..24, seeded sizes in [0.01, 0.05) BTC from 50,000 on 5,000 each (the payers).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Settlement } from '../src/clearing/clearing.js';
import { FeedClient as SdkClient, type FeedClientEvents } from '../src/feed/client.js';
import {
  encodeFills,
  encodeFrame,
  encodeKillSwitch,
  encodeSubscribe,
  encodeTicks,
  FrameErrorCode,
  type FeedMessage,
  type FillSettlement,
  type Liquidation,
  type LiquidationOrder,
  type Topics,
} from '../src/feed/codec.js';
import { atomsToQuote, formatAtoms, toCcxtLiquidation } from '../src/feed/index.js';
import { Feed, PUBLISHER_TOKEN, SUBSCRIBER_TOKEN, until, within, type FeedClient, type Started } from './support/feed.js';
import { Random } from './support/random.js';

const BTC = 0;
const ETH = 1;
const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const ADMIN_TOKEN = 'admin-token-for-tests-00000001';
const SEED = 17;

const feed = new Feed();
let sdkClients: SdkClient[] = [];
afterEach(async () => {
  for (const c of sdkClients) c.close();
  sdkClients = [];
  await feed.closeAll();
});

/** Quote to atoms at 6 decimals, as the engine's ledger holds them (stated here, not taken from src). */
const atoms = (quote: number): bigint => BigInt(Math.round(quote * 1e6));
const tick = (market: number, price: number) => ({ market, source: 1, price, confidence: 0, eventTimeUs: 1_000, sourceSequence: 0 });

async function start(shorts: boolean, server: Parameters<Feed['start']>[0]['server'] = {}): Promise<Started & { settled: Settlement[] }> {
  const random = new Random(SEED);
  const started = await feed.start({
    // No order times out while a loaded machine is slow to fill it: the server's clock readings move event time to now.
    engine: { capacity: { markets: 2, accounts: 32, positions: 64 }, deficitPolicy: 'socialized', orderTimeoutUs: Infinity },
    server: { adminTokens: [ADMIN_TOKEN], ...server },
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
      e.addMarket({ id: ETH, symbol: 'ETH-USD', price: 3_000, tiers: TEN_PERCENT });
      e.addAccount(7, 600);
      e.upsertPosition({ account: 7, market: BTC, size: 0.1, entryPrice: 50_000 });
      e.addAccount(8, 900);
      e.upsertPosition({ account: 8, market: BTC, size: 0.1, entryPrice: 50_000 });
      if (!shorts) return;
      for (let a = 20; a < 25; a++) {
        e.addAccount(a, 5_000);
        e.upsertPosition({ account: a, market: BTC, size: -Number(random.range(0.01, 0.05).toFixed(4)), entryPrice: 50_000 });
      }
    },
  });
  const settled: Settlement[] = [];
  started.engine.onFill((s) => settled.push(s));
  return { ...started, settled };
}

/** Connects (the subscriber's token unless `token`), reads the greeting, subscribes and waits until it is applied. */
async function subscriber(server: Started['server'], topics: Partial<Topics>, token?: string): Promise<{ c: FeedClient; answer: FeedMessage[] }> {
  const c = await feed.connect(server, token === undefined ? 'subscriber' : { token });
  expect(await c.next()).toMatchObject({ kind: 'engineStatus', sequence: 0 });
  c.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, ...topics }));
  return { c, answer: await c.sync() };
}

/** Reads frames until one of `kind` arrives. */
async function frameOf<K extends FeedMessage['kind']>(c: FeedClient, kind: K): Promise<Extract<FeedMessage, { kind: K }>> {
  for (;;) {
    const m = await c.next(10_000);
    if (m.kind === kind) return m as Extract<FeedMessage, { kind: K }>;
  }
}

/** Reads frames into `into` until `done` holds for them. */
async function collect(c: FeedClient, done: (frames: readonly FeedMessage[]) => boolean, into: FeedMessage[] = []): Promise<FeedMessage[]> {
  try {
    while (!done(into)) into.push(await c.next(10_000));
  } catch (e) {
    throw new Error(`${(e as Error).message}; got ${JSON.stringify(into.map((f) => f.kind))}`);
  }
  return into;
}
const rowsOf = (frames: readonly FeedMessage[]) => ({
  settlements: framesOf(frames, 'settlements').flatMap((f) => [...f.settlements]),
  liquidations: framesOf(frames, 'liquidations').flatMap((f) => [...f.liquidations]),
  funds: framesOf(frames, 'insuranceFunds'),
});

const framesOf = <K extends FeedMessage['kind']>(frames: readonly FeedMessage[], kind: K): Extract<FeedMessage, { kind: K }>[] =>
  frames.filter((f): f is Extract<FeedMessage, { kind: K }> => f.kind === kind);

function firstEvent<E extends keyof FeedClientEvents>(c: SdkClient, event: E): Promise<FeedClientEvents[E]> {
  return within(
    new Promise<FeedClientEvents[E]>((resolve) => {
      const off = c.on(event, (...args: FeedClientEvents[E]) => {
        off();
        resolve(args);
      });
    }),
    10_000,
    event,
  );
}

/** Sends the tick that takes BTC to 44,000 and fills each order at its limit, account 7's first, in frames of their own. */
async function liquidate(pub: FeedClient): Promise<LiquidationOrder[]> {
  pub.send((s) => encodeTicks(s, [tick(BTC, 44_000)]));
  const orders = [...(await frameOf(pub, 'orders')).orders].sort((a, b) => a.account - b.account);
  expect(orders.map((o) => [o.account, o.side])).toEqual([
    [7, 'sell'],
    [8, 'sell'],
  ]);
  for (const o of orders) pub.send((s) => encodeFills(s, [{ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs: 2_000 }]));
  return orders;
}

/** The engine's settlement as the wire must carry it, but for how its deficit was placed (stated here). */
function wire(s: Settlement, side: 'buy' | 'sell', placed: Pick<FillSettlement, 'resolution' | 'deleveragings' | 'socializedAtoms' | 'unresolvedAtoms' | 'unresolvedReason'>): FillSettlement {
  return {
    sequence: s.sequence,
    orderId: s.orderId,
    account: s.account,
    market: s.market,
    side,
    quantity: s.quantity,
    price: s.price,
    eventTimeUs: s.eventTimeUs,
    closed: s.closed,
    sizeAfter: s.sizeAfter,
    orderRemaining: s.orderRemaining,
    realizedPnlAtoms: atoms(s.realizedPnl),
    feeAtoms: atoms(s.fee),
    insuranceCoverAtoms: atoms(s.insuranceCover),
    deficitAtoms: atoms(s.deficit),
    collateralAfterAtoms: atoms(s.collateralAfter),
    bankruptcyValue: s.bankruptcyValue,
    ...placed,
  };
}

describe('Settlements, Liquidations, InsuranceFunds and MarketSummaries on the feed', () => {
  it('settles account 7 (deficit 44, paid by the shorts) and account 8 (a fee into the fund), in exact atoms, to the topics that select them', async () => {
    const { engine, server, settled } = await start(true);
    const socialized: { amount: number; sequence: number }[] = [];
    engine.onSocializedLoss((l) => socialized.push(l));
    const { c: pub } = await subscriber(server, { allOrders: true }, PUBLISHER_TOKEN);
    const desk = await subscriber(server, { allOrders: true, settlements: true, insuranceFunds: true, marketSummaries: true, liquidationMarkets: [BTC] });
    const { c: account8 } = await subscriber(server, { accounts: [8], settlements: true });
    const { c: noFlag } = await subscriber(server, { allOrders: true });
    const { c: flagOnly } = await subscriber(server, { settlements: true });
    const { c: ethTape } = await subscriber(server, { liquidationMarkets: [ETH] });
    const sdk = await SdkClient.connect({ url: server.url, token: SUBSCRIBER_TOKEN });
    sdkClients.push(sdk);
    const sdkRows: FillSettlement[] = [];
    const sdkTape: Liquidation[] = [];
    let sdkDecimals = -1;
    sdk.on('settlements', (rows, decimals) => (sdkRows.push(...rows), (sdkDecimals = decimals)));
    sdk.on('liquidations', (rows) => sdkTape.push(...rows));
    const sdkAnswered = firstEvent(sdk, 'marketSummaries');
    sdk.subscribe({ allOrders: true, settlements: true, liquidationMarkets: [BTC], marketSummaries: true });
    await sdkAnswered; // its Subscribe is applied

    // The answer: every fund (both empty) and every market, as of the epoch the book loaded in.
    const funds0 = framesOf(desk.answer, 'insuranceFunds');
    expect(funds0).toEqual([{ kind: 'insuranceFunds', sequence: funds0[0]!.sequence, epoch: engine.epochs, quoteDecimals: 6, snapshot: true, funds: [{ market: BTC, balanceAtoms: 0n }, { market: ETH, balanceAtoms: 0n }] }]);
    expect(framesOf(desk.answer, 'marketSummaries').map(({ kind, sequence, ...u }) => u)).toEqual([
      {
        epoch: engine.epochs,
        snapshot: true,
        orders: 0,
        tickToOrderUs: null,
        markets: [
          { market: BTC, symbol: 'BTC-USD', markPrice: 50_000, oraclePrice: 50_000, paused: false, killLevel: 'normal', code: 'HEALTHY', reason: '' },
          { market: ETH, symbol: 'ETH-USD', markPrice: 3_000, oraclePrice: 3_000, paused: false, killLevel: 'normal', code: 'HEALTHY', reason: '' },
        ],
      },
    ]);

    await liquidate(pub);
    const frames = await collect(desk.c, (fs) => {
      const r = rowsOf(fs);
      return r.settlements.length >= 2 && r.liquidations.length >= 2 && r.funds.length >= 1;
    });
    // After the tick's epoch: BTC moved, two orders went out, and the time from the tick to them was measured.
    const moved = framesOf(frames, 'marketSummaries')[0]!;
    expect(moved).toMatchObject({ snapshot: false, orders: 2, markets: [{ market: BTC, markPrice: 44_000, oraclePrice: 44_000, paused: false }] });
    expect(moved.tickToOrderUs).toBeGreaterThanOrEqual(0);

    const { settlements: rows, liquidations: tape, funds } = rowsOf(frames);
    expect(framesOf(frames, 'settlements').map((f) => f.quoteDecimals)).toContain(6);
    expect(settled.map((s) => s.account)).toEqual([7, 8]);
    const [s7, s8] = settled as [Settlement, Settlement];
    // Account 7: realized 0.1 x (43,560 - 50,000) = -644 on 600, the fund empty: 44 short, all of it paid by the shorts.
    expect(s7).toMatchObject({ price: 43_560, closed: 0.1, sizeAfter: 0, insuranceCover: 0 });
    expect(s7.deficit).toBeCloseTo(44, 5);
    expect(socialized).toHaveLength(1);
    expect(socialized[0]!.sequence).toBe(s7.sequence);
    const expected = [
      wire(s7, 'sell', { resolution: 'socialized', deleveragings: 0, socializedAtoms: atoms(socialized[0]!.amount), unresolvedAtoms: 0n, unresolvedReason: null }),
      wire(s8, 'sell', { resolution: 'none', deleveragings: 0, socializedAtoms: 0n, unresolvedAtoms: 0n, unresolvedReason: null }),
    ];
    expect(rows).toEqual(expected);
    expect(rows[0]!.socializedAtoms).toBe(rows[0]!.deficitAtoms);
    expect(rows[1]!.feeAtoms).toBeGreaterThan(0n);

    // Money is exact: the fund holds account 8's fee to the atom, on the wire and in the ledger.
    expect(funds).toHaveLength(1);
    expect(funds[0]).toMatchObject({ snapshot: false, quoteDecimals: 6, funds: [{ market: BTC, balanceAtoms: rows[1]!.feeAtoms }] });
    expect(engine.ledger.balance('fund:0')).toBe(rows[1]!.feeAtoms);
    expect(formatAtoms(rows[1]!.feeAtoms, 6)).toBe(s8.fee.toFixed(6));
    expect(atomsToQuote(rows[0]!.realizedPnlAtoms, 6)).toBeCloseTo(-644, 5);

    // The tape: both liquidations, no account, in ccxt's shape.
    const liquidations: Liquidation[] = settled.map((s) => ({ sequence: s.sequence, market: BTC, symbol: 'BTC-USD', side: 'sell', price: s.price, amount: s.closed, eventTimeUs: 2_000, kind: 'fill' }));
    expect(tape).toEqual(liquidations);
    expect(toCcxtLiquidation(tape[0]!)).toEqual({
      info: liquidations[0],
      symbol: 'BTC-USD',
      contracts: 0.1,
      contractSize: 1,
      price: 43_560,
      baseValue: 0.1,
      quoteValue: 0.1 * 43_560,
      side: 'sell',
      timestamp: 2,
      datetime: '1970-01-01T00:00:00.002Z',
    });

    // Each topic gets what it selects, and nothing else.
    expect(rowsOf(await collect(account8, (fs) => rowsOf(fs).settlements.length >= 1)).settlements).toEqual([expected[1]]);
    expect(framesOf(await account8.sync(), 'settlements')).toEqual([]);
    expect(framesOf(await noFlag.sync(), 'settlements')).toEqual([]);
    expect(framesOf(await flagOnly.sync(), 'settlements')).toEqual([]);
    expect(framesOf(await ethTape.sync(), 'liquidations')).toEqual([]);
    await until(() => sdkRows.length >= 2 && sdkTape.length >= 2, 'the SDK\'s settlements and liquidations', 10_000);
    expect(sdkDecimals).toBe(6);
    expect(sdkRows).toEqual(expected);
    expect(sdkTape).toEqual(liquidations);
    expect(engine.ledger.total()).toBe(0n);
  });

  it('names a deficit nobody could take: resolution unresolved, its atoms and reason, beside the UnresolvedDeficits record', async () => {
    const { engine, server, settled } = await start(false);
    const unresolved: { amount: number; reason: string }[] = [];
    engine.onUnresolvedDeficit((u) => unresolved.push(u));
    const { c: pub } = await subscriber(server, { allOrders: true }, PUBLISHER_TOKEN);
    const { c: desk } = await subscriber(server, { markets: [BTC], settlements: true });
    await liquidate(pub);
    const rows = rowsOf(await collect(desk, (fs) => rowsOf(fs).settlements.length >= 2)).settlements;
    expect(unresolved).toHaveLength(1);
    expect(unresolved[0]).toMatchObject({ reason: 'no-counterparty' });
    expect(rows[0]).toEqual(
      wire(settled[0]!, 'sell', { resolution: 'unresolved', deleveragings: 0, socializedAtoms: 0n, unresolvedAtoms: atoms(unresolved[0]!.amount), unresolvedReason: 'no-counterparty' }),
    );
    expect(rows[0]!.unresolvedAtoms).toBe(rows[0]!.deficitAtoms);
    expect(rows[1]).toMatchObject({ account: 8, resolution: 'none', deficitAtoms: 0n });
  });

  it('shows a kill switch in the market summary: paused, its level, KILL_SWITCH and the reason', async () => {
    const { server } = await start(false);
    const { c: desk } = await subscriber(server, { marketSummaries: true });
    const { c: admin } = await subscriber(server, {}, ADMIN_TOKEN);
    admin.send((s) => encodeKillSwitch(s, { level: 'halt', market: ETH, reason: 'desk halt' }));
    // The kill switch starts no epoch of its own: the next input does.
    admin.send((s) => encodeTicks(s, [tick(BTC, 49_000)]));
    const frames = await collect(desk, (fs) => framesOf(fs, 'marketSummaries').some((u) => u.markets.some((m) => m.market === ETH)));
    const markets = framesOf(frames, 'marketSummaries').flatMap((u) => [...u.markets]);
    expect(markets.filter((m) => m.market === ETH)).toEqual([
      { market: ETH, symbol: 'ETH-USD', markPrice: 3_000, oraclePrice: 3_000, paused: true, killLevel: 'halt', code: 'KILL_SWITCH', reason: 'kill switch halt: desk halt' },
    ]);
  });

  it('refuses bad subscriptions with a code and changes nothing: an unknown market, id 4294967295, too many topics, a frame that flows the other way', async () => {
    const { server } = await start(false, { maxTopicsPerConnection: 2 });
    const { c } = await subscriber(server, {});
    const topics = server.stats().topics;
    const answers = async (frame: (s: number) => Uint8Array) => {
      const sequence = c.send(frame);
      const m = await frameOf(c, 'errorFrame');
      expect(m.offendingSequence).toBe(sequence);
      return m;
    };
    const none = { markets: [], accounts: [], allOrders: false };
    expect(await answers((s) => encodeSubscribe(s, { ...none, liquidationMarkets: [BTC, 99] }))).toMatchObject({ code: 'UNKNOWN_MARKET', message: expect.stringContaining('liquidationMarkets[1]') });
    expect(await answers((s) => encodeSubscribe(s, { ...none, liquidationMarkets: [4_294_967_295] }))).toMatchObject({
      code: FrameErrorCode.InvalidField,
      message: expect.stringContaining('topics.liquidationMarkets[0]'),
    });
    expect(await answers((s) => encodeSubscribe(s, { ...none, markets: [BTC], liquidationMarkets: [BTC, ETH] }))).toMatchObject({ code: 'TOO_MANY_TOPICS' });
    for (const kind of ['settlements', 'insuranceFunds', 'liquidations', 'marketSummaries'] as const) {
      const sample = {
        settlements: { kind, sequence: 0, quoteDecimals: 6, settlements: [] },
        insuranceFunds: { kind, sequence: 0, epoch: 0, quoteDecimals: 6, snapshot: false, funds: [{ market: BTC, balanceAtoms: 1n }] },
        liquidations: { kind, sequence: 0, liquidations: [{ sequence: 0, market: BTC, symbol: '', side: 'buy', price: 1, amount: 1, eventTimeUs: 0, kind: 'fill' }] },
        marketSummaries: { kind, sequence: 0, epoch: 0, snapshot: false, markets: [], orders: 0, tickToOrderUs: null },
      }[kind] as FeedMessage;
      const code = kind === 'settlements' ? FrameErrorCode.InvalidField : FrameErrorCode.UnknownMessage; // an empty list is no settlement frame
      expect(await answers((s) => encodeFrame({ ...sample, sequence: s }))).toMatchObject({ code });
    }
    expect(server.stats().topics).toBe(topics);
    // Nothing was taken: the tape of BTC is not this connection's.
    const { c: pub } = await subscriber(server, { allOrders: true, liquidationMarkets: [BTC] }, PUBLISHER_TOKEN);
    await liquidate(pub);
    await collect(pub, (fs) => rowsOf(fs).liquidations.length >= 2);
    expect(framesOf(await c.sync(), 'liquidations')).toEqual([]);
  });
});
