/**
 * ADL ranks on the feed: a connection subscribed to a market's `adlMarkets` topic gets both of its
 * ADL queues (the longs', then the shorts') on subscribe, then after each epoch each queue that changed; the rows are
 * engine.adlQueue's. A real FeedServer on loopback, `ws` clients, an engine with automatic epochs.
 *
 * The book, BTC (market 1) at 50,000 (one tier: maintenance 0.5%, initial 1%); ETH (market 2) holds no position.
 *   longs:  account 1, 1 BTC from 50,000, collateral 30,000;   account 5, 0.2 BTC from 45,000, collateral 5,000
 *   shorts: account 2, 0.4 BTC from 60,000, collateral 4,000;  account 3, 0.5 BTC from 60,000, collateral 40,000;
 *           account 4, 0.5 BTC from 40,000, collateral 20,000
 * At 50,000 the shorts rank 2 (pnl 16.7% x leverage 2.5), 3 (16.7% x 0.56), 4 (-25% / 1.67); at 30,000 account 4
 * is in profit (25% x 0.6 = 0.15) and passes account 3 (50% x 0.27 = 0.136): the queue becomes 2, 4, 3.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FeedClient as SdkClient } from '../src/feed/client.js';
import { encodeSubscribe, encodeTicks, encodeUnsubscribe, type AdlQueue, type FeedMessage, type Topics } from '../src/feed/codec.js';
import type { Engine } from '../src/index.js';
import { Feed, nextEpoch, SUBSCRIBER_TOKEN, TIERS, type FeedClient, type Started, type StartOptions } from './support/feed.js';

const BTC = 1;
const ETH = 2;
const LONGS = 1;
const SHORTS = -1;

const feed = new Feed();
afterEach(() => feed.closeAll());

function start(server: StartOptions['server'] = {}, engine: StartOptions['engine'] = {}): Promise<Started> {
  return feed.start({
    engine: { capacity: { markets: 2, accounts: 16, positions: 32 }, ...engine },
    server,
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
      e.addMarket({ id: ETH, symbol: 'ETH-USD', price: 3_000, tiers: TIERS });
      const book: [number, number, number, number][] = [
        [1, 30_000, 1, 50_000],
        [2, 4_000, -0.4, 60_000],
        [3, 40_000, -0.5, 60_000],
        [4, 20_000, -0.5, 40_000],
        [5, 5_000, 0.2, 45_000],
      ];
      for (const [account, collateral, size, entryPrice] of book) {
        e.addAccount(account, collateral);
        e.upsertPosition({ account, market: BTC, size, entryPrice });
      }
    },
  });
}

/** Connects a subscriber, reads its greeting and sends Subscribe `topics` (applied when the next sync returns). */
async function subscriber(server: Started['server'], topics: Partial<Topics>): Promise<FeedClient> {
  const c = await feed.connect(server, 'subscriber');
  expect(await c.next()).toMatchObject({ kind: 'engineStatus', sequence: 0 });
  c.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, ...topics }));
  return c;
}

/** What the server must send for one side of `market` now: engine.adlQueue of the opposite bankrupt side. */
function expected(engine: Engine, market: number, positionsSide: 1 | -1): AdlQueue {
  const queue = engine.adlQueue(market, positionsSide === LONGS ? -1 : 1);
  return {
    market,
    positionsSide,
    epoch: engine.epochs,
    queueLength: queue.length,
    entries: queue.map(({ account, queuePosition, size, rank, pnlPercent, effectiveLeverage }) => ({
      account,
      queuePosition,
      size,
      rank,
      pnlPercent,
      effectiveLeverage,
    })),
  };
}

const adlQueues = (frames: readonly FeedMessage[]): AdlQueue[] =>
  frames.flatMap((f) => {
    if (f.kind !== 'adlQueue') return [];
    const { kind: _kind, sequence: _sequence, ...q } = f;
    return [q];
  });

