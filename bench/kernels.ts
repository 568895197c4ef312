/**
 * Topology: KernelsPerCore, the scan kernels alone (no engine epoch, no pool), each over the same tables.
 *
 *   1 thread:   +-------------------------+   +-------------------------+   +----------------------------------+
 *               | main: JS kernel         |   | main: WASM SIMD kernel  |   | child process: C -O3 reference   |
 *               | (typed arrays)          |   | (in place, same memory) |   | (a copy of the same bytes)       |
 *               +-------------------------+   +-------------------------+   +----------------------------------+
 *   2 threads:  main -> 2 kernel workers (kernels.worker.ts) over the same shared memory, JS or WASM; C: 2 pthreads
 *
 * Measures: one pass of phase 1 (every used slot of every market: scanMarketSlice) and one of phase 2 (every account:
 * assembleAccounts, candidates reset first) per sample, as positions/s from the median pass. The JS and WASM kernels
 * are the ones the scan workers run (src/scan/kernels.ts, src/scan/wasm); the C reference (scan-reference.c) is the
 * same loops compiled by the machine's gcc, timed inside its process. "vs C" is the median over rounds of (C's time /
 * this kernel's time) in the same round with the same thread count: a same-run ratio, robust to a noisy machine.
 * "2 vs 1" is the same kernel's 1-thread time over its 2-thread time, per round. A 2-thread time includes waking the
 * threads (postMessage to the workers, pthread_create in C), as a pool's task does.
 *
 * The book is the scan bench's (fixtures.ts), built through the engine and copied into tables allocated in a shared
 * WebAssembly.Memory. Checks, before and after the timed rounds: every kernel's pass leaves the tables byte-identical
 * to the JS kernels' (terms, equity, maintenance, candidate rows and count).
 */
import { Worker } from 'node:worker_threads';
import { resetCandidates } from '../src/concurrency/epoch.js';
import { assembleAccountsJs, scanMarketSliceJs } from '../src/scan/kernels.js';
import { wasmKernelsFor, type WasmKernels } from '../src/scan/wasm/kernels.js';
import { allocateTables, Control, type Tables } from '../src/tables/layout.js';
import { buildEngine } from './fixtures.js';
import { int, rate, table } from './report.js';
import { compileReference, removeReference, ScanReference, type Compiled } from './scan-reference.js';
import { fmtCount } from './scan-throughput.js';
import { usedPositions } from './sequential-read.js';
import { perSecond, Recorder, type Percentiles } from './stats.js';
import type { ShareTask } from './kernels.worker.js';

export interface KernelsPlan {
  readonly positions: number;
  readonly rounds: number;
  readonly warmupRounds: number;
}

export type KernelName = 'js' | 'wasm-simd' | 'c';

export interface KernelRow {
  readonly kernel: KernelName;
  readonly phase: 1 | 2;
  readonly threads: 1 | 2;
  /** Positions per second from the median pass (phase 2: terms read, one per position). */
  readonly positionsPerSecond: number;
  readonly micros: Percentiles;
  /** Median over rounds of C's time / this kernel's, same phase and threads; null without the C reference. */
  readonly ratioToC: number | null;
  /** Median over rounds of this kernel's 1-thread time / its 2-thread time (2-thread rows only). */
  readonly speedupOverOneThread: number | null;
}

export interface KernelCheck {
  readonly kernel: string;
  /** Bytes of the tables that differ from the JS kernels' pass; 0 when bit-identical. */
  readonly mismatchedBytes: number;
  /** Where the first differing byte sits (table.column[element]), or null. */
  readonly firstMismatch: string | null;
}

export interface KernelsResult {
  readonly size: number;
  readonly positions: number;
  readonly accounts: number;
  readonly tablesBytes: number;
  /** How the C reference was built, or why it was not. */
  readonly reference: { readonly compiler: string; readonly command: string } | { readonly skipped: string };
  /** Why the WASM kernel did not run, or null when it did. */
  readonly wasmSkipped: string | null;
  readonly checks: readonly KernelCheck[];
  readonly rows: readonly KernelRow[];
}

