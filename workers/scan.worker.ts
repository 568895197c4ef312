/**
 * Thread: a scan worker, one of the piscina pool (src/engine/backends.ts). A task is phase 1 (slices of markets'
 * position slots) or phase 2 (a range of accounts), src/scan/tasks.ts; the main thread sends an epoch's phase-2
 * tasks once all its phase-1 tasks have finished. The inline backend runs the same tasks on the main thread.
 * Reads:  phase 1: markets.markPrice, tierCount, tierUpperBound, maintenanceFraction, maintenanceAmount;
 *         positions.size, entryPrice, isolatedCollateral, flags, term of its slots.
 *         phase 2: accounts.collateral, positionCount; terms.pnl, maintenance, kind, slot of its accounts (whichever
 *         phase-1 task wrote them).
 * Writes: phase 1: terms.pnl, maintenance, kind of its slots' terms.
 *         phase 2: accounts.scanEquity, scanMaintenance of its range; a candidates row (ref, level) for each margin
 *         group below the margin-call level, the row reserved with Atomics.add on CandidateCount.
 * Publishes: each task ends with an Atomics.add on ScanTasksDone, a release the main thread acquires (see
 * src/concurrency/epoch.ts).
 * Kernels: the WebAssembly SIMD ones when workerData carries the tables' shared WebAssembly.Memory (they read it in
 * place), else the JavaScript ones over the buffer (src/scan/kernels.ts; the same results bit for bit).
 */
import { workerData } from 'piscina';
import { attachTables, type Tables, type TablesMemory } from '../src/tables/layout.js';
import { runScanTask, type ScanTask } from '../src/scan/tasks.js';

const shared = workerData as { buffer: SharedArrayBuffer; memory?: TablesMemory };
const tables: Tables = attachTables(shared.memory ?? shared.buffer);

export default function scan(task: ScanTask): number {
  return runScanTask(tables, task);
}
