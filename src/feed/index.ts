/** The binary feed for clients (`unwind/feed`): the client SDK and the codec. Browser-safe: no Node API, no uWS. */
export {
  FeedClient,
  FeedClientError,
  type FeedClientEvents,
  type FeedClientOptions,
  type InputSequences,
  type Listener as FeedClientListener,
  type ReconnectOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from './client.js';
export * from './codec.js';
/** Joins Deleveragings / SocializedLosses records split over frames (the SDK does it for its events). */
export { joinDeleveragings, joinSocializedLosses, PartJoiner } from './deficits.js';
/** Exact money of Settlements and InsuranceFunds (atoms) as quote, and the public tape as ccxt's liquidation structure. */
export { atomsToQuote, formatAtoms } from './atoms.js';
export { toCcxtLiquidation, type CcxtLiquidation } from './ccxt.js';
