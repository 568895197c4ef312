/**
 * The oracle layer over the wire: sources publish SignedPriceTicks to a real uWS server, which verifies each
 * report, feeds the oracle's clock from the wall clock, and tells subscribers when a market pauses and resumes; an
 * admin token works the kill switch; the matching engine's BookTickers move the mark.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeBookTickers, encodeKillSwitch, encodeSignedPriceTicks, encodeSubscribe, encodeTicks, type FeedMessage } from '../src/feed/codec.js';
import { Feed, TIERS, type FeedClient } from './support/feed.js';
import { MARKET, oracleMarket, SECOND, signer, Sources } from './support/oracle.js';
import type { Engine } from '../src/index.js';

const ADMIN_TOKEN = 'admin-token-for-tests-00000001';
const feed = new Feed();
afterEach(() => feed.closeAll());

async function start(): Promise<{ engine: Engine; url: string; publisher: FeedClient; subscriber: FeedClient; sources: Sources; server: Awaited<ReturnType<Feed['start']>>['server'] }> {
  const { engine, server } = await feed.start({
    engine: { oracle: { markets: [oracleMarket()] }, sizing: { emergencyHealth: 1 } },
    server: { adminTokens: [ADMIN_TOKEN], clockIntervalMs: 20 },
    setup: (e) => {
      e.addMarket({ id: MARKET, symbol: 'BTC-USD', price: 100, tiers: TIERS });
      e.addAccount(10, 1);
      e.upsertPosition({ account: 10, market: MARKET, size: 1, entryPrice: 100 });
    },
  });
  const publisher = await feed.connect(server, 'publisher');
  const subscriber = await feed.connect(server, 'subscriber');
  await subscriber.next(); // EngineStatus
  await publisher.next();
  // Reports stamped with the wall clock: the server's clock readings are the wall clock too.
  return { engine, url: server.url, publisher, subscriber, sources: new Sources(undefined, MARKET, Date.now() * 1000), server };
}

const statuses = (frames: readonly FeedMessage[]) => frames.flatMap((m) => (m.kind === 'marketStatus' ? [[m.state, m.code]] : []));

describe('oracle markets over the feed', () => {
  it('verifies signed ticks, resumes the market for subscribers, and liquidates on the aggregate', async () => {
    const { engine, publisher, subscriber, sources } = await start();
    subscriber.send((s) => encodeSubscribe(s, { markets: [MARKET], accounts: [], allOrders: true }));
    expect(statuses(await subscriber.sync())).toEqual([['paused', 'ORACLE_STALE']]);
    const first = sources.report(0, { 1: 100, 2: 100, 3: 100 });
    publisher.send((s) => encodeSignedPriceTicks(s, first, sources.sign(first)));
    const drop = sources.report(0.001, { 1: 99, 2: 99, 3: 99.5 });
    publisher.send((s) => encodeSignedPriceTicks(s, drop, sources.sign(drop)));
    expect(await publisher.sync()).toEqual([]);
    const seen: FeedMessage[] = [];
    while (!seen.some((m) => m.kind === 'orders')) seen.push(await subscriber.next());
    expect(statuses(seen)).toEqual([['resumed', 'HEALTHY']]);
    expect(engine.tables.markets.markPrice[0]).toBe(99);
    const orders = seen.find((m) => m.kind === 'orders');
    expect(orders?.kind === 'orders' && orders.orders.map((o) => [o.account, o.oraclePrice])).toEqual([[10, 99]]);
  });

  it('answers forged, replayed and unsigned reports with their codes and counts them', async () => {
    const { engine, publisher, sources, server } = await start();
    const good = sources.report(0, { 1: 100 });
    const forged = sources.report(0, { 2: 100 });
    publisher.send((s) => encodeSignedPriceTicks(s, forged, signer(9).sign(forged[0]!)));
    publisher.send((s) => encodeSignedPriceTicks(s, good, sources.sign(good)));
    publisher.send((s) => encodeSignedPriceTicks(s, good, sources.sign(good)));
    publisher.send((s) => encodeTicks(s, sources.report(1, { 3: 100 })));
    const answers = await publisher.sync();
    expect(answers.map((m) => (m.kind === 'errorFrame' ? [m.code, m.offendingSequence] : m.kind))).toEqual([
      ['BAD_SIGNATURE', 0],
      ['REPLAYED_REPORT', 2],
      ['UNSIGNED_REPORT', 3],
    ]);
    expect(server.stats().rejected).toMatchObject({ BAD_SIGNATURE: 1, REPLAYED_REPORT: 1, UNSIGNED_REPORT: 1 });
    expect(engine.oracleStats()).toMatchObject({ accepted: 1, verified: 1 });
  });

  it('pauses a market whose sources went quiet, by the wall clock', async () => {
    const { publisher, subscriber, sources } = await start();
    subscriber.send((s) => encodeSubscribe(s, { markets: [MARKET], accounts: [], allOrders: false }));
    await subscriber.sync();
    // Sources that reported 9.9 s ago are stale within 0.1 s more (max age 10 s); the server's clock notices.
    const old = sources.report(-9.9, { 1: 100, 2: 100, 3: 100 });
    publisher.send((s) => encodeSignedPriceTicks(s, old, sources.sign(old)));
    const seen: FeedMessage[] = [];
    while (statuses(seen).length < 2) seen.push(await subscriber.next(3_000));
    expect(statuses(seen)).toEqual([
      ['resumed', 'HEALTHY'],
      ['paused', 'ORACLE_STALE'],
    ]);
  });

  it('lets an admin work the kill switch, and refuses it to a publisher', async () => {
    const { engine, publisher, subscriber, server } = await start();
    const admin = await feed.connect(server, { token: ADMIN_TOKEN });
    await admin.next();
    subscriber.send((s) => encodeSubscribe(s, { markets: [MARKET], accounts: [], allOrders: false }));
    await subscriber.sync();
    publisher.send((s) => encodeKillSwitch(s, { level: 'halt', market: undefined, reason: 'drill' }));
    const refused = await publisher.sync();
    expect(refused.map((m) => m.kind === 'errorFrame' && [m.code, m.message])).toEqual([['FORBIDDEN', 'a publisher token may not send KillSwitch frames; an admin token may']]);
    admin.send((s) => encodeKillSwitch(s, { level: 'no-new', market: MARKET, reason: 'drill' }));
    expect(await admin.sync()).toEqual([]);
    expect(engine.killSwitch(MARKET)).toBe('no-new');
    const m = await subscriber.next();
    expect(m).toMatchObject({ kind: 'marketStatus', market: MARKET, state: 'paused', code: 'KILL_SWITCH', reason: 'kill switch no-new: drill' });
    expect(server.stats().killSwitchesIn).toBe(1);
  });

  it('moves the mark with the matching engine\'s book, within its clamp', async () => {
    const { engine, publisher, sources } = await start();
    const r = sources.report(0, { 1: 100, 2: 100, 3: 100 });
    publisher.send((s) => encodeSignedPriceTicks(s, r, sources.sign(r)));
    publisher.send((s) => encodeBookTickers(s, [{ market: MARKET, bid: 101, ask: 101.2, last: 101.1, eventTimeUs: sources.t0 + SECOND / 1000 }]));
    expect(await publisher.sync()).toEqual([]);
    // median(oracle + basis EMA (its first sample: 1.1), book 101.1, oracle 100) = 101.1
    expect(engine.tables.markets.oraclePrice[0]).toBe(100);
    expect(engine.tables.markets.markPrice[0]).toBeCloseTo(101.1, 9);
  });
});
