/**
 * The feed client SDK: a typed connection to an Unwind feed server, for Node (the `ws` package, or the global
 * WebSocket of Node 22+) and for browsers (the global WebSocket). It encodes and decodes frames (codec.ts), numbers
 * its frames, remembers its subscriptions and reconnects with exponential backoff, subscribing again.
 *
 * No Node API is imported here, so the module bundles for a browser; `ws` is loaded lazily only when there is no
 * global WebSocket.
 *
 *   const client = await FeedClient.connect({ url: 'ws://127.0.0.1:9001/v1/feed', token });
 *   client.on('orders', (orders) => ...);
 *   client.on('adlQueue', (q) => ...);                   // q.positionsSide: 1 the longs' queue, -1 the shorts'
 *   client.on('deleveragings', (ds) => ...);             // bankrupt positions closed against the ADL queue
 *   client.on('takeovers', (ts) => ...);                 // positions a backstop vault took off the book
 *   client.subscribe({ markets: [1], accounts: [], allOrders: false, adlMarkets: [1] });
 *   client.sendTicks([{ market: 1, source: 3, price: 50_000, confidence: 5, eventTimeUs, sourceSequence }]);
 *   client.sendSignedTicks(ticks, signatures);           // 64 bytes per tick, each signing tickSigningBytes(tick)
 *   client.sendDepth([{ market: 1, bidVolume: 120, askVolume: 95 }]); // book volume near the mid: participation caps
 *
 *   const publisher = await FeedClient.connect({ url, token, acks: true });
 *   await publisher.durable(publisher.sendPositions(rows)); // the server's journal holds them (Ack frames)
 *   client.on('openOrders', (s) => ...);                 // on subscribe: the open orders the new topics select
 *
 *   client.subscribe({ allOrders: true, settlements: true, insuranceFunds: true, marketSummaries: true, liquidationMarkets: [0, 1] });
 *   client.on('settlements', (ss, decimals) => ...);     // fills as they settled: fee, cover, deficit in exact atoms
 *   client.on('insuranceFunds', (u) => ...);             // every fund on subscribe, then the ones that changed
 *   client.on('liquidations', (ls) => ls.map(toCcxtLiquidation)); // the public tape, as ccxt's watchLiquidations
 *   client.on('marketSummaries', (u) => ...);            // mark and oracle prices, status, tick-to-order latency
 */
import {
  decodeFrame,
  encodeBookTickers,
  encodeCollateral,
  encodeDepth,
  encodeExpiries,
  encodeFills,
  encodeKillSwitch,
  encodePositions,
  encodeSignedPriceTicks,
  encodeSubscribe,
  encodeTicks,
  encodeUnsubscribe,
  type AccountState,
  type BookTop,
  type CollateralUpdate,
  type Deleveraging,
  type FeedMessage,
  type Fill,
  type FrameError,
  type KillLevel,
  type LiquidationOrder,
  type MarginCall,
  type MarketDepth,
  type PositionUpdate,
  type SocializedLoss,
  type Takeover,
  type Tick,
  type Topics,
  type UnresolvedDeficit,
  type Ack,
  type OpenOrder,
  type OpenOrdersSnapshot,
  type FillSettlement,
  type InsuranceFundsUpdate,
  type Liquidation,
  type MarketSummariesUpdate,
} from './codec.js';
import { joinDeleveragings, joinSocializedLosses, PartJoiner } from './deficits.js';
import { AckWaiters, type InputSequences } from './ack-waiters.js';

/** The part of the WHATWG WebSocket both browsers and `ws` implement. */
export interface WebSocketLike {
  /** Set to 'arraybuffer' by the client. */
  binaryType: string;
  /** 1 while open (the WHATWG values). */
  readonly readyState: number;
  /** Bytes queued by send and not yet written. */
  readonly bufferedAmount: number;
  /** Called once the connection is open. */
  onopen: ((ev: unknown) => void) | null;
  /** Called with each frame (`data`: an ArrayBuffer, or a Buffer under `ws`). */
  onmessage: ((ev: { data: unknown }) => void) | null;
  /** Called once the connection closed, with the close code and reason. */
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  /** Called on a connection error (a close follows). */
  onerror: ((ev: unknown) => void) | null;
  /** Sends one binary frame. */
  send(data: Uint8Array): void;
  /** Closes the connection. */
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: the browser's, or `ws`'s (which takes options with headers as a third argument). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: { headers?: Record<string, string> }) => WebSocketLike;

