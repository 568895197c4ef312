/**
 * What each token may send (README "Wire protocol", src/feed/auth.ts, src/feed/ingest.ts): a real FeedServer on
 * loopback, real `ws` clients, an engine with epochs only on step(). Every forbidden combination of role, frame kind
 * and scope is answered FORBIDDEN naming the offending row, counted, and changes nothing (tables, accounts, open
 * orders, insurance funds, oracle counters, kill switches); the permitted token's same frame lands.
 *
 * The book (one tier: maintenance 0.5%, initial 1% of notional), plus 100,000 in each market's insurance fund:
 *   account 7:   collateral 1,000, BTC (market 1) long 1 from 50,000    (inside the scoped matching token's accounts)
 *   account 107: collateral 1,000, ETH (market 2) short 10 from 3,000   (outside them)
 *   market 3 (SOL), an oracle market: book tops feed only oracle markets' marks. Its clock is not fed during a
 *   test (clockIntervalMs 60 s), so nothing changes unless a frame lands.
 * Orders come from ticks: BTC at 49,100 liquidates account 7, ETH at 3,090 account 107.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeBookTickers,
  encodeCollateral,
  encodeExpiries,
  encodeFills,
  encodeKillSwitch,
  encodePositions,
  encodeSignedPriceTicks,
  encodeSubscribe,
  encodeTicks,
  type FeedMessage,
  type LiquidationOrder,
  type Tick,
} from '../src/feed/codec.js';
import type { TokenSpec } from '../src/feed/server-options.js';
import { FeedServer } from '../src/feed/server.js';
import { Engine } from '../src/index.js';
import { MARKET as ORACLE, oracleMarket, Sources, T0 } from './support/oracle.js';
import { Feed, firstDifference, PUBLISHER_TOKEN, SUBSCRIBER_TOKEN, tableBytes, TIERS, type FeedClient, fillOf } from './support/feed.js';

const BTC = 1;
const ETH = 2;
const SOL = 3;
const INSIDE = 7;
const OUTSIDE = 107;

/** Tokens by what they may do (each at least 16 characters). */
const T = {
  source: 'source-btc-sources-1-2-000001', // sources 1, 2; BTC only
  sourceAnyMarket: 'source-any-market-source-3-01', // source 3; every market
  matching: 'matching-unscoped-token-00001',
  matchingAccounts: 'matching-accounts-0-99-000001', // accounts [0, 99]
  matchingMarkets: 'matching-markets-btc-sol-0001', // BTC and SOL only
  admin: 'admin-unscoped-token-00000001', // adminTokens (legacy list): every market
  adminBtc: 'admin-btc-only-token-00000001', // BTC only
} as const;
const TOKENS: TokenSpec[] = [
  { token: T.source, role: 'source', sources: [1, 2], markets: [[BTC, BTC]] },
  { token: T.sourceAnyMarket, role: 'source', sources: [3] },
  { token: T.matching, role: 'matching' },
  { token: T.matchingAccounts, role: 'matching', accounts: [[0, 99]] },
  { token: T.matchingMarkets, role: 'matching', markets: [[SOL, SOL], [BTC, BTC]] },
  { token: T.adminBtc, role: 'admin', markets: [[BTC, BTC]] },
];

const feed = new Feed();
afterEach(() => feed.closeAll());

async function start() {
  const started = await feed.start({
    engine: { autoEpoch: false, capacity: { markets: 3, accounts: 8, positions: 16 }, oracle: { markets: [oracleMarket({ market: SOL })] } },
    server: { tokens: TOKENS, adminTokens: [T.admin], clockIntervalMs: 60_000 },
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
      e.addMarket({ id: ETH, symbol: 'ETH-USD', price: 3_000, tiers: TIERS });
      e.addMarket({ id: SOL, symbol: 'SOL-USD', price: 150, tiers: TIERS });
      e.addAccount(INSIDE, 1_000);
      e.upsertPosition({ account: INSIDE, market: BTC, size: 1, entryPrice: 50_000 });
      e.addAccount(OUTSIDE, 1_000);
      e.upsertPosition({ account: OUTSIDE, market: ETH, size: -10, entryPrice: 3_000 });
      // Funds that pay any order's shortfall, so bankrupt accounts get orders rather than deleveragings.
      for (const m of [BTC, ETH]) e.depositInsurance(m, 100_000);
    },
  });
  await started.engine.step();
  return started;
}

