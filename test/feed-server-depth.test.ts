/**
 * Book depth over the wire (schemas/README.md "Book depth"): a matching connection's Depth frame goes to
 * Engine.pushDepth through the server's one input path: checked whole, each row its market's bid and ask volume in
 * the markets table, one input sequence per row, journaled, acknowledged, starting no epoch of its own; a twap with
 * maxParticipation then sends at most its share of the bids. A bad frame gets one coded ErrorFrame and changes
 * nothing; only matching tokens (within their markets) and legacy publishers may send it. A real FeedServer on
 * loopback, real `ws` clients and the SDK, real journal files.
 *
 * Markets 1 and 2 (table indices 0 and 1); every market's depth starts unknown (Infinity: no cap).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as flatbuffers from 'flatbuffers';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FeedClient as Sdk, FeedClientError } from '../src/feed/client.js';
import {
  decodeFrame,
  DEPTH_ROWS_PER_FRAME,
  encodeDepth,
  encodeFrame,
  encodeSubscribe,
  encodeTicks,
  type FeedMessage,
  type MarketDepth,
} from '../src/feed/codec.js';
import { Depth, Envelope, MarketDepth as MarketDepthStruct, Message } from '../src/feed/generated/unwind_generated.js';
import type { TokenSpec } from '../src/feed/server-options.js';
import type { FeedServer } from '../src/feed/server.js';
import { MARKET_DEPTH_BYTES } from '../src/feed/spec.js';
import { decodeInput } from '../src/engine/records.js';
import { RecordKind } from '../src/journal/format.js';
import { readJournal } from '../src/journal/reader.js';
import type { Engine, EngineConfig } from '../src/index.js';
import { Feed, firstDifference, PUBLISHER_TOKEN, SUBSCRIBER_TOKEN, tableBytes, TIERS, until, type FeedClient } from './support/feed.js';

const A = 1;
const B = 2;
const T = {
  matching: 'matching-unscoped-depth-token-01',
  matchingA: 'matching-market-1-depth-token-1', // market 1 only
  source: 'source-any-market-depth-token-1',
  admin: 'admin-unscoped-depth-token-0001',
} as const;
const TOKENS: TokenSpec[] = [
  { token: T.matching, role: 'matching' },
  { token: T.matchingA, role: 'matching', markets: [[A, A]] },
  { token: T.source, role: 'source', sources: [1] },
  { token: T.admin, role: 'admin' },
];

const feed = new Feed();
const sdks: Sdk[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of sdks.splice(0)) c.close();
  await feed.closeAll();
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * An engine holding markets 1 and 2 and account 1, a server with the tokens above; no clock readings during a test
 * (nothing changes unless a frame lands). Automatic epochs: the setup's collateral starts one, a Depth frame none.
 */
function start(engine: EngineConfig = {}) {
  return feed.start({
    engine: { capacity: { markets: 2, accounts: 4, positions: 4 }, ...engine },
    server: { tokens: TOKENS, clockIntervalMs: 60_000 },
    setup: (e) => {
      e.addMarket({ id: A, symbol: 'AAA-USD', price: 100, tiers: TIERS });
      e.addMarket({ id: B, symbol: 'BBB-USD', price: 3_000, tiers: TIERS });
      e.addAccount(1, 1_000);
      e.setCollateral(1, 1_000); // an input that starts an epoch (markets and accounts alone do not)
    },
  });
}

/** A connection with `token`, past the server's greeting. */
async function as(server: FeedServer, token: string): Promise<FeedClient> {
  const c = await feed.connect(server, { token });
  expect((await c.next()).kind).toBe('engineStatus');
  return c;
}

/** Markets 1 and 2 as the markets table holds them: [bid, ask] volumes by table index. */
function volumes(engine: Engine): [number, number][] {
  const m = engine.tables.markets;
  return [0, 1].map((i) => [m.bidVolume[i]!, m.askVolume[i]!]);
}

/** Everything a rejected frame must leave as it was. */
function state(engine: Engine, server: FeedServer) {
  return { tables: tableBytes(engine), lastSequence: engine.lastSequence, epochs: engine.epochs, depthIn: server.stats().depthIn };
}

function expectUnchanged(engine: Engine, server: FeedServer, before: ReturnType<typeof state>, why: string): void {
  const now = state(engine, server);
  expect(firstDifference(now.tables, before.tables), why).toBe(-1);
  expect({ ...now, tables: null }, why).toEqual({ ...before, tables: null });
}

/** Sends `frame`; expects exactly one ErrorFrame with `code` and a message matching `message`, echoing its sequence. */
async function rejected(client: FeedClient, frame: (sequence: number) => Uint8Array, code: string, message: RegExp): Promise<void> {
  const sequence = client.send(frame);
  expect(await client.sync()).toEqual([
    { kind: 'errorFrame', sequence: expect.any(Number) as number, code, message: expect.stringMatching(message) as string, offendingSequence: sequence },
  ]);
}

