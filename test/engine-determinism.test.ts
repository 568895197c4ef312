/**
 * Determinism (README "Determinism", docs/domain.md section 7): the same inputs in the same batches give the same orders and
 * margin calls, byte for byte, whatever the number of scan threads and on every run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EpochResult } from '../src/index.js';
import { candidateCount } from '../src/concurrency/epoch.js';
import { planAccountRanges, planMarketSlices } from '../src/scan/tasks.js';
import { generateScenario, runPath, startScenario, type Scenario } from './support/scenario.js';

/**
 * Large enough that each phase is cut into several tasks running on different threads at once: the planner's
 * smallest task is 16,384 position slots (phase 1) or 4,096 accounts (phase 2). 8 markets, ~20,000 positions.
 */
const SCENARIO = generateScenario({ seed: 4, accounts: 8_000 });

/** Every epoch's output as one string: the stream a matching engine would receive. */
async function stream(
  s: Scenario,
  scanWorkers: number,
  candidates?: number,
): Promise<{ json: string; results: EpochResult[]; shards: { phase1: number; phase2: number }; overflows: number }> {
  const book = await startScenario(s, candidates === undefined ? { scanWorkers } : { scanWorkers, capacity: { candidates } });
  try {
    const t = book.engine.tables;
    const allMarkets = Array.from({ length: s.markets.length }, (_, m) => m);
    const shards = {
      phase1: planMarketSlices(t, allMarkets, Math.max(1, scanWorkers)).length,
      phase2: planAccountRanges(s.accounts.length, Math.max(1, scanWorkers), book.engine.config.marginCallHealth).length,
    };
    let overflows = 0;
    const onEpoch = (): void => void (candidateCount(t) > t.candidates.ref.length && overflows++);
    const results = await runPath(book, s, { tradesPerStep: 20, tradesInFlight: 10, onEpoch });
    return { json: JSON.stringify(results), results, shards, overflows };
  } finally {
    await book.engine.close();
  }
}

/** On a difference, shows the first epoch that differs rather than two long strings. */
function expectSameStream(actual: Awaited<ReturnType<typeof stream>>, expected: Awaited<ReturnType<typeof stream>>): void {
  if (actual.json === expected.json) return;
  const i = actual.results.findIndex((r, k) => JSON.stringify(r) !== JSON.stringify(expected.results[k]));
  expect(actual.results[i], `epoch ${i + 1} differs`).toEqual(expected.results[i]);
  expect(actual.json).toBe(expected.json);
}

describe('the order and margin-call stream', () => {
  let reference: Awaited<ReturnType<typeof stream>>;

  beforeAll(async () => {
    reference = await stream(SCENARIO, 2);
  });
  afterAll(() => {
    reference = undefined as never;
  });

  it('comes from a scenario that liquidates and warns often, across several scan tasks per phase', () => {
    const orders = reference.results.reduce((n, r) => n + r.orders.length, 0);
    const calls = reference.results.reduce((n, r) => n + r.marginCalls.length, 0);
    expect(orders).toBeGreaterThan(10);
    expect(calls).toBeGreaterThan(10);
    expect(reference.results.filter((r) => r.orders.length > 0).length).toBeGreaterThan(5);
    expect(new Set(reference.results.flatMap((r) => r.orders.map((o) => o.reason)))).toEqual(new Set(['cross-maintenance', 'isolated-maintenance']));
    expect(new Set(reference.results.flatMap((r) => r.orders.map((o) => o.side)))).toEqual(new Set(['buy', 'sell']));
    expect(reference.shards.phase1).toBeGreaterThan(1);
    expect(reference.shards.phase2).toBeGreaterThan(1);
  });

  it('never carries the same order id twice', () => {
    const ids = reference.results.flatMap((r) => r.orders.map((o) => o.id));
    expect(ids.length).toBeGreaterThan(10);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each([1, 4])('is identical with %i scan worker(s) to the stream with 2', async (workers) => {
    const run = await stream(SCENARIO, workers);
    expectSameStream(run, reference);
  });

  it('is identical when the scan and the executor run inline on the calling thread', async () => {
    const run = await stream(SCENARIO, 0);
    expectSameStream(run, reference);
  });

  it('is identical when the candidate table overflows and the executor re-checks every group itself', async () => {
    const run = await stream(SCENARIO, 2, 8);
    expect(run.overflows).toBeGreaterThan(5);
    expect(reference.overflows).toBe(0);
    expectSameStream(run, reference);
  });

  it('is identical on a second run with the same threads', async () => {
    const run = await stream(SCENARIO, 2);
    expectSameStream(run, reference);
  });
});
