/**
 * decodeFrame on hostile input (seeded, mulberry32): 120,000 random and mutated frames (bit flips, byte and
 * offset overwrites, truncations, extensions, splices, random bytes behind a valid header, pure noise). It never
 * throws, never hangs, and every result is either a coded FrameError or a message that round-trips exactly.
 */
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameErrorCode, type DecodeResult, type FeedMessage } from '../src/feed/codec.js';
import { mulberry32 } from '../src/sim/random.js';
import { SAMPLE_TAKEOVER } from './support/feed.js';

/** Replay or widen a run with FEED_FUZZ_SEED / FEED_FUZZ_FRAMES; CI runs the defaults. */
const SEED = Number(process.env.FEED_FUZZ_SEED ?? 0x5eed_f00d);
const FRAMES = Number(process.env.FEED_FUZZ_FRAMES ?? 120_000);
const MAX_BYTES = 4096;
/** No frame of at most MAX_BYTES may take this long to decode. */
const SLOW_MS = 50;
const IDENTIFIER = new TextEncoder().encode('UNWD');
const CODES = new Set<string>(Object.values(FrameErrorCode));

/** Valid frames of every kind, to mutate. */
const SEEDS: readonly Uint8Array[] = (
  [
    { kind: 'ticks', sequence: 1, ticks: [0, 1, 2].map((i) => ({ market: i, source: 7, price: 100 + i, confidence: 0.5, eventTimeUs: 10 + i, sourceSequence: i })) },
    { kind: 'positions', sequence: 2, positions: [{ account: 1, market: 0, size: 2, entryPrice: 10, isolatedCollateral: null }, { account: 2, market: 1, size: -1, entryPrice: 5, isolatedCollateral: 3 }] },
    { kind: 'collateral', sequence: 3, updates: [{ account: 1, collateral: 100 }] },
    { kind: 'fills', sequence: 4, fills: [{ orderId: '1-0-9', account: 1, market: 0, quantity: 1, price: 10, eventTimeUs: 4 }, { orderId: '2-1-3', account: 2, market: 1, quantity: 2, price: 5, eventTimeUs: 5 }] },
    { kind: 'expiries', sequence: 4, orderIds: ['1-0-9', '2-1-3', '3-0-11'], eventTimeUs: 6 },
    { kind: 'subscribe', sequence: 5, topics: { markets: [0, 1], accounts: [9], allOrders: true } },
    { kind: 'unsubscribe', sequence: 6, topics: { markets: [3], accounts: [], allOrders: false } },
    {
      kind: 'orders',
      sequence: 7,
      orders: [1, 2].map((a) => ({
        id: `${a}-0-5`, epoch: 3, account: a, market: 0, symbol: 'BTC-USD', side: 'sell', quantity: 1, limitPrice: 9, oraclePrice: 10,
        reason: 'cross-maintenance', health: 0.9, equity: 9, maintenanceMargin: 10, positionSequence: 5,
      })),
    },
    { kind: 'marginCalls', sequence: 8, marginCalls: [{ epoch: 1, account: 1, market: null, health: 1.1, equity: 11, maintenanceMargin: 10 }] },
    { kind: 'accountStates', sequence: 9, accounts: [{ account: 1, epoch: 1, collateral: 5, equity: 5, initialMargin: 2, maintenanceMargin: 1, freeCollateral: 3, health: 5, liquidatable: false, marginCall: false }] },
    { kind: 'marketStatus', sequence: 10, market: 1, state: 'paused', reason: 'stale', eventTimeUs: 7, code: 'ORACLE_STALE' },
    { kind: 'engineStatus', sequence: 11, state: 'running', epoch: 2, lastSequence: 3, markets: 1, accounts: 2, positions: 3, message: 'ok' },
    { kind: 'errorFrame', sequence: 12, code: 'MALFORMED_FRAME', message: 'bad', offendingSequence: 4 },
    { kind: 'subscribe', sequence: 13, topics: { markets: [], accounts: [], allOrders: false, adlMarkets: [0, 2] } },
    {
      kind: 'adlQueue',
      sequence: 14,
      market: 0,
      positionsSide: -1,
      epoch: 3,
      queueLength: 5,
      entries: [1, 2, 3].map((i) => ({ account: i, queuePosition: i, size: -i, rank: 1 / i, pnlPercent: 0.1, effectiveLeverage: i === 1 ? Infinity : 2 })),
    },
    {
      kind: 'signedTicks',
      sequence: 15,
      ticks: [0, 1].map((i) => ({ market: i, source: 7, price: 100 + i, confidence: 0.5, eventTimeUs: 10 + i, sourceSequence: i })),
      signatures: Uint8Array.from({ length: 128 }, (_, i) => (i * 37) & 0xff),
    },
    {
      kind: 'books',
      sequence: 16,
      books: [
        { market: 0, bid: 99, ask: 101, last: 100, eventTimeUs: 8 },
        { market: 1, bid: 0, ask: 5, last: 0, eventTimeUs: 9 },
      ],
    },
    { kind: 'killSwitch', sequence: 17, level: 'no-reissue', market: 2, reason: 'review' },
    { kind: 'subscribe', sequence: 17, topics: { markets: [1], accounts: [], allOrders: false, acks: true } },
    { kind: 'ack', sequence: 17, state: 'accepted', frameSequence: 4, firstSequence: 10, lastSequence: 12 },
    {
      kind: 'openOrders',
      sequence: 17,
      epoch: 3,
      lastSequence: 40,
      orders: [1, 2].map((a) => ({
        order: {
          id: `${a}-0-5`, epoch: 3, account: a, market: 0, symbol: 'BTC-USD', side: 'sell', quantity: 1, limitPrice: 9, oraclePrice: 10,
          reason: 'cross-maintenance', health: 0.9, equity: 9, maintenanceMargin: 10, positionSequence: 5,
        },
        remaining: 0.5 * a,
      })),
      firstIndex: 0,
      orderCount: 2,
    },
    { kind: 'killSwitch', sequence: 18, level: 'halt', market: undefined, reason: '' },
    {
      kind: 'deleveragings',
      sequence: 19,
      deleveragings: [
        {
          sequence: 9, account: 1, market: 0, orderId: '1-0-7', bankruptcyPrice: 55_000, markPrice: 50_000, absorbed: 500, matched: 0.1, remainder: 0, realizedPnl: 500,
          counterparties: [
            { account: 2, index: 0, quantity: 0.06, realizedPnl: 300, sizeAfter: 0 },
            { account: 3, index: 1, quantity: 0.04, realizedPnl: -160, sizeAfter: -0.96 },
          ],
          counterpartyCount: 2,
          continued: false,
        },
        {
          sequence: 10, account: 4, market: 1, orderId: null, bankruptcyPrice: 95, markPrice: 100, absorbed: 5, matched: 1, remainder: 1, realizedPnl: -5,
          counterparties: [{ account: 5, index: 3, quantity: 1, realizedPnl: 5, sizeAfter: 2 }],
          counterpartyCount: 7,
          continued: true,
        },
      ],
    },
    {
      kind: 'socializedLosses',
      sequence: 20,
      losses: [{ sequence: 11, account: 7, market: 0, amount: 200, shares: [0, 1, 2].map((i) => ({ account: 2 + i, index: i, amount: 200 / 3 })), shareCount: 3, continued: false, method: 'pro-rata' }],
    },
    {
      kind: 'unresolvedDeficits',
      sequence: 21,
      deficits: [
        { sequence: 12, account: 7, market: 0, amount: 550, reason: 'no-counterparty' },
        { sequence: 13, account: 8, market: 1, amount: 1, reason: 'halted' },
      ],
    },
    {
      kind: 'depth',
      sequence: 22,
      books: [
        { market: 0, bidVolume: 120, askVolume: 95.5 },
        { market: 1, bidVolume: 0, askVolume: Infinity },
      ],
    },
    { kind: 'takeovers', sequence: 23, takeovers: [SAMPLE_TAKEOVER, { ...SAMPLE_TAKEOVER, id: '2-1-6', account: 2, settlement: { ...SAMPLE_TAKEOVER.settlement, orderId: '2-1-6', account: 2, deficit: 18.8 } }] },
  ] as FeedMessage[]
).map(encodeFrame);

