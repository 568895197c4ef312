/**
 * The journal's cost (src/journal): what appending and acknowledging records costs under each durability policy,
 * and what each policy adds to the time from a price to the liquidation order it causes.
 *
 * Topology 1: MainThreadJournalAppend (main thread alone, libuv's pool for fdatasync; no engine)
 *
 *   +---------------------------------+  durable(): one write()   +-------------+  fdatasync    +------+
 *   | main thread                     | ------------------------> | OS page     | ------------> | disk |
 *   | JournalWriter.appendColumns     |                           | cache       |  (libuv pool) +------+
 *   |  (Ticks, 1 | 100 | 1000 rows:   |  sync:  durable() resolves after the fdatasync  |
 *   |   copy + CRC-32 into its buffer)| <-----------------------------------------------+
 *   | every `ack` records: durable(), |  group: durable() resolves after the write(); a timer syncs
 *   |   then one event-loop turn      |         the group at most groupWindowMs (5) later
 *   +---------------------------------+
 *
 * Measures: records/s, MB/s (record bytes as in the file: 24-byte header + 48 bytes per row, 8-aligned) and
 * ticks/s from the time between the first append and the last acknowledgement (durable() resolved) of a round,
 * median over rounds; append ns per record (the appendColumns calls alone); and the latency of each durable(),
 * which under sync is the fdatasync. Each acknowledgement is followed by one event-loop turn (setImmediate), as
 * inputs arriving from a socket would be, so the writer's end-of-turn flush and group timer run as in the engine.
 * Every (case, round) writes a fresh segment in a fresh directory under os.tmpdir(), removed afterwards; a round
 * stays under the 256 MiB segment size, so no segment roll is timed; close() (the final sync) is not timed.
 * Rounds rotate over the cases after one untimed warm-up round; "vs group" compares records/s with the group row
 * of the same rows and acknowledgement interval, from the same run.
 *
 * Topology 2: OneToNScanPoolPushToOrderLatency, journaled (as push-to-order-latency.ts: 2 scan workers, autoEpoch)
 *
 *   t0 pushPrice                                                                               t1 onOrder
 *   |   append Prices                   append EpochStart            append EpochEnd               ^
 *   v   (buffer)       setImmediate     |                            |  await journal.durable()   |
 *   +-------------+   +-------------+   +-----------------------+   +-------------+   +--------------------+
 *   | main thread |-->| end of turn:|-->| scan pool (2) -> exec-|-->| main thread |-->| main thread:       |
 *   | input       |   | write (sync:|   | utor: phase 1, phase 2|   | decode      |   | sync: fdatasync    |
 *   +-------------+   | + fdatasync)|   | re-check, orders      |   +-------------+   | group: write() only|
 *                     +-------------+   +-----------------------+                     +--------------------+
 *
 * Measures: push-to-order microseconds, as push-to-order-latency.ts (EngineProbe), on three engines built the
 * same way from the same seeded book (fixtures.ts, through the API, so each journal holds the whole book):
 * no journal, journal 'group', journal 'sync', all with snapshots off (snapshotEveryRecords: Infinity) so that
 * no snapshot's capture lands in a sample. Samples rotate over the engines and victims. An extra engine, 'sync'
 * with a snapshot every few hundred records (about every 50 epochs here, each a copy of the whole tables at the
 * epoch's start on the main thread, then compress and write in the background), is sampled alone afterwards:
 * its background writes would disturb the others' samples; its ratios are to the first phase's no-journal rows.
 * At 1e6 a snapshot's background part takes seconds, so one is in flight for most of that phase (a due snapshot
 * waits for the one in flight): the row shows snapshots far more often than the default 100,000 records would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Engine } from '../src/index.js';
import { recordBytes, RecordKind } from '../src/journal/format.js';
import { COLUMNS } from '../src/engine/records.js';
import { JournalWriter } from '../src/journal/writer.js';
import { resolveJournalConfig, type Durability, type JournalConfig } from '../src/journal/config.js';
import { buildEngine, type Book } from './fixtures.js';
import { EngineProbe, nextTurn } from './push-to-order-latency.js';
import { int, PERCENTILE_HEADER, percentileCells, rate, table } from './report.js';
import { fmtCount } from './scan-throughput.js';
import { Recorder, type Percentiles } from './stats.js';

export interface JournalPlan {
  readonly append: {
    /** Timed rounds per case (after one untimed warm-up round at a tenth of the size). */
    readonly rounds: number;
    /** Records per round when every record is acknowledged. */
    readonly perRecordAcks: number;
    /** Records per round when every BATCH-th record is acknowledged. */
    readonly batchedRecords: number;
    /** Cap on a round's bytes (kept below the 256 MiB segment size). */
    readonly maxRoundBytes: number;
  };
  readonly latency: {
    readonly positions: number;
    /** Samples per (engine, victim). */
    readonly samples: number;
    readonly warmup: number;
    /** The snapshot interval (records) of the extra engine. */
    readonly snapshotEveryRecords: number;
  };
}

