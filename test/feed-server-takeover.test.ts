/**
 * Backstop takeovers on the feed (src/feed/server.ts, src/feed/decode-takeovers.ts, the SDK's 'takeovers' event):
 * every position a vault takes off the book (execution strategy 'backstop') reaches the connections whose topics
 * select the liquidated account, the vault account, the market or all orders, whole (every field equal to what
 * engine.onTakeover heard), in the order they landed, with the epoch's output: after its orders, before the deficits
 * the takeovers left and before the account states. Nobody else gets one. A real FeedServer on loopback, `ws` clients
 * and the SDK client; epochs only on step().
 *
 * The book (maintenance 5%, initial 10%; no insurance fund). Market 1 is backstopped by vault 900 (discount 0.2%),
 * market 2 is liquidated by IOC orders; ticks then take both to 94:
 *   account 1:   long 100 from 100 on 1,000 (health 0.85): the vault takes part of it.
 *   account 2:   long 100 from 100 on 600 (equity 0): the vault takes all of it at 94 x 0.998 = 93.812, which leaves
 *                18.80 owed; account 3, the ADL queue, pays it (a SocializedLoss, method AdlQueue).
 *   account 3:   short 50 from 100 on 50,000.
 *   account 4:   long 100 from 100 on 1,000 in market 2: an IOC order.
 *   account 900: the vault, 1,000,000 of collateral.
 */
import * as flatbuffers from 'flatbuffers';
import { afterEach, describe, expect, it } from 'vitest';
import type { Takeover as EngineTakeover } from '../src/clearing/clearing.js';
import { FeedClient as SdkClient } from '../src/feed/client.js';
import {
  decodeFrame,
  encodeFrame,
  encodeSubscribe,
  encodeTicks,
  encodeUnsubscribe,
  FrameErrorCode,
  type FeedMessage,
  type FrameError,
  type Settlement,
  type Takeover,
  type Topics,
} from '../src/feed/codec.js';
import { Envelope, Message, Settlement as SettlementTable, Takeover as TakeoverTable, Takeovers } from '../src/feed/generated/unwind_generated.js';
import type { FeedClientEvents, Takeover as ExportedTakeover } from '../src/feed/index.js';
import type { EngineConfig } from '../src/index.js';
import { MAX_TIME_US } from '../src/validate.js';
import { Feed, SAMPLE_TAKEOVER, SUBSCRIBER_TOKEN, until, within, type FeedClient, type Started } from './support/feed.js';
import { Random } from './support/random.js';

const BACKSTOPPED = 1;
const IOC = 2;
const VAULT = 900;
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];
const EXECUTION: EngineConfig['execution'] = {
  strategy: { kind: 'ioc' },
  markets: [{ market: BACKSTOPPED, strategy: { kind: 'backstop', vault: VAULT, discount: 0.002 } }],
};

const feed = new Feed();
let sdkClients: SdkClient[] = [];
afterEach(async () => {
  for (const c of sdkClients) c.close();
  sdkClients = [];
  await feed.closeAll();
});

/** An engine with epochs on step() only, `setup`'s book, the server, and the takeovers engine.onTakeover heard. */
async function start(setup: (e: Started['engine']) => void, capacity = { markets: 2, accounts: 16, positions: 32 }): Promise<Started & { heard: EngineTakeover[] }> {
  const started = await feed.start({
    engine: { autoEpoch: false, capacity, execution: EXECUTION },
    setup: (e) => {
      for (const id of [BACKSTOPPED, IOC]) e.addMarket({ id, price: 100, tiers: TIERS });
      e.addAccount(VAULT, 1_000_000);
      setup(e);
    },
  });
  const heard: EngineTakeover[] = [];
  started.engine.onTakeover((t) => heard.push(t));
  return { ...started, heard };
}

