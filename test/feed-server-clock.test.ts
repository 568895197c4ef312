/**
 * The clock attack over the real wire: a publisher's unsigned BookTickers frame dated an hour ahead,
 * then one source's validly signed report dated an hour ahead. The server gives the engine the wall clock, so both
 * are refused (CLOCK_SKEW, nothing taken), and every oracle market stays live while honest signed reports arrive.
 */
import { afterEach, expect, it } from 'vitest';
import { encodeBookTickers, encodeSignedPriceTicks } from '../src/feed/codec.js';
import { Feed, TIERS } from './support/feed.js';
import { oracleMarket, SECOND, Sources } from './support/oracle.js';

const feed = new Feed();
afterEach(() => feed.closeAll());
const MARKETS = [1, 2];
const HOUR = 3600 * SECOND;

it('a book or one source dated an hour ahead is refused and every market stays live', async () => {
  const { engine, server } = await feed.start({
    engine: { oracle: { markets: MARKETS.map((market) => oracleMarket({ market })) } },
    server: { clockIntervalMs: 10 },
    setup: (e) => {
      MARKETS.forEach((id) => e.addMarket({ id, symbol: `M${id}`, price: 100, tiers: TIERS }));
      e.addAccount(10);
      e.setCollateral(10, 100); // an input that starts an epoch, which setup waits for
    },
  });
  const publisher = await feed.connect(server, 'publisher');
  await publisher.next(); // EngineStatus
  const t0 = Date.now() * 1000;
  const sources = MARKETS.map((m) => new Sources(undefined, m, t0));
  const honest = async (t: number): Promise<void> => {
    for (const s of sources) {
      const r = s.report(t, { 1: 100, 2: 100, 3: 100, 4: 100, 5: 100 });
      publisher.send((q) => encodeSignedPriceTicks(q, r, s.sign(r)));
    }
    expect((await publisher.sync()).filter((m) => m.kind === 'errorFrame')).toEqual([]);
  };
  await honest(0);
  await engine.settled();
  expect(MARKETS.filter((m) => engine.marketStatus(m).paused)).toEqual([]);

  publisher.send((q) => encodeBookTickers(q, [{ market: 1, bid: 99, ask: 101, last: 100, eventTimeUs: t0 + HOUR }]));
  const forged = sources[0]!.report(3600, { 3: 100 });
  publisher.send((q) => encodeSignedPriceTicks(q, forged, sources[0]!.sign(forged)));
  const refused = (await publisher.sync()).flatMap((m) => (m.kind === 'errorFrame' ? [m.code] : []));
  expect(refused).toEqual(['CLOCK_SKEW', 'CLOCK_SKEW']);
  expect(engine.oracleStats().clockUs).toBeLessThan(t0 + HOUR / 2);

  for (let t = 0.05; t < 0.5; t += 0.05) {
    await honest(t);
    await engine.settled();
    expect(MARKETS.filter((m) => engine.marketStatus(m).paused)).toEqual([]);
  }
  expect(server.stats().rejected).toMatchObject({ CLOCK_SKEW: 2 });
});
