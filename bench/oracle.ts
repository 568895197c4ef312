/**
 * The oracle layer's cost: what aggregating a source's report costs per tick, and what signatures add to
 * the time from a report to the liquidation order it causes.
 *
 * Topology 1: MainThreadReportCost (tinybench; main thread alone, no epoch runs)
 *
 *   +------------------------------------------------------------------------------------------+
 *   | main thread: one call per iteration                                                      |
 *   |   aggregate            aggregate() of 5 weighted quotes (pure: clamp, votes, percentiles) |
 *   |   direct tick          pushPriceColumns, 1 row, a plain market: the baseline              |
 *   |   report, unsigned     pushReports, 1 report (signatures off): check, take, aggregate 5   |
 *   |                        sources, guards (TWAP, confidence, frozen), mark, table write      |
 *   |   report, signed       the same with its Ed25519 signature verified (node:crypto)         |
 *   +------------------------------------------------------------------------------------------+
 *
 * Topology 2: OneToNScanPoolReportToOrderLatency, as push-to-order-latency.ts (2 scan workers, autoEpoch), but the
 * victim's market (BTC-USD, the most held) is an oracle market of 5 sources and a sample pushes 3 sources' reports
 * (one batch) at -1% instead of a direct price: t0 before pushReports, t1 in onOrder. Two engines over the same book,
 * signatures required (3 verifications per sample) and off, sampled alternately.
 *
 * Topology 3: OneToNVerifyPoolSignedIngest (main thread -> N verify workers -> main thread; no epoch runs)
 *
 *   main thread: batch -------> intake (copy, pack) --postMessage--> verify worker 1..N (node:crypto Ed25519)
 *                                                                          |
 *   landed: engine.pushTicks  <---- in arrival order, sealed verdicts <----+
 *
 *   Signed reports per second from the first batch handed over to the last one landed (in the tables), for batches of
 *   1 and of 100 reports: inline (engine.pushTicks verifies on the main thread, the path before the workers) against
 *   the intake with 1 and 2 verify workers (src/oracle/intake.ts, what the feed server runs), and the same reports
 *   unsigned with signatures off (the engine's own cost, the ceiling); same report stream, fresh engines,
 *   configurations interleaved over rounds (median). "main us/report": the main thread's own CPU time per report
 *   (Linux schedstat of this thread; elsewhere event-loop active time), whose inverse is what the main thread alone
 *   could ingest: the cap that verifying inline puts on it.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Bench } from 'tinybench';
import { aggregate } from '../src/oracle/aggregate.js';
import { SourceSigner, signReports } from '../src/oracle/keys.js';
import type { OracleConfig } from '../src/config-types.js';
import { Engine } from '../src/index.js';
import { BYTES_PER_SIGNED_TICK, VerifyingIntake } from '../src/oracle/intake.js';
import { SignatureVerifier } from '../src/oracle/verifier.js';
import { tickBatchOf, type Tick, type TickBatch } from '../src/oracle/report.js';
import { buildEngine, cloneEngine } from './fixtures.js';
import { EngineProbe, nextTurn } from './push-to-order-latency.js';
import { fmtCount } from './scan-throughput.js';
import { int, PERCENTILE_HEADER, percentileCells, table } from './report.js';
import type { Percentiles } from './stats.js';

export interface OraclePlan {
  /** Iterations per tinybench task (after warm-up). */
  readonly iterations: number;
  readonly latency: { readonly positions: number; readonly samples: number; readonly warmup: number };
  /** Topology 3: signed reports per configuration and rounds (default: `iterations` reports, 3 rounds; 2 under 10,000). */
  readonly ingest?: { readonly reports: number; readonly rounds: number };
}

/** One configuration of Topology 3 (median over rounds). */
export interface IngestRow {
  /**
   * 'inline': verified on the main thread; 'workers': on `workers` verify workers through the intake; 'unsigned': the
   * same reports unsigned (signatures off), inline: the engine's own cost, the ceiling for the other two.
   */
  readonly path: 'inline' | 'workers' | 'unsigned';
  readonly workers: number;
  readonly batch: number;
  readonly reports: number;
  /** Reports per second, first batch handed over to last landed. */
  readonly reportsPerSecond: number;
  /** The main thread's busy microseconds per report. */
  readonly mainMicrosPerReport: number;
}

