/**
 * The scan kernels: tight loops over typed arrays, run by the scan workers (and by the inline backend).
 *
 * Phase 1 is sharded by market: it walks a contiguous slice of one market's position slots and writes each
 * position's term (PnL, maintenance margin at mark) into the account-major terms table: scattered stores, which
 * the CPU overlaps. Phase 2 is sharded by account range: it reads each account's terms contiguously, whichever
 * shard wrote them, and assembles the account's cross equity, in the account's own position order.
 *
 * Candidates: every margin group below `marginCallHealth` (> 1) is written, with its level. The executor
 * re-checks each one exactly, so the kernels must never miss one; extra ones would be harmless.
 *
 * Two implementations of each loop, with the same results bit for bit (test/scan-kernels.test.ts): the WebAssembly
 * SIMD kernels (src/scan/wasm), which read the tables in place when they live in a shared WebAssembly.Memory
 * (`Tables.memory`), and the JavaScript loops below (`scanMarketSliceJs`, `assembleAccountsJs`), which serve any
 * other tables and any runtime without WebAssembly SIMD. `scanMarketSlice` and `assembleAccounts` pick one per call.
 */
import { canBeLiquidated, isMarginCall, notional, unrealizedPnl } from '../domain/margin.js';
import { reserveCandidate } from '../concurrency/epoch.js';
import { CandidateLevel, isolatedRef, PositionFlag, termOf, tierBase, type Tables } from '../tables/layout.js';
import { tierMaintenance } from '../tables/margin.js';
import { wasmKernelsFor } from './wasm/kernels.js';

const LIVE = PositionFlag.Live;
const ISOLATED = PositionFlag.Isolated;

function writeCandidate(t: Tables, ref: number, level: number): void {
  const row = reserveCandidate(t);
  if (row < t.candidates.ref.length) {
    t.candidates.ref[row] = ref;
    t.candidates.level[row] = level;
  }
}

/**
 * Phase 1 over slots [from, to) of market `m`: writes every slot's term (zeros for a slot not yet Live). Only
 * markets whose price or positions changed are rescanned; the terms of the others stay valid. Returns slots visited.
 */
export function scanMarketSlice(t: Tables, m: number, from: number, to: number): number {
  const wasm = wasmKernelsFor(t);
  return wasm === null ? scanMarketSliceJs(t, m, from, to) : wasm.scanMarketSlice(m, from, to);
}

/**
 * Phase 2 over accounts [from, to): each account's cross equity and maintenance, and each of its isolated
 * groups, from its terms, read contiguously. Every epoch assembles every account, so the candidate set is complete:
 * a group absent from it is at or above the margin-call level. Returns terms read.
 */
export function assembleAccounts(t: Tables, from: number, to: number, marginCallHealth: number): number {
  const wasm = wasmKernelsFor(t);
  return wasm === null ? assembleAccountsJs(t, from, to, marginCallHealth) : wasm.assembleAccounts(from, to, marginCallHealth);
}

/** `scanMarketSlice` in JavaScript: the loop the WebAssembly kernel reproduces. */
export function scanMarketSliceJs(t: Tables, m: number, from: number, to: number): number {
  const { size, entryPrice, isolatedCollateral, flags, term } = t.positions;
  const { pnl, maintenance, kind } = t.terms;
  const mk = t.markets;
  const mark = mk.markPrice[m]!;
  // Where the market's tiers sit: once per slice, not per position (see tierMaintenance).
  const base = tierBase(m);
  const tiers = mk.tierCount[m]!;
  for (let s = from; s < to; s++) {
    const f = flags[s]!;
    const k = term[s]!;
    kind[k] = f;
    if ((f & LIVE) === 0) {
      pnl[k] = 0;
      maintenance[k] = 0;
      continue;
    }
    const q = size[s]!;
    const u = unrealizedPnl(q, mark, entryPrice[s]!);
    // An isolated term carries its group's equity, computed as isolatedGroup() computes it.
    pnl[k] = (f & ISOLATED) === 0 ? u : isolatedCollateral[s]! + u;
    maintenance[k] = tierMaintenance(mk, base, tiers, notional(q, mark));
  }
  return to - from;
}

/** `assembleAccounts` in JavaScript: the loop the WebAssembly kernel reproduces (its summation order included). */
export function assembleAccountsJs(t: Tables, from: number, to: number, marginCallHealth: number): number {
  const { collateral, positionCount, scanEquity } = t.accounts;
  const accountMaintenance = t.accounts.scanMaintenance;
  const { pnl, maintenance, kind } = t.terms;
  let visited = 0;
  for (let a = from; a < to; a++) {
    const first = termOf(t, a, 0);
    const end = first + positionCount[a]!;
    let sumPnl = 0;
    let mm = 0;
    let isolatedCall = 0;
    for (let k = first; k < end; k++) {
      const f = kind[k]! & (LIVE | ISOLATED);
      if (f === LIVE) {
        sumPnl += pnl[k]!;
        mm += maintenance[k]!;
      } else if (f === (LIVE | ISOLATED) && isMarginCall(pnl[k]!, maintenance[k]!, marginCallHealth)) {
        isolatedCall = 1;
      }
    }
    visited += end - first;
    if (isolatedCall !== 0) emitIsolated(t, first, end, marginCallHealth);
    const equity = collateral[a]! + sumPnl;
    scanEquity[a] = equity;
    accountMaintenance[a] = mm;
    if (isMarginCall(equity, mm, marginCallHealth)) {
      writeCandidate(t, a, canBeLiquidated(equity, mm) ? CandidateLevel.Liquidatable : CandidateLevel.MarginCall);
    }
  }
  return visited;
}

/** Emits the isolated groups among terms [first, end) that are below the margin-call level. Returns terms read. */
function emitIsolated(t: Tables, first: number, end: number, marginCallHealth: number): number {
  const { pnl, maintenance, kind, slot } = t.terms;
  for (let k = first; k < end; k++) {
    if ((kind[k]! & (LIVE | ISOLATED)) !== (LIVE | ISOLATED)) continue;
    const equity = pnl[k]!;
    const own = maintenance[k]!;
    if (isMarginCall(equity, own, marginCallHealth)) {
      writeCandidate(t, isolatedRef(slot[k]!), canBeLiquidated(equity, own) ? CandidateLevel.Liquidatable : CandidateLevel.MarginCall);
    }
  }
  return end - first;
}
