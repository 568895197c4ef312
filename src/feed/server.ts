/**
 * Thread: main (the engine's). The binary WebSocket feed on uWebSockets.js: publishers push ticks, positions,
 * collateral, fills, order expiries, book tops and book depth; subscribers receive orders, margin calls, backstop takeovers,
 * deleveragings, socialized losses, unresolved deficits, account states, ADL queues, market and engine status, and
 * the venue topics: fill settlements, the liquidation tape, insurance funds, market summaries (server-venue.ts).
 * Also serves the live risk page's static files at /dashboard (server-dashboard.ts).
 * Writes: the engine's input tables, through the Engine (inside the message handler, before it returns).
 * Reads:  each epoch's output (Engine.onEpoch), the clearing's takeovers and deficit events (onTakeover, onDeleverage,
 *         onSocializedLoss, onUnresolvedDeficit: kept until the epoch's end), the account table for account states and engine.adlQueue
 *         for ADL queues (both where the tables hold exactly one epoch's state: Engine.onEpochState, stateEpoch),
 *         engine.openOrders for the open orders a subscription selects.
 *
 * Connection policy (README "Wire protocol"):
 *   - upgrade: a token (Authorization: Bearer, or ?token=) of the server's config, which grants a role and scopes
 *     (auth.ts; ingest.ts checks every inbound row against them: FORBIDDEN); else HTTP 401.
 *   - topics are capped per connection and over all connections (TOO_MANY_TOPICS); an epoch's account-state work
 *     is capped by accountStateBudget (account-watch.ts), whatever the topics held.
 *   - a rejected frame gets an ErrorFrame and a counter; the connection stays open and nothing changes.
 *   - a frame above `maxPayloadBytes` is not read at all: uWS closes the connection (1006, "Received too big message").
 *   - a subscriber whose unsent backlog passes `maxBackpressureBytes` is closed (4008 SLOW_CONSUMER); others are
 *     not slowed: every send is a copy into that connection's own buffer.
 */
import type uWS from 'uWebSockets.js'; // types only: the native build is chosen and loaded at start (transport.ts)
import { loadTransport } from './transport.js';
import type { Engine, EpochResult } from '../engine/engine.js';
import type { Settlement } from '../clearing/clearing.js';
import { ErrorCode, isUnwindError, UnwindError } from '../errors.js';
import {
  decodeFrame,
  encodeAccountStates,
  encodeAck,
  encodeAdlQueue,
  encodeDeleveragings,
  encodeEngineStatus,
  encodeError,
  encodeMarginCalls,
  encodeMarketStatus,
  encodeOpenOrders,
  encodeOrders,
  encodeSocializedLosses,
  encodeTakeovers,
  encodeUnresolvedDeficits,
  setFrameSequence,
  TickBatchBuffer,
  type AccountState,
  type AdlQueue,
  type Deleveraging,
  type EngineState,
  type FeedMessage,
  type LiquidationOrder,
  type MarginCall,
  type MarketState,
  type OpenOrder,
  type SocializedLoss,
  type Takeover,
  type TickBatchMessage,
  type Topics,
  type UnresolvedDeficit,
  encodeExpiries,
  encodeInsuranceFunds,
  encodeLiquidations,
  encodeMarketSummaries,
  encodeSettlements,
  type InsuranceFundsUpdate,
  type MarketSummary,
  type MarketSummariesUpdate,
} from './codec.js';
import { DEFICIT_ROWS_PER_FRAME, FeedErrorCode, FrameErrorCode, OPEN_ORDERS_PER_FRAME, type FrameError } from './messages.js';
import { Acknowledgements } from './acks.js';
import {
  DELEVERAGING_SHAPE,
  deleveragingRecord,
  packRecords,
  selectRecords,
  SOCIALIZED_LOSS_SHAPE,
  socializedLossRecord,
  UNRESOLVED_DEFICIT_SHAPE,
  unresolvedDeficitRecord,
  type RecordShape,
} from './deficits.js';
import { AccountWatch } from './account-watch.js';
import { AdlWatch } from './adl-watch.js';
import { publishes, TokenRoles, type Grant, type Role } from './auth.js';
import { accountsNamed, forbidden, ingest, isInbound } from './ingest.js';
import { VerifyingIntake } from '../oracle/intake.js';
import { SignatureVerifier } from '../oracle/verifier.js';
import { countPeerError, countRejected, zeroStats, type FeedStats } from './stats.js';
import { resolveServerOptions, type FeedServerOptions, type ResolvedServerOptions } from './server-options.js';
import { FeedMetrics, type ConnectionEvent } from './server-metrics.js';
import { addProbeRoutes, ProbeListener } from './server-routes.js';
import { VenueWatch, type VenueOutput } from './server-venue.js';
import { serveDashboard } from './server-dashboard.js';

export type { FeedServerOptions } from './server-options.js';
export type { FeedStats } from './stats.js';
export type { ConnectionEvent, Readiness } from './server-metrics.js';

export type { Role } from './auth.js';

/** WebSocket close codes the server uses (4000-4999 is the application range). */
export const CloseCode = {
  /** The server is closing (or the engine stopped). */
  GoingAway: 1001,
  /** The connection's unsent backlog passed `maxBackpressureBytes`. */
  SlowConsumer: 4008,
} as const;

/** Per-connection state (uWS user data). */
interface Connection {
  readonly id: number;
  readonly role: Role;
  /** The token's role and scopes (auth.ts): what this connection may send. */
  readonly grant: Grant;
  readonly remote: string;
  /** Envelope.sequence of the next frame we send on this connection. */
  sequence: number;
  readonly markets: Set<number>;
  readonly accounts: Set<number>;
  /** Markets whose ADL queues this connection receives. */
  readonly adlMarkets: Set<number>;
  /** Markets whose public liquidation tape this connection receives. */
  readonly liquidationMarkets: Set<number>;
  /** Settlements of the fills its order topics select; insurance fund balances; market summaries. */
  settlements: boolean;
  insuranceFunds: boolean;
  marketSummaries: boolean;
  allOrders: boolean;
  open: boolean;
  ws?: uWS.WebSocket<Connection>;
  /** Acknowledge this connection's input frames (Subscribe.acks). */
  acks: boolean;
  /** The input sequence after this connection's last accepted frame: where its Subscribe answers' barrier is. */
  lastInput: number;
  /** What its Subscribes still owe it: states that wait for an epoch covering `lastInput` (see subscribe()). */
  answer: PendingAnswer | undefined;
}

