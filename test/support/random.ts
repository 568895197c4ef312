/**
 * Seeded randomness for tests: the same seed gives the same stream on every machine, so a failing case
 * can be replayed. The generator itself is the one the demo uses (mulberry32, src/sim/random.ts).
 */
import { mulberry32 } from '../../src/sim/random.js';

export class Random {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }

  /** Uniform in [min, max). */
  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Integer uniform in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Log-uniform in [min, max): as many draws between 1 and 10 as between 10 and 100. */
  logRange(min: number, max: number): number {
    return min * Math.exp(Math.log(max / min) * this.next());
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A new array with the items in a seeded random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** `n` distinct integers in [min, max], in random order. */
  distinctInts(n: number, min: number, max: number): number[] {
    const seen = new Set<number>();
    while (seen.size < n) seen.add(this.int(min, max));
    return [...seen];
  }
}
