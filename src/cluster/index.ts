/**
 * `unwind/cluster`: a replicated engine on NATS JetStream (README "Replication"). `unwind serve --cluster FILE` runs
 * one replica behind the binary feed; embedders start a `Replica` themselves.
 */
export { Replica, type ReplicaOptions, type ReplicaStats, type Role } from './replica.js';
export { resolveClusterConfig, type ClusterConfig, type ResolvedClusterConfig, type SnapshotStoreConfig } from './config.js';
export { type InstalledSnapshot } from './snapshot-store.js';
export { NatsCluster, findNatsServer, type NatsClusterOptions } from './nats-servers.js';
