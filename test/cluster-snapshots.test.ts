/**
 * Snapshots in a JetStream object store, on a real 3-node NATS cluster (nats-server on loopback): a leader puts one
 * every few epochs; a new replica with an empty journal directory starts from the newest, applies only the log after
 * it, reaches the leader's digest, and takes over emitting what one uninterrupted engine fed the log emits. A corrupt
 * object, one whose metadata lies, and one of another layout are passed over for an older one; a replica with its own
 * journal keeps it, and one whose journal is set aside starts from an object again. Bad settings are refused.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { resolveClusterConfig, type ClusterConfig } from '../src/cluster/config.js';
import { NatsCluster, findNatsServer } from '../src/cluster/nats-servers.js';
import { Replica } from '../src/cluster/replica.js';
import { SNAPSHOT_ORIGIN_NAME, snapshotObjectName } from '../src/cluster/snapshot-store.js';
import { LAYOUT_VERSION } from '../src/tables/layout.js';
import { resolveJournalConfig } from '../src/journal/config.js';
import { RecordKind } from '../src/journal/format.js';
import { listSegments, readJournal } from '../src/journal/reader.js';
import { JournalWriter } from '../src/journal/writer.js';
import { ErrorCode, type Engine, type EngineConfig } from '../src/index.js';
import { mulberry32 } from '../src/sim/random.js';
import { readOrders, replayLog } from './support/cluster-harness.js';

const hasNats = findNatsServer() !== undefined;
const required = process.env.UNWIND_REQUIRE_NATS === '1';
if (!hasNats && !required) console.warn('cluster tests skipped: nats-server is not installed (apt-get install nats-server)');

const TIERS = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];

/**
 * `steps` epochs of a seeded book on `e`: each adds two accounts with positions near their liquidation and moves
 * the price by a seeded step, one epoch (and its journal) at a time.
 */
async function drive(e: Engine, rand: () => number, from: number, steps: number, price: { value: number }): Promise<void> {
  for (let s = 0; s < steps; s++) {
    for (let k = 0; k < 2; k++) {
      const id = 1000 + 2 * (from + s) + k;
      e.addAccount(id, 60 + Math.floor(rand() * 60));
      e.upsertPosition({ account: id, market: 1, size: 8 + Math.floor(rand() * 8), entryPrice: price.value });
    }
    price.value = Math.max(20, price.value * (1 + (rand() - 0.55) * 0.04));
    e.pushPrice(1, Number(price.value.toFixed(4)));
    await e.settled();
    await e.durable();
  }
}

