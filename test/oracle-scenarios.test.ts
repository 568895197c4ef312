/**
 * The oracle layer through the engine, in named scenarios: signed reports from five weighted
 * sources become the oracle and mark prices margin uses, and the guards pause liquidations when the prices cannot
 * be trusted, then resume on their own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineConfig } from '../src/index.js';
import type { MarketStatusChange } from '../src/clearing/market-mode.js';
import type { LiquidationOrder } from '../src/clearing/orders.js';
import { codeOf } from './support/errors.js';
import { MARKET, oracleMarket, SECOND, signer, Sources, T0 } from './support/oracle.js';
import { firstDifference, tableBytes } from './support/feed.js';

const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

interface World {
  engine: Engine;
  sources: Sources;
  statuses: MarketStatusChange[];
  orders: LiquidationOrder[];
}

/**
 * Market 1 at 100 with five signed sources (weights 3, 2, 2, 1, 1). Account 10: 1 long from 100 with 15 collateral
 * (liquidatable below about 94.4); account 11: 1 short from 100 with 15 (liquidatable above about 105.5).
 */
async function world(config: EngineConfig = {}, market = oracleMarket()): Promise<World> {
  const engine = await Engine.start({
    scanWorkers: 0,
    autoEpoch: false,
    capacity: { markets: 2, accounts: 8, positions: 8 },
    sizing: { emergencyHealth: 1 },
    oracle: { markets: [market] },
    ...config,
  });
  engines.push(engine);
  const statuses: MarketStatusChange[] = [];
  const orders: LiquidationOrder[] = [];
  engine.onMarketStatus((s) => statuses.push(s));
  engine.onOrder((o) => orders.push(o));
  engine.addMarket({ id: MARKET, symbol: 'BTC-USD', price: 100, tiers: TEN_PERCENT });
  engine.addAccount(10, 15);
  engine.upsertPosition({ account: 10, market: MARKET, size: 1, entryPrice: 100 });
  engine.addAccount(11, 15);
  engine.upsertPosition({ account: 11, market: MARKET, size: -1, entryPrice: 100 });
  // A fund that pays any order's shortfall at its limit, so orders are emitted rather than deleveraged.
  engine.depositInsurance(MARKET, 1_000);
  await engine.step();
  return { engine, sources: new Sources(engine), statuses, orders };
}

const mark = (e: Engine): number => e.tables.markets.markPrice[0]!;
const oracle = (e: Engine): number => e.tables.markets.oraclePrice[0]!;


describe('an oracle market', () => {
  it('starts paused until enough of its sources have reported, then takes their aggregate as oracle and mark', async () => {
    const { engine, sources, statuses } = await world();
    expect(engine.marketStatus(MARKET)).toEqual({ paused: true, code: 'ORACLE_STALE', reason: '0 of 5 sources fresh, 3 required' });
    sources.publish(0, { 1: 100.2, 2: 100.1 });
    expect(engine.marketStatus(MARKET).paused).toBe(true);
    sources.publish(1, { 3: 99.9 });
    expect(engine.marketStatus(MARKET).paused).toBe(false);
    await engine.step();
    // Weighted votes: 99.9 (2), 100.1 (2), 100.2 (3); total 7, the half (3.5) is reached at 100.1.
    expect(oracle(engine)).toBe(100.1);
    expect(mark(engine)).toBe(100.1);
    expect(statuses.map((s) => [s.state, s.code])).toEqual([
      ['paused', 'ORACLE_STALE'],
      ['resumed', 'HEALTHY'],
    ]);
  });

  it('refuses a direct price, which would bypass its sources', async () => {
    const { engine } = await world();
    expect(codeOf(() => engine.pushPrice(MARKET, 50))).toBe('ORACLE_MARKET');
    expect(codeOf(() => engine.pushPrices([{ market: MARKET, price: 50 }]))).toBe('ORACLE_MARKET');
    expect(codeOf(() => engine.pushPriceColumns([MARKET], [50], 1))).toBe('ORACLE_MARKET');
  });
});

describe('one thin venue pumped tenfold', () => {
  it('keeps the mark within the clamp and liquidates no one', async () => {
    const { engine, sources, orders } = await world();
    sources.publish(0, { 1: 100, 2: 100.05, 3: 99.95, 4: 100, 5: 100 });
    await engine.step();
    for (let t = 1; t <= 20; t++) sources.publish(t, { 1: 100, 2: 100.05, 3: 99.95, 4: 100, 5: 1000 });
    await engine.step();
    // The pumped source is clamped to 2% above the weighted median and outvoted: the mark stays among the honest.
    expect(mark(engine)).toBeGreaterThanOrEqual(99.95);
    expect(mark(engine)).toBeLessThanOrEqual(100.05);
    expect(engine.marketStatus(MARKET).paused).toBe(false);
    expect(orders).toEqual([]);
  });

  it('keeps the mark within 5% of the oracle when the venue is our own book, pumped for minutes', async () => {
    const { engine, sources, orders } = await world();
    for (let t = 0; t <= 600; t += 5) {
      sources.all(t, 100);
      engine.pushBooks([{ market: MARKET, bid: 999, ask: 1001, last: 1000, eventTimeUs: T0 + t * SECOND }]);
    }
    await engine.step();
    // The basis EMA has long followed the pump, and the book says 1000: the clamp holds the mark at oracle + 5%.
    // The short (account 11) is marked at a 5 loss, not at the 900 the book would say.
    expect(oracle(engine)).toBe(100);
    expect(mark(engine)).toBeCloseTo(105, 9);
    expect(engine.accountSummary(11).equity).toBeCloseTo(10, 9);
    expect(orders.every((o) => o.account === 11 && o.limitPrice < 106)).toBe(true);
  });
});

