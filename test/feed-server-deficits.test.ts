/**
 * Where deficits went, on the feed: the engine's deleveragings, socialized losses and unresolved deficits reach the
 * connections whose topics select the bankrupt account, a counterparty (or payer) account, the market, or all orders,
 * sent with the epoch's output; a connection selected only by a counterparty gets only its rows; a record too long
 * for one frame is split and the SDK joins it; frames of the new kinds that are malformed are rejected, never thrown
 * on. A real FeedServer on loopback, `ws` clients and the SDK client, an engine with automatic epochs.
 *
 * The books (BTC, market 0, at 50,000; maintenance 10%, initial 20%; no insurance fund):
 *   ADL:         account 1 arrives over the feed bankrupt: 0.1 BTC long from 50,000 on -500 of collateral (equity
 *                -500, maintenance 500: bankruptcy price 50,000 + 500 / 0.1 = 55,000). Shorts: account 2, 0.06 from
 *                60,000 on 1,000 (rank 0.1667 x 1.875 = 0.31, first); account 3, 1 from 51,000 on 20,000 (rank 0.047).
 *   unresolved:  account 7, 0.1 BTC long from 50,000 on 600, nobody short; BTC falls to 44,000 (equity 0).
 *   socialized:  account 7 as above; 5,000 shorts of 0.001 BTC from 50,000 on 100 each (accounts 1000..5999).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Deleveraging as EngineDeleveraging, SocializedLoss as EngineSocializedLoss, UnresolvedDeficit as EngineUnresolvedDeficit } from '../src/clearing/clearing.js';
import { FeedClient as SdkClient, type FeedClientEvents } from '../src/feed/client.js';
import {
  decodeFrame,
  encodeCollateral,
  encodeFills,
  encodeFrame,
  encodePositions,
  encodeSubscribe,
  encodeTicks,
  FrameErrorCode,
  type DecodeResult,
  type Deleveraging,
  type FeedMessage,
  type LiquidationOrder,
  type SocializedLoss,
  type Topics,
  type UnresolvedDeficit,
} from '../src/feed/codec.js';
import { DELEVERAGING_SHAPE, joinDeleveragings, packRecords, PartJoiner, SOCIALIZED_LOSS_SHAPE } from '../src/feed/deficits.js';
import { DEFICIT_ROWS_PER_FRAME } from '../src/feed/messages.js';
import { Feed, SAMPLE_DELEVERAGING, until, within, SUBSCRIBER_TOKEN, type FeedClient, type Started, type StartOptions } from './support/feed.js';
import { Random } from './support/random.js';

const BTC = 0;
const ETH = 1;
const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];

const feed = new Feed();
let sdkClients: SdkClient[] = [];
afterEach(async () => {
  for (const c of sdkClients) c.close();
  sdkClients = [];
  await feed.closeAll();
});

/** The clearing's events, as the engine emitted them. */
interface Heard {
  deleveraged: EngineDeleveraging[];
  socialized: EngineSocializedLoss[];
  unresolved: EngineUnresolvedDeficit[];
}

async function start(setup: (e: Started['engine']) => void, engine: StartOptions['engine'] = {}, capacity = { markets: 2, accounts: 16, positions: 32 }): Promise<Started & { heard: Heard }> {
  const started = await feed.start({
    // Ticks carry event times near 0 while the server's clock reads now: an order issued before the first clock
    // reading would be timed out by it. No timeout here (test/feed-server-timeouts.test.ts covers them).
    engine: { capacity, orderTimeoutUs: Infinity, ...engine },
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT });
      e.addMarket({ id: ETH, symbol: 'ETH-USD', price: 3_000, tiers: TEN_PERCENT });
      // Someone in ETH, so that an ETH subscriber has an account of its own to watch.
      e.addAccount(9, 1_000);
      e.upsertPosition({ account: 9, market: ETH, size: 1, entryPrice: 3_000 });
      setup(e);
    },
  });
  const heard: Heard = { deleveraged: [], socialized: [], unresolved: [] };
  started.engine.onDeleverage((d) => heard.deleveraged.push(d));
  started.engine.onSocializedLoss((l) => heard.socialized.push(l));
  started.engine.onUnresolvedDeficit((u) => heard.unresolved.push(u));
  return { ...started, heard };
}