export interface AppendRow {
  readonly durability: Durability;
  /** A durable() after every `ackEvery` records. */
  readonly ackEvery: number;
  /** Ticks per record. */
  readonly rows: number;
  readonly recordBytes: number;
  /** Records per round. */
  readonly records: number;
  readonly rounds: number;
  /** Medians over rounds. */
  readonly recordsPerSecond: number;
  readonly bytesPerSecond: number;
  readonly ticksPerSecond: number;
  readonly appendNanosPerRecord: number;
  /** Every durable() of every timed round, microseconds. */
  readonly durableMicros: Percentiles;
  /** recordsPerSecond over the group row's with the same rows and ackEvery. */
  readonly vsGroup: number;
}

export interface JournalLatencyRow {
  readonly engine: string;
  readonly durability: Durability | 'none';
  readonly snapshotEveryRecords: number | null;
  /** 1: interleaved with the others; 2: sampled alone afterwards. */
  readonly phase: 1 | 2;
  readonly market: string;
  readonly touchedShare: number;
  readonly micros: Percentiles;
  /** p50 and p99 over the no-journal engine's, same victim. */
  readonly p50VsNone: number;
  readonly p99VsNone: number;
  readonly spill: { readonly orders: number; readonly marginCalls: number };
}

export interface JournalResult {
  readonly append: AppendRow[];
  readonly latency: {
    readonly size: number;
    readonly positions: number;
    readonly accounts: number;
    /** upsertPosition over the whole book, per engine: the input path with and without journaling. */
    readonly builds: { readonly engine: string; readonly fillMillis: number }[];
    readonly rows: JournalLatencyRow[];
  };
}

type Log = (line: string) => void;

