/**
 * The binary feed's messages as plain objects: what `decodeFrame` returns and the encoders take. One interface per
 * wire table of schemas/unwind.fbs (units are documented there), named as the engine names them.
 */
import type {
  DeleveragedCounterparty as EngineCounterparty,
  Deleveraging as EngineDeleveraging,
  Settlement,
  SocializedLoss as EngineSocializedLoss,
  Takeover,
  UnresolvedDeficit,
  UnresolvedReason,
} from '../clearing/clearing.js';
import type { LiquidationOrder, MarginCall } from '../clearing/orders.js';
import type { PositionUpdate } from '../tables/writer.js';
import type { CrossSummary } from '../risk/account-report.js';
import type { Fill } from '../clearing/open-orders.js';
import type { KillLevel } from '../clearing/market-mode.js';
import type { BookTop as OracleBookTop } from '../oracle/mark.js';
import type { Tick } from '../oracle/report.js';

/**
 * KillLevel: 'normal' | 'no-new' | 'no-reissue' | 'halt', each holding back more (src/clearing/market-mode.ts).
 * Tick: one price from one source (src/oracle/report.ts). Fill: the matching engine's report of one of our orders
 * filling (src/clearing/open-orders.ts).
 */
export type { Fill, KillLevel, LiquidationOrder, MarginCall, PositionUpdate, Tick };

/** The schema version this codec writes and accepts (`Envelope.version`). */
export const SCHEMA_VERSION = 1;
/** The FlatBuffers file identifier at bytes 4..8 of every frame. */
export const FILE_IDENTIFIER = 'UNWD';
/** Default largest frame `decodeFrame` accepts, bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 1 << 20;
/** Ids are uint32 in [0, 4294967294]; this one means "none" (e.g. the cross group of a margin call). */
export const NO_ID = 0xffffffff;

/** An account's new cross collateral (a Collateral row, published by the matching engine). */
export interface CollateralUpdate {
  /** The account id. */
  readonly account: number;
  /** The account's new cross collateral, quote units (absolute, not a delta). */
  readonly collateral: number;
}

/** What a connection subscribes to (Subscribe) or stops receiving (Unsubscribe); topics add up over Subscribes. */
export interface Topics {
  /** Markets whose orders, margin calls, status and deficit events to receive. */
  readonly markets: readonly number[];
  /** Accounts whose orders, margin calls, account states and deficit events to receive. */
  readonly accounts: readonly number[];
  /** Every liquidation order, margin call and deficit event, whatever its market or account. */
  readonly allOrders: boolean;
  /** Markets whose ADL queues to receive (AdlQueue frames). Absent means none; `decodeFrame` always sets it. */
  readonly adlMarkets?: readonly number[];
  /**
   * Subscribe: acknowledge this connection's input frames from now on (Ack frames); Unsubscribe: stop. Absent means
   * false; `decodeFrame` always sets it.
   */
  readonly acks?: boolean;
  /** Markets whose public liquidation stream to receive (Liquidations frames). Absent means none. */
  readonly liquidationMarkets?: readonly number[];
  /** Settlements frames for the fills the order topics select (Subscribe), or stop them (Unsubscribe). Absent: false. */
  readonly settlements?: boolean;
  /** InsuranceFunds frames: a snapshot now, then the funds that changed after each epoch. Absent: false. */
  readonly insuranceFunds?: boolean;
  /** MarketSummaries frames: a snapshot now, then changes and tick-to-order latency after each epoch. Absent: false. */
  readonly marketSummaries?: boolean;
}

/**
 * The top of one market's book on the matching engine (a BookTicker row), quote per base unit. 0 for bid, ask or
 * last means "not known"; when bid and ask are both known, bid <= ask.
 */
export interface BookTop extends OracleBookTop {
  /** The market id. */
  readonly market: number;
}

/**
 * The venue's book volume near the mid of one market (a MarketDepth row; the engine's MarketDepth input), base units
 * per side, >= 0; Infinity: not known (no participation cap). A sell takes the bids, a buy the asks.
 */
