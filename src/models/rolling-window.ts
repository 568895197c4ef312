/**
 * The last `capacity` numbers of a stream, oldest first when read: the rolling windows the models refit on. A ring
 * over a Float64Array (exact doubles), read and restored as a plain array in stream order.
 */
export class RollingWindow {
  private readonly values: Float64Array;
  /** Index in `values` of the oldest number. */
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** Appends `v`; the oldest number falls out once the window is full. */
  push(v: number): void {
    if (this.count < this.capacity) {
      this.values[(this.start + this.count) % this.capacity] = v;
      this.count++;
    } else {
      this.values[this.start] = v;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** The i-th number, 0 the oldest, length - 1 the newest. */
  at(i: number): number {
    return this.values[(this.start + i) % this.capacity];
  }

  /** The numbers, oldest first. */
  toArray(): number[] {
    const out = new Array<number>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.at(i);
    return out;
  }

  /** Empties the window, then pushes `values` in order (only the last `capacity` stay). */
  reset(values: readonly number[]): void {
    this.start = 0;
    this.count = 0;
    for (const v of values) this.push(v);
  }
}
