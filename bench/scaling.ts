/**
 * Topology: OneToNScanPoolPushToOrderLatency by book size, in process, automatic epochs, the default scan mode
 * ('index': src/engine/trigger-index.ts).
 *
 *   for each size (1e4, 1e5, 1e6; the full run adds 1e7):
 *     build the book (bench/fixtures.ts) -> one settling epoch -> memory readings
 *     samples: upsertPosition(victim) ; t0 ; pushPrice(victim's market -1%) ; onOrder(victim) ; t1   (EngineProbe)
 *     close the engine
 *
 * Measures, per size: push-to-order p50 and p99 (microseconds) and the p50's growth over the smallest size's (the
 * issue's target: less than 2x from 1e4 to 1e7); the tables' bytes per position slot (the shared buffer over the
 * position capacity, every table included); the process's resident memory after the book is built. Writes an SVG
 * plot of p50 and p99 against the book size (log-log) to `svgPath`.
 */
import { writeFileSync } from 'node:fs';
import { buildEngine } from './fixtures.js';
import { EngineProbe, nextTurn } from './push-to-order-latency.js';
import { int, table } from './report.js';
import { fmtCount } from './scan-throughput.js';
import { type Percentiles } from './stats.js';

export interface ScalingPlan {
  readonly sizes: readonly number[];
  readonly samples: number;
  readonly warmup: number;
  readonly workers: number;
}

export interface ScalingRow {
  readonly positions: number;
  readonly accounts: number;
  readonly micros: Percentiles;
  /** p50 over the smallest size's p50. */
  readonly growth: number;
  readonly tableBytesPerPosition: number;
  readonly residentMiB: number;
  readonly buildSeconds: number;
}

export interface ScalingResult {
  readonly rows: ScalingRow[];
  readonly svg: string | null;
}

type Log = (line: string) => void;

export async function runScaling(plan: ScalingPlan, seed: number, log: Log, svgPath: string | null): Promise<ScalingResult> {
  const rows: ScalingRow[] = [];
  for (const size of plan.sizes) {
    log(`scaling ${fmtCount(size)}: building the book ...`);
    const started = performance.now();
    const { engine, book } = await buildEngine({ positions: size, seed, distressedEvery: 0 }, { scanWorkers: plan.workers, autoEpoch: true });
    try {
      await engine.step(); // the first epoch builds the trigger index
      const buildSeconds = (performance.now() - started) / 1000;
      const residentMiB = process.memoryUsage().rss / 2 ** 20;
      await nextTurn();
      const probe = new EngineProbe(engine, book);
      const victim = book.victims[0]!;
      for (let i = 0; i < plan.warmup + plan.samples; i++) {
        const nanos = await probe.sample(victim, i);
        if (i >= plan.warmup) probe.recorders[0]!.recordSince(0n, nanos);
        await nextTurn();
      }
      probe.detach();
      const micros = probe.recorders[0]!.summary();
      if (probe.spill.orders + probe.spill.marginCalls > 0) throw new Error(`scaling ${fmtCount(size)}: ${probe.spill.orders} orders and ${probe.spill.marginCalls} margin calls for other accounts`);
      rows.push({
        positions: book.totalPositions,
        accounts: book.capacity.accounts,
        micros,
        growth: rows.length === 0 ? 1 : micros.p50 / rows[0]!.micros.p50,
        tableBytesPerPosition: engine.tables.buffer.byteLength / book.capacity.positions,
        residentMiB,
        buildSeconds,
      });
    } finally {
      await engine.close();
    }
  }
  const svg = svgPath === null ? null : scalingSvg(rows);
  if (svgPath !== null && svg !== null) writeFileSync(svgPath, svg);
  return { rows, svg: svgPath };
}

