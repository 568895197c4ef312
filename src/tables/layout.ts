/**
 * The one source of truth for Unwind's shared memory. Every table, column, offset and control word is
 * declared here and nowhere else; the main thread, the scan workers and the executor all attach through it.
 *
 * One SharedArrayBuffer holds everything, preallocated from the capacities (never grown: growable buffers make
 * length-tracking views ~9x slower). Optionally it is the buffer of a shared WebAssembly.Memory of exactly the pages
 * it needs, which the WebAssembly scan kernels (src/scan/wasm) read in place: `allocateTables(c, { wasmMemory })`.
 * Tables are struct-of-arrays: each column is a contiguous typed array of `capacity * perRow` elements, starting on a
 * 64-byte boundary.
 *
 *   byte 0      +------------------------------------------------------------------+
 *               | header: magic 'UNWD', layoutVersion, capacities (u32 each)        |  64 B
 *   byte 64     +------------------------------------------------------------------+
 *               | control words: one Int32 per 64-byte line (no false sharing)      |  CONTROL_WORDS * 64 B
 *               +------------------------------------------------------------------+
 *               | markets:    id, tierCount, positionStart, positionCapacity, ...   |  M rows
 *               |             markPrice, oraclePrice, eventTimeUs, liquidationMode, |
 *               |             bidVolume, askVolume, impactEta, impactGamma,         |
 *               |             tier columns (MAX_TIERS/row)                          |
 *               +------------------------------------------------------------------+
 *               | accounts:   id, firstPosition, lastPosition, collateral,          |  A rows
 *               |             positionCount, scanEquity, scanMaintenance,           |
 *               |             backstops, deleverages                                |
 *               +------------------------------------------------------------------+
 *               | positions:  size, entryPrice, isolatedCollateral, updateSequence, |  P rows, each market owns
 *               |             account, market, next, flags, term, openOrders        |  a contiguous slot range
 *               +------------------------------------------------------------------+
 *               | terms:      pnl, maintenance, slot, kind                          |  A * K rows: account a's
 *               |             (phase-1 results, account-major)                      |  positions at [a*K, a*K+K)
 *               +------------------------------------------------------------------+
 *               | candidates: ref, level                                            |  C rows
 *               +------------------------------------------------------------------+
 *               | output:     executor's records for one epoch (orders, calls)      |  O rows
 *               +------------------------------------------------------------------+
 *
 * Writers (single writer per region):
 *   markets, accounts, positions (inputs)  main thread, through src/tables/writer.ts only, between epochs (a new
 *                                           slot's structure at once, flat and not Live)
 *   accounts.backstops / deleverages        main thread's clearing, through the writer inside a sequenced input;
 *                                           read by the executor's lifecycle
 *   positions.openOrders                    main thread's clearing, through the writer where an order opens (at the
 *                                           epoch's end), fills whole, expires or times out (inside that input's
 *                                           landing), and at a snapshot's restore; read by the executor, which
 *                                           orders no position while it is > 0
 *   markets.impactEta / impactGamma         main thread's impact observer, through the writer inside a landing;
 *                                           read by the executor's strategies
 *   terms                                   the scan task that owns the position's market slice, during phase 1
 *                                           (slot and kind of a new term: the writer, before it is Live)
 *   accounts.scanEquity / scanMaintenance   the phase-2 task that owns the account's range
 *   candidates                              scan tasks, slots reserved with Atomics.add on Control.CandidateCount
 *   output                                  the executor thread, during its step
 *   control words                           each word's owner, through src/concurrency/epoch.ts (Atomics only)
 *   the whole buffer                        recovery, once, before any thread starts (a snapshot's bytes; the control
 *                                           words zeroed): src/engine/start.ts
 *
 * Index math over the tables lives in the accessors below (`tierBase`, `termOf`); margin read from the tier
 * columns lives in src/tables/margin.ts.
 */
import { validateCapacities, type Capacities } from '../config-types.js';
import { MAX_TIERS } from '../domain/tiers.js';
import { ErrorCode, UnwindError } from '../errors.js';

export const LAYOUT_MAGIC = 0x44574e55; // 'UNWD' little-endian
/** The tables' layout version: a worker or snapshot of another version is refused (LAYOUT_MISMATCH). */
export const LAYOUT_VERSION = 8;
export const NONE = 0xffffffff;
const LINE = 64;

