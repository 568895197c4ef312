/**
 * A replicated deployment run as users run it, for the failover tests: a 3-node NATS cluster, replica processes
 * (`unwind serve --config ... --cluster ... --node ...`, killed with SIGKILL and started again), TCP proxies between
 * replicas and NATS that a test can cut (a partition), a publisher on the feed that records which inputs were
 * acknowledged, and readers of the input log and the order stream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { NatsCluster } from '../../src/cluster/nats-servers.js';
import { logMessage } from '../../src/cluster/input-log.js';
import { messageRecords } from '../../src/cluster/reconcile.js';
import { RecordApplier } from '../../src/engine/recovery.js';
import { startCore } from '../../src/engine/start.js';
import { RecordKind, type JournalRecord } from '../../src/journal/format.js';
import { fromJson } from '../../src/journal/payload.js';
import type { EngineConfig } from '../../src/config.js';
import { Engine } from '../../src/engine/engine.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
export const PUBLISHER = 'publisher-token-0123456789';
export const SUBSCRIBER = 'subscriber-token-0123456789';
export const TIERS = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];

/** A TCP proxy to one address; `cut()` drops every connection and refuses new ones until `heal()`. */
export class Proxy {
  private readonly sockets = new Set<Socket>();
  private open = true;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<Proxy> {
    let self: Proxy | undefined;
    const server = createServer((client) => {
      if (!self!.open) return client.destroy();
      const upstream = tcpConnect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        self!.sockets.add(s);
        s.on('close', () => self!.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new Proxy(server, (server.address() as { port: number }).port);
    return self;
  }

  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  heal(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface ReplicaProcess {
  readonly node: string;
  readonly feedPort: number;
  proc: ChildProcess | undefined;
  /** Its stdout and stderr, all runs. */
  output: string;
  /** When it last printed that it leads (performance.now()), per run. */
  ledAt: number | undefined;
}

export interface DeploymentOptions {
  readonly dir: string;
  readonly name: string;
  readonly leaseMs: number;
  /** Replicas reach NATS through a cuttable proxy each (node i through a proxy to NATS node i). */
  readonly proxied?: boolean;
  /** Start a replica again when it exits by itself with status 3, as a supervisor would. */
  readonly supervise?: boolean;
}

export class Deployment {
  readonly replicas: ReplicaProcess[] = [];
  readonly proxies: Proxy[] = [];
  private stopping = false;
  private constructor(
    readonly nats: NatsCluster,
    private readonly o: DeploymentOptions,
  ) {}

  static async start(o: DeploymentOptions, feedPorts: readonly number[]): Promise<Deployment> {
    const nats = await NatsCluster.start({ dir: join(o.dir, 'nats') });
    const d = new Deployment(nats, o);
    for (let i = 0; i < feedPorts.length; i++) {
      const node = `n${i + 1}`;
      let servers = [...nats.urls];
      if (o.proxied === true) {
        const proxy = await Proxy.start(Number(new URL(nats.urls[i]!).port));
        d.proxies.push(proxy);
        servers = [`nats://127.0.0.1:${proxy.port}`];
      }
      mkdirSync(join(o.dir, node), { recursive: true });
      writeFileSync(join(o.dir, node, 'cluster.json'), JSON.stringify({ servers, name: o.name, node, leaseMs: o.leaseMs, duplicateWindowMs: 120_000 }));
      writeFileSync(
        join(o.dir, node, 'serve.json'),
        JSON.stringify({
          server: { host: '127.0.0.1', port: feedPorts[i], publisherTokens: [PUBLISHER], subscriberTokens: [SUBSCRIBER] },
          engine: { scanWorkers: 0, maxOpenOrders: 100_000, journal: { dir: join(o.dir, node, 'journal'), durability: 'group' } },
          markets: [{ id: 1, symbol: 'BTC-USD', price: 100, tiers: TIERS }],
          accounts: [],
        }),
      );
      d.replicas.push({ node, feedPort: feedPorts[i]!, proc: undefined, output: '', ledAt: undefined });
    }
    for (const r of d.replicas) d.startReplica(r);
    return d;
  }

  get urls(): string[] {
    return this.replicas.map((r) => `ws://127.0.0.1:${r.feedPort}/v1/feed`);
  }

  startReplica(r: ReplicaProcess): void {
    const dir = join(this.o.dir, r.node);
    const p = spawn(process.execPath, [CLI, 'serve', '--config', join(dir, 'serve.json'), '--cluster', join(dir, 'cluster.json'), '--stats-every', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    r.proc = p;
    r.ledAt = undefined;
    const hear = (chunk: Buffer): void => {
      const text = chunk.toString();
      r.output += text;
      if (/ leads; /.test(text) && r.proc === p) r.ledAt = performance.now();
    };
    p.stdout!.on('data', hear);
    p.stderr!.on('data', hear);
    p.once('exit', (code) => {
      if (r.proc !== p) return;
      r.proc = undefined;
      // A supervisor's part (README "Replication"): a replica that stopped by itself (status 3: lease lost, fenced)
      // comes back as a standby. One the harness killed or stopped is the test's to restart.
      if (this.o.supervise === true && code === 3 && !this.stopping) setTimeout(() => r.proc === undefined && !this.stopping && this.startReplica(r), 200);
    });
  }

  /** The replica that printed last that it leads and still runs. */
  leader(): ReplicaProcess | undefined {
    return this.replicas.filter((r) => r.proc !== undefined && r.ledAt !== undefined).sort((a, b) => b.ledAt! - a.ledAt!)[0];
  }

  async kill(r: ReplicaProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = r.proc;
    if (p === undefined) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill(signal);
    await exited;
  }

  /** SIGTERM to every replica; resolves once all have exited. */
  async stopReplicas(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.replicas.map((r) => this.kill(r, 'SIGTERM')));
  }

  async stop(): Promise<void> {
    await this.stopReplicas();
    for (const p of this.proxies) await p.close();
    await this.nats.stop();
  }
}

/** `f`, retried for up to 20 s while NATS answers with errors (a node restarting, a leader election). */
export async function retry<T>(f: () => Promise<T>): Promise<T> {
  const until = performance.now() + 20_000;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (performance.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export async function waitFor(f: () => boolean, ms: number, what: string): Promise<void> {
  const until = performance.now() + ms;
  while (!f()) {
    if (performance.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface StoredOrder {
  readonly id: string;
  readonly epoch: number;
  readonly node: string;
  /** The leadership that published it (the lease's revision when taken). */
  readonly term: number;
  /** The stream's timestamp, ms since the epoch. */
  readonly time: number;
}

/** Messages in the order stream. */
export async function orderCount(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await nc.jetstreamManager();
  return (await jsm.streams.info(stream)).state.last_seq;
}

/** The messages of the order stream after stream sequence `after`, in stream order. */
export async function readOrders(nc: NatsConnection, stream: string, after = 0): Promise<StoredOrder[]> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(stream);
  const out: StoredOrder[] = [];
  for (let s = Math.max(after + 1, info.state.first_seq); s <= info.state.last_seq && info.state.messages > 0; s++) {
    const m = await jsm.streams.getMessage(stream, { seq: s });
    const batch = JSON.parse(new TextDecoder().decode(m.data)) as { epochs: [number, number]; orders: { id: string; epoch: number }[] };
    for (const o of batch.orders) out.push({ id: o.id, epoch: o.epoch, node: m.header.get('Unwind-Node'), term: Number(m.header.get('Unwind-Term')), time: m.time.getTime() });
  }
  return out;
}

/**
 * The reference: one uninterrupted engine fed the whole input log from its start (no journal, no threads), with the
 * orders of each epoch the log ended. Returns it open (the caller closes it).
 */
export async function replayLog(nc: NatsConnection, stream: string): Promise<{ engine: Engine; orders: { id: string; epoch: number }[]; endedEpochs: number }> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(stream);
  const records: JournalRecord[] = [];
  for (let s = info.state.first_seq; s <= info.state.last_seq && info.state.messages > 0; s++) {
    const m = await jsm.streams.getMessage(stream, { seq: s });
    records.push(...messageRecords(logMessage(s, m.data, m.header)));
  }
  if (records[0]?.kind !== RecordKind.Config) throw new Error('the input log does not start with the engine config');
  const recorded = fromJson(records[0].payload.toString('utf8')) as EngineConfig;
  const { core } = await startCore({ ...recorded, scanWorkers: 0, autoEpoch: false });
  const orders: { id: string; epoch: number }[] = [];
  core.setReplaying(true);
  const applier = new RecordApplier(core);
  let endedEpochs = 0;
  for (const r of records.slice(1)) {
    const ended = applier.apply(r);
    if (ended === undefined) continue;
    await ended;
    endedEpochs++;
    for (const o of applier.lastEnded!.orders) orders.push({ id: o.id, epoch: o.epoch });
  }
  return { engine: Engine.fromCore(core, undefined), orders, endedEpochs };
}

export { connect };
