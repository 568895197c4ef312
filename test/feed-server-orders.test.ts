/**
 * What flows through the feed (src/feed/server.ts): a publisher's ticks, positions and collateral change the engine,
 * and each epoch's orders, margin calls and account states reach exactly the connections whose topics select them,
 * once each, priced as the domain functions say. Fills and expiries are checked against the orders the server issued;
 * an expired order is re-issued under a new id while its account is still liquidatable.
 * A real FeedServer on loopback, `ws` clients, an engine with automatic epochs.
 *
 * The book (one tier: maintenance 0.5%, initial 1% of notional):
 *   account 11: collateral 1,000, BTC (market 1) long 1 from 50,000, cross
 *   account 22: collateral 1,000, ETH (market 2) short 10 from 3,000, cross
 *   account 33: collateral 0,     ETH long 1 from 3,000, isolated with 20 (health 20 / 15 = 1.33)
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  compileTiers,
  fillablePrice,
  freeCollateral,
  health,
  initialMargin,
  maintenanceMargin,
  notional,
  unrealizedPnl,
} from '../src/domain/index.js';
import {
  encodeCollateral,
  encodeExpiries,
  encodeFills,
  encodePositions,
  encodeSubscribe,
  encodeTicks,
  encodeUnsubscribe,
  type FeedMessage,
  type Fill,
  type LiquidationOrder,
  type PositionUpdate,
  type Tick,
  type Topics,
} from '../src/feed/codec.js';
import { type Engine, type Settlement } from '../src/index.js';
import { Feed, firstDifference, nextEpoch, tableBytes, TIERS, type FeedClient, type Started, type StartOptions, fillOf } from './support/feed.js';

const BTC = 1;
const ETH = 2;
const SCHEDULE = compileTiers(TIERS);
const SYMBOLS: Record<number, string> = { [BTC]: 'BTC-USD', [ETH]: 'ETH-USD' };

interface Held {
  readonly account: number;
  readonly market: number;
  readonly size: number;
  readonly entryPrice: number;
  readonly collateral: number;
  /** Sequence number the engine gave the input that set the position. */
  positionSequence: number;
}
const book = {
  11: { account: 11, market: BTC, size: 1, entryPrice: 50_000, collateral: 1_000, positionSequence: 0 },
  22: { account: 22, market: ETH, size: -10, entryPrice: 3_000, collateral: 1_000, positionSequence: 0 },
} satisfies Record<number, Held>;

const feed = new Feed();
afterEach(() => feed.closeAll());

function start(server: StartOptions['server'] = {}, scanWorkers = 0, engine: StartOptions['engine'] = {}): Promise<Started> {
  return feed.start({
    // Ticks carry event times near 0 while the server's clock reads now: an order issued before the first clock
    // reading would be timed out by it. No timeout here (test/feed-server-timeouts.test.ts covers them).
    engine: { scanWorkers, capacity: { markets: 2, accounts: 16, positions: 32 }, orderTimeoutUs: Infinity, ...engine },
    server,
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: SYMBOLS[BTC], price: 50_000, tiers: TIERS });
      e.addMarket({ id: ETH, symbol: SYMBOLS[ETH], price: 3_000, tiers: TIERS });
      for (const h of Object.values(book)) {
        e.addAccount(h.account, h.collateral);
        e.upsertPosition({ account: h.account, market: h.market, size: h.size, entryPrice: h.entryPrice });
        h.positionSequence = e.lastSequence;
      }
      e.addAccount(33, 0);
      e.upsertPosition({ account: 33, market: ETH, size: 1, entryPrice: 3_000, isolatedCollateral: 20 });
      // Funds that pay any order's shortfall at its limit, so bankrupt accounts get orders rather than deleveragings.
      for (const m of [BTC, ETH]) e.depositInsurance(m, 100_000);
    },
  });
}

const tick = (market: number, price: number, i = 0): Tick => ({ market, source: 1, price, confidence: 0, eventTimeUs: 1_000 + i, sourceSequence: i });

/** The order the domain functions say a cross position alone in its account gets at `price`. */
function expectedOrder(h: Held, price: number, epoch: number): LiquidationOrder {
  const mm = maintenanceMargin(notional(h.size, price), SCHEDULE);
  const equity = h.collateral + unrealizedPnl(h.size, price, h.entryPrice);
  return {
    id: `${h.account}-${h.market}-${h.positionSequence}`,
    epoch,
    account: h.account,
    market: h.market,
    symbol: SYMBOLS[h.market]!,
    side: h.size > 0 ? 'sell' : 'buy',
    quantity: Math.abs(h.size),
    limitPrice: fillablePrice(price, h.size, mm, equity, mm),
    oraclePrice: price,
    reason: 'cross-maintenance',
    health: health(equity, mm),
    equity,
    maintenanceMargin: mm,
    positionSequence: h.positionSequence,
  };
}

