/**
 * The feed server on hostile input (seeded, mulberry32): a publisher connection sends 100,000 random and mutated
 * frames over a real loopback socket (noise of random length, truncations and byte flips of valid frames of every
 * kind, wrong identifiers and versions, frames above maxFrameBytes, text frames, well-formed frames with values out
 * of their domain or naming what the engine does not hold). Each frame's fate is predicted on the client with
 * decodeFrame and the server's rules; only frames the server must reject are sent. Every one gets exactly one
 * ErrorFrame, in order, with the predicted code and the frame's own sequence; the counters add up; the tables do
 * not change by one byte; and the server still serves.
 *
 * The engine holds markets 900001-900002 and account 900101; the generator writes ids below 1,000, and a predicted
 * message that names a held id (a mutation could make one) is not sent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compileTiers, initialMargin, maintenanceMargin, notional } from '../src/domain/index.js';
import {
  decodeFrame,
  encodeFrame,
  encodeSubscribe,
  encodeTicks,
  type FeedMessage,
  type Topics,
} from '../src/feed/codec.js';
import { Random } from './support/random.js';
import { Feed, firstDifference, tableBytes, TIERS, until, withVersion } from './support/feed.js';

/** Replay or widen a run with FEED_SERVER_FUZZ_SEED / FEED_SERVER_FUZZ_FRAMES. */
const SEED = Number(process.env.FEED_SERVER_FUZZ_SEED ?? 0xfeed_5e4e);
const FRAMES = Number(process.env.FEED_SERVER_FUZZ_FRAMES ?? 100_000);
const BURST = 2_000;
const MAX_FRAME = 4_096;
const MAX_PAYLOAD = 16_384;
const MARKETS = new Set([900_001, 900_002]);
const ACCOUNTS = new Set([900_101]);

const feed = new Feed();
afterEach(() => feed.closeAll());

function start() {
  return feed.start({
    engine: { capacity: { markets: 2, accounts: 4, positions: 8 } },
    // createAccounts false: a collateral update for an account the engine does not hold is refused, not opened.
    server: { maxFrameBytes: MAX_FRAME, maxPayloadBytes: MAX_PAYLOAD, createAccounts: false },
    setup: (e) => {
      e.addMarket({ id: 900_001, symbol: 'FUZZ-USD', price: 100, tiers: TIERS });
      e.addMarket({ id: 900_002, symbol: 'ZZUF-USD', price: 7, tiers: TIERS });
      e.addAccount(900_101, 1_000);
      e.upsertPosition({ account: 900_101, market: 900_001, size: 10, entryPrice: 100 });
    },
  });
}

/** Valid frames of every kind, with ids the engine does not hold and, now and then, a value out of its domain. */
class Frames {
  constructor(private readonly rand: Random) {}

  private id = (): number => this.rand.int(0, 999);
  private count = (max: number): number => (this.rand.chance(0.03) ? 0 : this.rand.int(1, max)); // 0: INVALID_FIELD
  /** A value, or 5% of the time one out of every domain it could have. */
  private v = (x: number): number => (this.rand.chance(0.05) ? this.rand.pick([Number.NaN, -1, 0, Infinity, -Infinity, 1e300]) : x);
  private price = (): number => this.v(this.rand.logRange(0.01, 100_000));
  private time = (): number => this.v(this.rand.int(0, 2 ** 40));

