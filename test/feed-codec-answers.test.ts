/**
 * The codec of the answers a publisher and a subscriber get: Ack (union type 21), OpenOrders (22) and
 * Subscribe.acks. Round trips are in test/feed-codec.test.ts (SAMPLES); here every value a receiver must refuse comes
 * back INVALID_FIELD naming its field, a missing nested order is MALFORMED_FRAME, and the schema only grew.
 */
import * as flatbuffers from 'flatbuffers';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeAck, encodeFrame, encodeOpenOrders, encodeSubscribe, FrameErrorCode, type FeedMessage, type FrameError, type LiquidationOrder, type OpenOrdersPart } from '../src/feed/codec.js';
import { SAMPLE_ORDER as ORDER } from './support/feed.js';
import { Envelope, Message, OpenOrder as OpenOrderTable, OpenOrders, Subscribe } from '../src/feed/generated/unwind_generated.js';

const SNAPSHOT: OpenOrdersPart = {
  epoch: 12,
  lastSequence: 99,
  orders: [
    { order: ORDER, remaining: 0.1 },
    { order: { ...ORDER, id: '18-1-43', account: 18, market: 1, epoch: 11 }, remaining: 0.05 },
  ],
  firstIndex: 0,
  orderCount: 2,
};
const open = (patch: Partial<OpenOrdersPart>): FeedMessage => ({ kind: 'openOrders', sequence: 3, ...SNAPSHOT, ...patch });
const row = (i: number, patch: { order?: Partial<LiquidationOrder>; remaining?: number }): FeedMessage =>
  open({ orders: SNAPSHOT.orders.map((r, j) => (j === i ? { order: { ...r.order, ...patch.order }, remaining: patch.remaining ?? r.remaining } : r)) });
const ack = (patch: Partial<Extract<FeedMessage, { kind: 'ack' }>>): FeedMessage => ({ kind: 'ack', sequence: 3, state: 'accepted', frameSequence: 7, firstSequence: 10, lastSequence: 12, ...patch });

function expectError(r: ReturnType<typeof decodeFrame>, code: FrameError['code']): FrameError {
  expect(r.kind, JSON.stringify(r)).toBe('error');
  const e = r as FrameError;
  expect(e.code, e.message).toBe(code);
  return e;
}

describe('Ack and OpenOrders: invalid values are INVALID_FIELD naming the field', () => {
  const cases: readonly (readonly [string, FeedMessage, string])[] = [
    ['an ack without a state (Unset)', ack({ state: 'other' as never }), 'state'],
    ['a fractional acknowledged frame', ack({ frameSequence: 7.5 }), 'frameSequence'],
    ['a negative first input sequence', ack({ firstSequence: -1 }), 'firstSequence'],
    ['a last input sequence beyond 2^53', ack({ lastSequence: 2 ** 53 }), 'lastSequence'],
    ['an input range that runs backwards past empty', ack({ firstSequence: 14, lastSequence: 12 }), 'firstSequence'],
    ['a fractional snapshot epoch', open({ epoch: 1.5 }), 'epoch'],
    ['a negative snapshot sequence', open({ lastSequence: -1 }), 'lastSequence'],
    ['an order count below the rows up to this frame', open({ firstIndex: 4_096, orderCount: 4_097 }), 'orderCount'],
    ['nothing remaining of an open order', row(1, { remaining: 0 }), 'orders[1].remaining'],
    ['more remaining than the order', row(0, { remaining: 0.2 }), 'orders[0].remaining'],
    ['a NaN remaining', row(0, { remaining: Number.NaN }), 'orders[0].remaining'],
    ['an order of a later epoch than the snapshot', row(1, { order: { epoch: 13 } }), 'orders[1].order.epoch'],
    ['an order twice in a frame', row(1, { order: { id: ORDER.id } }), 'orders[1].order.id'],
    ['a NaN order health', row(0, { order: { health: Number.NaN } }), 'orders[0].order.health'],
    ['an order quantity of 0', row(1, { order: { quantity: 0 } }), 'orders[1].order.quantity'],
    ['an order in market 4294967295', row(0, { order: { market: 0xffffffff } }), 'orders[0].order.market'],
  ];

  it.each(cases)('rejects %s', (_, m, field) => {
    const e = expectError(decodeFrame(encodeFrame(m)), FrameErrorCode.InvalidField);
    expect(e.field).toBe(field);
    expect(e.message.startsWith(`${field}: expected`)).toBe(true);
    expect(e.sequence).toBe(3);
  });

  it('accepts an empty input range (first = last + 1): a frame whose inputs took no sequence', () => {
    expect(decodeFrame(encodeAck(3, { state: 'durable', frameSequence: 0, firstSequence: 13, lastSequence: 12 }))).toMatchObject({ kind: 'ack', firstSequence: 13, lastSequence: 12 });
  });
});