/** Account states and ADL queues a Subscribe answers with once an epoch covers the connection's earlier frames. */
interface PendingAnswer {
  /** The connection's `lastInput` at its last Subscribe: an epoch whose inputs reach it answers. */
  barrier: number;
  readonly accounts: Set<number>;
  readonly adlMarkets: Set<number>;
  /** Every fund's balance, every market's summary. */
  funds: boolean;
  markets: boolean;
}

/** What a Subscribe's answer carries: states of these accounts, queues of these markets, the funds, the markets. */
interface Owed {
  readonly accounts: Iterable<number>;
  readonly adlMarkets: Iterable<number>;
  readonly funds: boolean;
  readonly markets: boolean;
}

/** Subscribe answers read at an epoch's state, sent with its output. */
interface Answer {
  readonly states: AccountState[];
  readonly queues: AdlQueue[];
  readonly funds?: InsuranceFundsUpdate;
  readonly markets?: MarketSummariesUpdate;
}

/** State frames read when an epoch was decided (Engine.onEpochState), sent once it has left (Engine.onEpoch). */
interface EpochState {
  readonly epoch: number;
  readonly states: Map<number, AccountState>;
  readonly queues: AdlQueue[];
  readonly answers: Map<Connection, Answer>;
  /** Insurance funds and market summaries that changed in the epoch. */
  readonly funds: InsuranceFundsUpdate | undefined;
  readonly markets: MarketSummary[];
}


/** A frame the server rejected, as `onRejected` hears it. */
export interface RejectedFrame {
  /** The connection's id (per server, from 1). */
  readonly connection: number;
  /** The role of its token. */
  readonly role: Role;
  /** The error code sent back in the ErrorFrame. */
  readonly code: string;
  /** What was wrong, as sent back. */
  readonly message: string;
  /** The frame's Envelope.sequence; null when it could not be read. */
  readonly sequence: number | null;
}

/** Orders per outbound frame: keeps frames bounded for clients with small receive limits. */
const ROWS_PER_FRAME = 4096;


/**
 * The binary WebSocket feed in front of an engine (README "unwind serve and the client SDK"): start it with
 * `FeedServer.start(engine, options)`.
 */
export class FeedServer {
  private readonly app: uWS.TemplatedApp;
  private listenSocket: uWS.us_listen_socket | null = null;
  private readonly connections = new Set<Connection>();
  private nextConnectionId = 1;
  private readonly tokens: TokenRoles;
  /** Accounts some connection subscribes to, and the state last sent for each. */
  private readonly watch: AccountWatch<Connection>;
  /** Markets some connection watches the ADL queues of, and the queues last sent for each. */
  private readonly adl: AdlWatch;
  /** Settlements, the liquidation tape, insurance funds, market summaries (server-venue.ts). */
  private readonly venue: VenueWatch;
  private readonly marketStates = new Map<number, { state: MarketState; reason: string; eventTimeUs: number; code: string }>();
  private readonly counters: FeedStats = zeroStats();
  /** Marks an account an accepted input named, so the next epoch reads its state first. */
  private readonly touchAccount = (account: number): void => this.watch.touch(account);

  private readonly fillListeners = new Set<(fill: Settlement) => void>();
  private readonly rejectListeners = new Set<(r: RejectedFrame) => void>();
  private readonly connectionListeners = new Set<(e: ConnectionEvent) => void>();
  /** GET /metrics and /readyz (src/feed/server-metrics.ts): counters fed by the engine's listeners and two hooks here. */
  readonly metrics: FeedMetrics;
  /** The probe listener of `options.metrics` (or the one `start` was given), once listening. */
  private probe: ProbeListener | undefined;
  private readonly offEpoch: () => void;
  private readonly offEpochState: () => void;
  /** The state frames of the epoch decided and not yet emitted. */
  private epochState: EpochState | undefined;
  private readonly acks: Acknowledgements<Connection>;
  private readonly offFill: () => void;
  private readonly offStatus: () => void;
  private readonly offDeleverage: () => void;
  private readonly offTakeover: () => void;
  private readonly offSocializedLoss: () => void;
  private readonly offUnresolvedDeficit: () => void;
  private readonly offError: () => void;
  /**
   * The clearing's events since the last epoch's end, as whole wire records, in the order they landed: sent with
   * the next epoch's output (deleveragings screened from its orders land just before it ends; those after a fill
   * or an explicit deleverage wait for the epoch the input schedules).
   */
  private deleveragings: Deleveraging[] = [];
  /** Backstop takeovers since the last epoch's end (they land in an epoch, before its orders are screened). */
  private takeovers: Takeover[] = [];
  private socializedLosses: SocializedLoss[] = [];
  private unresolvedDeficits: UnresolvedDeficit[] = [];
  /** Feeds the oracle's clock from the wall clock (an input: journaled like any other). */
  private clock: NodeJS.Timeout | undefined;
  /** Reused by every PriceTicks frame: ticks go from the frame to the tables without an object per tick. */
  private readonly ticks = new TickBatchBuffer();
  /**
   * SignedPriceTicks verified on worker threads, and every frame landing in the order it arrived behind them
   * (src/oracle/intake.ts); undefined: verified inline (verifyWorkers 0, or no oracle source has a key).
   */
  private readonly intake: VerifyingIntake | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private state: EngineState = 'running';
  private boundPort = -1;

