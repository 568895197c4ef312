/**
 * `unwind serve --config FILE --cluster CLUSTER_FILE [--node NAME]`: one replica of a replicated engine (README
 * "Replication"). It follows the input log on NATS JetStream as a standby; once it holds the lease it loads the
 * config's book if the log holds none, then serves the binary feed like `unwind serve`. It exits 3 when it stops
 * leading or following for good (lease lost, fenced off the log, diverged): a supervisor restarts it as a standby.
 *
 * The cluster file (JSON): { "servers": ["nats://..."], "name"?, "node"?, "replicas"?, "leaseMs"?, "duplicateWindowMs"?,
 * "snapshots"? }
 * (src/cluster/config.ts). `--node` or UNWIND_NODE names this replica when the file does not.
 */
import { readFileSync } from 'node:fs';
import type { ClusterConfig } from '../cluster/config.js';
import { Replica } from '../cluster/replica.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { resolveServerOptions } from '../feed/server-options.js';
import { engineConfigOf, serveEngine, serverOptionsOf, type Served, type ServeConfig } from './serve.js';

export function readClusterConfig(file: string, node: string | undefined): ClusterConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UnwindError(ErrorCode.InvalidConfig, `cannot read JSON from ${file}: ${(e as Error).message}`, '--cluster');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new UnwindError(ErrorCode.InvalidConfig, 'expected a JSON object', '--cluster');
  const c = json as Record<string, unknown>;
  const name = node ?? process.env.UNWIND_NODE ?? c.node;
  return { ...(c as unknown as ClusterConfig), node: name as string };
}

export async function serveCluster(o: { readonly config: ServeConfig; readonly cluster: string; readonly node: string | undefined }): Promise<void> {
  const config = o.config;
  const cluster = readClusterConfig(o.cluster, o.node);
  const engine = engineConfigOf(config);
  if (engine.journal === undefined) throw new UnwindError(ErrorCode.InvalidConfig, 'a replica keeps its own journal: set engine.journal.dir in the config', 'engine.journal');
  // The server's options are checked now, not once this replica leads: a bad one stops it before it joins.
  const setup = serverOptionsOf(config);
  resolveServerOptions(setup.options);
  let served: Served | undefined;
  let stop!: (e: UnwindError | undefined) => void;
  const stopped = new Promise<UnwindError | undefined>((resolve) => (stop = resolve));
  // Heard from before the replica says anything: whoever reads a line may signal at once (a signal before a listener
  // is Node's default, death, not a close). One during the start closes the replica once it has started.
  process.once('SIGINT', () => stop(undefined));
  process.once('SIGTERM', () => stop(undefined));
  const replica = await Replica.start({
    engine,
    cluster,
    log: (line) => console.log(line),
    onLead: async (e) => {
      served = await serveEngine(e, config, setup);
      console.log(`unwind serve: ${cluster.node} leads; ${served.server.url} (stats at ${served.server.url.replace(/^ws/, 'http')}/stats)`);
      if (served.generated.publisher !== undefined) console.log(`publisher token (generated): ${served.generated.publisher}`);
      if (served.generated.subscriber !== undefined) console.log(`subscriber token (generated): ${served.generated.subscriber}`);
      void served.stopped.then(stop);
    },
    onStop: (e) => stop(e),
  });
  if (replica.role === 'standby') console.log(`unwind serve: ${cluster.node} follows ${cluster.name ?? 'unwind'} as a standby (journal ${engine.journal.dir})`);
  const failure = await stopped;
  console.log('unwind serve: closing');
  await served?.server.close();
  await replica.close();
  if (failure !== undefined) {
    process.stderr.write(`unwind serve: ${failure.code}: ${failure.message}\n`);
    process.exitCode = failure.code === ErrorCode.NotLeader || failure.code === ErrorCode.ReplicationFailed ? 3 : 1;
  }
}
