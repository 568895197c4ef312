/**
 * Topology: OneToNScanPoolThroughput, full epochs through the real engine, with N = 1 and N = 2 scan workers.
 *
 *                         phase 1: market slices          phase 2: account ranges
 *   +-------------+     +---------------------------+   +---------------------------+     +-------------+
 *   | main thread | --> | piscina scan pool (N)     | ->| piscina scan pool (N)     | --> | executor    |
 *   | pushPrices  |     | scanPnl, scanMaintenance  |   | cross equity per account, |     | re-check,   |
 *   | (8 markets) |     | for every position        |   | candidates                |     | orders      |
 *   | step()      | <-------------------------------------------------------------------- | publishes   |
 *   +-------------+                        await: output of the epoch decoded            +-------------+
 *
 * Measures: wall time of one full epoch, from pushPrices (a new price for all 8 markets, so every market is
 * dirty) to the resolution of `await engine.step()`: phase 1 over all positions, phase 2 over all accounts,
 * the executor, the decode. Reported as positions/s from the median epoch and p50/p99/p99.9 epoch times.
 *
 * Every engine of a size holds the same seeded book (see fixtures.ts). One round = one sample of each row:
 * the sequential read (sequential-read.ts) and one epoch on each engine, in an order rotated every round so
 * that no row always follows the same neighbour (caches, noise). Ratios come from rows of the same rounds.
 *
 * Also, for the reader who asks where an epoch's time goes, the two scan kernels run inline on the main
 * thread while the engine is idle (as InlineBackend runs them): phase 1 alone, phase 2 alone. And a check that
 * the measured epochs did all their work: each engine's phase-2 results must match a single-threaded pass.
 */
import { type Engine } from '../src/index.js';
import { resetCandidates } from '../src/concurrency/epoch.js';
import { assembleAccounts, scanMarketSlice } from '../src/scan/kernels.js';
import { allMarketsBatch, buildEngine, cloneEngine, type Book } from './fixtures.js';
import { sequentialRead, usedPositions, usedRanges } from './sequential-read.js';
import { perSecond, Recorder, type Percentiles } from './stats.js';

export interface ScanPlan {
  readonly positions: number;
  /** Measured rounds (samples per row). */
  readonly rounds: number;
  readonly warmupRounds: number;
  /** Samples of each inline kernel (0: skip). */
  readonly kernelSamples: number;
}

export interface ScanRow {
  readonly topology: string;
  readonly positions: number;
  readonly accounts: number;
  /** Scan workers; 0 for rows run on the main thread alone. */
  readonly workers: number;
  readonly positionsPerSecond: number;
  /** positionsPerSecond / the sequential read's, same rounds. */
  readonly ratioToSequentialRead: number;
  readonly micros: Percentiles;
  /** Median over rounds (epoch rows) or samples (kernel rows) of (sequential-read time / this row's time), paired. */
  readonly pairedRatioToSequentialRead?: number;
  /** Median over rounds of (first engine's epoch time / this engine's) in the same round (epoch rows only). */
  readonly pairedSpeedupOverFirst?: number;
  /** Mean orders and margin calls per measured epoch (epoch rows only). */
  readonly ordersPerEpoch?: number;
  readonly marginCallsPerEpoch?: number;
}

export interface CoverageCheck {
  readonly workers: number;
  readonly accounts: number;
  /** Accounts whose cached cross equity or maintenance differs; 0 when the epoch covered everything. */
  readonly mismatched: number;
  readonly firstMismatchedIndexes: readonly number[];
}

export interface ScanSizeResult {
  /** Nominal size: positions of the regular accounts. */
  readonly size: number;
  /** Positions in the tables (size + the victims'). */
  readonly positions: number;
  readonly accounts: number;
  readonly fillMillis: number;
  readonly cloneMillis: number;
  readonly rows: ScanRow[];
  /** Per engine: does its last epoch's phase-2 cache match a single-threaded pass? (see checkCoverage) */
  readonly coverage: readonly CoverageCheck[];
  /** The last worker count's epoch rate over the first's (2 workers over 1). */
  readonly speedup: {
    readonly workers: readonly [number, number];
    /** Ratio of the median epochs. */
    readonly ratio: number;
    /** Median over rounds of the two engines' epoch-time ratio in the same round (robust to slow drifts in load). */
    readonly pairedRatio: number;
  } | null;
}

export const topologyOf = (workers: number): string => `main -> scan pool (${workers}) -> executor`;
const SEQUENTIAL = 'main: sequential read';
const PHASE1 = 'main: phase-1 kernel inline';
const PHASE2 = 'main: phase-2 kernel inline';

type Log = (line: string) => void;

