/**
 * Topology: MainThreadSequentialRead, the yardstick the scan is compared with.
 *
 *   +-------------------+
 *   | main thread       |   one plain loop over the positions table, market by market, slot by slot:
 *   | sum size          |   sum += size[s] + entryPrice[s] + flags[s]
 *   |   + entryPrice    |   for every used slot s of every market (the columns phase 1 reads)
 *   |   + flags         |
 *   +-------------------+
 *     no workers, no handshake, no writes
 *
 * Measures: positions read per second by one thread, streaming the same bytes a full scan's phase 1 reads.
 * A scan's positions/s divided by this is the "vs seq-read" ratio: how close an epoch gets to touching its data
 * once, in order, on one core, the machine's noise being the same for both (the samples are interleaved).
 */
import { type Tables } from '../src/tables/layout.js';

/** Used slots of every market: [start, end) pairs from the markets table. */
export function usedRanges(t: Tables): number[] {
  const out: number[] = [];
  const { positionStart, positionCount, id } = t.markets;
  for (let m = 0; m < id.length; m++) {
    if (positionCount[m] === 0) continue;
    out.push(positionStart[m]!, positionStart[m]! + positionCount[m]!);
  }
  return out;
}

export function usedPositions(t: Tables): number {
  const r = usedRanges(t);
  let n = 0;
  for (let i = 0; i < r.length; i += 2) n += r[i + 1]! - r[i]!;
  return n;
}

/** The loop. Returns the sum so the reads cannot be optimised away; the caller keeps it in a sink. */
export function sequentialRead(t: Tables, ranges: readonly number[]): number {
  const { size, entryPrice, flags } = t.positions;
  let sum = 0;
  for (let i = 0; i < ranges.length; i += 2) {
    const to = ranges[i + 1]!;
    for (let s = ranges[i]!; s < to; s++) sum += size[s]! + entryPrice[s]! + flags[s]!;
  }
  return sum;
}
