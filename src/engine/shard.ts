/**
 * Sharding by account (README "Sharding beyond one machine"). Shard `index` of `count` holds the accounts
 * `shardOf(account, count) === index` selects. It takes every input a single engine would take, in the same order, so
 * that every input has the same sequence number in every shard and in a single engine, and the ids derived from them
 * (`<account>-<market>-<sequence>`) are the same; it applies what names an account only for the accounts it holds.
 * The rest is checked for its shape (the checks that need no account's state, so that a malformed input is refused by
 * every shard alike), journaled as it came, takes its sequence numbers, and changes nothing here. That happens where
 * inputs land (src/tables/writer.ts, src/clearing/clearing.ts, through `TableWriter.holds`), so replay and a standby
 * take the same path.
 */
import type { ShardConfig } from '../config.js';

/**
 * The shard of an account among `count`: a multiplicative hash of its id (Knuth's 2654435761), so that neighbouring
 * ids spread over the shards. The same function places an account wherever it is asked (a router, a merger, a test).
 */
export function shardOf(account: number, count: number): number {
  return (Math.imul(account, 2654435761) >>> 0) % count;
}

/** Whether shard `s` holds `account`. */
export function holdsOf(s: ShardConfig): (account: number) => boolean {
  return (account) => shardOf(account, s.count) === s.index;
}

/** What a shard did that a single engine does across every account, so its orders may differ from a single engine's from then on. */
export interface ShardStatus extends ShardConfig {
  /** How many times (0: none; the shard's orders are what a single engine would issue for its accounts). */
  readonly inexact: number;
  /** The first of them, in words; null while there is none. */
  readonly firstInexact: string | null;
}
