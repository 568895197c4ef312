/**
 * What every part with a snapshot (src/journal/snapshot.ts) uses to take its state back: no imports, so the
 * tables, the ledger and the execution classes can use it without depending on the journal.
 */

/** Replaces a map's contents with another's, in the other's order. */
export function refill<K, V>(target: Map<K, V>, source: ReadonlyMap<K, V>): void {
  target.clear();
  for (const [k, v] of source) target.set(k, v);
}