export interface MarketDepth {
  /** The market id. */
  readonly market: number;
  /** Base units bid near the mid (what a sell can take). */
  readonly bidVolume: number;
  /** Base units offered near the mid (what a buy can take). */
  readonly askVolume: number;
}

/** Rows of one Depth frame at most: a receiver rejects more (INVALID_FIELD `books`); send more markets in more frames. */
export const DEPTH_ROWS_PER_FRAME = 4096;

/** Rows of one AdlQueue frame at most: a longer queue is sent as its top (`queueLength` tells the whole). */
export const ADL_ENTRIES_PER_FRAME = 4096;

/** One position's place in an ADL queue (src/domain/adl.ts AdlQueueEntry without the market). */
export interface AdlEntry {
  /** The account holding the position. */
  readonly account: number;
  /** 1-based: 1 is deleveraged first. */
  readonly queuePosition: number;
  /** Signed base units (long > 0, short < 0). */
  readonly size: number;
  /** Higher is deleveraged first; finite (saturating at +-Number.MAX_VALUE) from this engine, never NaN. */
  readonly rank: number;
  /** Unrealized PnL / entry notional (0.25 = +25%). */
  readonly pnlPercent: number;
  /**
   * |notional| / equity of the margin group (always positive: a group without equity is never queued); finite
   * (saturating at Number.MAX_VALUE) from this engine, never NaN.
   */
  readonly effectiveLeverage: number;
}

/** The ADL queue of one side of a market, as sent to its `adlMarkets` subscribers. */
export interface AdlQueue {
  /** The market id. */
  readonly market: number;
  /** Whose positions are listed: 1 the longs (the queue a bankrupt short meets), -1 the shorts (a bankrupt long's). */
  readonly positionsSide: 1 | -1;
  /** The epoch whose state the ranks are from (its inputs, nothing later). */
  readonly epoch: number;
  /** Positions in the whole queue; more than `entries.length` when the frame carries only the top. */
  readonly queueLength: number;
  /** The top of the queue, in order, at most ADL_ENTRIES_PER_FRAME. */
  readonly entries: readonly AdlEntry[];
}

/**
 * Rows of a Deleveragings or SocializedLosses frame at most, a record counting 1 plus its counterparties or shares
 * (UnresolvedDeficits: records). A record with more rows than fit is split over frames (`continued`).
 */
export const DEFICIT_ROWS_PER_FRAME = 4096;

/** A counterparty's part of a deleveraging (the engine's DeleveragedCounterparty), with its place. */
export interface DeleveragedCounterparty extends EngineCounterparty {
  /** 0-based place among all of the deleveraging's counterparties, in the ADL queue order they were matched in. */
  readonly index: number;
}

/**
 * A bankrupt position closed against the ADL queue at its bankruptcy value (the engine's Deleveraging), as one
 * connection receives it: `counterparties` are those its topics select (all of them for the market, the bankrupt
 * account or all orders), `counterpartyCount` how many there were in all.
 */
export interface Deleveraging extends Omit<EngineDeleveraging, 'counterparties'> {
  /** The counterparties this connection's topics select, each with its place among all of them. */
  readonly counterparties: readonly DeleveragedCounterparty[];
  /** Counterparties of the whole deleveraging (>= counterparties.length). */
  readonly counterpartyCount: number;
  /**
   * On the wire: this record is cut short and the first record of the connection's next Deleveragings frame
   * continues it. The SDK's `deleveragings` event joins the parts: there it is always false.
   */
  readonly continued: boolean;
}

/** One payer's share of a socialized loss, quote. */
export interface LossShare {
  /** The paying account. */
  readonly account: number;
  /** 0-based place among all of the loss's shares. */
  readonly index: number;
  /** Quote paid, >= 0. */
  readonly amount: number;
}

