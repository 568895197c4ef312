/**
 * The tick frames of the feed bench, built the same way on both sides of the thread boundary: the client worker
 * sends them, the main thread decodes them for the per-tick cost breakdown. Seeded; no clock.
 */
import { encodeTicks, type Tick } from '../src/feed/codec.js';
import { mulberry32 } from '../src/sim/random.js';
import { type TickMarket } from './feed-protocol.js';

/** Tick fields the engine does not read, still valid on the wire: a fixed epoch plus the tick's index. */
const EVENT_TIME_BASE_US = 1_700_000_000_000_000;

export function tick(market: number, price: number, index: number): Tick {
  return { market, source: 1, price, confidence: 0, eventTimeUs: EVENT_TIME_BASE_US + index, sourceSequence: index };
}

/**
 * `count` distinct frames of `ticksPerFrame` ticks, round-robin over `markets`, each price within +-0.2% of its
 * market's base (seeded): small moves, so the bench's book sees no liquidations.
 */
export function ingestFrames(markets: readonly TickMarket[], ticksPerFrame: number, count: number, seed: number): Uint8Array[] {
  const rand = mulberry32(seed);
  const frames: Uint8Array[] = [];
  let index = 0;
  for (let f = 0; f < count; f++) {
    const ticks: Tick[] = [];
    for (let k = 0; k < ticksPerFrame; k++, index++) {
      const m = markets[index % markets.length]!;
      ticks.push(tick(m.id, m.price * (1 + (rand() - 0.5) * 0.004), index));
    }
    frames.push(encodeTicks(0, ticks));
  }
  return frames;
}
