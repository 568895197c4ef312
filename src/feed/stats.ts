/** The feed server's counters (`FeedServer.stats()`, `GET /v1/feed/stats`). */

/** Counters since start; `stats()` returns a copy. */
export interface FeedStats {
  publishers: number;
  subscribers: number;
  upgradesRefused: number;
  framesIn: number;
  bytesIn: number;
  ticksIn: number;
  positionUpdatesIn: number;
  collateralUpdatesIn: number;
  fillsIn: number;
  /** Orders expired by OrderExpiries frames (ids applied, including those of a frame stopped at an unknown id). */
  expiriesIn: number;
  /** Book tops from BookTickers frames. */
  booksIn: number;
  /** KillSwitch frames applied (admin). */
  killSwitchesIn: number;
  /** MarketStatus frames sent when a market paused or resumed (not the snapshot a new market topic gets). */
  marketStatusesOut: number;
  framesOut: number;
  bytesOut: number;
  ordersOut: number;
  marginCallsOut: number;
  accountStatesOut: number;
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
  /** Rejected frames by error code. */
  rejected: Record<string, number>;
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
    killSwitchesIn: 0,
    marketStatusesOut: 0,
    framesOut: 0,
    bytesOut: 0,
    ordersOut: 0,
    marginCallsOut: 0,
    accountStatesOut: 0,
    deleveragingsOut: 0,
    socializedLossesOut: 0,
    unresolvedDeficitsOut: 0,
    adlQueuesOut: 0,
    adlQueuesSkipped: 0,
    rejected: {},
    slowConsumersDropped: 0,
    oversizedClosed: 0,
  };
}
