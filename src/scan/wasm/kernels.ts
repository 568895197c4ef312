/**
 * The WebAssembly scan kernels (kernels.wat), bound to one thread's tables. Any thread that runs scan tasks: a scan
 * worker, or the main thread's inline backend and the benchmarks.
 *
 * They read and write the tables in place, so the tables must live in a shared WebAssembly.Memory
 * (allocateTables(..., { wasmMemory: true }); `Tables.memory`). The module is compiled once per thread from the
 * committed bytes (kernels-binary.ts) and instantiated once per tables, with the memory and every column's byte
 * offset from the layout map as imports. Same signatures and same results, bit for bit, as src/scan/kernels.ts.
 */
import { MAX_TIERS } from '../../domain/tiers.js';
import { Control, type Tables, type TablesMemory } from '../../tables/layout.js';
import { KERNELS_WASM_BASE64 } from './kernels-binary.js';

/** The WebAssembly JS API as far as this file uses it (the project's TypeScript lib declares none). */
interface WasmModule {
  readonly __brand: 'WebAssembly.Module';
}
interface WasmInstance {
  readonly exports: {
    scanMarketSlice(m: number, from: number, to: number): number;
    assembleAccounts(from: number, to: number, marginCallHealth: number): number;
  };
}
declare const WebAssembly:
  | {
      validate(bytes: Uint8Array): boolean;
      Module: new (bytes: Uint8Array) => WasmModule;
      Instance: new (module: WasmModule, imports: Record<string, Record<string, number | TablesMemory>>) => WasmInstance;
    }
  | undefined;

/** Phase 1 and phase 2 over one tables' memory: `scanMarketSlice` and `assembleAccounts` of src/scan/kernels.ts. */
export interface WasmKernels {
  /** Phase 1 over slots [from, to) of market m. Returns slots visited. */
  scanMarketSlice(m: number, from: number, to: number): number;
  /** Phase 2 over accounts [from, to). Returns terms read. */
  assembleAccounts(from: number, to: number, marginCallHealth: number): number;
}

let compiled: WasmModule | null | undefined;

/** The compiled module, or null where this runtime has no WebAssembly SIMD128 or threads (compiled once). */
function kernelsModule(): WasmModule | null {
  if (compiled !== undefined) return compiled;
  const bytes = Uint8Array.from(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
  compiled = typeof WebAssembly !== 'undefined' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  return compiled;
}

/** Whether this runtime can run the WebAssembly kernels (SIMD128 and shared memory). */
export function wasmKernelsSupported(): boolean {
  return kernelsModule() !== null;
}

/**
 * Every byte offset and count the kernel loops read, from the layout map: the WebAssembly kernels' globals, and the
 * C reference's arguments (bench/scan-reference.ts). The kernels hold no offset of their own.
 */
export function kernelOffsets(t: Tables): Record<string, number> {
  const { markets, positions, terms, accounts, candidates } = t.layout.tables;
  return {
    markPrice: markets.markPrice!.offset,
    tierCount: markets.tierCount!.offset,
    tierUpperBound: markets.tierUpperBound!.offset,
    maintenanceFraction: markets.maintenanceFraction!.offset,
    maintenanceAmount: markets.maintenanceAmount!.offset,
    maxTiers: MAX_TIERS,
    size: positions.size!.offset,
    entryPrice: positions.entryPrice!.offset,
    isolatedCollateral: positions.isolatedCollateral!.offset,
    flags: positions.flags!.offset,
    term: positions.term!.offset,
    termPnl: terms.pnl!.offset,
    termMaintenance: terms.maintenance!.offset,
    termSlot: terms.slot!.offset,
    termKind: terms.kind!.offset,
    termRows: terms.pnl!.length,
    positionsPerAccount: t.positionsPerAccount,
    collateral: accounts.collateral!.offset,
    positionCount: accounts.positionCount!.offset,
    scanEquity: accounts.scanEquity!.offset,
    scanMaintenance: accounts.scanMaintenance!.offset,
    candidateRef: candidates.ref!.offset,
    candidateLevel: candidates.level!.offset,
    candidateRows: candidates.ref!.length,
    candidateCount: t.layout.controlOffset + Control.CandidateCount * 4,
  };
}

const bound = new WeakMap<Tables, WasmKernels>();

/**
 * The WebAssembly kernels over `t`, or null when `t` is not in a WebAssembly.Memory or the runtime cannot run them
 * (then the JavaScript kernels serve). Instantiated once per tables object.
 */
export function wasmKernelsFor(t: Tables): WasmKernels | null {
  const known = bound.get(t);
  if (known !== undefined) return known;
  const mod = kernelsModule();
  if (mod === null || t.memory === undefined || typeof WebAssembly === 'undefined') return null;
  // Byte offsets as i32 globals: an offset past 2^31 wraps to a negative number with the same bits (the kernels
  // treat every address as unsigned).
  const layout = kernelOffsets(t);
  for (const k of Object.keys(layout)) layout[k] = layout[k]! | 0;
  const { exports } = new WebAssembly.Instance(mod, { env: { memory: t.memory }, layout });
  const kernels: WasmKernels = {
    scanMarketSlice: (m, from, to) => exports.scanMarketSlice(m, from, to) >>> 0,
    assembleAccounts: (from, to, h) => exports.assembleAccounts(from, to, h) >>> 0,
  };
  bound.set(t, kernels);
  return kernels;
}
