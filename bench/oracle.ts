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
 */
import { Bench } from 'tinybench';
import { aggregate } from '../src/oracle/aggregate.js';
import { SourceSigner, signReports } from '../src/oracle/keys.js';
import type { OracleConfig } from '../src/config-types.js';
import type { Tick } from '../src/oracle/report.js';
import { Engine } from '../src/index.js';
import { buildEngine, cloneEngine } from './fixtures.js';
import { EngineProbe, nextTurn } from './push-to-order-latency.js';
import { fmtCount } from './scan-throughput.js';
import { PERCENTILE_HEADER, percentileCells, table } from './report.js';
import type { Percentiles } from './stats.js';

export interface OraclePlan {
  /** Iterations per tinybench task (after warm-up). */
  readonly iterations: number;
  readonly latency: { readonly positions: number; readonly samples: number; readonly warmup: number };
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

export async function runOracle(plan: OraclePlan, seed: number, log: Log): Promise<OracleResult> {
  const cost = await costs(plan, log);
  const l = await latency(plan.latency, seed, log);
  return { cost, positions: l.positions, latency: [...l] };
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
  ].join('\n');
}
