/**
 * Thread: a kernel worker of the kernels bench (kernels.ts), one of two. Attaches to the tables' shared
 * WebAssembly.Memory (workerData.memory) and runs one kernel pass share per message, as a scan worker runs a task,
 * without the pool: the bench measures how the kernels themselves scale from one core to two.
 * Reads and writes: what the kernel of its share reads and writes (workers/scan.worker.ts); the two workers' shares
 * are disjoint (each market's slots halved in phase 1, the accounts halved in phase 2).
 * Publishes: its reply, after the pass (postMessage orders the pass's writes before the main thread's receipt).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { assembleAccountsJs, scanMarketSliceJs } from '../src/scan/kernels.js';
import { wasmKernelsFor } from '../src/scan/wasm/kernels.js';
import { attachTables, type TablesMemory } from '../src/tables/layout.js';

export interface ShareTask {
  readonly kernel: 'js' | 'wasm';
  readonly phase: 1 | 2;
  /** Phase 1: flattened triples (market, from, to). Phase 2: [from, to). */
  readonly ranges: readonly number[];
  readonly marginCallHealth: number;
}

const t = attachTables((workerData as { memory: TablesMemory }).memory);
const wasm = wasmKernelsFor(t);

parentPort!.on('message', (task: ShareTask) => {
  const r = task.ranges;
  let visited = 0;
  if (task.kernel === 'wasm') {
    if (wasm === null) throw new Error('no WebAssembly kernels in this worker');
    if (task.phase === 1) for (let i = 0; i < r.length; i += 3) visited += wasm.scanMarketSlice(r[i]!, r[i + 1]!, r[i + 2]!);
    else visited = wasm.assembleAccounts(r[0]!, r[1]!, task.marginCallHealth);
  } else if (task.phase === 1) {
    for (let i = 0; i < r.length; i += 3) visited += scanMarketSliceJs(t, r[i]!, r[i + 1]!, r[i + 2]!);
  } else {
    visited = assembleAccountsJs(t, r[0]!, r[1]!, task.marginCallHealth);
  }
  parentPort!.postMessage(visited);
});