  message(sequence: number): FeedMessage {
    const r = this.rand;
    const topics = (): Topics => ({
      markets: Array.from({ length: r.int(0, 3) }, this.id),
      accounts: Array.from({ length: r.int(0, 3) }, this.id),
      allOrders: r.chance(0.5),
    });
    switch (r.int(0, 13)) {
      case 0:
        return {
          kind: 'ticks',
          sequence,
          ticks: Array.from({ length: this.count(4) }, () => ({
            market: this.id(), source: this.id(), price: this.price(), confidence: this.v(r.range(0, 5)), eventTimeUs: this.time(), sourceSequence: this.time(),
          })),
        };
      case 1:
        return {
          kind: 'positions',
          sequence,
          positions: Array.from({ length: this.count(3) }, () => ({
            account: this.id(), market: this.id(), size: this.v(r.range(-10, 10)), entryPrice: this.price(), isolatedCollateral: r.chance(0.7) ? null : this.v(r.range(0, 1e4)),
          })),
        };
      case 2:
        return { kind: 'collateral', sequence, updates: Array.from({ length: this.count(3) }, () => ({ account: this.id(), collateral: this.v(r.range(-100, 1e6)) })) };
      case 3:
        return {
          kind: 'fills',
          sequence,
          fills: Array.from({ length: this.count(2) }, () => ({
            orderId: `${this.id()}-${this.id()}-${r.int(1, 99)}`, account: this.id(), market: this.id(), quantity: this.v(r.range(0.01, 5)), price: this.price(), eventTimeUs: this.time(),
          })),
        };
      case 4:
        return { kind: 'subscribe', sequence, topics: topics() };
      case 5:
        return { kind: 'unsubscribe', sequence, topics: topics() };
      case 6:
        return {
          kind: 'orders',
          sequence,
          orders: [{
            id: '1-2-3', epoch: 3, account: this.id(), market: this.id(), symbol: 'BTC-USD', side: 'sell', quantity: 1, limitPrice: this.price(), oraclePrice: 10,
            reason: 'cross-maintenance', health: 0.9, equity: 9, maintenanceMargin: 10, positionSequence: 5,
          }],
        };
      case 7:
        return { kind: 'marginCalls', sequence, marginCalls: [{ epoch: 1, account: this.id(), market: r.chance(0.5) ? null : this.id(), health: 1.1, equity: this.v(11), maintenanceMargin: 10 }] };
      case 8:
        return {
          kind: 'accountStates',
          sequence,
          accounts: [{ account: this.id(), epoch: 1, collateral: 5, equity: this.v(5), initialMargin: 2, maintenanceMargin: 1, freeCollateral: 3, health: 5, liquidatable: false, marginCall: false }],
        };
      case 9:
        return { kind: 'marketStatus', sequence, market: this.id(), state: 'paused', reason: 'stale', eventTimeUs: this.time() };
      case 11:
        return { kind: 'expiries', sequence, orderIds: Array.from({ length: this.count(3) }, () => `${this.id()}-${this.id()}-${r.int(1, 99)}`), eventTimeUs: this.time() };
      case 12:
        return { kind: 'depth', sequence, books: Array.from({ length: this.count(3) }, () => ({ market: this.id(), bidVolume: this.v(r.range(0, 1e4)), askVolume: this.v(r.range(0, 1e4)) })) };
      case 10:
        return { kind: 'engineStatus', sequence, state: 'running', epoch: 2, lastSequence: 3, markets: 1, accounts: 2, positions: 3, message: 'ok' };
      default:
        return { kind: 'errorFrame', sequence, code: 'MALFORMED_FRAME', message: 'bad', offendingSequence: r.chance(0.5) ? null : r.int(0, 99) };
    }
  }

  /** A valid frame, sometimes with an Envelope.sequence out of its domain (INVALID_FIELD, no sequence to echo). */
  valid(sequence: number): Uint8Array {
    const s = this.rand.chance(0.01) ? this.rand.pick([-1, 0.5, 2 ** 53, Number.NaN]) : sequence;
    return encodeFrame(this.message(s));
  }

  noise(length: number): Uint8Array {
    const b = new Uint8Array(length);
    for (let i = 0; i < length; i++) b[i] = this.rand.int(0, 255);
    return b;
  }

  /** One hostile frame: binary bytes, or a string for a text frame. */
  next(sequence: number): Uint8Array | string {
    const r = this.rand;
    const kind = r.float();
    if (kind < 0.08) return this.noise(r.int(0, 300));
    if (kind < 0.2) {
      const f = this.valid(sequence);
      return f.slice(0, r.int(0, f.length - 1));
    }
    if (kind < 0.45) {
      const f = this.valid(sequence);
      for (let k = r.int(1, 4); k > 0; k--) f[r.int(0, f.length - 1)]! ^= r.int(1, 255);
      return f;
    }
    if (kind < 0.5) {
      const f = this.valid(sequence);
      f.set(Array.from('UNWD', () => r.int(0, 255)), 4);
      return f;
    }
    if (kind < 0.55) return withVersion(this.valid(sequence), r.pick([0, 2, 3, 255, 65535]));
    if (kind < 0.57) {
      const f = new Uint8Array(r.int(MAX_FRAME + 1, MAX_PAYLOAD));
      f.set(this.valid(sequence));
      return f;
    }
    if (kind < 0.6) return r.chance(0.5) ? '' : Array.from({ length: r.int(1, 40) }, () => String.fromCodePoint(r.pick([r.int(32, 126), r.int(0xa0, 0x2fff)]))).join('');
    return this.valid(sequence);
  }
}