/** The header's book. */
function book(e: Started['engine']): void {
  const long = (account: number, market: number, collateral: number, size: number): void => {
    e.addAccount(account, collateral);
    e.upsertPosition({ account, market, size, entryPrice: 100 });
  };
  long(1, BACKSTOPPED, 1_000, 100);
  long(2, BACKSTOPPED, 600, 100);
  long(3, BACKSTOPPED, 50_000, -50);
  long(4, IOC, 1_000, 100);
}

/** Connects, reads the greeting, subscribes to `topics` (none: stays unsubscribed) and waits until it is applied. */
async function subscriber(server: Started['server'], topics: Partial<Topics> | undefined, role: 'subscriber' | 'publisher' = 'subscriber'): Promise<FeedClient> {
  const c = await feed.connect(server, role);
  expect(await c.next()).toMatchObject({ kind: 'engineStatus', sequence: 0 });
  if (topics !== undefined) c.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, ...topics }));
  await c.sync();
  return c;
}

const tick = (market: number, price: number, i: number) => ({ market, source: 1, price, confidence: 0, eventTimeUs: 1_000 + i, sourceSequence: i });

/** Ticks from a publisher, applied, then one epoch. */
async function pricesThenEpoch(started: Started, pub: FeedClient, prices: readonly (readonly [number, number])[], i: number): Promise<void> {
  pub.send((s) => encodeTicks(s, prices.map(([market, price]) => tick(market, price, i))));
  await pub.sync();
  await started.engine.step();
}

const framesOf = <K extends FeedMessage['kind']>(frames: readonly FeedMessage[], kind: K): Extract<FeedMessage, { kind: K }>[] =>
  frames.filter((f): f is Extract<FeedMessage, { kind: K }> => f.kind === kind);
const takeoversIn = (frames: readonly FeedMessage[]): Takeover[] => framesOf(frames, 'takeovers').flatMap((f) => [...f.takeovers]);

/** Whether a connection with `topics` gets takeover `t` (the rule under test, README "Wire protocol"). */
const selects = (topics: Partial<Topics>, t: Takeover): boolean =>
  topics.allOrders === true || (topics.markets ?? []).includes(t.market) || (topics.accounts ?? []).includes(t.account) || (topics.accounts ?? []).includes(t.vault);

