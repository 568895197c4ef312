/**
 * The ticks fast path equals the object path. `decodeFrame(frame, max, batch)` decodes PriceTicks and
 * SignedPriceTicks into reused columns (src/feed/tick-batch.ts) and `Engine.pushPriceColumns` takes them without an object per row; both must
 * behave exactly as `decodeFrame(frame)` and `Engine.pushPrices` do: the same values, the same FrameErrors, the
 * same validation before anything lands, and the same place in the input sequence when an epoch is in flight.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeFrame,
  DEFAULT_MAX_FRAME_BYTES,
  encodeBookTickers,
  encodeCollateral,
  encodeError,
  encodeExpiries,
  encodeFills,
  encodeKillSwitch,
  encodePositions,
  encodeSignedPriceTicks,
  encodeSubscribe,
  encodeTicks,
  FrameErrorCode,
  type DecodeResult,
  type FeedMessage,
  type Tick,
  type TickBatchMessage,
} from '../src/feed/codec.js';
import { TickBatchBuffer } from '../src/feed/tick-batch.js';
import { Engine, ErrorCode, UnwindError } from '../src/index.js';
import { firstDifference, tableBytes, TIERS } from './support/feed.js';
import { MAX_TIME_US } from '../src/validate.js';
import { Random } from './support/random.js';

const RUNS = { seed: 0x71c4_ba7c, numRuns: 300 };
const MAX_ID = 0xfffffffe;
const COLUMNS = ['market', 'source', 'price', 'confidence', 'eventTimeUs', 'sourceSequence'] as const;

// ---- generators: every field over its whole valid domain, -0 included where the wire can carry it ----

const idArb = fc.integer({ min: 0, max: MAX_ID });
const priceArb = fc.double({ min: 0, minExcluded: true, max: 1e12, noNaN: true });
const confidenceArb = fc.oneof(fc.constant(-0), fc.double({ min: 0, max: Number.MAX_VALUE, noNaN: true }));
/** Integers in [0, 2^53), and -0 (which the decoder returns as 0). */
const sequenceArb = fc.oneof({ weight: 1, arbitrary: fc.constant(-0) }, { weight: 9, arbitrary: fc.maxSafeNat() });
/** Event times are clocks: integer microseconds up to 2100-01-01 (MAX_TIME_US). */
const timeArb = fc.oneof({ weight: 1, arbitrary: fc.constant(-0) }, { weight: 9, arbitrary: fc.integer({ min: 0, max: MAX_TIME_US }) });
const tickArb: fc.Arbitrary<Tick> = fc.record({
  market: idArb,
  source: idArb,
  price: priceArb,
  confidence: confidenceArb,
  eventTimeUs: timeArb,
  sourceSequence: sequenceArb,
});
const ticksArb = fc.array(tickArb, { minLength: 1, maxLength: 200 });
/** Ticks with 64 signature bytes each (any bytes: the decoder copies them, it does not verify them). */
const signedArb = ticksArb.chain((ticks) => fc.record({ ticks: fc.constant(ticks), signatures: fc.uint8Array({ minLength: 64 * ticks.length, maxLength: 64 * ticks.length }) }));

/** One field of one tick set outside its domain, and the field name the decoder must report. */
type Corruption = readonly [field: (typeof COLUMNS)[number], value: number];
const CORRUPTIONS: readonly Corruption[] = [
  ['market', 0xffffffff],
  ['source', 0xffffffff],
  ['price', NaN],
  ['price', -1],
  ['price', -0],
  ['price', 0],
  ['price', Infinity],
  ['price', -Infinity],
  ['price', 1e12 * (1 + Number.EPSILON)],
  ['confidence', -1],
  ['confidence', -Number.MIN_VALUE],
  ['confidence', NaN],
  ['confidence', Infinity],
  ['eventTimeUs', 1.5],
  ['eventTimeUs', -1],
  ['eventTimeUs', 2 ** 53],
  ['eventTimeUs', MAX_TIME_US + 1],
  ['eventTimeUs', NaN],
  ['eventTimeUs', Infinity],
  ['sourceSequence', 0.25],
  ['sourceSequence', -2],
  ['sourceSequence', 2 ** 60],
  ['sourceSequence', NaN],
];

