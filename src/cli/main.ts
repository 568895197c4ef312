#!/usr/bin/env node
/**
 * Thread: main. The `unwind` command.
 *   unwind demo  [--seed N] [--accounts N] [--steps N] [--workers N] [--print N]
 *   unwind check FILE [--compact]      evaluate a scenario and print a JSON report
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { UnwindError } from '../errors.js';
import { checkScenario, parseScenario } from '../scenario.js';
import { runDemo } from '../sim/demo.js';

const USAGE = `usage:
  unwind demo  [--seed N] [--accounts N] [--steps N] [--workers N] [--print N]
  unwind check FILE [--compact]
`;

function int(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UnwindError('INVALID_CONFIG', `expected a non-negative integer, got ${JSON.stringify(v)}`, `--${name}`);
  return n;
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
    },
  });
  const workers = values.workers === undefined ? undefined : int(values.workers, 'workers', 2);
  const t0 = process.hrtime.bigint();
  const s = await runDemo({
    seed: int(values.seed, 'seed', 7),
    accounts: Math.max(1, int(values.accounts, 'accounts', 50_000)),
    steps: Math.max(1, int(values.steps, 'steps', 200)),
    scanWorkers: workers,
    printPerEpoch: int(values.print, 'print', 4),
    log: (line) => console.log(line),
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log('--- summary ---');
  console.log(`epochs               ${s.epochs}`);
  console.log(`positions            ${s.positions}`);
  console.log(`liquidation orders   ${s.orders} (${s.accountsLiquidated} accounts, ${Math.round(s.notionalLiquidated).toLocaleString('en-US')} quote notional)`);
  console.log(`margin calls         ${s.marginCalls}`);
  console.log(`bad debt             ${s.badDebt.toFixed(2)} quote (left for the insurance fund)`);
  console.log(`epoch latency        p50 ${s.epochMicros.p50} us, p99 ${s.epochMicros.p99} us, max ${s.epochMicros.max} us (price push to orders)`);
  console.log(`order stream sha256  ${s.orderStreamDigest}`);
  console.log(`wall time            ${seconds.toFixed(1)} s`);
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

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'demo':
      return demo(rest);
    case 'check':
      return check(rest);
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