export interface ReconnectOptions {
  /** First delay after a lost connection; doubles per failed attempt. Default 100 ms. */
  readonly initialDelayMs?: number;
  /** Largest delay. Default 5,000 ms. */
  readonly maxDelayMs?: number;
  /** Attempts after a lost connection before giving up ('closed' is emitted). Default unlimited. */
  readonly maxAttempts?: number;
}

export interface FeedClientOptions {
  /**
   * The server's endpoint, e.g. ws://127.0.0.1:9001/v1/feed; or the endpoints of a replicated engine's replicas
   * (README "Replication"), tried in turn: connecting tries each until one opens, and after a lost connection each
   * reconnect attempt moves on to the next, so the client finds the new leader by itself.
   */
  readonly url: string | readonly string[];
  /** A publisher or subscriber token. */
  readonly token: string;
  /**
   * How the token travels: 'header' (Authorization: Bearer; Node only, kept out of URLs and access logs) or 'query'
   * (?token=; the only way from a browser). Default: 'header' with `ws`, 'query' with a global WebSocket.
   */
  readonly tokenIn?: 'header' | 'query';
  /** The WebSocket implementation. Default: globalThis.WebSocket, else the `ws` package. */
  readonly WebSocket?: WebSocketConstructor;
  /** Reconnect after a lost connection (default on); false: stay closed. */
  readonly reconnect?: ReconnectOptions | false;
  /** Largest inbound frame decoded; larger ones are reported as 'decodeError'. Default 64 MiB. */
  readonly maxFrameBytes?: number;
  /** Source of jitter in [0, 1) for reconnect delays (seed it in tests). Default Math.random. */
  readonly random?: () => number;
  /**
   * Ask for Ack frames (`Subscribe { acks: true }`, sent first on every connection): the 'ack' event, and
   * `accepted(sequence)` / `durable(sequence)` for the frames this client sends. Default false (`subscribe({ acks:
   * true })` turns them on later).
   */
  readonly acks?: boolean;
}

export type { InputSequences } from './ack-waiters.js';

