/**
 * The public liquidation tape in the shape aggregators already read: ccxt's unified liquidation structure (what
 * `watchLiquidations` resolves with). Browser-safe: no Node API.
 *
 * Unwind's amounts are base units, so a liquidation is `contracts` of `contractSize` 1: baseValue = amount and
 * quoteValue = amount * price. `timestamp` is milliseconds (the wire's microseconds, floored); `side` is the
 * liquidating trade's, lower case ('sell' when a long was liquidated, as ccxt passes on Binance's force orders).
 */
import type { Liquidation } from './messages.js';

/** ccxt's unified liquidation structure (its `Liquidation` type, with the `contracts`, `contractSize` and `side` it fills). */
export interface CcxtLiquidation {
  /** The record as the wire carried it. */
  readonly info: Liquidation;
  readonly symbol: string;
  readonly contracts: number;
  readonly contractSize: number;
  readonly price: number;
  readonly baseValue: number;
  readonly quoteValue: number;
  readonly side: 'buy' | 'sell';
  /** Milliseconds since the Unix epoch. */
  readonly timestamp: number;
  /** ISO 8601 with milliseconds, UTC. */
  readonly datetime: string;
}

export function toCcxtLiquidation(l: Liquidation): CcxtLiquidation {
  const timestamp = Math.floor(l.eventTimeUs / 1000);
  return {
    info: l,
    symbol: l.symbol,
    contracts: l.amount,
    contractSize: 1,
    price: l.price,
    baseValue: l.amount,
    quoteValue: l.amount * l.price,
    side: l.side,
    timestamp,
    datetime: new Date(timestamp).toISOString(),
  };
}
