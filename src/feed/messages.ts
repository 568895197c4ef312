/**
 * The binary feed's messages as plain objects: what `decodeFrame` returns and the encoders take. One interface per
 * wire table of schemas/unwind.fbs (units are documented there), named as the engine names them.
 */
import type { LiquidationOrder, MarginCall } from '../execution/orders.js';
import type { PositionUpdate } from '../tables/writer.js';
import type { CrossSummary } from '../risk/account-report.js';
import type { OrderFill } from '../execution/open-orders.js';
import type { KillLevel } from '../execution/market-mode.js';
import type { BookTop as OracleBookTop } from '../oracle/mark.js';

/** KillLevel: 'normal' | 'no-new' | 'no-reissue' | 'halt', each holding back more (src/execution/market-mode.ts). */
export type { KillLevel, LiquidationOrder, MarginCall, PositionUpdate };

/** The schema version this codec writes and accepts (`Envelope.version`). */
export const SCHEMA_VERSION = 1;
/** The FlatBuffers file identifier at bytes 4..8 of every frame. */
export const FILE_IDENTIFIER = 'UNWD';
/** Default largest frame `decodeFrame` accepts, bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 1 << 20;
/** Ids are uint32 in [0, 4294967294]; this one means "none" (e.g. the cross group of a margin call). */
export const NO_ID = 0xffffffff;

export interface Tick {
  readonly market: number;
  readonly source: number;
  /** Quote per base unit. */
  readonly price: number;
  /** Half-width of the source's confidence interval, quote per base unit; 0: not reported. */
  readonly confidence: number;
  /** Microseconds since the Unix epoch, an integer. */
  readonly eventTimeUs: number;
  readonly sourceSequence: number;
}

export interface CollateralUpdate {
  readonly account: number;
  /** The account's new cross collateral, quote units (absolute, not a delta). */
  readonly collateral: number;
}

/** A fill of one of our orders, as the engine takes it (`Engine.fill`). */
export type Fill = OrderFill;

export interface Topics {
  readonly markets: readonly number[];
  readonly accounts: readonly number[];
  readonly allOrders: boolean;
  /** Markets whose ADL queues to receive (AdlQueue frames). Absent means none; `decodeFrame` always sets it. */
  readonly adlMarkets?: readonly number[];
}

/**
 * The top of one market's book on the matching engine (a BookTicker row), quote per base unit. 0 for bid, ask or
 * last means "not known"; when bid and ask are both known, bid <= ask.
 */
export interface BookTop extends OracleBookTop {
  readonly market: number;
}

/** Rows of one AdlQueue frame at most: a longer queue is sent as its top (`queueLength` tells the whole). */
export const ADL_ENTRIES_PER_FRAME = 4096;

/** One position's place in an ADL queue (src/domain/adl.ts AdlQueueEntry without the market). */
export interface AdlEntry {
  readonly account: number;
  /** 1-based: 1 is deleveraged first. */
  readonly queuePosition: number;
  /** Signed base units (long > 0, short < 0). */
  readonly size: number;
  /** Higher is deleveraged first; may be +-Infinity, never NaN. */
  readonly rank: number;
  /** Unrealized PnL / entry notional (0.25 = +25%). */
  readonly pnlPercent: number;
  /** |notional| / equity of the margin group; Infinity when that equity is gone. */
  readonly effectiveLeverage: number;
}

/** The ADL queue of one side of a market, as sent to its `adlMarkets` subscribers. */
export interface AdlQueue {
  readonly market: number;
  /** Whose positions are listed: 1 the longs (the queue a bankrupt short meets), -1 the shorts (a bankrupt long's). */
  readonly positionsSide: 1 | -1;
  /** The engine's epochs run so far when the ranks were taken. */
  readonly epoch: number;
  /** Positions in the whole queue; more than `entries.length` when the frame carries only the top. */
  readonly queueLength: number;
  /** The top of the queue, in order, at most ADL_ENTRIES_PER_FRAME. */
  readonly entries: readonly AdlEntry[];
}

/** An account's cross group after an epoch (engine.account() without the positions); health Infinity: no requirement. */
export interface AccountState extends Omit<CrossSummary, 'id'> {
  readonly account: number;
  readonly epoch: number;
}

export type MarketState = 'paused' | 'resumed';
export type EngineState = 'starting' | 'running' | 'paused' | 'closing';

/** Every message kind; `sequence` is the sender's per-connection frame sequence (Envelope.sequence). */
export type FeedMessage =
  | { readonly kind: 'ticks'; readonly sequence: number; readonly ticks: readonly Tick[] }
  | {
      /** Ticks signed by their source: `signatures` holds 64 bytes (an Ed25519 signature) per tick (signing.ts). */
      readonly kind: 'signedTicks';
      readonly sequence: number;
      readonly ticks: readonly Tick[];
      /** Bytes [64 i, 64 i + 64) sign tickSigningBytes(ticks[i]); a copy, not a view of the frame. */
      readonly signatures: Uint8Array;
    }
  | { readonly kind: 'books'; readonly sequence: number; readonly books: readonly BookTop[] }
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
  | {
      /** An ErrorFrame received from the peer (not a decoding failure: that is a FrameError). */
      readonly kind: 'errorFrame';
      readonly sequence: number;
      readonly code: string;
      readonly message: string;
      /** Envelope.sequence of the frame the peer rejected; null when it could not be read. */
      readonly offendingSequence: number | null;
    };

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

export type FrameErrorCode = (typeof FrameErrorCode)[keyof typeof FrameErrorCode];

/**
 * Codes the server adds to FrameErrorCode in ErrorFrames: a frame that decoded but that this connection may not
 * send, or that names what does not exist. Engine codes (UNKNOWN_MARKET, CAPACITY_EXCEEDED, ...) pass through.
 */
export const FeedErrorCode = {
  /** A subscriber sent a publisher's message (ticks, positions, collateral, fills, expiries). */
  Forbidden: 'FORBIDDEN',
  /** A subscription would take the connection past its maximum number of topics. */
  TooManyTopics: 'TOO_MANY_TOPICS',
} as const;

export type FeedErrorCode = (typeof FeedErrorCode)[keyof typeof FeedErrorCode];

/** A rejected frame, as a value (decodeFrame never throws). */
export interface FrameError {
  readonly kind: 'error';
  readonly code: FrameErrorCode;
  /** What was wrong and what was expected. */
  readonly message: string;
  /** The offending field as a path such as `ticks[3].price`, for INVALID_FIELD. */
  readonly field?: string;
  /** The frame's Envelope.sequence, when it could be read (echo it in the ErrorFrame). */
  readonly sequence?: number;
}

export type DecodeResult = FeedMessage | FrameError;