/** A fill's deficit paid by other accounts (the engine's SocializedLoss), as one connection receives it. */
export interface SocializedLoss extends Omit<EngineSocializedLoss, 'shares'> {
  /** The shares this connection's topics select (all of them for the market, the account or all orders). */
  readonly shares: readonly LossShare[];
  /** Shares of the whole loss (>= shares.length). */
  readonly shareCount: number;
  /** As Deleveraging.continued: the next SocializedLosses frame continues this record (the SDK joins the parts). */
  readonly continued: boolean;
}

/** How a socialized loss chose its payers. */
export type LossMethod = EngineSocializedLoss['method'];

/** Why a deficit was left where it was. */
export type DeficitReason = UnresolvedReason;

/** A deficit no policy could place: the engine's UnresolvedDeficit, as the wire carries it. */
export type { UnresolvedDeficit };

/**
 * A liquidated position a backstop vault took off the book: the engine's Takeover, whole, as the wire carries it
 * (`settlement` is the account's side as a fill of the takeover's id: a Settlement, the engine's fill as it settled).
 */
export type { Settlement, Takeover };

/**
 * How far a publisher's input frame has got: 'accepted' (applied; its inputs took their sequence numbers) or
 * 'durable' (kept under the journal's policy; implies accepted, and covers every accepted frame up to it).
 */
export type AckState = 'accepted' | 'durable';

/** The server's acknowledgement of input frames (an Ack frame; schemas/unwind.fbs). */
export interface Ack {
  /** How far the frame got: accepted, or durable. */
  readonly state: AckState;
  /** Envelope.sequence of the frame acknowledged; 'durable': of the last of the frames acknowledged. */
  readonly frameSequence: number;
  /**
   * The input sequence numbers the acknowledged frames' inputs took, first to last (the numbering of
   * EngineStatus.lastSequence and LiquidationOrder.positionSequence); firstSequence = lastSequence + 1: none.
   */
  readonly firstSequence: number;
  /** The last input sequence number the acknowledged frames' inputs took. */
  readonly lastSequence: number;
}

/** A liquidation order issued and neither filled whole nor expired (`Engine.openOrders()`). */
export interface OpenOrder {
  /** The order as it was issued. */
  readonly order: LiquidationOrder;
  /** Base units still open, > 0 and <= order.quantity. */
  readonly remaining: number;
}

/** Rows of one OpenOrders frame at most: a longer snapshot is sent as consecutive frames. */
export const OPEN_ORDERS_PER_FRAME = 4096;

/**
 * The open orders a subscription newly selects, as of a barrier: every open order of an epoch <= `epoch` (later
 * epochs' orders follow as LiquidationOrders), with the fills and expiries of inputs <= `lastSequence` applied.
 */
export interface OpenOrdersSnapshot {
  /** The barrier's epoch: open orders of this epoch and earlier are in the snapshot. */
  readonly epoch: number;
  /** The barrier's input sequence: fills and expiries up to it are applied. */
  readonly lastSequence: number;
  /** The open orders, in issue order. */
  readonly orders: readonly OpenOrder[];
}

/** One OpenOrders frame: a snapshot's orders from `firstIndex` on; `orderCount` in the whole snapshot. */
export interface OpenOrdersPart extends OpenOrdersSnapshot {
  /** The index of this frame's first order in the whole snapshot. */
  readonly firstIndex: number;
  /** Orders in the whole snapshot. */
  readonly orderCount: number;
}

/** Rows of one Settlements, Liquidations, InsuranceFunds or MarketSummaries frame at most. */
export const VENUE_ROWS_PER_FRAME = 4096;

/**
 * How a fill's deficit was placed when the fill landed (FillSettlement.resolution): 'none' (no deficit),
 * 'deleveraged' (ADL closed the group's rest), 'socialized' (other accounts paid), 'unresolved' (bad debt reported),
 * 'pending' (the group still holds positions; their fills or deleveraging place it).
 */
export type DeficitResolution = 'none' | 'deleveraged' | 'socialized' | 'unresolved' | 'pending';