/** Connects a subscriber, reads its greeting and subscribes it to `topics` (applied when this returns). */
async function subscriber(server: Started['server'], topics: Partial<Topics>, role: 'publisher' | 'subscriber' = 'subscriber'): Promise<FeedClient> {
  const c = await feed.connect(server, role);
  expect(await c.next()).toMatchObject({ kind: 'engineStatus', sequence: 0 });
  c.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, ...topics }));
  return c;
}

const ordersIn = (frames: FeedMessage[]): LiquidationOrder[] => frames.flatMap((f) => (f.kind === 'orders' ? f.orders : []));
const kinds = (frames: FeedMessage[]): string[] => frames.map((f) => f.kind);

describe('orders', () => {
  it('a tick pushed by a publisher comes back to an all-orders subscriber as the order the domain prices (threaded scan)', async () => {
    const { engine, server } = await start({}, 1);
    const sub = await subscriber(server, { allOrders: true });
    expect(await sub.sync()).toEqual([]);
    const pub = await feed.connect(server, 'publisher');

    // Equity 1,000 - 900 = 100 against maintenance 245.5: liquidatable.
    const epoch = nextEpoch(engine);
    pub.send((s) => encodeTicks(s, [tick(BTC, 49_100)]));
    expect((await epoch).epoch).toBe(2);
    const frame = await sub.next();
    expect(frame).toEqual({ kind: 'orders', sequence: 2, orders: [expectedOrder(book[11], 49_100, 2)] });
    expect(ordersIn([frame])[0]!.id).toBe(`11-1-${book[11].positionSequence}`);
    expect(await sub.sync()).toEqual([]);
    expect(server.stats()).toMatchObject({ ticksIn: 1, ordersOut: 1 });
  });

  it('reach market subscribers and account subscribers with only their own orders, and a connection matching an order twice gets it once', async () => {
    const { engine, server } = await start();
    const all = await subscriber(server, { allOrders: true });
    const btc = await subscriber(server, { markets: [BTC] });
    const eth = await subscriber(server, { markets: [ETH] });
    const acct22 = await subscriber(server, { accounts: [22] });
    const both = await subscriber(server, { markets: [BTC], accounts: [11] }, 'publisher');
    for (const c of [all, btc, eth]) expect(await c.sync()).toEqual([]);
    for (const c of [acct22, both]) expect(kinds(await c.sync())).toEqual(['accountStates']); // the snapshots

    // ETH short 10 at 3,090: equity 1,000 - 900 = 100 against 154.5. One frame, one epoch, two orders.
    const epoch = nextEpoch(engine);
    const pub = await feed.connect(server, 'publisher');
    pub.send((s) => encodeTicks(s, [tick(BTC, 49_100, 1), tick(ETH, 3_090, 2)]));
    const r = await epoch;
    const o11 = expectedOrder(book[11], 49_100, r.epoch);
    const o22 = expectedOrder(book[22], 3_090, r.epoch);
    const byId = (x: LiquidationOrder, y: LiquidationOrder) => (x.id < y.id ? -1 : 1);
    expect([...r.orders].sort(byId)).toEqual([o11, o22]);

    expect(ordersIn(await all.sync())).toEqual(r.orders);
    expect(ordersIn(await btc.sync())).toEqual([o11]);
    expect(ordersIn(await eth.sync())).toEqual([o22]);
    expect(ordersIn(await acct22.sync())).toEqual([o22]);
    expect(ordersIn(await both.sync())).toEqual([o11]);
    expect(server.stats().ordersOut).toBe(2 + 1 + 1 + 1 + 1);
  });

  it('route margin calls like orders: cross calls to the account, an isolated call also to its market', async () => {
    const { engine, server } = await start();
    const all = await subscriber(server, { allOrders: true });
    const btc = await subscriber(server, { markets: [BTC] });
    const eth = await subscriber(server, { markets: [ETH] });
    const acct11 = await subscriber(server, { accounts: [11] });
    const acct33 = await subscriber(server, { accounts: [33] });
    for (const c of [all, btc, eth, acct11, acct33]) await c.sync();

    // Account 11: 290 / 246.45 = 1.18. Account 33 (isolated): (20 - 3) / 14.985 = 1.13. Both below 1.2, above 1.
    const epoch = nextEpoch(engine);
    const pub = await feed.connect(server, 'publisher');
    pub.send((s) => encodeTicks(s, [tick(BTC, 49_290), tick(ETH, 2_997)]));
    const r = await epoch;
    const mm11 = maintenanceMargin(notional(1, 49_290), SCHEDULE);
    const mm33 = maintenanceMargin(notional(1, 2_997), SCHEDULE);
    const call11 = { epoch: r.epoch, account: 11, market: null, health: health(290, mm11), equity: 290, maintenanceMargin: mm11 };
    const call33 = { epoch: r.epoch, account: 33, market: ETH, health: health(17, mm33), equity: 17, maintenanceMargin: mm33 };
    expect(r.orders).toEqual([]);
    expect(r.marginCalls).toEqual([call33, call11]); // lowest health first

    const callsIn = (frames: FeedMessage[]) => frames.flatMap((f) => (f.kind === 'marginCalls' ? f.marginCalls : []));
    expect(callsIn(await all.sync())).toEqual([call33, call11]);
    expect(callsIn(await btc.sync())).toEqual([]); // a cross call names no market
    expect(callsIn(await eth.sync())).toEqual([call33]);
    expect(callsIn(await acct11.sync())).toEqual([call11]);
    expect(callsIn(await acct33.sync())).toEqual([call33]);
    expect(server.stats().marginCallsOut).toBe(2 + 1 + 1 + 1);
  });

  it('stop reaching a connection once it unsubscribes', async () => {
    const { engine, server } = await start();
    const sub = await subscriber(server, { markets: [BTC], accounts: [11], allOrders: true });
    expect(kinds(await sub.sync())).toEqual(['accountStates']);
    sub.send((s) => encodeUnsubscribe(s, { markets: [BTC], accounts: [11], allOrders: true }));
    expect(await sub.sync()).toEqual([]);

    const epoch = nextEpoch(engine);
    const pub = await feed.connect(server, 'publisher');
    pub.send((s) => encodeTicks(s, [tick(BTC, 49_100)]));
    expect((await epoch).orders.map((o) => o.id)).toEqual([`11-1-${book[11].positionSequence}`]);
    expect(await sub.sync()).toEqual([]);
    expect(server.stats().ordersOut).toBe(0);
  });
});

