/**
 * Thread: main (the feed server's). What `GET /metrics` reports (Prometheus text format, prom-client) and what
 * `GET /readyz` checks, for one FeedServer and its engine (README "Observability").
 *
 * Cheap by construction. The engine's listeners and the server's two hooks (a tick frame landed, a connection
 * opened, closed or was refused) only add to plain numbers, and stamp the clock at most twice an epoch; nothing here
 * runs per tick. Every metric is brought up to date at scrape time, in prom-client's collect() callbacks: counters
 * from those numbers, from the server's FeedStats and from the engine's reads (epochs, oracle stats), gauges from the
 * engine (open orders, insurance funds, paused markets). Latencies wait in a preallocated buffer and are folded into
 * their histograms at scrape time (or when the buffer fills).
 *
 * Times are wall-clock readings taken here, outside the engine: no decision reads them.
 */
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine } from '../engine/engine.js';
import type { Role } from './auth.js';
import type { FeedStats } from './stats.js';

/**
 * A connection the server opened, closed, or refused at the upgrade (`FeedServer.onConnection`: logs, metrics).
 * `kind` says which; `connection` is the server's id for it (1, 2, ... in the order they were accepted), `role` its
 * token's role, `remote` the peer's address as text; a close has the WebSocket close `code` and `reason`; a refusal has
 * no id or role, only the HTTP `status` and the `reason` code the upgrade got.
 */
export type ConnectionEvent =
  | { readonly kind: 'opened'; readonly connection: number; readonly role: Role; readonly remote: string }
  | { readonly kind: 'closed'; readonly connection: number; readonly role: Role; readonly remote: string; readonly code: number; readonly reason: string }
  | {
      readonly kind: 'refused';
      readonly remote: string;
      /** The HTTP status the upgrade got: 401 (no token of this server) or 503 (too many connections, closing). */
      readonly status: 401 | 503;
      readonly reason: 'UNAUTHORIZED' | 'TOO_MANY_CONNECTIONS' | 'CLOSING';
    };

/** One readiness check that failed: what, and why in words (the `/readyz` body lists them). */
export interface Unready {
  /** What is not ready: 'recovery' (the journal's replay is not done), 'oracle' (stale sources) or 'server' (closing). */
  readonly check: 'recovery' | 'oracle' | 'server';
  /** Why, for humans. */
  readonly detail: string;
  /** For `oracle`: the markets whose sources are not fresh enough. */
  readonly markets?: readonly number[];
}

/** What `GET /readyz` reports: ready (200), or the checks that failed (503). */
export interface Readiness {
  /** True exactly when `missing` is empty. */
  readonly ready: boolean;
  /** The checks that failed. */
  readonly missing: readonly Unready[];
}

/** What the probe routes read: readiness, and the metrics as Prometheus text. */
export interface Observed {
  /** Whether this process takes traffic, and if not why (`GET /readyz`). */
  readiness(): Readiness;
  /** The metrics in Prometheus text format (`GET /metrics`). */
  metrics(): Promise<string>;
}

/** What the metrics read of the server. */
export interface FeedView {
  stats(): FeedStats;
  /** False once the server is closing. */
  serving(): boolean;
}

/** Seconds; 10 us to 1 s, about three buckets a decade (Prometheus' 1-2.5-5 steps). */
export const LATENCY_BUCKETS: readonly number[] = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** FeedStats row counters and their `kind` label on `unwind_inputs_total`. */
const INPUT_KINDS = [
  ['tick', 'ticksIn'],
  ['position', 'positionUpdatesIn'],
  ['collateral', 'collateralUpdatesIn'],
  ['fill', 'fillsIn'],
  ['expiry', 'expiriesIn'],
  ['book', 'booksIn'],
  ['depth', 'depthIn'],
  ['kill_switch', 'killSwitchesIn'],
] as const satisfies readonly (readonly [string, keyof FeedStats])[];

const ROLES: readonly Role[] = ['source', 'matching', 'admin', 'subscriber', 'publisher'];
/** Market status codes that hold a market (src/clearing/market-mode.ts, src/oracle/guards.ts). */
const PAUSE_CODES = ['ORACLE_STALE', 'ORACLE_TWAP_BAND', 'ORACLE_CONFIDENCE', 'ORACLE_FROZEN_SOURCE', 'KILL_SWITCH'] as const;
/** How a deficit (a settlement worse than the bankruptcy value) was paid: see `deficit()`. */
const RESOLUTIONS = ['insurance', 'adl', 'socialized', 'unresolved'] as const;
type Resolution = (typeof RESOLUTIONS)[number];

