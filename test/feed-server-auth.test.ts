/**
 * Who may talk to the feed (README "Wire protocol", src/feed/server.ts): a real FeedServer on loopback, real `ws`
 * clients. Upgrades need a publisher or subscriber token, in the Authorization header or the query; a subscriber
 * may not write; connections beyond the limit are refused; bad options never start a server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCollateral, encodeExpiries, encodeFills, encodePositions, encodeSubscribe, encodeTicks } from '../src/feed/codec.js';
import { FeedServer } from '../src/feed/server.js';
import { Engine } from '../src/index.js';
import { Feed, firstDifference, PUBLISHER_TOKEN, refusedStatus, SUBSCRIBER_TOKEN, tableBytes, TIERS, until, type StartOptions } from './support/feed.js';

const BTC = 1;
const feed = new Feed();
afterEach(() => feed.closeAll());

/** An engine with epochs only on step(): no input may change a byte of its tables unless the server accepted it. */
function start(server: StartOptions['server'] = {}) {
  return feed.start({
    engine: { autoEpoch: false, capacity: { markets: 2, accounts: 8, positions: 16 } },
    server,
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
      e.addAccount(7, 1_000);
      e.upsertPosition({ account: 7, market: BTC, size: 1, entryPrice: 50_000 });
    },
  });
}

