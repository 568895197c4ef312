/**
 * What replication costs (README "Replication"): the same engine with its journal alone, and as the leader of a
 * replicated engine whose journal writes are appended to a NATS JetStream stream kept on 3 servers (quorum 2).
 *
 * Topology: ReplicatedLeaderPushToOrder (main thread, scan pool, executor; the input log on a 3-node NATS cluster on
 * loopback, started here from Debian's nats-server; skipped, with a line saying so, where none is installed)
 *
 *   t0 pushPrice   append Prices, EpochStart     epoch (scan pool, executor)    append EpochEnd    t1 onOrder
 *   |              |                             |                              |  await durable(): |
 *   v              v                             v                              v  local write, and ^
 *   +-------------+   +---------------------+   +---------------------------+   +------------------------------+
 *   | main thread |-->| journal buffer;     |-->| scan pool (1) -> executor |-->| the stream's quorum ack (the |
 *   | input       |   | end of turn: write, |   +---------------------------+   | replicated engine) or nothing|
 *   +-------------+   | and (replicated) a  |                                   | more (local)                 |
 *                     | message to JetStream|                                   +------------------------------+
 *
 * Measures, in one run with interleaved samples: push-to-order microseconds of the two engines (EngineProbe, the same
 * seeded book built through the API), and the added latency of quorum acknowledgement as a ratio; and throughput:
 * inputs per second acknowledged (durable() resolved), N collateral inputs per batch, for each engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/index.js';
import { findNatsServer, NatsCluster } from '../src/cluster/nats-servers.js';
import { Replica } from '../src/cluster/replica.js';
import { bookOf, fillEngine, type Book, type BookSpec } from './fixtures.js';
import { EngineProbe, nextTurn } from './push-to-order-latency.js';
import { Recorder, type Percentiles } from './stats.js';

export interface ReplicationPlan {
  readonly positions: number;
  /** Push-to-order samples per engine (after `warmup`). */
  readonly samples: number;
  readonly warmup: number;
  /** Throughput rounds per engine and batch size. */
  readonly rounds: number;
  readonly inputsPerRound: number;
  readonly batches: readonly number[];
}

export interface ReplicationResult {
  readonly skipped?: string;
  readonly positions: number;
  readonly latency: { readonly local: Percentiles; readonly replicated: Percentiles; readonly pairedRatio: number } | null;
  /** Inputs per second acknowledged, by batch size: median over rounds. */
  readonly throughput: { readonly batch: number; readonly local: number; readonly replicated: number }[];
}

type Log = (line: string) => void;

