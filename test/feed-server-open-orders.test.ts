/**
 * Open orders on subscribe (schemas/README.md "Open orders"): a Subscribe that adds topics selecting
 * orders is answered at once with the open orders they newly select (an OpenOrders snapshot, at most 4,096 rows a
 * frame), as of a barrier: every open order of an epoch <= its `epoch`, the fills and expiries of inputs <= its
 * `lastSequence` applied; orders of later epochs follow as LiquidationOrders. So a subscriber holds every open order
 * once. A real FeedServer on loopback, `ws` clients and the SDK; a journal on disk where an epoch must be in flight.
 *
 * The book (one tier: maintenance 0.5% of notional), every account liquidatable from the first epoch:
 *   account 11: collateral 100, BTC (market 1) long 1 from 50,000      (maintenance 250)
 *   account 22: collateral 100, ETH (market 2) short 10 from 3,000     (maintenance 150)
 *   account 33: collateral 50,  BTC long 0.5 from 50,000               (maintenance 125)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FeedClient as Sdk } from '../src/feed/client.js';
import { encodeExpiries, encodeFills, encodePositions, encodeSubscribe, type FeedMessage, type OpenOrdersSnapshot, type Topics } from '../src/feed/codec.js';
import type { Engine, EngineConfig } from '../src/index.js';
import { Feed, SUBSCRIBER_TOKEN, TIERS, until, type FeedClient, type Started } from './support/feed.js';

const BTC = 1;
const ETH = 2;
const feed = new Feed();
afterEach(() => feed.closeAll());
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

type OpenOrdersFrame = Extract<FeedMessage, { kind: 'openOrders' }>;

/** The book of the header (and `more` accounts like 11), orders issued by the first epoch, and a server. */
async function start(engine: EngineConfig = {}, more = 0): Promise<Started> {
  const started = await feed.start({
    // No deadline: the server's wall clock would time out orders issued at event time 0 (and order them again).
    engine: { capacity: { markets: 2, accounts: 64 + more, positions: 64 + more }, orderTimeoutUs: Infinity, ...engine },
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS, positionCapacity: 32 + more });
      e.addMarket({ id: ETH, symbol: 'ETH-USD', price: 3_000, tiers: TIERS, positionCapacity: 4 });
      // Funds that pay any order's shortfall, so bankrupt accounts get orders rather than deleveragings.
      for (const m of [BTC, ETH]) e.depositInsurance(m, 1e9);
      e.addAccount(11, 100);
      e.addAccount(22, 100);
      e.addAccount(33, 50);
      e.upsertPositions([
        { account: 11, market: BTC, size: 1, entryPrice: 50_000 },
        { account: 22, market: ETH, size: -10, entryPrice: 3_000 },
        { account: 33, market: BTC, size: 0.5, entryPrice: 50_000 },
      ]);
      for (let i = 0; i < more; i++) {
        e.addAccount(1_000 + i, 100);
        e.upsertPosition({ account: 1_000 + i, market: BTC, size: 1, entryPrice: 50_000 });
      }
    },
  });
  await until(() => started.engine.openOrders().length === 3 + more, 'every account ordered');
  return started;
}

async function subscriber(server: Started['server'], role: 'subscriber' | 'publisher' = 'subscriber'): Promise<FeedClient> {
  const c = await feed.connect(server, role);
  await c.next();
  return c;
}

const subscribe = (topics: Partial<Topics>) => (s: number) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, ...topics });
const openOrders = (frames: readonly FeedMessage[]): OpenOrdersFrame[] => frames.filter((f): f is OpenOrdersFrame => f.kind === 'openOrders');
const ids = (snapshot: { orders: readonly { order: { id: string } }[] }): string[] => snapshot.orders.map((r) => r.order.id);
const openIds = (engine: Engine, keep: (o: { account: number; market: number }) => boolean = () => true): string[] =>
  engine.openOrders().filter(({ order }) => keep(order)).map(({ order }) => order.id);

