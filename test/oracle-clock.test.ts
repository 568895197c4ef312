/**
 * The engine's clock under attack ("time cannot be pushed forward by one source"): the clock that judges
 * every oracle market's freshness moves only as far as a majority of one market's sources agree or a bounded clock
 * reading takes it; book data never moves it; once there is a clock input, an event time too far ahead of it is
 * refused with CLOCK_SKEW and changes nothing; clock readings and wire time fields are range-checked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineConfig } from '../src/index.js';
import { decodeFrame, encodeBookTickers, encodeFills, encodeTicks } from '../src/feed/codec.js';
import { MAX_TIME_US } from '../src/validate.js';
import { codeOf } from './support/errors.js';
import { SECOND, signer, Sources, T0 } from './support/oracle.js';

const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const MARKETS = [1, 2] as const;
const DIRECT = 3;
const HOUR = 3600 * SECOND;

let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

/** Two oracle markets with three signed sources each (two fresh needed), one direct market. */
async function world(config: EngineConfig = {}): Promise<{ engine: Engine; sources: Map<number, Sources> }> {
  const sourceList = [1, 2, 3].map((id) => ({ id, publicKey: signer(id).publicKeyBase64 }));
  const engine = await Engine.start({
    scanWorkers: 0,
    autoEpoch: false,
    capacity: { markets: 4, accounts: 8, positions: 16 },
    oracle: { markets: MARKETS.map((market) => ({ market, sources: sourceList, aggregation: { minFreshSources: 2 } })) },
    ...config,
  });
  engines.push(engine);
  for (const id of MARKETS) engine.addMarket({ id, symbol: `M${id}`, price: 100, tiers: TIERS });
  engine.addMarket({ id: DIRECT, symbol: 'DIRECT', price: 100, tiers: TIERS });
  const sources = new Map(MARKETS.map((m) => [m, new Sources(engine, m)]));
  return { engine, sources };
}

/** Every source of every oracle market reports 100 at t seconds. */
function honest(sources: Map<number, Sources>, t: number): void {
  for (const s of sources.values()) s.all(t, 100, [1, 2, 3]);
}

const paused = (engine: Engine): number[] => MARKETS.filter((m) => engine.marketStatus(m).paused);

describe('one source or book cannot push the clock', () => {
  it('a book dated an hour ahead leaves every market live while honest reports arrive', async () => {
    const { engine, sources } = await world();
    honest(sources, 0);
    expect(paused(engine)).toEqual([]);
    engine.pushBooks([{ market: 1, bid: 99, ask: 101, last: 100, eventTimeUs: T0 + HOUR }]);
    for (let t = 1; t <= 30; t++) {
      honest(sources, t);
      await engine.step();
      expect(paused(engine)).toEqual([]);
    }
    expect(engine.oracleStats().clockUs).toBe(T0 + 30 * SECOND);
  });

  it('one validly signed report of three dated an hour ahead leaves every market live', async () => {
    const { engine, sources } = await world();
    honest(sources, 0);
    sources.get(1)!.publish(3600, { 3: 100 });
    expect(engine.oracleStats().clockUs).toBe(T0);
    for (let t = 1; t <= 30; t++) {
      honest(sources, t);
      await engine.step();
      expect(paused(engine)).toEqual([]);
    }
    expect(engine.oracleStats().clockUs).toBe(T0 + 30 * SECOND);
  });

  it('a majority of a market sources does move the clock, and a silent market then goes stale', async () => {
    const { engine, sources } = await world();
    honest(sources, 0);
    for (let t = 1; t <= 12; t++) sources.get(1)!.all(t, 100, [1, 2]);
    expect(engine.oracleStats().clockUs).toBe(T0 + 12 * SECOND);
    engine.advanceClock(T0 + 12 * SECOND); // a clock reading re-evaluates every oracle market
    expect(engine.marketStatus(2)).toMatchObject({ paused: true, code: 'ORACLE_STALE' });
    expect(engine.marketStatus(1).paused).toBe(false);
  });
});

