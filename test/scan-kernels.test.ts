/**
 * The scan kernels in WebAssembly SIMD (src/scan/wasm) and the C reference (bench/scan-reference.c) compute what the
 * JavaScript kernels compute, bit for bit: every term, equity, maintenance and candidate row of the tables, on seeded
 * books with several margin tiers, cross and isolated positions, slots not yet Live, and uneven slices.
 */
import fc from 'fast-check';
import { Piscina } from 'piscina';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resetCandidates } from '../src/concurrency/epoch.js';
import { MAX_TIERS, type MarginTier } from '../src/domain/tiers.js';
import { workerFile } from '../src/engine/backends.js';
import { assembleAccounts, assembleAccountsJs, scanMarketSlice, scanMarketSliceJs } from '../src/scan/kernels.js';
import { planAccountRanges, planMarketSlices, runScanTask, type ScanTask } from '../src/scan/tasks.js';
import { wasmKernelsFor, wasmKernelsSupported } from '../src/scan/wasm/kernels.js';
import { allocateTables, attachTables, CandidateLevel, Control, isIsolatedRef, termOf, type Tables } from '../src/tables/layout.js';
import { TableWriter } from '../src/tables/writer.js';
import { compileReference, removeReference, ScanReference } from '../bench/scan-reference.js';
import { compileKernels, kernelsModuleSource, OUT } from '../scripts/gen-wasm.mjs';
import { Random } from './support/random.js';

interface Book {
  readonly t: Tables;
  readonly accounts: number;
  readonly marginCallHealth: number;
}

/** Valid tiers of 1..MAX_TIERS rows, with bounds low enough that positions reach the upper tiers. */
function randomTiers(rand: Random): MarginTier[] {
  const n = rand.int(1, MAX_TIERS);
  const out: MarginTier[] = [];
  let bound = rand.logRange(200, 20_000);
  let mmf = rand.range(0.005, 0.03);
  for (let i = 0; i < n; i++) {
    out.push({ maxNotional: i === n - 1 ? null : bound, maintenanceMarginFraction: mmf, initialMarginFraction: Math.min(1, mmf * 2) });
    bound *= rand.range(1.5, 4);
    mmf = Math.min(0.45, mmf + rand.range(0, 0.04));
  }
  return out;
}

/**
 * A book written through the table writer, in tables placed in a shared WebAssembly.Memory: markets with 1..8 tiers,
 * accounts holding cross and isolated positions (sizes across every tier, exactly on tier bounds, zero, entry at the
 * mark), slots reserved but not yet Live, stale values in the term rows past each account's count, every price
 * moved to the mark the sizes were chosen at.
 */
function seededBook(seed: number, maxAccounts = 60): Book {
  const rand = new Random(seed);
  const markets = rand.int(1, 6);
  const accounts = rand.int(1, maxAccounts);
  const capacity = { markets, accounts, positions: markets * accounts, positionsPerAccount: markets, candidates: 4 * accounts, output: 8 };
  const t = allocateTables(capacity, { wasmMemory: true });
  const w = new TableWriter(t, accounts);
  const prices: number[] = [];
  const bounds: number[][] = [];
  for (let m = 0; m < markets; m++) {
    const tiers = randomTiers(rand);
    // A power of two sometimes, so that |size| * price lands exactly on a tier bound (the tier choice at equality).
    // The mark the scan will see; the market opens 5% off it and moves there at the end.
    prices.push(rand.chance(0.3) ? 2 ** rand.int(-4, 12) : rand.logRange(0.01, 50_000));
    bounds.push(tiers.flatMap((x) => (x.maxNotional === null ? [] : [x.maxNotional])));
    w.prepareMarket({ id: m + 1, symbol: `M${m}`, tiers, price: prices[m]! * rand.range(0.95, 1.05), positionCapacity: accounts })();
  }
  for (let a = 0; a < accounts; a++) {
    w.prepareAccount(a + 1, rand.logRange(1, 5_000))();
    for (let m = 0; m < markets; m++) {
      if (!rand.chance(0.6)) continue;
      if (rand.chance(0.1)) {
        w.slotAt(a, m); // reserved, flat and not Live: phase 1 writes zeros, phase 2 skips it
        continue;
      }
      const price = prices[m]!;
      const b = bounds[m]!;
      const notional = b.length > 0 && rand.chance(0.2) ? rand.pick(b) : rand.chance(0.05) ? 0 : rand.logRange(10, (b.at(-1) ?? 10_000) * 3);
      const size = (rand.chance(0.5) ? -1 : 1) * (notional / price);
      const entryPrice = rand.chance(0.1) ? price : price * rand.range(0.9, 1.1);
      const isolatedCollateral = rand.chance(0.3) ? notional * rand.range(0, 0.05) : null;
      w.preparePosition({ account: a + 1, market: m + 1, size, entryPrice, isolatedCollateral })();
    }
  }
  for (let m = 0; m < markets; m++) w.preparePrice({ market: m + 1, price: prices[m]! })();
  // Rows past an account's count are not its terms: stale values there must not count.
  const { pnl, maintenance, kind } = t.terms;
  for (let a = 0; a < accounts; a++) {
    for (let k = t.accounts.positionCount[a]!; k < t.positionsPerAccount; k++) {
      const row = termOf(t, a, k);
      kind[row] = rand.int(0, 255);
      pnl[row] = rand.range(-1e6, 1e6);
      maintenance[row] = rand.range(0, 1e6);
    }
  }
  return { t, accounts, marginCallHealth: rand.range(1.05, 2) };
}