/** Process metrics (CPU, memory, event loop lag, GC), one set per process whatever the number of servers. */
let processRegistry: Registry | undefined;
export function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * Latency samples (seconds) kept in a preallocated buffer between scrapes: recording one is a store, not prom-client's
 * per-observation objects; `fold` hands them to the histogram.
 */
class Samples {
  private readonly buffer = new Float64Array(1024);
  private n = 0;
  constructor(readonly histogram: Histogram) {}
  add(seconds: number): void {
    this.buffer[this.n++] = seconds;
    if (this.n === this.buffer.length) this.fold();
  }
  fold(): void {
    for (let i = 0; i < this.n; i++) this.histogram.observe(this.buffer[i]!);
    this.n = 0;
  }
}

/** A counter whose value lives elsewhere (a plain number, a FeedStats field): the registry publishes its growth. */
function mirrored(registry: Registry, name: string, help: string, read: () => number): void {
  let published = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > published) this.inc(now - published);
      published = now;
    },
  });
}

/** The same for a labelled family: `read` fills `into` with the value of each label it knows. */
function mirroredFamily(registry: Registry, name: string, help: string, label: string, initial: readonly string[], read: (into: Map<string, number>) => void): void {
  const published = new Map<string, number>();
  const now = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      // Labels known in advance are published at 0, so their series exist before the first event.
      for (const v of initial) if (!published.has(v)) (this.inc({ [label]: v }, 0), published.set(v, 0));
      now.clear();
      read(now);
      for (const [v, n] of now) {
        const before = published.get(v) ?? 0;
        if (n > before) this.inc({ [label]: v }, n - before);
        published.set(v, Math.max(n, before));
      }
    },
  });
}

/** The metrics and readiness of one FeedServer and its engine (see the file's header). */
export class FeedMetrics implements Observed {
  private readonly registry = new Registry();
  private readonly offs: (() => void)[] = [];
  private orders = 0;
  private marginCalls = 0;
  private timedOut = 0;
  private takeovers = 0;
  private readonly connections = new Map<Role, number>(ROLES.map((r) => [r, 0]));
  private readonly refused = new Map<string, number>();
  private readonly pauses = new Map<string, number>();
  private readonly deficits = { count: new Map<Resolution, number>(), quote: new Map<Resolution, number>() };
  /** When the first tick frame since the last epoch began landed (NaN: none), and the same for the epoch running. */
  private tickAt = NaN;
  private epochTickAt = NaN;
  private epochStartAt = NaN;
  private readonly scan: Samples;
  private readonly tickToOrder: Samples;

