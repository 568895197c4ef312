/**
 * Where an epoch's scan and execution run. `ThreadedBackend`: a piscina pool of scan workers and one dedicated
 * executor thread. `InlineBackend`: the same kernels and the same Executor on the calling thread, for
 * `unwind check` and as the single-threaded reference. Both run one kernel, so they cannot drift apart.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import {
  awaitExecution,
  publishExecution,
  publishScan,
  requestShutdown,
  requestState,
  resetCandidates,
  scanTasksDone,
} from '../concurrency/epoch.js';
import type { ExecutorConfig } from '../config-types.js';
import { Executor, type ExecutorState } from '../executor/executor.js';
import { planAccountRanges, planMarketSlices, runScanTask, type ScanTask } from '../scan/tasks.js';
import { type Tables } from '../tables/layout.js';

export interface ExecutionResult {
  readonly outputCount: number;
  readonly deferred: number;
  /** The executor's state before this epoch, when `execute` was asked for it (a snapshot). */
  readonly state?: ExecutorState;
}

export interface Backend {
  /** Phase 1 over the dirty markets, then phase 2 over accounts [0, accounts); candidates complete on return. */
  scan(dirtyMarkets: readonly number[], accounts: number): Promise<void>;
  /** Hands epoch `epoch` to the executor and resolves with its output (and, with `withState`, its state before). */
  execute(epoch: number, withState?: boolean): Promise<ExecutionResult>;
  close(): Promise<void>;
}

/**
 * Compiled worker entry files. From dist/src/engine/*.js they are siblings under dist/workers; when this module
 * runs from TypeScript source (under vitest) the compiled ones in dist are used: `npm test` builds first.
 */
export function workerFile(name: string): string {
  const fromHere = import.meta.url.endsWith('.ts') ? `../../dist/workers/${name}.js` : `../../workers/${name}.js`;
  const path = fileURLToPath(new URL(fromHere, import.meta.url));
  if (!existsSync(path)) throw new Error(`worker entry ${path} is missing: run \`npm run build\``);
  return path;
}

export class InlineBackend implements Backend {
  private readonly executor: Executor;
  constructor(
    private readonly t: Tables,
    private readonly config: ExecutorConfig,
    state?: ExecutorState,
  ) {
    this.executor = new Executor(t, config);
    if (state !== undefined) this.executor.importState(state);
  }
  async scan(dirtyMarkets: readonly number[], accounts: number): Promise<void> {
    resetCandidates(this.t);
    const tasks: ScanTask[] = [...planMarketSlices(this.t, dirtyMarkets, 1), ...planAccountRanges(accounts, 1, this.config.marginCallHealth)];
    for (const task of tasks) runScanTask(this.t, task);
  }
  async execute(epoch: number, withState = false): Promise<ExecutionResult> {
    // A copy, as the executor thread's postMessage makes one: step() goes on changing the live maps.
    const state = withState ? structuredClone(this.executor.exportState()) : undefined;
    const r = this.executor.step();
    publishExecution(this.t, epoch, r.outputCount, r.deferred);
    return { ...r, state };
  }
  async close(): Promise<void> {}
}

export class ThreadedBackend implements Backend {
  private readonly pool: Piscina<ScanTask, number>;
  private readonly executor: Worker;
  private readonly executorFailed: Promise<never>;
  private closed = false;

  private constructor(
    private readonly t: Tables,
    private readonly config: ExecutorConfig,
    private readonly workers: number,
    state: ExecutorState | undefined,
  ) {
    this.pool = new Piscina<ScanTask, number>({
      filename: workerFile('scan.worker'),
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: Number.POSITIVE_INFINITY,
      // The buffer travels inside workerData (cloned as a shared reference), never in a transfer list.
      // The memory, when the tables live in one, so the worker's WebAssembly kernels can read them in place.
      workerData: { buffer: t.buffer, memory: t.memory },
      // piscina loads the entry with require() first; Node 20's require(esm) of our ESM entry can abort the
      // process ("IsGraphAsync must be used on an instantiated module"). Disabled, piscina falls back to import().
      execArgv: [...process.execArgv, '--no-experimental-require-module'],
      recordTiming: false,
    });
    this.executor = new Worker(workerFile('executor.worker'), { workerData: { buffer: t.buffer, config, state } });
    this.executorFailed = new Promise<never>((_, reject) => {
      this.executor.once('error', reject);
      this.executor.once('exit', (code) => {
        if (!this.closed) reject(new Error(`executor thread exited with code ${code}`));
      });
    });
    this.executorFailed.catch(() => {}); // observed by execute(); avoid an unhandled rejection when idle
  }

  static async start(t: Tables, config: ExecutorConfig, workers: number, state?: ExecutorState): Promise<ThreadedBackend> {
    const b = new ThreadedBackend(t, config, workers, state);
    await new Promise<void>((resolve, reject) => {
      b.executor.once('online', resolve);
      b.executor.once('error', reject);
    });
    return b;
  }

  async scan(dirtyMarkets: readonly number[], accounts: number): Promise<void> {
    resetCandidates(this.t);
    const phase1 = planMarketSlices(this.t, dirtyMarkets, this.workers);
    await Promise.all(phase1.map((task) => this.pool.run(task)));
    const phase2 = planAccountRanges(accounts, this.workers, this.config.marginCallHealth);
    await Promise.all(phase2.map((task) => this.pool.run(task)));
    const done = scanTasksDone(this.t); // the acquire that makes the tasks' writes visible here and, next, to the executor
    if (done !== phase1.length + phase2.length) throw new Error(`scan barrier: ${done} of ${phase1.length + phase2.length} tasks published`);
  }

  async execute(epoch: number, withState = false): Promise<ExecutionResult> {
    let state: Promise<ExecutorState> | undefined;
    if (withState) {
      state = new Promise((resolve) => {
        const take = (m: { epoch: number; state: ExecutorState }): void => {
          if (m.epoch !== epoch) return;
          this.executor.off('message', take);
          resolve(m.state);
        };
        this.executor.on('message', take);
      });
      requestState(this.t, epoch);
    }
    publishScan(this.t, epoch);
    const r = await Promise.race([awaitExecution(this.t, epoch), this.executorFailed]);
    return state === undefined ? r : { ...r, state: await Promise.race([state, this.executorFailed]) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    requestShutdown(this.t);
    const exited =
      this.executor.threadId === -1 ? Promise.resolve() : new Promise<void>((resolve) => this.executor.once('exit', () => resolve()));
    await Promise.all([exited, this.pool.close()]);
  }
}
