/**
 * The feed as its clients see it: a real FeedServer (uWebSockets.js) listening on loopback, and `ws` clients that
 * decode every frame they receive with decodeFrame and keep them in arrival order.
 *
 * `FeedClient.sync()` is the barrier the tests use instead of sleeping: it sends a frame of schema version 0, which
 * the server must answer with UNSUPPORTED_VERSION echoing its sequence. A connection's frames are handled and
 * answered in order, so once that answer is in, every earlier frame has been applied and everything the server
 * sent before it has arrived. (It is counted in stats().rejected.UNSUPPORTED_VERSION, which no test relies on.)
 *
 * `Feed` owns what a test starts (engines, servers, clients) and closes it all in `closeAll()`, checking on the way
 * that every client saw the server's per-connection sequences 0, 1, 2, ... without a gap.
 */
import WebSocket from 'ws';
import { Engine, type EngineConfig, type EpochResult } from '../../src/index.js';
import { FeedServer, type FeedServerOptions } from '../../src/feed/server.js';
import { decodeFrame, encodeSubscribe, type DecodeResult, type Deleveraging, type FeedMessage, type Fill, type LiquidationOrder, type Takeover } from '../../src/feed/codec.js';
import { ENVELOPE_VERSION_ID } from '../../src/feed/spec.js';

export const PUBLISHER_TOKEN = 'publisher-token-for-tests-0001';
export const SUBSCRIBER_TOKEN = 'subscriber-token-for-tests-0001';
/** One tier: maintenance 0.5%, initial 1% of notional (the smoke script's). */
export const TIERS = [{ maxNotional: null, maintenanceMarginFraction: 0.005, initialMarginFraction: 0.01 }];
/** The clients decode whatever size the server sends (its frames are bounded by rows, not bytes). */
const CLIENT_MAX_FRAME = 1 << 30;

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `condition` (the server runs on this thread: its counters are read directly) until it holds. */
export async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The engine's next epoch, however it is started. */
export function nextEpoch(engine: Engine): Promise<EpochResult> {
  return within(
    new Promise<EpochResult>((resolve) => {
      const off = engine.onEpoch((r) => {
        off();
        resolve(r);
      });
    }),
    5_000,
    'epoch',
  );
}

/** A copy of every byte of the engine's shared tables. */
export function tableBytes(engine: Engine): Uint8Array {
  return new Uint8Array(engine.tables.buffer).slice();
}

/**
 * Where two byte copies of the tables first differ (-1: nowhere). Compare with this, not toEqual: a deep equality
 * walks megabytes element by element.
 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** A copy of a frame made by the codec with Envelope.version rewritten (the encoders always write the field). */
export function withVersion(frame: Uint8Array, version: number): Uint8Array {
  const out = frame.slice();
  const view = new DataView(out.buffer);
  const table = view.getUint32(0, true);
  const vtable = table - view.getInt32(table, true);
  const offset = view.getUint16(vtable + 4 + 2 * ENVELOPE_VERSION_ID, true);
  if (offset === 0) throw new RangeError('frame has no Envelope.version field');
  view.setUint16(table + offset, version, true);
  return out;
}

export type Auth = { readonly token: string; readonly via?: 'query' | 'bearer' } | { readonly headers: Record<string, string>; readonly query?: string };

function target(url: string, auth: Auth): { url: string; headers: Record<string, string> } {
  if ('headers' in auth) return { url: auth.query === undefined ? url : `${url}?${auth.query}`, headers: auth.headers };
  return auth.via === 'bearer'
    ? { url, headers: { Authorization: `Bearer ${auth.token}` } }
    : { url: `${url}?token=${encodeURIComponent(auth.token)}`, headers: {} };
}

/** Attempts an upgrade that should be refused; resolves with the HTTP status the server answered. */
export function refusedStatus(url: string, auth: Auth): Promise<number> {
  const t = target(url, auth);
  return within(
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(t.url, { headers: t.headers });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? -1);
        res.resume();
        ws.terminate();
      });
      ws.on('open', () => {
        ws.terminate();
        reject(new Error('the upgrade was accepted'));
      });
      ws.on('error', () => {}); // terminate() after unexpected-response reports an abort
    }),
    5_000,
    'refusal',
  );
}

