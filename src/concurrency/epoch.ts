/**
 * The epoch handshake between the main thread, the scan tasks and the executor: the only home of Atomics.
 *
 *   main                         scan tasks (piscina)               executor
 *   ----                         --------------------               --------
 *   writes inputs
 *   resetCandidates()  -------->  phase 1, phase 2
 *                                 reserveCandidate() per hit
 *                                 finishScanTask()   (release)
 *   awaitScanTasks()   (acquire)
 *   publishScan(epoch) ---------------------------------------->  waitForScan() (acquire)
 *                                                                 re-check, order, write output
 *   awaitExecution()   <----------------------------------------  publishExecution(epoch, n) (release)
 *   reads output
 *
 * Every edge is a sequentially consistent Atomics store/add followed by an Atomics load/wait on the other side,
 * so plain writes before the publication are visible after it. Lockstep: the main thread never writes inputs
 * while an epoch is in flight, so scan and executor read one consistent state.
 */
import { Control, type Tables } from '../tables/layout.js';

/** main: before phase 1 of an epoch. */
export function resetCandidates(t: Tables): void {
  // Publishes to scan tasks: candidate rows start at 0 (tasks are dispatched after this store).
  Atomics.store(t.control, Control.CandidateCount, 0);
  // Publishes to the main thread's own barrier check: no task of this epoch has finished yet.
  Atomics.store(t.control, Control.ScanTasksDone, 0);
}

/**
 * scan task: reserves one candidate row. Returns the row, which may be >= capacity: the caller then skips the
 * write and the executor, seeing the overflowing count, re-checks every account itself.
 */
export function reserveCandidate(t: Tables): number {
  // Claims a row among concurrent scan tasks; the row's contents are published by finishScanTask().
  return Atomics.add(t.control, Control.CandidateCount, 1);
}

/** scan task: its last act. Publishes the task's writes (see workers/scan.worker.ts) to the main thread. */
export function finishScanTask(t: Tables): void {
  // Publishes to the main thread: this task's terms (phase 1), or its accounts' scanEquity / scanMaintenance and
  // candidate rows (phase 2), are complete (a release).
  Atomics.add(t.control, Control.ScanTasksDone, 1);
}

/** main: after all tasks resolved; the acquire that makes their writes visible. Returns tasks finished. */
export function scanTasksDone(t: Tables): number {
  return Atomics.load(t.control, Control.ScanTasksDone);
}

/** Candidate rows written in this epoch (possibly more than capacity: overflow). */
export function candidateCount(t: Tables): number {
  return Atomics.load(t.control, Control.CandidateCount);
}

/** main: hands epoch N to the executor. */
export function publishScan(t: Tables, epoch: number): void {
  // Publishes to the executor: candidates and all inputs of `epoch` are complete.
  Atomics.store(t.control, Control.ScanEpoch, epoch);
  Atomics.notify(t.control, Control.ScanEpoch);
}

/** executor: blocks until the scan epoch moves past `seen` or shutdown is requested; returns the new epoch or -1. */
export function waitForScan(t: Tables, seen: number): number {
  for (;;) {
    if (Atomics.load(t.control, Control.Shutdown) !== 0) return -1;
    const epoch = Atomics.load(t.control, Control.ScanEpoch);
    if (epoch !== seen) return epoch;
    Atomics.wait(t.control, Control.ScanEpoch, seen);
  }
}

/** executor: output rows of `epoch` are written. */
export function publishExecution(t: Tables, epoch: number, outputCount: number, deferred: number): void {
  // Both counts ride on the ExecEpoch store below (sequentially consistent: visible before it).
  Atomics.store(t.control, Control.OutputCount, outputCount);
  Atomics.store(t.control, Control.Deferred, deferred);
  // Publishes to the main thread: output rows [0, outputCount) of `epoch` are complete.
  Atomics.store(t.control, Control.ExecEpoch, epoch);
  Atomics.notify(t.control, Control.ExecEpoch);
}

/** main: resolves when the executor has published `epoch` (never blocks the event loop). */
export async function awaitExecution(t: Tables, epoch: number): Promise<{ outputCount: number; deferred: number }> {
  for (;;) {
    const seen = Atomics.load(t.control, Control.ExecEpoch);
    if (seen === epoch) break;
    const w = Atomics.waitAsync(t.control, Control.ExecEpoch, seen);
    if (w.async) await w.value;
  }
  return { outputCount: Atomics.load(t.control, Control.OutputCount), deferred: Atomics.load(t.control, Control.Deferred) };
}

/** main, before publishScan(epoch): asks the executor to post its state before it steps `epoch` (a snapshot). */
export function requestState(t: Tables, epoch: number): void {
  // Publishes to the executor, ahead of the ScanEpoch store that wakes it: "post your state first".
  Atomics.store(t.control, Control.StateRequest, epoch);
}

/** executor: whether the main thread asked for its state before stepping `epoch`. */
export function stateRequested(t: Tables, epoch: number): boolean {
  return Atomics.load(t.control, Control.StateRequest) === epoch;
}

/** main: asks the executor to stop. */
export function requestShutdown(t: Tables): void {
  // Publishes to the executor: leave the wait loop.
  Atomics.store(t.control, Control.Shutdown, 1);
  Atomics.notify(t.control, Control.ScanEpoch);
}
