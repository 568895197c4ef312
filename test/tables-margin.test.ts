/** Margin read from the tables (src/tables/margin.ts) is the domain's tiered margin, bit for bit, in every market. */
import { describe, expect, it } from 'vitest';
import { compileTiers, initialMargin, maintenanceMargin, MAX_TIERS, type MarginTier } from '../src/domain/tiers.js';
import { notional } from '../src/domain/margin.js';
import { allocateTables } from '../src/tables/layout.js';
import { marketInitial, marketMaintenance, positionInitial, positionMaintenance, scheduleOf } from '../src/tables/margin.js';
import { TableWriter } from '../src/tables/writer.js';
import { Random } from './support/random.js';

/** Valid tiers of 1..MAX_TIERS rows: increasing bounds, non-decreasing fractions, initial >= maintenance. */
function randomTiers(rand: Random): MarginTier[] {
  const n = rand.int(1, MAX_TIERS);
  const out: MarginTier[] = [];
  let bound = rand.range(1_000, 100_000);
  let mmf = rand.range(0.001, 0.02);
  let imf = 0;
  for (let i = 0; i < n; i++) {
    imf = Math.min(1, Math.max(imf, mmf * rand.range(1, 2)));
    out.push({ maxNotional: i === n - 1 ? null : bound, maintenanceMarginFraction: mmf, initialMarginFraction: imf });
    bound *= rand.range(1.5, 6);
    mmf = Math.min(0.45, mmf + rand.range(0, 0.05));
  }
  return out;
}

describe('margin from the tables', () => {
  const rand = new Random(0x3a76);
  const MARKETS = 6;
  const t = allocateTables({ markets: MARKETS, accounts: 4, positions: MARKETS * 4, positionsPerAccount: MARKETS, candidates: 8, output: 8 });
  const writer = new TableWriter(t, 4);
  const schedules = Array.from({ length: MARKETS }, (_, m) => {
    const tiers = randomTiers(rand);
    writer.prepareMarket({ id: 100 + m, tiers, price: rand.logRange(0.01, 100_000) })();
    return compileTiers(tiers);
  });
  /** Notionals across every tier of `m`, and exactly on each boundary. */
  const notionalsOf = (m: number): number[] => {
    const s = schedules[m]!;
    const bounds = Array.from(s.upperBound.subarray(0, s.count - 1));
    return [0, ...bounds, ...bounds.map((b) => b * (1 + 1e-12)), ...Array.from({ length: 40 }, () => rand.logRange(1, 1e9))];
  };

  it('gives the maintenance and initial margin the domain computes from the market\'s compiled tiers', () => {
    for (let m = 0; m < MARKETS; m++) {
      for (const n of notionalsOf(m)) {
        expect(Object.is(marketMaintenance(t, m, n), maintenanceMargin(n, schedules[m]!)), `market ${m}, notional ${n}`).toBe(true);
        expect(Object.is(marketInitial(t, m, n), initialMargin(n, schedules[m]!)), `market ${m}, notional ${n}`).toBe(true);
      }
    }
  });

  it('reads each market\'s tier schedule back as it was compiled', () => {
    for (let m = 0; m < MARKETS; m++) {
      const got = scheduleOf(t, m);
      const want = schedules[m]!;
      expect(got.count).toBe(want.count);
      for (const k of ['upperBound', 'maintenanceFraction', 'maintenanceAmount', 'initialFraction', 'initialAmount'] as const) {
        expect(Array.from(got[k]), `market ${m} ${k}`).toEqual(Array.from(want[k]));
      }
    }
  });

  it('gives a position the margin of its notional at its market\'s mark price', () => {
    for (let a = 0; a < 4; a++) writer.prepareAccount(a + 1, 1_000)();
    for (let a = 0; a < 4; a++) {
      for (let m = 0; m < MARKETS; m++) {
        const size = (rand.float() < 0.5 ? -1 : 1) * rand.logRange(0.001, 10_000);
        const slot = writer.preparePosition({ account: a + 1, market: 100 + m, size, entryPrice: t.markets.markPrice[m]! })();
        const n = notional(size, t.markets.markPrice[m]!);
        expect(Object.is(positionMaintenance(t, slot), maintenanceMargin(n, schedules[m]!))).toBe(true);
        expect(Object.is(positionInitial(t, slot), initialMargin(n, schedules[m]!))).toBe(true);
      }
    }
  });
});