/** A connection with `token`, past the server's greeting. */
async function as(server: FeedServer, token: string): Promise<FeedClient> {
  const c = await feed.connect(server, { token });
  expect((await c.next()).kind).toBe('engineStatus');
  return c;
}

const tick = (market: number, price: number, source: number, i = 1): Tick => ({ market, source, price, confidence: 0, eventTimeUs: 1_000 + i, sourceSequence: i });

/** Both accounts liquidated by ticks from source tokens: their open orders, by account. */
async function liquidated(engine: Engine, server: FeedServer): Promise<Map<number, LiquidationOrder>> {
  const btc = await as(server, T.source);
  const eth = await as(server, T.sourceAnyMarket);
  btc.send((s) => encodeTicks(s, [tick(BTC, 49_100, 1)]));
  eth.send((s) => encodeTicks(s, [tick(ETH, 3_090, 3)]));
  expect([...(await btc.sync()), ...(await eth.sync())]).toEqual([]);
  const r = await engine.step();
  expect(r.orders.map((o) => o.account).sort((a, b) => a - b)).toEqual([INSIDE, OUTSIDE]);
  return new Map(r.orders.map((o) => [o.account, o]));
}

/** Everything a rejected frame must leave as it was. */
function state(engine: Engine) {
  const { accepted, verified, rejected } = engine.oracleStats();
  return {
    tables: tableBytes(engine),
    lastSequence: engine.lastSequence,
    accounts: [INSIDE, OUTSIDE].filter((a) => engine.hasAccount(a)).map((a) => engine.account(a)),
    opened: [8, 150].map((a) => engine.hasAccount(a)),
    openOrders: engine.openOrders(),
    funds: [BTC, ETH, SOL].filter((m) => engine.hasMarket(m)).map((m) => engine.insuranceFund(m)),
    oracle: { accepted, verified, rejected },
    killSwitches: [engine.killSwitch(), ...[BTC, ETH, SOL].filter((m) => engine.hasMarket(m)).map((m) => engine.killSwitch(m))],
  };
}

function expectUnchanged(engine: Engine, before: ReturnType<typeof state>): void {
  const now = state(engine);
  expect(firstDifference(now.tables, before.tables)).toBe(-1);
  expect({ ...now, tables: null }).toEqual({ ...before, tables: null });
}

/** Sends `frame` as `client`; expects exactly one FORBIDDEN answer with `message`, and returns it. */
async function refused(client: FeedClient, frame: (sequence: number) => Uint8Array, message: string | RegExp): Promise<FeedMessage> {
  const sequence = client.send(frame);
  const answers = await client.sync();
  const text = typeof message === 'string' ? message : (expect.stringMatching(message) as string);
  expect(answers).toEqual([{ kind: 'errorFrame', sequence: expect.any(Number) as number, code: 'FORBIDDEN', message: text, offendingSequence: sequence }]);
  return answers[0]!;
}

/** Sends `frame` as `client`; expects it accepted (no answer before the barrier). */
async function accepted(client: FeedClient, frame: (sequence: number) => Uint8Array): Promise<void> {
  client.send(frame);
  expect(await client.sync()).toEqual([]);
}