/**
 * A fill of a liquidation order as it settled (the engine's Settlement), money as exact integer atoms of the quote
 * currency (quote = atoms / 10^quoteDecimals of its frame; `atomsToQuote`, `formatAtoms`).
 */
export interface FillSettlement {
  /** Sequence of the input (the fill) at which it landed. */
  readonly sequence: number;
  /** The order filled (`LiquidationOrder.id`). */
  readonly orderId: string;
  /** The liquidated account's id. */
  readonly account: number;
  /** The market id. */
  readonly market: number;
  /** The order's side: 'sell' closes a long. */
  readonly side: 'buy' | 'sell';
  /** Base units filled, > 0. */
  readonly quantity: number;
  /** Fill price, quote per base unit, > 0. */
  readonly price: number;
  /** When the matching engine filled, microseconds since the Unix epoch. */
  readonly eventTimeUs: number;
  /** Base units of the position closed, in [0, quantity]. */
  readonly closed: number;
  /** The signed position left, base units. */
  readonly sizeAfter: number;
  /** Base units of the order still open, >= 0 (0: the order is done). */
  readonly orderRemaining: number;
  /** PnL realized on the closed part, signed. */
  readonly realizedPnlAtoms: bigint;
  /** Into the insurance fund, >= 0. */
  readonly feeAtoms: bigint;
  /** Paid by the insurance fund, >= 0. */
  readonly insuranceCoverAtoms: bigint;
  /** What the fund could not pay, >= 0. */
  readonly deficitAtoms: bigint;
  /** The collateral the position settles against (cross, or the isolated position's own), after the fill. */
  readonly collateralAfterAtoms: bigint;
  /** Quote (a float: price times size), signed like the position. */
  readonly bankruptcyValue: number;
  /** How the deficit was placed; 'none' exactly when deficitAtoms is 0. */
  readonly resolution: DeficitResolution;
  /** Deleveragings at this fill's sequence for this account. */
  readonly deleveragings: number;
  /** Paid by other accounts at this fill's sequence for this account, >= 0. */
  readonly socializedAtoms: bigint;
  /** Reported as bad debt at this fill's sequence for this account, >= 0. */
  readonly unresolvedAtoms: bigint;
  /** Why it was left unplaced; null exactly when unresolvedAtoms is 0. */
  readonly unresolvedReason: DeficitReason | null;
}

/** One insurance fund's balance, exact atoms. */
export interface InsuranceFundBalance {
  /** The fund's market, or 'pooled' (4294967295 on the wire). */
  readonly market: number | 'pooled';
  /** The fund's balance, atoms (quote = atoms / 10^quoteDecimals of its frame). */
  readonly balanceAtoms: bigint;
}

/** Insurance fund balances as of an epoch: every fund (`snapshot`) or those that changed in it. */
export interface InsuranceFundsUpdate {
  /** The epoch whose state the balances are from (its inputs, nothing later). */
  readonly epoch: number;
  /** Atoms per quote unit as a power of ten: quote = atoms / 10^quoteDecimals; in [0, 12]. */
  readonly quoteDecimals: number;
  /** True: every fund (the Subscribe answer); false: those that changed in `epoch`. */
  readonly snapshot: boolean;
  /** The balances, at least one, each fund once. */
  readonly funds: readonly InsuranceFundBalance[];
}

/** What closed a liquidated position: the venue filling our order, or a backstop vault taking it. */
export type LiquidationKind = 'fill' | 'takeover';

/**
 * One liquidation on the public tape (no account): the fields of ccxt's unified liquidation structure
 * (`toCcxtLiquidation`). `side` is the liquidating trade's: 'sell' when a long was liquidated.
 */