// ---- comparisons ----

/** Where a decoded batch differs from the object path's ticks (Object.is per cell), or null. */
function batchMismatch(batch: TickBatchBuffer, ticks: readonly Tick[]): string | null {
  if (batch.length !== ticks.length) return `batch.length ${batch.length}, ticks.length ${ticks.length}`;
  for (let i = 0; i < ticks.length; i++) {
    for (const c of COLUMNS) {
      if (!Object.is(batch[c][i], ticks[i]![c])) return `row ${i} ${c}: batch ${Object.is(batch[c][i], -0) ? '-0' : batch[c][i]}, object ${ticks[i]![c]}`;
    }
  }
  return null;
}

/** The tick the decoder must return for `t`: every value as sent, -0 as 0. */
const normalised = (t: Tick): Tick => ({
  market: t.market,
  source: t.source,
  price: t.price,
  confidence: t.confidence + 0,
  eventTimeUs: t.eventTimeUs + 0,
  sourceSequence: t.sourceSequence + 0,
});

function asBatch(r: DecodeResult | TickBatchMessage): TickBatchMessage {
  if (r.kind !== 'tickBatch') throw new Error(`expected a tickBatch, got ${JSON.stringify(r)}`);
  return r;
}
function asTicks(r: DecodeResult | TickBatchMessage): readonly Tick[] {
  if (r.kind !== 'ticks') throw new Error(`expected ticks, got ${JSON.stringify(r)}`);
  return r.ticks;
}
function asSigned(r: DecodeResult | TickBatchMessage): Extract<FeedMessage, { kind: 'signedTicks' }> {
  if (r.kind !== 'signedTicks') throw new Error(`expected signed ticks, got ${JSON.stringify(r)}`);
  return r;
}

/** A deep copy of a batch's rows, columns and their identity, to check that a decode left it alone. */
function snapshotBatch(b: TickBatchBuffer): { length: number; signed: boolean; arrays: unknown[]; values: number[][] } {
  return {
    length: b.length,
    signed: b.signed,
    arrays: [...COLUMNS.map((c) => b[c]), b.signatures],
    values: [...COLUMNS.map((c) => Array.from(b[c])), Array.from(b.signatures)],
  };
}