type Log = (line: string) => void;
const HEALTH = 1.5;
const SENTINEL = -7.25;

export async function runKernels(plan: KernelsPlan, seed: number, log: Log): Promise<KernelsResult> {
  log(`kernels ${fmtCount(plan.positions)}: building the book ...`);
  const built = await buildEngine({ positions: plan.positions, seed, distressedEvery: 1000 }, { scanWorkers: 0, autoEpoch: false });
  let t: Tables;
  try {
    t = allocateTables(built.engine.tables.layout.capacities, { wasmMemory: true });
    new Uint8Array(t.buffer, 0, t.layout.byteLength).set(new Uint8Array(built.engine.tables.buffer, 0, t.layout.byteLength));
  } finally {
    await built.engine.close();
  }
  const accounts = built.book.capacity.accounts;
  const positions = usedPositions(t);
  const wasm = wasmKernelsFor(t);
  const wasmSkipped = wasm !== null ? null : t.memory === undefined ? 'the tables could not be placed in a WebAssembly.Memory' : 'no WebAssembly SIMD in this runtime';
  const compiled = compileReference();
  const reference = 'skipped' in compiled ? { skipped: compiled.skipped } : { compiler: compiled.compiler, command: compiled.command };
  if ('skipped' in compiled) log(`  C reference skipped: ${compiled.skipped}`);

  // The JS kernels' pass, from cleared results: the bytes every other kernel must leave.
  clearResults(t);
  jsPass(t, 1);
  jsPass(t, 2, accounts);
  const expected = new Uint8Array(t.buffer, 0, t.layout.byteLength).slice();
  const checks: KernelCheck[] = [];
  if (wasm !== null) {
    clearResults(t);
    wasmPass(wasm, t, 1);
    wasmPass(wasm, t, 2, accounts);
    checks.push(compare('wasm-simd', t, expected, new Uint8Array(t.buffer, 0, t.layout.byteLength)));
  }
  clearResults(t);
  let c: ScanReference | null = null;
  const workers: KernelWorker[] = [];
  try {
    if (!('skipped' in compiled)) {
      c = new ScanReference(compiled, t, accounts, HEALTH);
      await c.pass(1, 1);
      await c.pass(2, 1);
      checks.push(compare('c', t, expected, await c.bytes()));
    }
    new Uint8Array(t.buffer, 0, t.layout.byteLength).set(expected);
    if (t.memory !== undefined) {
      for (let i = 0; i < 2; i++) workers.push(await KernelWorker.start(t));
    }
    const rows = await measure(t, accounts, positions, plan, { wasm, c, workers }, log);
    // After the interleaved rounds (2 threads included), the tables must still hold the expected bytes.
    checks.push(compare('js and wasm-simd, after the timed rounds', t, expected, new Uint8Array(t.buffer, 0, t.layout.byteLength), true));
    if (c !== null) checks.push(compare('c, after the timed rounds', t, expected, await c.bytes(), true));
    for (const x of checks) if (x.mismatchedBytes > 0) log(`  CHECK FAILED (${x.kernel}): ${x.mismatchedBytes} bytes differ from the JS kernels', first at ${x.firstMismatch}`);
    return { size: plan.positions, positions, accounts, tablesBytes: t.layout.byteLength, reference, wasmSkipped, checks, rows };
  } finally {
    await Promise.all(workers.map((w) => w.worker.terminate()));
    await c?.close();
    removeReference(compiled);
  }
}

/** Every kernel output set to values no kernel writes, so a pass that skips a row shows in the comparison. */
function clearResults(t: Tables): void {
  t.terms.pnl.fill(SENTINEL);
  t.terms.maintenance.fill(SENTINEL);
  t.terms.kind.fill(0xee);
  t.accounts.scanEquity.fill(SENTINEL);
  t.accounts.scanMaintenance.fill(SENTINEL);
  t.candidates.ref.fill(0xeeeeeeee);
  t.candidates.level.fill(0xee);
  resetCandidates(t);
}