/** Events and the arguments their listeners receive. */
export interface FeedClientEvents {
  /** The connection opened (again, after a reconnect; topics are sent again first). */
  open: [];
  /** The connection closed; `willReconnect` says whether a reconnect is scheduled. */
  close: [code: number, reason: string, willReconnect: boolean];
  /** A reconnect is scheduled: its attempt number, from 1, and the delay before it. */
  reconnecting: [attempt: number, delayMs: number];
  /** Liquidation orders the topics select, and the frame's sequence. */
  orders: [orders: readonly LiquidationOrder[], sequence: number];
  /** Margin calls the topics select, and the frame's sequence. */
  marginCalls: [calls: readonly MarginCall[], sequence: number];
  /** States of subscribed accounts that changed in an epoch, and the frame's sequence. */
  accountStates: [states: readonly AccountState[], sequence: number];
  /** A market paused or resumed (topic `markets`), with the reason and its code. */
  marketStatus: [status: Extract<FeedMessage, { kind: 'marketStatus' }>];
  /** One side of a market's ADL queue (topic `adlMarkets`): on subscribe, then after each epoch that changed it. */
  adlQueue: [queue: Extract<FeedMessage, { kind: 'adlQueue' }>];
  /**
   * Bankrupt positions closed against the ADL queue at their bankruptcy price (the bankrupt account's position and
   * each counterparty's changed), for the account, a counterparty, the market or all orders. Whole: a deleveraging
   * the server split over frames is joined first (`continued` is false), and `sequence` is the frame that completed
   * it. A connection selected only by counterparty accounts gets only their rows (`counterpartyCount` says how many
   * there were in all).
   */
  deleveragings: [deleveragings: readonly Deleveraging[], sequence: number];
  /**
   * Positions a backstop vault took off the book (execution strategy 'backstop'), in the order they landed: the
   * liquidated account's side settled as a fill (`settlement`) and the vault's position after. For the account, the
   * vault account, the market or all orders; sent with the epoch's output, before its deleveragings.
   */
  takeovers: [takeovers: readonly Takeover[], sequence: number];
  /** Fill deficits spread over the opposite side (deficitPolicy 'socialized'), joined as deleveragings are. */
  socializedLosses: [losses: readonly SocializedLoss[], sequence: number];
  /** Deficits no policy could place (bad debt, named): for the account, the market or all orders. */
  unresolvedDeficits: [deficits: readonly UnresolvedDeficit[], sequence: number];
  /** The engine's state and counts (on connect, and when the state changes). */
  engineStatus: [status: Extract<FeedMessage, { kind: 'engineStatus' }>];
  /** The server rejected one of our frames (an ErrorFrame): its code, message and our frame's sequence. */
  serverError: [error: Extract<FeedMessage, { kind: 'errorFrame' }>];
  /** A frame from the server that this client could not decode. */
  decodeError: [error: FrameError];
  /**
   * The answer to a Subscribe that added topics selecting orders: the open orders they newly select (sent only when
   * there is one), as of `epoch` (orders of later epochs follow as 'orders') and `lastSequence` (fills and expiries
   * up to it applied). Whole: a snapshot split over frames is joined first; `sequence` is the frame that completed it. After a
   * reconnect, keep the orders seen before by id and add these: ids are unique, so the union is the open set.
   */
  openOrders: [snapshot: OpenOrdersSnapshot, sequence: number];
  /**
   * Orders the engine timed out (open for its orderTimeoutUs unfilled): forgotten, a fill of one is refused; their
   * positions get new orders with new ids. A matching engine cancels them.
   */
  orderTimeouts: [orderIds: readonly string[], eventTimeUs: number, sequence: number];
  /**
   * Fills of liquidation orders as they settled (topic `settlements`, for the fills the order topics select): fee,
   * insurance cover, deficit and how it was placed, money in exact atoms (quote = atoms / 10^quoteDecimals).
   */
  settlements: [settlements: readonly FillSettlement[], quoteDecimals: number, sequence: number];
  /** Insurance fund balances in atoms (topic `insuranceFunds`): every fund on subscribe, then the ones that changed. */
  insuranceFunds: [update: InsuranceFundsUpdate, sequence: number];
  /** The public liquidation tape of the `liquidationMarkets` (`toCcxtLiquidation` gives ccxt's unified structure). */
  liquidations: [liquidations: readonly Liquidation[], sequence: number];
  /** Market prices and statuses (topic `marketSummaries`): every market on subscribe, then changes and latency. */
  marketSummaries: [update: MarketSummariesUpdate, sequence: number];
  /** An acknowledgement of this client's frames (with `acks`): 'accepted', then 'durable' up to `frameSequence`. */
  ack: [ack: Ack, sequence: number];
  /** Every decoded frame, whatever its kind. */
  message: [message: FeedMessage];
}

export type Listener<E extends keyof FeedClientEvents> = (...args: FeedClientEvents[E]) => void;

/** Thrown by a send while the client is not connected, and by `connect` when the first attempt fails. */
export class FeedClientError extends Error {
  /** Always 'FeedClientError'. */
  override readonly name = 'FeedClientError';
  constructor(
    /**
     * NOT_CONNECTED, CONNECT_FAILED, CLOSED: the connection. ACKS_OFF: `accepted`/`durable` without acks. NOT_SENT: a
     * sequence this connection has not sent. REJECTED: the server answered the frame with an ErrorFrame (`serverCode`
     * says why). CONNECTION_LOST: the connection closed before the frame was acknowledged (it may or may not have
     * been applied: reconcile, e.g. against the 'openOrders' snapshot after reconnecting).
     */
    readonly code: 'NOT_CONNECTED' | 'CONNECT_FAILED' | 'CLOSED' | 'ACKS_OFF' | 'NOT_SENT' | 'REJECTED' | 'CONNECTION_LOST',
    message: string,
    /** REJECTED: the ErrorFrame's code (INVALID_FIELD, UNKNOWN_ORDER, ...). */
    readonly serverCode?: string,
  ) {
    super(message);
  }
}

const acksOff = (): FeedClientError => new FeedClientError('ACKS_OFF', 'acknowledgements are off: connect with { acks: true } or subscribe({ acks: true })');

const OPEN = 1;