describe('a source token', () => {
  type Landed = (e: Engine, o: Map<number, LiquidationOrder>, server: FeedServer) => void;
  const matchingFrames: [string, string, (o: Map<number, LiquidationOrder>) => (s: number) => Uint8Array, Landed][] = [
    [
      'fills',
      'Fills',
      (o) => (s) => encodeFills(s, [fillOf(o.get(INSIDE)!)]),
      (e, o) => expect(e.openOrders().map((x) => x.order.id)).toEqual([o.get(OUTSIDE)!.id]),
    ],
    [
      'positions',
      'PositionUpdates',
      () => (s) => encodePositions(s, [{ account: INSIDE, market: BTC, size: 2, entryPrice: 50_000, isolatedCollateral: null }]),
      (e) => expect(e.account(INSIDE).positions[0]!.size).toBe(2),
    ],
    [
      'collateral (and opening an account)',
      'CollateralUpdates',
      () => (s) => encodeCollateral(s, [{ account: INSIDE, collateral: 5_000 }, { account: 8, collateral: 9 }]),
      (e) => expect([e.account(INSIDE).collateral, e.hasAccount(8)]).toEqual([5_000, true]),
    ],
    [
      'order expiries',
      'OrderExpiries',
      (o) => (s) => encodeExpiries(s, [o.get(INSIDE)!.id], 6_000),
      (e, o) => expect(e.openOrders().map((x) => x.order.id)).toEqual([o.get(OUTSIDE)!.id]),
    ],
    [
      'book tops',
      'BookTickers',
      () => (s) => encodeBookTickers(s, [{ market: SOL, bid: 149, ask: 149.1, last: 149.05, eventTimeUs: 6_000 }]),
      (_e, _o, server) => expect(server.stats().booksIn).toBe(1),
    ],
  ];

  for (const [what, wire, frame, landed] of matchingFrames) {
    it(`may not send ${what}: FORBIDDEN, nothing changes; a matching token's same frame lands`, async () => {
      const { engine, server } = await start();
      const orders = await liquidated(engine, server);
      const source = await as(server, T.source);
      const before = state(engine);
      await refused(source, frame(orders), `a source token may not send ${wire} frames; a matching token may`);
      expectUnchanged(engine, before);
      expect(server.stats().rejected).toEqual({ FORBIDDEN: 1, UNSUPPORTED_VERSION: 3 });

      const matching = await as(server, T.matching);
      await accepted(matching, frame(orders));
      landed(engine, orders, server);
    });
  }

  it('may not send a kill switch: FORBIDDEN, nothing changes; an admin token may', async () => {
    const { engine, server } = await start();
    const source = await as(server, T.source);
    const before = state(engine);
    const halt = (s: number) => encodeKillSwitch(s, { level: 'halt', market: BTC, reason: 'drill' });
    await refused(source, halt, 'a source token may not send KillSwitch frames; an admin token may');
    expectUnchanged(engine, before);
    await accepted(await as(server, T.admin), halt);
    expect(engine.killSwitch(BTC)).toBe('halt');
  });

  it('may send ticks only for its sources: a tick of source 9 is FORBIDDEN naming the row', async () => {
    const { engine, server } = await start();
    const source = await as(server, T.source);
    const before = state(engine);
    await refused(source, (s) => encodeTicks(s, [tick(BTC, 49_000, 9)]), "ticks[0].source: source 9 is outside this token's sources ([1, 2])");
    expectUnchanged(engine, before);
    expect(server.stats()).toMatchObject({ ticksIn: 0, rejected: { FORBIDDEN: 1 } });
    await accepted(source, (s) => encodeTicks(s, [tick(BTC, 49_000, 2)]));
    expect(engine.tables.markets.markPrice[0]).toBe(49_000);
    expect(server.stats().ticksIn).toBe(1);
  });

  it('may send ticks only for its markets: an ETH tick from a BTC-only source is FORBIDDEN', async () => {
    const { engine, server } = await start();
    const source = await as(server, T.source);
    const before = state(engine);
    await refused(source, (s) => encodeTicks(s, [tick(ETH, 3_010, 1)]), "ticks[0].market: market 2 is outside this token's markets (1)");
    expectUnchanged(engine, before);
    // A source without market ranges reports for every market.
    await accepted(await as(server, T.sourceAnyMarket), (s) => encodeTicks(s, [tick(ETH, 3_010, 3)]));
    expect(engine.tables.markets.markPrice[1]).toBe(3_010);
  });

  it('with one row outside its scopes in an otherwise good frame has the whole frame refused: no tick of it lands', async () => {
    const { engine, server } = await start();
    const source = await as(server, T.source);
    const before = state(engine);
    const rows = [tick(BTC, 49_000, 1, 1), tick(BTC, 49_001, 2, 2), tick(BTC, 49_002, 3, 3), tick(BTC, 49_003, 1, 4)];
    await refused(source, (s) => encodeTicks(s, rows), /^ticks\[2\]\.source: source 3 is outside/);
    const wrongMarket = [tick(BTC, 49_000, 1, 1), tick(ETH, 3_010, 2, 2)];
    await refused(source, (s) => encodeTicks(s, wrongMarket), /^ticks\[1\]\.market: market 2 is outside/);
    expectUnchanged(engine, before);
    expect(server.stats()).toMatchObject({ ticksIn: 0, rejected: { FORBIDDEN: 2 } });
    await accepted(source, (s) => encodeTicks(s, [rows[0]!, rows[1]!, rows[3]!]));
    expect(engine.tables.markets.markPrice[0]).toBe(49_003);
  });
});

