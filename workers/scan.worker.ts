/**
 * Thread: a scan worker (one of the piscina pool, sharded by market in phase 1, by account range in phase 2).
 * Reads:  markets, accounts, positions (inputs); positions.scanPnl / scanMaintenance in phase 2.
 * Writes: positions.scanPnl / scanMaintenance for the market slices of its phase-1 task; candidate rows.
 * Publishes: each task ends with an Atomics.add on ScanTasksDone (see src/concurrency/epoch.ts).
 */
import { workerData } from 'piscina';
import { attachTables, type Tables } from '../src/tables/layout.js';
import { runScanTask, type ScanTask } from '../src/scan/tasks.js';

const tables: Tables = attachTables((workerData as { buffer: SharedArrayBuffer }).buffer);

export default function scan(task: ScanTask): number {
  return runScanTask(tables, task);
}