interface Prediction {
  readonly code: string;
  /** The offending sequence the ErrorFrame must echo; null when the frame's could not be read. */
  readonly sequence: number | null;
}

/** What the server must answer (src/feed/server.ts's rules over decodeFrame), or null for a frame it would accept. */
function predict(frame: Uint8Array | string, maxTopics: number): Prediction | null {
  if (typeof frame === 'string') return { code: 'MALFORMED_FRAME', sequence: null };
  const m = decodeFrame(frame.slice(), MAX_FRAME); // a copy at byteOffset 0, as the server decodes it
  if (m.kind === 'error') return { code: m.code, sequence: m.sequence ?? null };
  const unknown = (ids: readonly number[], held: Set<number>) => ids.every((id) => !held.has(id));
  const at = (code: string): Prediction => ({ code, sequence: m.sequence });
  switch (m.kind) {
    case 'ticks':
      return unknown(m.ticks.map((t) => t.market), MARKETS) ? at('UNKNOWN_MARKET') : null;
    case 'positions':
      return unknown(m.positions.map((p) => p.account), ACCOUNTS) && unknown(m.positions.map((p) => p.market), MARKETS) ? at('UNKNOWN_ACCOUNT') : null;
    case 'collateral':
      return unknown(m.updates.map((u) => u.account), ACCOUNTS) ? at('UNKNOWN_ACCOUNT') : null;
    case 'depth':
      // Checked whole: one market the engine does not hold rejects the frame (a frame of held markets would land).
      return m.books.some((b) => !MARKETS.has(b.market)) ? at('UNKNOWN_MARKET') : null;
    case 'signedTicks':
    case 'books':
      return at('UNKNOWN_MARKET'); // the engine has no oracle market: signed ticks and books have nowhere to go
    case 'killSwitch':
      return at('FORBIDDEN'); // a publisher is not an admin
    case 'fills':
    case 'expiries':
      return at('UNKNOWN_ORDER'); // the server never issued an order: no account is liquidatable
    case 'subscribe':
      if (m.topics.markets.length + m.topics.accounts.length > maxTopics) return at('TOO_MANY_TOPICS');
      return m.topics.markets.length > 0 && unknown(m.topics.markets, MARKETS) ? at('UNKNOWN_MARKET') : null;
    case 'unsubscribe':
    case 'errorFrame':
      return null; // accepted: they would change the connection's state or its counters, so they are not sent
    default:
      return at('UNKNOWN_MESSAGE'); // a frame that flows from server to client
  }
}

const hex = (f: Uint8Array | string): string => (typeof f === 'string' ? JSON.stringify(f) : Buffer.from(f).toString('hex'));