describe('takeovers on the feed', () => {
  /** The header's book with a subscriber per kind of topic; one epoch at 94. */
  async function takenOver() {
    const started = await start(book);
    const { server } = started;
    const topics = {
      all: { allOrders: true },
      market: { markets: [BACKSTOPPED] },
      account1: { accounts: [1] },
      account2: { accounts: [2] },
      vault: { accounts: [VAULT] },
      accountAndVault: { accounts: [1, VAULT] },
      payer: { accounts: [3] },
      iocAccount: { accounts: [4] },
      iocMarket: { markets: [IOC] },
      adl: { adlMarkets: [BACKSTOPPED] },
      nothing: undefined,
    } as const satisfies Record<string, Partial<Topics> | undefined>;
    const subs = Object.fromEntries(await Promise.all(Object.entries(topics).map(async ([k, t]) => [k, await subscriber(server, t)] as const))) as Record<keyof typeof topics, FeedClient>;
    const pub = await subscriber(server, undefined, 'publisher');
    await pricesThenEpoch(started, pub, [[BACKSTOPPED, 94], [IOC, 94]], 1);
    const frames = Object.fromEntries(await Promise.all(Object.entries(subs).map(async ([k, c]) => [k, await c.sync()] as const))) as Record<keyof typeof topics, FeedMessage[]>;
    return { ...started, topics, subs, frames };
  }

  it('sends each takeover with every field as engine.onTakeover heard it: the vault took all of account 2 and part of account 1', async () => {
    const { heard, frames, engine } = await takenOver();
    expect(heard.map((t) => [t.account, t.vault])).toEqual([
      [2, VAULT],
      [1, VAULT],
    ]);
    // Every field, the settlement's too, exactly: the wire carries the engine's doubles unchanged.
    expect(takeoversIn(frames.all)).toEqual(heard);
    const [whole, part] = takeoversIn(frames.all) as [Takeover, Takeover];
    expect(whole).toMatchObject({ account: 2, market: BACKSTOPPED, quantity: 100, vaultSizeAfter: 100, settlement: { sizeAfter: 0, orderRemaining: 0 } });
    expect(whole.price).toBeCloseTo(94 * 0.998, 9);
    expect(whole.settlement.deficit).toBeCloseTo(18.8, 5);
    expect(part.quantity).toBeLessThan(100);
    expect(part.settlement.sizeAfter).toBeCloseTo(100 - part.quantity, 9);
    expect(part.vaultSizeAfter).toBeCloseTo(100 + part.quantity, 9);
    expect(part.vaultCollateralAfter).toBe(1_000_000);
    expect(whole.id).toMatch(/^2-1-\d+$/);
    expect(part.id).toMatch(/^1-1-\d+$/);
    expect(engine.account(VAULT).positions[0]!.size).toBe(part.vaultSizeAfter);
  });

  it('sends a takeover to all orders, its market, the liquidated account and the vault account, once each, and to nobody else', async () => {
    const { heard, topics, frames, server } = await takenOver();
    let sent = 0;
    for (const [k, t] of Object.entries(topics)) {
      const want = t === undefined ? [] : heard.filter((x) => selects(t, x));
      expect(takeoversIn(frames[k as keyof typeof frames]), k).toEqual(want);
      sent += want.length;
    }
    // The rule's cases, spelled out: the vault's owner sees every position its vault took.
    expect(takeoversIn(frames.vault).map((t) => t.account)).toEqual([2, 1]);
    expect(takeoversIn(frames.accountAndVault).map((t) => t.account)).toEqual([2, 1]);
    expect(takeoversIn(frames.account1).map((t) => t.account)).toEqual([1]);
    for (const k of ['payer', 'iocAccount', 'iocMarket', 'adl', 'nothing'] as const) expect(takeoversIn(frames[k]), k).toEqual([]);
    expect(server.stats().takeoversOut).toBe(sent);
  });

  it("sends them after the epoch's orders and before the loss a takeover left and the account states it changed", async () => {
    const { heard, frames } = await takenOver();
    const kinds = frames.all.map((f) => f.kind);
    expect(kinds.filter((k) => ['orders', 'takeovers', 'socializedLosses'].includes(k))).toEqual(['orders', 'takeovers', 'socializedLosses']);
    // Account 2's deficit landed with its takeover (same input sequence), and is sent after it.
    const loss = framesOf(frames.all, 'socializedLosses')[0]!.losses[0]!;
    expect(loss).toMatchObject({ account: 2, market: BACKSTOPPED, method: 'adl-queue', sequence: heard[0]!.sequence });
    expect(loss.amount).toBeCloseTo(heard[0]!.settlement.deficit, 9);
    // The liquidated account's watcher learns of the takeover, then of the account it left.
    const mine = frames.account1.map((f) => f.kind);
    expect(mine.indexOf('takeovers')).toBeGreaterThanOrEqual(0);
    expect(mine.indexOf('takeovers')).toBeLessThan(mine.lastIndexOf('accountStates'));
    expect(framesOf(frames.account1, 'accountStates').at(-1)!.accounts[0]!.collateral).toBe(heard[1]!.settlement.collateralAfter);
    // The vault's watcher too: its state shows the position it took.
    const vault = frames.vault.map((f) => f.kind);
    expect(vault.indexOf('takeovers')).toBeLessThan(vault.lastIndexOf('accountStates'));
  });

  it('sends nothing to a connection that dropped the topics, nor for an epoch that took nothing', async () => {
    const started = await start(book);
    const dropped = await subscriber(started.server, { allOrders: true, accounts: [VAULT] });
    dropped.send((s) => encodeUnsubscribe(s, { markets: [], accounts: [VAULT], allOrders: true }));
    await dropped.sync();
    const kept = await subscriber(started.server, { accounts: [VAULT] });
    const pub = await subscriber(started.server, undefined, 'publisher');
    await pricesThenEpoch(started, pub, [[BACKSTOPPED, 99]], 1); // nobody liquidatable yet
    expect(started.heard).toEqual([]);
    expect(takeoversIn(await kept.sync())).toEqual([]);
    await pricesThenEpoch(started, pub, [[BACKSTOPPED, 94]], 2);
    expect(started.heard).toHaveLength(2);
    expect(takeoversIn(await dropped.sync())).toEqual([]);
    expect(takeoversIn(await kept.sync())).toEqual(started.heard);
  });

  it("the SDK's 'takeovers' event hears them whole, for a subscriber of the vault account", async () => {
    const started = await start(book);
    const sdk = await SdkClient.connect({ url: started.server.url, token: SUBSCRIBER_TOKEN, reconnect: false });
    sdkClients.push(sdk);
    const events: FeedClientEvents['takeovers'][] = [];
    sdk.on('takeovers', (...args) => events.push(args));
    sdk.subscribe({ accounts: [VAULT] });
    await until(() => started.server.stats().topics === 1, 'the SDK subscribed');
    const pub = await subscriber(started.server, undefined, 'publisher');
    await pricesThenEpoch(started, pub, [[BACKSTOPPED, 94]], 1);
    await until(() => events.length > 0, 'takeovers event');
    const [takeovers, sequence] = events[0]!;
    const exported: readonly ExportedTakeover[] = takeovers; // the type the package's `unwind/feed` exports
    expect(exported).toEqual(started.heard);
    expect(sequence).toBeGreaterThan(0);
    expect(events).toHaveLength(1);
  });

  it('answers a Takeovers frame from a client UNKNOWN_MESSAGE and changes nothing', async () => {
    const started = await start(book);
    const pub = await subscriber(started.server, { allOrders: true }, 'publisher');
    const before = started.engine.account(VAULT);
    const sequence = pub.send((s) => encodeFrame({ kind: 'takeovers', sequence: s, takeovers: [SAMPLE_TAKEOVER] }));
    const answer = await within(pub.next(), 5_000, 'answer');
    expect(answer).toMatchObject({ kind: 'errorFrame', code: FrameErrorCode.UnknownMessage, offendingSequence: sequence });
    expect(started.engine.account(VAULT)).toEqual(before);
    expect(started.server.stats().rejected[FrameErrorCode.UnknownMessage]).toBe(1);
  });
});