/** A copy of `t` in its own WebAssembly.Memory (same capacities, so the same layout). */
function cloneTables(t: Tables, wasmMemory = true): Tables {
  const c = allocateTables(t.layout.capacities, { wasmMemory });
  new Uint8Array(c.buffer, 0, t.layout.byteLength).set(bytesOf(t));
  return c;
}

const bytesOf = (t: Tables): Uint8Array => new Uint8Array(t.buffer, 0, t.layout.byteLength);

/** Cut points splitting [from, to) into 1..4 uneven pieces, the same for every kernel. */
function cuts(rand: Random, from: number, to: number): number[] {
  const points = [from, to];
  for (let i = rand.int(0, 3); i > 0; i--) points.push(rand.int(from, to));
  return points.sort((x, y) => x - y);
}

type Kernels = {
  readonly slice: (m: number, from: number, to: number) => number;
  readonly assemble: (from: number, to: number, h: number) => number;
};

/** Phase 1 over every market in uneven slices, then phase 2 over every account in uneven ranges (cuts from `seed`). */
function fullPass(book: Book, t: Tables, k: Kernels, seed: number): number {
  const rand = new Random(seed);
  let visited = 0;
  const { positionStart, positionCount } = t.markets;
  for (let m = 0; m < t.markets.id.length; m++) {
    const c = cuts(rand, positionStart[m]!, positionStart[m]! + positionCount[m]!);
    for (let i = 0; i + 1 < c.length; i++) visited += k.slice(m, c[i]!, c[i + 1]!);
  }
  resetCandidates(t);
  const c = cuts(rand, 0, book.accounts);
  for (let i = 0; i + 1 < c.length; i++) visited += k.assemble(c[i]!, c[i + 1]!, book.marginCallHealth);
  return visited;
}

const js = (t: Tables): Kernels => ({
  slice: (m, from, to) => scanMarketSliceJs(t, m, from, to),
  assemble: (from, to, h) => assembleAccountsJs(t, from, to, h),
});

function wasm(t: Tables): Kernels {
  const w = wasmKernelsFor(t);
  if (w === null) throw new Error('no WebAssembly kernels for these tables');
  return { slice: (m, from, to) => w.scanMarketSlice(m, from, to), assemble: (from, to, h) => w.assembleAccounts(from, to, h) };
}

/** Candidate rows as a sorted list of "ref:level" (their order depends on which thread reserved a row first). */
function candidateSet(t: Tables): string[] {
  const n = Atomics.load(t.control, Control.CandidateCount);
  return Array.from({ length: Math.min(n, t.candidates.ref.length) }, (_, i) => `${t.candidates.ref[i]}:${t.candidates.level[i]}`).sort();
}

