/**
 * The whole stream of an engine running every procedure (sizing, lifecycle, caps, fills with fees and insurance,
 * expiries, ADL) is the same, byte for byte, whatever the scan worker count, and on a second run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/index.js';
import { mulberry32 } from '../src/sim/random.js';
import { fillPriceWithin } from './support/fill-price.js';

const TIERS = [
  { maxNotional: 20_000, initialMarginFraction: 0.04, maintenanceMarginFraction: 0.02 },
  { maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 },
];
let engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines) await e.close();
  engines = [];
});

async function stream(scanWorkers: number): Promise<string> {
  const rand = mulberry32(0xd371);
  const engine = await Engine.start({
    scanWorkers,
    autoEpoch: false,
    capacity: { markets: 2, accounts: 600, positions: 1_200 },
    caps: { marketNotionalPerWindow: 400_000, marketWindowUs: 3_000_000, maxInFlight: 40 },
    fees: { fund: 'pooled', maxFeeFraction: 0.001 }, // a thin fund: it runs dry, deficits go to ADL
  });
  engines.push(engine);
  const out: unknown[] = [];
  engine.onFill((s) => out.push(['fill', s]));
  engine.onDeleverage((d) => out.push(['adl', d]));
  engine.addMarket({ id: 0, price: 1_000, tiers: TIERS });
  engine.addMarket({ id: 1, price: 20, tiers: TIERS });
  engine.depositInsurance('pooled', 500); // soon empty: deficits, then ADL
  for (let a = 1; a <= 600; a++) {
    engine.addAccount(a, Math.round(rand() * 400_000) / 100);
    engine.upsertPosition({ account: a, market: 0, size: (rand() < 0.55 ? 1 : -1) * (1 + rand() * 60), entryPrice: 1_000 });
    engine.upsertPosition({ account: a, market: 1, size: (rand() < 0.5 ? 1 : -1) * (1 + rand() * 2_000), entryPrice: 20, isolatedCollateral: rand() < 0.3 ? 800 : null });
  }
  let p0 = 1_000;
  let p1 = 20;
  for (let step = 1; step <= 30; step++) {
    p0 *= 1 + (rand() - 0.62) * 0.05;
    p1 *= 1 + (rand() - 0.45) * 0.05;
    engine.pushPrices([
      { market: 0, price: p0, eventTimeUs: step * 500_000 },
      { market: 1, price: p1, eventTimeUs: step * 500_000 },
    ]);
    const r = await engine.step();
    out.push(['epoch', r]);
    const fills = [];
    const expired = [];
    for (const o of r.orders) {
      const x = rand();
      if (x < 0.15) expired.push(o.id);
      // At the limit (past bankruptcy for an account already under water: the thin fund pays, then ADL), or better
      // by up to the improvement band.
      else fills.push({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity * (x < 0.4 ? 0.5 : 1), price: fillPriceWithin(o, x < 0.7 ? 0 : rand()), eventTimeUs: step * 500_000 + 1 });
    }
    if (fills.length > 0) engine.fill(fills);
    if (expired.length > 0) engine.expire(expired);
  }
  expect(engine.ledger.total()).toBe(0n);
  return JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

describe('every procedure together', () => {
  it('gives the same orders, state changes, capped work, fills and deleveragings with 0, 1 and 2 scan workers', async () => {
    const inline = await stream(0);
    const counts = (kind: string): number => (JSON.parse(inline) as [string, unknown][]).filter(([k]) => k === kind).length;
    expect(counts('fill')).toBeGreaterThan(50);
    expect(inline).toContain('"capped":[{');
    expect(inline).toContain('"to":"liquidating"');
    expect(counts('adl')).toBeGreaterThan(10);
    expect(inline).toContain('"to":"backstopped"');
    expect(await stream(1)).toBe(inline);
    expect(await stream(2)).toBe(inline);
    expect(await stream(2)).toBe(inline);
  });
});
