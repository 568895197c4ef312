/**
 * Orders in flight have a deadline, over the real wire: an order nobody fills is timed out by the engine after
 * `orderTimeoutUs` of the server's clock, announced to its subscribers as an OrderExpiries frame (so a matching engine
 * cancels it), and its still-liquidatable position is ordered again under a new id; a late fill of the old id is
 * UNKNOWN_ORDER. The SDK surfaces the announcement as 'orderTimeouts'.
 */
import { afterEach, expect, it } from 'vitest';
import { encodeFills, encodeSubscribe, encodeTicks, type FeedMessage } from '../src/feed/codec.js';
import { FeedClient as SdkClient } from '../src/feed/client.js';
import { Feed, SUBSCRIBER_TOKEN, TIERS } from './support/feed.js';

const feed = new Feed();
const sdks: SdkClient[] = [];
afterEach(async () => {
  for (const c of sdks.splice(0)) c.close();
  await feed.closeAll();
});

it('times out an unfilled order, tells subscribers, and orders the position again under a new id', async () => {
  const { engine, server } = await feed.start({
    engine: { orderTimeoutUs: 300_000, sizing: { emergencyHealth: 1 } },
    server: { clockIntervalMs: 10 },
    setup: (e) => {
      e.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
      e.addAccount(7, 5_200); // at 45,000: equity 200, maintenance 225 (0.5%)
      e.upsertPosition({ account: 7, market: 0, size: 1, entryPrice: 50_000 });
      e.depositInsurance(0, 100_000);
    },
  });
  const publisher = await feed.connect(server, 'publisher');
  const subscriber = await feed.connect(server, 'subscriber');
  await publisher.next();
  await subscriber.next();
  subscriber.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: true }));
  await subscriber.sync();
  const sdk = await SdkClient.connect({ url: server.url, token: SUBSCRIBER_TOKEN });
  sdks.push(sdk);
  const announced: string[][] = [];
  sdk.on('orderTimeouts', (ids) => announced.push([...ids]));
  sdk.subscribe({ allOrders: true });

  // The price falls through maintenance: one order, which nobody fills.
  publisher.send((s) => encodeTicks(s, [{ market: 0, source: 0, price: 45_000, confidence: 0, eventTimeUs: Date.now() * 1000, sourceSequence: 1 }]));
  const seen: FeedMessage[] = [];
  const next = async (kind: FeedMessage['kind']): Promise<FeedMessage> => {
    for (;;) {
      const m = await subscriber.next(5_000);
      seen.push(m);
      if (m.kind === kind) return m;
    }
  };
  const first = await next('orders');
  const old = first.kind === 'orders' ? first.orders[0]! : undefined;
  expect(old?.account).toBe(7);
  const expiry = await next('expiries');
  expect(expiry.kind === 'expiries' && expiry.orderIds).toEqual([old!.id]);
  const again = await next('orders');
  const renewed = again.kind === 'orders' ? again.orders[0]! : undefined;
  expect(renewed).toMatchObject({ account: 7, market: 0, side: 'sell' });
  expect(renewed!.id).not.toBe(old!.id);
  // Exactly once: the old order is gone, the new one is the only open order of the position.
  expect(engine.openOrders().map((o) => o.order.id)).toEqual([renewed!.id]);
  publisher.send((s) => encodeFills(s, [{ orderId: old!.id, account: 7, market: 0, quantity: old!.quantity, price: old!.limitPrice, eventTimeUs: Date.now() * 1000 }]));
  const refused = await publisher.sync();
  expect(refused.map((m) => m.kind === 'errorFrame' && m.code)).toEqual(['UNKNOWN_ORDER']);
  await expect.poll(() => announced.flat(), { timeout: 5_000 }).toContain(old!.id);
});
