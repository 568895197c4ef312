#!/usr/bin/env node
/**
 * Thread: main. The `unwind` command.
 *   unwind demo  [--seed N] [--accounts N] [--steps N] [--workers N] [--print N] [--interval-ms N] [--strategy KIND] [--embedded [--journal DIR]]
 *   unwind serve [--config FILE] [--stats-every S] [--log-level LEVEL]   the binary feed server, until SIGINT / SIGTERM
 *   unwind check FILE [--compact]      evaluate a scenario and print a JSON report
 *   unwind replay DIR [--workers N] [--json] [--progress]
 *   unwind backtest [--scenario NAME|FILE] [--strategies a,b,...] [--seeds N] [--json] [--svg FILE]
 *   unwind bench [--quick] [--only SECTION] [--json [FILE]] [--compare FILE [--tolerance T]] [--github-json FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { UnwindError } from '../errors.js';
import { checkScenario, parseScenario } from '../scenario.js';
import { backtestSvg, formatBacktest, runBacktest, strategyKind, strategyName } from '../sim/backtest.js';
import { executionLines, runDemo } from '../sim/demo.js';
import { runFeedDemo } from '../sim/feed-demo.js';
import { INSURANCE_SEED, type MoneySummary } from '../sim/tally.js';
import { runServe } from './serve.js';
import { Presets, SingleBar } from 'cli-progress';
import { formatSummary, replayJournal } from '../engine/replay.js';

const USAGE = `usage:
  unwind demo  [--seed N] [--accounts N] [--steps N] [--workers N] [--print N] [--interval-ms N] [--strategy KIND] [--embedded [--journal DIR]]
               server, price publisher, matching engine and risk desk over loopback WebSocket, orders filled by
               the venue simulator's books; --strategy: ioc (default), twap, disposal, almgren-chriss,
               dutch-auction, adaptive (--embedded: the same world in-process, no sockets, one price per market;
               --journal DIR records it for unwind replay)
  unwind serve [--config FILE] [--stats-every S] [--log-level LEVEL]
               the binary feed server (README "Wire protocol"), until SIGINT or SIGTERM; logs JSON lines
               (human lines on a terminal) at LEVEL or UNWIND_LOG_LEVEL: trace, debug, info (default), warn,
               error, fatal, silent; /metrics, /healthz, /readyz (README "Observability")
  unwind check FILE [--compact]
               evaluate a scenario and print a JSON report
  unwind replay DIR [--workers N] [--json] [--progress]
               replay a journal (README "Journal"): a summary and the SHA-256 of the order and event stream,
               the same for any worker count (--progress: a progress bar even when stderr is not a terminal)
  unwind backtest [--scenario NAME|FILE] [--strategies a,b,...] [--seeds N] [--seed N] [--accounts N] [--json] [--svg FILE]
               the execution strategies against the venue simulator (README "Backtest"); scenarios gbm, jump,
               cascade, flash-crash (default: all) or a CSV of trades or candles
  unwind bench [--quick] [--only SECTION] [--json [FILE]] [--compare FILE [--tolerance T]] [--github-json FILE]
               the benchmarks (README "Benchmarks"); --compare: the regression gate against a baseline written
               by --json, exit 1 when a gated ratio is worse by more than the tolerance (unwind bench --help)
`;

const BENCH_USAGE = `usage: unwind bench [--quick] [--only SECTION] [--json [FILE]] [--compare FILE [--tolerance T]] [--github-json FILE]
  --quick              sizes 1e5 and 1e6, fewer samples (about 5.5 min on 2 quiet cores): the CI run
  --only SECTION       one section: scan, latency, feed, oracle, journal, strategies or kernels
  --json [FILE]        also write every figure, the ratios and the machine to FILE (default bench-results.json)
  --compare FILE       the gate: compare this run's same-run ratios with a baseline written by --json (same mode)
  --tolerance T        how much worse a gated ratio may get, a fraction in [0, 1) (default 0.2)
  --github-json FILE   the ratios for github-action-benchmark: FILE (tool customBiggerIsBetter) and
                       FILE.smaller.json with .json dropped from FILE (tool customSmallerIsBetter)
exit status: 0; 1 when a check failed or a gated ratio regressed; 2 for a bad flag or baseline (before any run)
`;

function int(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UnwindError('INVALID_CONFIG', `expected a non-negative integer, got ${JSON.stringify(v)}`, `--${name}`);
  return n;
}

const quote = (x: number): string => Math.round(x).toLocaleString('en-US');

/**
 * The demos' money lines: partial and whole closes, fees, and where every quote of deficit went: the insurance funds,
 * the ADL counterparties, the socialized side, or an unresolved event; the bad debt left; the ledger's sum (always 0).
 */