describe('decodeFrame into a TickBatchBuffer', () => {
  // ONE batch for every run of every test in this block, deliberately small so it grows, then shrinks in use.
  const batch = new TickBatchBuffer(8);

  it('agrees with the object path on every valid frame: same sequence, same length, every column cell Object.is-equal', () => {
    let previous = 0;
    const seen = { longer: 0, shorter: 0 };
    fc.assert(
      fc.property(fc.oneof(fc.constant(-0), fc.maxSafeNat()), ticksArb, (sequence, ticks) => {
        const frame = encodeTicks(sequence, ticks);
        const object = decodeFrame(frame);
        const fast = asBatch(decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch));
        expect(object.kind).toBe('ticks');
        expect(Object.is(fast.sequence, object.sequence), `sequence ${fast.sequence} vs ${object.sequence}`).toBe(true);
        expect(Object.is(fast.sequence, sequence + 0)).toBe(true);
        expect(fast.batch).toBe(batch);
        // The object path is the reference, and it returns what was sent; the batch must match it cell for cell.
        const objectTicks = asTicks(object);
        expect(batchMismatch(batch, ticks.map(normalised))).toBeNull();
        expect(batchMismatch(batch, objectTicks)).toBeNull();
        if (ticks.length > previous) seen.longer++;
        if (ticks.length < previous) seen.shorter++;
        previous = ticks.length;
      }),
      RUNS,
    );
    // The reuse was exercised both ways: frames longer than the one before (growing past capacity 8) and shorter.
    expect(seen.longer).toBeGreaterThan(20);
    expect(seen.shorter).toBeGreaterThan(20);
    expect(batch.market.length).toBeGreaterThan(8);
  });

  it('overwrites every row it reports after a longer frame, then a shorter one, then a single tick', () => {
    const rand = new Random(0x7e11);
    const tick = (i: number): Tick => ({
      market: rand.int(0, MAX_ID),
      source: rand.int(0, MAX_ID),
      price: rand.logRange(1e-6, 1e12),
      confidence: rand.chance(0.3) ? 0 : rand.range(0, 10),
      eventTimeUs: 1_764_000_000_000_000 + i,
      sourceSequence: rand.int(0, 2 ** 40),
    });
    for (const n of [200, 3, 199, 1, 1, 57]) {
      const ticks = Array.from({ length: n }, (_, i) => tick(i));
      const frame = encodeTicks(n, ticks);
      const r = asBatch(decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch));
      expect(r.sequence).toBe(n);
      expect(batchMismatch(r.batch, ticks)).toBeNull();
      expect(batchMismatch(r.batch, asTicks(decodeFrame(frame)))).toBeNull();
    }
  });

  it('rejects an invalid tick at any index with the same FrameError as the object path, naming the first bad field', () => {
    const badArb = fc
      .record({
        sequence: fc.maxSafeNat(),
        ticks: fc.array(tickArb, { minLength: 1, maxLength: 60 }),
        first: fc.constantFrom(...CORRUPTIONS),
        second: fc.option(fc.constantFrom(...CORRUPTIONS), { nil: undefined }),
        at: fc.nat(),
        gap: fc.nat(),
      })
      .map(({ sequence, ticks, first, second, at, gap }) => {
        const bad = ticks.slice();
        const i = at % ticks.length;
        bad[i] = { ...bad[i]!, [first[0]]: first[1] };
        // A second bad tick later in the frame: the first one is reported.
        const j = i + 1 + (gap % ticks.length);
        if (second !== undefined && j < ticks.length) bad[j] = { ...bad[j]!, [second[0]]: second[1] };
        return { sequence, ticks, bad, field: `ticks[${i}].${first[0]}` };
      });
    fc.assert(
      fc.property(badArb, ({ sequence, ticks, bad, field }) => {
        const frame = encodeTicks(sequence, bad);
        const object = decodeFrame(frame);
        const fast = decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch);
        expect(fast).toStrictEqual(object);
        expect(object).toMatchObject({ kind: 'error', code: FrameErrorCode.InvalidField, field, sequence });
        expect(object.kind === 'error' && object.message.startsWith(`${field}: expected`)).toBe(true);
        // A rejected frame leaves the batch fit for the next one.
        const good = encodeTicks(sequence, ticks);
        expect(batchMismatch(asBatch(decodeFrame(good, DEFAULT_MAX_FRAME_BYTES, batch)).batch, asTicks(decodeFrame(good)))).toBeNull();
      }),
      RUNS,
    );
  });

  it('rejects a frame with no ticks as the object path does, without touching the batch', () => {
    const before = snapshotBatch(batch);
    const frame = encodeTicks(9, []);
    const fast = decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch);
    expect(fast).toStrictEqual(decodeFrame(frame));
    expect(fast).toMatchObject({ code: FrameErrorCode.InvalidField, field: 'ticks', sequence: 9 });
    expect(snapshotBatch(batch)).toEqual(before);
  });

  it('fills the batch from SignedPriceTicks as from PriceTicks, setting `signed` and copying every signature, frame after frame of either', () => {
    let flips = 0;
    let previous = batch.signed;
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.boolean(), signedArb, (sequence, signed, { ticks, signatures }) => {
        const frame = signed ? encodeSignedPriceTicks(sequence, ticks, signatures) : encodeTicks(sequence, ticks);
        const fast = asBatch(decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch));
        expect(fast.sequence).toBe(sequence);
        expect(fast.batch).toBe(batch);
        expect(batch.signed).toBe(signed);
        if (signed) {
          const object = asSigned(decodeFrame(frame));
          expect(batchMismatch(batch, object.ticks)).toBeNull();
          expect(object.signatures).toEqual(signatures);
          expect(batch.signatures.subarray(0, 64 * ticks.length)).toEqual(signatures);
          const i = sequence % ticks.length;
          expect(batch.signature(i)).toEqual(signatures.subarray(64 * i, 64 * i + 64));
        } else {
          expect(batchMismatch(batch, asTicks(decodeFrame(frame)))).toBeNull();
        }
        if (signed !== previous) flips++;
        previous = signed;
      }),
      RUNS,
    );
    expect(flips).toBeGreaterThan(50);
    // The signatures column grew with the others: 64 bytes for every row of capacity.
    expect(batch.signatures.length).toBe(64 * batch.market.length);
  });

  it('copies the signatures: the frame may be overwritten at once (uWS detaches its buffer) and the batch keeps them', () => {
    const ticks = [{ market: 1, source: 2, price: 3, confidence: 0, eventTimeUs: 4, sourceSequence: 5 }];
    const signatures = Uint8Array.from({ length: 64 }, (_, i) => 255 - i);
    const frame = encodeSignedPriceTicks(1, ticks, signatures);
    asBatch(decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch));
    frame.fill(0);
    expect(batch.signature(0)).toEqual(signatures);
  });

  it('rejects signed ticks with the same FrameError as the object path: a bad tick names its field, like PriceTicks', () => {
    const badArb = fc.record({ sequence: fc.maxSafeNat(), signed: signedArb, bad: fc.constantFrom(...CORRUPTIONS), at: fc.nat() });
    fc.assert(
      fc.property(badArb, ({ sequence, signed: { ticks, signatures }, bad, at }) => {
        const i = at % ticks.length;
        const corrupt = ticks.map((t, k) => (k === i ? { ...t, [bad[0]]: bad[1] } : t));
        const frame = encodeSignedPriceTicks(sequence, corrupt, signatures);
        const object = decodeFrame(frame);
        expect(decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch)).toStrictEqual(object);
        expect(object).toMatchObject({ kind: 'error', code: FrameErrorCode.InvalidField, field: `ticks[${i}].${bad[0]}`, sequence });
        // The same tick in a PriceTicks frame is refused with the same error.
        expect(decodeFrame(encodeTicks(sequence, corrupt))).toStrictEqual(object);
      }),
      RUNS,
    );
  });

  it('rejects signatures that are not 64 bytes per tick as the object path does, naming `signatures`, without touching the batch', () => {
    asBatch(decodeFrame(encodeTicks(1, [{ market: 3, source: 1, price: 42, confidence: 0.5, eventTimeUs: 10, sourceSequence: 11 }]), DEFAULT_MAX_FRAME_BYTES, batch));
    const before = snapshotBatch(batch);
    const rand = new Random(0x5196);
    for (let k = 0; k < 40; k++) {
      const n = rand.int(1, 20);
      const ticks = Array.from({ length: n }, (_, i) => ({ market: i, source: 1, price: 1 + i, confidence: 0, eventTimeUs: i, sourceSequence: i }));
      let length = rand.int(0, 64 * n + 64);
      if (length === 64 * n) length++;
      const frame = encodeSignedPriceTicks(k, ticks, new Uint8Array(length));
      const fast = decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch);
      expect(fast).toStrictEqual(decodeFrame(frame));
      expect(fast).toMatchObject({ code: FrameErrorCode.InvalidField, field: 'signatures', sequence: k });
      expect(fast.kind === 'error' && fast.message).toBe(`signatures: expected 64 bytes per tick (${64 * n} for ${n} ticks), got ${length}`);
    }
    expect(snapshotBatch(batch)).toEqual(before);
  });

  it.each<[string, Uint8Array]>([
    ['books', encodeBookTickers(8, [{ market: 1, bid: 99, ask: 101, last: 0, eventTimeUs: 3 }])],
    ['killSwitch', encodeKillSwitch(9, { level: 'halt', market: undefined, reason: 'drill' })],
    ['positions', encodePositions(4, [{ account: 1, market: 2, size: -3, entryPrice: 10, isolatedCollateral: 5 }])],
    ['collateral', encodeCollateral(5, [{ account: 9, collateral: 1_000 }])],
    ['fills', encodeFills(6, [{ orderId: '1-2-3', account: 1, market: 2, quantity: 1, price: 10, eventTimeUs: 7 }])],
    ['expiries', encodeExpiries(6, ['1-2-3', '4-5-6'], 7)],
    ['subscribe', encodeSubscribe(7, { markets: [1, 2], accounts: [3], allOrders: false })],
    ['errorFrame', encodeError(8, 'INVALID_FIELD', 'ticks[3].price: bad', 2)],
  ])('returns a frame of kind %s as the usual object message and leaves the batch untouched', (kind, frame) => {
    // Fill the batch with a frame of its own first, so "untouched" is about real rows.
    const ticks = [{ market: 3, source: 1, price: 42, confidence: 0.5, eventTimeUs: 10, sourceSequence: 11 }];
    asBatch(decodeFrame(encodeTicks(1, ticks), DEFAULT_MAX_FRAME_BYTES, batch));
    const before = snapshotBatch(batch);
    const fast = decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch);
    expect(fast.kind).toBe(kind);
    expect(fast).toStrictEqual(decodeFrame(frame));
    expect(snapshotBatch(batch)).toEqual(before);
    expect(batchMismatch(batch, ticks)).toBeNull();
  });

  it('refuses an oversized ticks frame before reading it, as the object path does, leaving the batch untouched', () => {
    const before = snapshotBatch(batch);
    const frame = encodeTicks(3, [{ market: 1, source: 1, price: 1, confidence: 0, eventTimeUs: 0, sourceSequence: 0 }]);
    const fast = decodeFrame(frame, frame.length - 1, batch);
    expect(fast).toStrictEqual(decodeFrame(frame, frame.length - 1));
    expect(fast).toMatchObject({ code: FrameErrorCode.OversizedFrame });
    expect(snapshotBatch(batch)).toEqual(before);
  });
});