describe.skipIf(!hasNats && !required)('snapshots in a JetStream object store', () => {
  let dir: string;
  let nats: NatsCluster;
  let nc: NatsConnection;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unwind-snapobj-'));
    nats = await NatsCluster.start({ dir: join(dir, 'nats') });
    nc = await connect({ servers: [...nats.urls], waitOnFirstConnect: true, maxReconnectAttempts: -1 });
  }, 60_000);
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // A small book: the first snapshot of the default capacity copies hundreds of MB at an epoch's start, longer than
  // two thirds of this test's 1 s lease on a loaded machine.
  const engineConfig = (node: string): EngineConfig => ({ scanWorkers: 0, capacity: { markets: 4, accounts: 4_000, positions: 8_000 }, journal: { dir: join(dir, node), durability: 'group' } });

  async function leaderWithSnapshots(name: string, steps: number, keep: number): Promise<{ a: Replica; cluster: Omit<ClusterConfig, 'node'>; price: { value: number }; rand: () => number; step: number }> {
    const cluster = { servers: [...nats.urls], name, leaseMs: 3_000, duplicateWindowMs: 60_000, snapshots: { everyEpochs: 4, everyMessages: 1_000_000, keep } };
    const a = await Replica.start({ engine: engineConfig(`${name}-a`), cluster: { ...cluster, node: 'a' }, log: () => {} });
    await waitFor(() => a.role === 'leader', 20_000);
    const e = a.engine;
    e.addMarket({ id: 1, price: 100, tiers: TIERS });
    const rand = mulberry32(name.length * 7919 + 17);
    const price = { value: 100 };
    // The puts run off the epoch path, while epochs go on: on until enough are in, then `steps` epochs more.
    let step = 0;
    while (a.stats().snapshotsPut < keep + 1) {
      if (step > 5_000) throw new Error(`${a.stats().snapshotsPut} snapshots put in ${step} steps`);
      await drive(e, rand, step++, 1, price);
    }
    await drive(e, rand, step, steps, price);
    step += steps;
    expect(a.stats().snapshotPutsFailed).toBe(0);
    return { a, cluster, price, rand, step };
  }

  async function listObjects(bucket: string): Promise<{ name: string; metadata: Record<string, string> }[]> {
    const os = await nc.jetstream().views.os(bucket);
    const all = (await os.list()).filter((i) => !i.deleted);
    return all.map((i) => ({ name: i.name, metadata: i.metadata ?? {} })).sort((x, y) => (x.name < y.name ? -1 : 1));
  }

  async function logEnd(stream: string): Promise<number> {
    return (await (await nc.jetstreamManager()).streams.info(stream)).state.last_seq;
  }

  it('a new replica starts from the newest snapshot, applies only the log after it, reaches the digest and takes over as one engine would', async () => {
    // A long log first, without snapshots; then the same leader, restarted with them, puts one near the log's end.
    const cluster = { servers: [...nats.urls], name: 's1', leaseMs: 3_000, duplicateWindowMs: 60_000, snapshots: { everyEpochs: 4, everyMessages: 1_000_000, keep: 3 } };
    const early = await Replica.start({ engine: engineConfig('s1-a'), cluster: { ...cluster, node: 'a', snapshots: false }, log: () => {} });
    await waitFor(() => early.role === 'leader', 20_000);
    early.engine.addMarket({ id: 1, price: 100, tiers: TIERS });
    const rand = mulberry32(4242);
    const price = { value: 100 };
    await drive(early.engine, rand, 0, 150, price);
    await early.close();
    const a = await Replica.start({ engine: engineConfig('s1-a'), cluster: { ...cluster, node: 'a' }, log: () => {} });
    await waitFor(() => a.role === 'leader', 20_000);
    // Four epochs make one due, the fifth captures it; the put goes on while no epoch runs.
    await drive(a.engine, rand, 150, 5, price);
    await waitFor(() => a.stats().snapshotsPut === 1, 20_000);
    await drive(a.engine, rand, 155, 2, price);
    const step = 157;
    const objects = await listObjects('s1_snapshots');
    const newest = objects[objects.length - 1]!;
    const end = await logEnd('S1_LOG');

    // From the newest object: only the messages after its stream sequence.
    let t0 = performance.now();
    const n = await Replica.start({ engine: engineConfig('s1-n'), cluster: { ...cluster, node: 'n' }, log: () => {} });
    await waitFor(() => n.engine.epochs === a.engine.epochs && n.stats().streamSequence === end, 20_000);
    const withSnapshot = performance.now() - t0;
    const installed = n.stats().snapshot!;
    expect(installed).toBeDefined();
    // The newest when it started: the leader may have put another since the listing above.
    expect(installed.journalSequence).toBeGreaterThanOrEqual(Number(newest.metadata.journalSequence));
    const now = await listObjects('s1_snapshots');
    expect(now.map((o) => o.name)).toContain(installed.name);
    expect(installed.streamSequence).toBe(Number(now.find((o) => o.name === installed.name)!.metadata.streamSequence));
    expect(n.stats().appliedMessages).toBe(end - installed.streamSequence);
    expect(n.stats().appliedMessages * 10).toBeLessThan(end);
    expect(n.engine.outputDigest()).toBe(a.engine.outputDigest());
    expect(n.stats().digestsCompared).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(dir, 's1-n', SNAPSHOT_ORIGIN_NAME), 'utf8')).object).toBe(installed.name);

    // The same start without snapshot objects: the whole log.
    t0 = performance.now();
    const m = await Replica.start({ engine: engineConfig('s1-m'), cluster: { ...cluster, node: 'm', snapshots: false }, log: () => {} });
    await waitFor(() => m.engine.epochs === a.engine.epochs && m.stats().streamSequence === end, 20_000);
    const withoutSnapshot = performance.now() - t0;
    expect(m.stats().snapshot).toBeUndefined();
    expect(m.stats().appliedMessages).toBe(end);
    expect(m.engine.outputDigest()).toBe(a.engine.outputDigest());
    console.log(
      `cluster-snapshots: log of ${end} messages, ${a.engine.epochs} epochs; from ${installed.name} (stream sequence ${installed.streamSequence}) ` +
        `${n.stats().appliedMessages} messages applied in ${withSnapshot.toFixed(0)} ms; from the start ${m.stats().appliedMessages} in ${withoutSnapshot.toFixed(0)} ms`,
    );
    await m.close();

    // The new replica takes over, and emits what one engine fed the whole log emits.
    await a.close();
    const handedOver = a.engine.epochs; // read once closed: an epoch already scheduled runs out as it steps down
    await waitFor(() => n.role === 'leader', 10_000);
    const emitted: { id: string; epoch: number }[] = [];
    n.engine.onOrder((o) => emitted.push({ id: o.id, epoch: o.epoch }));
    await drive(n.engine, rand, step, 25, price);
    await waitFor(() => n.stats().snapshotsPut > 0, 20_000); // the new leader puts its own
    expect(n.role).toBe('leader');
    await n.close();
    const digest = n.engine.outputDigest();
    const reference = await replayLog(nc, 'S1_LOG');
    try {
      expect(digest).toBe(reference.engine.outputDigest());
      expect(emitted.length).toBeGreaterThan(0);
      expect(emitted).toEqual(reference.orders.filter((o) => o.epoch > handedOver));
      expect((await readOrders(nc, 'S1_ORDERS')).map((o) => o.id)).toEqual(reference.orders.map((o) => o.id));
    } finally {
      await reference.engine.close();
    }
  }, 180_000);

  it('passes over a corrupt object, one whose metadata lies and one of another layout, for the newest usable one; a replica keeps its own journal, and starts from an object again once it is set aside', async () => {
    const { a, cluster } = await leaderWithSnapshots('s2', 10, 3);
    // The leader closes first (finishing the put in flight): the store holds its last three objects and no more come.
    const epochs = a.engine.epochs;
    await a.close();
    const js = nc.jetstream();
    const os = await js.views.os('s2_snapshots');
    const objects = await listObjects('s2_snapshots');
    expect(objects.length).toBe(3);
    const [o1, o2, o3] = objects;
    const data2 = (await os.getBlob(o2!.name))!;
    const data3 = (await os.getBlob(o3!.name))!;
    // The newest: garbage under its name, with its metadata (sha256 and all).
    const garbage = new Uint8Array(data3.byteLength).map((_, i) => (i * 131) & 0xff);
    await os.putBlob({ name: o3!.name, metadata: o3!.metadata }, garbage);
    // The one before: its own bytes, its metadata's digest changed.
    await os.putBlob({ name: o2!.name, metadata: { ...o2!.metadata, digest: 'ab'.repeat(32) } }, data2);
    // Newer than both: whole, but written by another tables layout.
    const later = Number(o3!.metadata.journalSequence) + 1;
    await os.putBlob({ name: snapshotObjectName(later), metadata: { ...o3!.metadata, journalSequence: String(later), layout: String(LAYOUT_VERSION + 1) } }, data3);

    const lines: string[] = [];
    mkdirSync(join(dir, 's2-n')); // made for it, empty: installed into
    const n = await Replica.start({ engine: engineConfig('s2-n'), cluster: { ...cluster, node: 'n' }, log: (l) => lines.push(l) });
    const passed = (name: string, code: string): boolean => lines.some((l) => l.includes(`passed over snapshot object ${name}: ${code}`));
    expect(passed(snapshotObjectName(later), ErrorCode.LayoutMismatch)).toBe(true);
    expect(passed(o3!.name, ErrorCode.JournalCorrupt)).toBe(true);
    expect(passed(o2!.name, ErrorCode.JournalCorrupt)).toBe(true);
    expect(n.stats().snapshot?.name).toBe(o1!.name);
    const end = await logEnd('S2_LOG');
    // It catches up (each epoch end's digest equal to the old leader's) and leads; one engine fed the log agrees.
    await waitFor(() => n.role === 'leader', 20_000);
    expect(n.stats().appliedMessages).toBe(end - Number(o1!.metadata.streamSequence));
    expect(n.stats().digestsCompared).toBeGreaterThan(0);
    expect(n.engine.epochs).toBeGreaterThanOrEqual(epochs);
    n.engine.pushPrice(1, 30);
    await n.engine.settled();
    await n.engine.durable();
    await n.close(); // runs out the epoch a step-down may leave in flight: read the digest after it
    const after = { digest: n.engine.outputDigest(), epochs: n.engine.epochs };

    // Restarted, it recovers from its own journal (no object fetched, none applied) and leads on from there.
    const again = await Replica.start({ engine: engineConfig('s2-n'), cluster: { ...cluster, node: 'n' }, log: () => {} });
    expect(again.stats().snapshot).toBeUndefined();
    expect(again.stats().appliedMessages).toBe(0);
    expect(again.engine.outputDigest()).toBe(after.digest);
    await waitFor(() => again.role === 'leader', 20_000);
    await again.close();
    const final = { digest: again.engine.outputDigest(), epochs: again.engine.epochs };
    // Checked once no replica runs (a replay in this process would hold the event loop from a leader's renewals).
    const reference = await replayLog(nc, 'S2_LOG');
    try {
      expect(reference.engine.outputDigest()).toBe(final.digest);
      expect(reference.endedEpochs).toBe(final.epochs);
    } finally {
      await reference.engine.close();
    }

    // Its journal gets a record the log does not hold (as a leader killed mid-append leaves): at the next start it is
    // set aside, and the replica starts from the newest usable snapshot object again.
    const journal = join(dir, 's2-n');
    // (Read from its last segment: an installed journal lacks records 2 to the snapshot's.)
    const records = readJournal(journal, { fromSequence: listSegments(journal).at(-1)!.firstSequence, repair: false, log: () => {} });
    let read = records.next();
    while (read.done !== true) read = records.next();
    const stray = new JournalWriter(resolveJournalConfig({ dir: journal, log: () => {} }), read.value.lastSequence, read.value.last);
    stray.appendJson(RecordKind.Account, { stray: true });
    await stray.close();
    const lines2: string[] = [];
    const rebuilt = await Replica.start({ engine: engineConfig('s2-n'), cluster: { ...cluster, node: 'n' }, log: (l) => lines2.push(l) });
    expect(existsSync(`${journal}.set-aside-1`)).toBe(true);
    expect(lines2.some((l) => l.includes('was set aside'))).toBe(true);
    expect(rebuilt.stats().snapshot?.name).toBe(o1!.name);
    await waitFor(() => rebuilt.role === 'leader', 20_000);
    expect(rebuilt.engine.outputDigest()).toBe(final.digest);
    await rebuilt.close();

    // With no usable object left, a new replica replays the whole log, as without snapshots.
    await os.putBlob({ name: o1!.name, metadata: o1!.metadata }, garbage.subarray(0, 1000));
    const lines3: string[] = [];
    const z = await Replica.start({ engine: engineConfig('s2-z'), cluster: { ...cluster, node: 'z' }, log: (l) => lines3.push(l) });
    expect(z.stats().snapshot).toBeUndefined();
    expect(lines3.some((l) => l.includes('no usable snapshot object'))).toBe(true);
    const total = await logEnd('S2_LOG');
    await waitFor(() => z.role === 'leader', 20_000);
    expect(z.stats().appliedMessages).toBe(total);
    expect(z.engine.outputDigest()).toBe(rebuilt.engine.outputDigest());
    await z.close();
  }, 180_000);

  it('refuses bad snapshot settings with INVALID_CONFIG naming the field, before touching anything', async () => {
    const base = { servers: ['nats://127.0.0.1:1'], node: 'x' };
    const bad: [unknown, string][] = [
      [{ everyEpochs: 0 }, 'cluster.snapshots.everyEpochs'],
      [{ everyMessages: 1.5 }, 'cluster.snapshots.everyMessages'],
      [{ keep: 65 }, 'cluster.snapshots.keep'],
      [{ every: 3 }, 'cluster.snapshots.every'],
      ['yes', 'cluster.snapshots'],
      [true, 'cluster.snapshots'],
    ];
    for (const [snapshots, field] of bad) {
      expect(() => resolveClusterConfig({ ...base, snapshots } as ClusterConfig)).toThrowError(expect.objectContaining({ code: ErrorCode.InvalidConfig, field }));
    }
    expect(resolveClusterConfig(base).snapshots).toEqual({ everyEpochs: 100_000, everyMessages: 100_000, keep: 3 });
    expect(resolveClusterConfig({ ...base, snapshots: false }).snapshots).toBeUndefined();
    expect(resolveClusterConfig({ ...base, name: 'd-1' }).snapshotBucket).toBe('d-1_snapshots');
    await expect(Replica.start({ engine: engineConfig('bad'), cluster: { ...base, snapshots: { keep: 0 } }, log: () => {} })).rejects.toMatchObject({ code: ErrorCode.InvalidConfig, field: 'cluster.snapshots.keep' });
    expect(existsSync(join(dir, 'bad'))).toBe(false);
  });
});

async function waitFor(f: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!f()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
