/**
 * Thread: main. The benchmark entry: `npm run bench`, `node dist/bench/run.js [flags]` or, from the installed package,
 * `npx unwind bench [flags]` (src/cli/main.ts imports runBench). Flags:
 *
 *   --quick        sizes 1e5 and 1e6 only, fewer samples (the CI run: about 5.5 min on the 2-core machine at load 1-2)
 *   --only scan    scan throughput (with the sequential-read yardstick) only
 *   --only latency push-to-order latency only
 *   --only feed    the WebSocket feed only: tick-to-order latency over sockets, ingest rate, vs a bare uWS echo
 *   --only oracle  the oracle layer only: cost per report (signed, unsigned, vs a direct tick), report-to-order latency
 *   --only replication  the leader of a replicated engine on a 3-node NATS cluster (nats-server) against the same engine
 *                  with its journal alone: push-to-order latency and inputs acknowledged per second (skipped without nats-server)
 *   --only journal the journal only: append and fdatasync cost per record (sync vs group), and push-to-order latency
 *                  with no journal, group and sync (quick: 1e5 positions, ~25 s; full: 1e6, ~2 min)
 *   --only strategies the executor's cost per epoch under each execution strategy, as a ratio to 'ioc', and the
 *                  models' cost per call (1e5 positions; quick ~10 s)
 *   --only kernels the scan kernels alone (JS, WASM SIMD, C -O3 reference built with gcc), 1 and 2 threads, as a ratio
 *                  to C (quick: 1e6, ~15 s; full: 1e6 and 1e7)
 *   --json [FILE]  also writes every figure, with the machine description, to FILE (default bench-results.json)
 *   --compare FILE the regression gate (compare.ts): this run's ratios against a baseline written by --json; exit 1
 *                  when a gated ratio is worse than the baseline's by more than the tolerance
 *   --tolerance T  the gate's tolerance, a fraction in [0, 1) (default 0.2: 20% worse fails)
 *   --github-json FILE  the ratios as github-action-benchmark reads them: FILE for customBiggerIsBetter,
 *                  FILE.smaller.json (FILE without .json) for customSmallerIsBetter
 *
 * Benchmarks (one module each, each with its thread diagram):
 *   scan-throughput.ts        main -> piscina scan pool (N) -> executor, full epochs, positions/s, N = 1, 2
 *   sequential-read.ts        main thread alone, the yardstick for the scan's positions/s
 *   push-to-order-latency.ts  main -> piscina scan pool (N) -> executor -> onOrder, microseconds, at 1e6
 *   feed.ts                   client worker (ws) <-> uWS feed server on main: feed-latency.ts (tick in -> order
 *                             out at 1e6, microseconds) and feed-ingest.ts (ticks/s), each against a bare uWS echo
 *   oracle.ts                 main thread alone (tinybench: aggregation cost per report) and main -> scan pool ->
 *                             executor (report in -> order out, signatures required vs off)
 *   journal.ts                main thread alone (JournalWriter: records/s, MB/s, durable() = write or fdatasync) and
 *                             main -> scan pool -> executor -> durable() -> onOrder (no journal vs group vs sync)
 *   executor-strategies.ts    main thread alone (scanWorkers 0): epochs of seven engines, one per execution config,
 *                             interleaved; Executor.step timed alone; and the models (tinybench) per call
 *   kernels.ts                main thread, 2 kernel workers, or a C child process (scan-reference.c): one kernel pass
 *                             over the same tables, positions/s and the ratio to the C loop
 *
 * The machine is shared and noisy: absolute figures move from run to run; the ratios (scan vs sequential read,
 * 2 workers vs 1, sync vs group vs no journal) are measured in the same run, from interleaved samples, and are the figures to compare.
 * Progress goes to stderr, results to stdout. Every engine is closed before exit, and the process's OS threads
 * are counted before the first engine and after the last close. Checks (phase-2 coverage, latency spill, threads
 * left behind) print their result; a failed one sets exit code 1, as a regression does; a bad command line or
 * baseline, exit code 2 (before anything runs).
 */
import { realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCode, UnwindError } from '../src/errors.js';
import { compareFigures, comparisonFailed, comparisonTable, DEFAULT_TOLERANCE, figuresOf, githubBenchmarkJson, readBaseline, smallerPath, type Baseline } from './compare.js';
import { feedFailed, runFeed, type FeedPlan, type FeedResult } from './feed.js';
import { feedSection } from './feed-report.js';
import { runPushToOrderLatency, type LatencyPlan, type LatencyResult } from './push-to-order-latency.js';
import { buildLines, coverageLines, latencyTable, machineInfo, machineLine, scanTable, speedupLines } from './report.js';
import { runScanThroughput, type ScanPlan, type ScanSizeResult } from './scan-throughput.js';
import { oracleSection, runOracle, type OraclePlan, type OracleResult } from './oracle.js';
import { journalFailed, journalSection, runJournal, type JournalPlan, type JournalResult } from './journal.js';
import { replicationSection, runReplication, type ReplicationPlan, type ReplicationResult } from './replication.js';
import { runExecutorStrategies, strategiesFailed, strategiesSection, type StrategiesPlan, type StrategiesResult } from './executor-strategies.js';
import { kernelsFailed, kernelsSection, runKernels, type KernelsPlan, type KernelsResult } from './kernels.js';
import { runScaling, scalingSection, type ScalingPlan, type ScalingResult } from './scaling.js';

/** Where the scaling section writes its plot (README "Benchmarks" links a copy). */
const SCALING_SVG = 'bench-scaling.svg';
import { targetRows, targetsTable } from './targets.js';
import { settledThreadCount, threadCount } from './threads.js';

type Section = 'scan' | 'latency' | 'feed' | 'oracle' | 'journal' | 'strategies' | 'kernels' | 'scaling' | 'replication';
const SECTIONS: readonly Section[] = ['scan', 'latency', 'feed', 'oracle', 'journal', 'strategies', 'kernels', 'scaling', 'replication'];

export interface BenchOptions {
  readonly quick: boolean;
  readonly only: Section | null;
  readonly json: string | null;
  /** A baseline written by --json: the gate. */
  readonly compare: string | null;
  readonly tolerance: number;
  readonly githubJson: string | null;
}

export const BENCH_FLAGS = `[--quick] [--only ${SECTIONS.join('|')}] [--json [FILE]] [--compare FILE [--tolerance T]] [--github-json FILE]`;
const USAGE = `usage: node dist/bench/run.js ${BENCH_FLAGS}`;

const SEED = 0x5eed;
const WORKERS = [1, 2] as const;

