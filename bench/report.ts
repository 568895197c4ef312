/** The readable tables on stdout and the machine description shared by stdout and the JSON file. */
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';
import { type LatencyResult } from './push-to-order-latency.js';
import { fmtCount, type ScanSizeResult } from './scan-throughput.js';
import type { Percentiles } from './stats.js';

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly availableParallelism: number;
  readonly node: string;
  readonly os: string;
  readonly totalMemoryBytes: number;
  readonly loadAverage: readonly number[];
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    availableParallelism: availableParallelism(),
    node: process.version,
    os: `${type()} ${release()} ${process.arch}`,
    totalMemoryBytes: totalmem(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function machineLine(m: MachineInfo): string {
  return `${m.cpu}, ${m.cores} cores, node ${m.node}, ${m.os}, ${(m.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB`;
}

export const int = (x: number): string => Math.round(x).toLocaleString('en-US');

/** The cells under PERCENTILE_HEADER: sample count, then p50, p90, p99, p99.9 and max in whole microseconds. */
export const PERCENTILE_HEADER = ['n', 'p50 us', 'p90 us', 'p99 us', 'p99.9 us', 'max us'] as const;
export function percentileCells(p: Percentiles): string[] {
  return [String(p.n), int(p.p50), int(p.p90), int(p.p99), int(p.p999), int(p.max)];
}
/** A rate for a table cell: 1.2 M, 34.5 k. */
export const rate = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(1)} M` : `${(x / 1e3).toFixed(1)} k`);

/** Left-aligns the first `left` columns, right-aligns the rest. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function scanTable(results: readonly ScanSizeResult[]): string {
  const header = ['topology', 'size', 'accounts', 'workers', 'n', 'positions/s', 'vs seq-read', 'p50 us', 'p99 us', 'p99.9 us', 'max us'];
  const rows = results.flatMap((r) =>
    r.rows.map((x) => [
      x.topology,
      fmtCount(r.size),
      int(x.accounts),
      x.workers > 0 ? String(x.workers) : '-',
      String(x.micros.n),
      rate(x.positionsPerSecond),
      `${x.ratioToSequentialRead.toFixed(3)}`,
      int(x.micros.p50),
      int(x.micros.p99),
      int(x.micros.p999),
      int(x.micros.max),
    ]),
  );
  return table(header, rows, 1);
}

export function speedupLines(results: readonly ScanSizeResult[]): string {
  return results
    .filter((r) => r.speedup)
    .map((r) => {
      const x = r.speedup!;
      return `  ${fmtCount(r.size).padEnd(4)} ${x.workers[1]} workers / ${x.workers[0]} worker: ${x.ratio.toFixed(2)}x (ratio of medians), ${x.pairedRatio.toFixed(2)}x (median of per-round ratios)`;
    })
    .join('\n');
}

export function coverageLines(results: readonly ScanSizeResult[]): string {
  return results
    .flatMap((r) =>
      r.coverage.map((c) => {
        const what = `  ${fmtCount(r.size).padEnd(4)} ${c.workers} worker${c.workers === 1 ? ' ' : 's'}: `;
        return c.mismatched === 0
          ? `${what}ok, all ${int(c.accounts)} accounts match`
          : `${what}FAILED: ${int(c.mismatched)} of ${int(c.accounts)} accounts differ (first indexes ${c.firstMismatchedIndexes.join(', ')})`;
      }),
    )
    .join('\n');
}

export function buildLines(scan: readonly ScanSizeResult[], latency: LatencyResult | null): string {
  const all = [...scan.map((r) => ({ what: 'scan', ...r })), ...(latency ? [{ what: 'latency', ...latency }] : [])];
  return all
    .map(
      (r) =>
        `  ${r.what.padEnd(7)} ${fmtCount(r.size).padEnd(4)} upsertPosition x ${int(r.positions)}: ${(r.fillMillis / 1000).toFixed(1)} s ` +
        `(${rate((r.positions * 1000) / r.fillMillis)} upserts/s); clone for the other worker count: ${(r.cloneMillis / 1000).toFixed(1)} s`,
    )
    .join('\n');
}

export function latencyTable(r: LatencyResult): string {
  const header = ['topology', 'size', 'workers', 'pushed', 'touched', ...PERCENTILE_HEADER, 'spill'];
  const rows = r.rows.map((x) => [
    x.topology,
    fmtCount(r.size),
    String(x.workers),
    x.market,
    `${(x.touchedShare * 100).toFixed(0)}%`,
    ...percentileCells(x.micros),
    String(x.spill.orders + x.spill.marginCalls),
  ]);
  return table(header, rows, 1);
}