export interface Liquidation {
  /** Sequence of the input at which it landed. */
  readonly sequence: number;
  /** The market id. */
  readonly market: number;
  /** The market's symbol, e.g. "BTC-USD" (may be empty). */
  readonly symbol: string;
  /** The liquidating trade's side: 'sell' when a long was liquidated, 'buy' when a short was. */
  readonly side: 'buy' | 'sell';
  /** Quote per base unit, > 0. */
  readonly price: number;
  /** Base units, > 0. */
  readonly amount: number;
  /** When it happened (the fill's or the takeover's event time), microseconds since the Unix epoch. */
  readonly eventTimeUs: number;
  /** A venue fill of our order, or a backstop vault's takeover. */
  readonly kind: LiquidationKind;
}

/** One market's prices and status (MarketSummary). */
export interface MarketSummary {
  /** The market id. */
  readonly market: number;
  /** The market's symbol (may be empty). */
  readonly symbol: string;
  /** The price margin uses, quote per base unit, > 0. */
  readonly markPrice: number;
  /** The price fills are bounded against, quote per base unit, > 0. */
  readonly oraclePrice: number;
  /** Liquidations held (an oracle guard or the kill switch). */
  readonly paused: boolean;
  /** The kill level in force: the higher of the market's own and the every-market one. */
  readonly killLevel: KillLevel;
  /** A MarketStatus code (ORACLE_STALE, KILL_SWITCH, ...) while paused, HEALTHY otherwise. */
  readonly code: string;
  /** Why, for humans; may be empty. */
  readonly reason: string;
}

/** Market summaries as of an epoch, and that epoch's tick-to-order latency. */
export interface MarketSummariesUpdate {
  /** The epoch whose state these are. */
  readonly epoch: number;
  /** True: every market (the Subscribe answer); false: those that changed in `epoch`. */
  readonly snapshot: boolean;
  /** The summaries; may be empty when only the latency is news. */
  readonly markets: readonly MarketSummary[];
  /** Orders the epoch issued. */
  readonly orders: number;
  /** Microseconds from the first price frame the epoch covers arriving to its orders leaving; null: not measured. */
  readonly tickToOrderUs: number | null;
}

/** An account's cross group after an epoch (engine.account() without the positions); health Infinity: no requirement. */
export interface AccountState extends Omit<CrossSummary, 'id'> {
  /** The account id. */
  readonly account: number;
  /** The epoch whose state this is. */
  readonly epoch: number;
}

/** Whether a market's liquidations are paused (by an oracle guard or the kill switch) or running again. */
export type MarketState = 'paused' | 'resumed';
/**
 * The engine's state as the server reports it: starting (recovering), running, paused (stopped taking inputs),
 * closing.
 */
export type EngineState = 'starting' | 'running' | 'paused' | 'closing';

/**
 * Every message kind. In each, `kind` names the message and `sequence` is the sender's per-connection frame sequence
 * (Envelope.sequence); the rest is the wire table's rows (schemas/unwind.fbs, where units are documented):
 * `ticks` Tick rows (with `signatures` when signed), `books` BookTop or MarketDepth rows, `level` the KillLevel set,
 * `positions` and `updates` the matching engine's positions and collateral, `fills` Fill rows, `topics` the Topics
 * subscribed or dropped, `orders` and `marginCalls` the engine's outputs, `accounts` AccountState rows; a marketStatus
 * has `market`, `state`, `reason` (for humans), `eventTimeUs` and `code`; an engineStatus the engine's `state`, its last
 * `epoch`, the `lastSequence` of its inputs, counts of `markets`, `accounts` and open `positions`, and a `message`;
 * `deleveragings`, `losses`, `deficits` and `takeovers` the deficit events; `settlements` FillSettlement rows, money in
 * atoms of 10^-`quoteDecimals` quote; `liquidations` the public tape's Liquidation rows; an errorFrame the peer's `code`
 * and `message`.
 */
