/**
 * Errors are values with stable codes. Every rejected input throws (or, on the wire, returns) an
 * `UnwindError` whose `code` a caller can switch on; the message says what was wrong and what was expected.
 */
export const ErrorCode = {
  InvalidConfig: 'INVALID_CONFIG',
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
