/**
 * Reads verified LiquidationOrders and OpenOrders tables (schemas/unwind.fbs) into plain objects, checking every
 * value; a value out of its domain throws a FieldError naming it (`orders[3].order.quantity`), which `decodeFrame`
 * answers INVALID_FIELD. One reader of a LiquidationOrder serves both kinds.
 */
import * as flatbuffers from 'flatbuffers';
import { requireId } from '../validate.js';
import {
  LiquidationOrder as LiquidationOrderTable,
  LiquidationOrders,
  OpenOrder as OpenOrderTable,
  OpenOrders,
  OrderReason,
  Side,
} from './generated/unwind_generated.js';
import { enumValue, FieldError, finite, nonNegative, positive, sequenceAt, text } from './fields.js';
import type { LiquidationOrder, OpenOrder, OpenOrdersPart } from './messages.js';

const SIDES = new Map<number, 'buy' | 'sell'>([
  [Side.Buy, 'buy'],
  [Side.Sell, 'sell'],
]);
const REASONS = new Map<number, LiquidationOrder['reason']>([
  [OrderReason.CrossMaintenance, 'cross-maintenance'],
  [OrderReason.IsolatedMaintenance, 'isolated-maintenance'],
]);

/** One order; `f` names it in errors (`orders[3]`). */
function readOrder(r: LiquidationOrderTable, f: string): LiquidationOrder {
  return {
    id: text(r.id(flatbuffers.Encoding.UTF8_BYTES), `${f}.id`),
    epoch: sequenceAt(r.epoch(), `${f}.epoch`),
    account: requireId(r.account(), `${f}.account`),
    market: requireId(r.market(), `${f}.market`),
    symbol: text(r.symbol(flatbuffers.Encoding.UTF8_BYTES), `${f}.symbol`),
    side: enumValue(SIDES, r.side(), `${f}.side`),
    quantity: positive(r.quantity(), `${f}.quantity`),
    limitPrice: positive(r.limitPrice(), `${f}.limitPrice`),
    oraclePrice: positive(r.oraclePrice(), `${f}.oraclePrice`),
    reason: enumValue(REASONS, r.reason(), `${f}.reason`),
    health: finite(r.health(), `${f}.health`),
    equity: finite(r.equity(), `${f}.equity`),
    maintenanceMargin: nonNegative(r.maintenanceMargin(), `${f}.maintenanceMargin`),
    positionSequence: sequenceAt(r.positionSequence(), `${f}.positionSequence`),
  };
}

export function readOrders(bb: flatbuffers.ByteBuffer, at: number): LiquidationOrder[] {
  const t = new LiquidationOrders().__init(at, bb);
  const orders: LiquidationOrder[] = [];
  const r = new LiquidationOrderTable();
  for (let i = 0; i < t.ordersLength(); i++) orders.push(readOrder(t.orders(i, r)!, `orders[${i}]`));
  return orders;
}

/**
 * One frame of an open-orders snapshot. Beyond each order's own checks: `remaining` in (0, quantity], every order
 * of an epoch <= the snapshot's, each id once, and `orderCount` at least the rows up to this frame's last.
 */
export function readOpenOrders(bb: flatbuffers.ByteBuffer, at: number): OpenOrdersPart {
  const t = new OpenOrders().__init(at, bb);
  const epoch = sequenceAt(t.epoch(), 'epoch');
  const lastSequence = sequenceAt(t.lastSequence(), 'lastSequence');
  const count = t.ordersLength();
  const firstIndex = t.firstIndex();
  const orderCount = t.orderCount();
  if (orderCount < firstIndex + count) {
    throw new FieldError('orderCount', `expected at least firstIndex + rows = ${firstIndex + count}, got ${orderCount}`);
  }
  const orders: OpenOrder[] = new Array<OpenOrder>(count);
  const row = new OpenOrderTable();
  const r = new LiquidationOrderTable();
  const ids = new Set<string>();
  for (let i = 0; i < count; i++) {
    t.orders(i, row);
    const f = `orders[${i}]`;
    const order = readOrder(row.order(r)!, `${f}.order`);
    if (order.epoch > epoch) throw new FieldError(`${f}.order.epoch`, `expected an epoch <= the snapshot's ${epoch}, got ${order.epoch}`);
    if (ids.has(order.id)) throw new FieldError(`${f}.order.id`, `expected each order once, got ${JSON.stringify(order.id)} again`);
    ids.add(order.id);
    const remaining = positive(row.remaining(), `${f}.remaining`);
    if (remaining > order.quantity) throw new FieldError(`${f}.remaining`, `expected at most the order's quantity ${order.quantity}, got ${remaining}`);
    orders[i] = { order, remaining };
  }
  return { epoch, lastSequence, orders, firstIndex, orderCount };
}
