/**
 * The whole stream of an engine running every procedure (sizing, lifecycle, caps, fills with fees and insurance,
 * partial fills whose rest the venue fills or expires later, expiries, ADL) is the same, byte for byte, whatever the
 * scan worker count, on a second run, through a restart from a snapshot, and in replay of the journal; so are the
 * open orders and the positions' open-orders counts the executor reads.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineConfig } from '../src/index.js';
import { replayJournal } from '../src/engine/replay.js';
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
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const CONFIG: EngineConfig = {
  autoEpoch: false,
  capacity: { markets: 2, accounts: 600, positions: 1_200 },
  caps: { marketNotionalPerWindow: 400_000, marketWindowUs: 3_000_000, maxInFlight: 40 },
  fees: { fund: 'pooled', maxFeeFraction: 0.001 }, // a thin fund: it runs dry, deficits go to ADL
};

/** What a run leaves: its stream and digest, and after each epoch the open orders and the positions' open-orders counts. */
interface Run {
  readonly json: string;
  readonly digest: string;
  readonly open: string[];
  /** The open orders and counts at the end. */
  readonly final: string;
}

/** The engine's open orders, and the positions' open-orders counts that are not 0, by slot. */
function openState(engine: Engine): string {
  const column = engine.tables.positions.openOrders;
  return JSON.stringify([engine.openOrders(), [...column.keys()].filter((slot) => column[slot]! > 0).map((slot) => [slot, column[slot]])]);
}

/** With `journal`, the run journals there; with `restartAt` too, it closes after that step and goes on in an engine recovered from the journal. */
async function stream(scanWorkers: number, journal?: NonNullable<EngineConfig['journal']>, restartAt?: number): Promise<Run> {
  const rand = mulberry32(0xd371);
  const config: EngineConfig = { ...CONFIG, scanWorkers, ...(journal === undefined ? {} : { journal }) };
  let engine = await Engine.start(config);
  engines.push(engine);
  const out: unknown[] = [];
  const open: string[] = [];
  const listen = (e: Engine): void => {
    e.onFill((s) => out.push(['fill', s]));
    e.onDeleverage((d) => out.push(['adl', d]));
  };
  listen(engine);
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
    open.push(openState(engine));
    const fills = [];
    const expired = [];
    // The venue answers the rest of earlier half-filled orders: filled whole, expired, or still open (all of them
    // after the last epoch, so that the run ends with rests open).
    const issued = new Set(r.orders.map((o) => o.id));
    for (const { order, remaining } of engine.openOrders()) {
      if (issued.has(order.id) || step === 30) continue;
      const x = rand();
      if (x < 0.3) fills.push({ orderId: order.id, account: order.account, market: order.market, quantity: remaining, price: order.limitPrice, eventTimeUs: step * 500_000 + 1 });
      else if (x < 0.5) expired.push(order.id);
    }
    for (const o of r.orders) {
      const x = rand();
      if (x < 0.15) expired.push(o.id);
      // At the limit (past bankruptcy for an account already under water: the thin fund pays, then ADL), or better
      // by up to the improvement band.
      else fills.push({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity * (x < 0.4 ? 0.5 : 1), price: fillPriceWithin(o, x < 0.7 ? 0 : rand()), eventTimeUs: step * 500_000 + 1 });
    }
    if (fills.length > 0) engine.fill(fills);
    if (expired.length > 0) engine.expire(expired);
    if (step === restartAt) {
      await engine.close();
      engine = await Engine.start({ ...config, scanWorkers: 1 });
      engines.push(engine);
      expect(engine.recovery?.snapshot).toBeDefined();
      listen(engine);
    }
  }
  expect(engine.ledger.total()).toBe(0n);
  const json = JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  const run = { json, digest: engine.outputDigest(), open, final: openState(engine) };
  if (journal !== undefined) await engine.close();
  return run;
}

function journalDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'unwind-procedures-'));
  dirs.push(dir);
  return join(dir, 'journal');
}

describe('every procedure together', () => {
  it('gives the same orders, state changes, capped work, fills and deleveragings with 0, 1 and 2 scan workers, through a restart and in replay', async () => {
    const inline = await stream(0);
    const counts = (kind: string): number => (JSON.parse(inline.json) as [string, unknown][]).filter(([k]) => k === kind).length;
    expect(counts('fill')).toBeGreaterThan(50);
    expect(inline.json).toContain('"capped":[{');
    expect(inline.json).toContain('"to":"liquidating"');
    expect(counts('adl')).toBeGreaterThan(10);
    expect(inline.json).toContain('"to":"backstopped"');
    // Rests of half-filled orders were filled later (a fill whose orderRemaining is 0 after one that left some).
    expect(inline.json).toMatch(/"orderRemaining":0[,}]/);
    // After each epoch every open order holds its position's count at 1, and no position has two.
    for (const line of inline.open) {
      const [orders, counts] = JSON.parse(line) as [{ order: { account: number; market: number } }[], [number, number][]];
      expect(counts.map(([, n]) => n).every((n) => n === 1)).toBe(true);
      expect(counts).toHaveLength(orders.length);
      expect(new Set(orders.map((o) => `${o.order.account}-${o.order.market}`)).size).toBe(orders.length);
    }
    expect(inline.open.some((line) => line.includes('"remaining"'))).toBe(true);
    for (const run of [await stream(1), await stream(2), await stream(2)]) expect(run).toEqual(inline);
    // Journaled, and restarted from a snapshot half way: the same stream, open orders and counts.
    const dir = journalDir();
    const restarted = await stream(2, { dir, snapshotEveryRecords: 500, log: () => {} }, 15);
    expect(restarted).toEqual(inline);
    for (const workers of [0, 2]) expect((await replayJournal(dir, { workers })).outputDigest).toBe(inline.digest);
    // Recovered from the journal's first record (its snapshots removed): the same open orders and counts.
    const copy = journalDir();
    cpSync(dir, copy, { recursive: true });
    for (const f of readdirSync(copy)) if (f.startsWith('snapshot-')) rmSync(join(copy, f));
    const recovered = await Engine.start({ ...CONFIG, scanWorkers: 2, journal: { dir: copy, log: () => {} } });
    engines.push(recovered);
    expect(recovered.recovery?.snapshot).toBeUndefined();
    expect(recovered.outputDigest()).toBe(inline.digest);
    expect(openState(recovered)).toBe(inline.final);
    expect(inline.final).toMatch(/"remaining"/);
  });
});