const MIB = 2 ** 20;
const FULL: {
  scan: ScanPlan[];
  latency: LatencyPlan;
  feed: FeedPlan;
  oracle: OraclePlan;
  journal: JournalPlan;
  strategies: StrategiesPlan;
  kernels: KernelsPlan[];
  scaling: ScalingPlan;
  replication: ReplicationPlan;
} = {
  replication: { positions: 100_000, samples: 300, warmup: 30, rounds: 5, inputsPerRound: 10_000, batches: [1, 100, 1_000] },
  scaling: { sizes: [10_000, 100_000, 1_000_000, 10_000_000], samples: 200, warmup: 20, workers: 2 },
  strategies: { positions: 100_000, warmupEpochs: 10, epochs: 120, modelIterations: 20_000, garchRefits: 50 },
  kernels: [
    { positions: 1_000_000, rounds: 30, warmupRounds: 3 },
    { positions: 10_000_000, rounds: 8, warmupRounds: 1 },
  ],
  oracle: { iterations: 20_000, latency: { positions: 1_000_000, samples: 300, warmup: 30 } },
  journal: {
    append: { rounds: 5, perRecordAcks: 4_000, batchedRecords: 40_000, maxRoundBytes: 128 * MIB },
    latency: { positions: 1_000_000, samples: 300, warmup: 30, snapshotEveryRecords: 200 },
  },
  scan: [
    { positions: 100_000, rounds: 400, warmupRounds: 20, kernelSamples: 400 },
    { positions: 1_000_000, rounds: 100, warmupRounds: 5, kernelSamples: 40 },
    { positions: 10_000_000, rounds: 25, warmupRounds: 2, kernelSamples: 4 },
  ],
  latency: { positions: 1_000_000, samples: 300, warmup: 30 },
  feed: {
    latency: { positions: 1_000_000, scanWorkers: 2, samples: 300, warmup: 30, echoSamples: 3000, echoWarmup: 200 },
    ingest: {
      positions: 1_000,
      scanWorkers: 1,
      rounds: 5,
      shapes: [
        { ticksPerFrame: 1, frames: 100_000, framesPerWrite: 1 },
        { ticksPerFrame: 1, frames: 200_000, framesPerWrite: 64 },
        { ticksPerFrame: 100, frames: 10_000, framesPerWrite: 1 },
        { ticksPerFrame: 1_000, frames: 2_000, framesPerWrite: 1 },
      ],
      breakdownTicks: 300_000,
      epochSamples: 500,
    },
  },
};
const QUICK: typeof FULL = {
  replication: { positions: 10_000, samples: 60, warmup: 10, rounds: 3, inputsPerRound: 2_000, batches: [1, 100] },
  scaling: { sizes: [10_000, 100_000, 1_000_000], samples: 40, warmup: 10, workers: 2 },
  strategies: { positions: 100_000, warmupEpochs: 6, epochs: 36, modelIterations: 3_000, garchRefits: 10 },
  kernels: [{ positions: 1_000_000, rounds: 10, warmupRounds: 2 }],
  oracle: { iterations: 3_000, latency: { positions: 100_000, samples: 60, warmup: 10 } },
  journal: {
    append: { rounds: 3, perRecordAcks: 1_000, batchedRecords: 10_000, maxRoundBytes: 48 * MIB },
    latency: { positions: 100_000, samples: 300, warmup: 30, snapshotEveryRecords: 200 },
  },
  scan: [
    { positions: 100_000, rounds: 100, warmupRounds: 10, kernelSamples: 300 },
    { positions: 1_000_000, rounds: 25, warmupRounds: 3, kernelSamples: 20 },
  ],
  latency: { positions: 1_000_000, samples: 60, warmup: 10 },
  feed: {
    latency: { positions: 1_000_000, scanWorkers: 2, samples: 60, warmup: 10, echoSamples: 500, echoWarmup: 50 },
    ingest: {
      positions: 1_000,
      scanWorkers: 1,
      rounds: 2,
      shapes: [
        { ticksPerFrame: 1, frames: 20_000, framesPerWrite: 1 },
        { ticksPerFrame: 1, frames: 40_000, framesPerWrite: 64 },
        { ticksPerFrame: 100, frames: 2_000, framesPerWrite: 1 },
        { ticksPerFrame: 1_000, frames: 400, framesPerWrite: 1 },
      ],
      breakdownTicks: 200_000,
      epochSamples: 200,
    },
  },
};