/** Phase 1's slices: each market's used slots, split into `n` contiguous shares (share `i` of `n`). */
function phase1Share(t: Tables, i: number, n: number): number[] {
  const out: number[] = [];
  const { positionStart, positionCount, id } = t.markets;
  for (let m = 0; m < id.length; m++) {
    const used = positionCount[m]!;
    if (used === 0) continue;
    out.push(m, positionStart[m]! + Math.floor((used * i) / n), positionStart[m]! + Math.floor((used * (i + 1)) / n));
  }
  return out;
}

function jsPass(t: Tables, phase: 1 | 2, accounts = 0): number {
  let visited = 0;
  if (phase === 2) {
    resetCandidates(t);
    return assembleAccountsJs(t, 0, accounts, HEALTH);
  }
  const s = phase1Share(t, 0, 1);
  for (let i = 0; i < s.length; i += 3) visited += scanMarketSliceJs(t, s[i]!, s[i + 1]!, s[i + 2]!);
  return visited;
}

function wasmPass(w: WasmKernels, t: Tables, phase: 1 | 2, accounts = 0): number {
  let visited = 0;
  if (phase === 2) {
    resetCandidates(t);
    return w.assembleAccounts(0, accounts, HEALTH);
  }
  const s = phase1Share(t, 0, 1);
  for (let i = 0; i < s.length; i += 3) visited += w.scanMarketSlice(s[i]!, s[i + 1]!, s[i + 2]!);
  return visited;
}

const BYTES = { f64: 8, u32: 4, i32: 4, u8: 1 } as const;

/**
 * Differing bytes between two copies of `t`'s layout bytes, and where the first one sits. With `candidatesAsSet`
 * (a pass run on two threads, which reserve candidate rows in either order), the candidate rows are compared as
 * sorted (ref, level) pairs: rows out of place count as one differing byte each.
 */
function compare(kernel: string, t: Tables, expected: Uint8Array, got: Uint8Array, candidatesAsSet = false): KernelCheck {
  let mismatchedBytes = 0;
  let first = -1;
  const n = Math.min(expected.length, got.length);
  const { ref, level } = t.layout.tables.candidates;
  const rowsFrom = ref!.offset;
  const rowsTo = level!.offset + level!.length;
  for (let i = 0; i < n; i++) {
    if (expected[i] === got[i] || (candidatesAsSet && i >= rowsFrom && i < rowsTo)) continue;
    mismatchedBytes++;
    if (first < 0) first = i;
  }
  mismatchedBytes += Math.abs(expected.length - got.length);
  if (first < 0 && expected.length !== got.length) first = n;
  if (candidatesAsSet) {
    const a = candidateRows(t, expected);
    const b = candidateRows(t, got);
    const differing = a.filter((x, i) => x !== b[i]).length + Math.abs(a.length - b.length);
    mismatchedBytes += differing;
    if (first < 0 && differing > 0) first = rowsFrom;
  }
  return { kernel, mismatchedBytes, firstMismatch: first < 0 ? null : where(t, first) };
}

/** The candidate rows in `bytes` (a copy of `t`'s), as sorted "ref:level" strings. */
function candidateRows(t: Tables, bytes: Uint8Array): string[] {
  const { ref, level } = t.layout.tables.candidates;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = Math.min(view.getInt32(t.layout.controlOffset + Control.CandidateCount * 4, true), ref!.length);
  const rows: string[] = [];
  for (let i = 0; i < count; i++) rows.push(`${view.getUint32(ref!.offset + 4 * i, true)}:${bytes[level!.offset + i]}`);
  return rows.sort();
}

function where(t: Tables, byte: number): string {
  for (const [table, columns] of Object.entries(t.layout.tables)) {
    for (const [name, c] of Object.entries(columns)) {
      const end = c.offset + c.length * BYTES[c.type];
      if (byte >= c.offset && byte < end) return `${table}.${name}[${Math.floor((byte - c.offset) / BYTES[c.type])}]`;
    }
  }
  return `byte ${byte}`;
}