/** Connects, reads the greeting, subscribes to `topics` and waits until the server has applied it. */
async function subscriber(server: Started['server'], topics: Partial<Topics>, role: 'subscriber' | 'publisher' = 'subscriber'): Promise<FeedClient> {
  const c = await feed.connect(server, role);
  expect(await c.next()).toMatchObject({ kind: 'engineStatus', sequence: 0 });
  c.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, ...topics }));
  await c.sync();
  return c;
}

/** An SDK client (its typed events are under test), subscribed to `topics`. */
async function sdkSubscriber(server: Started['server'], topics: Partial<Topics>): Promise<SdkClient> {
  const c = await SdkClient.connect({ url: server.url, token: SUBSCRIBER_TOKEN });
  sdkClients.push(c);
  c.subscribe(topics);
  return c;
}

/** The arguments of the first `event` an SDK client emits. */
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

/** The engine's deleveraging as a connection selected as a whole must receive it (stated here, not taken from src). */
function wire(d: EngineDeleveraging): Deleveraging {
  return {
    sequence: d.sequence,
    account: d.account,
    market: d.market,
    orderId: d.orderId,
    bankruptcyPrice: d.bankruptcyPrice,
    markPrice: d.markPrice,
    absorbed: d.absorbed,
    matched: d.matched,
    remainder: d.remainder,
    realizedPnl: d.realizedPnl,
    counterparties: d.counterparties.map((c, index) => ({ account: c.account, index, quantity: c.quantity, realizedPnl: c.realizedPnl, sizeAfter: c.sizeAfter })),
    counterpartyCount: d.counterparties.length,
    continued: false,
  };
}

const framesOf = <K extends FeedMessage['kind']>(frames: readonly (FeedMessage | DecodeResult)[], kind: K): Extract<FeedMessage, { kind: K }>[] =>
  frames.filter((f): f is Extract<FeedMessage, { kind: K }> => f.kind === kind);
const ordersIn = (frames: readonly FeedMessage[]): LiquidationOrder[] => framesOf(frames, 'orders').flatMap((f) => [...f.orders]);


const tick = (market: number, price: number, i = 0) => ({ market, source: 1, price, confidence: 0, eventTimeUs: 1_000 + i, sourceSequence: i });

