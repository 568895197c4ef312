/**
 * The oracle's state through a snapshot and a restart: quotes, source sequences, the TWAP, the basis EMA, books,
 * pauses (a frozen source, a stale market) and kill levels come back as they were, so the restarted engine goes on
 * deciding exactly as an uninterrupted one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, type EngineConfig } from '../src/index.js';
import { MARKET, oracleMarket, SECOND, Sources, T0 } from './support/oracle.js';

const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const STEPS = 40;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function config(extra: EngineConfig): EngineConfig {
  return { scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 16, positions: 16 }, sizing: { emergencyHealth: 1 }, oracle: { markets: [oracleMarket()] }, ...extra };
}

function load(engine: Engine): void {
  engine.addMarket({ id: MARKET, symbol: 'BTC-USD', price: 100, tiers: TIERS });
  for (let a = 1; a <= 8; a++) {
    engine.addAccount(a, 8 + a);
    engine.upsertPosition({ account: a, market: MARKET, size: a % 2 === 0 ? 1 : -1, entryPrice: 100 });
  }
}

/** Step `i`: source reports (source 5 frozen at 100 from step 10, sources 4 and 5 silent in steps 25-29), a book, a clock reading, a kill switch drill. */
async function step(engine: Engine, sources: Sources, i: number): Promise<void> {
  const t = i * 4;
  const price = 100 * (1 - 0.006 * Math.min(i, 20) + 0.008 * Math.max(0, i - 20));
  const prices: Record<number, number> = { 1: price, 2: price * 1.001, 3: price * 0.999 };
  if (i < 25 || i >= 30) Object.assign(prices, { 4: price * 1.002, 5: i < 10 ? price : 100 });
  const reports = sources.report(t, prices, price * 0.001);
  engine.pushReports(reports, sources.sign(reports));
  engine.pushBooks([{ market: MARKET, bid: price * 1.004, ask: price * 1.006, last: price * 1.005, eventTimeUs: T0 + t * SECOND }]);
  engine.advanceClock(T0 + (t + 2) * SECOND);
  if (i === 15) engine.setKillSwitch('no-new', MARKET, 'drill');
  if (i === 18) engine.setKillSwitch('normal', MARKET);
  await engine.step();
}

function stateOf(engine: Engine): unknown {
  const { rejected: _r, ...stats } = engine.oracleStats();
  return {
    digest: engine.outputDigest(),
    counts: engine.outputCounts,
    stats,
    status: engine.marketStatus(MARKET),
    prices: [engine.tables.markets.markPrice[0], engine.tables.markets.oraclePrice[0]],
    accounts: Array.from({ length: 8 }, (_, a) => engine.account(a + 1)),
    ledger: engine.ledger.entries().map(([k, v]) => [k, String(v)]),
  };
}

describe('a journaled engine with an oracle market', () => {
  it('restarts from a snapshot taken mid-run and ends as the uninterrupted engine does', async () => {
    const reference = await Engine.start(config({}));
    const refSources = new Sources(undefined);
    load(reference);
    for (let i = 0; i < STEPS; i++) await step(reference, refSources, i);
    const expected = stateOf(reference);
    const counts = reference.outputCounts;
    await reference.close();
    // The script exercises what the snapshot must carry.
    expect(counts.order).toBeGreaterThan(0);
    expect(counts.marketStatus).toBeGreaterThanOrEqual(4);

    const dir = mkdtempSync(join(tmpdir(), 'unwind-journal-oracle-'));
    dirs.push(dir);
    const sources = new Sources(undefined);
    const first = await Engine.start(config({ journal: { dir, snapshotEveryRecords: 6, log: () => {} } }));
    load(first);
    for (let i = 0; i < STEPS / 2 + 3; i++) await step(first, sources, i);
    await first.close();

    const second = await Engine.start(config({ scanWorkers: 2, journal: { dir, snapshotEveryRecords: 6, log: () => {} } }));
    expect(second.recovery?.snapshot).toBeDefined();
    // The tail after the newest snapshot, not the ~130 records before it. A snapshot falls due every 6 records but is
    // skipped while the previous one is still being written (background I/O), so the tail's length varies with timing.
    expect(second.recovery!.replayedRecords).toBeLessThan(50);
    for (let i = STEPS / 2 + 3; i < STEPS; i++) await step(second, sources, i);
    const actual = stateOf(second);
    await second.close();
    expect(actual).toEqual(expected);
  });
});