/** Checks the decode contract on one result; returns a short tag for the tally. */
function check(r: DecodeResult, bytes: Uint8Array): string {
  if (r.kind === 'error') {
    if (!CODES.has(r.code) || typeof r.message !== 'string' || r.message.length === 0) throw new Error(`bad error value ${JSON.stringify(r)}`);
    if (r.sequence !== undefined && !(Number.isSafeInteger(r.sequence) && r.sequence >= 0)) throw new Error(`bad sequence ${r.sequence}`);
    return r.code;
  }
  // Accepted: it must be a message the encoder reproduces (the decoder cannot have read garbage into it).
  const again = decodeFrame(encodeFrame(r), 1 << 24);
  expect(again, `accepted ${Buffer.from(bytes).toString('hex')}`).toEqual(r);
  return 'OK';
}

function mutate(rand: () => number, src: Uint8Array): Uint8Array {
  const int = (n: number) => Math.floor(rand() * n);
  const op = int(8);
  let b = src.slice();
  switch (op) {
    case 0: // bit flips
      for (let k = 1 + int(4); k > 0; k--) b[int(b.length)]! ^= 1 << int(8);
      break;
    case 1: // random byte overwrites, sparing the identifier half the time
      for (let k = 1 + int(6); k > 0; k--) b[int(b.length)] = int(256);
      if (rand() < 0.5 && b.length >= 8) b.set(IDENTIFIER, 4);
      break;
    case 2: { // a plausible uint32/int16 planted at an aligned position: the offsets and vtable fields
      const p = int(b.length >> 2) << 2;
      const v = rand() < 0.5 ? int(b.length * 2) : [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, -4 >>> 0][int(6)]!;
      if (p + 4 <= b.length) new DataView(b.buffer).setUint32(p, v, true);
      break;
    }
    case 3: // truncation
      b = b.slice(0, int(b.length));
      break;
    case 4: { // extension with noise
      const ext = new Uint8Array(b.length + 1 + int(64));
      ext.set(b);
      for (let i = b.length; i < ext.length; i++) ext[i] = int(256);
      b = ext;
      break;
    }
    case 5: { // splice: copy a chunk of the frame over another place
      const n = 1 + int(16);
      const from = int(b.length);
      b.copyWithin(int(b.length), from, Math.min(b.length, from + n));
      break;
    }
    case 6: { // random bytes behind a valid header (root offset + identifier)
      const r = new Uint8Array(12 + int(200));
      for (let i = 8; i < r.length; i++) r[i] = int(256);
      r.set(SEEDS[0]!.subarray(0, 8)); // a root offset that points into the noise, and "UNWD"
      b = r;
      break;
    }
    default: { // pure noise, sometimes past maxBytes
      const r = new Uint8Array(rand() < 0.02 ? MAX_BYTES + 1 + int(100) : int(128));
      for (let i = 0; i < r.length; i++) r[i] = int(256);
      b = r;
    }
  }
  return b;
}

