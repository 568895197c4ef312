/**
 * Fill prices a matching engine may legally report for a liquidation order (src/clearing/open-orders.ts
 * `checkPrice`): no worse than the order's limit, and better by at most `fillPriceBand` of its oracle price
 * (a sell up to max(limit, oracle x (1 + band)), a buy down to min(limit, oracle x (1 - band))).
 */
import type { LiquidationOrder } from '../../src/index.js';

/** The engine's default `fillPriceBand`. */
export const DEFAULT_FILL_PRICE_BAND = 0.1;

/** The best price a fill of `o` may take: the edge of the improvement band, or the limit where that is better. */
export function bestFillPrice(o: Pick<LiquidationOrder, 'side' | 'limitPrice' | 'oraclePrice'>, band = DEFAULT_FILL_PRICE_BAND): number {
  return o.side === 'sell' ? Math.max(o.limitPrice, o.oraclePrice * (1 + band)) : Math.min(o.limitPrice, o.oraclePrice * (1 - band));
}

/**
 * A legal fill price of `o`: its limit at `u` = 0, the best the band allows at `u` = 1, in between linearly.
 * Clamped to the band so that rounding never carries it an ulp outside.
 */
export function fillPriceWithin(o: Pick<LiquidationOrder, 'side' | 'limitPrice' | 'oraclePrice'>, u: number, band = DEFAULT_FILL_PRICE_BAND): number {
  const best = bestFillPrice(o, band);
  const p = o.limitPrice + u * (best - o.limitPrice);
  return o.side === 'sell' ? Math.min(best, Math.max(o.limitPrice, p)) : Math.max(best, Math.min(o.limitPrice, p));
}