describe('WebAssembly scan kernels', () => {
  it('run here: Node 20 has WebAssembly SIMD and shared memory', () => {
    expect(wasmKernelsSupported()).toBe(true);
    expect(seededBook(1).t.memory).toBeDefined();
  });

  it('leave the tables byte-identical to the JavaScript kernels on seeded books', () => {
    const seen = { isolated: 0, cross: 0, liquidatable: 0, marginCall: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fffffff }), (seed) => {
        const book = seededBook(seed);
        const other = cloneTables(book.t);
        const visitedJs = fullPass(book, book.t, js(book.t), seed);
        const visitedWasm = fullPass(book, other, wasm(other), seed);
        expect(visitedWasm).toBe(visitedJs);
        expect(Buffer.compare(bytesOf(other), bytesOf(book.t))).toBe(0);
        for (const row of candidateSet(book.t)) {
          const [ref, level] = row.split(':').map(Number) as [number, number];
          if (isIsolatedRef(ref)) seen.isolated++;
          else seen.cross++;
          if (level === CandidateLevel.Liquidatable) seen.liquidatable++;
          else seen.marginCall++;
        }
      }),
      { seed: 0x5ca7, numRuns: 150 },
    );
    // The books reach every branch: isolated and cross groups, at both levels.
    expect(seen.isolated).toBeGreaterThan(20);
    expect(seen.cross).toBeGreaterThan(20);
    expect(seen.liquidatable).toBeGreaterThan(20);
    expect(seen.marginCall).toBeGreaterThan(20);
  });

  it('are what scanMarketSlice and assembleAccounts run for tables in a WebAssembly.Memory, and JavaScript serves the rest', () => {
    const book = seededBook(7, 200);
    const plain = cloneTables(book.t, false);
    expect(plain.memory).toBeUndefined();
    expect(wasmKernelsFor(plain)).toBeNull();
    expect(wasmKernelsFor(book.t)).not.toBeNull();
    const dispatch = (t: Tables): Kernels => ({ slice: (m, f, to) => scanMarketSlice(t, m, f, to), assemble: (f, to, h) => assembleAccounts(t, f, to, h) });
    fullPass(book, book.t, dispatch(book.t), 3);
    fullPass(book, plain, dispatch(plain), 3);
    expect(Buffer.compare(bytesOf(book.t), bytesOf(plain))).toBe(0);
  });

  it('give the scan pool the same results from worker threads attached to the memory', async () => {
    const book = seededBook(11, 400);
    const plain = cloneTables(book.t, false);
    const pool = new Piscina<ScanTask, number>({
      filename: workerFile('scan.worker'),
      minThreads: 2,
      maxThreads: 2,
      workerData: { buffer: book.t.buffer, memory: book.t.memory },
      execArgv: [...process.execArgv, '--no-experimental-require-module'],
    });
    try {
      const markets = Array.from({ length: book.t.markets.id.length }, (_, m) => m);
      for (const t of [book.t, plain]) resetCandidates(t);
      const phase1 = planMarketSlices(book.t, markets, 2);
      await Promise.all(phase1.map((task) => pool.run(task)));
      for (const task of phase1) runScanTask(plain, task);
      const phase2 = planAccountRanges(book.accounts, 2, book.marginCallHealth);
      await Promise.all(phase2.map((task) => pool.run(task)));
      for (const task of phase2) runScanTask(plain, task);
      // Everything before the candidate rows bit for bit; the rows as a set (two threads reserve rows in either order).
      const to = book.t.layout.tables.candidates.ref!.offset;
      expect(Buffer.compare(bytesOf(book.t).subarray(0, to), bytesOf(plain).subarray(0, to))).toBe(0);
      expect(candidateSet(book.t)).toEqual(candidateSet(plain));
      expect(candidateSet(book.t).length).toBeGreaterThan(0);
    } finally {
      await pool.destroy();
    }
  });

  it('attach to the memory from another thread as to the buffer, with the layout checked', () => {
    const { t } = seededBook(5);
    const again = attachTables(t.memory!);
    expect(again.memory).toBe(t.memory);
    expect(again.buffer).toBe(t.buffer);
    expect(t.buffer.byteLength % 65536).toBe(0);
    expect(t.buffer.byteLength).toBeGreaterThanOrEqual(t.layout.byteLength);
    expect(() => attachTables(new SharedArrayBuffer(t.buffer.byteLength))).toThrow(/magic/);
  });

  it('are committed as kernels.wat compiles: rebuilding gives the same bytes', async () => {
    const bytes: Uint8Array = await compileKernels();
    expect(readFileSync(OUT, 'utf8')).toBe(kernelsModuleSource(bytes));
  });
});

describe('the C reference of the scan kernels', () => {
  const compiled = compileReference();
  const run = 'skipped' in compiled ? it.skip : it;
  if ('skipped' in compiled) it(`is skipped: ${compiled.skipped}`, () => {});

  run('computes the same bytes as the JavaScript kernels, on one thread and (up to candidate order) on two', async () => {
    try {
      for (const seed of [21, 22, 23]) {
        const book = seededBook(seed, 3_000);
        const start = bytesOf(book.t).slice();
        fullPass(book, book.t, js(book.t), seed);
        const c = new ScanReference(compiled as { binary: string }, cloneFrom(book.t, start), book.accounts, book.marginCallHealth);
        try {
          await c.pass(1, 1);
          await c.pass(2, 1);
          expect(Buffer.compare(await c.bytes(), bytesOf(book.t))).toBe(0);
          await c.pass(1, 2);
          await c.pass(2, 2);
          const two = cloneFrom(book.t, await c.bytes());
          const to = book.t.layout.tables.candidates.ref!.offset;
          expect(Buffer.compare(bytesOf(two).subarray(0, to), bytesOf(book.t).subarray(0, to))).toBe(0);
          expect(candidateSet(two)).toEqual(candidateSet(book.t));
        } finally {
          await c.close();
        }
      }
    } finally {
      removeReference(compiled);
    }
  });
});

/** Tables with `t`'s layout holding `bytes`. */
function cloneFrom(t: Tables, bytes: Uint8Array): Tables {
  const c = allocateTables(t.layout.capacities);
  new Uint8Array(c.buffer).set(bytes);
  return c;
}