function printMoney(s: MoneySummary): void {
  console.log(`closes               ${s.partialCloses} partial, ${s.wholeCloses} whole (fills that left part of the position, or none)`);
  console.log(`insurance funds      ${quote(s.fees)} quote of fees in, ${quote(s.insuranceCover)} paid out for fills beyond bankruptcy; ${quote(s.insuranceFunds)} held (seeded ${quote(INSURANCE_SEED)} per market)`);
  console.log(`deleveraged          ${s.deleveragedInstead} positions at their bankruptcy value instead of a fill the funds could not pay, ${s.deleveragedAfterFill} after one; ADL counterparties absorbed ${quote(s.adlAbsorbed)} quote`);
  console.log(`fill deficits        ${s.deficit.toFixed(2)} quote beyond the funds: ${s.adlCharged.toFixed(2)} paid by the ADL queue, ${s.socialized.toFixed(2)} socialized, ${s.unresolved.toFixed(2)} unresolved (${s.unresolvedEvents} events); the rest by what was left of the position, deleveraged`);
  console.log(`bad debt left        ${s.badDebt.toFixed(2)} quote on accounts with no position (every quote named by an unresolved event); ledger sum ${s.ledgerTotal} atoms`);
}

async function demo(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' },
      accounts: { type: 'string' },
      steps: { type: 'string' },
      workers: { type: 'string' },
      print: { type: 'string' },
      'interval-ms': { type: 'string' },
      embedded: { type: 'boolean' },
      journal: { type: 'string' },
      strategy: { type: 'string' },
    },
  });
  const workers = values.workers === undefined ? undefined : int(values.workers, 'workers', 2);
  const common = {
    seed: int(values.seed, 'seed', 7),
    accounts: Math.max(1, int(values.accounts, 'accounts', 50_000)),
    steps: Math.max(1, int(values.steps, 'steps', 200)),
    scanWorkers: workers,
    log: (line: string) => console.log(line),
    progress: bookBar(),
  };
  const t0 = process.hrtime.bigint();
  const wall = (): string => `${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`;
  const strategy = strategyKind(values.strategy ?? 'ioc', '--strategy');
  if (values.embedded === true) {
    const s = await runDemo({ ...common, printPerEpoch: int(values.print, 'print', 4), journal: values.journal, strategy });
    console.log('--- summary ---');
    console.log(`epochs               ${s.epochs}`);
    console.log(`positions            ${s.positions}`);
    console.log(`liquidation orders   ${s.orders} (${s.accountsLiquidated} accounts, ${quote(s.notionalLiquidated)} quote notional)`);
    console.log(`margin calls         ${s.marginCalls}`);
    printMoney(s);
    for (const line of executionLines(s)) console.log(line);
    console.log(`epoch latency        p50 ${s.epochMicros.p50} us, p99 ${s.epochMicros.p99} us, max ${s.epochMicros.max} us (fills from the venue, price push to orders)`);
    console.log(`order stream sha256  ${s.orderStreamDigest}`);
    if (values.journal !== undefined) {
      console.log(`journal              ${values.journal}: ${s.journalRecords} records; \`npx unwind replay ${values.journal}\` prints this output sha256:`);
      console.log(`output sha256        ${s.outputDigest}`);
    }
    console.log(`wall time            ${wall()}`);
    return;
  }
  const s = await runFeedDemo({ ...common, printPerFrame: int(values.print, 'print', 4), intervalMs: int(values['interval-ms'], 'interval-ms', 10), strategy });
  const st = s.server;
  const rejected = Object.entries(s.rejectedByCode).map(([code, n]) => `${n} ${code}`).join(', ') || 'none';
  console.log('--- summary ---');
  console.log(`feed                 ${s.url}: ${st.framesIn} frames in (${st.ticksIn} ticks, ${st.positionUpdatesIn} position and ${st.collateralUpdatesIn} collateral updates, ${st.fillsIn} fills, ${st.expiriesIn} expiries), ${st.framesOut} frames out`);
  console.log(`rejected frames      ${rejected}`);
  console.log(`epochs               ${s.epochs}`);
  console.log(`positions            ${s.positions}`);
  console.log(`liquidation orders   ${s.orders} received by the risk desk and sent to the venue as IOCs at their limit (${s.accountsLiquidated} accounts, ${quote(s.notionalLiquidated)} quote notional)`);
  console.log(`margin calls         ${s.marginCalls}`);
  printMoney(s);
  for (const line of executionLines(s)) console.log(line);
  console.log(`fills                ${s.fills} reported over the socket (the levels' average price, the filled quantity, the execution time), ${s.expiries} orders expired with a rest; ${s.beyondLimit} beyond their order's limit`);
  console.log(`tick to order        p50 ${s.tickToOrderMicros.p50} us, p99 ${s.tickToOrderMicros.p99} us, max ${s.tickToOrderMicros.max} us over ${s.tickToOrderMicros.samples} steps (price frame sent -> its epoch's first orders frame at the desk; all actors share this process)`);
  console.log(`order stream sha256  ${s.orderStreamDigest} (the same on every run: the demo steps the engine, one epoch per price step)`);
  console.log(`wall time            ${wall()}`);
}

/**
 * The demo's book loading as a progress bar on standard error, only when it is a terminal; it stops once the whole
 * book is loaded (before the next line is printed).
 */