describe('takeovers on the feed: a seeded book and seeded topics', () => {
  it('each connection gets exactly the takeovers its topics select, in landing order, over a falling market (seed 41)', async () => {
    const r = new Random(41);
    const ACCOUNTS = 30;
    const started = await start(
      (e) => {
        for (let a = 1; a <= ACCOUNTS; a++) {
          e.addAccount(a, 300 + r.int(0, 700));
          e.upsertPosition({ account: a, market: 1 + (a % 2), size: (r.chance(0.7) ? 1 : -1) * r.int(50, 150), entryPrice: 100 });
        }
      },
      { markets: 2, accounts: 64, positions: 128 },
    );
    const candidates = [...Array.from({ length: ACCOUNTS }, (_, i) => i + 1), VAULT];
    const topics: Partial<Topics>[] = Array.from({ length: 10 }, () => ({
      allOrders: r.chance(0.1),
      markets: r.chance(0.25) ? [r.pick([BACKSTOPPED, IOC])] : [],
      accounts: r.shuffle(candidates).slice(0, r.int(0, 4)),
    }));
    const subs = await Promise.all(topics.map((t) => subscriber(started.server, t)));
    const pub = await subscriber(started.server, undefined, 'publisher');
    const received: FeedMessage[][] = subs.map(() => []);
    for (let step = 1; step <= 8; step++) {
      const price = 100 * (1 + 0.01 * Math.sin(step) - 0.008 * step);
      await pricesThenEpoch(started, pub, [[BACKSTOPPED, price], [IOC, price * 1.01]], step);
      for (const [i, c] of subs.entries()) received[i]!.push(...(await c.sync()));
    }
    expect(started.heard.length).toBeGreaterThan(3);
    let sent = 0;
    for (const [i, t] of topics.entries()) {
      const want = started.heard.filter((x) => selects(t, x));
      expect(takeoversIn(received[i]!), JSON.stringify(t)).toEqual(want);
      sent += want.length;
    }
    expect(sent).toBeGreaterThan(0);
    expect(started.server.stats().takeoversOut).toBe(sent);
  });
});

