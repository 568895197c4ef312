/**
 * What a client cannot grow or slow (README "Wire protocol", connection policy): a real FeedServer on loopback, real
 * `ws` clients, an engine with epochs only on step().
 *   - the stats keyed by error code keep a fixed set of keys whatever codes clients send;
 *   - account topics are capped per connection and over all connections (TOO_MANY_TOPICS, nothing added);
 *   - an epoch's account-state work is capped by accountStateBudget whatever the topics held: the accounts an input
 *     named first, the others in turn, each sent its latest state once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  encodeAccountStates,
  encodeCollateral,
  encodeEngineStatus,
  encodeError,
  encodeMarketStatus,
  encodeOrders,
  encodeSubscribe,
  encodeTicks,
  encodeUnsubscribe,
  type AccountState,
  type FeedMessage,
} from '../src/feed/codec.js';
import { ErrorCode } from '../src/errors.js';
import { FeedErrorCode, FrameErrorCode } from '../src/feed/messages.js';
import type { FeedServer } from '../src/feed/server.js';
import type { Engine } from '../src/index.js';
import { mulberry32 } from '../src/sim/random.js';
import { Feed, TIERS, type FeedClient, type StartOptions } from './support/feed.js';

const BTC = 1;
const feed = new Feed();
afterEach(() => feed.closeAll());

/** Accounts 0 .. accounts-1, each long 1 BTC from 50,000 with 1,000 collateral. */
function start(accounts: number, server: StartOptions['server'] = {}) {
  return feed.start({
    engine: { autoEpoch: false, capacity: { markets: 1, accounts, positions: accounts } },
    server,
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
      for (let a = 0; a < accounts; a++) {
        e.addAccount(a, 1_000);
        e.upsertPosition({ account: a, market: BTC, size: 1, entryPrice: 50_000 });
      }
    },
  });
}