describe('deleveragings on the feed', () => {
  /** The ADL book of the header, with subscribers of every kind; account 1 arrives bankrupt over the feed. */
  async function deleveraged() {
    const started = await start((e) => {
      e.addAccount(2, 1_000);
      e.upsertPosition({ account: 2, market: BTC, size: -0.06, entryPrice: 60_000 });
      e.addAccount(3, 20_000);
      e.upsertPosition({ account: 3, market: BTC, size: -1, entryPrice: 51_000 });
    });
    const { engine, server } = started;
    // The shorts' queue a bankrupt long meets: account 2 first, then account 3.
    expect(engine.adlQueue(BTC, 1).map((e) => e.account)).toEqual([2, 3]);
    const subs = {
      all: await subscriber(server, { allOrders: true }),
      market: await subscriber(server, { markets: [BTC] }),
      bankrupt: await subscriber(server, { accounts: [1] }),
      counterparty: await subscriber(server, { accounts: [3] }),
      elsewhere: await subscriber(server, { markets: [ETH], accounts: [9] }),
    };
    const sdk = await sdkSubscriber(server, { accounts: [2] });
    const sdkHeard = firstEvent(sdk, 'deleveragings');
    const pub = await feed.connect(server, 'publisher');
    expect((await pub.next()).kind).toBe('engineStatus');
    pub.send((s) => encodeCollateral(s, [{ account: 1, collateral: -500 }]));
    pub.send((s) => encodePositions(s, [{ account: 1, market: BTC, size: 0.1, entryPrice: 50_000, isolatedCollateral: null }]));
    await until(() => server.stats().deleveragingsOut >= 5, 'deleveragings sent');
    const frames = Object.fromEntries(await Promise.all(Object.entries(subs).map(async ([k, c]) => [k, await c.sync()] as const))) as Record<keyof typeof subs, FeedMessage[]>;
    return { ...started, subs, frames, pub, sdkHeard };
  }

  it('sends a bankrupt long closed at its bankruptcy price 55,000 against the ADL queue, with the order it replaced, instead of that order', async () => {
    const { engine, heard, frames } = await deleveraged();
    expect(heard.deleveraged).toHaveLength(1);
    const d = heard.deleveraged[0]!;
    const got = framesOf(frames.all, 'deleveragings');
    expect(got).toHaveLength(1);
    expect(got[0]!.deleveragings).toEqual([wire(d)]);
    const record = got[0]!.deleveragings[0]!;
    expect(record).toMatchObject({ account: 1, market: BTC, bankruptcyPrice: 55_000, markPrice: 50_000, remainder: 0, counterpartyCount: 2, continued: false });
    expect(record.orderId).toMatch(/^1-0-\d+$/);
    expect(record.matched).toBeCloseTo(0.1, 12);
    expect(record.absorbed).toBeCloseTo(500, 5);
    expect(record.counterparties.map((c) => [c.account, c.index])).toEqual([
      [2, 0],
      [3, 1],
    ]);
    expect(record.counterparties[0]!).toMatchObject({ quantity: 0.06, sizeAfter: 0 });
    // PnL settles in ledger atoms (10^-6 quote, rounded down): within an atom of the exact figures.
    expect(record.counterparties[0]!.realizedPnl).toBeCloseTo(300, 5);
    expect(record.counterparties[1]!.quantity).toBeCloseTo(0.04, 12);
    expect(record.counterparties[1]!.sizeAfter).toBeCloseTo(-0.96, 12);
    expect(record.counterparties[1]!.realizedPnl).toBeCloseTo(-160, 5);
    // No order for the bankrupt account, on the wire or open in the engine; its position is gone.
    expect(ordersIn(frames.all).filter((o) => o.account === 1)).toEqual([]);
    expect(engine.openOrders().filter((o) => o.order.account === 1)).toEqual([]);
    expect(engine.account(1).positions.every((p) => p.size === 0)).toBe(true);
  });

  it('sends the whole deleveraging to the market\'s and the bankrupt account\'s subscribers, before the account state it changed', async () => {
    const { heard, frames } = await deleveraged();
    const whole = wire(heard.deleveraged[0]!);
    for (const sub of [frames.market, frames.bankrupt]) {
      expect(framesOf(sub, 'deleveragings').map((f) => f.deleveragings)).toEqual([[whole]]);
      expect(ordersIn(sub)).toEqual([]);
    }
    // The bankrupt account's watcher learns of the deleveraging first, then of the account it left (collateral 0).
    const kinds = frames.bankrupt.map((f) => f.kind);
    const last = frames.bankrupt.findLastIndex((f) => f.kind === 'accountStates');
    expect(kinds.indexOf('deleveragings')).toBeLessThan(last);
    expect(framesOf(frames.bankrupt, 'accountStates').at(-1)!.accounts).toMatchObject([{ account: 1, collateral: 0, equity: 0 }]);
  });

  it('sends a connection selected only by a counterparty account its own row, with the count of all rows', async () => {
    const { heard, frames, sdkHeard } = await deleveraged();
    const whole = wire(heard.deleveraged[0]!);
    expect(framesOf(frames.counterparty, 'deleveragings').map((f) => f.deleveragings)).toEqual([[{ ...whole, counterparties: [whole.counterparties[1]] }]]);
    // The SDK's typed event, for a subscriber of the other counterparty.
    const [records, sequence] = await sdkHeard;
    expect(records).toEqual([{ ...whole, counterparties: [whole.counterparties[0]] }]);
    expect(Number.isSafeInteger(sequence)).toBe(true);
  });

  it('sends nothing of it to a connection whose topics select neither the market nor any of its accounts', async () => {
    const { frames, server } = await deleveraged();
    expect(frames.elsewhere.map((f) => f.kind)).not.toContain('deleveragings');
    expect(frames.elsewhere.filter((f) => f.kind !== 'accountStates')).toEqual([]);
    // all, market, bankrupt, counterparty and the SDK's: five connections, one record each.
    expect(server.stats().deleveragingsOut).toBe(5);
  });
});