const ROWS = [1, 100, 1_000] as const;
const BATCH = 100;
const CASES: readonly { durability: Durability; ackEvery: number }[] = [
  { durability: 'group', ackEvery: BATCH },
  { durability: 'group', ackEvery: 1 },
  { durability: 'sync', ackEvery: BATCH },
  { durability: 'sync', ackEvery: 1 },
];
const TICK_COLUMNS = COLUMNS[RecordKind.Ticks].length;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >>> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** A fresh directory under os.tmpdir(), removed after `f` whatever happens. */
async function inTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'unwind-bench-journal-'));
  try {
    return await f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `rows` ticks as the six Ticks columns: 8 markets, 5 sources, prices wandering around 100. */
function tickColumns(rows: number): Float64Array[] {
  const c = Array.from({ length: TICK_COLUMNS }, () => new Float64Array(rows));
  for (let i = 0; i < rows; i++) {
    c[0]![i] = 1 + (i % 8);
    c[1]![i] = 1 + (i % 5);
    c[2]![i] = 100 + (i % 13) * 0.01;
    c[3]![i] = 0.01;
    c[4]![i] = 1_000_000 + i;
    c[5]![i] = 1 + i;
  }
  return c;
}

interface Round {
  readonly micros: number;
  readonly appendNanos: number;
}

/** One round of one case: `records` appends in a fresh segment, a durable() and a turn every `ackEvery`. */
function appendRound(c: { durability: Durability; ackEvery: number; rows: number }, records: number, columns: readonly Float64Array[], durable: Recorder | null): Promise<Round> {
  return inTempDir(async (dir) => {
    const w = new JournalWriter(resolveJournalConfig({ dir, durability: c.durability }), 0); // opens segment 1 (synced), untimed
    try {
      let appendNanos = 0n;
      const t0 = process.hrtime.bigint();
      for (let done = 0; done < records; done += c.ackEvery) {
        const a = process.hrtime.bigint();
        for (let k = 0; k < c.ackEvery; k++) w.appendColumns(RecordKind.Ticks, c.rows, columns);
        const d = process.hrtime.bigint();
        appendNanos += d - a;
        await w.durable();
        durable?.recordSince(d);
        await nextTurn();
      }
      const micros = Number(process.hrtime.bigint() - t0) / 1000;
      return { micros, appendNanos: Number(appendNanos) };
    } finally {
      await w.close();
    }
  });
}

async function runAppend(plan: JournalPlan['append'], log: Log): Promise<AppendRow[]> {
  const cases = ROWS.flatMap((rows) => {
    const bytes = recordBytes(rows * TICK_COLUMNS * 8);
    const cap = Math.floor(plan.maxRoundBytes / bytes);
    return CASES.map((k) => {
      const wanted = k.ackEvery === 1 ? plan.perRecordAcks : plan.batchedRecords;
      const records = Math.max(k.ackEvery, Math.floor(Math.min(wanted, cap) / k.ackEvery) * k.ackEvery);
      return { ...k, rows, bytes, records, columns: tickColumns(rows), durable: new Recorder(), rounds: [] as Round[] };
    });
  });
  const started = performance.now();
  for (const c of cases) await appendRound(c, Math.max(c.ackEvery, Math.floor(c.records / 10 / c.ackEvery) * c.ackEvery), c.columns, null);
  for (let r = 0; r < plan.rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + r * 5) % cases.length]!; // rotate the order, so no case always runs first after a rest
      c.rounds.push(await appendRound(c, c.records, c.columns, c.durable));
    }
  }
  log(`journal append: ${cases.length} cases x ${plan.rounds} rounds in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const rows = cases.map((c) => {
    const recordsPerSecond = median(c.rounds.map((x) => (c.records * 1e6) / x.micros));
    return {
      durability: c.durability,
      ackEvery: c.ackEvery,
      rows: c.rows,
      recordBytes: c.bytes,
      records: c.records,
      rounds: c.rounds.length,
      recordsPerSecond,
      bytesPerSecond: recordsPerSecond * c.bytes,
      ticksPerSecond: recordsPerSecond * c.rows,
      appendNanosPerRecord: median(c.rounds.map((x) => x.appendNanos / c.records)),
      durableMicros: c.durable.summary(),
    };
  });
  return rows.map((x) => {
    const group = rows.find((g) => g.durability === 'group' && g.rows === x.rows && g.ackEvery === x.ackEvery)!;
    return { ...x, vsGroup: x.recordsPerSecond / group.recordsPerSecond };
  });
}

interface Variant {
  readonly engine: string;
  readonly durability: Durability | 'none';
  readonly snapshotEveryRecords: number | null;
}

/** Builds one engine per variant (each through the API, so journals hold the book), each in its own directory. */
async function buildVariants(variants: readonly Variant[], positions: number, seed: number, dirs: string[], engines: Engine[], log: Log): Promise<{ book: Book; fills: JournalResult['latency']['builds'] }> {
  let book: Book | undefined;
  const fills: { engine: string; fillMillis: number }[] = [];
  for (const v of variants) {
    log(`journal latency ${fmtCount(positions)}: building the book for ${v.engine} ...`);
    let journal: JournalConfig | undefined;
    if (v.durability !== 'none') {
      const dir = mkdtempSync(join(tmpdir(), 'unwind-bench-journal-'));
      dirs.push(dir);
      journal = { dir, durability: v.durability, snapshotEveryRecords: v.snapshotEveryRecords ?? Infinity };
    }
    const built = await buildEngine({ positions, seed, distressedEvery: 0 }, { scanWorkers: 2, autoEpoch: true, journal });
    engines.push(built.engine);
    book ??= built.book;
    fills.push({ engine: v.engine, fillMillis: built.fillMs });
    await built.engine.step(); // the first full epoch (all markets dirty; a due snapshot), outside the samples
    await built.engine.durable();
    await nextTurn();
  }
  return { book: book!, fills };
}

/** Interleaved samples over `engines` (rotating which goes first) and the book's victims. */
async function sample(engines: readonly Engine[], book: Book, plan: JournalPlan['latency'], log: Log): Promise<EngineProbe[]> {
  const probes = engines.map((e) => new EngineProbe(e, book));
  const started = performance.now();
  for (let i = 0; i < plan.warmup + plan.samples; i++) {
    for (let k = 0; k < probes.length; k++) {
      const p = probes[(i + k) % probes.length]!;
      for (let v = 0; v < book.victims.length; v++) {
        const nanos = await p.sample(book.victims[v]!, i);
        if (i >= plan.warmup) p.recorders[v]!.recordSince(0n, nanos);
        await nextTurn();
      }
    }
  }
  log(`  ${plan.samples} samples per engine and victim (after ${plan.warmup} warm-up) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  for (const p of probes) p.detach();
  return probes;
}

