#!/usr/bin/env node
/**
 * Thread: main. The `unwind` command: `unwind --help` lists the commands, `unwind COMMAND --help` gives every flag of
 * one with its default (src/cli/args.ts builds both from the tables below), `unwind --version` the package's version.
 * Exit status: 0; 1 when the run failed (a journal that cannot be written, a port taken by another process); 2 for a
 * bad command line (with the command's usage line on stderr), config or input.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCode, UnwindError } from '../errors.js';
import { checkScenario, parseScenario } from '../scenario.js';
import { backtestSvg, formatBacktest, runBacktest, strategyKind, strategyName } from '../sim/backtest.js';
import { executionLines, runDemo } from '../sim/demo.js';
import { runFeedDemo } from '../sim/feed-demo.js';
import { INSURANCE_SEED, type MoneySummary } from '../sim/tally.js';
import { helpText, intFlag, parseCommand, portOf, usageLine, UsageError, version, type CommandSpec } from './args.js';
import { assertPortFree, runServe } from './serve.js';
import { serveCluster } from './serve-cluster.js';
import { SERVE_ENV, serveConfigFrom } from './settings.js';
import { Presets, SingleBar } from 'cli-progress';
import { formatSummary, replayJournal } from '../engine/replay.js';

/** The example scenario shipped with the package (package.json "files"): `unwind check` without a FILE reads it. */
const EXAMPLE_SCENARIO = fileURLToPath(new URL('../../../examples/scenario.json', import.meta.url));

const CORES_DEFAULT = 'cores - 1, in [1, 4]';

const DEMO: CommandSpec = {
  name: 'demo',
  summary: `Server, price publisher, matching engine and risk desk over loopback WebSocket, orders filled by the venue
simulator's books (--embedded: the same world in-process, no sockets, one price per market; --journal DIR records
it for unwind replay).`,
  flags: {
    seed: { value: 'N', help: "the world's seed: book, price paths, venue", default: '7' },
    accounts: { value: 'N', help: 'accounts in the book', default: '50000' },
    steps: { value: 'N', help: 'price steps', default: '200' },
    workers: { value: 'N', help: 'scan worker threads', default: CORES_DEFAULT },
    print: { value: 'N', help: 'orders printed per step', default: '4' },
    'interval-ms': { value: 'N', help: 'wall time per price step at least (feed demo)', default: '10' },
    strategy: { value: 'KIND', help: 'execution strategy: ioc, twap, disposal, almgren-chriss, dutch-auction, adaptive', default: 'ioc' },
    host: { value: 'HOST', help: 'interface the feed server listens on (feed demo)', default: '127.0.0.1' },
    port: { value: 'N', help: 'its port; 0 picks a free one (feed demo)', default: '0' },
    embedded: { help: 'in-process, no sockets' },
    journal: { value: 'DIR', help: 'with --embedded: record the run for unwind replay', default: 'none' },
  },
};

const SERVE: CommandSpec = {
  name: 'serve',
  summary: `The binary feed server (README "Wire protocol") in front of the engine, until SIGINT or SIGTERM. Each setting
comes from its flag, else its environment variable, else the config file, else its default (docs/configuration.md).`,
  flags: {
    config: { value: 'FILE', help: 'the config file, JSON (schemas/serve-config.schema.json)', default: 'none', env: SERVE_ENV.config },
    host: { value: 'HOST', help: 'interface to listen on, server.host', default: '127.0.0.1', env: SERVE_ENV.host },
    port: { value: 'N', help: 'TCP port, server.port; 0 picks a free one', default: '9001', env: SERVE_ENV.port },
    'stats-every': { value: 'S', help: 'a stats line every S seconds, 0: none', default: '10' },
    'log-level': { value: 'LEVEL', help: 'trace, debug, info, warn, error, fatal or silent (JSON lines; human lines on a terminal)', default: 'info', env: 'UNWIND_LOG_LEVEL' },
    cluster: { value: 'FILE', help: 'run as one replica of a replicated engine on NATS JetStream (README "Replication")', default: 'none' },
    node: { value: 'NAME', help: "with --cluster: this replica's name, else the cluster file's node or UNWIND_NODE", default: 'none' },
  },
  notes: `environment: ${SERVE_ENV.publisherTokens}, ${SERVE_ENV.subscriberTokens}, ${SERVE_ENV.adminTokens} (comma-separated)
and ${SERVE_ENV.tokens} (a JSON array of { token, role, ... }) replace the file's token lists; without any token,
one publisher and one subscriber token are generated and printed.
exit status: 0 after a signal; 1 when the port is taken or the journal cannot be written; 2 for a bad flag or config.`,
};