  constructor(
    private readonly engine: Engine,
    private readonly feed: FeedView,
  ) {
    const r = this.registry;

    // ---- the feed ----
    mirroredFamily(r, 'unwind_inputs_total', 'Input rows taken from the feed (accepted frames), by kind.', 'kind', INPUT_KINDS.map(([k]) => k), (into) => {
      const s = feed.stats();
      for (const [kind, field] of INPUT_KINDS) into.set(kind, s[field] as number);
    });
    mirroredFamily(r, 'unwind_rejects_total', 'Frames the server rejected with an ErrorFrame, by error code (README "Wire protocol").', 'code', [], (into) => {
      for (const [code, n] of Object.entries(feed.stats().rejected)) if (!code.startsWith('PEER_')) into.set(code, n);
    });
    mirroredFamily(r, 'unwind_peer_errors_total', 'ErrorFrames clients sent (they rejected a frame of ours), by code.', 'code', [], (into) => {
      for (const [code, n] of Object.entries(feed.stats().rejected)) if (code.startsWith('PEER_')) into.set(code.slice(5), n);
    });
    mirrored(r, 'unwind_feed_frames_received_total', 'WebSocket frames received.', () => feed.stats().framesIn);
    mirrored(r, 'unwind_feed_frames_sent_total', 'WebSocket frames sent.', () => feed.stats().framesOut);
    mirrored(r, 'unwind_feed_received_bytes_total', 'Bytes of frames received.', () => feed.stats().bytesIn);
    mirrored(r, 'unwind_feed_sent_bytes_total', 'Bytes of frames sent.', () => feed.stats().bytesOut);
    mirrored(r, 'unwind_feed_slow_consumers_dropped_total', 'Connections closed because their unsent backlog passed maxBackpressureBytes (4008 SLOW_CONSUMER).', () => feed.stats().slowConsumersDropped);
    mirrored(r, 'unwind_feed_oversized_closed_total', 'Connections uWS closed for a frame above maxPayloadBytes.', () => feed.stats().oversizedClosed);
    this.gauges('unwind_feed_connections', 'Open feed connections, by token role.', 'role', (set) => {
      for (const [role, n] of this.connections) set(role, n);
    });
    mirroredFamily(r, 'unwind_feed_connections_refused_total', 'Upgrades refused: UNAUTHORIZED (401), TOO_MANY_CONNECTIONS or CLOSING (503).', 'reason', ['UNAUTHORIZED', 'TOO_MANY_CONNECTIONS', 'CLOSING'], (into) => {
      for (const [reason, n] of this.refused) into.set(reason, n);
    });
    this.gauge('unwind_feed_topics', 'Market, account and ADL-market topics held over all connections.', () => feed.stats().topics);

    // ---- the engine ----
    mirrored(r, 'unwind_engine_inputs_total', 'Inputs the engine accepted from any side (feed, API, clock readings): its journal records.', () => engine.inputCount);
    mirrored(r, 'unwind_epochs_total', 'Epochs run (after a recovery: since the journal began).', () => engine.epochs);
    mirrored(r, 'unwind_orders_total', 'Liquidation orders emitted.', () => this.orders);
    mirrored(r, 'unwind_margin_calls_total', 'Margin calls emitted.', () => this.marginCalls);
    mirrored(r, 'unwind_orders_timed_out_total', 'Orders the engine timed out (open orderTimeoutUs unfilled).', () => this.timedOut);
    mirrored(r, 'unwind_takeovers_total', 'Positions a backstop vault took off the book.', () => this.takeovers);
    this.gauge('unwind_open_orders', 'Orders issued and neither filled nor expired.', () => engine.openOrders().length);
    this.gauge('unwind_accounts', 'Accounts held.', () => engine.counts.accounts);
    this.gauge('unwind_positions', 'Live position slots held.', () => engine.counts.positions);
    this.gauges('unwind_insurance_fund_quote', 'Insurance fund balances, quote units, by fund: a market id, or "pooled".', 'fund', (set) => {
      if (engine.config.fees.fund === 'pooled') set('pooled', engine.insuranceFund('pooled'));
      else for (const m of this.marketIds()) set(String(m), engine.insuranceFund(m));
    });
    mirroredFamily(r, 'unwind_deficits_total', 'Settlements beyond the bankruptcy value, by how they were paid: insurance (the fund), adl (deleveraged or charged to the ADL queue), socialized (pro rata), unresolved (bad debt named).', 'resolution', RESOLUTIONS, (into) => {
      for (const [k, n] of this.deficits.count) into.set(k, n);
    });
    mirroredFamily(r, 'unwind_deficit_quote_total', 'Quote paid for deficits, by resolution (as unwind_deficits_total).', 'resolution', RESOLUTIONS, (into) => {
      for (const [k, n] of this.deficits.quote) into.set(k, n);
    });
    mirroredFamily(r, 'unwind_market_pauses_total', 'Markets paused, by code (ORACLE_* guards, KILL_SWITCH).', 'code', PAUSE_CODES, (into) => {
      for (const [code, n] of this.pauses) into.set(code, n);
    });
    this.gauges('unwind_markets_paused', 'Markets whose liquidations are held now, by code (ORACLE_* guards, KILL_SWITCH).', 'code', (set) => {
      const held = new Map<string, number>(PAUSE_CODES.map((c) => [c, 0]));
      for (const m of this.marketIds()) {
        const s = engine.marketStatus(m);
        if (s.paused) held.set(s.code, (held.get(s.code) ?? 0) + 1);
      }
      for (const [code, n] of held) set(code, n);
    });
    mirrored(r, 'unwind_oracle_reports_total', 'Source reports the oracle took.', () => engine.oracleStats().accepted);
    mirroredFamily(r, 'unwind_oracle_reports_rejected_total', 'Source reports in rejected batches, by code.', 'code', [], (into) => {
      for (const [code, n] of Object.entries(engine.oracleStats().rejected)) into.set(code, n);
    });
    this.scan = new Samples(
      new Histogram({
        name: 'unwind_epoch_scan_seconds',
        help: "An epoch's scan and execution: from its start (its inputs landed) to its decision (its orders known, before the journal sync).",
        buckets: [...LATENCY_BUCKETS],
        registers: [r],
        collect: () => this.scan.fold(),
      }),
    );
    this.tickToOrder = new Samples(
      new Histogram({
        name: 'unwind_tick_to_order_seconds',
        help: "From the first tick frame that landed for an epoch to that epoch's orders sent to subscribers (epochs with orders).",
        buckets: [...LATENCY_BUCKETS],
        registers: [r],
        collect: () => this.tickToOrder.fold(),
      }),
    );

    // ---- listeners: plain numbers only ----
    this.offs.push(
      engine.onEpochStart(() => {
        this.epochStartAt = performance.now();
        this.epochTickAt = this.tickAt;
        this.tickAt = NaN;
      }),
      engine.onEpochState(() => {
        if (this.epochStartAt === this.epochStartAt) this.scan.add((performance.now() - this.epochStartAt) / 1000);
        this.epochStartAt = NaN;
      }),
      // Registered after the server's own: the orders have been sent when this runs.
      engine.onEpoch((e) => {
        this.orders += e.orders.length;
        this.marginCalls += e.marginCalls.length;
        this.timedOut += e.timedOut.length;
        if (e.orders.length > 0 && this.epochTickAt === this.epochTickAt) this.tickToOrder.add((performance.now() - this.epochTickAt) / 1000);
        this.epochTickAt = NaN;
      }),
      engine.onFill((s) => {
        if (s.insuranceCover > 0) this.deficit('insurance', s.insuranceCover);
      }),
      engine.onTakeover((t) => {
        this.takeovers++;
        if (t.settlement.insuranceCover > 0) this.deficit('insurance', t.settlement.insuranceCover);
      }),
      engine.onDeleverage((d) => this.deficit('adl', Math.max(0, d.absorbed))),
      engine.onSocializedLoss((l) => this.deficit(l.method === 'adl-queue' ? 'adl' : 'socialized', l.amount)),
      engine.onUnresolvedDeficit((u) => this.deficit('unresolved', u.amount)),
      engine.onMarketStatus((s) => {
        if (s.state === 'paused') this.pauses.set(s.code, (this.pauses.get(s.code) ?? 0) + 1);
      }),
    );
  }

