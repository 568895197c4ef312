/**
 * Thread: main. Leadership as a lease (README "Replication"): one key in a JetStream key-value bucket whose entries
 * live `leaseMs` (the bucket's max age). The holder renews it every third of that with a compare-and-set on its
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
    } catch {
      return false;
    }
    this.validUntil = sent + (2 * this.c.leaseMs) / 3;
    return true;
  }

  /** Renews the lease; false if it was lost (another holds it, or it expired and was taken). */
  async renew(): Promise<boolean> {
    // determinism: leadership timing decides who emits, never what: the orders come from the log
    const sent = performance.now();
    try {
      this.revision = await this.kv.update(KEY, new TextEncoder().encode(this.c.node), this.revision);
    } catch {
      return false;
    }
    this.validUntil = Math.max(this.validUntil, sent + (2 * this.c.leaseMs) / 3);
    return true;
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