describe('a source token on an oracle market', () => {
  it('may send SignedPriceTicks only for its sources: the oracle takes no report of a refused frame', async () => {
    const started = await feed.start({
      engine: { autoEpoch: false, capacity: { markets: 1, accounts: 4, positions: 4 }, oracle: { markets: [oracleMarket()] } },
      server: { tokens: [{ token: T.source, role: 'source', sources: [1, 2] }], clockIntervalMs: 60_000 },
      setup: (e) => e.addMarket({ id: ORACLE, symbol: 'BTC-USD', price: 100, tiers: TIERS }),
    });
    const { engine, server } = started;
    const sources = new Sources(undefined, ORACLE, T0);
    const source = await as(server, T.source);
    const before = state(engine);
    // Sources 1 and 2 are this token's, 3 is not: the frame is refused before any signature is checked.
    const mixed = sources.report(0, { 1: 100, 2: 100, 3: 100 });
    await refused(source, (s) => encodeSignedPriceTicks(s, mixed, sources.sign(mixed)), "ticks[2].source: source 3 is outside this token's sources ([1, 2])");
    expectUnchanged(engine, before);
    const mine = sources.report(0.001, { 1: 100, 2: 100.5 });
    await accepted(source, (s) => encodeSignedPriceTicks(s, mine, sources.sign(mine)));
    expect(engine.oracleStats()).toMatchObject({ accepted: before.oracle.accepted + 2, verified: before.oracle.verified + 2 });
  });
});

