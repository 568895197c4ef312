/**
 * Scan tasks: the messages the main thread sends to scan workers, and how either side runs them.
 * Phase 1 is sharded by market (slices of one market's contiguous slots), phase 2 by account range.
 */
import { finishScanTask } from '../concurrency/epoch.js';
import { type Tables } from '../tables/layout.js';
import { assembleAccounts, scanMarketSlice } from './kernels.js';

export interface MarketSliceTask {
  readonly phase: 1;
  /** Flattened triples (market, fromSlot, toSlot). */
  readonly slices: readonly number[];
}
export interface AccountRangeTask {
  readonly phase: 2;
  readonly from: number;
  readonly to: number;
  readonly marginCallHealth: number;
}
export type ScanTask = MarketSliceTask | AccountRangeTask;

/** Runs one task against the tables and publishes its writes. Returns positions visited. */
export function runScanTask(t: Tables, task: ScanTask): number {
  let visited = 0;
  if (task.phase === 1) {
    const s = task.slices;
    for (let i = 0; i < s.length; i += 3) visited += scanMarketSlice(t, s[i]!, s[i + 1]!, s[i + 2]!);
  } else {
    visited = assembleAccounts(t, task.from, task.to, task.marginCallHealth);
  }
  finishScanTask(t);
  return visited;
}

/** Smallest slice worth a worker round trip (~35 us): about 100 us of scanning. */
const MIN_SLICE = 16_384;

/**
 * Cuts the dirty markets' slots into about `4 * workers` tasks of similar size (markets larger than a share are
 * split, small ones grouped), so that both phases balance across workers.
 */
export function planMarketSlices(t: Tables, dirtyMarkets: readonly number[], workers: number): MarketSliceTask[] {
  let total = 0;
  for (const m of dirtyMarkets) total += t.markets.positionCount[m]!;
  const share = Math.max(MIN_SLICE, Math.ceil(total / (workers * 4)));
  const tasks: MarketSliceTask[] = [];
  let current: number[] = [];
  let filled = 0;
  for (const m of dirtyMarkets) {
    const start = t.markets.positionStart[m]!;
    const end = start + t.markets.positionCount[m]!;
    for (let from = start; from < end; ) {
      const to = Math.min(end, from + (share - filled));
      current.push(m, from, to);
      filled += to - from;
      from = to;
      if (filled >= share) {
        tasks.push({ phase: 1, slices: current });
        current = [];
        filled = 0;
      }
    }
  }
  if (current.length > 0) tasks.push({ phase: 1, slices: current });
  return tasks;
}

/** Cuts accounts [0, accounts) into about `4 * workers` ranges. */
export function planAccountRanges(accounts: number, workers: number, marginCallHealth: number): AccountRangeTask[] {
  const share = Math.max(MIN_SLICE / 4, Math.ceil(accounts / (workers * 4)));
  const tasks: AccountRangeTask[] = [];
  for (let from = 0; from < accounts; from += share) {
    tasks.push({ phase: 2, from, to: Math.min(accounts, from + share), marginCallHealth });
  }
  return tasks;
}
