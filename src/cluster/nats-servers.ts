/**
 * A NATS JetStream cluster of `nats-server` processes on loopback: what the cluster tests, the bench and
 * `scripts/nats-cluster.mjs` start (README "Replication"). Each node gets its own config file, store directory and
 * ports; `killNode(i)` kills one (SIGKILL), `startNode(i)` brings it back on the same ports and store.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { ErrorCode, UnwindError } from '../errors.js';

/** What `NatsCluster.start` takes. */
export interface NatsClusterOptions {
  /** Where the nodes' configs, stores and logs go. */
  readonly dir: string;
  /** Nodes (1, 3 or 5). Default 3. */
  readonly nodes?: number;
  /** First client port; node i listens on port + i, routes on port + 100 + i. Default: free ports found now. */
  readonly port?: number;
  /** The `nats-server` binary. Default `nats-server` on PATH (Debian: /usr/sbin). */
  readonly binary?: string;
  /** Largest message a client may publish, bytes. Default 8 MiB (a bulk load's journal chunk). */
  readonly maxPayload?: number;
}

/** The nats-server binary, or undefined when none is installed. */
export function findNatsServer(binary = 'nats-server'): string | undefined {
  for (const candidate of [binary, '/usr/sbin/nats-server', '/usr/bin/nats-server']) {
    const r = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

/** A TCP port on loopback that is free now (bound later by whoever asked). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether something listens on 127.0.0.1:port now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The tail of a node's log file, or what is known when there is none. */
function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return `no log at ${file}`;
  }
}

/** The nodes of a NATS JetStream cluster on loopback (see the file's header): their processes and client URLs. */
export class NatsCluster {
  private readonly procs: (ChildProcess | undefined)[];
  private constructor(
    private readonly binary: string,
    private readonly configs: readonly string[],
    /** Client URLs, one per node. */
    readonly urls: readonly string[],
  ) {
    this.procs = configs.map(() => undefined);
  }

  /**
   * Writes each node's config under `o.dir`, starts every node and waits until each listens for clients (its route
   * port is bound before that); INVALID_CONFIG when nats-server is not installed. A port found free may be taken by
   * another process before the node binds it, and the node then exits: with ports of its own choosing it starts the
   * whole cluster again on new ones (three attempts), else REPLICATION_FAILED with the node's log.
   */
  static async start(o: NatsClusterOptions): Promise<NatsCluster> {
    for (let attempt = 1; ; attempt++) {
      const cluster = await NatsCluster.spawn(o);
      const down = await cluster.listening(30_000);
      if (down === undefined) return cluster;
      await cluster.stop();
      const log = readLog(`${cluster.configs[down]!.replace(/\.conf$/, '')}.log`);
      if (o.port !== undefined || attempt === 3) {
        throw new UnwindError(ErrorCode.ReplicationFailed, `nats-server node n${down + 1} did not start (attempt ${attempt}): ${log}`, 'nats-server');
      }
    }
  }

  /** Waits until every node takes connections; the index of a node that exited or never listened, else undefined. */
  private async listening(timeoutMs: number): Promise<number | undefined> {
    const until = Date.now() + timeoutMs;
    const ports = this.urls.map((u) => Number(new URL(u).port));
    for (let i = 0; i < ports.length; i++) {
      while (!(await accepts(ports[i]!))) {
        if (this.procs[i] === undefined || Date.now() > until) return i;
        await new Promise((r) => setTimeout(r, 50));
      }
      // Accepting, but perhaps another process's listener: the node itself must still run.
      if (this.procs[i] === undefined) return i;
    }
    return undefined;
  }

  private static async spawn(o: NatsClusterOptions): Promise<NatsCluster> {
    const binary = findNatsServer(o.binary);
    if (binary === undefined) throw new UnwindError(ErrorCode.InvalidConfig, 'nats-server is not installed (Debian: apt-get install nats-server)', 'nats-server');
    const n = o.nodes ?? 3;
    const clientPorts: number[] = [];
    const routePorts: number[] = [];
    for (let i = 0; i < n; i++) {
      clientPorts.push(o.port === undefined ? await freePort() : o.port + i);
      routePorts.push(o.port === undefined ? await freePort() : o.port + 100 + i);
    }
    mkdirSync(o.dir, { recursive: true });
    const configs: string[] = [];
    for (let i = 0; i < n; i++) {
      const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`);
      const file = join(o.dir, `n${i + 1}.conf`);
      writeFileSync(
        file,
        [
          `server_name: n${i + 1}`,
          `listen: 127.0.0.1:${clientPorts[i]}`,
          `max_payload: ${o.maxPayload ?? 8 * 1024 * 1024}`,
          `jetstream { store_dir: "${join(o.dir, `n${i + 1}`)}" }`,
          // no_advertise: clients reach the servers they were given, not the others' addresses learned from the
          // cluster (a replica behind a proxy stays behind it, so a test can cut it off).
          n > 1 ? `cluster { name: unwind, listen: 127.0.0.1:${routePorts[i]}, routes: [${routes.join(', ')}], no_advertise: true }` : '',
          '',
        ].join('\n'),
      );
      configs.push(file);
    }
    const cluster = new NatsCluster(binary, configs, clientPorts.map((p) => `nats://127.0.0.1:${p}`));
    for (let i = 0; i < n; i++) cluster.startNode(i);
    return cluster;
  }

  /** Starts node `i` (again), on its ports and store. */
  startNode(i: number): void {
    if (this.procs[i] !== undefined) return;
    const p = spawn(this.binary, ['-c', this.configs[i]!, '-l', `${this.configs[i]!.replace(/\.conf$/, '')}.log`], { stdio: 'ignore' });
    this.procs[i] = p;
    p.once('exit', () => {
      if (this.procs[i] === p) this.procs[i] = undefined;
    });
  }

  /** Kills node `i` (SIGKILL) and waits for it to exit. */
  async killNode(i: number): Promise<void> {
    const p = this.procs[i];
    if (p === undefined) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGKILL');
    await exited;
  }

  /** Nodes whose process is running (started and not yet exited). */
  get running(): number {
    return this.procs.filter((p) => p !== undefined).length;
  }

  /** Kills every node (SIGKILL) and waits for them to exit; their configs and stores stay on disk. */
  async stop(): Promise<void> {
    await Promise.all(this.procs.map((_, i) => this.killNode(i)));
  }
}
