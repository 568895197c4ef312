/** The client SDK against a real feed server on loopback: auth, typed events, sequences, reconnect with topics. */
import { readFileSync } from 'node:fs';
import { connect as connectTcp, createServer, type AddressInfo, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { fillablePrice } from '../src/domain/liquidation.js';
import { Engine } from '../src/engine/engine.js';
import { FeedClient, FeedClientError, type WebSocketConstructor } from '../src/feed/client.js';
import { FeedServer } from '../src/feed/server.js';
import { mulberry32 } from '../src/sim/random.js';

const PUB = 'publisher-token-0123456789';
const SUB = 'subscriber-token-0123456789';
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function startServer(port = 0): Promise<{ engine: Engine; server: FeedServer }> {
  // Whole-position sizing (every liquidatable group an emergency): the orders below close the 0.1 BTC.
  const engine = await Engine.start({ scanWorkers: 0, capacity: { markets: 2, accounts: 16, positions: 32 }, sizing: { emergencyHealth: 1 } });
  engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
  // 0.1 BTC long at 50,000, MMR 10%, collateral 600: health 1.2; at 48,000 equity 400 < maintenance 480.
  engine.addAccount(7, 600);
  engine.upsertPosition({ account: 7, market: 0, size: 0.1, entryPrice: 50_000 });
  await engine.step();
  const server = await FeedServer.start(engine, { port, publisherTokens: [PUB], subscriberTokens: [SUB], statusIntervalMs: 0 });
  cleanup.push(async () => {
    await server.close();
    await engine.close();
  });
  return { engine, server };
}

function connect(url: string, token: string, extra: Partial<Parameters<typeof FeedClient.connect>[0]> = {}): Promise<FeedClient> {
  return FeedClient.connect({ url, token, random: mulberry32(1), ...extra }).then((c) => {
    cleanup.push(() => c.close());
    return c;
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP proxy on loopback (optionally on a fixed port) to `target`; stop() drops every connection. */
async function startProxy(target: number, port = 0): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const proxy = createServer((inbound) => {
    const outbound = connectTcp(target, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
  return {
    port: (proxy.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => r());
      }),
  };
}

const next = <T>(subscribe: (resolve: (v: T) => void) => void): Promise<T> => new Promise<T>((r) => subscribe(r));

describe('the feed client', () => {
  it('refuses to connect with a wrong token (CONNECT_FAILED) and does not retry', async () => {
    const { server } = await startServer();
    await expect(FeedClient.connect({ url: server.url, token: 'not-a-valid-token-at-all' })).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
    expect(server.stats().upgradesRefused).toBe(1);
  });

  it('delivers a liquidation order pushed by a publisher to a subscriber, typed', async () => {
    const { server } = await startServer();
    const desk = await connect(server.url, SUB);
    const pub = await connect(server.url, PUB);
    desk.subscribe({ allOrders: true });
    // The subscription is in flight: wait for the server to have it by asking for an account snapshot first.
    const snapshot = next<number>((r) => desk.on('accountStates', (s) => r(s[0]!.health)));
    desk.subscribe({ accounts: [7] });
    expect(await snapshot).toBeCloseTo(600 / 500, 12);
    const orders = next<readonly { id: string; side: string; quantity: number; limitPrice: number }[]>((r) => desk.on('orders', r));
    const seq = pub.sendTicks([{ market: 0, source: 1, price: 48_000, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }]);
    expect(seq).toBe(0);
    const [order] = await orders;
    // The position was set by the account's third input (market, account, position): id 7-0-3.
    expect(order).toMatchObject({ id: '7-0-3', side: 'sell' });
    // How much to close is the executor's sizing policy (src/domain/sizing.ts): some of the position, at most all.
    expect(order!.quantity).toBeGreaterThan(0);
    expect(order!.quantity).toBeLessThanOrEqual(0.1);
    // docs/domain.md section 2: ABR = BA x (TMMR - TNC) / TMMR = (480 - 400) / 480; 48,000 - ABR x 0.1 x 480 / 0.1 = 47,920.
    expect(order!.limitPrice).toBe(fillablePrice(48_000, 0.1, 480, 400, 480, 1, 0.1));
    expect(order!.limitPrice).toBeCloseTo(47_920, 9);
  });

  it('expires an order with sendExpiries and receives the one re-issued for the account, under a new id', async () => {
    const { server } = await startServer();
    const pub = await connect(server.url, PUB);
    pub.subscribe({ allOrders: true });
    const first = next<readonly { id: string }[]>((r) => pub.on('orders', r));
    pub.sendTicks([{ market: 0, source: 1, price: 48_000, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }]);
    const [order] = await first;
    expect(order!.id).toBe('7-0-3');
    const again = next<readonly { id: string; account: number; market: number; side: string }[]>((r) => pub.on('orders', r));
    const errors: string[] = [];
    pub.on('serverError', (e) => errors.push(e.code));
    expect(pub.sendExpiries([order!.id], 2)).toBe(2);
    const [reissued] = await again;
    // The expiry re-stamped the position with the engine's fifth input sequence (market, account, position, tick, expiry).
    expect(reissued).toMatchObject({ id: '7-0-5', account: 7, market: 0, side: 'sell' });
    expect(errors).toEqual([]);
    expect(server.stats().expiriesIn).toBe(1);
  });

  it('reports a rejected frame as serverError with the frame sequence, and a subscriber cannot publish', async () => {
    const { server, engine } = await startServer();
    const desk = await connect(server.url, SUB, { tokenIn: 'header' });
    const error = next<{ code: string; offendingSequence: number | null }>((r) => desk.on('serverError', r));
    desk.sendTicks([{ market: 0, source: 1, price: 1, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }]);
    expect(await error).toMatchObject({ code: 'FORBIDDEN', offendingSequence: 0 });
    expect(engine.tables.markets.markPrice[0]).toBe(50_000);
  });

  it('throws NOT_CONNECTED when sending without a connection, CLOSED after close()', async () => {
    const { server } = await startServer();
    const pub = await connect(server.url, PUB, { reconnect: false });
    const closed = next<boolean>((r) => pub.on('close', (_code, _reason, again) => r(again)));
    await server.close();
    expect(await closed).toBe(false);
    expect(() => pub.sendTicks([])).toThrow(FeedClientError);
    expect(() => pub.sendTicks([])).toThrow(/not open/);
    pub.close();
    try {
      pub.sendTicks([]);
      expect.unreachable();
    } catch (e) {
      expect((e as FeedClientError).code).toBe('CLOSED');
    }
  });

  it('reconnects after the network drops, numbers frames from 0 again and restores its topics', async () => {
    const { server } = await startServer();
    // A TCP proxy in front of the server stands in for the network: closing it drops every connection.
    const proxy = await startProxy(server.port);
    const desk = await connect(`ws://127.0.0.1:${proxy.port}/v1/feed`, SUB, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    desk.subscribe({ accounts: [7], markets: [0] });
    await next<void>((r) => desk.on('accountStates', () => r()));
    const delays: number[] = [];
    desk.on('reconnecting', (_attempt, delay) => delays.push(delay));
    const dropped = next<boolean>((r) => desk.on('close', (_c, _r, again) => r(again)));
    await proxy.stop();
    expect(await dropped).toBe(true);
    await sleep(150); // a few attempts fail while the network is down
    const reopened = next<void>((r) => desk.on('open', r));
    const restored = next<number>((r) => desk.on('accountStates', (s) => r(s[0]!.account)));
    const again = await startProxy(server.port, proxy.port);
    cleanup.push(() => again.stop());
    await reopened;
    expect(await restored).toBe(7);
    expect(delays.length).toBeGreaterThanOrEqual(2);
    // Backoff with jitter: each delay within [50%, 100%] of min(100, 20 x 2^(attempt-1)).
    delays.forEach((d, i) => {
      const step = Math.min(100, 20 * 2 ** i);
      expect(d).toBeGreaterThanOrEqual(step / 2);
      expect(d).toBeLessThanOrEqual(step);
    });
    // The new connection numbers its frames from 0: a bad frame now is rejected as frame 1 (0 was the re-subscribe).
    const error = next<number | null>((r) => desk.on('serverError', (e) => r(e.offendingSequence)));
    desk.sendTicks([]);
    expect(await error).toBe(1);
    expect(server.stats().subscribers).toBe(1);
  });

  it('works with any WHATWG WebSocket constructor and the token in the query, as from a browser', async () => {
    const { server } = await startServer();
    // A browser-shaped constructor: (url, protocols) only, no headers.
    class BrowserLike extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
      }
    }
    const client = await connect(server.url, SUB, { WebSocket: BrowserLike as unknown as WebSocketConstructor });
    const market = next<string>((r) => client.on('marketStatus', (s) => r(`${s.market} ${s.state} ${s.reason}`)));
    client.subscribe({ markets: [0] });
    // The subscription has landed once the account snapshot of the same connection's next frame arrives.
    await next<void>((r) => {
      client.on('accountStates', () => r());
      client.subscribe({ accounts: [7] });
    });
    server.publishMarketStatus(0, 'paused', 'sources stale', 1);
    expect(await market).toBe('0 paused sources stale');
  });
});

describe('the unwind/feed entry point', () => {
  it('loads no Node built-in and not the server: its module graph is browser-safe (ws only on demand)', () => {
    const root = new URL('../dist/src/feed/', import.meta.url).pathname;
    const seen = new Set<string>();
    const external: string[] = [];
    const dynamic: string[] = [];
    const stack = [join(root, 'index.js')];
    while (stack.length > 0) {
      const file = stack.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const code = readFileSync(file, 'utf8');
      // Static imports and re-exports (`... from 'x'`, with no ';' before the specifier) and bare `import 'x'`.
      for (const m of code.matchAll(/^\s*(?:(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]|import\s*['"]([^'"]+)['"])/gm)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('.')) stack.push(join(dirname(file), spec));
        else external.push(spec);
      }
      for (const m of code.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) dynamic.push(m[1]!);
    }
    expect([...new Set(external)]).toEqual(['flatbuffers']);
    expect(dynamic).toEqual(['ws']);
    expect([...seen].some((f) => f.endsWith('server.js'))).toBe(false);
    expect(seen.size).toBeGreaterThanOrEqual(8);
  });
});