  /** A tick frame landed in the engine: the first since the last epoch began starts its tick-to-order clock. */
  tickLanded(): void {
    if (this.tickAt !== this.tickAt) this.tickAt = performance.now();
  }

  /** A connection opened, closed or was refused. */
  connection(e: ConnectionEvent): void {
    if (e.kind === 'refused') this.refused.set(e.reason, (this.refused.get(e.reason) ?? 0) + 1);
    else this.connections.set(e.role, (this.connections.get(e.role) ?? 0) + (e.kind === 'opened' ? 1 : -1));
  }

  /**
   * Ready: the server serves (recovery is done before it exists), and every oracle market that is held has fresh
   * sources (it is not paused ORACLE_STALE). A market held by the kill switch shows that code instead, so its sources
   * are not judged here: the market is held either way.
   */
  readiness(): Readiness {
    const missing: Unready[] = [];
    if (!this.feed.serving()) missing.push({ check: 'server', detail: 'the server is closing' });
    const stale = this.engine.oracleMarkets.filter((m) => this.engine.hasMarket(m) && this.engine.marketStatus(m).code === 'ORACLE_STALE');
    if (stale.length > 0) missing.push({ check: 'oracle', detail: `too few fresh sources (ORACLE_STALE) for market${stale.length === 1 ? '' : 's'} ${stale.join(', ')}`, markets: stale });
    return { ready: missing.length === 0, missing };
  }

  /** Prometheus text: the process metrics, then this server's. */
  async metrics(): Promise<string> {
    const [process, own] = await Promise.all([processMetrics().metrics(), this.registry.metrics()]);
    return `${process}\n${own}`;
  }

  /** The registry of this server's metrics (the process metrics are in a registry of their own). */
  get register(): Registry {
    return this.registry;
  }

  /** Stops listening to the engine. */
  close(): void {
    for (const off of this.offs) off();
    this.offs.length = 0;
  }

  private deficit(how: Resolution, quote: number): void {
    this.deficits.count.set(how, (this.deficits.count.get(how) ?? 0) + 1);
    this.deficits.quote.set(how, (this.deficits.quote.get(how) ?? 0) + quote);
  }

  private gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A labelled gauge family, read whole at scrape time (labels `fill` no longer sets are dropped). */
  private gauges(name: string, help: string, label: string, fill: (set: (value: string, n: number) => void) => void): void {
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect() {
        this.reset();
        fill((value, n) => this.set({ [label]: value }, n));
      },
    });
  }

  /** The ids of the markets held, in table order. */
  private marketIds(): number[] {
    const ids = this.engine.tables.markets.id;
    return Array.from({ length: this.engine.counts.markets }, (_, m) => ids[m]!);
  }
}