// ---- Engine.pushPriceColumns ----

/** Three markets, by id, with their table index (the order they were added) and opening price. */
const M7 = { id: 7, index: 0, price: 100 };
const M11 = { id: 11, index: 1, price: 50_000 };
const M13 = { id: 13, index: 2, price: 2 };
/** One tier: maintenance 10%, initial 20% (as test/engine-lifecycle.test.ts). */
const TIERS_10 = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];

const started: Engine[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((e) => e.close()));
});

/**
 * Markets 7, 11 and 13; account 1 holds a 1-lot cross long in market 11 from 50,000 with collateral 10,000: equity
 * price - 40,000 against maintenance 0.1 x price, so it is liquidatable below ~44,444. Epochs on step().
 */
async function start(): Promise<Engine> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 4, accounts: 4, positions: 16 } });
  started.push(engine);
  for (const m of [M7, M11, M13]) engine.addMarket({ id: m.id, price: m.price, tiers: m === M11 ? TIERS_10 : TIERS });
  engine.addAccount(1, 10_000);
  engine.upsertPosition({ account: 1, market: M11.id, size: 1, entryPrice: 50_000 });
  const r = await engine.step();
  expect(r.orders).toEqual([]);
  return engine;
}

/** [mark, oracle] of each market, by table index. */
function prices(engine: Engine): [number, number][] {
  const { markPrice, oraclePrice } = engine.tables.markets;
  return [M7, M11, M13].map((m) => [markPrice[m.index]!, oraclePrice[m.index]!]);
}