describe('subscriptions', () => {
  it('a subscription naming a market the engine does not hold is refused whole: no topic, no snapshot', async () => {
    const { engine, server } = await start();
    const sub = await subscriber(server, { markets: [BTC, 999], accounts: [11], allOrders: true });
    expect(await sub.next()).toMatchObject({ kind: 'errorFrame', code: 'UNKNOWN_MARKET', offendingSequence: 0 });
    const epoch = nextEpoch(engine);
    const pub = await feed.connect(server, 'publisher');
    pub.send((s) => encodeTicks(s, [tick(BTC, 49_100)]));
    expect((await epoch).orders).toHaveLength(1);
    expect(await sub.sync()).toEqual([]);
  });

  it('past maxTopicsPerConnection a subscription is TOO_MANY_TOPICS and adds nothing; topics already held do not count again', async () => {
    const { server } = await start({ maxTopicsPerConnection: 2 });
    // An id repeated within one subscription is one topic.
    const sub = await subscriber(server, { accounts: [11, 11, 11, 22] });
    expect(await sub.next()).toMatchObject({ kind: 'accountStates', accounts: [{ account: 11 }, { account: 22 }] });
    const refused = sub.send((s) => encodeSubscribe(s, { markets: [BTC], accounts: [], allOrders: false }));
    expect(await sub.next()).toMatchObject({ kind: 'errorFrame', code: 'TOO_MANY_TOPICS', offendingSequence: refused });
    sub.send((s) => encodeSubscribe(s, { markets: [], accounts: [22], allOrders: true }));
    expect(await sub.sync()).toEqual([]);
    server.publishMarketStatus(BTC, 'paused', 'not a topic of this connection', 1);
    expect(await sub.sync()).toEqual([]);
  });
});

describe('market status', () => {
  it('reaches the market\'s subscribers when published, and a later subscriber on subscribing', async () => {
    const { server } = await start();
    const btc = await subscriber(server, { markets: [BTC] });
    const eth = await subscriber(server, { markets: [ETH] });
    await btc.sync();
    await eth.sync();
    server.publishMarketStatus(BTC, 'paused', 'oracle stale for 5 s', 1_700_000_000_000_000);
    const status = { kind: 'marketStatus', market: BTC, state: 'paused', reason: 'oracle stale for 5 s', eventTimeUs: 1_700_000_000_000_000 };
    expect(await btc.sync()).toMatchObject([status]);
    expect(await eth.sync()).toEqual([]);
    const late = await subscriber(server, { markets: [ETH, BTC] });
    expect(await late.sync()).toMatchObject([{ ...status, sequence: 1 }]);
  });
});

