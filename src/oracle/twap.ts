/**
 * A time-weighted average of a price over a sliding window of event time (Drift's oracle TWAP guard). Each price
 * holds from its time until the next one: the average integrates that step function over [now - window, now].
 *
 * Memory is bounded: prices closer than `sampleUs` to the previous sample replace its value (the last price of a
 * sample interval stands for it), so at most window / sampleUs + 2 samples are kept. Times must not go backwards
 * (an earlier time is treated as the latest sample's time). Units: microseconds; the price's own unit.
 */
export class TimeWeightedAverage {
  private times: number[] = [];
  private prices: number[] = [];
  /** Index of the first sample still needed (earlier ones are dropped in bulk to keep `shift` off the hot path). */
  private head = 0;

  constructor(
    readonly windowUs: number,
    readonly sampleUs: number,
  ) {}

  /** Snapshot (src/journal): the samples still in the window. */
  exportState(): { readonly times: readonly number[]; readonly prices: readonly number[] } {
    return { times: this.times.slice(this.head), prices: this.prices.slice(this.head) };
  }
  importState(s: { readonly times: readonly number[]; readonly prices: readonly number[] }): void {
    this.times = [...s.times];
    this.prices = [...s.prices];
    this.head = 0;
  }

  add(timeUs: number, price: number): void {
    const n = this.times.length;
    const last = n > this.head ? this.times[n - 1]! : -Infinity;
    const t = Math.max(timeUs, last);
    if (n > this.head && t - this.times[n - 1]! < this.sampleUs) {
      this.prices[n - 1] = price;
    } else {
      this.times.push(t);
      this.prices.push(price);
    }
    this.prune(t);
  }

  /** The average over [nowUs - window, nowUs]; undefined before the first sample. At the first sample's time: its price. */
  value(nowUs: number): number | undefined {
    const n = this.times.length;
    if (n === this.head) return undefined;
    const from = Math.max(nowUs - this.windowUs, this.times[this.head]!);
    if (!(nowUs > from)) return this.prices[n - 1];
    let area = 0;
    for (let i = this.head; i < n; i++) {
      const start = Math.max(this.times[i]!, from);
      const end = i + 1 < n ? Math.min(this.times[i + 1]!, nowUs) : nowUs;
      if (end > start) area += this.prices[i]! * (end - start);
    }
    return area / (nowUs - from);
  }

  /** Drops samples whose successor starts before the window does: they no longer hold inside it. */
  private prune(nowUs: number): void {
    const from = nowUs - this.windowUs;
    while (this.head + 1 < this.times.length && this.times[this.head + 1]! <= from) this.head++;
    if (this.head > 64 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.prices = this.prices.slice(this.head);
      this.head = 0;
    }
  }
}