function withDefaults(t: Partial<Topics>): Required<Topics> {
  return {
    markets: t.markets ?? [],
    accounts: t.accounts ?? [],
    allOrders: t.allOrders ?? false,
    adlMarkets: t.adlMarkets ?? [],
    acks: t.acks ?? false,
    liquidationMarkets: t.liquidationMarkets ?? [],
    settlements: t.settlements ?? false,
    insuranceFunds: t.insuranceFunds ?? false,
    marketSummaries: t.marketSummaries ?? false,
  };
}
const DEFAULT_MAX_INBOUND_BYTES = 64 << 20;

async function defaultWebSocket(): Promise<{ ctor: WebSocketConstructor; isWs: boolean }> {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global !== undefined) return { ctor: global, isWs: false };
  const ws = (await import('ws')) as unknown as { default: WebSocketConstructor };
  return { ctor: ws.default, isWs: true };
}

export class FeedClient {
  private socket: WebSocketLike | undefined;
  private sequence = 0;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closedByUser = false;
  private readonly markets = new Set<number>();
  private readonly accounts = new Set<number>();
  private allOrders = false;
  private readonly adlMarkets = new Set<number>();
  private readonly liquidationMarkets = new Set<number>();
  /** Topics that are on or off: settlements, insuranceFunds, marketSummaries. */
  private readonly flags = { settlements: false, insuranceFunds: false, marketSummaries: false };
  private acks: boolean;
  /** Frames of this connection waiting for their Acks (`accepted`, `durable`). */
  private readonly ackWaiters = new AckWaiters((code, message, serverCode) => new FeedClientError(code, message, serverCode));
  /** The open-orders snapshot being joined (its first frames arrived), or undefined. */
  private openOrderParts: { snapshot: OpenOrdersSnapshot; rows: OpenOrder[]; orderCount: number } | undefined;
  /** Parts of records split over frames, waiting for their rest (dropped when the connection is). */
  private readonly deleveragingParts = new PartJoiner<Deleveraging>(joinDeleveragings);
  private readonly lossParts = new PartJoiner<SocializedLoss>(joinSocializedLosses);
  private readonly listeners = new Map<keyof FeedClientEvents, Set<(...args: never[]) => void>>();

  private constructor(
    private readonly options: FeedClientOptions,
    private readonly ctor: WebSocketConstructor,
    private readonly tokenIn: 'header' | 'query',
  ) {
    this.acks = options.acks === true;
    this.urls = typeof options.url === 'string' ? [options.url] : [...options.url];
    if (this.urls.length === 0) throw new FeedClientError('CONNECT_FAILED', 'no URL to connect to');
  }
  /** The endpoints, and which one the next connection uses (modulo their count). */
  private readonly urls: string[];
  private urlAt = 0;

  /** Connects; resolves when the first connection is open, rejects (CONNECT_FAILED) if it cannot be opened. */
  static async connect(options: FeedClientOptions): Promise<FeedClient> {
    const found = options.WebSocket === undefined ? await defaultWebSocket() : { ctor: options.WebSocket, isWs: false };
    const tokenIn = options.tokenIn ?? (found.isWs ? 'header' : 'query');
    const client = new FeedClient(options, found.ctor, tokenIn);
    for (let tried = 1; ; tried++) {
      try {
        await client.open();
        return client;
      } catch (e) {
        if (tried >= client.urls.length) throw e;
        client.urlAt++;
      }
    }
  }

