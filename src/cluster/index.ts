/**
 * `unwind/cluster`: a replicated engine on NATS JetStream (README "Replication"). `unwind serve --cluster FILE` runs
 * one replica behind the binary feed; embedders start a `Replica` themselves.
 */
export { Replica, type ReplicaOptions, type ReplicaStats, type Role } from './replica.js';
export { resolveClusterConfig, type ClusterConfig, type ResolvedClusterConfig } from './config.js';
export { NatsCluster, findNatsServer, type NatsClusterOptions } from './nats-servers.js';