/** A kernel worker: one share at a time, answered in order. */
class KernelWorker {
  private readonly replies: ((visited: number) => void)[] = [];
  private failure: unknown = null;

  private constructor(readonly worker: Worker) {
    worker.on('message', (visited: number) => this.replies.shift()?.(visited));
    worker.on('error', (e) => (this.failure = e));
  }

  static async start(t: Tables): Promise<KernelWorker> {
    const w = new Worker(new URL('./kernels.worker.js', import.meta.url), { workerData: { memory: t.memory } });
    await new Promise<void>((resolve, reject) => {
      w.once('online', resolve);
      w.once('error', reject);
    });
    return new KernelWorker(w);
  }

  run(task: ShareTask): Promise<number> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.worker.postMessage(task);
    });
  }
}

/** One pass split over the workers (each its share); resolves when every worker has replied. */
function workersPass(workers: readonly KernelWorker[], t: Tables, kernel: ShareTask['kernel'], phase: 1 | 2, accounts: number): Promise<number[]> {
  if (phase === 2) resetCandidates(t);
  const n = workers.length;
  return Promise.all(
    workers.map((w, i) =>
      w.run({
        kernel,
        phase,
        ranges: phase === 1 ? phase1Share(t, i, n) : [Math.floor((accounts * i) / n), Math.floor((accounts * (i + 1)) / n)],
        marginCallHealth: HEALTH,
      }),
    ),
  );
}

interface Runners {
  readonly wasm: WasmKernels | null;
  readonly c: ScanReference | null;
  readonly workers: readonly KernelWorker[];
}

interface Op {
  readonly kernel: KernelName;
  readonly phase: 1 | 2;
  readonly threads: 1 | 2;
  /** One pass: its time in nanoseconds. */
  readonly run: () => Promise<number>;
}

const timed = async (f: () => unknown): Promise<number> => {
  const start = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - start);
};