type ColumnType = 'f64' | 'u32' | 'i32' | 'u8';
interface ColumnSpec {
  readonly type: ColumnType;
  /** Elements per row (tier columns hold MAX_TIERS per market). */
  readonly perRow: number;
}
const f64 = { type: 'f64', perRow: 1 } as const;
const u32 = { type: 'u32', perRow: 1 } as const;
const u8 = { type: 'u8', perRow: 1 } as const;
const tiers = { type: 'f64', perRow: MAX_TIERS } as const;

type ViewOf<C extends ColumnSpec> = C['type'] extends 'f64'
  ? Float64Array
  : C['type'] extends 'u32'
    ? Uint32Array
    : C['type'] extends 'i32'
      ? Int32Array
      : Uint8Array;
type Views<S extends Record<string, ColumnSpec>> = { readonly [K in keyof S]: ViewOf<S[K]> };

export const MARKET_COLUMNS = {
  id: u32,
  tierCount: u32,
  /** First slot of the market's contiguous range in the positions table. */
  positionStart: u32,
  positionCapacity: u32,
  /** Slots used so far (high-water mark): the scan covers [positionStart, positionStart + positionCount). */
  positionCount: u32,
  /** The price margin uses. */
  markPrice: f64,
  /** The price fills are bounded against (docs/domain.md section 2). */
  oraclePrice: f64,
  /** Latest event time of the market's inputs (ticks, fills), microseconds; the executor's clock is the maximum. */
  eventTimeUs: f64,
  /** What the executor may do here: a LiquidationMode value, 0 normal ... 3 halt. */
  liquidationMode: u32,
  /**
   * Base units the venue's book holds on each side near the mid (a `depth` input), which the strategies' participation
   * caps take a share of; Infinity until the venue says (no cap).
   */
  bidVolume: f64,
  askVolume: f64,
  /**
   * The market's temporary (eta, quote per base per base/second of trading rate) and permanent (gamma, quote per
   * base per base unit) impact, fitted on the main thread to our own fills (src/engine/impact-observer.ts); NaN
   * until the first fit. Almgren-Chriss takes eta where its config gives none.
   */
  impactEta: f64,
  impactGamma: f64,
  tierUpperBound: tiers,
  maintenanceFraction: tiers,
  maintenanceAmount: tiers,
  initialFraction: tiers,
  initialAmount: tiers,
} as const;

/**
 * markets.liquidationMode values. The main thread derives them from the kill switch and the oracle guards
 * (src/clearing/market-mode.ts: each is the index of its kill level in KILL_LEVELS); the executor reads them.
 */
export const LiquidationMode = { Normal: 0, NoNew: 1, NoReissue: 2, Halt: 3 } as const;

/** First element of market `m`'s tiers in the tier columns (each market owns MAX_TIERS consecutive elements). */
export const tierBase = (m: number): number => m * MAX_TIERS;

export const ACCOUNT_COLUMNS = {
  id: u32,
  /** Head and tail of the account's position list (linked through positions.next), NONE when empty. */
  firstPosition: u32,
  lastPosition: u32,
  /** Cross collateral, quote units. */
  collateral: f64,
  /** Positions (terms) the account holds: its terms are rows [a * K, a * K + positionCount) of the terms table. */
  positionCount: u32,
  /** Phase-2 results of the last epoch: cross equity and maintenance margin (diagnostics, benchmarks). */
  scanEquity: f64,
  scanMaintenance: f64,
  /**
   * Written by the main thread's clearing, read by the executor's lifecycle: how many times the insurance fund
   * covered a loss of the account, and how many times the account was deleveraged (each only ever grows).
   */
  backstops: u32,
  deleverages: u32,
} as const;

export const POSITION_COLUMNS = {
  /** Signed base units: long > 0, short < 0, 0 when flat. */
  size: f64,
  entryPrice: f64,
  /** Own collateral of an isolated position, quote units; unused when cross. */
  isolatedCollateral: f64,
  /** Sequence number of the input that last changed this position: part of an order's id. */
  updateSequence: f64,
  account: u32,
  market: u32,
  /** Next position of the same account, NONE at the tail. */
  next: u32,
  flags: u32,
  /** Row of this position's phase-1 result in the terms table. */
  term: u32,
  /**
   * Liquidation orders of this position open at the venue: issued, and not yet filled whole, expired or timed out
   * (src/clearing/open-orders.ts). The executor issues none while it is > 0, so it is 0 or 1, and two orders
   * never close the same units.
   */
  openOrders: u8,
} as const;