describe('account states', () => {
  it('a subscription sends a snapshot of the account, then after each epoch only the accounts that changed', async () => {
    const { engine, server } = await start();
    const sub = await subscriber(server, { accounts: [11, 22] });
    const summary = (id: number) => {
      const { id: account, ...s } = engine.accountSummary(id);
      return { account, epoch: engine.epochs, ...s };
    };
    const state = (h: Held, price: number, collateral = h.collateral) => {
      const equity = collateral + unrealizedPnl(h.size, price, h.entryPrice);
      const mm = maintenanceMargin(notional(h.size, price), SCHEDULE);
      const im = initialMargin(notional(h.size, price), SCHEDULE);
      return { account: h.account, collateral, equity, initialMargin: im, maintenanceMargin: mm, freeCollateral: freeCollateral(equity, im), health: health(equity, mm) };
    };
    const snapshot = await sub.next();
    expect(snapshot).toEqual({
      kind: 'accountStates',
      sequence: 1,
      accounts: [
        { ...state(book[11], 50_000), epoch: 1, liquidatable: false, marginCall: false },
        { ...state(book[22], 3_000), epoch: 1, liquidatable: false, marginCall: false },
      ],
    });
    expect(snapshot).toEqual({ kind: 'accountStates', sequence: 1, accounts: [summary(11), summary(22)] });
    expect(await sub.sync()).toEqual([]);

    // A deposit to 11 changes 11 only.
    const pub = await feed.connect(server, 'publisher');
    let epoch = nextEpoch(engine);
    pub.send((s) => encodeCollateral(s, [{ account: 11, collateral: 2_500 }]));
    await epoch;
    expect(await sub.sync()).toEqual([{ kind: 'accountStates', sequence: 3, accounts: [{ ...state(book[11], 50_000, 2_500), epoch: 2, liquidatable: false, marginCall: false }] }]);

    // ETH moves: 22 changes; 11 does not and is not sent again.
    epoch = nextEpoch(engine);
    pub.send((s) => encodeTicks(s, [tick(ETH, 3_010)]));
    await epoch;
    expect(await sub.sync()).toEqual([{ kind: 'accountStates', sequence: 5, accounts: [summary(22)] }]);
    // Counts the states sent after epochs; the snapshots are not counted.
    expect(server.stats().accountStatesOut).toBe(1 + 1);
  });

  it('a subscription to an account the engine does not hold yet sends its first state once a publisher opens it', async () => {
    const { engine, server } = await start();
    const sub = await subscriber(server, { accounts: [44] });
    expect(await sub.sync()).toEqual([]);
    const pub = await feed.connect(server, 'publisher');
    const epoch = nextEpoch(engine);
    pub.send((s) => encodeCollateral(s, [{ account: 44, collateral: 750 }]));
    await epoch;
    expect(await sub.sync()).toMatchObject([{ kind: 'accountStates', accounts: [{ account: 44, collateral: 750, equity: 750, health: Infinity, marginCall: false }] }]);
  });
});