export async function runReplication(plan: ReplicationPlan, seed: number, log: Log): Promise<ReplicationResult> {
  if (findNatsServer() === undefined) {
    log('replication: skipped (no nats-server: apt-get install nats-server)');
    return { skipped: 'no nats-server', positions: plan.positions, latency: null, throughput: [] };
  }
  const dir = mkdtempSync(join(tmpdir(), 'unwind-bench-replication-'));
  const nats = await NatsCluster.start({ dir: join(dir, 'nats') });
  const spec: BookSpec = { positions: plan.positions, seed, distressedEvery: 0 };
  const book = bookOf(spec);
  const config = { scanWorkers: 1, capacity: book.capacity, journal: { durability: 'group' as const, snapshotEveryRecords: Infinity } };
  let local: Engine | undefined;
  let replica: Replica | undefined;
  try {
    log(`replication ${plan.positions}: a 3-node NATS cluster, the local engine and the replicated leader ...`);
    local = await Engine.start({ ...config, journal: { ...config.journal, dir: join(dir, 'local') } });
    fillEngine(local, spec);
    replica = await Replica.start({ engine: { ...config, journal: { ...config.journal, dir: join(dir, 'leader') } }, cluster: { servers: [...nats.urls], node: 'bench', name: 'bench', leaseMs: 5_000 }, log: () => {} });
    const deadline = performance.now() + 60_000;
    while (replica.role !== 'leader') {
      if (performance.now() > deadline || replica.role === 'stopped') throw new Error(`replication bench: the replica did not lead (${replica.role})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const leader = replica.engine;
    fillEngine(leader, spec);
    await Promise.all([local.durable(), leader.durable()]);
    await Promise.all([local.step(), leader.step()]);
    const latency = await measureLatency([local, leader], book, plan);
    const throughput: ReplicationResult['throughput'] = [];
    for (const batch of plan.batches) {
      const [l, r] = await measureThroughput([local, leader], plan, batch);
      throughput.push({ batch, local: l!, replicated: r! });
    }
    return { positions: plan.positions, latency, throughput };
  } finally {
    await replica?.close();
    await local?.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureLatency(engines: readonly Engine[], book: Book, plan: ReplicationPlan): Promise<ReplicationResult['latency']> {
  const probes = engines.map((e) => new EngineProbe(e, book));
  const victim = book.victims[0]!;
  const byRound: number[][] = engines.map(() => []);
  const recorders = engines.map(() => new Recorder());
  try {
    for (let i = 0; i < plan.warmup + plan.samples; i++) {
      // Rotated: neither engine always goes first.
      for (let j = 0; j < engines.length; j++) {
        const k = (i + j) % engines.length;
        const nanos = await probes[k]!.sample(victim, i);
        await nextTurn();
        if (i < plan.warmup) continue;
        byRound[k]!.push(Number(nanos));
        recorders[k]!.recordSince(0n, nanos);
      }
    }
  } finally {
    for (const p of probes) p.detach();
  }
  const ratios = byRound[1]!.map((x, r) => x / byRound[0]![r]!).sort((a, b) => a - b);
  return { local: recorders[0]!.summary(), replicated: recorders[1]!.summary(), pairedRatio: ratios[ratios.length >> 1]! };
}

/** Inputs per second acknowledged: `inputsPerRound` collateral inputs, `batch` per turn, then durable(); median over rounds. */
async function measureThroughput(engines: readonly Engine[], plan: ReplicationPlan, batch: number): Promise<number[]> {
  const rates: number[][] = engines.map(() => []);
  for (let round = 0; round < plan.rounds; round++) {
    for (let j = 0; j < engines.length; j++) {
      const k = (round + j) % engines.length;
      const e = engines[k]!;
      const t0 = performance.now();
      for (let sent = 0; sent < plan.inputsPerRound; ) {
        const n = Math.min(batch, plan.inputsPerRound - sent);
        const updates = Array.from({ length: n }, (_, i) => ({ account: 1 + ((sent + i) % 1000), collateral: 1e6 + round }));
        e.setCollaterals(updates);
        sent += n;
        await nextTurn();
      }
      await e.durable();
      rates[k]!.push(plan.inputsPerRound / ((performance.now() - t0) / 1000));
    }
  }
  return rates.map((r) => r.sort((a, b) => a - b)[r.length >> 1]!);
}

export function replicationSection(r: ReplicationResult): string {
  if (r.skipped !== undefined) return `Replication: skipped (${r.skipped}).`;
  const lines = [
    `Replication (README "Replication"): the same engine (${r.positions.toLocaleString('en-US')} positions, 1 scan worker, journal 'group') alone and as`,
    'the leader of a replicated engine on a 3-node NATS JetStream cluster on loopback (quorum acknowledgement), one run:',
    '',
  ];
  if (r.latency !== null) {
    const f = (p: Percentiles): string => `p50 ${p.p50.toFixed(0)} us, p99 ${p.p99.toFixed(0)} us`;
    lines.push(`push-to-order     local journal ${f(r.latency.local)}; replicated ${f(r.latency.replicated)}; paired ratio ${r.latency.pairedRatio.toFixed(2)}x`);
  }
  for (const t of r.throughput) {
    lines.push(`inputs acknowledged per second, ${t.batch} a turn: local ${Math.round(t.local).toLocaleString('en-US')}, replicated ${Math.round(t.replicated).toLocaleString('en-US')} (${(t.replicated / t.local).toFixed(2)}x)`);
  }
  return lines.join('\n');
}
