/**
 * The scan kernels: tight loops over typed arrays, run by the scan workers (and by the single-threaded
 * reference). Phase 1 is sharded by market: it walks a contiguous slice of one market's position slots.
 * Phase 2 is sharded by account range: it assembles each account's cross equity from the phase-1 terms of its
 * positions, wherever (in whichever shard) they sit, in the account's list order.
 *
 * Candidates: every margin group below `marginCallHealth` (which is > 1) is written, with its level.
 * The executor re-checks each one exactly, so the kernels must never miss one; extra ones would be harmless.
 */
import { canBeLiquidated, isMarginCall, notional, unrealizedPnl } from '../domain/margin.js';
import { MAX_TIERS, tieredMargin } from '../domain/tiers.js';
import { reserveCandidate } from '../concurrency/epoch.js';
import { CandidateLevel, isolatedRef, NONE, PositionFlag, type Tables } from '../tables/layout.js';

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
 * Phase 1 over slots [from, to) of market `m`: writes scanPnl and scanMaintenance for every slot (0 for a slot
 * that is not Live). Only markets whose price or positions changed are rescanned. Returns positions visited.
 */
export function scanMarketSlice(t: Tables, m: number, from: number, to: number, epoch: number): number {
  const { size, entryPrice, scanPnl, scanMaintenance, flags, account } = t.positions;
  const touched = t.accounts.touchedEpoch;
  const mk = t.markets;
  const mark = mk.markPrice[m]!;
  const base = m * MAX_TIERS;
  const tiers = mk.tierCount[m]!;
  const upper = mk.tierUpperBound;
  const fraction = mk.maintenanceFraction;
  const amount = mk.maintenanceAmount;
  for (let s = from; s < to; s++) {
    const f = flags[s]!;
    // Benign race: tasks scanning other markets may store the same epoch to the same account.
    touched[account[s]!] = epoch;
    if ((f & LIVE) === 0) {
      scanPnl[s] = 0;
      scanMaintenance[s] = 0;
      continue;
    }
    const q = size[s]!;
    scanPnl[s] = unrealizedPnl(q, mark, entryPrice[s]!);
    scanMaintenance[s] = tieredMargin(notional(q, mark), upper, fraction, amount, base, tiers);
  }
  return to - from;
}

/**
 * Phase 2 over accounts [from, to): every account's cross equity and maintenance, and each of its isolated
 * positions, from the phase-1 terms. Accounts touched in this epoch (a position rescanned, collateral changed) are
 * re-assembled; the others keep their cached results, which were computed from the same, unchanged, inputs.
 * Every epoch emits every account's candidates, so the set is complete: a group absent from it is at or above
 * the margin-call level. Returns positions visited.
 */
export function assembleAccounts(t: Tables, from: number, to: number, marginCallHealth: number, epoch: number): number {
  const { firstPosition, collateral, touchedEpoch, scanEquity, scanIsolatedCall } = t.accounts;
  const accountMaintenance = t.accounts.scanMaintenance;
  const { scanPnl, scanMaintenance, isolatedCollateral, flags, next } = t.positions;
  let visited = 0;
  for (let a = from; a < to; a++) {
    if (touchedEpoch[a] !== epoch) {
      if (scanIsolatedCall[a] !== 0) visited += emitIsolated(t, a, marginCallHealth);
      const equity = scanEquity[a]!;
      const mm = accountMaintenance[a]!;
      if (isMarginCall(equity, mm, marginCallHealth)) {
        writeCandidate(t, a, canBeLiquidated(equity, mm) ? CandidateLevel.Liquidatable : CandidateLevel.MarginCall);
      }
      continue;
    }
    let pnl = 0;
    let mm = 0;
    let isolatedCall = 0;
    for (let s = firstPosition[a]!; s !== NONE; s = next[s]!) {
      visited++;
      const f = flags[s]! & (LIVE | ISOLATED);
      if (f === LIVE) {
        pnl += scanPnl[s]!;
        mm += scanMaintenance[s]!;
      } else if (f === (LIVE | ISOLATED) && isMarginCall(isolatedCollateral[s]! + scanPnl[s]!, scanMaintenance[s]!, marginCallHealth)) {
        isolatedCall = 1;
      }
    }
    scanIsolatedCall[a] = isolatedCall;
    if (isolatedCall !== 0) emitIsolated(t, a, marginCallHealth);
    const equity = collateral[a]! + pnl;
    scanEquity[a] = equity;
    accountMaintenance[a] = mm;
    if (isMarginCall(equity, mm, marginCallHealth)) {
      writeCandidate(t, a, canBeLiquidated(equity, mm) ? CandidateLevel.Liquidatable : CandidateLevel.MarginCall);
    }
  }
  return visited;
}

/** Emits account `a`'s isolated positions below the margin-call level. Returns positions visited. */
function emitIsolated(t: Tables, a: number, marginCallHealth: number): number {
  const { scanPnl, scanMaintenance, isolatedCollateral, flags, next } = t.positions;
  let visited = 0;
  for (let s = t.accounts.firstPosition[a]!; s !== NONE; s = next[s]!) {
    visited++;
    if ((flags[s]! & (LIVE | ISOLATED)) !== (LIVE | ISOLATED)) continue;
    const equity = isolatedCollateral[s]! + scanPnl[s]!;
    const own = scanMaintenance[s]!;
    if (isMarginCall(equity, own, marginCallHealth)) {
      writeCandidate(t, isolatedRef(s), canBeLiquidated(equity, own) ? CandidateLevel.Liquidatable : CandidateLevel.MarginCall);
    }
  }
  return visited;
}
