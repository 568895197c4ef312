/**
 * Errors are values with stable codes. Every rejected input throws (or, on the wire, returns) an
 * `UnwindError` whose `code` a caller can switch on; the message says what was wrong and what was expected.
 */
export const ErrorCode = {
  /** A config field out of its domain; `field` names it (`fees.maxFeeFraction`). */
  InvalidConfig: 'INVALID_CONFIG',
  /**
   * An argument of the wrong type or shape where no more specific code fits: a batch that is not an array, a member
   * that is not an object, a listener that is not a function, a symbol or reason that is not a string of bounded length.
   */
  InvalidArgument: 'INVALID_ARGUMENT',
  /** An id that is not an integer in [0, 4294967294] (an order id: not a non-empty string). */
  InvalidId: 'INVALID_ID',
  /** A price that is not a finite number > 0 (or beyond the largest price). */
  InvalidPrice: 'INVALID_PRICE',
  /** A size, volume or row count out of its range (not finite, or beyond the largest allowed). */
  InvalidSize: 'INVALID_SIZE',
  /** A quote amount (collateral, deposit) out of its range: not finite, too large, or negative where it may not be. */
  InvalidAmount: 'INVALID_AMOUNT',
  /** A margin tier schedule that is not ascending in notional and fractions, or not ended by an unbounded tier. */
  InvalidTiers: 'INVALID_TIERS',
  /** A market id no `addMarket` added. */
  UnknownMarket: 'UNKNOWN_MARKET',
  /** An account id no `addAccount` added. */
  UnknownAccount: 'UNKNOWN_ACCOUNT',
  /** A market id added before. */
  DuplicateMarket: 'DUPLICATE_MARKET',
  /** An account id added before. */
  DuplicateAccount: 'DUPLICATE_ACCOUNT',
  /** More markets, accounts or positions than `capacity` preallocated. */
  CapacityExceeded: 'CAPACITY_EXCEEDED',
  /** An input or a step after `close()` began. */
  EngineClosed: 'ENGINE_CLOSED',
  /** A fill names an order id that was never issued or is already filled. */
  UnknownOrder: 'UNKNOWN_ORDER',
  /** A fill that does not fit its order or position: other account or market, quantity beyond what is open. */
  InvalidFill: 'INVALID_FILL',
  /** A scenario (`unwind check`) that does not fit its shape; `field` names where. */
  InvalidScenario: 'INVALID_SCENARIO',
  /** A worker attached to tables of another layout version or magic number. */
  LayoutMismatch: 'LAYOUT_MISMATCH',
  /**
   * The feed server's native transport cannot load: no uWebSockets.js build for this Node ABI or platform, its binary
   * failed to load (an older glibc), or it loaded its slow JavaScript fallback (src/feed/transport.ts).
   */
  TransportUnavailable: 'TRANSPORT_UNAVAILABLE',
  /** A price report for a market with oracle sources came unsigned while the deployment requires signatures. */
  UnsignedReport: 'UNSIGNED_REPORT',
  /** A price report's Ed25519 signature does not verify under its source's registered key. */
  BadSignature: 'BAD_SIGNATURE',
  /** A price report from a source the market's key registry does not list. */
  UnknownSource: 'UNKNOWN_SOURCE',
  /** A price report whose source sequence does not exceed the last one accepted from that source in that market. */
  ReplayedReport: 'REPLAYED_REPORT',
  /** A direct price for a market whose price comes from its oracle sources. */
  OracleMarket: 'ORACLE_MARKET',
  /** An event time further ahead of the engine's clock than `clock.maxSkewUs` allows. */
  ClockSkew: 'CLOCK_SKEW',
  /** An action the operator's kill switch forbids in that market. */
  KillSwitch: 'KILL_SWITCH',
  /** A journal record in the middle of a segment (not a torn tail) fails its checksum or cannot be read: names file and offset. */
  JournalCorrupt: 'JOURNAL_CORRUPT',
  /** The journal directory was written under another engine config than the one given. */
  JournalMismatch: 'JOURNAL_MISMATCH',
  /** Writing or syncing the journal failed; the engine takes no more inputs (none is acted on unjournaled). */
  JournalIo: 'JOURNAL_IO',
  /** Inputs waiting for signature verification already fill the sender's (or everyone's) share: resend later. */
  Backpressure: 'BACKPRESSURE',
  /**
   * A replica that does not lead its cluster (src/cluster/): a standby takes no inputs, and a leader that lost its
   * lease or was fenced off the replicated log takes none from then on (it steps down).
   */
  NotLeader: 'NOT_LEADER',
  /** The replicated log did not keep an input on a quorum (NATS unreachable, the stream refused it). */
  ReplicationFailed: 'REPLICATION_FAILED',
  /** A standby's output digest at an epoch's end differs from the leader's: it stops rather than follow. */
  ReplicaDiverged: 'REPLICA_DIVERGED',
  /** The address the server is to listen on is taken by another process (`unwind serve`, `unwind demo`). */
  AddressInUse: 'ADDRESS_IN_USE',
  /**
   * What one shard of several (config `shard`) cannot do exactly because it needs every account: a deleverage input,
   * refused by every shard alike (README "Sharding beyond one machine").
   */
  ShardInexact: 'SHARD_INEXACT',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The error every rejected input and bad argument throws: switch on `code`. */
export class UnwindError extends Error {
  /** Always 'UnwindError'. */
  override readonly name = 'UnwindError';
  constructor(
    /** The stable code (ErrorCode). */
    readonly code: ErrorCode,
    message: string,
    /** The offending field, as a path such as `accounts[0].positions[1].size`, when there is one. */
    readonly field?: string,
  ) {
    super(field === undefined ? message : `${field}: ${message}`);
  }
}

/** True when `e` is an UnwindError. */
export function isUnwindError(e: unknown): e is UnwindError {
  return e instanceof UnwindError;
}

/**
 * A checker of a config object's numeric fields: `check(name, ok, expected)` throws INVALID_CONFIG naming
 * `${field}.${name}` unless the value is a number (not NaN) that `ok` accepts. Throws at once if `c` is no object.
 */
export function configNumbers<T extends object>(c: T, field: string): (name: keyof T & string, ok: (v: number) => boolean, expected: string) => void {
  if (c === null || typeof c !== 'object') throw new UnwindError(ErrorCode.InvalidConfig, 'expected an object', field);
  return (name, ok, expected) => {
    const v: unknown = c[name];
    if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) {
      throw new UnwindError(ErrorCode.InvalidConfig, `expected ${expected}, got ${String(v)}`, `${field}.${name}`);
    }
  };
}