describe('unresolved deficits on the feed', () => {
  it('sends a deficit nobody could take after an uncovered fill to the account\'s, the market\'s and all-orders subscribers, with its reason', async () => {
    const { engine, server, heard } = await start((e) => {
      e.addAccount(7, 600);
      e.upsertPosition({ account: 7, market: BTC, size: 0.1, entryPrice: 50_000 });
    });
    const pub = await subscriber(server, { allOrders: true }, 'publisher');
    const account = await subscriber(server, { accounts: [7] });
    const elsewhere = await subscriber(server, { markets: [ETH], accounts: [9] });
    const sdk = await sdkSubscriber(server, { markets: [BTC] });
    const sdkHeard = firstEvent(sdk, 'unresolvedDeficits');
    pub.send((s) => encodeTicks(s, [tick(BTC, 44_000)]));
    const frame = await pub.next();
    if (frame.kind !== 'orders') throw new Error(`expected orders, got ${frame.kind}`);
    // Nobody is short: the order goes out, whole, at its fillable price (equity 0: 44,000 - 0.1 x 4,400).
    const order = frame.orders[0]!;
    expect(order).toMatchObject({ account: 7, market: BTC, side: 'sell', quantity: 0.1, limitPrice: 43_560 });
    pub.send((s) => encodeFills(s, [{ orderId: order.id, account: 7, market: BTC, quantity: 0.1, price: order.limitPrice, eventTimeUs: 2_000 }]));
    await until(() => server.stats().unresolvedDeficitsOut >= 3, 'unresolved deficits sent');
    expect(heard.unresolved).toHaveLength(1);
    const u = heard.unresolved[0]!;
    // Realized 0.1 x (43,560 - 50,000) = -644 on 600 of collateral, and an empty fund: 44 left owing.
    expect(u.amount).toBeCloseTo(44, 6);
    const expected: UnresolvedDeficit = { sequence: u.sequence, account: 7, market: BTC, amount: u.amount, reason: 'no-counterparty' };
    for (const c of [pub, account]) expect(framesOf(await c.sync(), 'unresolvedDeficits').map((f) => f.deficits)).toEqual([[expected]]);
    expect((await sdkHeard)[0]).toEqual([expected]);
    expect(framesOf(await elsewhere.sync(), 'unresolvedDeficits')).toEqual([]);
    expect(heard.deleveraged.filter((d) => d.matched > 0)).toEqual([]);
    expect(engine.ledger.total()).toBe(0n);
  });
});

