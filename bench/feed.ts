/**
 * The feed section of `npm run bench` (`--only feed`): the binary WebSocket feed over real loopback sockets,
 * with its clients in one worker thread (feed-client.worker.ts) so they do not run on the server's main thread.
 *
 *   feed-latency.ts  tick in -> order out at 1e6 positions, vs pushPrice -> onOrder in process, vs a bare echo
 *   feed-ingest.ts   ticks/s accepted at 1, 100 and 1,000 ticks per frame, vs a bare uWS echo of the same frames
 *
 * Each module draws its threads in its header. The client worker is started once and ended (not terminated)
 * before this returns, after every server and engine has closed.
 */
import { FeedClientWorker } from './feed-client.js';
import { runFeedIngest, type FeedCheck, type FeedIngestPlan, type FeedIngestResult } from './feed-ingest.js';
import { runFeedLatency, type FeedLatencyPlan, type FeedLatencyResult } from './feed-latency.js';

export type { FeedCheck } from './feed-ingest.js';

export interface FeedPlan {
  readonly latency: FeedLatencyPlan;
  readonly ingest: FeedIngestPlan;
}

export interface FeedResult {
  readonly latency: FeedLatencyResult;
  readonly ingest: FeedIngestResult;
  /** Every check of the section, latency and ingest; a failed one fails the run. */
  readonly checks: FeedCheck[];
}

type Log = (line: string) => void;

export async function runFeed(plan: FeedPlan, seed: number, log: Log): Promise<FeedResult> {
  const client = new FeedClientWorker();
  let latency: FeedLatencyResult;
  let ingest: FeedIngestResult;
  try {
    latency = await runFeedLatency(plan.latency, client, seed, log);
    ingest = await runFeedIngest(plan.ingest, client, seed + 1, log);
  } finally {
    await client.close();
  }
  const { spill, orders } = latency;
  const checks: FeedCheck[] = [
    {
      what: 'latency: no order or margin call for anything but the armed victim (spill)',
      ok: spill.orders + spill.marginCalls === 0,
      detail: `${spill.orders} orders, ${spill.marginCalls} margin calls`,
    },
    {
      what: 'latency: every order emitted was sent (ordersOut) and received by the allOrders subscriber',
      ok: orders.emitted === orders.sent && orders.sent === orders.received && orders.emitted > 0,
      detail: `emitted ${orders.emitted}, sent ${orders.sent}, received ${orders.received}`,
    },
    ...ingest.checks,
  ];
  return { latency, ingest, checks };
}

export const feedFailed = (r: FeedResult | null): boolean => r?.checks.some((c) => !c.ok) ?? false;