export interface CostRow {
  readonly name: string;
  /** Nanoseconds per call. */
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

export interface OracleResult {
  readonly cost: CostRow[];
  readonly positions: number;
  readonly latency: { readonly signatures: 'required' | 'off'; readonly micros: Percentiles }[];
  readonly ingest: IngestRow[];
}

type Log = (line: string) => void;

const SOURCES = [1, 2, 3, 4, 5];
const WEIGHTS = [3, 2, 2, 1, 1];
const signers = SOURCES.map((id) => SourceSigner.fromSeed(new Uint8Array(32).fill(id)));
const signerOf = (id: number): SourceSigner => signers[id - 1]!;

function oracleConfig(market: number, signatures: 'required' | 'off'): OracleConfig {
  return { signatures, markets: [{ market, sources: SOURCES.map((id, i) => ({ id, weight: WEIGHTS[i]!, publicKey: signerOf(id).publicKeyBase64 })) }] };
}

/** Reports of `count` rounds: each round one report per source, prices wandering by a few basis points around `base`. */
function reportStream(market: number, base: number, rounds: number, t0: number, sources = SOURCES): Tick[] {
  const out: Tick[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const source of sources) {
      const price = base * (1 + (((r * 7 + source * 3) % 11) - 5) * 1e-4);
      out.push({ market, source, price, confidence: base * 1e-4, eventTimeUs: t0 + r * 1_000 + source, sourceSequence: r + 1 });
    }
  }
  return out;
}

async function costs(plan: OraclePlan, log: Log): Promise<CostRow[]> {
  const market = 1;
  const tiers = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];
  const engines: Engine[] = [];
  const start = async (signatures: 'required' | 'off'): Promise<Engine> => {
    const e = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 4, positions: 4 }, oracle: oracleConfig(market, signatures) });
    engines.push(e);
    e.addMarket({ id: market, symbol: 'BTC-USD', price: 60_000, tiers });
    e.addMarket({ id: 2, symbol: 'ETH-USD', price: 3_000, tiers });
    return e;
  };
  try {
    const unsigned = await start('off');
    const signed = await start('required');
    const total = plan.iterations + 1_000;
    const rounds = Math.ceil(total / SOURCES.length) + 1;
    const plain = reportStream(market, 60_000, rounds, 1_000_000);
    log(`oracle: signing ${fmtCount(plain.length)} reports for the signed rows ...`);
    const signatures = signReports(plain, signerOf);
    const quotes = SOURCES.map((source, i) => ({ source, price: 60_000 + i, confidence: 6, weight: WEIGHTS[i]!, eventTimeUs: 0 }));
    let u = 0;
    let s = 0;
    let d = 0;
    const ids = new Float64Array([2]);
    const prices = new Float64Array(1);
    const bench = new Bench({ iterations: plan.iterations, time: 0, warmupIterations: 1_000, warmupTime: 0 });
    bench
      .add('aggregate (5 quotes)', () => void aggregate(quotes, 0))
      .add('direct tick (baseline)', () => {
        prices[0] = 3_000 + (d++ % 7);
        unsigned.pushPriceColumns(ids, prices, 1);
      })
      .add('report, unsigned', () => unsigned.pushReports([plain[u++]!]))
      .add('report, signed', () => {
        const i = s++;
        signed.pushReports([plain[i]!], signatures.subarray(i * 64, i * 64 + 64));
      });
    await bench.run();
    return bench.tasks.map((t) => {
      const r = t.result;
      if (r.state !== 'completed') throw new Error(`${t.name}: ${r.state}`);
      return { name: t.name, p50: r.latency.p50 * 1e6, p99: r.latency.p99 * 1e6, mean: r.latency.mean * 1e6 };
    });
  } finally {
    for (const e of engines) await e.close();
  }
}

