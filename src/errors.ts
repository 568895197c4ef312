/**
 * Errors are values with stable codes. Every rejected input throws (or, on the wire, returns) an
 * `UnwindError` whose `code` a caller can switch on; the message says what was wrong and what was expected.
 */
export const ErrorCode = {
  InvalidConfig: 'INVALID_CONFIG',
  /**
   * An argument of the wrong type or shape where no more specific code fits: a batch that is not an array, a member
   * that is not an object, a listener that is not a function, a symbol or reason that is not a string of bounded length.
   */
  InvalidArgument: 'INVALID_ARGUMENT',
  InvalidId: 'INVALID_ID',
  InvalidPrice: 'INVALID_PRICE',
  InvalidSize: 'INVALID_SIZE',
  InvalidAmount: 'INVALID_AMOUNT',
  InvalidTiers: 'INVALID_TIERS',
  UnknownMarket: 'UNKNOWN_MARKET',
  UnknownAccount: 'UNKNOWN_ACCOUNT',
  DuplicateMarket: 'DUPLICATE_MARKET',
  DuplicateAccount: 'DUPLICATE_ACCOUNT',
  CapacityExceeded: 'CAPACITY_EXCEEDED',
  EngineClosed: 'ENGINE_CLOSED',
  /** A fill names an order id that was never issued or is already filled. */
  UnknownOrder: 'UNKNOWN_ORDER',
  /** A fill that does not fit its order or position: other account or market, quantity beyond what is open. */
  InvalidFill: 'INVALID_FILL',
  InvalidScenario: 'INVALID_SCENARIO',
  LayoutMismatch: 'LAYOUT_MISMATCH',
  /** uWebSockets.js loaded its slow JavaScript fallback instead of the native binary. */
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
  /** The address the server is to listen on is taken by another process (`unwind serve`, `unwind demo`). */
  AddressInUse: 'ADDRESS_IN_USE',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class UnwindError extends Error {
  override readonly name = 'UnwindError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The offending field, as a path such as `accounts[0].positions[1].size`, when there is one. */
    readonly field?: string,
  ) {
    super(field === undefined ? message : `${field}: ${message}`);
  }
}

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