/** Sink for the sequential read's sums, so the loop has an observable result. */
export let sink = 0;

export async function runScanThroughput(plan: ScanPlan, workers: readonly number[], seed: number, log: Log): Promise<ScanSizeResult> {
  const engines: Engine[] = [];
  try {
    log(`scan ${fmtCount(plan.positions)}: building the book ...`);
    const t0 = performance.now();
    // The full scan every epoch: this measures the kernels (the default 'index' mode scans only every 64th epoch).
    const first = await buildEngine({ positions: plan.positions, seed, distressedEvery: 1000 }, { scanWorkers: workers[0]!, autoEpoch: false, scan: { mode: 'full' } });
    engines.push(first.engine);
    const book = first.book;
    const t1 = performance.now();
    for (const w of workers.slice(1)) engines.push(await cloneEngine(first.engine, book, { scanWorkers: w, autoEpoch: false, scan: { mode: 'full' } }));
    const cloneMillis = performance.now() - t1;
    log(
      `  ${fmtCount(book.accounts)} accounts; filled in ${(first.fillMs / 1000).toFixed(1)} s ` +
        `(${((t1 - t0) / 1000).toFixed(1)} s with generation and start), cloned in ${(cloneMillis / 1000).toFixed(1)} s`,
    );

    const { rows, coverage } = await measure(engines, book, plan, log);
    for (const c of coverage) {
      if (c.mismatched > 0) log(`  CHECK FAILED (scan pool of ${c.workers}): ${c.mismatched} accounts differ from a single-threaded pass`);
    }
    const epochRows = rows.filter((r) => r.workers > 0);
    const last = epochRows.length - 1;
    const speedup =
      last >= 1
        ? {
            workers: [epochRows[0]!.workers, epochRows[last]!.workers] as const,
            ratio: epochRows[last]!.positionsPerSecond / epochRows[0]!.positionsPerSecond,
            pairedRatio: epochRows[last]!.pairedSpeedupOverFirst!,
          }
        : null;
    const positions = usedPositions(engines[0]!.tables);
    return { size: plan.positions, positions, accounts: book.capacity.accounts, fillMillis: first.fillMs, cloneMillis, rows, speedup, coverage };
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
}

async function measure(engines: readonly Engine[], book: Book, plan: ScanPlan, log: Log): Promise<{ rows: ScanRow[]; coverage: CoverageCheck[] }> {
  const t = engines[0]!.tables;
  const ranges = usedRanges(t);
  const positions = usedPositions(t);
  const accounts = book.capacity.accounts;
  const seq = new Recorder();
  const epochs = engines.map(() => new Recorder());
  // Raw samples by round, for the paired ratios.
  const seqByRound: number[] = [];
  const epochByRound: number[][] = engines.map(() => []);
  const outputs = engines.map(() => ({ orders: 0, marginCalls: 0 }));

  const ops: ((round: number, record: boolean) => Promise<void>)[] = [
    async (_round, record) => {
      const start = process.hrtime.bigint();
      sink += sequentialRead(t, ranges);
      if (record) seqByRound.push(seq.recordSince(start));
    },
    ...engines.map((engine, i) => async (round: number, record: boolean) => {
      const start = process.hrtime.bigint();
      engine.pushPrices(allMarketsBatch(round));
      const r = await engine.step();
      if (!record) return;
      epochByRound[i]!.push(epochs[i]!.recordSince(start));
      outputs[i]!.orders += r.orders.length;
      outputs[i]!.marginCalls += r.marginCalls.length;
    }),
  ];
  const total = plan.warmupRounds + plan.rounds;
  const started = performance.now();
  for (let round = 0; round < total; round++) {
    const record = round >= plan.warmupRounds;
    if (round === plan.warmupRounds) log(`  warm-up done; ${plan.rounds} rounds of ${ops.length} samples ...`);
    for (let j = 0; j < ops.length; j++) await ops[(round + j) % ops.length]!(round, record);
  }
  log(`  measured in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const seqSummary = seq.summary();
  const seqPps = perSecond(positions, seqSummary.p50);
  const row = (topology: string, workers: number, s: Percentiles): ScanRow => {
    const pps = perSecond(positions, s.p50);
    return { topology, positions, accounts, workers, positionsPerSecond: pps, ratioToSequentialRead: pps / seqPps, micros: s };
  };
  const rows: ScanRow[] = engines.map((e, i) => ({
    ...row(topologyOf(e.config.scanWorkers), e.config.scanWorkers, epochs[i]!.summary()),
    pairedRatioToSequentialRead: median(seqByRound.map((x, r) => x / epochByRound[i]![r]!)),
    pairedSpeedupOverFirst: median(epochByRound[0]!.map((x, r) => x / epochByRound[i]![r]!)),
    ordersPerEpoch: outputs[i]!.orders / plan.rounds,
    marginCallsPerEpoch: outputs[i]!.marginCalls / plan.rounds,
  }));
  rows.push(row(SEQUENTIAL, 0, seqSummary));
  const coverage = engines.map((e) => checkCoverage(e, accounts));
  if (plan.kernelSamples > 0) {
    const k = inlineKernels(engines[0]!, accounts, plan.kernelSamples, ranges);
    rows.push(
      { ...row(PHASE1, 0, k.phase1), pairedRatioToSequentialRead: k.pairedPhase1 },
      { ...row(PHASE2, 0, k.phase2), pairedRatioToSequentialRead: k.pairedPhase2 },
    );
  }
  return { rows, coverage };
}

/**
 * Sanity check of what was measured: after the engine's last full epoch, its accounts' phase-2 cache (cross equity
 * and maintenance) must equal what one single-threaded pass of the same kernels over all positions and all accounts
 * computes from the same inputs (bit for bit: same functions, same summation order). An account that differs was
 * skipped or mis-assembled by the threaded epoch, and the epoch time measured less work than it claims.
 * Runs while the engine is idle; like inlineKernels, it leaves the tables as the last epoch left them.
 */
function checkCoverage(engine: Engine, accounts: number): CoverageCheck {
  const t = engine.tables;
  const equity = t.accounts.scanEquity.slice(0, accounts);
  const maintenance = t.accounts.scanMaintenance.slice(0, accounts);
  runInline(engine, accounts);
  let mismatched = 0;
  const first: number[] = [];
  for (let a = 0; a < accounts; a++) {
    if (Object.is(equity[a], t.accounts.scanEquity[a]) && Object.is(maintenance[a], t.accounts.scanMaintenance[a])) continue;
    mismatched++;
    if (first.length < 5) first.push(a);
  }
  return { workers: engine.config.scanWorkers, accounts, mismatched, firstMismatchedIndexes: first };
}

function runInline(engine: Engine, accounts: number): void {
  const t = engine.tables;
  const { positionStart, positionCount, id } = t.markets;
  for (let m = 0; m < id.length; m++) scanMarketSlice(t, m, positionStart[m]!, positionStart[m]! + positionCount[m]!);
  resetCandidates(t);
  assembleAccounts(t, 0, accounts, engine.config.marginCallHealth);
}

/**
 * Phase 1 then phase 2 on the main thread, timed apart. Runs only while `engine` is idle (autoEpoch off, no step
 * in flight): it rewrites the terms and the accounts' phase-2 results with the values the last epoch wrote
 * (prices unchanged) and candidate rows that the next epoch resets, exactly as InlineBackend would.
 *
 * Each sample is paired with sequential reads of the same slots right before each phase, and the paired ratios
 * (read time / phase time, median over samples) are what the gate compares: a load change between the epoch rounds
 * and these samples, or within them, moves both sides of a pair alike. The phases' own medians are kept for the table.
 */
function inlineKernels(
  engine: Engine,
  accounts: number,
  samples: number,
  ranges: readonly number[],
): { phase1: Percentiles; phase2: Percentiles; pairedPhase1: number; pairedPhase2: number } {
  const t = engine.tables;
  const p1 = new Recorder();
  const p2 = new Recorder();
  const r1: number[] = [];
  const r2: number[] = [];
  const { positionStart, positionCount, id } = t.markets;
  const read = (): bigint => {
    const a = process.hrtime.bigint();
    sink += sequentialRead(t, ranges);
    return process.hrtime.bigint() - a;
  };
  for (let i = 0; i <= samples; i++) {
    const s1 = read();
    const a = process.hrtime.bigint();
    for (let m = 0; m < id.length; m++) scanMarketSlice(t, m, positionStart[m]!, positionStart[m]! + positionCount[m]!);
    const b = process.hrtime.bigint();
    const s2 = read();
    const c = process.hrtime.bigint();
    resetCandidates(t);
    assembleAccounts(t, 0, accounts, engine.config.marginCallHealth);
    const d = process.hrtime.bigint();
    if (i === 0) continue; // warm-up
    p1.recordSince(a, b);
    p2.recordSince(c, d);
    r1.push(Number(s1) / Number(b - a));
    r2.push(Number(s2) / Number(d - c));
  }
  return { phase1: p1.summary(), phase2: p2.summary(), pairedPhase1: median(r1), pairedPhase2: median(r2) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function fmtCount(n: number): string {
  const e = Math.log10(n);
  return Number.isInteger(e) ? `1e${e}` : n.toLocaleString('en-US');
}