function thrown(input: () => unknown): UnwindError {
  try {
    input();
  } catch (e) {
    if (e instanceof UnwindError) return e;
    throw e;
  }
  throw new Error('the input was accepted');
}

describe('Engine.pushPriceColumns', () => {
  it.each<[string, string, string, number[], number[]]>([
    ['an unknown market at row 2', ErrorCode.UnknownMarket, '[2].market', [M7.id, M11.id, 99], [90, 40_000, 5]],
    ['a NaN price at row 1', ErrorCode.InvalidPrice, '[1].price', [M7.id, M11.id, M13.id], [90, NaN, 5]],
    ['a price of 0 at row 3', ErrorCode.InvalidPrice, '[3].price', [M7.id, M11.id, M13.id, M7.id], [90, 40_000, 5, 0]],
    ['an infinite price at row 0', ErrorCode.InvalidPrice, '[0].price', [M7.id, M11.id], [Infinity, 40_000]],
    ['a price above 10^12 at row 1', ErrorCode.InvalidPrice, '[1].price', [M7.id, M11.id], [90, 1e13]],
    ['a negative price at row 1', ErrorCode.InvalidPrice, '[1].price', [M7.id, M11.id], [90, -40_000]],
    ['market id 4294967295 at row 1', ErrorCode.InvalidId, '[1].market', [M7.id, 0xffffffff], [90, 40_000]],
    ['a fractional market id at row 1', ErrorCode.InvalidId, '[1].market', [M7.id, M11.id + 0.5], [90, 40_000]],
  ])('validates every row before any lands: %s is refused with %s naming %s, and nothing changes', async (_label, code, field, ids, ps) => {
    const engine = await start();
    const before = { prices: prices(engine), sequence: engine.lastSequence, bytes: tableBytes(engine) };
    // Float64Array columns, so a fractional id reaches the writer as it would from a careless caller.
    const e = thrown(() => engine.pushPriceColumns(Float64Array.from(ids), Float64Array.from(ps), ids.length));
    expect({ name: e.name, code: e.code, field: e.field }).toEqual({ name: 'UnwindError', code, field });
    expect(prices(engine)).toEqual(before.prices);
    expect(engine.lastSequence).toBe(before.sequence);
    expect(firstDifference(tableBytes(engine), before.bytes), 'shared tables changed').toBe(-1);
    // The epoch after sees nothing of the refused rows: no order, prices as they were.
    expect((await engine.step()).orders).toEqual([]);
    expect(prices(engine)).toEqual(before.prices);
  });

  it('sets both mark and oracle price of each market, the last row of a market wins, and lastSequence grows by n', async () => {
    const engine = await start();
    engine.pushPrice(M7.id, 100, 101); // oracle apart from mark: the columns must set both
    const sequence = engine.lastSequence;
    const ids = new Uint32Array([M7.id, M13.id, M7.id, M11.id, M7.id, 99]);
    const ps = new Float64Array([90, 3, 95, 40_000, 97, NaN]);
    engine.pushPriceColumns(ids, ps, 5); // rows past n are not read: the unknown market and NaN in row 5 do not count
    expect(prices(engine)).toEqual([
      [97, 97],
      [40_000, 40_000],
      [3, 3],
    ]);
    expect(engine.lastSequence).toBe(sequence + 5);
    const r = await engine.step();
    expect(r.lastSequence).toBe(sequence + 5);
    expect(r.orders.map((o) => [o.account, o.market])).toEqual([[1, M11.id]]);
  });

  it('leaves the tables byte-for-byte as pushPrices of the object path does, frame after decoded frame', async () => {
    const [fast, object] = [await start(), await start()];
    const rand = new Random(0xc01);
    const batch = new TickBatchBuffer(4);
    for (let f = 0; f < 60; f++) {
      const ticks: Tick[] = Array.from({ length: rand.int(1, 40) }, (_, i) => ({
        market: rand.pick([M7, M11, M13]).id,
        source: rand.int(0, 3),
        price: Number(rand.logRange(1, 1e6).toPrecision(8)),
        confidence: 0,
        eventTimeUs: f * 1_000 + i,
        sourceSequence: f,
      }));
      const frame = encodeTicks(f, ticks);
      const b = asBatch(decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch)).batch;
      fast.pushPriceColumns(b.market, b.price, b.length);
      object.pushPrices(asTicks(decodeFrame(frame)).map((t) => ({ market: t.market, price: t.price })));
      expect(fast.lastSequence).toBe(object.lastSequence);
      expect(firstDifference(tableBytes(fast), tableBytes(object)), `tables after frame ${f}`).toBe(-1);
      if (f % 10 === 9) expect(JSON.stringify(await fast.step())).toBe(JSON.stringify(await object.step()));
    }
  });

  describe('with an epoch in flight', () => {
    it('stages the batch as a copy: the caller may overwrite its columns at once, and the staged prices still land in the next epoch', async () => {
      const engine = await start();
      const before = prices(engine);
      const sequence = engine.lastSequence;
      const ids = new Uint32Array([M11.id, M7.id]);
      const ps = new Float64Array([40_000, 80]); // market 11 at 40,000: account 1's equity 0 < maintenance 4,000

      const first = engine.step();
      await Promise.resolve(); // the epoch has begun; its inputs are fixed
      engine.pushPriceColumns(ids, ps, 2);
      // Staged, not landed: proof that the epoch above was in flight when the batch was accepted.
      expect(prices(engine)).toEqual(before);
      expect(engine.lastSequence).toBe(sequence + 2);
      // The caller reuses its columns at once (as the server reuses its TickBatchBuffer), and pushes again:
      // the writer's own scratch index is reused too, so the first staged batch must not share it.
      ids.set([M13.id, M13.id]);
      ps.set([7, 1e6]);
      engine.pushPriceColumns(ids, ps, 1);
      ps.fill(NaN);
      ids.fill(0);

      const r1 = await first;
      expect(r1.orders).toEqual([]);
      expect(r1.lastSequence).toBe(sequence);
      expect(prices(engine)).toEqual(before);

      // The epoch after lands both batches, sees market 11 dirty and liquidates account 1.
      const r2 = await engine.step();
      expect(prices(engine)).toEqual([
        [80, 80],
        [40_000, 40_000],
        [7, 7],
      ]);
      expect(r2.lastSequence).toBe(sequence + 3);
      expect(r2.orders.map((o) => [o.account, o.market, o.side])).toEqual([[1, M11.id, 'sell']]);
    });

    it('keeps its place in the sequence: a later pushPrice to the same market wins, and so does a later batch', async () => {
      const engine = await start();
      const first = engine.step();
      await Promise.resolve();
      engine.pushPriceColumns(new Uint32Array([M11.id, M7.id]), new Float64Array([40_000, 80]), 2); // staged
      engine.pushPrice(M7.id, 90); // staged behind it: 90 wins over 80
      engine.pushPrice(M13.id, 4); // staged
      await first;
      // No epoch in flight now, but staged inputs wait: a batch written at once would be overwritten by them.
      engine.pushPrice(M11.id, 50_000); // wins over the staged 40,000: account 1 stays healthy
      engine.pushPriceColumns(new Uint32Array([M13.id]), new Float64Array([3]), 1); // wins over the staged 4
      expect(prices(engine)[2]).toEqual([M13.price, M13.price]);
      const r = await engine.step();
      expect(r.orders).toEqual([]);
      expect(r.lastSequence).toBe(engine.lastSequence);
      expect(prices(engine)).toEqual([
        [90, 90],
        [50_000, 50_000],
        [3, 3],
      ]);
    });
  });
});

describe('pushPriceColumns from untyped callers', () => {
  it('rejects a row count that is not an integer within the columns, and a price that is not a number, changing nothing', async () => {
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 2, accounts: 2, positions: 4 } });
    try {
      engine.addMarket({ id: 1, price: 100, tiers: [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }] });
      const before = engine.lastSequence;
      for (const n of [Number.NaN, -1, 1.5, 3]) {
        expect(() => engine.pushPriceColumns([1, 1], [90, 91], n)).toThrow(expect.objectContaining({ code: 'INVALID_SIZE', field: 'n' }));
      }
      expect(() => engine.pushPriceColumns([1], ['90' as unknown as number], 1)).toThrow(expect.objectContaining({ code: 'INVALID_PRICE', field: '[0].price' }));
      expect(engine.lastSequence).toBe(before);
      expect(engine.tables.markets.markPrice[0]).toBe(100);
    } finally {
      await engine.close();
    }
  });
});