/**
 * Phase-1 results stored account-major, so that phase 2 reads each account's terms contiguously instead of
 * chasing its position list through the market-major positions table (a chain of dependent cache misses).
 */
export const TERM_COLUMNS = {
  /** Cross: unrealized PnL. Isolated: isolatedCollateral + unrealized PnL (the group's equity). */
  pnl: f64,
  /** Maintenance margin at mark. */
  maintenance: f64,
  /** The position slot this term belongs to. */
  slot: u32,
  /** The position's flags as of phase 1 (0 until its first scan). */
  kind: u8,
} as const;

/** Row of account `a`'s `k`-th term: account a owns rows [a * K, a * K + K) of the terms table, K = positionsPerAccount. */
export const termOf = (t: Tables, a: number, k: number): number => a * t.positionsPerAccount + k;

/** positions.flags bits. */
export const PositionFlag = { Live: 1, Isolated: 2 } as const;

export const CANDIDATE_COLUMNS = {
  /** An account index, or an isolated position's slot with CANDIDATE_ISOLATED set. */
  ref: u32,
  level: u8,
} as const;
export const CANDIDATE_ISOLATED = 0x80000000;
/** The candidate ref of an isolated position (an unsigned 32-bit number, like every ref). */
export const isolatedRef = (slot: number): number => (slot | CANDIDATE_ISOLATED) >>> 0;
export const isIsolatedRef = (ref: number): boolean => ref >= CANDIDATE_ISOLATED;
export const refSlot = (ref: number): number => ref & 0x7fffffff;
/** candidates.level values. */
export const CandidateLevel = { MarginCall: 1, Liquidatable: 2 } as const;

export const OUTPUT_COLUMNS = {
  kind: u32,
  account: u32,
  market: u32,
  position: u32,
  /** +1 buy, -1 sell (stored as u32 two's complement; read through `side()`). */
  side: u32,
  reason: u32,
  quantity: f64,
  limitPrice: f64,
  oraclePrice: f64,
  health: f64,
  equity: f64,
  maintenance: f64,
  updateSequence: f64,
} as const;
/**
 * output.kind values. A StateChange row is a margin group's lifecycle transition: `side` holds the state it left
 * and `reason` the state it entered (LIFECYCLE_STATES indexes, src/executor/lifecycle.ts), with the group's
 * health, equity and maintenance. A Capped row is work a liquidation cap held back: `reason` indexes CAP_NAMES
 * (src/executor/caps.ts), `quantity` is the base units queued, `limitPrice` the price it was planned at. A Takeover
 * row is an order a backstop vault takes off the book: as an Order row, with `limitPrice` the vault's price and
 * `reason` the vault's account row.
 */
export const OutputKind = { Order: 1, MarginCall: 2, StateChange: 3, Capped: 4, Takeover: 5 } as const;

/** Control words: Int32 indices into `Tables.control`; each sits on its own 64-byte line (16 Int32s apart). */
const W = LINE / 4;
export const Control = {
  /** main -> executor: "candidates of epoch N are complete"; the executor waits on it. */
  ScanEpoch: 0 * W,
  /** executor -> main: "output of epoch N is complete"; the main thread waits on it asynchronously. */
  ExecEpoch: 1 * W,
  /** scan tasks reserve candidate rows with Atomics.add; may exceed capacity (overflow). */
  CandidateCount: 2 * W,
  /** executor -> main: rows of output written in this epoch. */
  OutputCount: 3 * W,
  /** executor -> main: liquidatable groups left for a later epoch because output was full. */
  Deferred: 4 * W,
  /** main -> executor: stop after the current step. */
  Shutdown: 5 * W,
  /** scan tasks -> main: tasks finished (a release by each task, an acquire by the main thread). */
  ScanTasksDone: 6 * W,
  /** main -> executor: "before stepping epoch N, post your state" (a snapshot; src/journal). */
  StateRequest: 7 * W,
} as const;
const CONTROL_WORDS = 8;

interface Placed {
  readonly offset: number;
  readonly type: ColumnType;
  readonly length: number;
}
export interface LayoutMap {
  readonly capacities: Capacities;
  readonly byteLength: number;
  readonly controlOffset: number;
  readonly tables: Readonly<Record<'markets' | 'accounts' | 'positions' | 'terms' | 'candidates' | 'output', Readonly<Record<string, Placed>>>>;
}

