/**
 * Every input the engine accepts, as a value. The embedding API's methods (src/engine/engine.ts) only build these;
 * `Engine.submit` takes one directly, the journal stores them (src/engine/records.ts), and recovery and
 * `unwind replay` feed them back through the same path. It is also what a replica or a remote publisher sends.
 *
 * One path for all of them (src/engine/core.ts `submit`): the value is checked whole (a rejection changes
 * nothing), is journaled, then lands: it takes its input sequence number(s) and its writes are staged with the
 * single writer, landing at the next epoch boundary (at once when no epoch is in flight). The orders depend only on
 * the values and on which epoch each landed in.
 */
import type { Fill } from '../clearing/open-orders.js';
import type { KillLevel } from '../clearing/market-mode.js';
import type { BookTop } from '../oracle/mark.js';
import type { TickBatch } from '../oracle/report.js';
import type { MarketSpec, PositionUpdate, PriceUpdate } from '../tables/writer.js';

/** An account's cross collateral, quote units. */
export interface CollateralUpdate {
  readonly account: number;
  readonly collateral: number;
}

/** The matching engine's book top for one oracle market. */
export interface MarketBook extends BookTop {
  readonly market: number;
}

/** A market and its tiered margin schedule. */
export interface MarketInput {
  readonly kind: 'market';
  readonly spec: MarketSpec;
}
/** A new account with its cross collateral. */
export interface AccountInput {
  readonly kind: 'account';
  readonly id: number;
  readonly collateral: number;
}
/** One account's cross collateral. */
export interface CollateralInput {
  readonly kind: 'collateral';
  readonly account: number;
  readonly collateral: number;
}
/** Collateral of several accounts, in order; with `createAccounts`, an unknown account is opened. */
export interface CollateralsInput {
  readonly kind: 'collaterals';
  readonly updates: readonly CollateralUpdate[];
  readonly createAccounts: boolean;
}
/** One position, created or replaced. */
export interface PositionInput {
  readonly kind: 'position';
  readonly update: PositionUpdate;
}
/** Several positions, in order, as one batch. */
export interface PositionsInput {
  readonly kind: 'positions';
  readonly updates: readonly PositionUpdate[];
}
/** A direct price for a market without oracle sources (the oracle price defaults to `price`). */
export interface PriceInput {
  readonly kind: 'price';
  readonly market: number;
  readonly price: number;
  readonly oraclePrice?: number;
}
/** Direct prices as one batch. */
export interface PricesInput {
  readonly kind: 'prices';
  readonly updates: readonly PriceUpdate[];
}
/** Direct prices as columns (`n` rows): mark and oracle both take the price. */
export interface PriceColumnsInput {
  readonly kind: 'priceColumns';
  readonly market: ArrayLike<number>;
  readonly price: ArrayLike<number>;
  readonly n: number;
  readonly eventTimeUs?: ArrayLike<number>;
}
/** A tick batch: source reports for oracle markets, direct prices for the others. */
export interface TicksInput {
  readonly kind: 'ticks';
  readonly batch: TickBatch;
}
/** Book tops of oracle markets. */
export interface BooksInput {
  readonly kind: 'books';
  readonly books: readonly MarketBook[];
}
/** A clock reading, microseconds since the Unix epoch. */
export interface ClockInput {
  readonly kind: 'clock';
  readonly nowUs: number;
}
/** The venue's book volume near the mid, base units per side (the strategies' participation caps). */
export interface MarketDepth {
  readonly market: number;
  readonly bidVolume: number;
  readonly askVolume: number;
}
/** Book depth of several markets. */
export interface DepthInput {
  readonly kind: 'depth';
  readonly books: readonly MarketDepth[];
}
/** The operator's kill switch, for one market or (market undefined) all. */
export interface KillSwitchInput {
  readonly kind: 'killSwitch';
  readonly level: KillLevel;
  readonly market?: number;
  readonly reason?: string;
}
/** Fills of our liquidation orders, in order. */
export interface FillsInput {
  readonly kind: 'fills';
  readonly fills: readonly Fill[];
}
/** Orders that expired unfilled. */
export interface ExpiriesInput {
  readonly kind: 'expiries';
  readonly orderIds: readonly string[];
}
/** A liquidatable position closed against its market's ADL queue. */
export interface DeleverageInput {
  readonly kind: 'deleverage';
  readonly account: number;
  readonly market: number;
}
/** Money into an insurance fund. */
export interface InsuranceInput {
  readonly kind: 'insurance';
  readonly market: number | 'pooled';
  readonly amount: number;
}

export type Input =
  | MarketInput
  | AccountInput
  | CollateralInput
  | CollateralsInput
  | PositionInput
  | PositionsInput
  | PriceInput
  | PricesInput
  | PriceColumnsInput
  | TicksInput
  | BooksInput
  | DepthInput
  | ClockInput
  | KillSwitchInput
  | FillsInput
  | ExpiriesInput
  | DeleverageInput
  | InsuranceInput;

export type InputKind = Input['kind'];

/** Every kind, in a fixed order (the union's members). */
export const INPUT_KINDS = [
  'market',
  'account',
  'collateral',
  'collaterals',
  'position',
  'positions',
  'price',
  'prices',
  'priceColumns',
  'ticks',
  'books',
  'depth',
  'clock',
  'killSwitch',
  'fills',
  'expiries',
  'deleverage',
  'insurance',
] as const satisfies readonly InputKind[];