// ---- the codec: Takeovers frames ----

const frame = (takeovers: readonly Takeover[]): Uint8Array => encodeFrame({ kind: 'takeovers', sequence: 3, takeovers });

function expectInvalid(bytes: Uint8Array, code: FrameError['code'], field?: string): FrameError {
  const r = decodeFrame(bytes);
  expect(r.kind, JSON.stringify(r)).toBe('error');
  const e = r as FrameError;
  expect(e.code, e.message).toBe(code);
  if (field !== undefined) expect(e.field).toBe(field);
  return e;
}

describe('Takeovers frames', () => {
  const other: Takeover = { ...SAMPLE_TAKEOVER, sequence: 2 ** 53 - 1, id: 'ÉTH ✓ 7-4294967294-9', account: 7, market: 4_294_967_294, settlement: { ...SAMPLE_TAKEOVER.settlement, orderId: 'ÉTH ✓ 7-4294967294-9', account: 7, market: 4_294_967_294, sequence: 2 ** 53 - 1, eventTimeUs: MAX_TIME_US, insuranceCover: 12.5, deficit: 0.25, realizedPnl: 3, sizeAfter: 0 }, vaultSizeAfter: 0, vaultEntryPrice: 0, vaultRealizedPnl: -40.5 };

  it('decodes what it encodes, as union type 24 of schema version 1', () => {
    const bytes = frame([SAMPLE_TAKEOVER, other]);
    expect(decodeFrame(bytes)).toEqual({ kind: 'takeovers', sequence: 3, takeovers: [SAMPLE_TAKEOVER, other] });
    const envelope = Envelope.getRootAsEnvelope(new flatbuffers.ByteBuffer(bytes));
    expect([envelope.version(), envelope.messageType()]).toEqual([1, 24]);
    expect(Message.Takeovers).toBe(24);
  });

  const settlement = (patch: Partial<Settlement>): Takeover => ({ ...SAMPLE_TAKEOVER, settlement: { ...SAMPLE_TAKEOVER.settlement, ...patch } });
  it.each([
    ['no takeovers', [], 'takeovers'],
    ['a fractional input sequence', [SAMPLE_TAKEOVER, { ...SAMPLE_TAKEOVER, sequence: 15.5 }], 'takeovers[1].sequence'],
    ['account 4294967295 (no id)', [{ ...SAMPLE_TAKEOVER, account: 0xffffffff }], 'takeovers[0].account'],
    ['market 4294967295 (no id)', [{ ...SAMPLE_TAKEOVER, market: 0xffffffff }], 'takeovers[0].market'],
    ['vault 4294967295 (no id)', [{ ...SAMPLE_TAKEOVER, vault: 0xffffffff }], 'takeovers[0].vault'],
    ['a quantity of 0', [{ ...SAMPLE_TAKEOVER, quantity: 0 }], 'takeovers[0].quantity'],
    ['a NaN price', [{ ...SAMPLE_TAKEOVER, price: NaN }], 'takeovers[0].price'],
    ['a negative mark price', [{ ...SAMPLE_TAKEOVER, markPrice: -94 }], 'takeovers[0].markPrice'],
    ["an infinite vault size after", [{ ...SAMPLE_TAKEOVER, vaultSizeAfter: Infinity }], 'takeovers[0].vaultSizeAfter'],
    ["a negative vault entry price", [{ ...SAMPLE_TAKEOVER, vaultEntryPrice: -1 }], 'takeovers[0].vaultEntryPrice'],
    ["a NaN vault PnL", [{ ...SAMPLE_TAKEOVER, vaultRealizedPnl: NaN }], 'takeovers[0].vaultRealizedPnl'],
    ["an infinite vault collateral", [{ ...SAMPLE_TAKEOVER, vaultCollateralAfter: -Infinity }], 'takeovers[0].vaultCollateralAfter'],
    ['a negative fee', [settlement({ fee: -1 })], 'takeovers[0].settlement.fee'],
    ['a NaN insurance cover', [settlement({ insuranceCover: NaN })], 'takeovers[0].settlement.insuranceCover'],
    ['a negative deficit', [settlement({ deficit: -0.5 })], 'takeovers[0].settlement.deficit'],
    ['a negative closed quantity', [settlement({ closed: -1 })], 'takeovers[0].settlement.closed'],
    ['a fill quantity of 0', [settlement({ quantity: 0 })], 'takeovers[0].settlement.quantity'],
    ['a fill time past 2100', [settlement({ eventTimeUs: MAX_TIME_US + 1 })], 'takeovers[0].settlement.eventTimeUs'],
    ['a negative order remaining', [settlement({ orderRemaining: -1 })], 'takeovers[0].settlement.orderRemaining'],
    ['an infinite bankruptcy value', [settlement({ bankruptcyValue: Infinity })], 'takeovers[0].settlement.bankruptcyValue'],
    ["a settlement of another order", [settlement({ orderId: '1-1-5' })], 'takeovers[0].settlement.orderId'],
    ["a settlement of another account", [settlement({ account: 2 })], 'takeovers[0].settlement.account'],
    ["a settlement in another market", [settlement({ market: 2 })], 'takeovers[0].settlement.market'],
    ["a settlement at another sequence", [settlement({ sequence: 14 })], 'takeovers[0].settlement.sequence'],
  ] as const)('INVALID_FIELD for %s', (_, takeovers, field) => {
    expectInvalid(frame(takeovers as readonly Takeover[]), FrameErrorCode.InvalidField, field);
  });

  it('MALFORMED_FRAME for a takeover without its settlement, and for every truncation', () => {
    const b = new flatbuffers.Builder(256);
    const id = b.createString('1-1-4');
    TakeoverTable.startTakeover(b);
    TakeoverTable.addId(b, id);
    TakeoverTable.addQuantity(b, 1);
    const t = b.endObject(); // endTakeover would refuse: settlement is required
    const list = Takeovers.createTakeoversVector(b, [t]);
    b.finish(Envelope.createEnvelope(b, 1, 5, Message.Takeovers, Takeovers.createTakeovers(b, list)), 'UNWD');
    expect(expectInvalid(b.asUint8Array().slice(), FrameErrorCode.MalformedFrame).message).toContain('Takeover.settlement');
    // A settlement without its order id.
    const c = new flatbuffers.Builder(256);
    const cid = c.createString('1-1-4');
    SettlementTable.startSettlement(c);
    SettlementTable.addQuantity(c, 1);
    const s = c.endObject();
    TakeoverTable.startTakeover(c);
    TakeoverTable.addId(c, cid);
    TakeoverTable.addSettlement(c, s);
    const ct = c.endObject();
    c.finish(Envelope.createEnvelope(c, 1, 5, Message.Takeovers, Takeovers.createTakeovers(c, Takeovers.createTakeoversVector(c, [ct]))), 'UNWD');
    expect(expectInvalid(c.asUint8Array().slice(), FrameErrorCode.MalformedFrame).message).toContain('Settlement.orderId');
    const whole = frame([SAMPLE_TAKEOVER, other]);
    for (let n = 12; n < whole.length; n++) {
      const r = decodeFrame(whole.slice(0, n));
      // Cutting only the alignment padding after the last object loses nothing.
      const ok = r.kind === 'error' ? ['MALFORMED_FRAME', 'BAD_IDENTIFIER'].includes(r.code) : whole.subarray(n).every((x) => x === 0);
      expect(ok, `${n}: ${JSON.stringify(r)}`).toBe(true);
    }
  });
});