describe('publisher inputs', () => {
  it('position and collateral updates change the account the engine reports', async () => {
    const { engine, server } = await start();
    const pub = await feed.connect(server, 'publisher');
    const epoch = nextEpoch(engine);
    pub.send((s) =>
      encodePositions(s, [
        { account: 11, market: ETH, size: -2, entryPrice: 3_000, isolatedCollateral: null },
        { account: 11, market: BTC, size: 0.5, entryPrice: 50_000, isolatedCollateral: null },
      ]),
    );
    pub.send((s) => encodeCollateral(s, [{ account: 11, collateral: 1_500 }]));
    expect((await pub.sync()).map((f) => f.kind)).toEqual(['engineStatus']);
    await epoch;

    const a = engine.account(11);
    expect(a.collateral).toBe(1_500);
    expect(a.positions.map((p) => [p.market, p.size, p.entryPrice, p.isolatedCollateral])).toEqual([
      [BTC, 0.5, 50_000, null],
      [ETH, -2, 3_000, null],
    ]);
    expect(a.maintenanceMargin).toBe(maintenanceMargin(notional(0.5, 50_000), SCHEDULE) + maintenanceMargin(notional(-2, 3_000), SCHEDULE));
    expect(server.stats()).toMatchObject({ positionUpdatesIn: 2, collateralUpdatesIn: 1 });
  });

  it('a batch with one bad row is rejected whole, with the engine\'s or the decoder\'s code, and changes nothing', async () => {
    const { engine, server } = await start();
    const before = tableBytes(engine);
    const lastSequence = engine.lastSequence;
    const pub = await feed.connect(server, 'publisher');
    expect((await pub.next()).kind).toBe('engineStatus');
    const good: PositionUpdate = { account: 11, market: ETH, size: -2, entryPrice: 3_000, isolatedCollateral: null };
    const cases: [string, (s: number) => Uint8Array][] = [
      ['UNKNOWN_MARKET', (s) => encodePositions(s, [good, { ...good, account: 22, market: 999 }])],
      ['UNKNOWN_ACCOUNT', (s) => encodePositions(s, [good, { ...good, account: 404 }])],
      ['INVALID_FIELD', (s) => encodePositions(s, [good, { ...good, account: 22, size: Number.NaN }])],
      ['INVALID_FIELD', (s) => encodePositions(s, [good, { ...good, account: 22, entryPrice: -1 }])],
      ['UNKNOWN_MARKET', (s) => encodeTicks(s, [tick(BTC, 40_000), tick(999, 1)])],
      ['INVALID_FIELD', (s) => encodeTicks(s, [tick(BTC, 40_000), tick(ETH, Number.NaN)])],
      ['INVALID_FIELD', (s) => encodeCollateral(s, [{ account: 11, collateral: 5 }, { account: 22, collateral: Number.POSITIVE_INFINITY }])],
    ];
    for (const [code, encode] of cases) {
      const sequence = pub.send(encode);
      expect(await pub.next(), code).toMatchObject({ kind: 'errorFrame', code, offendingSequence: sequence });
    }
    expect(await pub.sync()).toEqual([]);
    await new Promise((r) => setImmediate(r)); // an epoch, had anything been accepted, would have been scheduled by now
    expect(firstDifference(tableBytes(engine), before)).toBe(-1);
    expect(engine.lastSequence).toBe(lastSequence);
    expect(engine.epochs).toBe(1);
    expect(server.stats()).toMatchObject({ ticksIn: 0, positionUpdatesIn: 0, collateralUpdatesIn: 0, rejected: { UNKNOWN_MARKET: 2, UNKNOWN_ACCOUNT: 1, INVALID_FIELD: 4 } });
  });

  it('once the engine has closed, a publisher\'s inputs are ENGINE_CLOSED and the connection stays open', async () => {
    const { engine, server } = await start();
    const pub = await feed.connect(server, 'publisher');
    expect((await pub.next()).kind).toBe('engineStatus');
    await engine.close();
    const tickSequence = pub.send((s) => encodeTicks(s, [tick(BTC, 40_000)]));
    const collateralSequence = pub.send((s) => encodeCollateral(s, [{ account: 55, collateral: 1 }]));
    expect(await pub.next()).toMatchObject({ kind: 'errorFrame', code: 'ENGINE_CLOSED', offendingSequence: tickSequence });
    expect(await pub.next()).toMatchObject({ kind: 'errorFrame', code: 'ENGINE_CLOSED', offendingSequence: collateralSequence });
    expect(await pub.sync()).toEqual([]);
    expect(engine.hasAccount(55)).toBe(false);
  });

  it('a collateral update for an unknown account opens it; with createAccounts false it is UNKNOWN_ACCOUNT', async () => {
    const { engine, server } = await start();
    const pub = await feed.connect(server, 'publisher');
    pub.send((s) => encodeCollateral(s, [{ account: 11, collateral: 1_200 }, { account: 44, collateral: 750 }]));
    expect(kinds(await pub.sync())).toEqual(['engineStatus']);
    expect(engine.hasAccount(44)).toBe(true);
    expect(engine.account(44)).toMatchObject({ collateral: 750, equity: 750, positions: [] });
    expect(engine.account(11).collateral).toBe(1_200);

    const closed = await start({ createAccounts: false });
    const before = tableBytes(closed.engine);
    const pub2 = await feed.connect(closed.server, 'publisher');
    expect((await pub2.next()).kind).toBe('engineStatus');
    const sequence = pub2.send((s) => encodeCollateral(s, [{ account: 11, collateral: 1_200 }, { account: 44, collateral: 750 }]));
    expect(await pub2.next()).toMatchObject({ kind: 'errorFrame', code: 'UNKNOWN_ACCOUNT', offendingSequence: sequence });
    expect(closed.engine.hasAccount(44)).toBe(false);
    expect(firstDifference(tableBytes(closed.engine), before)).toBe(-1);
  });
});