describe('socialized losses on the feed', () => {
  const PAYERS = 5_000;
  const FIRST_PAYER = 1_000;

  it('splits a loss shared by 5,000 payers over two frames, which the SDK joins, and sends a payer\'s own subscriber only its share', async () => {
    const { server, heard } = await start(
      (e) => {
        e.addAccount(7, 600);
        e.upsertPosition({ account: 7, market: BTC, size: 0.1, entryPrice: 50_000 });
        for (let a = FIRST_PAYER; a < FIRST_PAYER + PAYERS; a++) {
          e.addAccount(a, 100);
          e.upsertPosition({ account: a, market: BTC, size: -0.001, entryPrice: 50_000 });
        }
      },
      { deficitPolicy: 'socialized' },
      { markets: 2, accounts: PAYERS + 16, positions: 2 * (PAYERS + 16) },
    );
    const pub = await subscriber(server, { allOrders: true }, 'publisher');
    const covered = await subscriber(server, { accounts: [7] });
    const payer = await subscriber(server, { accounts: [FIRST_PAYER + 1_234] });
    const sdk = await sdkSubscriber(server, { allOrders: true });
    const sdkRaw: FeedMessage[] = [];
    sdk.on('message', (m) => {
      if (m.kind === 'socializedLosses') sdkRaw.push(m);
    });
    const sdkHeard = firstEvent(sdk, 'socializedLosses');
    pub.send((s) => encodeTicks(s, [tick(BTC, 44_000)]));
    const frame = await pub.next();
    if (frame.kind !== 'orders') throw new Error(`expected orders, got ${frame.kind}`);
    const order = frame.orders.find((o) => o.account === 7)!;
    pub.send((s) => encodeFills(s, [{ orderId: order.id, account: 7, market: BTC, quantity: order.quantity, price: order.limitPrice, eventTimeUs: 2_000 }]));
    await until(() => server.stats().socializedLossesOut >= 4, 'socialized losses sent', 10_000);

    expect(heard.socialized).toHaveLength(1);
    const l = heard.socialized[0]!;
    expect(l.shares).toHaveLength(PAYERS);
    expect(l.amount).toBeCloseTo(44, 6);
    const whole: SocializedLoss = {
      sequence: l.sequence,
      account: 7,
      market: BTC,
      amount: l.amount,
      shares: l.shares.map((s, index) => ({ account: s.account, index, amount: s.amount })),
      shareCount: PAYERS,
      continued: false,
      method: 'pro-rata',
    };
    // All-orders and the covered account's watcher: the record and 4,095 shares fill the first frame (4,096 rows),
    // the rest follows in the next, which continues it.
    for (const c of [pub, covered]) {
      const parts = framesOf(await c.sync(), 'socializedLosses').map((f) => f.losses);
      expect(parts.map((p) => p.map((x) => [x.shares.length, x.continued]))).toEqual([
        [[DEFICIT_ROWS_PER_FRAME - 1, true]],
        [[PAYERS - DEFICIT_ROWS_PER_FRAME + 1, false]],
      ]);
      const joined = new PartJoiner<SocializedLoss>((a, b) => ({ ...a, shares: [...a.shares, ...b.shares], continued: b.continued }));
      expect(parts.flatMap((p) => joined.push(p))).toEqual([whole]);
    }
    const mine = whole.shares.find((s) => s.account === FIRST_PAYER + 1_234)!;
    expect(framesOf(await payer.sync(), 'socializedLosses').map((f) => f.losses)).toEqual([[{ ...whole, shares: [mine] }]]);
    // The SDK received the two parts and emitted the loss once, whole.
    expect((await sdkHeard)[0]).toEqual([whole]);
    await until(() => sdkRaw.length >= 2, 'both parts at the SDK');
    expect(sdkRaw.map((m) => m.kind === 'socializedLosses' && m.losses[0]!.continued)).toEqual([true, false]);
  });
});

