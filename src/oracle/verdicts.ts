/**
 * Verdicts found off the main thread, attached to the batch they are for. The verifier (src/oracle/verifier.ts)
 * seals a batch it copied and checked; the oracle layer's check (src/oracle/oracle.ts) then reads a row's verdict
 * instead of verifying the row itself. A verdict counts only for the key registry it was found under (the very
 * ResolvedOracleConfig object, keys and all), and a row without one is verified inline, as before: a sealed verdict
 * can save time, never change an outcome.
 */
import { VERDICT_UNCHECKED } from '../concurrency/verify-batch.js';
import type { TickBatch } from './report.js';

export { VERDICT_INVALID, VERDICT_UNCHECKED, VERDICT_VALID } from '../concurrency/verify-batch.js';

interface Seal {
  /** The key registry the verdicts were found under (compared by identity). */
  readonly registry: object;
  /** One per row: VERDICT_VALID, VERDICT_INVALID or VERDICT_UNCHECKED. */
  readonly verdicts: Uint8Array;
}

const seals = new WeakMap<TickBatch, Seal>();

/** The verifier's: `batch` (a copy no one else writes) has these verdicts under `registry`. */
export function seal(batch: TickBatch, registry: object, verdicts: Uint8Array): void {
  seals.set(batch, { registry, verdicts });
}

/** The verdicts of `batch` under `registry`, or undefined: then every row is verified inline. */
export function verdictsOf(batch: TickBatch, registry: object): Uint8Array | undefined {
  const s = seals.get(batch);
  return s !== undefined && s.registry === registry ? s.verdicts : undefined;
}

/** Row i's verdict from `verdicts` (VERDICT_UNCHECKED when there are none). */
export function verdictAt(verdicts: Uint8Array | undefined, i: number): number {
  return verdicts === undefined || i >= verdicts.length ? VERDICT_UNCHECKED : verdicts[i]!;
}