describe('fills', () => {
  /** Liquidates account 11 and returns the order the server issued, and the fills it accepts from now on. */
  async function issued(): Promise<{ engine: Engine; pub: FeedClient; order: LiquidationOrder; accepted: Settlement[] }> {
    const { engine, server } = await start();
    const accepted: Settlement[] = [];
    server.onFill((f) => accepted.push(f));
    const pub = await subscriber(server, { allOrders: true }, 'publisher');
    await pub.sync();
    pub.send((s) => encodeTicks(s, [tick(BTC, 49_100)]));
    const frame = await pub.next();
    if (frame.kind !== 'orders') throw new Error(`expected orders, got ${frame.kind}`);
    return { engine, pub, order: frame.orders[0]!, accepted };
  }

  it('settles partial fills of an issued order in the engine: the position shrinks, the fee goes to the fund, a filled order is forgotten', async () => {
    const { engine, pub, order, accepted } = await issued();
    const epoch = nextEpoch(engine);
    pub.send((s) => encodeFills(s, [fillOf(order, 0.25), fillOf(order, 0.35)]));
    // The account is still below maintenance, but the order's 0.4 is still open at the venue: no second order.
    await epoch;
    expect(await pub.sync()).toEqual([]);
    expect(accepted).toMatchObject([
      { ...fillOf(order, 0.25), closed: 0.25, sizeAfter: 0.75, orderRemaining: 0.75 },
      { ...fillOf(order, 0.35), closed: 0.35, sizeAfter: 0.75 - 0.35, orderRemaining: 0.75 - 0.35 },
    ]);
    pub.send((s) => encodeFills(s, [fillOf(order, 0.4)]));
    expect(await pub.sync()).toEqual([]);
    expect(accepted[2]).toMatchObject({ ...fillOf(order, 0.4), sizeAfter: 0, orderRemaining: 0 });
    expect(engine.account(11).positions[0]!.size).toBe(0);
    // Every fee went into BTC's insurance fund; the ledger still sums to zero.
    const fees = accepted.reduce((sum, f) => sum + f.fee, 0);
    expect(fees).toBeGreaterThan(0);
    expect(engine.insuranceFund(BTC)).toBeCloseTo(100_000 + fees, 6); // the seed plus the fees
    expect(engine.ledger.total()).toBe(0n);

    const again = pub.send((s) => encodeFills(s, [fillOf(order, 0.1)]));
    expect(await pub.next()).toMatchObject({ kind: 'errorFrame', code: 'UNKNOWN_ORDER', offendingSequence: again });
    expect(accepted).toHaveLength(3);
  });

  it('rejects a fill of an unknown order, a fill beyond the open quantity and a fill naming the wrong account, each batch whole', async () => {
    const { pub, order, accepted } = await issued();
    const cases: [string, Fill[]][] = [
      ['UNKNOWN_ORDER', [fillOf(order, 0.5), fillOf(order, 0.1, { orderId: '11-1-999999' })]],
      ['INVALID_FILL', [fillOf(order, 1.5)]],
      ['INVALID_FILL', [fillOf(order, 0.6), fillOf(order, 0.6)]], // each fits, together they overfill
      ['INVALID_FILL', [fillOf(order, 0.5, { account: 22 })]],
    ];
    for (const [code, fills] of cases) {
      const sequence = pub.send((s) => encodeFills(s, fills));
      expect(await pub.next(), code).toMatchObject({ kind: 'errorFrame', code, offendingSequence: sequence });
    }
    expect(accepted).toEqual([]);
    // Nothing was taken: the whole quantity is still open.
    pub.send((s) => encodeFills(s, [fillOf(order, 1)]));
    expect(await pub.sync()).toEqual([]);
    expect(accepted).toMatchObject([{ ...fillOf(order, 1), sizeAfter: 0, orderRemaining: 0 }]);
  });

  it('forgets the oldest orders beyond maxOpenOrders: their fills are UNKNOWN_ORDER', async () => {
    const { server } = await start({}, 0, { maxOpenOrders: 1 });
    const accepted: Settlement[] = [];
    server.onFill((f) => accepted.push(f));
    const pub = await subscriber(server, { allOrders: true }, 'publisher');
    await pub.sync();
    pub.send((s) => encodeTicks(s, [tick(BTC, 49_100), tick(ETH, 3_090)]));
    const frame = await pub.next();
    if (frame.kind !== 'orders') throw new Error(`expected orders, got ${frame.kind}`);
    expect(frame.orders).toHaveLength(2);
    const [first, second] = frame.orders as [LiquidationOrder, LiquidationOrder];
    const forgotten = pub.send((s) => encodeFills(s, [fillOf(first, first.quantity)]));
    expect(await pub.next()).toMatchObject({ kind: 'errorFrame', code: 'UNKNOWN_ORDER', offendingSequence: forgotten });
    pub.send((s) => encodeFills(s, [fillOf(second, second.quantity)]));
    expect(await pub.sync()).toEqual([]);
    expect(accepted.map((f) => [f.orderId, f.orderRemaining])).toEqual([[second.id, 0]]);
  });
});

