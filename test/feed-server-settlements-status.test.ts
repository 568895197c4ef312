/**
 * EngineStatus counts open positions: a position closed (size 0, whether the venue set it so or a fill took all of
 * it) keeps its slot in the tables but is not counted. A real FeedServer on loopback and `ws` clients.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodePositions } from '../src/feed/codec.js';
import { Feed, TIERS } from './support/feed.js';

const feed = new Feed();
afterEach(() => feed.closeAll());

describe('EngineStatus positions', () => {
  it('counts open positions only: two of five closed by the venue leave three', async () => {
    const { engine, server } = await feed.start({
      engine: { capacity: { markets: 1, accounts: 8, positions: 16 } },
      setup: (e) => {
        e.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
        for (let a = 1; a <= 5; a++) {
          e.addAccount(a, 10_000);
          e.upsertPosition({ account: a, market: 0, size: a % 2 === 0 ? -0.1 : 0.1, entryPrice: 50_000 });
        }
      },
    });
    const first = await feed.connect(server, 'subscriber');
    expect(await first.next()).toMatchObject({ kind: 'engineStatus', markets: 1, accounts: 5, positions: 5 });

    const venue = await feed.connect(server, 'publisher');
    await venue.next();
    venue.send((s) =>
      encodePositions(s, [
        { account: 2, market: 0, size: 0, entryPrice: 0, isolatedCollateral: null },
        { account: 5, market: 0, size: 0, entryPrice: 0, isolatedCollateral: null },
      ]),
    );
    await venue.sync();
    await engine.settled();

    const later = await feed.connect(server, 'subscriber');
    expect(await later.next()).toMatchObject({ kind: 'engineStatus', markets: 1, accounts: 5, positions: 3 });
  });
});
