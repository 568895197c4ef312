/**
 * Thread: main. Leadership as a lease (README "Replication"): one key in a JetStream key-value bucket whose entries
 * live `leaseMs` (the bucket's max age). The holder renews it every fifth of that with a compare-and-set on its
 * revision; a standby creates the key, which succeeds only once it is absent, that is once JetStream has expired the
 * last renewal. The holder counts itself leader until two thirds of the lease past the moment it *sent* its last
 * successful renewal: JetStream stamps the renewal later than that, so the holder stops acting at least a third of the
 * lease before any standby can take over.
 */
import type { JetStreamClient, KV } from 'nats';
import type { ResolvedClusterConfig } from './config.js';

const KEY = 'leader';

export class Lease {
  private revision = 0;
  private validUntil = 0;
  /** The revision at which this replica took the lease: one number per leadership, growing. */
  term = 0;
  /** Why the last acquire failed (the key is held, or the bucket did not answer). */
  lastRefusal = '';

  private constructor(
    private readonly kv: KV,
    private readonly c: ResolvedClusterConfig,
  ) {}

  static async open(js: JetStreamClient, c: ResolvedClusterConfig): Promise<Lease> {
    const kv = await js.views.kv(c.leaseBucket, { ttl: c.leaseMs, history: 1, replicas: c.replicas });
    return new Lease(kv, c);
  }

  /** Takes the lease if no one holds it. */
  async acquire(): Promise<boolean> {
    // determinism: leadership timing decides who emits, never what: the orders come from the log
    const sent = performance.now();
    try {
      this.revision = await this.kv.create(KEY, new TextEncoder().encode(this.c.node));
    } catch (e) {
      this.lastRefusal = e instanceof Error ? e.message : String(e);
      return false;
    }
    this.validUntil = sent + (2 * this.c.leaseMs) / 3;
    this.term = this.revision;
    return true;
  }

  /**
   * Renews the lease: 'renewed'; 'lost' when the key moved on (expired and taken, or deleted); 'unknown' when the
   * bucket did not answer (a passing failure: the holder goes on while `valid`).
   */
  async renew(): Promise<'renewed' | 'lost' | 'unknown'> {
    // determinism: leadership timing decides who emits, never what: the orders come from the log
    const sent = performance.now();
    try {
      this.revision = await this.kv.update(KEY, new TextEncoder().encode(this.c.node), this.revision);
    } catch (e) {
      return /wrong last sequence/i.test(e instanceof Error ? e.message : String(e)) ? 'lost' : 'unknown';
    }
    this.validUntil = Math.max(this.validUntil, sent + (2 * this.c.leaseMs) / 3);
    return 'renewed';
  }

  /** Whether this replica may act as leader now. */
  get valid(): boolean {
    // determinism: leadership timing decides who emits, never what: the orders come from the log
    return this.revision > 0 && performance.now() < this.validUntil;
  }

  /** The current holder's node name, if any. */
  async holder(): Promise<string | undefined> {
    const e = await this.kv.get(KEY);
    return e === null || e.operation !== 'PUT' ? undefined : new TextDecoder().decode(e.value);
  }

  /** Gives the lease up at once (a clean stop): a standby need not wait for it to expire. */
  async release(): Promise<void> {
    if (this.revision === 0) return;
    this.validUntil = 0;
    try {
      await this.kv.delete(KEY, { previousSeq: this.revision });
    } catch {
      // lost already
    }
    this.revision = 0;
  }
}