async function runLatency(plan: JournalPlan['latency'], seed: number, log: Log): Promise<JournalResult['latency']> {
  const phases: Variant[][] = [
    [
      { engine: 'no journal', durability: 'none', snapshotEveryRecords: null },
      { engine: 'journal group', durability: 'group', snapshotEveryRecords: null },
      { engine: 'journal sync', durability: 'sync', snapshotEveryRecords: null },
    ],
    [{ engine: `journal sync, snapshot/${int(plan.snapshotEveryRecords)} rec`, durability: 'sync', snapshotEveryRecords: plan.snapshotEveryRecords }],
  ];
  const dirs: string[] = [];
  const rows: Omit<JournalLatencyRow, 'p50VsNone' | 'p99VsNone'>[] = [];
  const builds: JournalResult['latency']['builds'] = [];
  let shape: Omit<JournalResult['latency'], 'builds' | 'rows'> | undefined;
  try {
    for (const [k, variants] of phases.entries()) {
      const engines: Engine[] = [];
      try {
        const { book, fills } = await buildVariants(variants, plan.positions, seed, dirs, engines, log);
        builds.push(...fills);
        shape ??= { size: plan.positions, positions: book.totalPositions, accounts: book.capacity.accounts };
        const probes = await sample(engines, book, plan, log);
        probes.forEach((p, e) => {
          const v = variants[e]!;
          book.victims.forEach((victim, i) =>
            rows.push({
              ...v,
              phase: (k + 1) as 1 | 2,
              market: victim.market.symbol ?? String(victim.market.id),
              touchedShare: (victim.accountsInMarket + 1) / book.capacity.accounts,
              micros: p.recorders[i]!.summary(),
              spill: { ...p.spill },
            }),
          );
        });
      } finally {
        await Promise.all(engines.map((e) => e.close()));
      }
    }
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
  const withRatios = rows.map((x) => {
    const none = rows.find((n) => n.durability === 'none' && n.market === x.market)!.micros;
    return { ...x, p50VsNone: x.micros.p50 / none.p50, p99VsNone: x.micros.p99 / none.p99 };
  });
  return { ...shape!, builds, rows: withRatios };
}

export async function runJournal(plan: JournalPlan, seed: number, log: Log): Promise<JournalResult> {
  const append = await runAppend(plan.append, log);
  const latency = await runLatency(plan.latency, seed, log);
  return { append, latency };
}

export function journalFailed(r: JournalResult | null): boolean {
  return r?.latency.rows.some((x) => x.spill.orders + x.spill.marginCalls > 0) ?? false;
}

const mb = (bytesPerSecond: number): string => (bytesPerSecond / 1e6).toFixed(bytesPerSecond >= 1e8 ? 0 : 1);
const ratio = (x: number): string => `${x.toFixed(2)}x`;

/** The section of the bench report. */
export function journalSection(r: JournalResult): string {
  const a = r.append;
  const appendRows = a.map((x) => [
    x.durability,
    x.ackEvery === 1 ? 'every record' : `every ${x.ackEvery}`,
    int(x.rows),
    int(x.recordBytes),
    int(x.records),
    rate(x.recordsPerSecond),
    mb(x.bytesPerSecond),
    rate(x.ticksPerSecond),
    int(x.appendNanosPerRecord),
    String(x.durableMicros.n),
    int(x.durableMicros.p50),
    int(x.durableMicros.p99),
    int(x.durableMicros.max),
    x.durability === 'group' ? '-' : ratio(x.vsGroup),
  ]);
  const l = r.latency;
  const latencyRows = l.rows.map((x) => [
    x.engine,
    x.market,
    `${(x.touchedShare * 100).toFixed(0)}%`,
    ...percentileCells(x.micros),
    x.durability === 'none' ? '-' : ratio(x.p50VsNone),
    x.durability === 'none' ? '-' : ratio(x.p99VsNone),
    String(x.spill.orders + x.spill.marginCalls),
  ]);
  const rounds = a[0]?.rounds ?? 0;
  return [
    `Journal append (MainThreadJournalAppend): JournalWriter.appendColumns of Ticks records (1, 100, 1000 rows) into a`,
    `fresh segment under ${tmpdir()}; durable() after every record or every ${BATCH}, then one event-loop turn. Rates from the`,
    `first append to the last durable() resolved, median of ${rounds} rounds (rotating order); MB = 10^6 bytes as in the file.`,
    `"append": ns per record in appendColumns alone (copy + CRC-32). durable() in microseconds over all rounds: under`,
    `sync the fdatasync; under group the write() (the group's fdatasync follows within 5 ms, off the path).`,
    `"vs group": records/s over group's, same rows and acknowledgement interval.`,
    '',
    table(['policy', 'ack', 'rows', 'record B', 'records', 'records/s', 'MB/s', 'ticks/s', 'append ns', 'durable n', 'p50 us', 'p99 us', 'max us', 'vs group'], appendRows, 2),
    '',
    `Journal, push -> order (OneToNScanPoolPushToOrderLatency, journaled; ${fmtCount(l.size)} positions, 2 scan workers, autoEpoch):`,
    `as the latency section; an epoch's orders leave after journal.durable() (sync: fdatasync; group: write()).`,
    `Phase 1 interleaves the first three engines, snapshots off (snapshotEveryRecords: Infinity); the snapshot engine`,
    `(phase 2) is sampled alone afterwards, its ratios to phase 1's no-journal rows. A sample journals 4 records.`,
    '',
    table(['engine', 'pushed', 'touched', ...PERCENTILE_HEADER, 'p50 vs none', 'p99 vs none', 'spill'], latencyRows),
    '',
    `Building the books (upsertPosition x ${int(l.positions)}, each journaled as one record): ` +
      l.builds.map((b) => `${b.engine} ${(b.fillMillis / 1000).toFixed(1)} s`).join(', '),
  ].join('\n');
}