describe('a matching token', () => {
  it('may not send PriceTicks or SignedPriceTicks: FORBIDDEN, nothing changes', async () => {
    const { engine, server } = await start();
    const matching = await as(server, T.matching);
    const before = state(engine);
    await refused(matching, (s) => encodeTicks(s, [tick(BTC, 49_000, 1)]), 'a matching token may not send PriceTicks frames; a source token may');
    const t = [tick(BTC, 49_000, 1)];
    await refused(matching, (s) => encodeSignedPriceTicks(s, t, new Uint8Array(64)), 'a matching token may not send SignedPriceTicks frames; a source token may');
    expectUnchanged(engine, before);
    expect(server.stats()).toMatchObject({ ticksIn: 0, rejected: { FORBIDDEN: 2 } });
  });

  it('may not send a kill switch: FORBIDDEN, nothing changes', async () => {
    const { engine, server } = await start();
    const matching = await as(server, T.matching);
    const before = state(engine);
    await refused(matching, (s) => encodeKillSwitch(s, { level: 'halt', market: undefined, reason: 'not mine' }), 'a matching token may not send KillSwitch frames; an admin token may');
    expectUnchanged(engine, before);
    expect(server.stats().killSwitchesIn).toBe(0);
  });

  it('with an account range may not set collateral outside it, or open an account outside it; inside it may', async () => {
    const { engine, server } = await start();
    const matching = await as(server, T.matchingAccounts);
    const before = state(engine);
    await refused(
      matching,
      (s) => encodeCollateral(s, [{ account: INSIDE, collateral: 5_000 }, { account: OUTSIDE, collateral: 1 }]),
      /^updates\[1\]\.account: account 107 is outside this token's accounts \(\[0, 99\]\)$/,
    );
    await refused(matching, (s) => encodeCollateral(s, [{ account: 150, collateral: 1 }]), /^updates\[0\]\.account: account 150 is outside/);
    expectUnchanged(engine, before);
    expect(server.stats()).toMatchObject({ collateralUpdatesIn: 0, rejected: { FORBIDDEN: 2 } });
    await accepted(matching, (s) => encodeCollateral(s, [{ account: INSIDE, collateral: 5_000 }, { account: 8, collateral: 9 }]));
    expect([engine.account(INSIDE).collateral, engine.account(8).collateral]).toEqual([5_000, 9]);
  });

  it('with an account range may not update positions outside it', async () => {
    const { engine, server } = await start();
    const matching = await as(server, T.matchingAccounts);
    const before = state(engine);
    const rows = [
      { account: INSIDE, market: BTC, size: 2, entryPrice: 50_000, isolatedCollateral: null },
      { account: OUTSIDE, market: ETH, size: -1, entryPrice: 3_000, isolatedCollateral: null },
    ];
    await refused(matching, (s) => encodePositions(s, rows), /^positions\[1\]\.account: account 107 is outside this token's accounts/);
    expectUnchanged(engine, before);
    await accepted(matching, (s) => encodePositions(s, [rows[0]!]));
    expect(engine.account(INSIDE).positions[0]!.size).toBe(2);
  });

  it('with an account range may not fill or expire an order of an account outside it; its own orders it may', async () => {
    const { engine, server } = await start();
    const orders = await liquidated(engine, server);
    const [mine, theirs] = [orders.get(INSIDE)!, orders.get(OUTSIDE)!];
    const matching = await as(server, T.matchingAccounts);
    const before = state(engine);
    await refused(matching, (s) => encodeFills(s, [fillOf(mine, mine.quantity / 2), fillOf(theirs)]), /^fills\[1\]\.account: account 107 is outside/);
    await refused(matching, (s) => encodeExpiries(s, [theirs.id], 6_000), /^orderIds\[0\]: account 107 is outside this token's accounts/);
    // An id spelled otherwise than the engine spells its ids names no order in scope.
    await refused(matching, (s) => encodeExpiries(s, [`0${theirs.id}`], 6_000), /^orderIds\[0\]: "0107-2-\d+" is not an order id of this engine/);
    expectUnchanged(engine, before);
    // A fill row that names an account in scope for another account's order: the engine's check (the row must
    // match its order) refuses it, so scoping the row scopes the order.
    const sequence = matching.send((s) => encodeFills(s, [fillOf(theirs, theirs.quantity, { account: INSIDE })]));
    expect(await matching.sync()).toMatchObject([{ kind: 'errorFrame', code: 'INVALID_FILL', offendingSequence: sequence }]);
    expectUnchanged(engine, before);
    expect(server.stats()).toMatchObject({ fillsIn: 0, expiriesIn: 0, rejected: { FORBIDDEN: 3, INVALID_FILL: 1 } });

    await accepted(matching, (s) => encodeFills(s, [fillOf(mine)]));
    expect(engine.openOrders().map((o) => o.order.id)).toEqual([theirs.id]);
    expect(server.stats().fillsIn).toBe(1);
  });

  it('with a market range may not send book tops or positions in another market', async () => {
    const { engine, server } = await start();
    const matching = await as(server, T.matchingMarkets);
    const before = state(engine);
    const book = (market: number) => ({ market, bid: 100, ask: 101, last: 100.5, eventTimeUs: 6_000 });
    await refused(matching, (s) => encodeBookTickers(s, [book(SOL), book(ETH)]), "books[1].market: market 2 is outside this token's markets (1, 3)");
    // Account 7 opening an ETH position: the account has no scope here, the market has.
    const eth = { account: INSIDE, market: ETH, size: 1, entryPrice: 3_000, isolatedCollateral: null };
    await refused(matching, (s) => encodePositions(s, [eth]), /^positions\[0\]\.market: market 2 is outside/);
    expectUnchanged(engine, before);
    expect(server.stats()).toMatchObject({ booksIn: 0, positionUpdatesIn: 0, rejected: { FORBIDDEN: 2 } });
    await accepted(matching, (s) => encodeBookTickers(s, [book(SOL)]));
    await accepted(matching, (s) => encodePositions(s, [{ ...eth, market: BTC, size: 3, entryPrice: 50_000 }]));
    expect(engine.account(INSIDE).positions[0]!.size).toBe(3);
    expect(server.stats()).toMatchObject({ booksIn: 1, positionUpdatesIn: 1 });
  });

  it('with a market range may not fill or expire an order in another market', async () => {
    const { engine, server } = await start();
    const orders = await liquidated(engine, server);
    const matching = await as(server, T.matchingMarkets);
    const before = state(engine);
    await refused(matching, (s) => encodeFills(s, [fillOf(orders.get(OUTSIDE)!)]), /^fills\[0\]\.market: market 2 is outside/);
    await refused(matching, (s) => encodeExpiries(s, [orders.get(OUTSIDE)!.id], 6_000), /^orderIds\[0\]: market 2 is outside/);
    expectUnchanged(engine, before);
    await accepted(matching, (s) => encodeExpiries(s, [orders.get(INSIDE)!.id], 6_000));
    expect(engine.openOrders().map((o) => o.order.id)).toEqual([orders.get(OUTSIDE)!.id]);
  });
});

describe('an admin token', () => {
  it('may not send any input but the kill switch', async () => {
    const { engine, server } = await start();
    const admin = await as(server, T.admin);
    const before = state(engine);
    await refused(admin, (s) => encodeTicks(s, [tick(BTC, 49_000, 1)]), 'an admin token may not send PriceTicks frames; a source token may');
    await refused(admin, (s) => encodeCollateral(s, [{ account: INSIDE, collateral: 1 }]), 'an admin token may not send CollateralUpdates frames; a matching token may');
    expectUnchanged(engine, before);
  });

  it('with a market range may not work the kill switch of another market, nor of every market', async () => {
    const { engine, server } = await start();
    const admin = await as(server, T.adminBtc);
    const before = state(engine);
    await refused(admin, (s) => encodeKillSwitch(s, { level: 'halt', market: ETH, reason: 'drill' }), /^market: market 2 is outside this token's markets \(1\)$/);
    await refused(admin, (s) => encodeKillSwitch(s, { level: 'halt', market: undefined, reason: 'drill' }), /^market: a kill switch for every market needs an admin token without market ranges/);
    expectUnchanged(engine, before);
    await accepted(admin, (s) => encodeKillSwitch(s, { level: 'no-new', market: BTC, reason: 'drill' }));
    expect([engine.killSwitch(BTC), engine.killSwitch(ETH)]).toEqual(['no-new', 'normal']);
  });
});

describe('a subscriber token', () => {
  it('may send no input at all: every inbound kind is FORBIDDEN and nothing changes; it may subscribe', async () => {
    const { engine, server } = await start();
    const orders = await liquidated(engine, server);
    const sub = await as(server, SUBSCRIBER_TOKEN);
    const before = state(engine);
    const frames: [string, (s: number) => Uint8Array][] = [
      ['PriceTicks', (s) => encodeTicks(s, [tick(BTC, 49_000, 1)])],
      ['SignedPriceTicks', (s) => encodeSignedPriceTicks(s, [tick(BTC, 49_000, 1)], new Uint8Array(64))],
      ['BookTickers', (s) => encodeBookTickers(s, [{ market: BTC, bid: 1, ask: 2, last: 1.5, eventTimeUs: 6_000 }])],
      ['PositionUpdates', (s) => encodePositions(s, [{ account: INSIDE, market: BTC, size: 2, entryPrice: 50_000, isolatedCollateral: null }])],
      ['CollateralUpdates', (s) => encodeCollateral(s, [{ account: INSIDE, collateral: 1 }])],
      ['Fills', (s) => encodeFills(s, [fillOf(orders.get(INSIDE)!)])],
      ['OrderExpiries', (s) => encodeExpiries(s, [orders.get(INSIDE)!.id], 6_000)],
      ['KillSwitch', (s) => encodeKillSwitch(s, { level: 'halt', market: BTC, reason: '' })],
    ];
    for (const [wire, frame] of frames) await refused(sub, frame, new RegExp(`^a subscriber token may not send ${wire} frames; an? \\w+ token may$`));
    expectUnchanged(engine, before);
    expect(server.stats().rejected.FORBIDDEN).toBe(frames.length);
    sub.send((s) => encodeSubscribe(s, { markets: [], accounts: [INSIDE], allOrders: false }));
    const answer = await sub.sync();
    expect(answer.filter((m) => m.kind === 'accountStates')).toMatchObject([{ accounts: [{ account: INSIDE }] }]);
  });
});

describe('a legacy publisher token (publisherTokens)', () => {
  it('is source and matching at once, for every source, market and account, but may not work the kill switch', async () => {
    const { engine, server } = await feed.start({
      engine: { autoEpoch: false, capacity: { markets: 2, accounts: 8, positions: 16 } },
      server: { publisherTokens: [PUBLISHER_TOKEN] },
      setup: (e) => {
        e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
        e.addAccount(OUTSIDE, 1_000);
      },
    });
    const pub = await as(server, PUBLISHER_TOKEN);
    await accepted(pub, (s) => encodeTicks(s, [tick(BTC, 49_000, 4_000_000_000)]));
    await accepted(pub, (s) => encodeCollateral(s, [{ account: OUTSIDE, collateral: 7 }, { account: 4_000_000, collateral: 1 }]));
    expect([engine.tables.markets.markPrice[0], engine.account(OUTSIDE).collateral, engine.hasAccount(4_000_000)]).toEqual([49_000, 7, true]);
    await refused(pub, (s) => encodeKillSwitch(s, { level: 'halt', market: BTC, reason: '' }), 'a publisher token may not send KillSwitch frames; an admin token may');
    expect(engine.killSwitch(BTC)).toBe('normal');
  });
});

describe('tokens config', () => {
  const starting = async (options: Parameters<typeof FeedServer.start>[1]) => {
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 1, positions: 1 } });
    try {
      const s = await FeedServer.start(engine, { port: 0, ...options });
      await s.close();
      return 'started';
    } finally {
      await engine.close();
    }
  };
  const good = 'a-good-scoped-token-0001';
  const cases: [string, unknown, string][] = [
    ['not an array', { tokens: { token: good, role: 'matching' } }, 'tokens'],
    ['an entry that is not an object', { tokens: [good] }, 'tokens[0]'],
    ['an unknown key', { tokens: [{ token: good, role: 'matching', scope: 'all' }] }, 'tokens[0].scope'],
    ['a short token', { tokens: [{ token: 'short', role: 'matching' }] }, 'tokens[0].token'],
    ['an unknown role', { tokens: [{ token: good, role: 'publisher' }] }, 'tokens[0].role'],
    ['a source without sources', { tokens: [{ token: good, role: 'source' }] }, 'tokens[0].sources'],
    ['a source with no source', { tokens: [{ token: good, role: 'source', sources: [] }] }, 'tokens[0].sources'],
    ['a source id that is not an id', { tokens: [{ token: good, role: 'source', sources: [1, -2] }] }, 'tokens[0].sources[1]'],
    ['sources on a matching token', { tokens: [{ token: good, role: 'matching', sources: [1] }] }, 'tokens[0].sources'],
    ['accounts on a source token', { tokens: [{ token: good, role: 'source', sources: [1], accounts: [[0, 9]] }] }, 'tokens[0].accounts'],
    ['markets on a subscriber token', { publisherTokens: [PUBLISHER_TOKEN], tokens: [{ token: good, role: 'subscriber', markets: [[0, 9]] }] }, 'tokens[0].markets'],
    ['a range with lo > hi', { tokens: [{ token: good, role: 'matching', markets: [[5, 4]] }] }, 'tokens[0].markets[0]'],
    ['a range that is not a pair', { tokens: [{ token: good, role: 'matching', accounts: [[1, 2, 3]] }] }, 'tokens[0].accounts[0]'],
    ['a range past the largest id', { tokens: [{ token: good, role: 'matching', accounts: [[0, 4294967295]] }] }, 'tokens[0].accounts[0]'],
    ['no ranges at all', { tokens: [{ token: good, role: 'matching', accounts: [] }] }, 'tokens[0].accounts'],
    ['a token given twice', { tokens: [{ token: good, role: 'matching' }, { token: good, role: 'subscriber' }] }, 'tokens[1].token'],
    ['a token also in publisherTokens', { publisherTokens: [good], tokens: [{ token: good, role: 'admin' }] }, 'tokens[0].token'],
    ['no token that may publish', { tokens: [{ token: good, role: 'subscriber' }] }, 'tokens'],
  ];
  for (const [what, options, field] of cases) {
    it(`refuses ${what} with INVALID_CONFIG naming ${field}`, async () => {
      await expect(starting(options as never)).rejects.toMatchObject({ code: 'INVALID_CONFIG', field });
    });
  }

  it('starts with scoped tokens alone (no publisherTokens)', async () => {
    await expect(starting({ tokens: [{ token: good, role: 'source', sources: [1], markets: [[0, 0]] }, { token: `${good}-2`, role: 'subscriber' }] })).resolves.toBe('started');
  });
});