const CHECK: CommandSpec = {
  name: 'check',
  args: '[FILE]',
  summary: 'Evaluate a scenario (markets, accounts, config) for one epoch and print a JSON report (README "Scenario check").',
  flags: { compact: { help: 'one line of JSON' } },
  notes: `FILE: a scenario (JSON); default: the example shipped with the package, ${EXAMPLE_SCENARIO}`,
};

const REPLAY: CommandSpec = {
  name: 'replay',
  args: 'DIR',
  summary: `Replay a journal (README "Journal"): a summary and the SHA-256 of the order and event stream, the same for
any worker count.`,
  flags: {
    workers: { value: 'N', help: 'scan worker threads; 0 scans on the main thread', default: '0' },
    json: { help: 'the summary as JSON' },
    progress: { help: 'a progress bar even when stderr is not a terminal' },
  },
};

const BACKTEST: CommandSpec = {
  name: 'backtest',
  summary: `The execution strategies against the venue simulator (README "Backtest"); scenarios gbm, jump, cascade,
flash-crash or a CSV of trades or candles.`,
  flags: {
    scenario: { value: 'NAME|FILE', help: 'comma-separated scenarios or CSV files', default: 'all four' },
    strategies: { value: 'a,b,...', help: 'strategies to compare', default: 'all' },
    seeds: { value: 'N', help: 'seeds per scenario', default: '3' },
    seed: { value: 'N', help: 'the first seed', default: '1' },
    accounts: { value: 'N', help: 'accounts in the book', default: '2000' },
    json: { help: 'the report as JSON' },
    svg: { value: 'FILE', help: 'also write a plot', default: 'none' },
  },
};

/** \`unwind bench\` parses its own flags (bench/run.ts); this is its help and usage. */
const BENCH_USAGE = `usage: unwind bench [--quick] [--only SECTION] [--json [FILE]] [--compare FILE [--tolerance T]] [--github-json FILE]
  --quick              sizes 1e5 and 1e6, fewer samples (about 5.5 min on 2 quiet cores): the CI run
  --only SECTION       one section: scan, latency, feed, oracle, journal, strategies, kernels, scaling or replication
  --json [FILE]        also write every figure, the ratios and the machine to FILE (default bench-results.json)
  --compare FILE       the gate: compare this run's same-run ratios with a baseline written by --json (same mode)
  --tolerance T        how much worse a gated ratio may get, a fraction in [0, 1) (default 0.2)
  --github-json FILE   the ratios for github-action-benchmark: FILE (tool customBiggerIsBetter) and
                       FILE.smaller.json with .json dropped from FILE (tool customSmallerIsBetter)
  -h, --help           print this help and exit
  --version            print the version and exit
exit status: 0; 1 when a check failed or a gated ratio regressed; 2 for a bad flag or baseline (before any run)
`;

const COMMANDS = [DEMO, SERVE, CHECK, REPLAY, BACKTEST];

const USAGE = `usage: unwind COMMAND [options]      (unwind COMMAND --help: every option with its default)
       unwind --version

${COMMANDS.map((c) => `  ${usageLine(c)}\n${c.summary.replace(/\n/g, ' ').replace(/(.{1,100})(\s+|$)/g, '               $1\n')}`).join('')}  ${BENCH_USAGE.split('\n')[0]!.slice('usage: '.length)}
               the benchmarks (README "Benchmarks") and their regression gate (unwind bench --help)
`;

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

type Values = Readonly<Record<string, string | boolean | undefined>>;
const text = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const int = intFlag;