export type FeedMessage =
  | { readonly kind: 'ticks'; readonly sequence: number; readonly ticks: readonly Tick[] }
  | {
      /** Ticks signed by their source: `signatures` holds 64 bytes (an Ed25519 signature) per tick (src/oracle/signing.ts). */
      readonly kind: 'signedTicks';
      readonly sequence: number;
      readonly ticks: readonly Tick[];
      /** Bytes [64 i, 64 i + 64) sign tickSigningBytes(ticks[i]); a copy, not a view of the frame. */
      readonly signatures: Uint8Array;
    }
  | { readonly kind: 'books'; readonly sequence: number; readonly books: readonly BookTop[] }
  /** The venue's book volume near the mid, per market (matching): the execution strategies' participation caps. */
  | { readonly kind: 'depth'; readonly sequence: number; readonly books: readonly MarketDepth[] }
  | {
      /** An operator's kill switch (admin connections only; the server decides which those are). */
      readonly kind: 'killSwitch';
      readonly sequence: number;
      readonly level: KillLevel;
      /** The market, or undefined for every market (4294967295 on the wire). */
      readonly market: number | undefined;
      /** Why, for humans (may be empty). */
      readonly reason: string;
    }
  | { readonly kind: 'positions'; readonly sequence: number; readonly positions: readonly PositionUpdate[] }
  | { readonly kind: 'collateral'; readonly sequence: number; readonly updates: readonly CollateralUpdate[] }
  | { readonly kind: 'fills'; readonly sequence: number; readonly fills: readonly Fill[] }
  | {
      /** Orders the matching engine could not fill (an IOC expired, or the rest of a partial fill did). */
      readonly kind: 'expiries';
      readonly sequence: number;
      /** `LiquidationOrder.id`s: at least one, each at most once. */
      readonly orderIds: readonly string[];
      /** When the matching engine expired them, microseconds since the Unix epoch, an integer. */
      readonly eventTimeUs: number;
    }
  | { readonly kind: 'subscribe'; readonly sequence: number; readonly topics: Topics }
  | { readonly kind: 'unsubscribe'; readonly sequence: number; readonly topics: Topics }
  | { readonly kind: 'orders'; readonly sequence: number; readonly orders: readonly LiquidationOrder[] }
  | { readonly kind: 'marginCalls'; readonly sequence: number; readonly marginCalls: readonly MarginCall[] }
  | { readonly kind: 'accountStates'; readonly sequence: number; readonly accounts: readonly AccountState[] }
  | {
      readonly kind: 'marketStatus';
      readonly sequence: number;
      readonly market: number;
      readonly state: MarketState;
      readonly reason: string;
      readonly eventTimeUs: number;
      /**
       * Why, for machines: ORACLE_STALE, ORACLE_TWAP_BAND, ORACLE_CONFIDENCE, ORACLE_FROZEN_SOURCE, KILL_SWITCH, HEALTHY,
       * or a code added later (keep it as text); '' when the sender gave none.
       */
      readonly code: string;
    }
  | {
      readonly kind: 'engineStatus';
      readonly sequence: number;
      readonly state: EngineState;
      readonly epoch: number;
      readonly lastSequence: number;
      readonly markets: number;
      readonly accounts: number;
      readonly positions: number;
      readonly message: string;
    }
  | ({ readonly kind: 'adlQueue'; readonly sequence: number } & AdlQueue)
  /** Bankrupt positions closed against the ADL queue (deficitPolicy 'adl'), in the order they landed. */
  | { readonly kind: 'deleveragings'; readonly sequence: number; readonly deleveragings: readonly Deleveraging[] }
  /** Fill deficits spread over the opposite side (deficitPolicy 'socialized'). */
  | { readonly kind: 'socializedLosses'; readonly sequence: number; readonly losses: readonly SocializedLoss[] }
  /** Deficits no policy could place: bad debt, named. */
  | { readonly kind: 'unresolvedDeficits'; readonly sequence: number; readonly deficits: readonly UnresolvedDeficit[] }
  /** Positions backstop vaults took off the book (execution strategy 'backstop'), in the order they landed. */
  | { readonly kind: 'takeovers'; readonly sequence: number; readonly takeovers: readonly Takeover[] }
  /** Fills as they settled, money in atoms (`Subscribe.settlements`). */
  | { readonly kind: 'settlements'; readonly sequence: number; readonly quoteDecimals: number; readonly settlements: readonly FillSettlement[] }
  /** Insurance fund balances (`Subscribe.insuranceFunds`). */
  | ({ readonly kind: 'insuranceFunds'; readonly sequence: number } & InsuranceFundsUpdate)
  /** The public liquidation stream (`Subscribe.liquidationMarkets`). */
  | { readonly kind: 'liquidations'; readonly sequence: number; readonly liquidations: readonly Liquidation[] }
  /** Market prices, statuses and tick-to-order latency (`Subscribe.marketSummaries`). */
  | ({ readonly kind: 'marketSummaries'; readonly sequence: number } & MarketSummariesUpdate)
  /** Acknowledgements of this connection's input frames (only after `Subscribe { acks: true }`). */
  | ({ readonly kind: 'ack'; readonly sequence: number } & Ack)
  /** The open orders a Subscribe newly selects (its answer for order topics), possibly split over frames. */
  | ({ readonly kind: 'openOrders'; readonly sequence: number } & OpenOrdersPart)
  | {
      /** An ErrorFrame received from the peer (not a decoding failure: that is a FrameError). */
      readonly kind: 'errorFrame';
      readonly sequence: number;
      readonly code: string;
      readonly message: string;
      /** Envelope.sequence of the frame the peer rejected; null when it could not be read. */
      readonly offendingSequence: number | null;
    };