describe('deficit frames: packing and joining', () => {
  /** A deleveraging of `rows` counterparties (account = 100 + index), told apart by `sequence`. */
  const record = (sequence: number, rows: number): Deleveraging => ({
    sequence,
    account: 1,
    market: BTC,
    orderId: null,
    bankruptcyPrice: 55_000,
    markPrice: 50_000,
    absorbed: 1,
    matched: rows,
    remainder: 0,
    realizedPnl: 1,
    counterparties: Array.from({ length: rows }, (_, index) => ({ account: 100 + index, index, quantity: 1, realizedPnl: 0, sizeAfter: -1 })),
    counterpartyCount: rows,
    continued: false,
  });

  it('keeps every frame within the row limit, splits only what fits in no frame, and joins back to the records sent (seeded)', () => {
    const r = new Random(0xdef1c17);
    for (let trial = 0; trial < 500; trial++) {
      const limit = r.int(2, 40);
      const records = Array.from({ length: r.int(1, 12) }, (_, i) => record(i, r.chance(0.2) ? r.int(limit, 4 * limit) : r.int(0, limit - 1)));
      const frames = packRecords(records, DELEVERAGING_SHAPE, limit);
      const joiner = new PartJoiner<Deleveraging>(joinDeleveragings);
      const joined: Deleveraging[] = [];
      for (const frame of frames) {
        expect(frame.length).toBeGreaterThan(0);
        expect(frame.reduce((n, d) => n + 1 + d.counterparties.length, 0)).toBeLessThanOrEqual(limit);
        // Only a frame's last record may be cut short, and each part carries a row.
        frame.forEach((d, i) => {
          if (d.continued) expect([i, d.counterparties.length > 0]).toEqual([frame.length - 1, true]);
        });
        // Each frame is what the wire carries: it survives the codec.
        expect(decodeFrame(encodeFrame({ kind: 'deleveragings', sequence: 1, deleveragings: frame }))).toEqual({ kind: 'deleveragings', sequence: 1, deleveragings: frame });
        joined.push(...joiner.push(frame));
      }
      expect(joined).toEqual(records);
      // A record that fits in one frame is never cut.
      const cut = new Set(frames.flat().filter((d) => d.continued).map((d) => d.sequence));
      for (const d of records) if (d.counterparties.length + 1 <= limit) expect(cut.has(d.sequence)).toBe(false);
    }
  });

  it('cuts socialized losses the same way, share rows in order', () => {
    const loss: SocializedLoss = {
      sequence: 1,
      account: 7,
      market: BTC,
      amount: 10,
      shares: Array.from({ length: 10 }, (_, index) => ({ account: 10 + index, index, amount: 1 })),
      shareCount: 10,
      continued: false,
      method: 'adl-queue',
    };
    const frames = packRecords([loss], SOCIALIZED_LOSS_SHAPE, 4);
    expect(frames.map((f) => f.map((l) => [l.shares.map((s) => s.index), l.continued]))).toEqual([
      [[[0, 1, 2], true]],
      [[[3, 4, 5], true]],
      [[[6, 7, 8], true]],
      [[[9], false]],
    ]);
  });

  it('passes on a part whose rest never came, still marked continued, rather than joining it to another record', () => {
    const joiner = new PartJoiner<Deleveraging>(joinDeleveragings);
    const head = { ...record(1, 3), counterparties: record(1, 3).counterparties.slice(0, 2), continued: true };
    expect(joiner.push([head])).toEqual([]);
    const other = record(2, 1);
    expect(joiner.push([other])).toEqual([head, other]);
  });
});