describe('stale sources', () => {
  it('two of five stale: prices continue and liquidations follow them', async () => {
    const { engine, sources, orders } = await world();
    sources.all(0, 100);
    for (const t of [5, 10, 15]) sources.all(t, 100, [1, 2, 3]);
    engine.advanceClock(T0 + 15 * SECOND);
    expect(engine.marketStatus(MARKET).paused).toBe(false);
    sources.all(16, 90, [1, 2, 3]);
    await engine.step();
    expect(mark(engine)).toBe(90);
    expect(orders.map((o) => o.account)).toEqual([10]);
  });

  it('three of five stale: the market pauses with its reason, holds its last trusted price, and resumes by itself', async () => {
    const { engine, sources, orders, statuses } = await world();
    sources.all(0, 100);
    for (const t of [5, 10]) sources.all(t, 100, [1, 2]);
    engine.advanceClock(T0 + 11 * SECOND);
    expect(engine.marketStatus(MARKET)).toEqual({ paused: true, code: 'ORACLE_STALE', reason: '2 of 5 sources fresh, 3 required' });
    expect(statuses.at(-1)).toEqual({ market: MARKET, state: 'paused', code: 'ORACLE_STALE', reason: '2 of 5 sources fresh, 3 required', eventTimeUs: T0 + 11 * SECOND });
    sources.all(12, 85, [1, 2]);
    await engine.step();
    expect(mark(engine)).toBe(100); // two sources alone decide nothing
    expect(orders).toEqual([]);
    sources.all(13, 85, [3]);
    expect(engine.marketStatus(MARKET).paused).toBe(false);
    await engine.step();
    expect(mark(engine)).toBe(85);
    expect(orders.map((o) => o.account)).toEqual([10]);
    // The clock is the time a majority of the sources reached (three at 12 s; one at 13 s moves nothing).
    expect(statuses.at(-1)).toMatchObject({ state: "resumed", code: "HEALTHY", eventTimeUs: T0 + 12 * SECOND });
  });
});

describe('a source pinned at a floor while the others fall', () => {
  it('is detected: the market pauses naming the source, and resumes once the source stops reporting', async () => {
    const { engine, sources, statuses } = await world();
    sources.all(0, 100);
    let detected: number | undefined;
    for (let t = 5; t <= 60; t += 5) {
      const falling = 100 - t / 3; // 20% in a minute
      sources.publish(t, { 1: falling, 2: falling, 3: falling, 4: 95, 5: falling });
      if (detected === undefined && engine.marketStatus(MARKET).paused) detected = t;
    }
    // Pinned since t = 5; 30 s later the oracle has moved about 8% since: detected at t = 35.
    expect(detected).toBe(35);
    const pause = statuses.find((s) => s.code === 'ORACLE_FROZEN_SOURCE')!;
    expect(pause.reason).toMatch(/^source 4 unchanged at 95 for 30 s while the oracle moved \d+\.\d\d%$/);
    // The pinned source goes quiet: once its quote is stale the other four decide, and the market resumes.
    for (let t = 65; t <= 75; t += 5) sources.all(t, 80, [1, 2, 3, 5]);
    expect(engine.marketStatus(MARKET).paused).toBe(false);
    await engine.step();
    expect(mark(engine)).toBe(80);
  });
});

describe('the TWAP band', () => {
  it('pauses when the oracle leaves 50% of its 5-minute TWAP, and resumes as the TWAP catches up', async () => {
    const { engine, sources } = await world();
    for (let t = 0; t <= 300; t += 10) sources.all(t, 100);
    sources.all(310, 40);
    expect(engine.marketStatus(MARKET).code).toBe('ORACLE_TWAP_BAND');
    expect(engine.marketStatus(MARKET).reason).toMatch(/^oracle 40 is \d+\.\d\d% from its 300 s TWAP [\d.]+ \(band 50\.00%\)$/);
    await engine.step();
    expect(mark(engine)).toBe(100);
    let resumed: number | undefined;
    for (let t = 320; t <= 500 && resumed === undefined; t += 10) {
      sources.all(t, 40);
      if (!engine.marketStatus(MARKET).paused) resumed = t;
    }
    // The TWAP reaches 80 (40 within 50% of it) once 40 has held for 100 of the 300 s.
    expect(resumed).toBeGreaterThanOrEqual(400);
    expect(resumed).toBeLessThanOrEqual(420);
    await engine.step();
    expect(mark(engine)).toBe(40);
  });
});