async function subscriber(server: FeedServer): Promise<FeedClient> {
  const c = await feed.connect(server, 'subscriber');
  expect((await c.next()).kind).toBe('engineStatus');
  return c;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const statesIn = (frames: readonly FeedMessage[]): AccountState[] => frames.flatMap((f) => (f.kind === 'accountStates' ? f.accounts : []));
const errorsIn = (frames: readonly FeedMessage[]) => frames.flatMap((f) => (f.kind === 'errorFrame' ? [f.code] : []));

describe('the stats keyed by error code', () => {
  it('keep a fixed set of keys however many distinct codes clients send in ErrorFrames or other server frames', async () => {
    const { server } = await start(1);
    const client = await subscriber(server);
    const random = mulberry32(13);
    const known = new Set<string>([...Object.values(FrameErrorCode), ...Object.values(FeedErrorCode), ...Object.values(ErrorCode)]);
    // 3,000 distinct codes, including ones an object literal treats specially and ones this server uses itself.
    const codes = [...range(0, 2_990).map((i) => `CODE_${i}_${Math.floor(random() * 1e9)}`), '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'OTHER', 'PEER_FORBIDDEN', 'x'.repeat(500), 'FORBIDDEN', 'UNKNOWN_ORDER'];
    for (const code of codes) client.send((s) => encodeError(s, code, 'the peer says no', null));
    // Server-to-client kinds sent inbound, with arbitrary code strings where they carry one.
    const inbound = [
      (s: number) => encodeMarketStatus(s, { market: BTC, state: 'paused', reason: 'r', eventTimeUs: 1, code: 'WHATEVER_1' }),
      (s: number) => encodeEngineStatus(s, { state: 'running', epoch: 1, lastSequence: 1, markets: 1, accounts: 1, positions: 1, message: 'ANY' }),
      (s: number) => encodeOrders(s, []),
      (s: number) => encodeAccountStates(s, []),
    ];
    for (const frame of inbound) client.send(frame);
    const answers = await client.sync();
    expect(errorsIn(answers)).toEqual(inbound.map(() => 'UNKNOWN_MESSAGE'));

    const unknown = codes.filter((c) => !known.has(c)).length;
    expect(server.stats().rejected).toEqual({ PEER_OTHER: unknown, PEER_FORBIDDEN: 1, PEER_UNKNOWN_ORDER: 1, UNKNOWN_MESSAGE: inbound.length, UNSUPPORTED_VERSION: 1 });
    // What a stats request returns stays small.
    const http = await fetch(`${server.url.replace('ws://', 'http://')}/stats?token=subscriber-token-for-tests-0001`);
    expect((await http.text()).length).toBeLessThan(2_000);
    // A prototype-named code did not reach the object's prototype.
    expect(Object.getPrototypeOf(server.stats().rejected)).toBe(Object.prototype);
  });
});

describe('topics', () => {
  it('are capped over all connections: a subscription past maxTopicsTotal is refused whole, and topics freed by unsubscribing or closing count again', async () => {
    const { engine, server } = await start(20, { maxTopicsPerConnection: 8, maxTopicsTotal: 10 });
    const a = await subscriber(server);
    const b = await subscriber(server);

    a.send((s) => encodeSubscribe(s, { markets: [], accounts: range(1, 7), allOrders: false }));
    expect(statesIn(await a.sync()).map((s) => s.account)).toEqual(range(1, 7));
    expect(server.stats().topics).toBe(6);

    // 5 more (two of them accounts A holds: a topic is per connection) would make 11.
    const refused = b.send((s) => encodeSubscribe(s, { markets: [], accounts: range(5, 10), allOrders: false }));
    expect(await b.sync()).toEqual([
      {
        kind: 'errorFrame',
        sequence: expect.any(Number) as number,
        code: 'TOO_MANY_TOPICS',
        message: 'at most 10 market, account and ADL topics over all connections (4 free, this frame adds 5)',
        offendingSequence: refused,
      },
    ]);
    expect(server.stats().topics).toBe(6);
    // Nothing of it was added: B hears nothing of accounts 5..9 when they change.
    engine.setCollateral(8, 2_000);
    await engine.step();
    expect(statesIn(await b.sync())).toEqual([]);

    b.send((s) => encodeSubscribe(s, { markets: [BTC], accounts: range(7, 10), allOrders: false }));
    expect(errorsIn(await b.sync())).toEqual([]);
    expect(server.stats().topics).toBe(10);
    b.send((s) => encodeSubscribe(s, { markets: [], accounts: [10], allOrders: false }));
    expect(errorsIn(await b.sync())).toEqual(['TOO_MANY_TOPICS']);

    // Unsubscribing frees topics (one not held frees nothing).
    a.send((s) => encodeUnsubscribe(s, { markets: [], accounts: [1, 2, 19], allOrders: false }));
    await a.sync();
    expect(server.stats().topics).toBe(8);
    b.send((s) => encodeSubscribe(s, { markets: [], accounts: [10, 11], allOrders: false }));
    expect(errorsIn(await b.sync())).toEqual([]);
    expect(server.stats().topics).toBe(10);

    // Closing frees the connection's topics; B is still held to its own cap of 8 (it holds 6).
    await a.close();
    await vi.waitFor(() => expect(server.stats().topics).toBe(6));
    b.send((s) => encodeSubscribe(s, { markets: [], accounts: [12, 13], allOrders: false }));
    expect(errorsIn(await b.sync())).toEqual([]);
    b.send((s) => encodeSubscribe(s, { markets: [], accounts: [14], allOrders: false }));
    const last = await b.sync();
    expect(last).toMatchObject([{ code: 'TOO_MANY_TOPICS', message: 'at most 8 market, account and ADL topics per connection' }]);
    expect(server.stats().topics).toBe(8);
  });

  it('default to 10,000 per connection and 250,000 in all', async () => {
    const { server } = await start(1);
    const accounts = range(0, 10_000);
    const clients: FeedClient[] = [];
    for (let i = 0; i < 25; i++) {
      const c = await subscriber(server);
      c.send((s) => encodeSubscribe(s, { markets: [], accounts, allOrders: false }));
      clients.push(c);
    }
    for (const c of clients) expect(errorsIn(await c.sync())).toEqual([]);
    expect(server.stats().topics).toBe(250_000);
    const one = clients[0]!;
    one.send((s) => encodeUnsubscribe(s, { markets: [], accounts: [0], allOrders: false }));
    await one.sync();
    const late = await subscriber(server);
    late.send((s) => encodeSubscribe(s, { markets: [], accounts: [0, 1], allOrders: false }));
    expect(errorsIn(await late.sync())).toEqual(['TOO_MANY_TOPICS']);
    late.send((s) => encodeSubscribe(s, { markets: [], accounts: [0], allOrders: false }));
    expect(errorsIn(await late.sync())).toEqual([]);
    // Per connection: 10,001 is one too many.
    const fresh = await subscriber(server);
    fresh.send((s) => encodeSubscribe(s, { markets: [], accounts: range(0, 10_001), allOrders: false }));
    expect(await fresh.sync()).toMatchObject([{ code: 'TOO_MANY_TOPICS', message: 'at most 10000 market, account and ADL topics per connection' }]);
  });
});

describe('account states', () => {
  /** Counts the account states the server reads (AccountWatch reads each through engine.accountSummary). */
  function reads(engine: Engine): { count: number } {
    const counter = { count: 0 };
    const original = engine.accountSummary.bind(engine);
    vi.spyOn(engine, 'accountSummary').mockImplementation((id) => {
      counter.count++;
      return original(id);
    });
    return counter;
  }

  it('cost an epoch at most accountStateBudget however many accounts are watched, and every changed account still arrives, latest state once', async () => {
    const budget = 16;
    for (const watched of [200, 2_000]) {
      const { engine, server } = await start(watched, { accountStateBudget: budget, maxTopicsPerConnection: watched });
      const sub = await subscriber(server);
      sub.send((s) => encodeSubscribe(s, { markets: [], accounts: range(0, watched), allOrders: false }));
      expect(statesIn(await sub.sync())).toHaveLength(watched);

      // Every account's equity moves: 1,000 - 100 = 900.
      const pub = await feed.connect(server, 'publisher');
      pub.send((s) => encodeTicks(s, [{ market: BTC, source: 1, price: 49_900, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }]));
      await pub.sync();
      const counter = reads(engine);
      const seen = new Map<number, number>();
      let epochs = 0;
      while (seen.size < watched) {
        counter.count = 0;
        await engine.step();
        epochs++;
        const states = statesIn(await sub.sync());
        // A read costs 1 and each row sent 1 more (one watcher here): 8 accounts an epoch.
        expect(counter.count).toBeLessThanOrEqual(budget);
        expect(states).toHaveLength(budget / 2);
        for (const s of states) {
          expect(s.equity).toBe(900);
          seen.set(s.account, (seen.get(s.account) ?? 0) + 1);
        }
        if (epochs > watched) throw new Error('the round robin never reached every account');
      }
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      expect(epochs).toBe(watched / (budget / 2));
      // Nothing changed since: a whole round reads, sends nothing, and still reads at most the budget an epoch.
      counter.count = 0;
      await engine.step();
      expect(statesIn(await sub.sync())).toEqual([]);
      expect(counter.count).toBeLessThanOrEqual(budget);
      await feed.closeAll();
    }
  });

  it('of accounts an input named go first, ahead of the round robin', async () => {
    const { engine, server } = await start(100, { accountStateBudget: 8 });
    const sub = await subscriber(server);
    sub.send((s) => encodeSubscribe(s, { markets: [], accounts: range(0, 100), allOrders: false }));
    await sub.sync();
    const pub = await feed.connect(server, 'publisher');
    pub.send((s) => encodeTicks(s, [{ market: BTC, source: 1, price: 49_900, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }]));
    await pub.sync();
    await engine.step();
    const first = statesIn(await sub.sync()).map((s) => s.account);
    expect(first).toEqual([0, 1, 2, 3]);
    // Accounts 90 and 57 are far ahead in the round robin; a collateral update names them.
    pub.send((s) => encodeCollateral(s, [{ account: 90, collateral: 1_500 }, { account: 57, collateral: 1_200 }]));
    await pub.sync();
    await engine.step();
    const next = statesIn(await sub.sync());
    expect(next.map((s) => s.account)).toEqual([90, 57, 4, 5]);
    expect(next.slice(0, 2).map((s) => s.equity)).toEqual([1_400, 1_100]);
  });
});