async function measure(t: Tables, accounts: number, positions: number, plan: KernelsPlan, r: Runners, log: Log): Promise<KernelRow[]> {
  const ops: Op[] = [];
  for (const phase of [1, 2] as const) {
    ops.push({ kernel: 'js', phase, threads: 1, run: () => timedSync(t, phase, () => jsPass(t, phase, accounts)) });
    const wasm = r.wasm;
    if (wasm !== null) ops.push({ kernel: 'wasm-simd', phase, threads: 1, run: () => timedSync(t, phase, () => wasmPass(wasm, t, phase, accounts)) });
    const c = r.c;
    if (c !== null) ops.push({ kernel: 'c', phase, threads: 1, run: () => c.pass(phase, 1) });
    if (r.workers.length === 2) {
      ops.push({ kernel: 'js', phase, threads: 2, run: () => timed(() => workersPass(r.workers, t, 'js', phase, accounts)) });
      if (wasm !== null) ops.push({ kernel: 'wasm-simd', phase, threads: 2, run: () => timed(() => workersPass(r.workers, t, 'wasm', phase, accounts)) });
    }
    if (c !== null) ops.push({ kernel: 'c', phase, threads: 2, run: () => c.pass(phase, 2) });
  }
  const samples = ops.map(() => [] as number[]);
  const total = plan.warmupRounds + plan.rounds;
  const started = performance.now();
  for (let round = 0; round < total; round++) {
    if (round === plan.warmupRounds) log(`  warm-up done; ${plan.rounds} rounds of ${ops.length} passes ...`);
    // Rotated every round, so that no pass always follows the same neighbour.
    for (let j = 0; j < ops.length; j++) {
      const i = (round + j) % ops.length;
      const nanos = await ops[i]!.run();
      if (round >= plan.warmupRounds) samples[i]!.push(nanos);
    }
  }
  log(`  measured in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const index = (kernel: KernelName, phase: 1 | 2, threads: 1 | 2): number => ops.findIndex((o) => o.kernel === kernel && o.phase === phase && o.threads === threads);
  return ops.map((o, i) => {
    const rec = new Recorder();
    for (const ns of samples[i]!) rec.recordSince(0n, BigInt(Math.round(ns)));
    const micros = rec.summary();
    const ci = index('c', o.phase, o.threads);
    const one = index(o.kernel, o.phase, 1);
    return {
      kernel: o.kernel,
      phase: o.phase,
      threads: o.threads,
      positionsPerSecond: perSecond(positions, median(samples[i]!) / 1000),
      micros,
      ratioToC: ci < 0 ? null : pairedMedian(samples[ci]!, samples[i]!),
      speedupOverOneThread: o.threads === 2 && one >= 0 ? pairedMedian(samples[one]!, samples[i]!) : null,
    };
  });
}

/** A pass on the main thread (phase 2 resets the candidates first, outside the time). */
function timedSync(t: Tables, phase: 1 | 2, pass: () => number): Promise<number> {
  if (phase === 2) resetCandidates(t);
  const start = process.hrtime.bigint();
  pass();
  return Promise.resolve(Number(process.hrtime.bigint() - start));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median over rounds of a[r] / b[r]. */
const pairedMedian = (a: readonly number[], b: readonly number[]): number => median(a.map((x, r) => x / b[r]!));

export function kernelsFailed(results: readonly KernelsResult[]): boolean {
  return results.some((r) => r.checks.some((c) => c.mismatchedBytes > 0));
}

const KERNEL_LABEL: Record<KernelName, string> = { js: 'JS (typed arrays)', 'wasm-simd': 'WASM SIMD (in place)', c: 'C -O3 reference' };

export function kernelsSection(results: readonly KernelsResult[]): string {
  const out: string[] = [];
  out.push('Scan kernels alone (bench/kernels.ts): one pass of phase 1 (every used slot of every market) or phase 2 (every');
  out.push("account, candidates reset first), no engine and no pool, over the scan bench's book copied into a shared");
  out.push('WebAssembly.Memory. 1 thread: JS and WASM on the main thread, C in a child process over a copy of the same bytes;');
  out.push('2 threads: two worker threads over the same memory, each half of every market (phase 1) or of the accounts');
  out.push("(phase 2); C: two pthreads. positions/s from the median pass; \"vs C\": median over rounds of C's time / this");
  out.push("kernel's, same round, same threads; \"2 vs 1\": the kernel's 1-thread time / its 2-thread time, per round.");
  for (const r of results) {
    out.push('');
    const ref = 'skipped' in r.reference ? `C reference skipped: ${r.reference.skipped}` : `C reference: ${r.reference.command} (${r.reference.compiler})`;
    out.push(`${fmtCount(r.size)}: ${int(r.positions)} positions, ${int(r.accounts)} accounts, tables ${(r.tablesBytes / 2 ** 20).toFixed(0)} MiB; ${ref}`);
    if (r.wasmSkipped !== null) out.push(`WASM kernel skipped: ${r.wasmSkipped}`);
    const header = ['phase', 'kernel', 'threads', 'n', 'positions/s', 'vs C', '2 vs 1', 'p50 us', 'p99 us', 'max us'];
    const rows = [...r.rows]
      .sort((a, b) => a.phase - b.phase || a.threads - b.threads)
      .map((x) => [
        String(x.phase),
        KERNEL_LABEL[x.kernel],
        String(x.threads),
        String(x.micros.n),
        rate(x.positionsPerSecond),
        x.ratioToC === null ? '-' : x.ratioToC.toFixed(2),
        x.speedupOverOneThread === null ? '-' : `${x.speedupOverOneThread.toFixed(2)}x`,
        int(x.micros.p50),
        int(x.micros.p99),
        int(x.micros.max),
      ]);
    out.push(table(header, rows, 2));
    out.push(
      'Check (bytes of the tables that differ from the JS kernels\' pass; must be 0): ' +
        (r.checks.length === 0 ? 'nothing to compare' : r.checks.map((c) => `${c.kernel} ${c.mismatchedBytes}${c.firstMismatch ? ` (first ${c.firstMismatch})` : ''}`).join(', ')),
    );
  }
  return out.join('\n');
}
