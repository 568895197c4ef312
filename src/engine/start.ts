/**
 * Thread: main. Starting an engine's inside: the tables, the threads, and (with `config.journal`) recovery from the
 * journal's directory (newest valid snapshot, then the journal's tail; README "Journal").
 */
import { resolveConfig, type EngineConfig } from '../config.js';
import type { ExecutorState } from '../executor/executor.js';
import { OracleLayer, resolveOracleConfig } from '../oracle/oracle.js';
import { allocateTables } from '../tables/layout.js';
import { InlineBackend, ThreadedBackend } from './backends.js';
import { EngineCore } from './core.js';
import { openJournal, recover, type Mirror, type Recovery } from './recovery.js';
import { ErrorCode, UnwindError } from '../errors.js';

/** A started engine's inside, and what recovery found (undefined without a journal). */
export async function startCore(config: EngineConfig): Promise<{ readonly core: EngineCore; readonly recovery: Recovery | undefined }>;
/** A standby (src/cluster/): recovers from its journal like any start, then leaves the journal as its mirror. */
export async function startCore(
  config: EngineConfig,
  standby: true,
  beforeRecovery?: (core: EngineCore) => void,
): Promise<{ readonly core: EngineCore; readonly recovery: Recovery & { readonly mirror: Mirror } }>;
export async function startCore(config: EngineConfig, standby = false, beforeRecovery?: (core: EngineCore) => void): Promise<{ readonly core: EngineCore; readonly recovery: Recovery | undefined }> {
  // The oracle's own rules first (INVALID_ID for a source id), then the whole config (its schema last: unknown keys).
  const oracleConfig = resolveOracleConfig((config as EngineConfig | null | undefined)?.oracle);
  const c = resolveConfig(config);
  const oracle = new OracleLayer(oracleConfig, c.clock);
  if (oracle.marketIds.length > 0 && oracle.config.signatures === 'off') {
    // Never silently: turning signatures off is visible on stderr and in oracleStats().signatures.
    process.emitWarning('oracle.signatures is off: unsigned price reports are accepted for oracle markets', { code: 'UNWIND_SIGNATURES_OFF' });
  }
  // The tables first: a capacity that cannot be allocated is refused before the journal directory is touched.
  // In a shared WebAssembly.Memory where it fits (4 GiB): the scan's WebAssembly SIMD kernels read it in place
  // (src/scan/wasm); elsewhere, or without SIMD, the JS kernels do the same work.
  const tables = allocateTables(c.capacity, { wasmMemory: true });
  const found = config.journal === undefined ? undefined : openJournal(config);
  const snapshot = found?.snapshot;
  if (snapshot !== undefined) {
    new Uint8Array(tables.buffer).set(snapshot.tables);
    tables.control.fill(0); // epoch handshakes start afresh with the new threads
  }
  const executorState = snapshot?.executorState as ExecutorState | undefined;
  const backend = c.scanWorkers === 0 ? new InlineBackend(tables, c, executorState) : await ThreadedBackend.start(tables, c, c.scanWorkers, executorState);
  const core = new EngineCore(c, tables, backend, oracle);
  if (found === undefined) {
    if (standby) await core.close();
    if (standby) throw new UnwindError(ErrorCode.InvalidConfig, 'a replica keeps a journal: set journal.dir', 'journal');
    return { core, recovery: undefined };
  }
  beforeRecovery?.(core);
  try {
    return { core, recovery: standby ? await recover(core, found, true) : await recover(core, found) };
  } catch (e) {
    await core.close();
    throw e;
  }
}
