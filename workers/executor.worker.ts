/**
 * Thread: the executor, the single thread that decides liquidations, so their order is deterministic.
 * Reads:  markets (id, markPrice, oraclePrice, eventTimeUs, liquidationMode, the tier columns); accounts (id,
 *         collateral, firstPosition, backstops, deleverages); positions (every column but term); the epoch's
 *         candidates.ref rows; the control words ScanEpoch, CandidateCount, StateRequest, Shutdown. Not the terms
 *         nor accounts.scanEquity / scanMaintenance: it re-checks each candidate from the tables (src/scan/group.ts).
 * Writes: output rows of the current epoch (orders, margin calls, state changes, capped work); nothing else.
 * Publishes: publishExecution() stores OutputCount and Deferred, then ExecEpoch, after the rows (see
 * src/concurrency/epoch.ts). When the main thread asked (StateRequest, for a snapshot), it first posts its state as
 * it was before the epoch, by postMessage.
 * It starts from `workerData.state` when the engine recovers from a snapshot.
 * It blocks in Atomics.wait between epochs (allowed off the main thread) and exits on Shutdown.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { publishExecution, stateRequested, waitForScan } from '../src/concurrency/epoch.js';
import { attachTables } from '../src/tables/layout.js';
import type { ExecutorConfig } from '../src/config-types.js';
import { Executor, type ExecutorState } from '../src/executor/executor.js';

const { buffer, config, state } = workerData as { buffer: SharedArrayBuffer; config: ExecutorConfig; state?: ExecutorState };
const tables = attachTables(buffer);
const executor = new Executor(tables, config);
if (state !== undefined) executor.importState(state);

let seen = 0;
for (;;) {
  const epoch = waitForScan(tables, seen);
  if (epoch < 0) break;
  // postMessage clones the state now, before step() changes it.
  if (stateRequested(tables, epoch)) parentPort!.postMessage({ epoch, state: executor.exportState() });
  const r = executor.step();
  publishExecution(tables, epoch, r.outputCount, r.deferred);
  seen = epoch;
}
