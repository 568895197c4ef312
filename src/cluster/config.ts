/**
 * A replica's cluster settings (README "Replication"): where the NATS JetStream cluster is, this replica's name,
 * and the lease. The stream, the order stream, the lease bucket and their subjects all derive from `name`, so
 * several deployments can share one NATS cluster.
 */
import { ErrorCode, UnwindError } from '../errors.js';

/** A replica's cluster settings, as given (`ReplicaOptions.cluster`; see the file's header). */
export interface ClusterConfig {
  /** NATS servers of the JetStream cluster (any of them; the client finds the rest). */
  readonly servers: readonly string[];
  /** This replica's name, unique in the deployment: it holds the lease under it. */
  readonly node: string;
  /** The deployment's name. Default 'unwind'. */
  readonly name?: string;
  /** Copies of the input log, the order stream and the lease kept by JetStream (1, 3 or 5). Default 3. */
  readonly replicas?: number;
  /**
   * The lease's time to live in the key-value bucket, ms (default 3000). A leader renews it every fifth of that
   * and stops acting at two thirds past its last renewal's request; a standby takes it once JetStream has expired it.
   */
  readonly leaseMs?: number;
  /** The order stream's duplicate window, ms: an order id published twice within it is kept once. Default 120000. */
  readonly duplicateWindowMs?: number;
  /**
   * Snapshots in the JetStream object store `<name>_snapshots`, from which a replica with no journal of its own starts
   * (README "Replication"); `false`: none are put or installed (a new replica replays the log from its start).
   */
  readonly snapshots?: SnapshotStoreConfig | false;
}

/** When the leader puts a snapshot into the object store, and how many it keeps (`ClusterConfig.snapshots`). */
export interface SnapshotStoreConfig {
  /** A snapshot once this many epochs have ended since the last one put (or since leading). Default 100000. */
  readonly everyEpochs?: number;
  /** Or once this many log messages have been appended since then. Default 100000. */
  readonly everyMessages?: number;
  /** Objects kept; older ones are deleted once a newer one is stored. Default 3. */
  readonly keep?: number;
}

/** ClusterConfig checked, its defaults applied, and the names derived from `name`. */
export interface ResolvedClusterConfig {
  /** As ClusterConfig.servers (a copy). */
  readonly servers: readonly string[];
  /** As ClusterConfig.node. */
  readonly node: string;
  /** As ClusterConfig.name, default applied. */
  readonly name: string;
  /** As ClusterConfig.replicas, default applied. */
  readonly replicas: number;
  /** As ClusterConfig.leaseMs, default applied. */
  readonly leaseMs: number;
  /** As ClusterConfig.duplicateWindowMs, default applied. */
  readonly duplicateWindowMs: number;
  /** Stream of the input log: `<NAME>_LOG` (`name` upper-cased, - as _). */
  readonly logStream: string;
  /** Subject of the input log: `unwind.<name>.log`. */
  readonly logSubject: string;
  /** Stream of the orders: `<NAME>_ORDERS`. */
  readonly orderStream: string;
  /** Subject of the order stream: `unwind.<name>.orders`. */
  readonly orderSubject: string;
  /** Key-value bucket of the lease. */
  readonly leaseBucket: string;
  /** As ClusterConfig.snapshots, defaults applied; undefined: none are put. */
  readonly snapshots: Required<SnapshotStoreConfig> | undefined;
  /** Object store of the snapshots: `<name>_snapshots`. */
  readonly snapshotBucket: string;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

function fail(field: string, why: string): never {
  throw new UnwindError(ErrorCode.InvalidConfig, why, `cluster.${field}`);
}

/** Checks `c` (INVALID_CONFIG naming `cluster.<field>`), applies its defaults and derives the names from `name`. */
export function resolveClusterConfig(c: ClusterConfig): ResolvedClusterConfig {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new UnwindError(ErrorCode.InvalidConfig, 'expected an object', 'cluster');
  const known = new Set(['servers', 'node', 'name', 'replicas', 'leaseMs', 'duplicateWindowMs', 'snapshots']);
  for (const k of Object.keys(c)) if (!known.has(k)) fail(k, 'unknown key');
  if (!Array.isArray(c.servers) || c.servers.length === 0 || c.servers.length > 16) fail('servers', 'expected 1 to 16 NATS URLs');
  c.servers.forEach((s, i) => {
    if (typeof s !== 'string' || !/^(nats|tls):\/\/[^\s]+$/.test(s)) fail(`servers[${i}]`, `expected a nats:// or tls:// URL, got ${JSON.stringify(s)}`);
  });
  if (typeof c.node !== 'string' || !NAME.test(c.node)) fail('node', 'expected 1 to 64 letters, digits, _ or -');
  const name = c.name ?? 'unwind';
  if (typeof name !== 'string' || !NAME.test(name)) fail('name', 'expected 1 to 64 letters, digits, _ or -');
  const replicas = c.replicas ?? 3;
  if (replicas !== 1 && replicas !== 3 && replicas !== 5) fail('replicas', `expected 1, 3 or 5, got ${String(replicas)}`);
  const leaseMs = c.leaseMs ?? 3000;
  if (!Number.isInteger(leaseMs) || leaseMs < 300 || leaseMs > 600_000) fail('leaseMs', `expected an integer in [300, 600000], got ${String(leaseMs)}`);
  const duplicateWindowMs = c.duplicateWindowMs ?? 120_000;
  if (!Number.isInteger(duplicateWindowMs) || duplicateWindowMs < 10 * leaseMs || duplicateWindowMs > 86_400_000) {
    fail('duplicateWindowMs', `expected an integer in [10 x leaseMs, 86400000], got ${String(duplicateWindowMs)}`);
  }
  const snapshots = resolveSnapshots(c.snapshots);
  const upper = name.toUpperCase().replace(/-/g, '_');
  return {
    servers: [...c.servers],
    node: c.node,
    name,
    replicas,
    leaseMs,
    duplicateWindowMs,
    logStream: `${upper}_LOG`,
    logSubject: `unwind.${name}.log`,
    orderStream: `${upper}_ORDERS`,
    orderSubject: `unwind.${name}.orders`,
    leaseBucket: `${name}_lease`,
    snapshots,
    snapshotBucket: `${name}_snapshots`,
  };
}

function resolveSnapshots(s: SnapshotStoreConfig | false | undefined): Required<SnapshotStoreConfig> | undefined {
  if (s === false) return undefined;
  const v = s ?? {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail('snapshots', 'expected an object or false');
  for (const k of Object.keys(v)) if (k !== 'everyEpochs' && k !== 'everyMessages' && k !== 'keep') fail(`snapshots.${k}`, 'unknown key');
  const count = (x: unknown, field: string, dflt: number, max: number): number => {
    const n = x ?? dflt;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) fail(`snapshots.${field}`, `expected an integer in [1, ${max}], got ${String(n)}`);
    return n;
  };
  return {
    everyEpochs: count(v.everyEpochs, 'everyEpochs', 100_000, 1e9),
    everyMessages: count(v.everyMessages, 'everyMessages', 100_000, 1e9),
    keep: count(v.keep, 'keep', 3, 64),
  };
}
