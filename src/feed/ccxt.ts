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
  /** The market's symbol (may be empty). */
  readonly symbol: string;
  /** Base units liquidated (the record's `amount`), as contracts of size 1. */
  readonly contracts: number;
  /** Always 1: Unwind's amounts are base units. */
  readonly contractSize: number;
  /** Quote per base unit, > 0. */
  readonly price: number;
  /** Base units, equal to `contracts`. */
  readonly baseValue: number;
  /** Quote units, `contracts` * `price`. */
  readonly quoteValue: number;
  /** The liquidating trade's side: 'sell' when a long was liquidated, 'buy' when a short was. */
  readonly side: 'buy' | 'sell';
  /** Milliseconds since the Unix epoch. */
  readonly timestamp: number;
  /** ISO 8601 with milliseconds, UTC. */
  readonly datetime: string;
}

/** One record of the public liquidation tape as ccxt's unified liquidation structure (see the file's header). */
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