const BYTES: Record<ColumnType, number> = { f64: 8, u32: 4, i32: 4, u8: 1 };
const align = (n: number): number => Math.ceil(n / LINE) * LINE;

const TABLE_SPECS = {
  markets: MARKET_COLUMNS,
  accounts: ACCOUNT_COLUMNS,
  positions: POSITION_COLUMNS,
  terms: TERM_COLUMNS,
  candidates: CANDIDATE_COLUMNS,
  output: OUTPUT_COLUMNS,
} as const;

/** Places every column. Pure: the same capacities always give the same map. */
export function computeLayout(given: Capacities): LayoutMap {
  const capacities = validateCapacities(given);
  const controlOffset = LINE;
  let offset = controlOffset + CONTROL_WORDS * LINE;
  const tables = {} as Record<keyof typeof TABLE_SPECS, Record<string, Placed>>;
  for (const [table, spec] of Object.entries(TABLE_SPECS) as [keyof typeof TABLE_SPECS, Record<string, ColumnSpec>][]) {
    const rows = table === 'terms' ? capacities.accounts * capacities.positionsPerAccount : capacities[table];
    const placed: Record<string, Placed> = {};
    for (const [name, col] of Object.entries(spec)) {
      const length = rows * col.perRow;
      placed[name] = { offset, type: col.type, length };
      offset = align(offset + length * BYTES[col.type]);
    }
    tables[table] = placed;
  }
  return { capacities, byteLength: offset, controlOffset, tables };
}

/** Bytes one position costs in the positions table (all its columns). */
export const BYTES_PER_POSITION = Object.values(POSITION_COLUMNS).reduce((n, c: ColumnSpec) => n + BYTES[c.type] * c.perRow, 0);
/** Bytes one account costs in the accounts table (all its columns). */
export const BYTES_PER_ACCOUNT = Object.values(ACCOUNT_COLUMNS).reduce((n, c: ColumnSpec) => n + BYTES[c.type] * c.perRow, 0);

function view(buffer: SharedArrayBuffer, p: Placed): Float64Array | Uint32Array | Int32Array | Uint8Array {
  switch (p.type) {
    case 'f64':
      return new Float64Array(buffer, p.offset, p.length);
    case 'u32':
      return new Uint32Array(buffer, p.offset, p.length);
    case 'i32':
      return new Int32Array(buffer, p.offset, p.length);
    case 'u8':
      return new Uint8Array(buffer, p.offset, p.length);
  }
}

function views<S extends Record<string, ColumnSpec>>(buffer: SharedArrayBuffer, placed: Readonly<Record<string, Placed>>): Views<S> {
  const out: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(placed)) out[name] = view(buffer, p);
  return out as Views<S>;
}

/**
 * A shared WebAssembly.Memory, as far as the tables use one (the project's TypeScript lib declares no WebAssembly
 * types). Its buffer is a SharedArrayBuffer of whole 64 KiB pages: the layout's bytes, then zero padding.
 */
export interface TablesMemory {
  readonly buffer: SharedArrayBuffer;
}
declare const WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => TablesMemory };
const WASM_PAGE = 65536;
/** A wasm32 memory addresses at most 2^16 pages (4 GiB); larger tables stay in a plain SharedArrayBuffer. */
const WASM_MAX_PAGES = 65536;
const wasmPages = (byteLength: number): number => Math.ceil(byteLength / WASM_PAGE);

/** Typed views over one shared buffer. Attaching is cheap and allocates nothing but the views. */
export interface Tables {
  readonly buffer: SharedArrayBuffer;
  /**
   * The shared WebAssembly.Memory whose buffer `buffer` is, when the tables were allocated with `wasmMemory` (a
   * WebAssembly kernel then reads them in place, src/scan/wasm); undefined for a plain SharedArrayBuffer.
   */
  readonly memory?: TablesMemory;
  readonly layout: LayoutMap;
  /** Control words, indexed by `Control.*`. Touched only through src/concurrency. */
  readonly control: Int32Array;
  readonly markets: Views<typeof MARKET_COLUMNS>;
  readonly accounts: Views<typeof ACCOUNT_COLUMNS>;
  readonly positions: Views<typeof POSITION_COLUMNS>;
  readonly terms: Views<typeof TERM_COLUMNS>;
  /** K: terms rows per account. */
  readonly positionsPerAccount: number;
  readonly candidates: Views<typeof CANDIDATE_COLUMNS>;
  readonly output: Views<typeof OUTPUT_COLUMNS>;
}

