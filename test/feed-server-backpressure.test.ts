/**
 * A subscriber that stops reading is dropped (4008 SLOW_CONSUMER) once its unsent backlog passes
 * maxBackpressureBytes, and nobody else waits for it (src/feed/server.ts, send()).
 *
 *   publisher (ws) --ticks--> FeedServer --account states, ~350 KB a tick--> fast subscriber (ws, reads everything)
 *                                        \-------------------------------> slow subscriber (raw TCP, never reads)
 *
 * 4,000 accounts each hold BTC, so every tick changes every account's state: one AccountStates frame per tick per
 * subscriber (below the 4,096 rows a frame holds). The kernel's socket buffers take the first few megabytes for
 * the slow one; then uWS buffers, and the next send past 64 KiB drops it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeFrame, encodeSubscribe, encodeTicks, type AccountState, type DecodeResult } from '../src/feed/codec.js';
import { Feed, SUBSCRIBER_TOKEN, TIERS, until } from './support/feed.js';
import { RawWebSocket } from './support/raw-websocket.js';

const BTC = 1;
const ACCOUNTS = Array.from({ length: 4_000 }, (_, i) => 10_000 + i);
const MAX_TICKS = 300;

function statesOf(f: DecodeResult | undefined): readonly AccountState[] {
  if (f?.kind !== 'accountStates') throw new Error(`expected account states, got ${JSON.stringify(f)}`);
  return f.accounts;
}

const feed = new Feed();
let slow: RawWebSocket | undefined;
afterEach(async () => {
  slow?.destroy();
  slow = undefined;
  await feed.closeAll();
});

describe('backpressure', () => {
  it('drops a subscriber that stops reading while a fast one receives every account state', async () => {
    const { engine, server } = await feed.start({
      engine: { capacity: { markets: 1, accounts: ACCOUNTS.length, positions: ACCOUNTS.length } },
      // Every watched account's state each epoch (no account-state budget): the volume is what is being tested.
      server: { maxBackpressureBytes: 64 << 10, accountStateBudget: 1 << 24 },
      setup: (e) => {
        e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
        for (const a of ACCOUNTS) {
          e.addAccount(a, 100_000);
          e.upsertPosition({ account: a, market: BTC, size: 1, entryPrice: 50_000 });
        }
      },
    });
    const subscribe = encodeSubscribe(1, { markets: [], accounts: ACCOUNTS, allOrders: false });

    slow = await RawWebSocket.open(server.port, server.options.path, SUBSCRIBER_TOKEN);
    slow.sendBinary(subscribe);
    const fast = await feed.connect(server, 'subscriber');
    fast.sendRaw(subscribe);
    await fast.receivedAtLeast(2); // EngineStatus, then the snapshot
    await until(() => server.stats().framesIn === 2, 'both subscriptions applied');
    expect(server.stats().subscribers).toBe(2);

    const pub = await feed.connect(server, 'publisher');
    let ticks = 0;
    let after = 0; // ticks after the drop: the fast subscriber must keep receiving
    while (after < 3) {
      if (++ticks > MAX_TICKS) throw new Error(`the slow subscriber was not dropped after ${MAX_TICKS} ticks: ${JSON.stringify(server.stats())}`);
      pub.send((s) => encodeTicks(s, [{ market: BTC, source: 1, price: 50_000 + 7 * ticks, confidence: 0, eventTimeUs: ticks, sourceSequence: ticks }]));
      await fast.receivedAtLeast(2 + ticks); // one frame per tick: the fast one has read it before the next
      if (server.stats().slowConsumersDropped > 0) after++;
    }

    const stats = server.stats();
    expect(stats.slowConsumersDropped).toBe(1);
    expect(stats.subscribers).toBe(1);
    const dropped = ticks - 2; // the tick whose frame it was refused
    console.log(`slow subscriber dropped at tick ${dropped} of ${ticks}; ${(stats.bytesOut / 1e6).toFixed(1)} MB sent in all`);

    // The fast subscriber: a snapshot, then every account in every tick's frame; its last states are the engine's.
    const frames = fast.drain();
    expect(frames).toHaveLength(2 + ticks);
    expect(frames.map((f) => (f.kind === 'error' ? f.code : f.kind))).toEqual(['engineStatus', ...Array<string>(1 + ticks).fill('accountStates')]);
    frames.slice(1).forEach((f, i) => {
      const states = statesOf(f);
      expect(states.map((s) => s.account)).toEqual(ACCOUNTS);
      expect(states[0]!.epoch).toBe(1 + i);
      expect(states[0]!.equity).toBe(100_000 + 7 * i);
    });
    const last = statesOf(frames.at(-1));
    for (const [i, a] of ACCOUNTS.entries()) {
      const { id, ...summary } = engine.accountSummary(a);
      expect(last[i]).toEqual({ account: id, epoch: engine.epochs, ...summary });
    }

    // The slow one, reading again, finds a prefix of the same stream, numbered without a gap, then the close.
    const received = await slow.readToEnd();
    const close = received.at(-1)!;
    const binary = received.filter((f) => f.opcode === 0x2).map((f) => decodeFrame(new Uint8Array(f.payload), 1 << 30));
    expect(binary.map((m) => m.kind !== 'error' && m.sequence)).toEqual(binary.map((_, i) => i));
    console.log(`the slow subscriber read ${binary.length} frames`);
    expect(binary.length).toBe(2 + dropped - 1);
    expect(close.opcode).toBe(0x8);
    expect(close.payload.readUInt16BE(0)).toBe(4008);
    expect(close.payload.subarray(2).toString()).toBe('SLOW_CONSUMER');
  });
});