  private constructor(
    /** The engine it serves. */
    readonly engine: Engine,
    /** Its options, every default applied. */
    readonly options: ResolvedServerOptions,
  ) {
    this.watch = new AccountWatch<Connection>(engine, options.accountStateBudget);
    this.adl = new AdlWatch(engine);
    this.venue = new VenueWatch(engine);
    this.tokens = new TokenRoles(options.publisherTokens, options.subscriberTokens, options.adminTokens, options.tokens);
    this.app = loadTransport().App();
    this.app.ws<Connection>(options.path, {
      maxPayloadLength: options.maxPayloadBytes,
      // The backlog limit is enforced before each send (see send()); uWS's own limit only backs it up.
      maxBackpressure: options.maxBackpressureBytes + options.maxPayloadBytes + (64 << 20),
      closeOnBackpressureLimit: 1,
      idleTimeout: options.idleTimeoutSeconds,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.opened(ws),
      message: (ws, message, isBinary) => this.received(ws.getUserData(), message, isBinary),
      close: (ws, code, reason) => this.closed(ws.getUserData(), code, Buffer.from(reason).toString()),
    });
    this.app.get(`${options.path}/stats`, (res, req) => {
      if (this.tokens.roleOf(req.getHeader('authorization'), req.getQuery('token') ?? '') === undefined) {
        res.writeStatus('401 Unauthorized').end('UNAUTHORIZED');
        return;
      }
      res.writeHeader('content-type', 'application/json').end(JSON.stringify(this.stats()));
    });
    // Observability (README "Observability"): /healthz, /readyz, and /metrics for a token of this server.
    addProbeRoutes(this.app, () => this.metrics, (authorization, query) => this.tokens.roleOf(authorization, query) !== undefined);
    // The live risk page: static files at /dashboard (server-dashboard.ts).
    serveDashboard(this.app, options.path);
    this.acks = new Acknowledgements<Connection>(engine, (c, ack) => this.send(c, encodeAck(c.sequence, ack)));
    if (options.verifyWorkers > 0 && SignatureVerifier.hasKeys(engine.oracleConfig)) {
      const verifier = new SignatureVerifier(engine.oracleConfig, { workers: options.verifyWorkers });
      this.intake = new VerifyingIntake(verifier, { maxBytes: options.maxIntakeBytes, maxBytesPerOwner: options.maxIntakeBytesPerConnection });
    }
    this.offEpochState = engine.onEpochState((r) => this.readEpochState(r));
    this.offEpoch = engine.onEpoch((r) => this.publishEpoch(r));
    this.offFill = engine.onFill((f) => {
      this.venue.settled(f);
      for (const l of this.fillListeners) l(f);
    });
    this.offStatus = engine.onMarketStatus((s) => this.publishMarketStatus(s.market, s.state, s.reason, s.eventTimeUs, s.code));
    // Copied at once: the records do not depend on the engine's objects staying as they were.
    this.offDeleverage = engine.onDeleverage((d) => this.deleveragings.push(deleveragingRecord(d)));
    this.offTakeover = engine.onTakeover((t) => this.takeovers.push({ ...t, settlement: { ...t.settlement } }));
    this.offSocializedLoss = engine.onSocializedLoss((l) => this.socializedLosses.push(socializedLossRecord(l)));
    this.offUnresolvedDeficit = engine.onUnresolvedDeficit((u) => this.unresolvedDeficits.push(unresolvedDeficitRecord(u)));
    this.offError = engine.onError((e) => this.engineStopped(e));
    // Statuses from before the server (an oracle market starts paused until its sources report).
    for (const m of engine.oracleMarkets) {
      const s = engine.hasMarket(m) ? engine.marketStatus(m) : undefined;
      if (s?.paused === true) this.marketStates.set(m, { state: 'paused', reason: s.reason, eventTimeUs: engine.oracleStats().clockUs, code: s.code });
    }
    // Last: its onEpoch listener runs after publishEpoch's, so tick-to-order includes the sends.
    this.metrics = new FeedMetrics(engine, { stats: () => this.stats(), serving: () => this.state !== 'closing' });
  }

  /**
   * Starts listening. Throws TRANSPORT_UNAVAILABLE without the native uWS binary, INVALID_CONFIG on bad options.
   * `probe`: a ProbeListener started before the engine (it answers during recovery), which the server takes over and
   * closes with itself; without one, `options.metrics` starts one.
   */
  static async start(engine: Engine, options: FeedServerOptions, probe?: ProbeListener): Promise<FeedServer> {
    loadTransport();
    const server = new FeedServer(engine, resolveServerOptions(options));
    try {
      await server.listen();
      const m = server.options.metrics;
      server.probe = probe ?? (m === undefined ? undefined : await ProbeListener.start(m, server.options.listenRetryMs));
      server.probe?.attach(server.metrics);
    } catch (e) {
      await server.close();
      throw e;
    }
    return server;
  }

  private async listen(): Promise<void> {
    const { host, port, listenRetryMs } = this.options;
    const deadline = Date.now() + listenRetryMs;
    for (;;) {
      const socket = await new Promise<uWS.us_listen_socket | false>((resolve) => this.app.listen(host, port, resolve));
      if (socket !== false) {
        this.listenSocket = socket;
        break;
      }
      // uSockets does not set SO_REUSEADDR: a port whose closed connections are in TIME_WAIT (up to 60 s on
      // Linux after a restart) cannot be bound yet. Retry until the deadline rather than fail a restart.
      if (Date.now() >= deadline) throw new UnwindError(ErrorCode.InvalidConfig, `cannot listen on ${host}:${port}`, 'port');
      await new Promise((r) => setTimeout(r, 500));
    }
    this.boundPort = loadTransport().us_socket_local_port(this.listenSocket as unknown as uWS.us_socket);
    // The engine's clock input: staleness of oracle sources, and the bound on every event time a client sends
    // (clock.maxSkewUs). Each reading moves the engine's clock by at most clock.maxStepUs (catching up after a stop).
    this.clock = setInterval(() => {
      if (this.engine.closing) return;
      const nowUs = Date.now() * 1000;
      const reading = (): void => {
        try {
          this.engine.advanceClock(nowUs);
        } catch (e) {
          // An engine that stopped taking inputs (JOURNAL_IO) has said so through onError; a timer must not crash.
          if (!isUnwindError(e)) throw e;
        }
      };
      if (this.intake === undefined) return reading();
      try {
        // In its turn, like a frame (8 bytes: the reading). Refused (BACKPRESSURE): the next one comes soon.
        this.intake.inTurn(this, 8, reading);
      } catch (e) {
        if (!isUnwindError(e)) throw e;
      }
    }, this.options.clockIntervalMs);
    this.clock.unref();
    if (this.options.statusIntervalMs > 0) {
      this.heartbeat = setInterval(() => this.broadcastEngineStatus(), this.options.statusIntervalMs);
      this.heartbeat.unref();
    }
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }
  /** ws://host:port/path */
  get url(): string {
    return `ws://${this.options.host}:${this.boundPort}${this.options.path}`;
  }

  /** A copy of the counters since start. */
  stats(): FeedStats {
    return { ...this.counters, rejected: { ...this.counters.rejected } };
  }

  /** Fills accepted from publishers, as they settle in the engine (fee, insurance cover, position after). */
  onFill(listener: (fill: Settlement) => void): () => void {
    this.fillListeners.add(listener);
    return () => this.fillListeners.delete(listener);
  }
  /** Every connection opened, closed, or refused at the upgrade (for logs). */
  onConnection(listener: (e: ConnectionEvent) => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }
  /** The probe listener's URL (http://host:port) when /metrics has a listener of its own. */
  get metricsUrl(): string | undefined {
    return this.probe?.url;
  }
  /** Every rejected frame, after its ErrorFrame was sent (for logs). */
  onRejected(listener: (r: RejectedFrame) => void): () => void {
    this.rejectListeners.add(listener);
    return () => this.rejectListeners.delete(listener);
  }