const HEADER_FIELDS = ['markets', 'accounts', 'positions', 'positionsPerAccount', 'candidates', 'output'] as const;

export interface AllocateOptions {
  /**
   * Place the tables in a shared WebAssembly.Memory of exactly the pages they need (initial = maximum: never grown),
   * so that a WebAssembly kernel reads them in place. Where none can be had (tables over 4 GiB, or no
   * WebAssembly threads), a plain SharedArrayBuffer, as without the option: `Tables.memory` says which.
   */
  readonly wasmMemory?: boolean;
}

function wasmMemoryFor(byteLength: number): TablesMemory | undefined {
  const pages = wasmPages(byteLength);
  if (pages > WASM_MAX_PAGES || typeof WebAssembly === 'undefined') return undefined;
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) return undefined;
    throw e;
  }
}

/** Allocates and stamps a buffer (the main thread does this once). Allocation and attaching are separate calls. */
export function allocateTables(capacities: Capacities, options: AllocateOptions = {}): Tables {
  const layout = computeLayout(capacities);
  const memory = options.wasmMemory === true ? wasmMemoryFor(layout.byteLength) : undefined;
  let buffer: SharedArrayBuffer;
  try {
    buffer = memory?.buffer ?? new SharedArrayBuffer(layout.byteLength);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new UnwindError(ErrorCode.InvalidConfig, `the tables need ${layout.byteLength} bytes of shared memory, which could not be allocated`, 'capacity');
  }
  const stamped = layout.capacities as Required<Capacities>;
  const header = new Uint32Array(buffer, 0, 2 + HEADER_FIELDS.length);
  header[0] = LAYOUT_MAGIC;
  header[1] = LAYOUT_VERSION;
  HEADER_FIELDS.forEach((k, i) => (header[2 + i] = stamped[k]));
  const t = attachTables(memory ?? buffer);
  // An account row that holds no position has an empty list; unused rows look the same.
  t.accounts.firstPosition.fill(NONE);
  t.accounts.lastPosition.fill(NONE);
  return t;
}

/**
 * Attaches to a buffer allocated by `allocateTables`, or to the memory holding it, checking magic and layout version
 * (any thread).
 */
export function attachTables(source: SharedArrayBuffer | TablesMemory): Tables {
  const memory = source instanceof SharedArrayBuffer ? undefined : source;
  const buffer = memory?.buffer ?? (source as SharedArrayBuffer);
  const header = new Uint32Array(buffer, 0, 2 + HEADER_FIELDS.length);
  if (header[0] !== LAYOUT_MAGIC || header[1] !== LAYOUT_VERSION) {
    throw new UnwindError(
      ErrorCode.LayoutMismatch,
      `shared buffer has magic 0x${header[0]!.toString(16)} version ${header[1]}, expected 0x${LAYOUT_MAGIC.toString(16)} version ${LAYOUT_VERSION}`,
    );
  }
  const capacities = Object.fromEntries(HEADER_FIELDS.map((k, i) => [k, header[2 + i]!])) as unknown as Capacities;
  const layout = computeLayout(capacities);
  // A WebAssembly.Memory's buffer is the layout rounded up to whole pages, whether it comes with its memory or alone.
  const paged = wasmPages(layout.byteLength) * WASM_PAGE;
  if (buffer.byteLength !== paged && (memory !== undefined || buffer.byteLength !== layout.byteLength)) {
    const expected = memory === undefined ? `${layout.byteLength} (or ${paged} in a WebAssembly.Memory)` : `${paged}`;
    throw new UnwindError(ErrorCode.LayoutMismatch, `shared buffer is ${buffer.byteLength} bytes, layout needs ${expected}`);
  }
  return {
    buffer,
    ...(memory === undefined ? {} : { memory }),
    layout,
    control: new Int32Array(buffer, layout.controlOffset, (CONTROL_WORDS * LINE) / 4),
    markets: views(buffer, layout.tables.markets),
    accounts: views(buffer, layout.tables.accounts),
    positions: views(buffer, layout.tables.positions),
    terms: views(buffer, layout.tables.terms),
    positionsPerAccount: capacities.positionsPerAccount!,
    candidates: views(buffer, layout.tables.candidates),
    output: views(buffer, layout.tables.output),
  };
}