async function latency(plan: OraclePlan['latency'], seed: number, log: Log): Promise<OracleResult['latency'] & { positions: number }> {
  const engines: Engine[] = [];
  try {
    log(`oracle latency ${fmtCount(plan.positions)}: building the book ...`);
    const market = 1; // BTC-USD, the first victim's market (fixtures.ts)
    const first = await buildEngine({ positions: plan.positions, seed, distressedEvery: 0 }, { scanWorkers: 2, autoEpoch: true, oracle: oracleConfig(market, 'required') });
    engines.push(first.engine);
    const book = first.book;
    await first.engine.step();
    engines.push(await cloneEngine(first.engine, book, { scanWorkers: 2, autoEpoch: true, oracle: oracleConfig(market, 'off') }));
    const victim = book.victims.find((v) => v.market.id === market)!;
    const base = victim.market.price;
    const t0 = 1_000_000;
    // Every source reports the base price once: the market resumes (it starts paused until 3 sources are fresh).
    const opening = reportStream(market, base, 1, t0).map((r) => ({ ...r, price: base, confidence: 0 }));
    for (const e of engines) {
      e.pushReports(opening, e === first.engine ? signReports(opening, signerOf) : undefined);
      await e.step();
      await nextTurn();
    }
    const probes = engines.map((e, k) => {
      const sign = k === 0;
      return new EngineProbe(e, book, (engine, _v, price, i) => {
        const reports = [1, 2, 3].map((source) => ({ market, source, price, confidence: 0, eventTimeUs: t0 + (i + 1) * 1_000, sourceSequence: i + 2 }));
        engine.pushReports(reports, sign ? signReports(reports, signerOf) : undefined);
      });
    });
    for (let i = 0; i < plan.warmup + plan.samples; i++) {
      for (const p of probes) {
        const nanos = await p.sample(victim, i);
        if (i >= plan.warmup) p.recorders[book.victims.indexOf(victim)]!.recordSince(0n, nanos);
        await nextTurn();
      }
    }
    const rows = probes.map((p, k) => {
      p.detach();
      const spill = p.spill.orders + p.spill.marginCalls;
      if (spill > 0) throw new Error(`oracle latency: ${spill} orders or margin calls for accounts other than the victim`);
      return { signatures: k === 0 ? ('required' as const) : ('off' as const), micros: p.recorders[book.victims.indexOf(victim)]!.summary() };
    });
    return Object.assign(rows, { positions: book.totalPositions });
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
}

/** Configurations of Topology 3, in the order each round runs them. */
const INGEST_CONFIGS: readonly { readonly path: IngestRow['path']; readonly workers: number; readonly batch: number }[] = [1, 100].flatMap((batch) => [
  { path: 'unsigned' as const, workers: 0, batch },
  { path: 'inline' as const, workers: 0, batch },
  { path: 'workers' as const, workers: 1, batch },
  { path: 'workers' as const, workers: 2, batch },
]);
/** Reports in the warm-up batch each run lands before its clock starts (workers started, code paths compiled). */
const INGEST_WARMUP = 200;

async function ingestRun(reports: readonly TickBatch[], warmup: TickBatch, workers: number, signatures: 'required' | 'off'): Promise<{ seconds: number; mainMicros: number; reports: number }> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 4, positions: 4 }, oracle: oracleConfig(1, signatures) });
  const tiers = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];
  engine.addMarket({ id: 1, symbol: 'BTC-USD', price: 60_000, tiers });
  const intake = workers > 0 ? new VerifyingIntake(new SignatureVerifier(engine.oracleConfig, { workers }), { maxBytes: 8 << 20, maxBytesPerOwner: 2 << 20 }) : undefined;
  try {
    const n = reports.reduce((sum, b) => sum + b.length, 0);
    if (intake === undefined) engine.pushTicks(warmup);
    else await intake.pushTicks(engine, warmup);
    const cpu0 = mainThreadBusyNanos();
    const t0 = performance.now();
    if (intake === undefined) {
      for (const b of reports) engine.pushTicks(b);
    } else {
      // The sender keeps as much in flight as its share allows (the server's default per connection), as a busy source would.
      const window: Promise<void>[] = [];
      let head = 0;
      for (const b of reports) {
        while (intake.stats().bytes + b.length * BYTES_PER_SIGNED_TICK > intake.limits.maxBytesPerOwner) await window[head++];
        window.push(intake.pushTicks(engine, b));
      }
      await Promise.all(window.slice(head));
    }
    const seconds = (performance.now() - t0) / 1000;
    const busyMicros = (mainThreadBusyNanos() - cpu0) / 1000;
    if (engine.oracleStats().accepted !== n + warmup.length) throw new Error(`oracle ingest: ${engine.oracleStats().accepted} of ${n + warmup.length} reports landed`);
    return { seconds, mainMicros: busyMicros / n, reports: n };
  } finally {
    await intake?.close();
    await engine.close();
  }
}

const SLEEP = new Int32Array(new SharedArrayBuffer(4));

/**
 * The main thread's time on a CPU so far, nanoseconds: Linux's per-thread schedstat (this thread's, not the verify
 * workers'), else the event loop's active time (wall clock: it counts time the thread waited for a core too).
 */
function mainThreadBusyNanos(): number {
  try {
    // A 1 ms sleep first: the kernel brings a thread's CPU time up to date when it stops running, not on every read.
    Atomics.wait(SLEEP, 0, 0, 1);
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return performance.eventLoopUtilization().active * 1e6;
  }
}