/** Sends a BTC tick as a publisher and waits for the epoch it starts. */
async function moveBtc(started: Started, price: number, i: number): Promise<void> {
  const pub = await feed.connect(started.server, 'publisher');
  const epoch = nextEpoch(started.engine);
  pub.send((s) => encodeTicks(s, [{ market: BTC, source: 1, price, confidence: 0, eventTimeUs: 1_000 + i, sourceSequence: i }]));
  await epoch;
}

describe('ADL queues on the feed', () => {
  it('a subscriber to a market ADL topic gets both queues at once, longs then shorts, ranked 1..n as engine.adlQueue', async () => {
    const { engine, server } = await start();
    const sub = await subscriber(server, { adlMarkets: [BTC] });
    const frames = await sub.sync();
    expect(frames.map((f) => f.kind)).toEqual(['adlQueue', 'adlQueue']);
    const [longs, shorts] = adlQueues(frames);
    expect(longs).toEqual(expected(engine, BTC, LONGS));
    expect(shorts).toEqual(expected(engine, BTC, SHORTS));
    expect(longs!.entries.map((e) => [e.queuePosition, e.account])).toEqual([
      [1, 5],
      [2, 1],
    ]);
    expect(shorts!.entries.map((e) => [e.queuePosition, e.account])).toEqual([
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
    expect(shorts!.entries.every((e) => e.size < 0)).toBe(true);
    expect(shorts!.queueLength).toBe(3);
    expect(server.stats().adlQueuesOut).toBe(2);
  });

  it('a market without positions has two empty queues', async () => {
    const { server } = await start();
    const sub = await subscriber(server, { adlMarkets: [ETH] });
    expect(adlQueues(await sub.sync()).map((q) => [q.market, q.positionsSide, q.queueLength, q.entries.length])).toEqual([
      [ETH, LONGS, 0, 0],
      [ETH, SHORTS, 0, 0],
    ]);
  });

  it('after a price move that reorders the ranks, the subscriber gets the new queues', async () => {
    const started = await start();
    const { engine, server } = started;
    const sub = await subscriber(server, { adlMarkets: [BTC] });
    await sub.sync();

    await moveBtc(started, 30_000, 1);
    const frames = await sub.sync();
    expect(frames.map((f) => f.kind)).toEqual(['adlQueue', 'adlQueue']);
    const [longs, shorts] = adlQueues(frames);
    expect(longs).toEqual(expected(engine, BTC, LONGS));
    expect(shorts).toEqual(expected(engine, BTC, SHORTS));
    expect(shorts!.entries.map((e) => e.account)).toEqual([2, 4, 3]);
    expect(shorts!.epoch).toBe(engine.epochs);
  });

  it('an epoch that leaves a queue as it was sends nothing', async () => {
    const started = await start();
    const sub = await subscriber(started.server, { adlMarkets: [BTC] });
    await sub.sync();
    await moveBtc(started, 50_000, 1);
    expect(await sub.sync()).toEqual([]);
    expect(started.server.stats().adlQueuesOut).toBe(2);
  });

  it('a subscriber without the ADL topic gets no ADL queue, even for a market it subscribes to', async () => {
    const started = await start();
    const markets = await subscriber(started.server, { markets: [BTC], accounts: [1] });
    const adl = await subscriber(started.server, { adlMarkets: [BTC] });
    await adl.sync();
    await moveBtc(started, 30_000, 1);
    await adl.sync();
    expect(adlQueues(await markets.sync())).toEqual([]);
  });

  it('unsubscribing stops the queues; subscribing again sends a fresh snapshot', async () => {
    const started = await start();
    const sub = await subscriber(started.server, { adlMarkets: [BTC] });
    await sub.sync();
    sub.send((s) => encodeUnsubscribe(s, { markets: [], accounts: [], allOrders: false, adlMarkets: [BTC] }));
    await sub.sync();
    await moveBtc(started, 30_000, 1);
    expect(await sub.sync()).toEqual([]);
    sub.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, adlMarkets: [BTC] }));
    expect(adlQueues(await sub.sync())).toEqual([expected(started.engine, BTC, LONGS), expected(started.engine, BTC, SHORTS)]);
  });

  it('a later subscriber snapshot does not hide a change from earlier ones: after each epoch every subscriber holds the engine queues', async () => {
    const started = await start({}, { autoEpoch: false });
    const { engine, server } = started;
    const first = await subscriber(server, { adlMarkets: [BTC] });
    const firstSeen = adlQueues(await first.sync());
    // Lands in the tables at the next step; the second subscriber's snapshot is taken in between.
    engine.pushPrice(BTC, 30_000);
    const second = await subscriber(server, { adlMarkets: [BTC] });
    const secondSeen = adlQueues(await second.sync());
    await engine.step();
    firstSeen.push(...adlQueues(await first.sync()));
    secondSeen.push(...adlQueues(await second.sync()));
    const latest = (seen: AdlQueue[], side: 1 | -1) => seen.filter((q) => q.positionsSide === side).at(-1)!.entries;
    for (const seen of [firstSeen, secondSeen]) {
      expect(latest(seen, LONGS)).toEqual(expected(engine, BTC, LONGS).entries);
      expect(latest(seen, SHORTS)).toEqual(expected(engine, BTC, SHORTS).entries);
    }
    expect(latest(firstSeen, SHORTS).map((e) => e.account)).toEqual([2, 4, 3]);
  });

  it('an unknown market is UNKNOWN_MARKET and subscribes nothing', async () => {
    const { server } = await start();
    const sub = await subscriber(server, { markets: [BTC], adlMarkets: [BTC, 999] });
    const frames = await sub.sync();
    expect(frames).toEqual([expect.objectContaining({ kind: 'errorFrame', code: 'UNKNOWN_MARKET', offendingSequence: 0 })]);
    expect((frames[0] as Extract<FeedMessage, { kind: 'errorFrame' }>).message).toContain('999');
  });

  it('ADL topics count against maxTopicsPerConnection with market and account topics', async () => {
    const { server } = await start({ maxTopicsPerConnection: 2 });
    const sub = await subscriber(server, { markets: [BTC], adlMarkets: [BTC, ETH] });
    expect(await sub.sync()).toEqual([expect.objectContaining({ kind: 'errorFrame', code: 'TOO_MANY_TOPICS', offendingSequence: 0 })]);
    sub.send((s) => encodeSubscribe(s, { markets: [BTC], accounts: [], allOrders: false, adlMarkets: [BTC] }));
    expect((await sub.sync()).map((f) => f.kind)).toEqual(['adlQueue', 'adlQueue']);
    // Held topics do not count again; a third one does.
    sub.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, adlMarkets: [BTC, ETH] }));
    expect(await sub.sync()).toEqual([expect.objectContaining({ kind: 'errorFrame', code: 'TOO_MANY_TOPICS' })]);
  });

  it('the client SDK emits adlQueue events and lists the ADL topic among its topics (sent again after a reconnect)', async () => {
    const { engine, server } = await start();
    const client = await SdkClient.connect({ url: server.url, token: SUBSCRIBER_TOKEN });
    try {
      const got: AdlQueue[] = [];
      const both = new Promise<void>((resolve) =>
        client.on('adlQueue', ({ kind: _kind, sequence: _sequence, ...q }) => {
          got.push(q);
          if (got.length === 2) resolve();
        }),
      );
      client.subscribe({ adlMarkets: [BTC] });
      await both;
      expect(got).toEqual([expected(engine, BTC, LONGS), expected(engine, BTC, SHORTS)]);
      expect(client.topics.adlMarkets).toEqual([BTC]);
    } finally {
      client.close();
    }
  });
});