describe('Ack and OpenOrders: structure', () => {
  it('MALFORMED_FRAME for an open order without its order (a required nested table)', () => {
    const b = new flatbuffers.Builder(128);
    OpenOrderTable.startOpenOrder(b);
    OpenOrderTable.addRemaining(b, 1);
    const row = b.endObject(); // endOpenOrder would refuse: order is required
    const list = OpenOrders.createOrdersVector(b, [row]);
    b.finish(Envelope.createEnvelope(b, 1, 5, Message.OpenOrders, OpenOrders.createOpenOrders(b, 1, 1, list, 0, 1)), 'UNWD');
    const e = expectError(decodeFrame(b.asUint8Array()), FrameErrorCode.MalformedFrame);
    expect(e.message).toContain('OpenOrder.order');
    expect(e.sequence).toBe(5);
  });

  it('MALFORMED_FRAME for every truncation of an OpenOrders frame, never a throw', () => {
    const frame = encodeOpenOrders(5, SNAPSHOT);
    for (let n = 0; n < frame.length; n++) expect(decodeFrame(frame.subarray(0, n)).kind).toBe('error');
  });
});

describe('Ack and OpenOrders: schema evolution', () => {
  it('appends Ack and OpenOrders after UnresolvedDeficits as union types 21 and 22, still version 1', () => {
    const types = [encodeAck(1, { state: 'accepted', frameSequence: 0, firstSequence: 1, lastSequence: 1 }), encodeOpenOrders(1, SNAPSHOT)].map((f) => {
      const envelope = Envelope.getRootAsEnvelope(new flatbuffers.ByteBuffer(f));
      return [envelope.version(), envelope.messageType()];
    });
    expect(types).toEqual([
      [1, 21],
      [1, 22],
    ]);
  });

  it('appends Subscribe.acks as a new last field: left out when false, so such a frame is what the older schema wrote', () => {
    // The older schema's Subscribe: four fields (markets, accounts, all_orders, adl_markets), built by hand.
    const b = new flatbuffers.Builder(64);
    const markets = Subscribe.createMarketsVector(b, [1]);
    const accounts = Subscribe.createAccountsVector(b, [17]);
    const adl = Subscribe.createAdlMarketsVector(b, [2]);
    b.startObject(4);
    b.addFieldOffset(0, markets, 0);
    b.addFieldOffset(1, accounts, 0);
    b.addFieldInt8(2, 1, 0);
    b.addFieldOffset(3, adl, 0);
    const table = b.endObject();
    b.forceDefaults(true);
    b.finish(Envelope.createEnvelope(b, 1, 5, Message.Subscribe, table), 'UNWD');
    const older = b.asUint8Array();
    const topics = { markets: [1], accounts: [17], allOrders: true, adlMarkets: [2] };
    expect(encodeSubscribe(5, topics)).toEqual(older);
    expect(encodeSubscribe(5, { ...topics, acks: false })).toEqual(older);
    // The venue topics appended after acks decode as absent (off) here.
    const venue = { liquidationMarkets: [], settlements: false, insuranceFunds: false, marketSummaries: false };
    expect(decodeFrame(older)).toEqual({ kind: 'subscribe', sequence: 5, topics: { ...topics, acks: false, ...venue } });
    const withAcks = encodeSubscribe(5, { ...topics, acks: true });
    expect(withAcks).not.toEqual(older);
    expect(decodeFrame(withAcks)).toEqual({ kind: 'subscribe', sequence: 5, topics: { ...topics, acks: true, ...venue } });
  });
});