describe('upgrade', () => {
  it('refuses a connection without a token, or with an unknown one, with HTTP 401 and counts each refusal', async () => {
    const { server } = await start();
    expect(await refusedStatus(server.url, { headers: {} })).toBe(401);
    expect(await refusedStatus(server.url, { token: 'not-a-token-of-this-server' })).toBe(401);
    expect(await refusedStatus(server.url, { token: 'not-a-token-of-this-server', via: 'bearer' })).toBe(401);
    // A known token under another scheme is not a bearer token; an empty query token is no token.
    expect(await refusedStatus(server.url, { headers: { Authorization: `Basic ${PUBLISHER_TOKEN}` } })).toBe(401);
    expect(await refusedStatus(server.url, { headers: {}, query: 'token=' })).toBe(401);
    // A token that is a prefix of a real one is not the real one.
    expect(await refusedStatus(server.url, { token: PUBLISHER_TOKEN.slice(0, -1) })).toBe(401);
    const s = server.stats();
    expect(s.upgradesRefused).toBe(6);
    expect(s.publishers + s.subscribers).toBe(0);
  });

  it('accepts a token in the Authorization: Bearer header or in ?token=, for either role, and greets with EngineStatus at sequence 0', async () => {
    const { engine, server } = await start();
    const clients = [
      await feed.connect(server, 'publisher', 'bearer'),
      await feed.connect(server, 'publisher', 'query'),
      await feed.connect(server, 'subscriber', 'bearer'),
      await feed.connect(server, 'subscriber', 'query'),
    ];
    for (const c of clients) {
      expect(await c.next()).toEqual({
        kind: 'engineStatus',
        sequence: 0,
        state: 'running',
        epoch: engine.epochs,
        lastSequence: engine.lastSequence,
        markets: 1,
        accounts: 1,
        positions: 1,
        message: '',
      });
    }
    expect(server.stats()).toMatchObject({ publishers: 2, subscribers: 2, upgradesRefused: 0 });
  });

  it('refuses connections beyond maxConnections with HTTP 503, and accepts again once one has closed', async () => {
    const { server } = await start({ maxConnections: 2 });
    const first = await feed.connect(server, 'publisher');
    await feed.connect(server, 'subscriber');
    expect(await refusedStatus(server.url, { token: SUBSCRIBER_TOKEN })).toBe(503);
    expect(await refusedStatus(server.url, { token: PUBLISHER_TOKEN, via: 'bearer' })).toBe(503);
    expect(server.stats().upgradesRefused).toBe(2);

    await first.close();
    await until(() => server.stats().publishers === 0, 'the server noticed the close');
    const again = await feed.connect(server, 'publisher');
    expect((await again.next()).kind).toBe('engineStatus');
    expect(server.stats()).toMatchObject({ publishers: 1, subscribers: 1, upgradesRefused: 2 });
  });

  it('serves its stats over HTTP only with a token', async () => {
    const { server } = await start();
    const http = server.url.replace('ws://', 'http://') + '/stats';
    expect((await fetch(http)).status).toBe(401);
    const ok = await fetch(`${http}?token=${SUBSCRIBER_TOKEN}`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual(server.stats());
  });
});

describe('close()', () => {
  it('tells every connection the server is closing, closes each with 1001, and stops listening', async () => {
    const { server } = await start();
    const clients = [await feed.connect(server, 'publisher'), await feed.connect(server, 'subscriber')];
    await server.close();
    for (const c of clients) {
      expect(await c.closed).toBe(1001);
      expect(c.received).toMatchObject([
        { kind: 'engineStatus', sequence: 0, state: 'running' },
        { kind: 'engineStatus', sequence: 1, state: 'closing', message: 'server closing' },
      ]);
    }
    await expect(feed.connect(server, 'publisher')).rejects.toThrow();
    await expect(server.close()).resolves.toBeUndefined();
  });
});

describe('roles', () => {
  it('answers a subscriber that sends ticks, positions, collateral, fills or expiries with FORBIDDEN echoing each sequence, and changes no byte of the tables', async () => {
    const { engine, server } = await start();
    const before = tableBytes(engine);
    const lastSequence = engine.lastSequence;
    const sub = await feed.connect(server, 'subscriber');
    expect((await sub.next()).kind).toBe('engineStatus');

    // Each of these would move account 7 (or open account 8) if the server applied it.
    const sent = [
      sub.send((s) => encodeTicks(s, [{ market: BTC, source: 1, price: 40_000, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }])),
      sub.send((s) => encodePositions(s, [{ account: 7, market: BTC, size: 5, entryPrice: 50_000, isolatedCollateral: null }])),
      sub.send((s) => encodeCollateral(s, [{ account: 7, collateral: 1 }, { account: 8, collateral: 9 }])),
      sub.send((s) => encodeFills(s, [{ orderId: `7-${BTC}-3`, account: 7, market: BTC, quantity: 1, price: 49_000, eventTimeUs: 2 }])),
      sub.send((s) => encodeExpiries(s, [`7-${BTC}-3`], 2)),
    ];
    for (const [i, sequence] of sent.entries()) {
      expect(await sub.next()).toMatchObject({ kind: 'errorFrame', sequence: i + 1, code: 'FORBIDDEN', offendingSequence: sequence });
    }
    expect(await sub.sync()).toEqual([]);

    expect(firstDifference(tableBytes(engine), before)).toBe(-1);
    expect(engine.lastSequence).toBe(lastSequence);
    expect(engine.hasAccount(8)).toBe(false);
    expect(server.stats()).toMatchObject({ ticksIn: 0, positionUpdatesIn: 0, collateralUpdatesIn: 0, fillsIn: 0, expiriesIn: 0, rejected: { FORBIDDEN: 5, UNSUPPORTED_VERSION: 1 } });
    // The connection stays open and keeps its role: it may still subscribe.
    sub.send((s) => encodeSubscribe(s, { markets: [], accounts: [7], allOrders: false }));
    expect(await sub.next()).toMatchObject({ kind: 'accountStates', accounts: [{ account: 7, collateral: 1_000 }] });
  });

  it('lets a publisher subscribe as well as publish', async () => {
    const { engine, server } = await start();
    const pub = await feed.connect(server, 'publisher');
    expect((await pub.next()).kind).toBe('engineStatus');
    pub.send((s) => encodeSubscribe(s, { markets: [BTC], accounts: [7], allOrders: true }));
    expect(await pub.next()).toMatchObject({ kind: 'accountStates', accounts: [{ account: 7, equity: 1_000 }] });

    // Equity 1,000 - 900 = 100 < maintenance 0.5% of 49,100: the tick it publishes comes back as an order.
    pub.send((s) => encodeTicks(s, [{ market: BTC, source: 1, price: 49_100, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }]));
    expect(await pub.sync()).toEqual([]);
    await engine.step();
    const [orders, states] = await pub.sync();
    expect(orders).toMatchObject({ kind: 'orders', orders: [{ account: 7, market: BTC, side: 'sell', quantity: 1, oraclePrice: 49_100 }] });
    expect(states).toMatchObject({ kind: 'accountStates', accounts: [{ account: 7, equity: 100, liquidatable: true }] });
  });
});

describe('options', () => {
  const starting = async (options: Parameters<typeof FeedServer.start>[1]) => {
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 1, positions: 1 } });
    try {
      return await FeedServer.start(engine, { port: 0, ...options }).then(async (s) => {
        await s.close();
        return 'started';
      });
    } finally {
      await engine.close();
    }
  };
  const good = 'a-good-publisher-token';

  it('refuse a token shorter than 16 characters, or with a space, naming it, with INVALID_CONFIG', async () => {
    await expect(starting({ publisherTokens: ['short-token'] })).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'publisherTokens[0]' });
    await expect(starting({ publisherTokens: [good], subscriberTokens: [good + '2', 'fifteen-chars!!'] })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      field: 'subscriberTokens[1]',
    });
    await expect(starting({ publisherTokens: ['a token with spaces in it'] })).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'publisherTokens[0]' });
  });

  it('refuse a token in both lists, and a server without a publisher token', async () => {
    await expect(starting({ publisherTokens: [good], subscriberTokens: [good] })).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'subscriberTokens' });
    await expect(starting({ publisherTokens: [], subscriberTokens: [good] })).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'publisherTokens' });
    await expect(starting({} as never)).rejects.toMatchObject({ code: 'INVALID_CONFIG', field: 'publisherTokens' });
  });

  it('refuse a maximum payload below the maximum frame, and start with sound options', async () => {
    await expect(starting({ publisherTokens: [good], maxFrameBytes: 4096, maxPayloadBytes: 4095 })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      field: 'maxPayloadBytes',
    });
    await expect(starting({ publisherTokens: [good], subscriberTokens: ['a-good-subscriber-token'] })).resolves.toBe('started');
  });
});
