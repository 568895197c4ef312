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
  /** The account id. */
  readonly account: number;
  /** The new cross collateral, quote units (absolute, not a delta). */
  readonly collateral: number;
}

/** The matching engine's book top for one oracle market. */
export interface MarketBook extends BookTop {
  /** The market id. */
  readonly market: number;
}

/** A market and its tiered margin schedule. */
export interface MarketInput {
  readonly kind: 'market';
  /** The market: id, symbol, first price and margin tiers. */
  readonly spec: MarketSpec;
}
/** A new account with its cross collateral. */
export interface AccountInput {
  readonly kind: 'account';
  /** The new account's id. */
  readonly id: number;
  /** Its cross collateral, quote units. */
  readonly collateral: number;
}
/** One account's cross collateral. */
export interface CollateralInput {
  readonly kind: 'collateral';
  /** The account id. */
  readonly account: number;
  /** The new cross collateral, quote units (absolute, not a delta). */
  readonly collateral: number;
}
/** Collateral of several accounts, in order; with `createAccounts`, an unknown account is opened. */
export interface CollateralsInput {
  readonly kind: 'collaterals';
  /** The updates, applied in order. */
  readonly updates: readonly CollateralUpdate[];
  /** Open an account an update names that does not exist yet (else UNKNOWN_ACCOUNT). */
  readonly createAccounts: boolean;
}
/** One position, created or replaced. */
export interface PositionInput {
  readonly kind: 'position';
  /** The position's new state. */
  readonly update: PositionUpdate;
}
/** Several positions, in order, as one batch. */
export interface PositionsInput {
  readonly kind: 'positions';
  /** The positions' new states, applied in order. */
  readonly updates: readonly PositionUpdate[];
}
/** A direct price for a market without oracle sources (the oracle price defaults to `price`). */
export interface PriceInput {
  readonly kind: 'price';
  /** The market id. */
  readonly market: number;
  /** The mark price, quote per base unit. */
  readonly price: number;
  /** The oracle price, when it differs from the mark (liquidation orders carry it). */
  readonly oraclePrice?: number;
}
/** Direct prices as one batch. */
export interface PricesInput {
  readonly kind: 'prices';
  /** The prices, applied in order. */
  readonly updates: readonly PriceUpdate[];
}
/** Direct prices as columns (`n` rows): mark and oracle both take the price. */
export interface PriceColumnsInput {
  readonly kind: 'priceColumns';
  /** Market id of each row. */
  readonly market: ArrayLike<number>;
  /** Price of each row, quote per base unit. */
  readonly price: ArrayLike<number>;
  /** Rows, from 0: the columns may be longer. */
  readonly n: number;
  /** Event time of each row, microseconds since the Unix epoch (the liquidation caps' clock); absent: none. */
  readonly eventTimeUs?: ArrayLike<number>;
}
/** A tick batch: source reports for oracle markets, direct prices for the others. */
export interface TicksInput {
  readonly kind: 'ticks';
  /** The ticks as columns. */
  readonly batch: TickBatch;
}
/** Book tops of oracle markets. */
export interface BooksInput {
  readonly kind: 'books';
  /** One book top per row. */
  readonly books: readonly MarketBook[];
}
/** A clock reading, microseconds since the Unix epoch. */
export interface ClockInput {
  readonly kind: 'clock';
  /** The reading, microseconds since the Unix epoch. */
  readonly nowUs: number;
}
/** The venue's book volume near the mid, base units per side (the strategies' participation caps). */
export interface MarketDepth {
  /** The market id. */
  readonly market: number;
  /** Base units bid near the mid (what a sell can take); Infinity: not known. */
  readonly bidVolume: number;
  /** Base units offered near the mid (what a buy can take); Infinity: not known. */
  readonly askVolume: number;
}
/** Book depth of several markets. */
export interface DepthInput {
  readonly kind: 'depth';
  /** One row per market. */
  readonly books: readonly MarketDepth[];
}
/** The operator's kill switch, for one market or (market undefined) all. */
export interface KillSwitchInput {
  readonly kind: 'killSwitch';
  /** The level to set. */
  readonly level: KillLevel;
  /** The market; absent: every market. */
  readonly market?: number;
  /** Why, for humans (MarketStatus carries it). */
  readonly reason?: string;
}
/** Fills of our liquidation orders, in order. */
export interface FillsInput {
  readonly kind: 'fills';
  /** The fills, checked whole against the open orders, then settled in order. */
  readonly fills: readonly Fill[];
}
/** Orders that expired unfilled. */
export interface ExpiriesInput {
  readonly kind: 'expiries';
  /** Ids of open orders, each at most once. */
  readonly orderIds: readonly string[];
}
/** A liquidatable position closed against its market's ADL queue. */
export interface DeleverageInput {
  readonly kind: 'deleverage';
  /** The bankrupt position's account. */
  readonly account: number;
  /** The bankrupt position's market. */
  readonly market: number;
}
/** Money into an insurance fund. */
export interface InsuranceInput {
  readonly kind: 'insurance';
  /** The market whose fund receives it, or 'pooled' (with fees.fund 'pooled'). */
  readonly market: number | 'pooled';
  /** Quote units, > 0. */
  readonly amount: number;
}

/** Any input, tagged by `kind`; each member's `kind` is its name in INPUT_KINDS. */
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

/** The tag of an input. */
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