/** Topology 3 alone (the full section runs it after the other two). */
export async function ingest(plan: OraclePlan, log: Log): Promise<IngestRow[]> {
  const count = plan.ingest?.reports ?? plan.iterations;
  const rounds = plan.ingest?.rounds ?? (count < 10_000 ? 2 : 3);
  const stream = reportStream(1, 60_000, Math.ceil((count + INGEST_WARMUP) / SOURCES.length), 1_000_000);
  log(`oracle ingest: signing ${fmtCount(stream.length)} reports ...`);
  const signatures = signReports(stream, signerOf);
  const batchOf = (from: number, to: number, signed: boolean): TickBatch => tickBatchOf(stream.slice(from, to), signed ? signatures.slice(from * 64, to * 64) : undefined);
  const warmup = { signed: batchOf(0, INGEST_WARMUP, true), unsigned: batchOf(0, INGEST_WARMUP, false) };
  const batches = new Map<string, TickBatch[]>();
  for (const { path, batch } of INGEST_CONFIGS) {
    const key = `${path === 'unsigned'} ${batch}`;
    if (batches.has(key)) continue;
    const list: TickBatch[] = [];
    for (let i = INGEST_WARMUP; i + batch <= INGEST_WARMUP + count; i += batch) list.push(batchOf(i, i + batch, path !== 'unsigned'));
    batches.set(key, list);
  }
  const samples = INGEST_CONFIGS.map(() => [] as { seconds: number; mainMicros: number; reports: number }[]);
  for (let r = 0; r < rounds; r++) {
    log(`oracle ingest: round ${r + 1} of ${rounds} (${INGEST_CONFIGS.length} configurations, ${fmtCount(count)} reports each) ...`);
    for (const [k, c] of INGEST_CONFIGS.entries()) {
      const unsigned = c.path === 'unsigned';
      samples[k]!.push(await ingestRun(batches.get(`${unsigned} ${c.batch}`)!, unsigned ? warmup.unsigned : warmup.signed, c.workers, unsigned ? 'off' : 'required'));
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return INGEST_CONFIGS.map((c, k) => {
    const s = samples[k]!;
    return {
      path: c.path,
      workers: c.workers,
      batch: c.batch,
      reports: s[0]!.reports,
      reportsPerSecond: median(s.map((x) => x.reports / x.seconds)),
      mainMicrosPerReport: median(s.map((x) => x.mainMicros)),
    };
  });
}

export async function runOracle(plan: OraclePlan, seed: number, log: Log): Promise<OracleResult> {
  const cost = await costs(plan, log);
  const l = await latency(plan.latency, seed, log);
  const rows = await ingest(plan, log);
  return { cost, positions: l.positions, latency: [...l], ingest: rows };
}

/** Topology 3's table, as the section prints it. */
export function ingestTable(rows: readonly IngestRow[]): string {
  return table(['path', 'batch', 'reports/s', 'vs inline', 'main us/report', 'main cap /s'], ingestRows(rows));
}

/** The section of the bench report. */
export function oracleSection(r: OracleResult): string {
  const base = r.cost.find((c) => c.name.startsWith('direct'))!;
  const ns = (x: number): string => (x >= 10_000 ? `${(x / 1000).toFixed(1)} us` : `${Math.round(x)} ns`);
  const costRows = r.cost.map((c) => [c.name, ns(c.p50), ns(c.p99), ns(c.mean), `${(c.p50 / base.p50).toFixed(1)}x`]);
  const off = r.latency.find((l) => l.signatures === 'off')!.micros;
  const latencyRows = r.latency.map((l) => [`signatures ${l.signatures}`, ...percentileCells(l.micros), `${(l.micros.p50 / off.p50).toFixed(2)}x`]);
  return [
    'Oracle, per tick (MainThreadReportCost, tinybench): one call on the main thread, no epoch. "vs direct": p50 over the',
    'direct tick of a plain market (pushPriceColumns, 1 row).',
    '',
    table(['call', 'p50', 'p99', 'mean', 'vs direct'], costRows),
    '',
    `Oracle, report in -> order out (OneToNScanPoolReportToOrderLatency, ${fmtCount(r.positions)} positions, 2 scan workers):`,
    '3 sources report -1% in one pushReports batch; microseconds to the victim\'s onOrder. Same book, alternating samples.',
    '',
    table(['engine', ...PERCENTILE_HEADER, 'p50 vs off'], latencyRows),
    '',
    `Oracle, signed ingest (OneToNVerifyPoolSignedIngest, ${fmtCount(r.ingest[0]?.reports ?? 0)} reports; ${availableParallelism()} cores): reports/s from the`,
    'first batch handed over to the last landed; "main us/report": the main thread\'s CPU time per report; "main cap": its inverse.',
    '',
    ingestTable(r.ingest),
  ].join('\n');
}

function ingestRows(rows: readonly IngestRow[]): string[][] {
  return rows.map((x) => {
    const inline = rows.find((y) => y.path === 'inline' && y.batch === x.batch)!;
    return [
      x.path === 'unsigned' ? 'unsigned (engine only)' : x.path === 'inline' ? 'inline (main thread)' : `${x.workers} verify worker${x.workers > 1 ? 's' : ''}`,
      String(x.batch),
      int(x.reportsPerSecond),
      `${(x.reportsPerSecond / inline.reportsPerSecond).toFixed(2)}x`,
      x.mainMicrosPerReport.toFixed(1),
      int(1e6 / x.mainMicrosPerReport),
    ];
  });
}
