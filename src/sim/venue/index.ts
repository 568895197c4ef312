/**
 * The venue simulator: the demos' and backtests' matching engine. Orders get the prices a real book would give
 * them (slippage across levels, impact that moves the price, depth that dries up in a crash), so a run can show
 * a cascade: our liquidation fills move the mid, the lower mid makes more accounts liquidatable, their fills move
 * it further. Pure TypeScript, seeded, no clock: the caller passes event time in microseconds and only it moves time.
 *
 * Units: prices in quote per base, quantities in base units, event times in microseconds (suffix Us), durations
 * in params in seconds (suffix S), drift and volatility annualized over a 365-day year.
 *
 * Usage, one epoch of a demo at event time t:
 *   const venue = new Venue({ seed, stepUs: 100_000, latencyUs: 2_000, markets: [{ id: 0, path, book, flow }] });
 *   const executions = venue.advance(t);             // our orders due by t, with fills; background flow and path up to t
 *   engine.fill(executions...); engine.pushPrices(venue.markets.map((m) => ({ market: m, price: venue.mid(m) })));
 *   for (const o of (await engine.step()).orders) venue.submit({ market: o.market, side: o.side, quantity: o.quantity,
 *     limitPrice: o.limitPrice, clientId: o.id }, t);  // executes at t + latencyUs, in a later advance
 *
 * Venue (venue.ts):
 *   new Venue(config)            markets (id, path, book params, optional flow), seed, stepUs (100 ms),
 *                                latencyUs (0), startUs (0: event time of path time 0), maxTrades (100,000)
 *   submit(order, nowUs)         queue { market, side, quantity, limitPrice?, clientId? }; it executes at
 *                                nowUs + latencyUs, as an IOC (market order without a limit); returns { id, executeAtUs }
 *   feedFill(fill, nowUs)        a fill made elsewhere: moves the mid by gamma * quantity at nowUs, takes no depth
 *   advance(toUs)                runs venue steps (every stepUs: path reference and stress), background arrivals,
 *                                orders and fed fills with time <= toUs in time order; returns our Executions
 *                                (fills per level, filled, unfilled, averagePrice, midBefore, midAfter, times)
 *   mid(m), top(m)               the mid; the best bid and ask with quantity
 *   bookVolume(m, side, f)       base quantity on 'bid' or 'ask' within fraction f of the mid (participation caps)
 *   depth(m, side, n)            the first n levels, best first
 *   liquidity(m)                 the book's liquidity factor, (0, 1]
 *   tradesSince(seq), lastTradeSeq   every execution (own, flow, feedback) after a cursor
 * VenueBook (book.ts): one market's ladders; the depth model is in its header. bookParamsFor(price) gives
 *   parameters scaled to a price (5 M quote within 1% of mid); flowParamsFor(price) likewise for background flow.
 * Paths (paths.ts): gbmPath, mertonPath, cascadePath (2025-10-10), flashCrashPath, betaPath (a market that
 *   follows another with a beta); each `{ startPrice, priceAt(tUs), liquidityAt(tUs) }`, a pure function of
 *   (seed, params). Any object of that shape is a path.
 * CSV (csv.ts): parsePricePathCsv(text) and readPricePathCsv(file): trades or candles, refused rows name their line.
 *
 * Errors are UnwindErrors: INVALID_CONFIG for params, UNKNOWN_MARKET, INVALID_SIZE and INVALID_PRICE for orders,
 * INVALID_ARGUMENT for a time before the venue's, and the CSV codes in csv.ts.
 */
export { VenueBook, bookParamsFor, validateBookParams, validateOrder, type BookParams, type BookSide, type Fill, type OrderSide, type Sweep } from './book.js';
export { BackgroundFlow, flowParamsFor, validateFlowParams, type FlowParams } from './flow.js';
export {
  MAX_PATH_POINTS,
  YEAR_US,
  betaPath,
  cascadePath,
  flashCrashPath,
  gbmPath,
  mertonPath,
  type CascadeParams,
  type FlashCrashParams,
  type GbmParams,
  type MertonParams,
  type PricePath,
} from './paths.js';
export { DEFAULT_CSV_MAX_BYTES, parsePricePathCsv, readPricePathCsv, type CsvPathOptions, type CsvPricePath } from './csv.js';
export { Venue, type Execution, type FedFill, type Ticket, type Trade, type TradeSource, type VenueConfig, type VenueMarketConfig, type VenueOrder } from './venue.js';
