/** The feed server's counters (`FeedServer.stats()`, `GET /v1/feed/stats`). */
import { ErrorCode } from '../errors.js';
import { FeedErrorCode, FrameErrorCode } from './messages.js';

/** Counters since start; `stats()` returns a copy. */
export interface FeedStats {
  /** Open connections whose token may send inputs (source, matching, legacy publisher). */
  publishers: number;
  /** The other open connections (subscriber, admin). */
  subscribers: number;
  /** WebSocket upgrades refused (no token, or one of no role): HTTP 401. */
  upgradesRefused: number;
  /** Frames received. */
  framesIn: number;
  /** Bytes of frames received. */
  bytesIn: number;
  /** Ticks taken from PriceTicks and SignedPriceTicks frames. */
  ticksIn: number;
  /** Position rows taken from PositionUpdates frames. */
  positionUpdatesIn: number;
  /** Collateral rows taken from CollateralUpdates frames. */
  collateralUpdatesIn: number;
  /** Fills taken from Fills frames. */
  fillsIn: number;
  /** Orders expired by OrderExpiries frames (ids applied, including those of a frame stopped at an unknown id). */
  expiriesIn: number;
  /** Book tops from BookTickers frames. */
  booksIn: number;
  /** Book depth rows from Depth frames. */
  depthIn: number;
  /** KillSwitch frames applied (admin). */
  killSwitchesIn: number;
  /** MarketStatus frames sent when a market paused or resumed (not the snapshot a new market topic gets). */
  marketStatusesOut: number;
  /** Frames sent. */
  framesOut: number;
  /** Bytes of frames sent. */
  bytesOut: number;
  /** Liquidation orders sent (once per connection). */
  ordersOut: number;
  /** Margin calls sent (once per connection). */
  marginCallsOut: number;
  /** Account states sent (once per connection). */
  accountStatesOut: number;
  /** Backstop takeovers sent (records, once per connection). */
  takeoversOut: number;
  /** Deleveragings sent (records, once per connection, a record split over frames counting once). */
  deleveragingsOut: number;
  /** Socialized losses sent (records, once per connection). */
  socializedLossesOut: number;
  /** Unresolved deficits sent (records, once per connection). */
  unresolvedDeficitsOut: number;
  /** AdlQueue frames sent (one per side, market and connection). */
  adlQueuesOut: number;
  /** Watched markets whose ADL queues could not be ranked after an epoch (engine error), so were not sent. */
  adlQueuesSkipped: number;
  /**
   * Rejected frames by error code, and ErrorFrames received from peers as `PEER_` + their code. The keys are this
   * server's codes (countRejected): a code it does not know, whatever a client sent, counts under `OTHER`
   * (`PEER_OTHER`), so no client can grow this object.
   */
  rejected: Record<string, number>;
  /** Market, account and ADL-market topics held now, over every connection (bounded by maxTopicsTotal). */
  topics: number;
  /** Subscribers closed because their backlog passed maxBackpressureBytes. */
  slowConsumersDropped: number;
  /** Connections closed by uWS for a frame above maxPayloadBytes. */
  oversizedClosed: number;
}

export function zeroStats(): FeedStats {
  return {
    publishers: 0,
    subscribers: 0,
    upgradesRefused: 0,
    framesIn: 0,
    bytesIn: 0,
    ticksIn: 0,
    positionUpdatesIn: 0,
    collateralUpdatesIn: 0,
    fillsIn: 0,
    expiriesIn: 0,
    booksIn: 0,
    depthIn: 0,
    killSwitchesIn: 0,
    marketStatusesOut: 0,
    framesOut: 0,
    bytesOut: 0,
    ordersOut: 0,
    marginCallsOut: 0,
    accountStatesOut: 0,
    takeoversOut: 0,
    deleveragingsOut: 0,
    socializedLossesOut: 0,
    unresolvedDeficitsOut: 0,
    adlQueuesOut: 0,
    adlQueuesSkipped: 0,
    rejected: {},
    topics: 0,
    slowConsumersDropped: 0,
    oversizedClosed: 0,
  };
}

/** Every code this server can answer with: the decoder's, its own and the engine's. */
const KNOWN_CODES: ReadonlySet<string> = new Set<string>([...Object.values(FrameErrorCode), ...Object.values(FeedErrorCode), ...Object.values(ErrorCode)]);

/** Where a code outside KNOWN_CODES is counted. */
export const OTHER_CODE = 'OTHER';

/** The `rejected` key of `code`: itself when this server knows it, else OTHER_CODE (the keys stay a fixed, small set). */
export function codeKey(code: string): string {
  return KNOWN_CODES.has(code) ? code : OTHER_CODE;
}

/** Counts a frame this server rejected with `code`. */
export function countRejected(stats: FeedStats, code: string): void {
  const key = codeKey(code);
  stats.rejected[key] = (stats.rejected[key] ?? 0) + 1;
}

/** Counts an ErrorFrame a peer sent (it rejected one of ours), under `PEER_` and the code's key. */
export function countPeerError(stats: FeedStats, code: string): void {
  const key = `PEER_${codeKey(code)}`;
  stats.rejected[key] = (stats.rejected[key] ?? 0) + 1;
}