export function scalingSection(r: ScalingResult, plan: ScalingPlan): string {
  const rows = r.rows.map((x) => [
    fmtCount(x.positions - 2),
    int(x.accounts),
    int(x.micros.p50),
    int(x.micros.p99),
    `${x.growth.toFixed(2)}x`,
    int(x.tableBytesPerPosition),
    int(x.residentMiB),
    x.buildSeconds.toFixed(1),
  ]);
  return [
    `Push-to-order latency by book size (default scan mode 'index', ${plan.workers} scan workers, autoEpoch; ${plan.samples} samples after ${plan.warmup}):`,
    'the victim in BTC-USD (held by 98% of accounts); every other account far from its margin-call level. "growth": p50 over the',
    'smallest size\'s p50 (target: < 2x from 1e4 to 1e7). "table B/pos": the shared tables over the position capacity, all',
    'tables included; "RSS": the process after the build (earlier sizes\' engines closed, not necessarily returned to the OS).',
    '',
    table(['size', 'accounts', 'p50 us', 'p99 us', 'growth', 'table B/pos', 'RSS MiB', 'build s'], rows),
    ...(r.svg === null ? [] : ['', `plot: ${r.svg}`]),
  ].join('\n');
}

/** p50 and p99 against positions, log-log, as a small standalone SVG. */
export function scalingSvg(rows: readonly ScalingRow[]): string | null {
  if (rows.length === 0) return null;
  const W = 640;
  const H = 360;
  const pad = { l: 70, r: 20, t: 30, b: 50 };
  const xs = rows.map((r) => Math.log10(r.positions));
  const ys = rows.flatMap((r) => [Math.log10(Math.max(1, r.micros.p50)), Math.log10(Math.max(1, r.micros.p99))]);
  const x0 = Math.floor(Math.min(...xs));
  const x1 = Math.ceil(Math.max(...xs));
  const y0 = Math.floor(Math.min(...ys));
  const y1 = Math.max(y0 + 1, Math.ceil(Math.max(...ys)));
  const X = (v: number): number => pad.l + ((v - x0) / Math.max(1, x1 - x0)) * (W - pad.l - pad.r);
  const Y = (v: number): number => H - pad.b - ((v - y0) / (y1 - y0)) * (H - pad.t - pad.b);
  const line = (pick: (r: ScalingRow) => number, color: string, label: string, dy: number): string => {
    const points = rows.map((r) => `${X(Math.log10(r.positions)).toFixed(1)},${Y(Math.log10(Math.max(1, pick(r)))).toFixed(1)}`).join(' ');
    const dots = rows.map((r) => `<circle cx="${X(Math.log10(r.positions)).toFixed(1)}" cy="${Y(Math.log10(Math.max(1, pick(r)))).toFixed(1)}" r="3" fill="${color}"/>`).join('');
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>${dots}<text x="${W - pad.r - 60}" y="${pad.t + dy}" fill="${color}" font-size="12">${label}</text>`;
  };
  const grid: string[] = [];
  for (let v = x0; v <= x1; v++) grid.push(`<line x1="${X(v)}" y1="${pad.t}" x2="${X(v)}" y2="${H - pad.b}" stroke="#ddd"/><text x="${X(v)}" y="${H - pad.b + 18}" font-size="12" text-anchor="middle">1e${v}</text>`);
  for (let v = y0; v <= y1; v++) grid.push(`<line x1="${pad.l}" y1="${Y(v)}" x2="${W - pad.r}" y2="${Y(v)}" stroke="#ddd"/><text x="${pad.l - 8}" y="${Y(v) + 4}" font-size="12" text-anchor="end">${int(10 ** v)} us</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    ...grid,
    `<text x="${W / 2}" y="${H - 12}" font-size="13" text-anchor="middle">positions in the book</text>`,
    `<text x="${pad.l}" y="18" font-size="13">push-to-order latency (index scan mode)</text>`,
    line((r) => r.micros.p50, '#1f77b4', 'p50', 0),
    line((r) => r.micros.p99, '#d62728', 'p99', 16),
    '</svg>',
    '',
  ].join('\n');
}