function bookBar(): ((done: number, total: number) => void) | undefined {
  if (process.stderr.isTTY !== true) return undefined;
  const bar = new SingleBar({ format: 'book |{bar}| {percentage}% {value}/{total}, eta {eta_formatted}', stream: process.stderr, clearOnComplete: true }, Presets.shades_classic);
  let started = false;
  return (done, total) => {
    if (!started) bar.start(total, 0);
    started = true;
    bar.update(done);
    if (done >= total) bar.stop();
  };
}

async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, 'stats-every': { type: 'string' }, 'log-level': { type: 'string' } } });
  // Logs, probes and the recovery progress bar: src/cli/serve.ts (README "Observability").
  await runServe({ configFile: values.config, statsEverySeconds: int(values['stats-every'], 'stats-every', 10), logLevel: values['log-level'] });
}

async function check(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { compact: { type: 'boolean' } } });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new UnwindError('INVALID_SCENARIO', 'expected exactly one scenario file', 'FILE');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UnwindError('INVALID_SCENARIO', `cannot read JSON from ${file}: ${(e as Error).message}`);
  }
  const report = await checkScenario(parseScenario(json));
  process.stdout.write(JSON.stringify(report, null, values.compact === true ? undefined : 2) + '\n');
}

async function replay(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { workers: { type: 'string' }, json: { type: 'boolean' }, progress: { type: 'boolean' } },
  });
  const dir = positionals[0];
  if (dir === undefined || positionals.length > 1) throw new UnwindError('INVALID_CONFIG', 'expected exactly one journal directory', 'DIR');
  const showBar = values.progress === true || process.stderr.isTTY === true;
  const bar = showBar
    ? new SingleBar(
        {
          format: 'replay |{bar}| {percentage}% {value}/{total} MB, eta {eta_formatted}',
          formatValue: (v, _o, type) => (type === 'value' || type === 'total' ? (v / 1e6).toFixed(1) : String(v)),
          noTTYOutput: values.progress === true,
          stream: process.stderr,
        },
        Presets.shades_classic,
      )
    : undefined;
  let started = false;
  const summary = await replayJournal(dir, {
    workers: int(values.workers, 'workers', 0),
    log: (line) => process.stderr.write(`${line}\n`),
    progress: (bytes, total) => {
      if (!started) bar?.start(total, 0);
      started = true;
      bar?.update(bytes);
    },
  }).finally(() => bar?.stop());
  process.stdout.write(values.json === true ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
}

async function backtest(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string' },
      strategies: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      accounts: { type: 'string' },
      json: { type: 'boolean' },
      svg: { type: 'string' },
    },
  });
  const list = (v: string | undefined): string[] | undefined => v?.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const bar = process.stderr.isTTY === true ? new SingleBar({ format: 'backtest |{bar}| {value}/{total} runs, {run}, eta {eta_formatted}', stream: process.stderr }, Presets.shades_classic) : undefined;
  const t0 = process.hrtime.bigint();
  const { report, series } = await runBacktest({
    scenarios: list(values.scenario),
    strategies: list(values.strategies)?.map((k) => strategyName(k, '--strategies')),
    seeds: Math.max(1, int(values.seeds, 'seeds', 3)),
    firstSeed: int(values.seed, 'seed', 1),
    accounts: Math.max(1, int(values.accounts, 'accounts', 2_000)),
    progress: (done, total, run) => {
      if (done === 0) bar?.start(total, 0, { run });
      else bar?.update(done, { run });
    },
  }).finally(() => bar?.stop());
  if (values.svg !== undefined) writeFileSync(values.svg, backtestSvg(report, series));
  process.stdout.write(values.json === true ? `${JSON.stringify(report)}\n` : `${formatBacktest(report)}\n`);
  const runs = report.scenarios.reduce((n, sc) => n + sc.results.reduce((m, r) => m + r.runs.length, 0), 0);
  process.stderr.write(`backtest: ${runs} runs in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s${values.svg === undefined ? '' : `; ${values.svg} written`}\n`);
}

async function benchCommand(argv: string[]): Promise<void> {
  // Loaded on demand: the bench and its measuring libraries (tinybench, hdr-histogram-js) only for this command.
  const { parseBenchArgs, runBench } = await import('../../bench/run.js');
  let opts: ReturnType<typeof parseBenchArgs>;
  try {
    opts = parseBenchArgs(argv);
  } catch (e) {
    if (!(e instanceof UnwindError)) throw e;
    process.stderr.write(`unwind: ${e.code}: ${e.message}\n${BENCH_USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (opts === 'help') process.stdout.write(BENCH_USAGE);
  else process.exitCode = await runBench(opts);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'demo':
      return demo(rest);
    case 'serve':
      return serveCommand(rest);
    case 'check':
      return check(rest);
    case 'replay':
      return replay(rest);
    case 'backtest':
      return backtest(rest);
    case 'bench':
      return benchCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`unwind: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      process.exitCode = 2;
  }
}

main().catch((e: unknown) => {
  if (e instanceof UnwindError) {
    process.stderr.write(`unwind: ${e.code}: ${e.message}\n`);
    process.exitCode = 2;
  } else if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`unwind: ${e.message}\n${USAGE}`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`unwind: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
});