async function demo(values: Values): Promise<void> {
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
  const strategy = strategyKind(text(values.strategy) ?? 'ioc', '--strategy');
  if (values.embedded === true) {
    for (const flag of ['host', 'port', 'interval-ms'] as const) {
      if (values[flag] !== undefined) throw new UnwindError(ErrorCode.InvalidConfig, 'applies to the feed demo, not --embedded', `--${flag}`);
    }
    const journal = text(values.journal);
    const s = await runDemo({ ...common, printPerEpoch: int(values.print, 'print', 4), journal, strategy });
    console.log('--- summary ---');
    console.log(`epochs               ${s.epochs}`);
    console.log(`positions            ${s.positions}`);
    console.log(`liquidation orders   ${s.orders} (${s.accountsLiquidated} accounts, ${quote(s.notionalLiquidated)} quote notional)`);
    console.log(`margin calls         ${s.marginCalls}`);
    printMoney(s);
    for (const line of executionLines(s)) console.log(line);
    console.log(`epoch latency        p50 ${s.epochMicros.p50} us, p99 ${s.epochMicros.p99} us, max ${s.epochMicros.max} us (fills from the venue, price push to orders)`);
    console.log(`order stream sha256  ${s.orderStreamDigest}`);
    if (journal !== undefined) {
      console.log(`journal              ${journal}: ${s.journalRecords} records; \`npx unwind replay ${journal}\` prints this output sha256:`);
      console.log(`output sha256        ${s.outputDigest}`);
    }
    console.log(`wall time            ${wall()}`);
    return;
  }
  if (values.journal !== undefined) throw new UnwindError(ErrorCode.InvalidConfig, 'applies with --embedded only', '--journal');
  const host = text(values.host) ?? '127.0.0.1';
  if (host.trim() === '') throw new UnwindError(ErrorCode.InvalidConfig, 'expected a host name or address', '--host');
  const port = values.port === undefined ? 0 : portOf(text(values.port) ?? '', '--port');
  const printPerFrame = int(values.print, 'print', 4);
  const intervalMs = int(values['interval-ms'], 'interval-ms', 10);
  await assertPortFree(host, port);
  const s = await runFeedDemo({ ...common, printPerFrame, intervalMs, strategy, host, port });
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

async function serveCommand(values: Values): Promise<void> {
  const every = int(values['stats-every'], 'stats-every', 10);
  const configFile = text(values.config) ?? process.env[SERVE_ENV.config];
  const config = serveConfigFrom({ config: text(values.config), host: text(values.host), port: text(values.port) });
  if (values.cluster !== undefined) return serveCluster({ config, cluster: text(values.cluster)!, node: text(values.node) });
  // Logs, probes and the recovery progress bar: src/cli/serve.ts (README "Observability").
  await runServe({ config, configFile, statsEverySeconds: every, logLevel: text(values['log-level']) });
}

async function check(values: Values, positionals: readonly string[]): Promise<void> {
  if (positionals.length > 1) throw new UsageError(CHECK, `expected one scenario file, got ${positionals.length}`);
  const file = positionals[0] ?? EXAMPLE_SCENARIO;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UnwindError('INVALID_SCENARIO', `cannot read JSON from ${file}: ${(e as Error).message}`);
  }
  const report = await checkScenario(parseScenario(json));
  process.stdout.write(JSON.stringify(report, null, values.compact === true ? undefined : 2) + '\n');
}

async function replay(values: Values, positionals: readonly string[]): Promise<void> {
  const dir = positionals[0];
  if (dir === undefined || positionals.length > 1) throw new UsageError(REPLAY, `expected one journal directory, got ${positionals.length}`);
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

async function backtest(values: Values): Promise<void> {
  const list = (v: string | boolean | undefined): string[] | undefined => text(v)?.split(',').map((x) => x.trim()).filter((x) => x !== '');
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
  const svg = text(values.svg);
  if (svg !== undefined) writeFileSync(svg, backtestSvg(report, series));
  process.stdout.write(values.json === true ? `${JSON.stringify(report)}\n` : `${formatBacktest(report)}\n`);
  const runs = report.scenarios.reduce((n, sc) => n + sc.results.reduce((m, r) => m + r.runs.length, 0), 0);
  process.stderr.write(`backtest: ${runs} runs in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s${svg === undefined ? '' : `; ${svg} written`}\n`);
}

async function benchCommand(argv: string[]): Promise<void> {
  if (argv.includes('--version')) {
    process.stdout.write(`${version()}\n`);
    return;
  }
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

const RUN: Readonly<Record<string, (values: Values, positionals: readonly string[]) => Promise<void>>> = {
  demo,
  serve: serveCommand,
  check,
  replay,
  backtest,
};

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'bench') return benchCommand(rest);
  const spec = COMMANDS.find((c) => c.name === command);
  if (spec !== undefined) {
    const parsed = parseCommand(spec, rest);
    if (parsed.kind === 'help') return void process.stdout.write(helpText(spec));
    if (parsed.kind === 'version') return void process.stdout.write(`${version()}\n`);
    return RUN[spec.name]!(parsed.values, parsed.positionals).catch((e: unknown) => {
      // A flag's bad value is a bad command line: its usage line follows the error.
      if (e instanceof UnwindError && e.field?.startsWith('--') === true) throw new UsageError(spec, `${e.code}: ${e.message}`);
      throw e;
    });
  }
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    case '--version':
    case '-v':
      process.stdout.write(`${version()}\n`);
      return;
    default:
      throw new UsageError(undefined, `unknown command ${JSON.stringify(command)}`);
  }
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    const usage = e.command === undefined ? USAGE : `usage: ${usageLine(e.command)}\n(unwind ${e.command.name} --help: every option with its default)\n`;
    process.stderr.write(`unwind${e.command === undefined ? '' : ` ${e.command.name}`}: ${e.message}\n${usage}`);
    process.exitCode = 2;
  } else if (e instanceof UnwindError) {
    process.stderr.write(`unwind: ${e.code}: ${e.message}\n`);
    process.exitCode = e.code === ErrorCode.AddressInUse ? 1 : 2;
  } else {
    process.stderr.write(`unwind: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
});