describe('expiries', () => {
  /** Pushes `ticks` and returns the orders the server issued, by account, to a publisher subscribed to all orders. */
  async function liquidated(ticks: Tick[]): Promise<Started & { pub: FeedClient; orders: Map<number, LiquidationOrder> }> {
    const started = await start();
    const pub = await subscriber(started.server, { allOrders: true }, 'publisher');
    await pub.sync();
    pub.send((s) => encodeTicks(s, ticks));
    const frame = await pub.next();
    if (frame.kind !== 'orders') throw new Error(`expected orders, got ${frame.kind}`);
    return { ...started, pub, orders: new Map(frame.orders.map((o) => [o.account, o])) };
  }

  it('an expired order is forgotten and the next epoch issues a new order, with a new id, for the same account and market', async () => {
    const { engine, server, pub, orders } = await liquidated([tick(BTC, 49_100)]);
    const order = orders.get(11)!;
    const epoch = nextEpoch(engine);
    pub.send((s) => encodeExpiries(s, [order.id], 6_000));
    const r = await epoch;
    const reissued = ordersIn(await pub.sync());
    expect(reissued).toEqual(r.orders);
    expect(reissued).toHaveLength(1);
    const again = reissued[0]!;
    // The position was re-stamped by the expiry: a later sequence, so a new id. (How much it closes is the
    // executor's sizing and caps, not the feed's business.)
    expect(again.positionSequence).toBeGreaterThan(order.positionSequence);
    expect(again).toMatchObject({ id: `11-${BTC}-${again.positionSequence}`, epoch: r.epoch, account: 11, market: BTC, side: order.side, oraclePrice: order.oraclePrice });
    expect(again.id).not.toBe(order.id);

    // The old id is gone for fills and expiries alike; the new one takes a fill.
    const staleFill = pub.send((s) => encodeFills(s, [fillOf(order, 0.1)]));
    expect(await pub.next()).toMatchObject({ kind: 'errorFrame', code: 'UNKNOWN_ORDER', offendingSequence: staleFill });
    const staleExpiry = pub.send((s) => encodeExpiries(s, [order.id], 6_001));
    expect(await pub.next()).toMatchObject({ kind: 'errorFrame', code: 'UNKNOWN_ORDER', offendingSequence: staleExpiry });
    pub.send((s) => encodeFills(s, [fillOf(again, again.quantity)]));
    expect(await pub.sync()).toEqual([]);
    expect(server.stats()).toMatchObject({ expiriesIn: 1, fillsIn: 1, rejected: { UNKNOWN_ORDER: 2 } });
  });

  it('an id that is not open rejects the whole frame with UNKNOWN_ORDER naming it: no id of the frame is expired', async () => {
    const { engine, server, pub, orders } = await liquidated([tick(BTC, 49_100), tick(ETH, 3_090)]);
    const [o11, o22] = [orders.get(11)!, orders.get(22)!];
    const before = tableBytes(engine);
    const sequence = pub.send((s) => encodeExpiries(s, [o11.id, '11-1-999999', o22.id], 6_000));
    expect(await pub.next()).toEqual({
      kind: 'errorFrame',
      sequence: expect.any(Number) as number,
      code: 'UNKNOWN_ORDER',
      message: '[1]: no open order "11-1-999999"',
      offendingSequence: sequence,
    });
    expect(await pub.sync()).toEqual([]);
    expect(firstDifference(tableBytes(engine), before)).toBe(-1);
    // Both orders are still open: they take fills.
    pub.send((s) => encodeFills(s, [fillOf(o11, o11.quantity), fillOf(o22, o22.quantity)]));
    expect(await pub.sync()).toEqual([]);
    expect(server.stats()).toMatchObject({ expiriesIn: 0, fillsIn: 2, rejected: { UNKNOWN_ORDER: 1 } });
  });

  it('a frame whose first id is not open, or that names an id twice, changes nothing', async () => {
    const { engine, server, pub, orders } = await liquidated([tick(BTC, 49_100)]);
    const order = orders.get(11)!;
    const before = tableBytes(engine);
    const lastSequence = engine.lastSequence;
    const unknown = pub.send((s) => encodeExpiries(s, ['22-2-1', order.id], 6_000));
    expect(await pub.next()).toMatchObject({
      kind: 'errorFrame',
      code: 'UNKNOWN_ORDER',
      message: '[0]: no open order "22-2-1"',
      offendingSequence: unknown,
    });
    const twice = pub.send((s) => encodeExpiries(s, [order.id, order.id], 6_000));
    expect(await pub.next()).toMatchObject({ kind: 'errorFrame', code: 'INVALID_FIELD', offendingSequence: twice });
    expect(await pub.sync()).toEqual([]);
    await new Promise((r) => setImmediate(r)); // an epoch, had anything been accepted, would have been scheduled by now
    expect(firstDifference(tableBytes(engine), before)).toBe(-1);
    expect(engine.lastSequence).toBe(lastSequence);
    expect(server.stats()).toMatchObject({ expiriesIn: 0, rejected: { UNKNOWN_ORDER: 1, INVALID_FIELD: 1 } });
    // The order is still open: it takes a fill.
    pub.send((s) => encodeFills(s, [fillOf(order, order.quantity)]));
    expect(await pub.sync()).toEqual([]);
    expect(server.stats().fillsIn).toBe(1);
  });

  it('a subscriber may not expire an order: FORBIDDEN, and the order stays open', async () => {
    const { engine, server, pub, orders } = await liquidated([tick(BTC, 49_100)]);
    const order = orders.get(11)!;
    const sub = await feed.connect(server, 'subscriber');
    expect((await sub.next()).kind).toBe('engineStatus');
    const sequence = sub.send((s) => encodeExpiries(s, [order.id], 6_000));
    expect(await sub.next()).toMatchObject({ kind: 'errorFrame', code: 'FORBIDDEN', offendingSequence: sequence });
    expect(server.stats()).toMatchObject({ expiriesIn: 0, rejected: { FORBIDDEN: 1 } });
    // Still open: the publisher's expiry of it is accepted and the account gets a new order.
    const epoch = nextEpoch(engine);
    pub.send((s) => encodeExpiries(s, [order.id], 6_000));
    await epoch;
    expect(ordersIn(await pub.sync()).map((o) => [o.account, o.market, o.id === order.id])).toEqual([[11, BTC, false]]);
    expect(server.stats().expiriesIn).toBe(1);
  });
});