/**
 * The bench's command line, shared by `node dist/bench/run.js` and `unwind bench`; 'help' for --help or -h. A bad flag
 * or value is an INVALID_CONFIG naming the flag (the callers print it with the usage and exit 2).
 */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | 'help' {
  let quick = false;
  let only: BenchOptions['only'] = null;
  let json: string | null = null;
  let compare: string | null = null;
  let tolerance: number | null = null;
  let githubJson: string | null = null;
  const bad = (flag: string, message: string): UnwindError => new UnwindError(ErrorCode.InvalidConfig, message, flag);
  const value = (i: number, flag: string, expected: string): string => {
    const v = argv[i];
    if (v === undefined || v.startsWith('--')) throw bad(flag, `expected ${expected}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only') {
      const v = argv[++i];
      if (!SECTIONS.includes(v as Section)) throw bad('--only', `expected one of ${SECTIONS.join(', ')}, got ${String(v)}`);
      only = v as Section;
    } else if (a === '--json') {
      // `--json` alone writes bench-results.json; `--json FILE` names the file.
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) json = 'bench-results.json';
      else json = argv[++i]!;
    } else if (a === '--compare') compare = value(++i, a, 'a baseline file written by --json');
    else if (a === '--tolerance') {
      const v = value(++i, a, 'a fraction in [0, 1)');
      const t = Number(v);
      if (!(v.trim() !== '' && t >= 0 && t < 1)) throw bad(a, `expected a fraction in [0, 1), got ${JSON.stringify(v)}`);
      tolerance = t;
    } else if (a === '--github-json') githubJson = value(++i, a, 'a file to write');
    else if (a === '--help' || a === '-h') return 'help';
    else throw bad(a, 'unknown flag');
  }
  if (tolerance !== null && compare === null) throw bad('--tolerance', 'only applies with --compare FILE');
  return { quick, only, json, compare, tolerance: tolerance ?? DEFAULT_TOLERANCE, githubJson };
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

/**
 * Runs the bench as `opts` says, printing to stdout (progress to stderr). Resolves to the exit code: 0, or 1 when a
 * check failed or a gated figure regressed. A baseline that cannot be used throws INVALID_CONFIG before anything runs.
 */
export async function runBench(opts: BenchOptions): Promise<number> {
  const baseline: Baseline | null = opts.compare === null ? null : readBaseline(opts.compare, opts.quick ? 'quick' : 'full');
  const plan = opts.quick ? QUICK : FULL;
  const runs = (section: Section): boolean => opts.only === null || opts.only === section;
  const started = performance.now();
  const date = new Date().toISOString(); // report metadata only; nothing here feeds the engine
  const machine = machineInfo();
  const threadsBefore = threadCount();

  const print = (s = ''): void => void process.stdout.write(`${s}\n`);
  print(`Unwind benchmarks (${opts.quick ? 'quick' : 'full'}${opts.only ? `, only ${opts.only}` : ''}), ${date}`);
  print(`machine: ${machineLine(machine)}; load average at start ${machine.loadAverage.join(' ')}`);
  print('book (bench/fixtures.ts): `size` cross positions in 8 markets (4 margin tiers), held by 98%..40% of accounts,');
  print('      2..8 markets per account (~5.8); slots in seeded random account order; + 2 victim accounts; seed 0x' + SEED.toString(16));

  const scan: ScanSizeResult[] = [];
  if (runs('scan')) {
    for (const p of plan.scan) scan.push(await runScanThroughput(p, WORKERS, SEED, log));
    print();
    print('Scan throughput: one full epoch = pushPrices (all 8 markets) + await step(): phase 1 over every position,');
    print('phase 2 over every account, executor, decode. positions/s from the median epoch; epoch times in microseconds.');
    print('"vs seq-read": positions/s over a plain main-thread loop summing size + entryPrice + flags of the same slots.');
    print('Rows of one size are sampled in interleaved, rotating rounds. The "kernel inline" rows run one phase on the');
    print('main thread (single-threaded, no pool), to show where an epoch spends its time.');
    print();
    print(scanTable(scan));
    print();
    print('Speedup (median epoch):');
    print(speedupLines(scan));
    print();
    print("Check: each engine's phase-2 results after its last epoch vs one single-threaded pass of the same kernels:");
    print(coverageLines(scan));
  }

  let latency: LatencyResult | null = null;
  if (runs('latency')) {
    latency = await runPushToOrderLatency(plan.latency, WORKERS, SEED + 1, log);
    print();
    print(`Push-to-order latency (autoEpoch): expire(victim's last order), upsertPosition(victim, same values), then`);
    print(`t0 = hrtime, pushPrice(victim's`);
    print(`market, -1%); t1 = hrtime in the onOrder listener when the victim's order arrives. Microseconds. "touched":`);
    print(`accounts holding the pushed market (phase 1 rescans only that market). Samples rotate over engines and victims;`);
    print(`spill = orders or margin calls for any other account (must be 0).`);
    print();
    print(latencyTable(latency));
  }

  let feed: FeedResult | null = null;
  if (runs('feed')) {
    feed = await runFeed(plan.feed, SEED + 2, log);
    print();
    print(feedSection(feed, plan.feed));
  }

  let oracle: OracleResult | null = null;
  if (runs('oracle')) {
    oracle = await runOracle(plan.oracle, SEED + 3, log);
    print();
    print(oracleSection(oracle));
  }

  let journal: JournalResult | null = null;
  if (runs('journal')) {
    journal = await runJournal(plan.journal, SEED + 4, log);
    print();
    print(journalSection(journal));
  }

  let strategies: StrategiesResult | null = null;
  if (runs('strategies')) {
    strategies = await runExecutorStrategies(plan.strategies, SEED + 5, log);
    print();
    print(strategiesSection(strategies, plan.strategies));
  }

  const kernels: KernelsResult[] = [];
  if (runs('kernels')) {
    for (const p of plan.kernels) kernels.push(await runKernels(p, SEED, log));
    print();
    print(kernelsSection(kernels));
  }

  let scaling: ScalingResult | null = null;
  if (runs('scaling')) {
    scaling = await runScaling(plan.scaling, SEED, log, SCALING_SVG);
    print();
    print(scalingSection(scaling, plan.scaling));
  }

  let replication: ReplicationResult | null = null;
  if (runs('replication')) {
    replication = await runReplication(plan.replication, SEED + 6, log);
    print();
    print(replicationSection(replication));
  }

  const threadsAfter = threadsBefore === null ? null : await settledThreadCount(threadsBefore);
  const leaked = threadsBefore === null || threadsAfter === null ? 0 : Math.max(0, threadsAfter - threadsBefore);
  const wallSeconds = (performance.now() - started) / 1000;
  const end = machineInfo();
  if (scan.length > 0 || latency !== null) {
    print();
    print('Building the books (input path, main thread):');
    print(buildLines(scan, latency));
  }
  print();
  print(
    threadsBefore === null
      ? 'threads: not counted (no /proc/self/task)'
      : `threads: ${threadsBefore} before the first engine, ${threadsAfter} after closing all: ` +
          (leaked === 0 ? 'none left behind' : `${leaked} LEFT BEHIND`),
  );
  print(`wall time ${wallSeconds.toFixed(1)} s; load average at end ${end.loadAverage.join(' ')}`);

  // A failed check means a figure measured something other than it says: say so in the exit code too.
  const failed =
    scan.some((r) => r.coverage.some((c) => c.mismatched > 0)) ||
    (latency?.rows.some((x) => x.spill.orders + x.spill.marginCalls > 0) ?? false) ||
    feedFailed(feed) ||
    journalFailed(journal) ||
    strategiesFailed(strategies) ||
    kernelsFailed(kernels) ||
    leaked > 0;
  if (failed) print('CHECKS FAILED: see the coverage lines, the spill column, the feed checks and the thread count above');

  // The ratios the gate compares (compare.ts): same-run ratios only, never absolute times.
  const results = { scan, latency, feed, oracle, journal, strategies, kernels, scaling, replication };
  const figures = figuresOf(results);
  const targets = targetRows(results);
  print();
  print('Targets (issue 16; reported, not gated: the full run measures the sizes a quick run leaves out):');
  print();
  print(targetsTable(targets));
  let regressed = false;
  if (baseline !== null) {
    const rows = compareFigures(baseline.figures, figures, { tolerance: opts.tolerance, sectionsRun: new Set(SECTIONS.filter(runs)) });
    regressed = comparisonFailed(rows);
    print();
    print(`Gate: this run's ratios against ${opts.compare}, tolerance ${(opts.tolerance * 100).toFixed(0)}% (gated rows first;`);
    print('"better" says which way is an improvement; a verdict in capitals, REGRESSED, MISSING or INVALID, fails the run):');
    print();
    const notRun = rows.filter((r) => r.verdict === 'not run').length;
    print(comparisonTable(rows.filter((r) => r.verdict !== 'not run')));
    if (notRun > 0) print(`(and ${notRun} figures of the baseline from sections this run left out: not run)`);
    print();
    const bad = rows.filter((r) => r.fails);
    print(regressed ? `GATE FAILED: ${bad.length} gated figure${bad.length === 1 ? '' : 's'} (${bad.map((r) => r.name).join('; ')})` : 'gate passed');
  }

  if (opts.json) {
    const doc = {
      benchmark: 'unwind',
      command: `node ${process.argv.slice(1).join(' ')}`,
      date,
      mode: opts.quick ? 'quick' : 'full',
      only: opts.only,
      seed: SEED,
      machine: { ...machine, loadAverageAtEnd: end.loadAverage },
      plan: {
        scan: runs('scan') ? plan.scan : [],
        latency: runs('latency') ? plan.latency : null,
        feed: runs('feed') ? plan.feed : null,
        oracle: runs('oracle') ? plan.oracle : null,
        journal: runs('journal') ? plan.journal : null,
        strategies: runs('strategies') ? plan.strategies : null,
        kernels: runs('kernels') ? plan.kernels : [],
      },
      units: {
        micros: 'microseconds',
        positionsPerSecond: 'positions per second, from the median sample',
        ticksPerSecond: 'ticks (or frames, bytes) per second, median over rounds',
        nanosPerTick: 'nanoseconds of main-thread time per tick',
        oracleCost: 'nanoseconds per call (tinybench latency)',
        journalAppend: 'records, bytes and ticks per second, median over rounds; appendNanosPerRecord in nanoseconds; durableMicros in microseconds',
        strategies: 'epoch and executor in microseconds per epoch; ratios to ioc; models in nanoseconds per call, shareOfEpoch a fraction of the ioc epoch p50',
      },
      scan,
      latency,
      feed,
      oracle,
      journal,
      strategies,
      kernels,
      threads: { before: threadsBefore, after: threadsAfter, leftBehind: leaked },
      checksPassed: !failed,
      wallSeconds,
      // What --compare reads back from a baseline: the ratios, each with its direction and whether it gates.
      figures,
      targets,
    };
    writeFileSync(opts.json, `${JSON.stringify(doc, null, 2)}\n`);
    log(`wrote ${opts.json}`);
  }
  if (opts.githubJson) {
    const context = `unwind bench ${opts.quick ? '--quick' : '(full)'}; ${machineLine(machine)}`;
    const { bigger, smaller } = githubBenchmarkJson(figures, context);
    writeFileSync(opts.githubJson, `${JSON.stringify(bigger, null, 2)}\n`);
    writeFileSync(smallerPath(opts.githubJson), `${JSON.stringify(smaller, null, 2)}\n`);
    log(`wrote ${opts.githubJson} (customBiggerIsBetter, ${bigger.length} figures) and ${smallerPath(opts.githubJson)} (customSmallerIsBetter, ${smaller.length})`);
  }
  return failed || regressed ? 1 : 0;
}

/** `node dist/bench/run.js ...` (npm run bench); imported by the CLI, it runs nothing by itself. */
function isEntry(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  (async () => {
    const opts = parseBenchArgs(process.argv.slice(2));
    if (opts === 'help') process.stdout.write(`${USAGE}\n`);
    else process.exitCode = await runBench(opts);
  })().catch((e: unknown) => {
    if (e instanceof UnwindError) {
      process.stderr.write(`${e.code}: ${e.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    }
  });
}