export class FeedClient {
  /** Every frame received, decoded, in arrival order (the first is the server's EngineStatus). */
  readonly received: DecodeResult[] = [];
  /** Envelope.sequence of the next frame this client sends. */
  sequence = 0;
  /** Set when the connection closed: the close code this side observed. */
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  private cursor = 0;
  private wake: (() => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    // Attached before 'open' resolves anything: the server's first frame may arrive in the same tick.
    ws.on('message', (data: Buffer) => {
      this.received.push(decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), CLIENT_MAX_FRAME));
      this.wake?.();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.wake?.();
        resolve(code);
      }),
    );
    ws.on('error', () => {}); // a close follows; tests read closeCode
  }

  static connect(url: string, auth: Auth): Promise<FeedClient> {
    const t = target(url, auth);
    const ws = new WebSocket(t.url, { headers: t.headers });
    ws.binaryType = 'nodebuffer';
    const client = new FeedClient(ws);
    return within(
      new Promise<FeedClient>((resolve, reject) => {
        ws.once('open', () => resolve(client));
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
        ws.once('error', reject);
      }),
      5_000,
      'connection',
    );
  }

  /** Sends the frame `encode` makes with this client's next sequence; returns that sequence. */
  send(encode: (sequence: number) => Uint8Array): number {
    const sequence = this.sequence++;
    this.ws.send(encode(sequence));
    return sequence;
  }

  /** Sends bytes (a binary frame) or a string (a text frame) as they are. */
  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** The next frame not yet read; fails on a frame the codec rejects (the server must only send valid ones). */
  async next(ms = 5_000): Promise<FeedMessage> {
    const deadline = performance.now() + ms;
    while (this.cursor >= this.received.length) {
      if (this.closeCode !== undefined) throw new Error(`connection closed (${this.closeCode}) while waiting for a frame`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no frame within ${ms} ms (read ${this.cursor})`);
      await within(new Promise<void>((r) => (this.wake = r)), left, 'frame').catch(() => {});
      this.wake = undefined;
    }
    const r = this.received[this.cursor++]!;
    if (r.kind === 'error') throw new Error(`the server sent a frame the codec rejects: ${r.code} ${r.message}`);
    return r;
  }

  /** Marks every frame received so far as read and returns those not read before. */
  drain(): DecodeResult[] {
    const unread = this.received.slice(this.cursor);
    this.cursor = this.received.length;
    return unread;
  }

  /** Waits until `count` frames have arrived in all (read or not). */
  async receivedAtLeast(count: number, ms = 10_000): Promise<void> {
    await until(() => this.received.length >= count || this.closeCode !== undefined, `${count} frames`, ms);
    if (this.received.length < count) throw new Error(`connection closed (${this.closeCode}) after ${this.received.length} of ${count} frames`);
  }

  /**
   * The barrier: sends a frame of schema version 0 and returns every frame that arrived before the server's answer
   * to it (which it checks and consumes). When it returns, the server has applied every frame sent before.
   */
  async sync(): Promise<FeedMessage[]> {
    const sequence = this.send((s) => withVersion(encodeSubscribe(s, { markets: [], accounts: [], allOrders: false }), 0));
    const before: FeedMessage[] = [];
    for (;;) {
      const m = await this.next();
      if (m.kind === 'errorFrame' && m.code === 'UNSUPPORTED_VERSION' && m.offendingSequence === sequence) return before;
      before.push(m);
    }
  }

  /** Every frame's Envelope.sequence, in arrival order. */
  sequences(): number[] {
    return this.received.map((r) => (r.kind === 'error' ? -1 : r.sequence));
  }

  async close(): Promise<void> {
    if (this.closeCode !== undefined) return;
    this.ws.close();
    await within(this.closed, 5_000, 'close').catch(() => this.ws.terminate());
  }
}

export interface StartOptions {
  readonly engine?: EngineConfig;
  readonly server?: Partial<FeedServerOptions>;
  readonly setup?: (engine: Engine) => void;
}

export interface Started {
  readonly engine: Engine;
  readonly server: FeedServer;
}

/** What one test started; `closeAll()` in afterEach. */
export class Feed {
  private readonly engines: Engine[] = [];
  private readonly servers: FeedServer[] = [];
  private readonly clients: FeedClient[] = [];

  /**
   * Starts an engine (inline scan, automatic epochs unless `engine` says otherwise), runs `setup` on it, waits
   * for the epoch that setup started (with automatic epochs off, runs one: the tables then hold an epoch's state,
   * which a Subscribe is answered with), then starts a server on a free port with the tests' tokens and no
   * heartbeat (so that no frame arrives unasked).
   */
  async start(o: StartOptions = {}): Promise<Started> {
    const engine = await Engine.start({ scanWorkers: 0, ...o.engine });
    this.engines.push(engine);
    if (o.setup !== undefined) {
      const settled = engine.config.autoEpoch ? nextEpoch(engine) : undefined;
      o.setup(engine);
      await (settled ?? engine.step());
    }
    const server = await FeedServer.start(engine, {
      port: 0,
      publisherTokens: [PUBLISHER_TOKEN],
      subscriberTokens: [SUBSCRIBER_TOKEN],
      statusIntervalMs: 0,
      ...o.server,
    });
    this.servers.push(server);
    return { engine, server };
  }

  /** Connects with the publisher's or the subscriber's token (in the query unless `via` says bearer). */
  async connect(server: FeedServer, role: 'publisher' | 'subscriber' | Auth, via: 'query' | 'bearer' = 'query'): Promise<FeedClient> {
    const auth: Auth = typeof role === 'string' ? { token: role === 'publisher' ? PUBLISHER_TOKEN : SUBSCRIBER_TOKEN, via } : role;
    const client = await FeedClient.connect(server.url, auth);
    this.clients.push(client);
    return client;
  }

  /** Closes clients, servers and engines; then fails if any client saw a gap in the server's sequences. */
  async closeAll(): Promise<void> {
    const clients = this.clients.splice(0);
    await Promise.all(clients.map((c) => c.close()));
    for (const s of this.servers.splice(0)) await s.close();
    await Promise.all(this.engines.splice(0).map((e) => e.close()));
    for (const c of clients) {
      const seen = c.sequences();
      const gap = seen.findIndex((s, i) => s !== i);
      if (gap >= 0) throw new Error(`a client saw sequence ${seen[gap]} as its frame ${gap}: ${seen.slice(Math.max(0, gap - 3), gap + 3).join(',')}`);
    }
  }
}

/** One liquidation order with every field set (codec round trips and answers). */
export const SAMPLE_ORDER = {
  id: '17-0-42',
  epoch: 12,
  account: 17,
  market: 0,
  symbol: 'BTC-USD',
  side: 'sell',
  quantity: 0.1,
  limitPrice: 44_950.25,
  oraclePrice: 45_000,
  reason: 'cross-maintenance',
  health: 0.93,
  equity: 465.5,
  maintenanceMargin: 500.5,
  positionSequence: 42,
} as const satisfies LiquidationOrder;

/**
 * The README's bankrupt long: 0.1 BTC from 50,000 on -500 of collateral, closed at its bankruptcy price 55,000
 * against two shorts (0.06 of account 2, 0.04 of account 3), instead of order 1-0-7.
 */
export const SAMPLE_DELEVERAGING: Deleveraging = {
  sequence: 9,
  account: 1,
  market: 0,
  orderId: '1-0-7',
  bankruptcyPrice: 55_000,
  markPrice: 50_000,
  absorbed: 500,
  matched: 0.1,
  remainder: 0,
  realizedPnl: 500,
  counterparties: [
    { account: 2, index: 0, quantity: 0.06, realizedPnl: 300, sizeAfter: 0 },
    { account: 3, index: 1, quantity: 0.04, realizedPnl: -160, sizeAfter: -0.96 },
  ],
  counterpartyCount: 2,
  continued: false,
};

/**
 * A backstop takeover as the engine emits it: vault 900 takes 27.05 of account 1's long 100 from 100 at 93.93 (its
 * fillable price, better for it than the oracle 94 less the vault's 0.2%), a fill of takeover 1-1-4 that pays a fee of
 * 38.12 to the fund and leaves the account 72.95.
 */
export const SAMPLE_TAKEOVER: Takeover = {
  sequence: 15,
  id: '1-1-4',
  account: 1,
  market: 1,
  vault: 900,
  quantity: 27.054006741800585,
  price: 93.93,
  markPrice: 94,
  settlement: {
    orderId: '1-1-4',
    account: 1,
    market: 1,
    quantity: 27.054006741800585,
    price: 93.93,
    eventTimeUs: 1_767_225_600_000_000,
    sequence: 15,
    closed: 27.054006741800585,
    realizedPnl: -164.217821,
    fee: 38.117742,
    insuranceCover: 0,
    deficit: 0,
    bankruptcyValue: 2_434.8606067620526,
    sizeAfter: 72.94599325819942,
    collateralAfter: 797.664437,
    orderRemaining: 0,
  },
  vaultSizeAfter: 127.05400674180058,
  vaultEntryPrice: 93.83712610878946,
  vaultRealizedPnl: 0,
  vaultCollateralAfter: 1_000_000,
};

/** A fill of `o` at its limit (the matching engine's answer in feed tests), `quantity` whole by default. */
export const fillOf = (o: LiquidationOrder, quantity = o.quantity, patch: Partial<Fill> = {}): Fill => ({
  orderId: o.id,
  account: o.account,
  market: o.market,
  quantity,
  price: o.limitPrice,
  eventTimeUs: 5_000,
  ...patch,
});
