/**
 * Thread: the executor, the single thread that decides liquidations, so their order is deterministic.
 * Reads:  the whole of markets, accounts, positions, and the epoch's candidate rows.
 * Writes: output rows (orders, margin calls) of the current epoch; nothing else.
 * Publishes: publishExecution() stores ExecEpoch after the rows (see src/concurrency/epoch.ts).
 * It blocks in Atomics.wait between epochs (allowed off the main thread) and exits on Shutdown.
 */
import { workerData } from 'node:worker_threads';
import { publishExecution, waitForScan } from '../src/concurrency/epoch.js';
import { attachTables } from '../src/tables/layout.js';
import { Liquidator, type LiquidatorConfig } from '../src/execution/liquidator.js';

const { buffer, config } = workerData as { buffer: SharedArrayBuffer; config: LiquidatorConfig };
const tables = attachTables(buffer);
const liquidator = new Liquidator(tables, config);

let seen = 0;
for (;;) {
  const epoch = waitForScan(tables, seen);
  if (epoch < 0) break;
  const r = liquidator.step();
  publishExecution(tables, epoch, r.outputCount, r.deferred);
  seen = epoch;
}