/** Sends `frame`; expects it applied (no answer before the barrier). */
async function accepted(client: FeedClient, frame: (sequence: number) => Uint8Array): Promise<void> {
  client.send(frame);
  expect(await client.sync()).toEqual([]);
}

/** A Depth frame built with the generated API, for rows the typed encoder cannot write (a padding other than 0). */
function rawDepth(sequence: number, rows: readonly (readonly [market: number, padding: number, bid: number, ask: number])[]): Uint8Array {
  const b = new flatbuffers.Builder(256);
  Depth.startBooksVector(b, rows.length);
  for (let i = rows.length - 1; i >= 0; i--) MarketDepthStruct.createMarketDepth(b, ...rows[i]!);
  const table = Depth.createDepth(b, b.endVector());
  b.finish(Envelope.createEnvelope(b, 1, sequence, Message.Depth, table), 'UNWD');
  return b.asUint8Array().slice();
}

describe('a Depth frame', () => {
  it('lands in the markets table in order (a market named twice keeps its last row), one input sequence a row, journaled and acknowledged, and starts no epoch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unwind-depth-'));
    dirs.push(dir);
    const { engine, server } = await start({ journal: { dir, durability: 'sync', log: () => {} } });
    expect(volumes(engine)).toEqual([[Infinity, Infinity], [Infinity, Infinity]]);
    const pub = await as(server, T.matching);
    pub.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, acks: true }));
    expect(await pub.sync()).toEqual([]);
    const epochs = engine.epochs;
    const before = engine.lastSequence;

    const rows: MarketDepth[] = [
      { market: A, bidVolume: 120, askVolume: 95.5 },
      { market: B, bidVolume: 0, askVolume: Infinity }, // an empty bid side caps at 0; the asks are not known
      { market: A, bidVolume: 130, askVolume: 0 },
    ];
    const frame = pub.send((s) => encodeDepth(s, rows));
    await until(() => pub.received.some((r) => r.kind === 'ack' && r.state === 'durable' && r.frameSequence === frame), 'a durable ack');
    const answers = await pub.sync();

    expect(volumes(engine)).toEqual([[130, 0], [0, Infinity]]);
    expect(engine.lastSequence).toBe(before + 3);
    expect(engine.epochs, 'depth alone starts no epoch').toBe(epochs);
    expect(server.stats().depthIn).toBe(3);
    expect(answers.find((a) => a.kind === 'ack' && a.state === 'accepted')).toEqual({
      kind: 'ack', sequence: expect.any(Number) as number, state: 'accepted', frameSequence: frame, firstSequence: before + 1, lastSequence: before + 3,
    });
    // The journal holds it as the engine's own input (record kind 18), so recovery and replay take it back.
    const records = [...readJournal(dir, { repair: false, log: () => {} })].filter((r) => r.kind === RecordKind.Depth);
    expect(records.map(decodeInput)).toEqual([{ kind: 'depth', books: rows }]);
  });

  it.each([
    ['no Depth frame (depth not known: no cap)', undefined, 100],
    ['bids 300: 10% of them', { bidVolume: 300, askVolume: 1e6 }, 30],
    ['bids not known (Infinity)', { bidVolume: Infinity, askVolume: 10 }, 100],
    ['asks 10 only: a sell takes the bids', { bidVolume: 1e6, askVolume: 10 }, 100],
  ] as const)('caps a twap child at maxParticipation of the bids it reported, end to end: %s', async (_, depth, child) => {
    // Account 1 long 600 at 100 on 6,100 of collateral (maintenance 10%): liquidatable at 99; the target health is out
    // of reach, so the sizing asks for the whole 600, and twap's first step 600 * 10 / 60 = 100.
    const tiers = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
    const { engine, server } = await feed.start({
      engine: {
        autoEpoch: false,
        capacity: { markets: 1, accounts: 4, positions: 4 },
        sizing: { targetHealth: 100, minNotional: 1e12 },
        execution: { strategy: { kind: 'twap', horizonSec: 60, stepSec: 10, maxParticipation: 0.1 } },
      },
      server: { clockIntervalMs: 60_000 },
      setup: (e) => {
        e.addMarket({ id: A, symbol: 'AAA-USD', price: 100, tiers });
        e.depositInsurance(A, 1e9);
        e.addAccount(1, 6_100);
        e.upsertPosition({ account: 1, market: A, size: 600, entryPrice: 100 });
      },
    });
    const venue = await feed.connect(server, 'publisher');
    const desk = await feed.connect(server, 'subscriber');
    desk.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: true }));
    expect((await desk.sync()).map((m) => m.kind)).toEqual(['engineStatus']);
    if (depth !== undefined) venue.send((s) => encodeDepth(s, [{ market: A, ...depth }]));
    venue.send((s) => encodeTicks(s, [{ market: A, source: 1, price: 99, confidence: 0, eventTimeUs: 1_000_000, sourceSequence: 1 }]));
    expect((await venue.sync()).map((m) => m.kind)).toEqual(['engineStatus']);

    const r = await engine.step();
    expect(r.orders.map((o) => [o.account, o.side, o.quantity])).toEqual([[1, 'sell', child]]);
    // The desk got the order over the wire as the epoch decided it.
    const frames = await desk.sync();
    expect(frames.filter((m) => m.kind === 'orders').flatMap((m) => (m.kind === 'orders' ? m.orders.map((o) => o.quantity) : []))).toEqual([child]);
  });

  it('takes DEPTH_ROWS_PER_FRAME (4,096) rows in one frame', async () => {
    const { engine, server } = await start();
    const pub = await as(server, T.matching);
    const before = engine.lastSequence;
    const rows = Array.from({ length: DEPTH_ROWS_PER_FRAME }, (_, i) => ({ market: i % 2 === 0 ? A : B, bidVolume: i, askVolume: 2 * i }));
    await accepted(pub, (s) => encodeDepth(s, rows));
    expect(engine.lastSequence).toBe(before + DEPTH_ROWS_PER_FRAME);
    expect(volumes(engine)).toEqual([[4_094, 8_188], [4_095, 8_190]]);
  });
});