  /**
   * A market's pause or resume, sent to its subscribers and kept for later ones. The engine's own (oracle guards,
   * kill switch) come through here; an embedding application may publish others.
   */
  publishMarketStatus(market: number, state: MarketState, reason: string, eventTimeUs: number, code = ''): void {
    const status = { state, reason, eventTimeUs, code };
    this.marketStates.set(market, status);
    for (const c of this.connections) {
      if (!c.markets.has(market)) continue;
      this.send(c, encodeMarketStatus(c.sequence, { market, ...status }));
      this.counters.marketStatusesOut++;
    }
  }

  // ---- connections ----

  private upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    // Headers are only readable before the handler returns: read them all first.
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const grant = this.tokens.grantOf(req.getHeader('authorization'), req.getQuery('token') ?? '');
    if (grant === undefined) {
      this.counters.upgradesRefused++;
      this.connectionEvent({ kind: 'refused', remote: Buffer.from(res.getRemoteAddressAsText()).toString(), status: 401, reason: 'UNAUTHORIZED' });
      res.writeStatus('401 Unauthorized').writeHeader('WWW-Authenticate', 'Bearer').end('UNAUTHORIZED: a token of this server is required');
      return;
    }
    if (this.connections.size >= this.options.maxConnections || this.state === 'closing') {
      this.counters.upgradesRefused++;
      const reason = this.state === 'closing' ? 'CLOSING' : 'TOO_MANY_CONNECTIONS';
      this.connectionEvent({ kind: 'refused', remote: Buffer.from(res.getRemoteAddressAsText()).toString(), status: 503, reason });
      res.writeStatus('503 Service Unavailable').end(reason);
      return;
    }
    const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
    const c: Connection = {
      id: this.nextConnectionId++,
      role: grant.role,
      grant,
      remote,
      sequence: 0,
      markets: new Set(),
      accounts: new Set(),
      adlMarkets: new Set(),
      liquidationMarkets: new Set(),
      settlements: false,
      insuranceFunds: false,
      marketSummaries: false,
      allOrders: false,
      open: false,
      acks: false,
      lastInput: 0,
      answer: undefined,
    };
    res.upgrade(c, key, protocol, extensions, context);
  }

  private opened(ws: uWS.WebSocket<Connection>): void {
    const c = ws.getUserData();
    c.ws = ws;
    c.open = true;
    this.connections.add(c);
    if (publishes(c.role)) this.counters.publishers++;
    else this.counters.subscribers++;
    this.connectionEvent({ kind: 'opened', connection: c.id, role: c.role, remote: c.remote });
    this.send(c, this.engineStatusFrame(c.sequence, ''));
  }

  private closed(c: Connection, code: number, reason: string): void {
    if (!c.open) return;
    c.open = false;
    this.connections.delete(c);
    if (publishes(c.role)) this.counters.publishers--;
    else this.counters.subscribers--;
    // uWS reports a frame above maxPayloadLength as 1006 "Received too big message" (the peer sees 1006 too).
    if (code === 1006 && reason.startsWith('Received too big message')) this.counters.oversizedClosed++;
    for (const a of c.accounts) this.watch.unwatch(a, c);
    this.counters.topics -= c.markets.size + c.accounts.size + c.adlMarkets.size + c.liquidationMarkets.size;
    for (const m of c.adlMarkets) this.adl.unwatch(m);
    if (c.insuranceFunds) this.venue.fundWatchers--;
    if (c.marketSummaries) this.venue.marketWatchers--;
    this.acks.forget(c);
    this.connectionEvent({ kind: 'closed', connection: c.id, role: c.role, remote: c.remote, code, reason });
  }

  private connectionEvent(e: ConnectionEvent): void {
    this.metrics.connection(e);
    for (const l of this.connectionListeners) l(e);
  }

  /** Sends a frame on one connection, or drops the connection when its backlog is past the limit. */
  private send(c: Connection, frame: Uint8Array): void {
    const ws = c.ws;
    if (!c.open || ws === undefined) return;
    if (ws.getBufferedAmount() > this.options.maxBackpressureBytes) {
      this.counters.slowConsumersDropped++;
      ws.end(CloseCode.SlowConsumer, 'SLOW_CONSUMER');
      return;
    }
    c.sequence++;
    this.counters.framesOut++;
    this.counters.bytesOut += frame.byteLength;
    ws.send(frame, true);
  }

  /** Sends one encoded frame to many connections, each with its own sequence (patched in place; send copies). */
  private sendShared(c: Connection, frame: Uint8Array): void {
    setFrameSequence(frame, c.sequence);
    this.send(c, frame);
  }

  private reject(c: Connection, code: string, message: string, sequence: number | null): void {
    countRejected(this.counters, code);
    this.send(c, encodeError(c.sequence, code, message, sequence));
    if (this.rejectListeners.size > 0) {
      const r: RejectedFrame = { connection: c.id, role: c.role, code, message, sequence };
      for (const l of this.rejectListeners) l(r);
    }
  }

  // ---- inbound ----

  private received(c: Connection, message: ArrayBuffer, isBinary: boolean): void {
    this.counters.framesIn++;
    this.counters.bytesIn += message.byteLength;
    // Decoded synchronously: the ArrayBuffer is detached when this handler returns, the message is plain objects.
    const m = isBinary ? decodeFrame(new Uint8Array(message), this.options.maxFrameBytes, this.ticks) : TEXT_FRAME;
    const intake = this.intake;
    if (intake === undefined) return this.handle(c, m);
    try {
      if (m.kind === 'tickBatch' && m.batch.signed && forbidden(c.grant, m) === undefined) {
        // Verified on the verify workers, then applied in its turn (the copy: the decode buffer is reused).
        intake.verifyThen(c, message.byteLength, m.batch.copy(), (batch) => this.handle(c, { ...m, batch }));
      } else if (intake.waiting === 0) {
        this.handle(c, m);
      } else {
        // Behind a frame waiting for its verdicts: this one waits its turn.
        const held = m.kind === 'tickBatch' ? { ...m, batch: m.batch.copy() } : m;
        intake.inTurn(c, message.byteLength, () => this.handle(c, held));
      }
    } catch (e) {
      // BACKPRESSURE: refused at once, nothing queued.
      if (!isUnwindError(e)) throw e;
      this.reject(c, e.code, e.message, m.sequence ?? null);
    }
  }

  /** One frame in its turn: a decode error is answered; else it is applied, an UnwindError answered. */
  private handle(c: Connection, m: Frame): void {
    if (m.kind === 'error') {
      this.reject(c, m.code, m.message, m.sequence ?? null);
      return;
    }
    try {
      this.apply(c, m);
    } catch (e) {
      if (!isUnwindError(e)) throw e;
      this.reject(c, e.code, e.message, m.sequence);
    }
  }

  /** Applies one decoded message; throws UnwindError to reject it, having changed nothing. */
  private apply(c: Connection, m: Exclude<FeedMessage, { kind: 'ticks' }> | TickBatchMessage): void {
    if (isInbound(m)) {
      const why = forbidden(c.grant, m);
      if (why !== undefined) {
        this.reject(c, FeedErrorCode.Forbidden, why, m.sequence);
        return;
      }
      const before = this.engine.lastSequence;
      ingest(this.engine, m, this.counters, this.options.createAccounts);
      if (m.kind === 'tickBatch') this.metrics.tickLanded();
      if (m.kind === 'tickBatch' || m.kind === 'books') this.venue.priceFrame(this.engine.lastSequence);
      if (this.watch.size > 0) accountsNamed(m, this.touchAccount);
      c.lastInput = this.engine.lastSequence;
      if (c.acks) this.acks.accepted(c, m.sequence, before + 1, c.lastInput);
      return;
    }
    switch (m.kind) {
      case 'subscribe':
        return this.subscribe(c, m.topics, m.sequence);
      case 'unsubscribe':
        return this.unsubscribe(c, m.topics);
      case 'errorFrame':
        // The peer rejected one of our frames: count it; there is nothing to undo.
        // Counted under a code this server knows (or PEER_OTHER): a client cannot add keys to the stats.
        countPeerError(this.counters, m.code);
        return;
      default:
        this.reject(c, FrameErrorCode.UnknownMessage, `the server does not accept ${m.kind} frames (they flow from server to client)`, m.sequence);
    }
  }

  private subscribe(c: Connection, t: Topics, sequence: number): void {
    const adlMarkets = t.adlMarkets ?? [];
    const newAdl = [...new Set(adlMarkets.filter((m) => !c.adlMarkets.has(m)))];
    const liquidationMarkets = t.liquidationMarkets ?? [];
    const newLiquidations = new Set(liquidationMarkets.filter((m) => !c.liquidationMarkets.has(m)));
    const added =
      new Set(t.markets.filter((m) => !c.markets.has(m))).size + new Set(t.accounts.filter((a) => !c.accounts.has(a))).size + newAdl.length + newLiquidations.size;
    if (c.markets.size + c.accounts.size + c.adlMarkets.size + c.liquidationMarkets.size + added > this.options.maxTopicsPerConnection) {
      this.reject(c, FeedErrorCode.TooManyTopics, `at most ${this.options.maxTopicsPerConnection} market, account and ADL topics per connection`, sequence);
      return;
    }
    if (this.counters.topics + added > this.options.maxTopicsTotal) {
      const free = this.options.maxTopicsTotal - this.counters.topics;
      this.reject(c, FeedErrorCode.TooManyTopics, `at most ${this.options.maxTopicsTotal} market, account and ADL topics over all connections (${free} free, this frame adds ${added})`, sequence);
      return;
    }
    t.markets.forEach((m, i) => {
      if (!this.engine.hasMarket(m)) throw new UnwindError(ErrorCode.UnknownMarket, `no market with id ${m}`, `markets[${i}]`);
    });
    adlMarkets.forEach((m, i) => {
      if (!this.engine.hasMarket(m)) throw new UnwindError(ErrorCode.UnknownMarket, `no market with id ${m}`, `adlMarkets[${i}]`);
    });
    liquidationMarkets.forEach((m, i) => {
      if (!this.engine.hasMarket(m)) throw new UnwindError(ErrorCode.UnknownMarket, `no market with id ${m}`, `liquidationMarkets[${i}]`);
    });
    // Ranked before anything changes: a market whose queues cannot be ranked rejects the frame with the engine's code.
    for (const m of newAdl) this.adl.queues(m, this.engine.epochs);
    // The answer (README "Wire protocol"), in this order: market statuses and the open orders the new topics select
    // (if any), at once; account states and ADL queues as of an epoch that covers every earlier frame of this connection (its
    // `lastInput`) and has left: now if the tables hold such an epoch's state, else when one is decided.
    const openOrders = this.openOrdersAdded(c, t);
    if (t.acks === true) c.acks = true;
    if (t.allOrders) c.allOrders = true;
    for (const m of t.markets) {
      if (c.markets.has(m)) continue;
      c.markets.add(m);
      const s = this.marketStates.get(m);
      if (s !== undefined) this.send(c, encodeMarketStatus(c.sequence, { market: m, ...s }));
    }
    if (openOrders.length > 0) this.sendOpenOrders(c, openOrders);
    const accounts = [...new Set(t.accounts.filter((a) => !c.accounts.has(a)))];
    for (const a of accounts) {
      c.accounts.add(a);
      this.watch.watch(a, c);
    }
    for (const m of newAdl) {
      c.adlMarkets.add(m);
      this.adl.watch(m);
    }
    for (const m of newLiquidations) c.liquidationMarkets.add(m);
    if (t.settlements === true) c.settlements = true;
    const funds = t.insuranceFunds === true && !c.insuranceFunds;
    const markets = t.marketSummaries === true && !c.marketSummaries;
    if (funds) {
      c.insuranceFunds = true;
      this.venue.fundWatchers++;
    }
    if (markets) {
      c.marketSummaries = true;
      this.venue.marketWatchers++;
    }
    this.counters.topics += added;
    if (accounts.length + newAdl.length === 0 && !funds && !markets) return;
    const state = this.engine.stateEpoch;
    if (state !== undefined && c.lastInput <= state.lastSequence) {
      this.sendAnswer(c, this.readAnswer(c, { accounts, adlMarkets: newAdl, funds, markets }, state.epoch));
      return;
    }
    c.answer ??= { barrier: 0, accounts: new Set(), adlMarkets: new Set(), funds: false, markets: false };
    c.answer.barrier = c.lastInput;
    for (const a of accounts) c.answer.accounts.add(a);
    for (const m of newAdl) c.answer.adlMarkets.add(m);
    c.answer.funds ||= funds;
    c.answer.markets ||= markets;
  }

  private unsubscribe(c: Connection, t: Topics): void {
    if (t.acks === true) {
      c.acks = false;
      this.acks.forget(c);
    }
    if (t.allOrders) c.allOrders = false;
    const held = c.markets.size + c.accounts.size + c.adlMarkets.size + c.liquidationMarkets.size;
    for (const m of t.markets) c.markets.delete(m);
    for (const a of t.accounts) if (c.accounts.delete(a)) this.watch.unwatch(a, c);
    for (const m of t.adlMarkets ?? []) if (c.adlMarkets.delete(m)) this.adl.unwatch(m);
    for (const m of t.liquidationMarkets ?? []) c.liquidationMarkets.delete(m);
    this.counters.topics -= held - (c.markets.size + c.accounts.size + c.adlMarkets.size + c.liquidationMarkets.size);
    if (t.settlements === true) c.settlements = false;
    if (t.insuranceFunds === true && c.insuranceFunds) {
      c.insuranceFunds = false;
      this.venue.fundWatchers--;
    }
    if (t.marketSummaries === true && c.marketSummaries) {
      c.marketSummaries = false;
      this.venue.marketWatchers--;
    }
    const owed = c.answer;
    if (owed !== undefined) {
      for (const a of t.accounts) owed.accounts.delete(a);
      for (const m of t.adlMarkets ?? []) owed.adlMarkets.delete(m);
      owed.funds &&= c.insuranceFunds;
      owed.markets &&= c.marketSummaries;
      if (owed.accounts.size + owed.adlMarkets.size === 0 && !owed.funds && !owed.markets) c.answer = undefined;
    }
  }

  /**
   * The open orders topics `t` select that `c`'s topics do not yet (all orders, a market, an account). Orders of the
   * epoch in flight are left out: they reach `c` as LiquidationOrders once it has left, through the topics added now.
   */
  private openOrdersAdded(c: Connection, t: Topics): OpenOrder[] {
    const markets = new Set(t.markets.filter((m) => !c.markets.has(m)));
    const accounts = new Set(t.accounts.filter((a) => !c.accounts.has(a)));
    const all = t.allOrders && !c.allOrders;
    if (!all && markets.size === 0 && accounts.size === 0) return [];
    const emitted = this.engine.emittedEpochs;
    return this.engine.openOrders().filter(({ order: o }) => {
      if (o.epoch > emitted || c.allOrders || c.markets.has(o.market) || c.accounts.has(o.account)) return false;
      return all || markets.has(o.market) || accounts.has(o.account);
    });
  }

  /** An open-orders snapshot in frames of at most OPEN_ORDERS_PER_FRAME rows, consecutive on the connection. */
  private sendOpenOrders(c: Connection, orders: readonly OpenOrder[]): void {
    const barrier = { epoch: this.engine.emittedEpochs, lastSequence: this.engine.lastSequence, orderCount: orders.length };
    for (let firstIndex = 0; firstIndex < orders.length; firstIndex += OPEN_ORDERS_PER_FRAME) {
      this.send(c, encodeOpenOrders(c.sequence, { ...barrier, orders: orders.slice(firstIndex, firstIndex + OPEN_ORDERS_PER_FRAME), firstIndex }));
    }
  }

  /** A Subscribe's answer read now, as epoch `epoch`'s state (the caller knows the tables hold it). */
  private readAnswer(c: Connection, owed: Owed, epoch: number): Answer {
    const states = this.watch.states([...owed.accounts].filter((a) => c.accounts.has(a)), epoch);
    const queues: AdlQueue[] = [];
    for (const m of owed.adlMarkets) if (c.adlMarkets.has(m)) queues.push(...this.adl.snapshot(m, epoch));
    const funds = owed.funds && c.insuranceFunds ? this.venue.fundSnapshot(epoch) : undefined;
    const markets = owed.markets && c.marketSummaries ? this.venue.marketSnapshot(epoch) : undefined;
    return { states, queues, funds, markets };
  }

  /** Sends an answer, but for topics the connection dropped since it was read. */
  private sendAnswer(c: Connection, a: Answer): void {
    for (const chunk of chunks(a.states.filter((s) => c.accounts.has(s.account)))) this.send(c, encodeAccountStates(c.sequence, chunk));
    for (const q of a.queues) if (c.adlMarkets.has(q.market)) this.sendAdlQueue(c, encodeAdlQueue(c.sequence, q));
    if (a.funds !== undefined && c.insuranceFunds) this.sendFunds(c, a.funds);
    if (a.markets !== undefined && c.marketSummaries) this.sendMarketSummaries(c, a.markets);
  }

  // ---- outbound ----

  /**
   * Epoch `r` is decided and the tables hold exactly its state: the account states and ADL queues that changed, and
   * the answers owed to connections whose earlier frames it covers, are read now and sent once it has left.
   */
  private readEpochState(r: EpochResult): void {
    const epoch = r.epoch;
    if (this.watch.size > 0) {
      // Accounts the epoch named are read first (the others in turn, within accountStateBudget).
      for (const o of r.orders) this.watch.touch(o.account);
      for (const m of r.marginCalls) this.watch.touch(m.account);
    }
    const states = this.watch.size > 0 ? this.watch.changed(epoch) : new Map<number, AccountState>();
    const queues = this.adl.size > 0 ? this.adl.changed(epoch, () => this.counters.adlQueuesSkipped++) : [];
    const answers = new Map<Connection, Answer>();
    for (const c of this.connections) {
      const owed = c.answer;
      if (owed === undefined || owed.barrier > r.lastSequence) continue;
      c.answer = undefined;
      answers.set(c, this.readAnswer(c, owed, epoch));
    }
    this.epochState = { epoch, states, queues, answers, funds: this.venue.fundChanges(epoch), markets: this.venue.marketChanges() };
  }

  private publishEpoch(r: EpochResult): void {
    const counters = this.counters;
    this.fanOut(r.orders, encodeOrders, (c, o) => c.markets.has(o.market) || c.accounts.has(o.account), (n) => (counters.ordersOut += n));
    this.fanOut(
      r.marginCalls,
      encodeMarginCalls,
      (c, m) => c.accounts.has(m.account) || (m.market !== null && c.markets.has(m.market)),
      (n) => (counters.marginCallsOut += n),
    );
    if (r.timedOut.length > 0) {
      // Orders the engine timed out (orderTimeoutUs): an OrderExpiries frame to whoever got them, so the venue cancels them.
      const now = this.engine.oracleStats().clockUs;
      const encode = (sequence: number, orders: readonly LiquidationOrder[]): Uint8Array => encodeExpiries(sequence, orders.map((o) => o.id), now);
      this.fanOut(r.timedOut, encode, (c, o) => c.markets.has(o.market) || c.accounts.has(o.account), () => {});
    }
    // Read before the deficit records are sent and cleared: each settlement says how its deficit was placed.
    const venue = this.venue.epochOutput(r, { deleveragings: this.deleveragings, losses: this.socializedLosses, unresolved: this.unresolvedDeficits }, this.takeovers);
    this.publishTakeovers();
    this.publishDeficits();
    this.publishVenue(venue);
    const state = this.epochState;
    this.epochState = undefined;
    // Undefined for an epoch decided before this server listened (one recovery completed): nobody watched then.
    if (state?.epoch === r.epoch) {
      if (state.states.size > 0) this.publishAccountStates(state);
      if (state.queues.length > 0) this.publishAdlQueues(state);
      this.publishFundsAndMarkets(state, r, venue);
      for (const [c, a] of state.answers) this.sendAnswer(c, a);
    }
    // Answers owed that this epoch's state, still in the tables, covers (their Subscribe came while it was in flight).
    const now = this.engine.stateEpoch;
    if (now === undefined) return;
    for (const c of this.connections) {
      const owed = c.answer;
      if (owed === undefined || owed.barrier > now.lastSequence) continue;
      c.answer = undefined;
      this.sendAnswer(c, this.readAnswer(c, owed, now.epoch));
    }
  }

  /**
   * Sends rows to every connection that wants any of them, once each: all-orders connections share one encoding,
   * the others get the rows their market and account topics select, in emission order.
   */
  private fanOut<T>(
    rows: readonly T[],
    encode: (sequence: number, rows: readonly T[]) => Uint8Array,
    wants: (c: Connection, row: T) => boolean,
    count: (rows: number) => void,
  ): void {
    if (rows.length === 0) return;
    let shared: Uint8Array[] | undefined;
    for (const c of this.connections) {
      if (c.allOrders) {
        shared ??= chunks(rows).map((chunk) => encode(0, chunk));
        for (const f of shared) this.sendShared(c, f);
        count(rows.length);
      } else if (c.markets.size > 0 || c.accounts.size > 0) {
        const mine = rows.filter((row) => wants(c, row));
        for (const chunk of chunks(mine)) this.send(c, encode(c.sequence, chunk));
        count(mine.length);
      }
    }
  }

  /**
   * After an epoch: the takeovers it landed, in the order they landed, after its orders and margin calls and before
   * the deficits (some of which a takeover's own deficit led to). To all orders, the market, the liquidated account
   * and the vault account: a vault's owner sees every position its vault takes.
   */
  private publishTakeovers(): void {
    const takeovers = this.takeovers;
    if (takeovers.length === 0) return;
    this.takeovers = [];
    const wants = (c: Connection, t: Takeover): boolean => c.markets.has(t.market) || c.accounts.has(t.account) || c.accounts.has(t.vault);
    this.fanOut(takeovers, encodeTakeovers, wants, (n) => (this.counters.takeoversOut += n));
  }

  /**
   * After an epoch: the deleveragings, socialized losses and unresolved deficits since the last one, each kind in
   * the order they landed, after the epoch's orders and margin calls (which keep their latency) and before the
   * account states they changed.
   */
  private publishDeficits(): void {
    const counters = this.counters;
    const deleveragings = this.deleveragings;
    const losses = this.socializedLosses;
    const deficits = this.unresolvedDeficits;
    if (deleveragings.length + losses.length + deficits.length === 0) return;
    this.deleveragings = [];
    this.socializedLosses = [];
    this.unresolvedDeficits = [];
    this.fanOutRecords(deleveragings, DELEVERAGING_SHAPE, encodeDeleveragings, (n) => (counters.deleveragingsOut += n));
    this.fanOutRecords(losses, SOCIALIZED_LOSS_SHAPE, encodeSocializedLosses, (n) => (counters.socializedLossesOut += n));
    this.fanOutRecords(deficits, UNRESOLVED_DEFICIT_SHAPE, encodeUnresolvedDeficits, (n) => (counters.unresolvedDeficitsOut += n));
  }

  /**
   * Sends records to every connection whose topics select any of them (deficits.ts selectRecords), in frames of at
   * most DEFICIT_ROWS_PER_FRAME rows (packRecords: a record too long for one frame is split over several). The
   * connections that get every record whole share one encoding; the others get their own selection.
   */
  private fanOutRecords<R extends { readonly account: number; readonly market: number }>(
    records: readonly R[],
    shape: RecordShape<R>,
    encode: (sequence: number, records: readonly R[]) => Uint8Array,
    count: (records: number) => void,
  ): void {
    if (records.length === 0) return;
    let shared: Uint8Array[] | undefined;
    for (const c of this.connections) {
      if (!c.allOrders && c.markets.size === 0 && c.accounts.size === 0) continue;
      const mine = selectRecords(records, c, shape);
      if (mine.records.length === 0) continue;
      if (mine.whole) {
        shared ??= packRecords(records, shape, DEFICIT_ROWS_PER_FRAME).map((frame) => encode(0, frame));
        for (const f of shared) this.sendShared(c, f);
      } else {
        for (const frame of packRecords(mine.records, shape, DEFICIT_ROWS_PER_FRAME)) this.send(c, encode(c.sequence, frame));
      }
      count(mine.records.length);
    }
  }

  /**
   * After an epoch, behind its deficits: the fills that settled since the last one, to connections with
   * `settlements` whose order topics select them, and the liquidations, to those watching their market's tape.
   */
  private publishVenue(v: VenueOutput): void {
    const { settlements, liquidations } = v;
    if (settlements.length + liquidations.length === 0) return;
    const decimals = this.venue.quoteDecimals;
    for (const c of this.connections) {
      if (c.settlements && settlements.length > 0) {
        const mine = c.allOrders ? settlements : settlements.filter((s) => c.markets.has(s.market) || c.accounts.has(s.account));
        for (const chunk of chunks(mine)) this.send(c, encodeSettlements(c.sequence, decimals, chunk));
      }
      if (c.liquidationMarkets.size > 0 && liquidations.length > 0) {
        const mine = liquidations.filter((l) => c.liquidationMarkets.has(l.market));
        for (const chunk of chunks(mine)) this.send(c, encodeLiquidations(c.sequence, chunk));
      }
    }
  }

  /**
   * After an epoch: the insurance funds and market summaries that changed in it (and the epoch's tick-to-order
   * latency when it issued orders), to their watchers, but those whose answer in this epoch carries them.
   */
  private publishFundsAndMarkets(e: EpochState, r: EpochResult, v: VenueOutput): void {
    const summaries: MarketSummariesUpdate | undefined =
      e.markets.length > 0 || r.orders.length > 0 ? { epoch: e.epoch, snapshot: false, markets: e.markets, orders: r.orders.length, tickToOrderUs: v.tickToOrderUs } : undefined;
    if (e.funds === undefined && summaries === undefined) return;
    for (const c of this.connections) {
      const answer = e.answers.get(c);
      if (e.funds !== undefined && c.insuranceFunds && answer?.funds === undefined) this.sendFunds(c, e.funds);
      if (summaries !== undefined && c.marketSummaries && answer?.markets === undefined) this.sendMarketSummaries(c, summaries);
    }
  }

  private sendFunds(c: Connection, u: InsuranceFundsUpdate): void {
    for (const funds of chunks(u.funds)) this.send(c, encodeInsuranceFunds(c.sequence, { ...u, funds }));
  }

  private sendMarketSummaries(c: Connection, u: MarketSummariesUpdate): void {
    if (u.markets.length <= ROWS_PER_FRAME) return this.send(c, encodeMarketSummaries(c.sequence, u));
    for (const markets of chunks(u.markets)) this.send(c, encodeMarketSummaries(c.sequence, { ...u, markets }));
  }

  /**
   * After an epoch: the watched accounts whose state changed, each to the connections that watch it, but those that
   * are owed an answer for it (the answer carries the state).
   */
  private publishAccountStates(e: EpochState): void {
    // Account by account, to its watchers alone: the cost is the rows sent (bounded by accountStateBudget), not the
    // connections times the accounts that changed.
    const out = new Map<Connection, AccountState[]>();
    const answered = new Map<Connection, Set<number>>();
    for (const [account, s] of e.states) {
      for (const c of this.watch.watchersOf(account)) {
        if (c.answer?.accounts.has(account) === true) continue;
        const answer = e.answers.get(c);
        if (answer !== undefined) {
          let accounts = answered.get(c);
          if (accounts === undefined) answered.set(c, (accounts = new Set(answer.states.map((a) => a.account))));
          if (accounts.has(account)) continue;
        }
        const mine = out.get(c);
        if (mine === undefined) out.set(c, [s]);
        else mine.push(s);
      }
    }
    for (const [c, mine] of out) {
      for (const chunk of chunks(mine)) this.send(c, encodeAccountStates(c.sequence, chunk));
      this.counters.accountStatesOut += mine.length;
    }
  }

  /**
   * After an epoch: each watched ADL queue that changed, one shared encoding to every connection that watches its
   * market, but those owed an answer for it (the answer carries the queues).
   */
  private publishAdlQueues(e: EpochState): void {
    for (const q of e.queues) {
      let frame: Uint8Array | undefined;
      for (const c of this.connections) {
        if (!c.adlMarkets.has(q.market) || c.answer?.adlMarkets.has(q.market) === true) continue;
        if (e.answers.get(c)?.queues.some((a) => a.market === q.market) === true) continue;
        frame ??= encodeAdlQueue(0, q);
        setFrameSequence(frame, c.sequence);
        this.sendAdlQueue(c, frame);
      }
    }
  }

  private sendAdlQueue(c: Connection, frame: Uint8Array): void {
    this.send(c, frame);
    this.counters.adlQueuesOut++;
  }

  private engineStatusFrame(sequence: number, message: string): Uint8Array {
    const e = this.engine;
    const { markets, accounts } = e.counts;
    return encodeEngineStatus(sequence, { state: this.state, epoch: e.epochs, lastSequence: e.lastSequence, markets, accounts, positions: this.venue.openPositions(), message });
  }

  private broadcastEngineStatus(message = ''): void {
    if (this.connections.size === 0) return;
    const frame = this.engineStatusFrame(0, message);
    for (const c of this.connections) this.sendShared(c, frame);
  }

  /**
   * The engine stopped taking inputs (JOURNAL_IO: its journal cannot keep them): every connection gets an ErrorFrame
   * saying why (offending sequence -1), then the server closes (EngineStatus closing, 1001). Any other error of an
   * automatic epoch is rethrown, as the engine does when nobody listens.
   */
  private engineStopped(e: unknown): void {
    if (!isUnwindError(e) || e.code !== ErrorCode.JournalIo) throw e;
    if (this.state === 'closing') return;
    for (const c of this.connections) this.send(c, encodeError(c.sequence, e.code, e.message, null));
    void this.close(`engine stopped: ${e.code}`);
  }

  /** Tells every connection the server is closing (`message` in its EngineStatus), closes them (1001) and stops listening. Idempotent. */
  async close(message = 'server closing'): Promise<void> {
    if (this.state === 'closing') return;
    this.state = 'closing';
    this.offError();
    this.offEpoch();
    this.offEpochState();
    this.offFill();
    this.offStatus();
    this.offDeleverage();
    this.offTakeover();
    this.offSocializedLoss();
    this.offUnresolvedDeficit();
    this.metrics.close();
    this.probe?.close();
    clearInterval(this.heartbeat);
    clearInterval(this.clock);
    this.broadcastEngineStatus(message);
    for (const c of [...this.connections]) c.ws?.end(CloseCode.GoingAway, 'server closing');
    if (this.listenSocket !== null) loadTransport().us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    // Let uWS flush the close frames before the caller tears the engine down.
    await new Promise((r) => setImmediate(r));
    // Frames received before the close still land, in order, once verified; then the verify workers stop.
    await this.intake?.close();
  }
}

/** A decoded inbound frame (or why it could not be). */
type Frame = Exclude<FeedMessage, { kind: 'ticks' | 'signedTicks' }> | FrameError | TickBatchMessage;

/** What a text frame decodes to. */
const TEXT_FRAME: Frame = { kind: 'error', code: FrameErrorCode.MalformedFrame, message: 'text frames are not accepted: send binary FlatBuffers frames' };

function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_FRAME) out.push(rows.slice(i, i + ROWS_PER_FRAME));
  return out;
}