describe('feed codec fuzz', () => {
  it(`never throws or hangs on ${FRAMES.toLocaleString('en')} random and mutated frames, and returns a valid message or a coded error`, () => {
    const rand = mulberry32(SEED);
    const tally = new Map<string, number>();
    const started = performance.now();
    let slowest = 0;
    /** Frames whose one timed decode passed the bound: timed again below, so a GC pause or a busy CPU is not a failure. */
    const slow: Uint8Array[] = [];
    for (let i = 0; i < FRAMES; i++) {
      const src = SEEDS[Math.floor(rand() * SEEDS.length)]!;
      // Chain up to three mutations, so damage compounds.
      let bytes = mutate(rand, src);
      for (let k = Math.floor(rand() * 3); k > 0 && bytes.length > 0; k--) bytes = mutate(rand, bytes);
      const t0 = performance.now();
      let r: DecodeResult;
      try {
        r = decodeFrame(bytes, MAX_BYTES);
      } catch (e) {
        throw new Error(`decodeFrame threw on frame ${i} (seed ${SEED}): ${String(e)}; bytes ${Buffer.from(bytes).toString('hex')}`);
      }
      const took = performance.now() - t0;
      slowest = Math.max(slowest, took);
      if (took >= SLOW_MS) slow.push(bytes);
      const tag = check(r, bytes);
      tally.set(tag, (tally.get(tag) ?? 0) + 1);
    }
    const elapsed = performance.now() - started;
    // Every class of outcome is reached, so the mutations exercise each stage of the decoder.
    for (const code of ['OK', 'MALFORMED_FRAME', 'OVERSIZED_FRAME', 'UNKNOWN_MESSAGE', 'BAD_IDENTIFIER', 'UNSUPPORTED_VERSION', 'INVALID_FIELD']) {
      expect(tally.get(code) ?? 0, `${code} in ${JSON.stringify([...tally])}`).toBeGreaterThan(0);
    }
    // A decode that is really slow (quadratic, looping) is slow every time; take the best of five for each suspect.
    for (const bytes of slow) {
      const best = Math.min(...Array.from({ length: 5 }, () => {
        const t0 = performance.now();
        decodeFrame(bytes, MAX_BYTES);
        return performance.now() - t0;
      }));
      expect(best, `decode of ${Buffer.from(bytes).toString('hex')}, best of 5, ms`).toBeLessThan(SLOW_MS);
    }
    expect(elapsed, 'whole run, ms').toBeLessThan(20_000);
    console.log(`feed fuzz: ${FRAMES} frames in ${elapsed.toFixed(0)} ms, slowest ${slowest.toFixed(2)} ms (${slow.length} timed again):`, Object.fromEntries(tally));
  });

  it('every valid frame of every kind still decodes (the seeds are sound)', () => {
    for (const s of SEEDS) expect(decodeFrame(s, MAX_BYTES).kind).not.toBe('error');
  });
});
