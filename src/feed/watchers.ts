/** How many connections watch each id of a topic kind (accounts, ADL markets): a count per id, gone at zero. */
export class Watchers {
  private readonly counts = new Map<number, number>();

  get size(): number {
    return this.counts.size;
  }

  /** Adds a watcher of `id`; returns how many there were before. */
  add(id: number): number {
    const n = this.counts.get(id) ?? 0;
    this.counts.set(id, n + 1);
    return n;
  }

  /** Removes a watcher of `id`; true when it was the last one. */
  remove(id: number): boolean {
    const n = (this.counts.get(id) ?? 1) - 1;
    if (n > 0) this.counts.set(id, n);
    else this.counts.delete(id);
    return n <= 0;
  }

  ids(): IterableIterator<number> {
    return this.counts.keys();
  }
}