describe('clock readings', () => {
  it('out-of-range readings are refused with a code and change nothing', async () => {
    const { engine, sources } = await world();
    honest(sources, 0);
    for (const bad of [1e300, Infinity, NaN, -1, MAX_TIME_US + 1, '1' as unknown as number, null as unknown as number]) {
      expect(codeOf(() => engine.advanceClock(bad))).toBe('INVALID_AMOUNT');
    }
    expect(engine.oracleStats()).toMatchObject({ clockUs: T0, clockInputUs: 0 });
    expect(engine.inputCount).toBe(3 + 2); // three markets, one report batch per oracle market: no refused reading
    expect(paused(engine)).toEqual([]);
  });

  it('one reading moves the clock by at most clock.maxStepUs; later readings catch up', async () => {
    const { engine, sources } = await world({ clock: { maxStepUs: 60 * SECOND } });
    honest(sources, 0);
    engine.advanceClock(T0 + HOUR);
    expect(engine.oracleStats().clockUs).toBe(T0 + 60 * SECOND);
    for (let i = 0; i < 59; i++) engine.advanceClock(T0 + HOUR);
    expect(engine.oracleStats().clockUs).toBe(T0 + HOUR);
    engine.advanceClock(T0); // never backward
    expect(engine.oracleStats().clockUs).toBe(T0 + HOUR);
  });

  it('the clock policy is validated', async () => {
    for (const clock of [{ maxSkewUs: -1 }, { maxStepUs: 0 }, { maxSkewUs: NaN }, 5]) {
      await expect(Engine.start({ scanWorkers: 0, clock: clock as EngineConfig['clock'] })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    }
  });
});

describe('with a clock input, event times are bounded by the clock plus clock.maxSkewUs', () => {
  async function clocked(): Promise<{ engine: Engine; sources: Map<number, Sources> }> {
    const w = await world({ clock: { maxSkewUs: 10 * SECOND } });
    honest(w.sources, 0);
    w.engine.advanceClock(T0 + SECOND);
    return w;
  }

  it('a signed report dated past the skew is CLOCK_SKEW, counted, and takes nothing (not even its sequence)', async () => {
    const { engine, sources } = await clocked();
    const before = engine.oracleStats();
    const s = sources.get(1)!;
    const ahead = s.report(12, { 3: 150 });
    expect(codeOf(() => engine.pushReports(ahead, s.sign(ahead)))).toBe('CLOCK_SKEW');
    expect(engine.oracleStats()).toMatchObject({ accepted: before.accepted, clockUs: before.clockUs, rejected: { CLOCK_SKEW: 1 } });
    // The same sequence number, honestly dated, is still free.
    const onTime = [{ ...ahead[0]!, eventTimeUs: T0 + 11 * SECOND }];
    engine.pushReports(onTime, s.sign(onTime));
    expect(engine.oracleStats().accepted).toBe(before.accepted + 1);
  });

  it('a book, a direct price and a fill dated past the skew are CLOCK_SKEW and change nothing', async () => {
    const { engine } = await clocked();
    const inputs = engine.inputCount;
    const late = T0 + 12 * SECOND;
    expect(codeOf(() => engine.pushBooks([{ market: 1, bid: 99, ask: 101, last: 100, eventTimeUs: late }]))).toBe('CLOCK_SKEW');
    expect(codeOf(() => engine.pushPrices([{ market: DIRECT, price: 90, eventTimeUs: late }]))).toBe('CLOCK_SKEW');
    const columns = { market: Float64Array.of(DIRECT), price: Float64Array.of(90), time: Float64Array.of(late) };
    expect(codeOf(() => engine.pushPriceColumns(columns.market, columns.price, 1, columns.time))).toBe('CLOCK_SKEW');
    expect(codeOf(() => engine.fill({ orderId: 'none', account: 1, market: DIRECT, quantity: 1, price: 100, eventTimeUs: late }))).toMatch(/CLOCK_SKEW|UNKNOWN_ORDER/);
    expect(engine.inputCount).toBe(inputs);
    expect(engine.tables.markets.markPrice[2]).toBe(100);
    engine.pushPrices([{ market: DIRECT, price: 90, eventTimeUs: T0 + 11 * SECOND }]);
    expect(engine.tables.markets.markPrice[2]).toBe(90);
  });
});

describe('wire time fields are range-checked', () => {
  const tick = { market: 3, source: 0, price: 100, confidence: 0, sourceSequence: 1 };
  for (const [name, t] of [
    ['after 2100', MAX_TIME_US + 1],
    ['2^53 - 1', 2 ** 53 - 1],
  ] as const) {
    it(`a tick, a book and a fill at ${name} are INVALID_FIELD`, () => {
      const max = 1 << 20;
      for (const frame of [
        encodeTicks(0, [{ ...tick, eventTimeUs: t }]),
        encodeBookTickers(0, [{ market: 1, bid: 99, ask: 101, last: 100, eventTimeUs: t }]),
        encodeFills(0, [{ orderId: 'a', account: 1, market: 1, quantity: 1, price: 100, eventTimeUs: t }]),
      ]) {
        expect(decodeFrame(frame, max)).toMatchObject({ kind: 'error', code: 'INVALID_FIELD' });
      }
    });
  }

  it('the latest valid time decodes', () => {
    expect(decodeFrame(encodeTicks(0, [{ ...tick, eventTimeUs: MAX_TIME_US }]), 1 << 20)).toMatchObject({ kind: 'ticks' });
  });
});