describe('a bad Depth frame', () => {
  const good: MarketDepth = { market: A, bidVolume: 50, askVolume: 60 };
  const cases: [string, (s: number) => Uint8Array, string, RegExp][] = [
    ['no rows', (s) => encodeDepth(s, []), 'INVALID_FIELD', /^books: expected at least one element$/],
    ['4,097 rows', (s) => encodeDepth(s, Array.from({ length: DEPTH_ROWS_PER_FRAME + 1 }, () => good)), 'INVALID_FIELD', /^books: expected at most 4096 rows per frame, got 4097$/],
    ['a NaN bid volume', (s) => encodeDepth(s, [good, { ...good, bidVolume: Number.NaN }]), 'INVALID_FIELD', /^books\[1\]\.bidVolume: expected a volume >= 0 \(base units; Infinity: not known\), got NaN$/],
    ['a negative ask volume', (s) => encodeDepth(s, [{ ...good, askVolume: -1 }]), 'INVALID_FIELD', /^books\[0\]\.askVolume: expected a volume >= 0/],
    ['a bid volume of -Infinity', (s) => encodeDepth(s, [{ ...good, bidVolume: -Infinity }]), 'INVALID_FIELD', /^books\[0\]\.bidVolume: expected a volume >= 0/],
    ['market 4294967295 (no id)', (s) => encodeDepth(s, [good, { ...good, market: 0xffffffff }]), 'INVALID_FIELD', /^books\[1\]\.market: /],
    ['a padding other than 0', (s) => rawDepth(s, [[A, 0, 1, 1], [A, 7, 1, 1]]), 'INVALID_FIELD', /^books\[1\]\.padding: expected 0, got 7$/],
    ['a market the engine does not hold, after a good row', (s) => encodeDepth(s, [good, { ...good, market: 9 }]), 'UNKNOWN_MARKET', /^\[1\]\.market: no market with id 9$/],
  ];

  it('gets one ErrorFrame with its code, naming the field and echoing its sequence, and changes nothing; the connection goes on', async () => {
    const { engine, server } = await start();
    const pub = await as(server, T.matching);
    const before = state(engine, server);
    for (const [what, frame, code, message] of cases) {
      await rejected(pub, frame, code, message);
      expectUnchanged(engine, server, before, what);
    }
    expect(server.stats().rejected).toMatchObject({ INVALID_FIELD: cases.length - 1, UNKNOWN_MARKET: 1 });
    await accepted(pub, (s) => encodeDepth(s, [good]));
    expect(volumes(engine)[0]).toEqual([50, 60]);
  });
});