describe('envelope sequences', () => {
  it('number the heartbeat, one frame shared by every connection, with each connection\'s own sequence', async () => {
    const { server } = await start({ statusIntervalMs: 20 });
    const a = await feed.connect(server, 'publisher');
    const b = await feed.connect(server, 'subscriber');
    await a.sync(); // a is one frame ahead of b
    await a.receivedAtLeast(5);
    await b.receivedAtLeast(5);
    for (const c of [a, b]) {
      expect(c.sequences().slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
      expect(c.received.filter((f) => f.kind === 'engineStatus').length).toBeGreaterThanOrEqual(4);
    }
  });

  it('number each connection\'s frames 0, 1, 2, ... on its own, frames shared between connections included', async () => {
    const { engine, server } = await start();
    const quiet = await subscriber(server, { allOrders: true });
    const busy = await subscriber(server, { allOrders: true, accounts: [11] });
    for (let i = 0; i < 3; i++) await busy.sync(); // three error frames: busy is now 4 frames ahead of quiet
    await quiet.sync();

    const pub = await feed.connect(server, 'publisher');
    for (const [i, price] of [49_500, 49_100, 48_000].entries()) {
      const epoch = nextEpoch(engine);
      pub.send((s) => encodeTicks(s, [tick(BTC, price, i), tick(ETH, 3_000 + 50 * i, i)]));
      await epoch;
    }
    await quiet.sync();
    await busy.sync();
    await pub.sync();
    for (const c of [quiet, busy, pub]) {
      expect(c.received[0]).toMatchObject({ kind: 'engineStatus', sequence: 0 });
      expect(c.sequences()).toEqual(c.received.map((_, i) => i));
    }
    expect(ordersIn(quiet.received as FeedMessage[]).map((o) => o.account).sort()).toEqual([11, 22]);
  });
});