describe('confidence', () => {
  it('pauses when the aggregate confidence is wider than 2% of the price', async () => {
    const { engine, sources } = await world();
    sources.publish(0, { 1: 100, 2: 100, 3: 100, 4: 100, 5: 100 }, 1);
    expect(engine.marketStatus(MARKET).paused).toBe(false);
    sources.publish(1, { 1: 100, 2: 100, 3: 100, 4: 100, 5: 100 }, 5);
    expect(engine.marketStatus(MARKET)).toEqual({ paused: true, code: 'ORACLE_CONFIDENCE', reason: 'confidence 5 is 5.00% of the price (at most 2.00%)' });
  });
});

describe('authentication', () => {
  it('rejects forged, tampered, unknown-key, unsigned and replayed reports with a code, counts them, and changes nothing', async () => {
    const { engine, sources } = await world();
    sources.all(0, 100);
    await engine.step();
    const before = tableBytes(engine);
    const good = sources.report(1, { 1: 90 })[0]!;
    const forged = { ...good, sourceSequence: good.sourceSequence + 1 };
    const forgedSignature = signer(9).sign(forged);
    expect(codeOf(() => engine.pushReports([forged], forgedSignature))).toBe('BAD_SIGNATURE');
    const signature = sources.sign([good]);
    expect(codeOf(() => engine.pushReports([{ ...good, price: 80 }], signature))).toBe('BAD_SIGNATURE');
    const stranger = { ...good, source: 7 };
    expect(codeOf(() => engine.pushReports([stranger], signer(7).sign(stranger)))).toBe('UNKNOWN_SOURCE');
    expect(codeOf(() => engine.pushReports([good]))).toBe('UNSIGNED_REPORT');
    // One bad report spoils its batch: the good one is not taken either (its sequence is still free below).
    const other = sources.report(1, { 2: 90 })[0]!;
    expect(codeOf(() => engine.pushReports([other, forged], new Uint8Array([...sources.sign([other]), ...forgedSignature])))).toBe('BAD_SIGNATURE');
    expect(firstDifference(tableBytes(engine), before)).toBe(-1);
    expect(codeOf(() => engine.pushReports([good], signature))).toBe('accepted');
    expect(codeOf(() => engine.pushReports([good], signature))).toBe('REPLAYED_REPORT');
    const older = { ...good, sourceSequence: good.sourceSequence - 1, eventTimeUs: good.eventTimeUs + 1 };
    expect(codeOf(() => engine.pushReports([older], signer(1).sign(older)))).toBe('REPLAYED_REPORT');
    expect(engine.oracleStats()).toMatchObject({
      signatures: 'required',
      accepted: 6,
      verified: 6,
      rejected: { BAD_SIGNATURE: 4, UNKNOWN_SOURCE: 1, UNSIGNED_REPORT: 1, REPLAYED_REPORT: 2 },
    });
  });

  it('rejects a signed report from a source the registry lists without a key', async () => {
    const m = oracleMarket();
    const { engine, sources } = await world({}, { ...m, sources: m.sources.map((s) => (s.id === 5 ? { id: 5, weight: 1 } : s)) });
    const r = sources.report(0, { 5: 100 });
    expect(codeOf(() => engine.pushReports(r, signer(5).sign(r[0]!)))).toBe('UNKNOWN_SOURCE');
  });

  it('takes unsigned reports only when the deployment turned signatures off, and says so', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }): void => void warnings.push(w.code ?? '');
    process.on('warning', onWarning);
    try {
      const { engine, sources } = await world({ oracle: { signatures: 'off', markets: [oracleMarket()] } });
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      expect(warnings).toContain('UNWIND_SIGNATURES_OFF');
      engine.pushReports(sources.report(0, { 1: 100, 2: 100, 3: 100 }));
      expect(engine.oracleStats()).toMatchObject({ signatures: 'off', accepted: 3, verified: 0 });
      // A signature that is there is still checked.
      const r = sources.report(1, { 1: 90 });
      expect(codeOf(() => engine.pushReports(r, signer(2).sign(r[0]!)))).toBe('BAD_SIGNATURE');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('determinism', () => {
  it('turns the same signed reports into the same orders and statuses with 0 and 2 scan workers', async () => {
    const run = async (scanWorkers: number): Promise<string> => {
      const { engine, sources, orders, statuses } = await world({ scanWorkers, capacity: { markets: 2, accounts: 32, positions: 32 } });
      for (let a = 20; a < 28; a++) {
        engine.addAccount(a, 8 + a - 20);
        engine.upsertPosition({ account: a, market: MARKET, size: a % 2 === 0 ? 1 : -1, entryPrice: 100 });
      }
      const path = [100, 99, 97, 96, 93, 91, 95, 104, 108, 111, 112, 107, 103];
      for (const [i, p] of path.entries()) {
        sources.publish(i * 2, { 1: p, 2: p + 0.1, 3: p - 0.1, 4: p, 5: i === 6 ? p * 10 : p });
        await engine.step();
      }
      return JSON.stringify({ orders, statuses });
    };
    const inline = await run(0);
    expect(JSON.parse(inline).orders.length).toBeGreaterThan(4);
    expect(await run(2)).toBe(inline);
  });
});