/** The `kind` of every feed message. */
export type FeedMessageKind = FeedMessage['kind'];

/** Why a frame was rejected: stable codes, sent back to the peer in an ErrorFrame. */
export const FrameErrorCode = {
  /** Not a well-formed FlatBuffer of our schema: an offset, length or vtable out of range, a missing required field. */
  MalformedFrame: 'MALFORMED_FRAME',
  /** Longer than the receiver's maximum frame size. */
  OversizedFrame: 'OVERSIZED_FRAME',
  /** A union type this receiver does not know (a newer sender), or a kind it does not accept. */
  UnknownMessage: 'UNKNOWN_MESSAGE',
  /** Bytes 4..8 are not "UNWD". */
  BadIdentifier: 'BAD_IDENTIFIER',
  /** Envelope.version is not SCHEMA_VERSION. */
  UnsupportedVersion: 'UNSUPPORTED_VERSION',
  /** Well formed, but a value is out of its domain (NaN price, id 4294967295, unset enum); `field` names it. */
  InvalidField: 'INVALID_FIELD',
} as const;

/** A code of FrameErrorCode. */
export type FrameErrorCode = (typeof FrameErrorCode)[keyof typeof FrameErrorCode];

/**
 * Codes the server adds to FrameErrorCode in ErrorFrames: a frame that decoded but that this connection may not
 * send, or that names what does not exist. Engine codes (UNKNOWN_MARKET, CAPACITY_EXCEEDED, ...) pass through.
 */
export const FeedErrorCode = {
  /** The token's role may not send this kind, or a row names a source, market or account outside its scopes (auth.ts). */
  Forbidden: 'FORBIDDEN',
  /** A subscription would take the connection past its maximum number of topics. */
  TooManyTopics: 'TOO_MANY_TOPICS',
} as const;

/** A code of FeedErrorCode. */
export type FeedErrorCode = (typeof FeedErrorCode)[keyof typeof FeedErrorCode];

/** A rejected frame, as a value (decodeFrame never throws). */
export interface FrameError {
  /** Always 'error': what tells a FrameError from a message. */
  readonly kind: 'error';
  /** Why, a FrameErrorCode. */
  readonly code: FrameErrorCode;
  /** What was wrong and what was expected. */
  readonly message: string;
  /** The offending field as a path such as `ticks[3].price`, for INVALID_FIELD. */
  readonly field?: string;
  /** The frame's Envelope.sequence, when it could be read (echo it in the ErrorFrame). */
  readonly sequence?: number;
}

/** What `decodeFrame` returns: a message, or the reason the frame was rejected. */
export type DecodeResult = FeedMessage | FrameError;