  /** Calls `listener` on every `event`; returns the function that removes it. */
  on<E extends keyof FeedClientEvents>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener as (...args: never[]) => void);
    return () => set.delete(listener as (...args: never[]) => void);
  }

  /** True while the socket is open. */
  get connected(): boolean {
    return this.socket?.readyState === OPEN;
  }
  /** Bytes queued by the WebSocket and not yet sent: a publisher's own backpressure signal. */
  get bufferedAmount(): number {
    return this.socket?.bufferedAmount ?? 0;
  }
  /** The subscriptions the client holds (and restores after a reconnect). */
  get topics(): Topics {
    return {
      markets: [...this.markets],
      accounts: [...this.accounts],
      allOrders: this.allOrders,
      adlMarkets: [...this.adlMarkets],
      acks: this.acks,
      liquidationMarkets: [...this.liquidationMarkets],
      ...this.flags,
    };
  }

  // ---- acknowledgements (with `acks`) ----

  /**
   * Resolves once the server has applied frame `sequence` of this connection (an Ack), with the input sequence
   * numbers its inputs took; rejects with REJECTED when the server rejected it, CONNECTION_LOST when the connection
   * closed first, ACKS_OFF without acks, NOT_SENT for a sequence not sent on this connection. Ask right after
   * sending: an ack that arrived before the call is not kept.
   */
  accepted(sequence: number): Promise<InputSequences> {
    return this.acks ? this.ackWaiters.wait('accepted', sequence, this.connected ? this.sequence : 0) : Promise.reject(acksOff());
  }

  /**
   * Resolves once frame `sequence` of this connection is durable under the server's journal policy (an Ack durable
   * covering it; without a journal, as soon as it is applied); rejects as `accepted` does.
   */
  durable(sequence: number): Promise<void> {
    return this.acks ? this.ackWaiters.wait('durable', sequence, this.connected ? this.sequence : 0) : Promise.reject(acksOff());
  }

  // ---- publishing (publisher tokens only; the server answers a subscriber with FORBIDDEN) ----

  /** Sends one frame of ticks; returns its sequence (echoed by the server in an ErrorFrame if rejected). */
  sendTicks(ticks: readonly Tick[]): number {
    return this.send((s) => encodeTicks(s, ticks));
  }
  /** Sends positions (matching engine); returns the frame's sequence. NOT_CONNECTED while disconnected. */
  sendPositions(positions: readonly PositionUpdate[]): number {
    return this.send((s) => encodePositions(s, positions));
  }
  /** Sends cross collateral updates (matching engine); returns the frame's sequence. */
  sendCollateral(updates: readonly CollateralUpdate[]): number {
    return this.send((s) => encodeCollateral(s, updates));
  }
  /** Sends fills of our orders (matching engine); returns the frame's sequence. */
  sendFills(fills: readonly Fill[]): number {
    return this.send((s) => encodeFills(s, fills));
  }
  /**
   * Orders the matching engine expired unfilled (`LiquidationOrder.id`s, at least one, each once; `eventTimeUs`
   * microseconds since the Unix epoch). The server forgets each, in order, and re-issues for accounts still
   * liquidatable. An id not open stops the frame there (UNKNOWN_ORDER; the ids before it stay expired).
   */
  sendExpiries(orderIds: readonly string[], eventTimeUs: number): number {
    return this.send((s) => encodeExpiries(s, orderIds, eventTimeUs));
  }
  /**
   * Ticks with their sources' Ed25519 signatures: `signatures` holds 64 bytes per tick, bytes [64 i, 64 i + 64)
   * signing tickSigningBytes(ticks[i]) (e.g. node:crypto `sign(null, tickSigningBytes(t), privateKey)`).
   */
  sendSignedTicks(ticks: readonly Tick[], signatures: Uint8Array): number {
    return this.send((s) => encodeSignedPriceTicks(s, ticks, signatures));
  }
  /** The matching engine's book tops (0 for a bid, ask or last not known), for the mark price. */
  sendBooks(books: readonly BookTop[]): number {
    return this.send((s) => encodeBookTickers(s, books));
  }
  /**
   * The venue's book volume near the mid per market (base units per side; Infinity: not known), which the execution
   * strategies' participation caps take their share of (matching tokens). At most DEPTH_ROWS_PER_FRAME rows.
   */
  sendDepth(books: readonly MarketDepth[]): number {
    return this.send((s) => encodeDepth(s, books));
  }
  /** An operator's kill switch for `market`, or every market when undefined (admin tokens only). */
  sendKillSwitch(level: KillLevel, market?: number, reason = ''): number {
    return this.send((s) => encodeKillSwitch(s, { level, market, reason }));
  }
  /** Sends a frame made elsewhere (its sequence is the caller's business). */
  sendRaw(frame: Uint8Array): void {
    this.requireOpen().send(frame);
  }

  // ---- subscriptions ----

  /** Adds topics; remembered and sent again after a reconnect. Sent now when connected. */
  subscribe(topics: Partial<Topics>): void {
    const t = withDefaults(topics);
    for (const m of t.markets) this.markets.add(m);
    for (const a of t.accounts) this.accounts.add(a);
    for (const m of t.adlMarkets) this.adlMarkets.add(m);
    for (const m of t.liquidationMarkets) this.liquidationMarkets.add(m);
    if (t.allOrders) this.allOrders = true;
    if (t.acks) this.acks = true;
    if (t.settlements) this.flags.settlements = true;
    if (t.insuranceFunds) this.flags.insuranceFunds = true;
    if (t.marketSummaries) this.flags.marketSummaries = true;
    if (this.connected) this.send((s) => encodeSubscribe(s, t));
  }

  /** Drops topics; forgotten for reconnects. Sent now when connected. */
  unsubscribe(topics: Partial<Topics>): void {
    const t = withDefaults(topics);
    for (const m of t.markets) this.markets.delete(m);
    for (const a of t.accounts) this.accounts.delete(a);
    for (const m of t.adlMarkets) this.adlMarkets.delete(m);
    for (const m of t.liquidationMarkets) this.liquidationMarkets.delete(m);
    if (t.allOrders) this.allOrders = false;
    if (t.settlements) this.flags.settlements = false;
    if (t.insuranceFunds) this.flags.insuranceFunds = false;
    if (t.marketSummaries) this.flags.marketSummaries = false;
    if (t.acks) {
      this.acks = false;
      this.ackWaiters.lost('ACKS_OFF');
    }
    if (this.connected) this.send((s) => encodeUnsubscribe(s, t));
  }

  /** Closes for good (no reconnect). */
  close(code = 1000, reason = 'client closing'): void {
    this.closedByUser = true;
    clearTimeout(this.timer);
    this.socket?.close(code, reason);
  }

  // ---- connection ----

  private open(): Promise<void> {
    const { token } = this.options;
    const url = this.urls[this.urlAt % this.urls.length]!;
    const sep = url.includes('?') ? '&' : '?';
    const socket =
      this.tokenIn === 'header'
        ? new this.ctor(url, [], { headers: { authorization: `Bearer ${token}` } })
        : new this.ctor(`${url}${sep}token=${encodeURIComponent(token)}`);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    return new Promise((resolve, reject) => {
      let opened = false;
      socket.onopen = () => {
        opened = true;
        this.sequence = 0;
        this.attempt = 0;
        this.deleveragingParts.reset();
        this.lossParts.reset();
        this.openOrderParts = undefined;
        const t = this.topics;
        // First on the connection: with acks, every frame after it is acknowledged.
        const any = t.markets.length + t.accounts.length + this.adlMarkets.size + this.liquidationMarkets.size > 0;
        if (any || t.allOrders || this.acks || t.settlements || t.insuranceFunds || t.marketSummaries) this.send((s) => encodeSubscribe(s, t));
        this.emit('open');
        resolve();
      };
      socket.onmessage = (ev) => this.received(ev.data);
      socket.onerror = () => {
        // Browsers say nothing more; `close` follows with the code.
      };
      socket.onclose = (ev) => {
        if (this.socket !== socket) return;
        this.socket = undefined;
        this.ackWaiters.lost();
        if (!opened && this.attempt === 0) {
          reject(new FeedClientError('CONNECT_FAILED', `cannot open ${url} (code ${ev.code}${ev.reason ? `, ${ev.reason}` : ''}): check the URL and the token`));
          return;
        }
        const willReconnect = this.scheduleReconnect();
        this.emit('close', ev.code, ev.reason, willReconnect);
      };
    });
  }

  private scheduleReconnect(): boolean {
    const r = this.options.reconnect;
    if (this.closedByUser || r === false) return false;
    const max = r?.maxAttempts ?? Infinity;
    if (this.attempt >= max) return false;
    this.attempt++;
    // With several endpoints, each attempt tries the next: the one that dropped may be gone for good.
    if (this.urls.length > 1) this.urlAt++;
    const initial = r?.initialDelayMs ?? 100;
    const cap = r?.maxDelayMs ?? 5000;
    // Exponential backoff with jitter in [50%, 100%] of the step, so a fleet of clients does not reconnect in step.
    const step = Math.min(cap, initial * 2 ** (this.attempt - 1));
    const delay = Math.round(step * (0.5 + 0.5 * (this.options.random ?? Math.random)()));
    this.emit('reconnecting', this.attempt, delay);
    this.timer = setTimeout(() => {
      if (this.closedByUser) return;
      this.open().catch(() => {
        // A failed attempt ends in onclose, which schedules the next one.
      });
    }, delay);
    return true;
  }

  private requireOpen(): WebSocketLike {
    const s = this.socket;
    if (s === undefined || s.readyState !== OPEN) {
      throw new FeedClientError(this.closedByUser ? 'CLOSED' : 'NOT_CONNECTED', 'the feed connection is not open');
    }
    return s;
  }

  private send(encode: (sequence: number) => Uint8Array): number {
    const socket = this.requireOpen();
    const sequence = this.sequence++;
    socket.send(encode(sequence));
    return sequence;
  }

  private received(data: unknown): void {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined;
    if (bytes === undefined) {
      this.emit('decodeError', { kind: 'error', code: 'MALFORMED_FRAME', message: 'a text frame from the server' });
      return;
    }
    const m = decodeFrame(bytes, this.options.maxFrameBytes ?? DEFAULT_MAX_INBOUND_BYTES);
    if (m.kind === 'error') {
      this.emit('decodeError', m);
      return;
    }
    this.emit('message', m);
    switch (m.kind) {
      case 'orders':
        return this.emit('orders', m.orders, m.sequence);
      case 'marginCalls':
        return this.emit('marginCalls', m.marginCalls, m.sequence);
      case 'accountStates':
        return this.emit('accountStates', m.accounts, m.sequence);
      case 'marketStatus':
        return this.emit('marketStatus', m);
      case 'engineStatus':
        return this.emit('engineStatus', m);
      case 'adlQueue':
        return this.emit('adlQueue', m);
      case 'deleveragings': {
        const whole = this.deleveragingParts.push(m.deleveragings);
        if (whole.length > 0) this.emit('deleveragings', whole, m.sequence);
        return;
      }
      case 'socializedLosses': {
        const whole = this.lossParts.push(m.losses);
        if (whole.length > 0) this.emit('socializedLosses', whole, m.sequence);
        return;
      }
      case 'unresolvedDeficits':
        return this.emit('unresolvedDeficits', m.deficits, m.sequence);
      case 'takeovers':
        return this.emit('takeovers', m.takeovers, m.sequence);
      case 'settlements':
        return this.emit('settlements', m.settlements, m.quoteDecimals, m.sequence);
      case 'insuranceFunds': {
        const { kind: _kind, sequence, ...update } = m;
        return this.emit('insuranceFunds', update, sequence);
      }
      case 'liquidations':
        return this.emit('liquidations', m.liquidations, m.sequence);
      case 'marketSummaries': {
        const { kind: _kind, sequence, ...update } = m;
        return this.emit('marketSummaries', update, sequence);
      }
      case 'ack': {
        const { kind: _kind, sequence, ...ack } = m;
        this.emit('ack', ack, sequence);
        return this.ackWaiters.acknowledged(ack);
      }
      case 'openOrders':
        return this.joinOpenOrders(m);
      case 'expiries':
        return this.emit('orderTimeouts', m.orderIds, m.eventTimeUs, m.sequence);
      case 'errorFrame':
        if (this.acks && m.offendingSequence !== null) this.ackWaiters.frameRejected(m.offendingSequence, m.code, m.message);
        return this.emit('serverError', m);
      default:
      // Inbound kinds (ticks, positions...) are not sent by servers; 'message' has reported them.
    }
  }

  /** Joins the frames of one open-orders snapshot (consecutive, from firstIndex 0) and emits it whole. */
  private joinOpenOrders(m: Extract<FeedMessage, { kind: 'openOrders' }>): void {
    let parts = this.openOrderParts;
    if (m.firstIndex === 0) {
      parts = { snapshot: { epoch: m.epoch, lastSequence: m.lastSequence, orders: [] }, rows: [], orderCount: m.orderCount };
    } else if (parts === undefined || m.firstIndex !== parts.rows.length || m.orderCount !== parts.orderCount) {
      // A part without its start: the server sends a snapshot's frames consecutively, so this is not one of ours.
      this.openOrderParts = undefined;
      this.emit('decodeError', { kind: 'error', code: 'INVALID_FIELD', field: 'firstIndex', sequence: m.sequence, message: `firstIndex: expected ${parts?.rows.length ?? 0}, got ${m.firstIndex}` });
      return;
    }
    parts.rows.push(...m.orders);
    if (parts.rows.length < parts.orderCount) {
      this.openOrderParts = parts;
      return;
    }
    this.openOrderParts = undefined;
    this.emit('openOrders', { ...parts.snapshot, orders: parts.rows }, m.sequence);
  }

  private emit<E extends keyof FeedClientEvents>(event: E, ...args: FeedClientEvents[E]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const l of set) (l as (...a: FeedClientEvents[E]) => void)(...args);
  }
}