describe('who may send Depth', () => {
  const rows = (...markets: number[]) => (s: number) => encodeDepth(s, markets.map((market) => ({ market, bidVolume: 10 * market, askVolume: 20 * market })));

  it.each([
    ['a subscriber', SUBSCRIBER_TOKEN],
    ['a source', T.source],
    ['an admin', T.admin],
  ])('%s token may not: FORBIDDEN, nothing changes', async (who, token) => {
    const { engine, server } = await start();
    const c = await as(server, token);
    const before = state(engine, server);
    await rejected(c, rows(A), 'FORBIDDEN', new RegExp(`^${who} token may not send Depth frames; a matching token may$`));
    expectUnchanged(engine, server, before, who);
    expect(server.stats().rejected.FORBIDDEN).toBe(1);
  });

  it('a matching token with a market range may not name another market: FORBIDDEN naming the row, none of the frame lands; within it, it may', async () => {
    const { engine, server } = await start();
    const c = await as(server, T.matchingA);
    const before = state(engine, server);
    await rejected(c, rows(A, B), 'FORBIDDEN', /^books\[1\]\.market: market 2 is outside this token's markets \(1\)$/);
    expectUnchanged(engine, server, before, 'out of scope');
    await accepted(c, rows(A));
    expect(volumes(engine)).toEqual([[10, 20], [Infinity, Infinity]]);
  });

  it.each([
    ['an unscoped matching token', T.matching],
    ['a legacy publisher token', PUBLISHER_TOKEN],
  ])('%s may, for every market', async (_, token) => {
    const { engine, server } = await start();
    await accepted(await as(server, token), rows(A, B));
    expect(volumes(engine)).toEqual([[10, 20], [20, 40]]);
    expect(server.stats().depthIn).toBe(2);
  });
});

describe('the SDK', () => {
  it('sendDepth sends one Depth frame: accepted resolves with the input sequences its rows took; a bad one rejects with the server code', async () => {
    const { engine, server } = await start();
    const sdk = await Sdk.connect({ url: server.url, token: T.matching, acks: true, reconnect: false });
    sdks.push(sdk);
    const before = engine.lastSequence;
    await expect(sdk.accepted(sdk.sendDepth([{ market: A, bidVolume: 7, askVolume: 8 }, { market: B, bidVolume: 9, askVolume: 10 }]))).resolves.toEqual({
      firstSequence: before + 1,
      lastSequence: before + 2,
    });
    expect(volumes(engine)).toEqual([[7, 8], [9, 10]]);
    const bad = sdk.accepted(sdk.sendDepth([{ market: A, bidVolume: -7, askVolume: 8 }]));
    await expect(bad).rejects.toBeInstanceOf(FeedClientError);
    await expect(bad).rejects.toMatchObject({ code: 'REJECTED', serverCode: 'INVALID_FIELD' });
    expect(engine.lastSequence).toBe(before + 2);
  });
});

describe('the codec', () => {
  const volume = fc.oneof(fc.double({ min: 0, max: 1e300, noNaN: true }), fc.constant(Infinity), fc.constant(0));
  const row = fc.record({ market: fc.integer({ min: 0, max: 0xfffffffe }), bidVolume: volume, askVolume: volume });

  it('decodes every Depth frame it encodes (volumes >= 0 or Infinity), -0 as 0, in 24 bytes a row', () => {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 40 }), fc.nat(2 ** 40), (books, sequence) => {
        const m: FeedMessage = { kind: 'depth', sequence, books };
        expect(decodeFrame(encodeFrame(m))).toEqual({ ...m, books: books.map((b) => ({ ...b, bidVolume: b.bidVolume + 0, askVolume: b.askVolume + 0 })) });
      }),
      { seed: 42, numRuns: 300 },
    );
    const one = encodeDepth(1, [{ market: A, bidVolume: 1, askVolume: 1 }]).length;
    const many = encodeDepth(1, Array.from({ length: 1_001 }, () => ({ market: A, bidVolume: 1, askVolume: 1 }))).length;
    expect([MARKET_DEPTH_BYTES, many - one]).toEqual([24, 1_000 * 24]);
    const zero = decodeFrame(encodeDepth(1, [{ market: A, bidVolume: -0, askVolume: 1 }]));
    expect(zero.kind === 'depth' && Object.is(zero.books[0]!.bidVolume, 0)).toBe(true);
  });

  it('refuses a frame with any volume below 0 or NaN as INVALID_FIELD naming the first such row', () => {
    const bad = fc.oneof(fc.double({ max: -Number.MIN_VALUE, noNaN: true }), fc.constant(Number.NaN), fc.constant(-Infinity));
    fc.assert(
      fc.property(fc.array(row, { maxLength: 10 }), fc.array(row, { maxLength: 10 }), bad, fc.boolean(), (head, tail, v, bid) => {
        const spoiled = { market: 1, bidVolume: bid ? v : 1, askVolume: bid ? 1 : v };
        const r = decodeFrame(encodeDepth(3, [...head, spoiled, ...tail]));
        expect(r).toMatchObject({ kind: 'error', code: 'INVALID_FIELD', sequence: 3, field: `books[${head.length}].${bid ? 'bidVolume' : 'askVolume'}` });
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('appends Depth to the union as type 23, still schema version 1', () => {
    const envelope = Envelope.getRootAsEnvelope(new flatbuffers.ByteBuffer(encodeDepth(5, [{ market: A, bidVolume: 1, askVolume: 2 }])));
    expect([envelope.version(), envelope.messageType(), Message.OpenOrders]).toEqual([1, 23, 22]);
  });
});