describe('deficit frames from a client', () => {
  const DELEVERAGING = SAMPLE_DELEVERAGING; // market 0: BTC
  const SAMPLES: FeedMessage[] = [
    { kind: 'deleveragings', sequence: 0, deleveragings: [DELEVERAGING, { ...DELEVERAGING, orderId: null, counterparties: [], counterpartyCount: 0 }] },
    { kind: 'socializedLosses', sequence: 0, losses: [{ sequence: 11, account: 7, market: BTC, amount: 2, shares: [{ account: 2, index: 0, amount: 1.5 }, { account: 5, index: 1, amount: 0.5 }], shareCount: 2, continued: false, method: 'pro-rata' }] },
    { kind: 'unresolvedDeficits', sequence: 0, deficits: [{ sequence: 13, account: 7, market: BTC, amount: 550, reason: 'halted' }] },
  ];

  it('are answered UNKNOWN_MESSAGE when well formed (they flow from server to client), INVALID_FIELD or MALFORMED_FRAME when not, and change nothing', async () => {
    const { engine, server } = await start(() => {});
    const pub = await subscriber(server, {}, 'publisher');
    const lastSequence = engine.lastSequence;
    const cases: [string, (sequence: number) => Uint8Array][] = [
      ...SAMPLES.map((m) => ['UNKNOWN_MESSAGE', (s: number) => encodeFrame({ ...m, sequence: s })] as [string, (sequence: number) => Uint8Array]),
      ['INVALID_FIELD', (s) => encodeFrame({ kind: 'deleveragings', sequence: s, deleveragings: [{ ...DELEVERAGING, bankruptcyPrice: NaN }] })],
      ['INVALID_FIELD', (s) => encodeFrame({ kind: 'unresolvedDeficits', sequence: s, deficits: [] })],
      ['MALFORMED_FRAME', (s) => encodeFrame({ ...SAMPLES[0]!, sequence: s }).slice(0, 60)],
    ];
    for (const [code, encode] of cases) {
      const sequence = pub.send(encode);
      expect(await pub.next(), code).toMatchObject({ kind: 'errorFrame', code, offendingSequence: sequence });
    }
    expect(await pub.sync()).toEqual([]);
    expect(engine.lastSequence).toBe(lastSequence);
    expect(server.stats().rejected).toMatchObject({ UNKNOWN_MESSAGE: 3, INVALID_FIELD: 2, MALFORMED_FRAME: 1 });
  });

  it('never make the decoder throw: 30,000 mutated frames of the three kinds each decode to a coded error or a message that round-trips (seeded)', () => {
    const r = new Random(0xdef1c175);
    const seeds = SAMPLES.map(encodeFrame);
    const codes = new Set<string>(Object.values(FrameErrorCode));
    const tally = new Map<string, number>();
    for (let i = 0; i < 30_000; i++) {
      let bytes = seeds[r.int(0, seeds.length - 1)]!.slice();
      const view = new DataView(bytes.buffer);
      switch (r.int(0, 3)) {
        case 0: // bit flips
          for (let k = r.int(1, 4); k > 0; k--) bytes[r.int(0, bytes.length - 1)]! ^= 1 << r.int(0, 7);
          break;
        case 1: // a plausible offset, length, count or index planted at an aligned position
          view.setUint32(r.int(0, (bytes.length >> 2) - 1) << 2, r.pick([0, 1, 2, 3, 0x7fffffff, 0xffffffff, r.int(0, bytes.length * 2)]), true);
          break;
        case 2: // a double overwritten with an edge value (prices, amounts, quantities, sequences)
          view.setFloat64(r.int(0, (bytes.length >> 3) - 1) << 3, r.pick([NaN, Infinity, -Infinity, -1, 0, -0, 0.5, 2 ** 53, Number.MAX_VALUE]), true);
          break;
        default: // truncation
          bytes = bytes.slice(0, r.int(0, bytes.length - 1));
      }
      let result: DecodeResult;
      try {
        result = decodeFrame(bytes, 4096);
      } catch (e) {
        throw new Error(`decodeFrame threw on ${Buffer.from(bytes).toString('hex')}: ${String(e)}`);
      }
      if (result.kind === 'error') {
        expect(codes.has(result.code), result.code).toBe(true);
        tally.set(result.code, (tally.get(result.code) ?? 0) + 1);
      } else {
        // Accepted: every value in its domain, so the encoder reproduces exactly what was read.
        expect(decodeFrame(encodeFrame(result))).toEqual(result);
        tally.set('OK', (tally.get('OK') ?? 0) + 1);
      }
    }
    for (const code of ['OK', 'MALFORMED_FRAME', 'INVALID_FIELD']) expect(tally.get(code) ?? 0, `${code} in ${JSON.stringify([...tally])}`).toBeGreaterThan(0);
  });
});