describe('open orders on subscribe', () => {
  it('answers an all-orders subscription at once with every open order, in issue order, with what is left of each, as of its barrier', async () => {
    const { engine, server } = await start();
    const pub = await subscriber(server, 'publisher');
    const half = engine.openOrders().find(({ order }) => order.account === 11)!.order;
    pub.send((s) => encodeFills(s, [{ orderId: half.id, account: 11, market: BTC, quantity: half.quantity / 2, price: half.limitPrice, eventTimeUs: 1 }]));
    expect(await pub.sync()).toEqual([]);

    const sub = await subscriber(server);
    const emitted = engine.emittedEpochs;
    sub.send(subscribe({ allOrders: true }));
    const [frame, ...rest] = await sub.sync();
    expect(rest).toEqual([]);
    // The partly filled order, and the order its position got for the rest: the partial fill re-stamped it.
    const open = engine.openOrders();
    expect(open.length).toBeGreaterThanOrEqual(3);
    expect(frame).toEqual({ kind: 'openOrders', sequence: 1, epoch: expect.any(Number), lastSequence: engine.lastSequence, orders: open, firstIndex: 0, orderCount: open.length });
    const f = frame as OpenOrdersFrame;
    // The server's clock may run an (empty) epoch between our reads: the barrier is one of those.
    expect(f.epoch).toBeGreaterThanOrEqual(emitted);
    expect(f.epoch).toBeLessThanOrEqual(engine.emittedEpochs);
    expect(f.orders.find((r) => r.order.id === half.id)!.remaining).toBe(half.quantity / 2);
    expect(f.orders.every((r) => r.order.epoch <= f.epoch)).toBe(true);

    // Already selected: a market or account topic adds nothing, and no frame is sent.
    sub.send(subscribe({ markets: [BTC], accounts: [22] }));
    expect(openOrders(await sub.sync())).toEqual([]);
  });

  it('sends a market or account topic only the open orders it selects, and a later topic only those not selected already', async () => {
    const { engine, server } = await start();
    const sub = await subscriber(server);
    sub.send(subscribe({ markets: [BTC] }));
    expect(openOrders(await sub.sync()).map(ids)).toEqual([openIds(engine, (o) => o.market === BTC)]);
    sub.send(subscribe({ accounts: [22, 33] }));
    expect(openOrders(await sub.sync()).map(ids)).toEqual([openIds(engine, (o) => o.account === 22)]);
    // An account without an open order: no frame.
    const other = await subscriber(server);
    other.send(subscribe({ accounts: [44] }));
    expect(openOrders(await other.sync())).toEqual([]);
  });

  it('leaves out an order once it is filled whole or expired', async () => {
    const { engine, server } = await start();
    const pub = await subscriber(server, 'publisher');
    const byAccount = new Map(engine.openOrders().map(({ order }) => [order.account, order]));
    const filled = byAccount.get(11)!;
    pub.send((s) => encodeFills(s, [{ orderId: filled.id, account: 11, market: BTC, quantity: filled.quantity, price: filled.limitPrice, eventTimeUs: 1 }]));
    pub.send((s) => encodeExpiries(s, [byAccount.get(22)!.id], 1));
    const applied = engine.lastSequence;
    await pub.sync();
    expect(engine.lastSequence).toBeGreaterThan(applied);
    const sub = await subscriber(server);
    sub.send(subscribe({ allOrders: true }));
    const [frame] = openOrders(await sub.sync());
    expect(ids(frame!)).toEqual(openIds(engine));
    expect(ids(frame!)).toContain(byAccount.get(33)!.id);
    // Neither the filled order nor the expired one (the expiry re-stamped account 22: its new order has a new id).
    expect(ids(frame!)).not.toContain(filled.id);
    expect(ids(frame!)).not.toContain(byAccount.get(22)!.id);
    expect(frame!.lastSequence).toBe(engine.lastSequence);
  });

  it('splits a snapshot longer than 4,096 orders over consecutive frames, which the SDK joins into one openOrders event', async () => {
    const MORE = 4_500;
    const { engine, server } = await start({}, MORE);
    const raw = await subscriber(server);
    raw.send(subscribe({ allOrders: true }));
    const frames = openOrders(await raw.sync());
    const total = MORE + 3;
    const { epoch, lastSequence } = frames[0]!;
    expect(frames.map((f) => [f.firstIndex, f.orders.length, f.orderCount, f.epoch, f.lastSequence])).toEqual([
      [0, 4_096, total, epoch, lastSequence],
      [4_096, total - 4_096, total, epoch, lastSequence],
    ]);
    expect(frames.flatMap(ids)).toEqual(openIds(engine));

    const sdk = await Sdk.connect({ url: server.url, token: SUBSCRIBER_TOKEN, reconnect: false });
    try {
      const got: OpenOrdersSnapshot[] = [];
      const whole = new Promise<void>((resolve) => sdk.on('openOrders', (s) => (got.push(s), resolve())));
      sdk.subscribe({ allOrders: true });
      await whole;
      expect(got).toHaveLength(1);
      expect(got[0]!.orders).toEqual(engine.openOrders());
      expect(got[0]!.epoch).toBeLessThanOrEqual(engine.emittedEpochs);
    } finally {
      sdk.close();
    }
  });

  it('a Subscribe that lands while an epoch waits for its journal sync gets that epoch\'s orders as LiquidationOrders, not in its snapshot: each order once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unwind-open-orders-'));
    dirs.push(dir);
    const ROUNDS = 12;
    const { engine, server } = await start({ journal: { dir, durability: 'sync', log: () => {} } });
    // Accounts 2000 + k: each made liquidatable by round k's frame, so that epoch issues one order.
    for (let k = 0; k < ROUNDS; k++) engine.addAccount(2_000 + k, 10);
    const pub = await subscriber(server, 'publisher');
    const subs: FeedClient[] = [];
    for (let k = 0; k < ROUNDS; k++) subs.push(await subscriber(server));
    const seen: FeedMessage[][] = subs.map(() => []);

    let round = -1;
    let inFlight = 0; // subscriptions the server read before the epoch they were sent in had emitted
    let framesAtDecision = 0;
    const offState = engine.onEpochState((r) => {
      if (round < 0 || !r.orders.some((o) => o.account === 2_000 + round)) return;
      framesAtDecision = server.stats().framesIn;
      subs[round]!.send(subscribe({ allOrders: true })); // arrives while the epoch syncs its journal
    });
    const offEpoch = engine.onEpoch((r) => {
      if (round >= 0 && r.orders.some((o) => o.account === 2_000 + round) && server.stats().framesIn > framesAtDecision) inFlight++;
    });
    for (round = 0; round < ROUNDS; round++) {
      const account = 2_000 + round;
      pub.send((s) => encodePositions(s, [{ account, market: BTC, size: 1, entryPrice: 50_000 }]));
      await until(() => engine.openOrders().some(({ order }) => order.account === account) && engine.emittedEpochs === engine.epochs, `round ${round}'s order`);
      seen[round]!.push(...(await subs[round]!.sync()));
    }
    offState();
    offEpoch();
    expect(inFlight, 'subscriptions read while their epoch was in flight (the case under test)').toBeGreaterThan(0);

    const all = openIds(engine);
    for (const [k, sub] of subs.entries()) {
      const frames = [...seen[k]!, ...(await sub.sync())];
      const snapshot = openOrders(frames);
      expect(snapshot, `subscriber ${k}: one snapshot frame`).toHaveLength(1);
      const streamed = frames.flatMap((f) => (f.kind === 'orders' ? f.orders : []));
      const held = [...ids(snapshot[0]!), ...streamed.map((o) => o.id)];
      expect(new Set(held).size, `subscriber ${k}: no order twice`).toBe(held.length);
      expect(new Set(held), `subscriber ${k}: every open order`).toEqual(new Set(all));
      // The barrier: the snapshot's orders are of its epoch or earlier, the streamed ones of later epochs.
      const epoch = snapshot[0]!.epoch;
      expect(snapshot[0]!.orders.every((r) => r.order.epoch <= epoch)).toBe(true);
      expect(streamed.every((o) => o.epoch > epoch)).toBe(true);
    }
  });
});