describe('feed server fuzz', () => {
  it(`answers each of ${FRAMES.toLocaleString('en')} hostile frames with one ErrorFrame, in order, with the predicted code and sequence, and changes nothing`, async () => {
    const { engine, server } = await start();
    const before = tableBytes(engine);
    const epochs = engine.epochs;
    const pub = await feed.connect(server, 'publisher');
    expect((await pub.next()).kind).toBe('engineStatus');
    const frames = new Frames(new Random(SEED));
    const tally: Record<string, number> = {};
    let sent = 0;
    let bytes = 0;
    let skipped = 0;
    const started = performance.now();
    while (sent < FRAMES) {
      const burst: { frame: Uint8Array | string; expected: Prediction }[] = [];
      while (burst.length < BURST && sent + burst.length < FRAMES) {
        const frame = frames.next(sent + burst.length);
        const expected = predict(frame, server.options.maxTopicsPerConnection);
        if (expected === null) skipped++;
        else burst.push({ frame, expected });
      }
      const base = pub.received.length;
      for (const { frame } of burst) {
        pub.sendRaw(frame);
        bytes += typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
      }
      await pub.receivedAtLeast(base + burst.length, 30_000);
      burst.forEach(({ frame, expected }, i) => {
        const reply = pub.received[base + i]!;
        const ok = reply.kind === 'errorFrame' && reply.code === expected.code && reply.offendingSequence === expected.sequence && reply.sequence === base + i;
        if (!ok) {
          throw new Error(
            `frame ${sent + i} (seed ${SEED}): expected ${JSON.stringify(expected)} at sequence ${base + i}, got ${JSON.stringify(reply)}; frame ${hex(frame)}`,
          );
        }
        tally[expected.code] = (tally[expected.code] ?? 0) + 1;
      });
      sent += burst.length;
    }
    const elapsed = performance.now() - started;
    console.log(`feed server fuzz: ${sent} frames (${skipped} acceptable ones not sent) in ${elapsed.toFixed(0)} ms:`, tally);

    // Every stage of the decoder and every rejection of the server was reached.
    for (const code of ['MALFORMED_FRAME', 'OVERSIZED_FRAME', 'BAD_IDENTIFIER', 'UNSUPPORTED_VERSION', 'INVALID_FIELD', 'UNKNOWN_MESSAGE', 'UNKNOWN_MARKET', 'UNKNOWN_ACCOUNT', 'UNKNOWN_ORDER']) {
      expect(tally[code] ?? 0, code).toBeGreaterThan(0);
    }
    // Nothing more arrived than one answer per frame.
    await new Promise((r) => setTimeout(r, 20));
    expect(pub.received.length).toBe(1 + sent);
    const stats = server.stats();
    expect(stats.rejected).toEqual(tally);
    expect(stats).toMatchObject({ framesIn: sent, bytesIn: bytes, ticksIn: 0, positionUpdatesIn: 0, collateralUpdatesIn: 0, fillsIn: 0, expiriesIn: 0, depthIn: 0, publishers: 1, oversizedClosed: 0 });
    expect(firstDifference(tableBytes(engine), before)).toBe(-1);
    expect(engine.epochs).toBe(epochs);

    // Still serving: a valid tick lands and the account it moves is reported. Long 10 from 100, now at 90.
    pub.drain();
    pub.send((s) => encodeSubscribe(s, { markets: [900_001], accounts: [900_101], allOrders: true }));
    expect(await pub.next()).toMatchObject({ kind: 'accountStates', accounts: [{ account: 900_101, equity: 1_000 }] });
    pub.send((s) => encodeTicks(s, [{ market: 900_001, source: 1, price: 90, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }]));
    const schedule = compileTiers(TIERS);
    expect(await pub.next()).toMatchObject({
      kind: 'accountStates',
      accounts: [{ account: 900_101, epoch: epochs + 1, equity: 900, maintenanceMargin: maintenanceMargin(notional(10, 90), schedule), initialMargin: initialMargin(notional(10, 90), schedule) }],
    });
    expect(engine.account(900_101).positions[0]!.markPrice).toBe(90);
  });

  it('closes a connection that sends a frame above maxPayloadBytes, counts it, and keeps serving the others', async () => {
    const { engine, server } = await start();
    const before = tableBytes(engine);
    const steady = await feed.connect(server, 'publisher');
    const rude = await feed.connect(server, 'publisher');
    await rude.next();
    rude.sendRaw(new Uint8Array(MAX_PAYLOAD + 1));
    const code = await rude.closed;
    console.log(`close code seen by a client that sent ${MAX_PAYLOAD + 1} bytes (maxPayloadBytes ${MAX_PAYLOAD}): ${code}`);
    expect([1006, 1009]).toContain(code);
    await until(() => server.stats().publishers === 1, 'the server noticed the close');
    const s = server.stats();
    expect(s.oversizedClosed).toBe(1);
    expect(s.framesIn).toBe(0); // the frame was never read
    expect(s.rejected).toEqual({});

    // The other connection, and a new one, are served as before.
    expect(await steady.sync()).toMatchObject([{ kind: 'engineStatus' }]);
    const fresh = await feed.connect(server, 'subscriber');
    fresh.send((seq) => encodeSubscribe(seq, { markets: [], accounts: [900_101], allOrders: false }));
    expect(await fresh.sync()).toMatchObject([{ kind: 'engineStatus' }, { kind: 'accountStates', accounts: [{ account: 900_101 }] }]);
    expect(firstDifference(tableBytes(engine), before)).toBe(-1);
  });
});
