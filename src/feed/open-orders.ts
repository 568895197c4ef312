/**
 * The orders the feed server issued and has not seen filled: fills from the matching engine are checked against
 * them (id, account, market, open quantity) before any is taken. Oldest forgotten first past a bound.
 */
import type { LiquidationOrder } from '../execution/orders.js';
import { FeedErrorCode, FrameErrorCode, type Fill } from './messages.js';

/** A frame the server refuses for a reason of its own (not the engine's), with the code for its ErrorFrame. */
export class Rejection extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A fill accepted from the matching engine, with what remains of its order. */
export interface AcceptedFill extends Fill {
  /** Base units of the order still open after this fill. */
  readonly remaining: number;
}

/** Fills are in base units like the order's quantity; a relative 1e-9 absorbs decimal rounding by the matcher. */
const TOLERANCE = 1e-9;

export class OpenOrders {
  private readonly open = new Map<string, { order: LiquidationOrder; remaining: number }>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.open.size;
  }

  add(order: LiquidationOrder): void {
    this.open.set(order.id, { order, remaining: order.quantity });
    if (this.open.size > this.max) this.open.delete(this.open.keys().next().value!);
  }

  /** Checks every fill before taking any (throws a Rejection naming `fills[i]`); returns them with what remains. */
  fill(fills: readonly Fill[]): AcceptedFill[] {
    const remaining = new Map<string, number>();
    fills.forEach((f, i) => {
      const open = this.open.get(f.orderId);
      if (open === undefined) throw new Rejection(FeedErrorCode.UnknownOrder, `no open order ${JSON.stringify(f.orderId)}`, `fills[${i}].orderId`);
      const o = open.order;
      if (o.account !== f.account || o.market !== f.market) {
        const why = `order ${f.orderId} is account ${o.account} market ${o.market}, the fill says account ${f.account} market ${f.market}`;
        throw new Rejection(FrameErrorCode.InvalidField, why, `fills[${i}]`);
      }
      const left = (remaining.get(f.orderId) ?? open.remaining) - f.quantity;
      if (left < -TOLERANCE * o.quantity) throw new Rejection(FrameErrorCode.InvalidField, `fills ${f.orderId} beyond its open quantity`, `fills[${i}].quantity`);
      remaining.set(f.orderId, left);
    });
    return fills.map((f) => {
      const open = this.open.get(f.orderId)!;
      open.remaining = Math.max(0, open.remaining - f.quantity);
      if (open.remaining <= TOLERANCE * open.order.quantity) this.open.delete(f.orderId);
      return { ...f, remaining: open.remaining };
    });
  }
}
