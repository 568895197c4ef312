/**
 * The messages between the main thread (feed server, echo server, engine) and the feed bench's client worker
 * (feed-client.worker.ts), imported by both sides. Every request carries an `id`; the worker answers each with one
 * Reply of the same id, in order. Times measured in the worker are milliseconds of its own performance.now(), so
 * a start and an end always come from the same clock.
 */

/** A market the ingest frames tick: ticks go round-robin over these, at seeded prices near `price`. */
export interface TickMarket {
  readonly id: number;
  readonly price: number;
}

export type Request =
  /**
   * Opens a publisher and an allOrders subscriber on the feed, and one connection to the echo server; the
   * subscription is in place when it resolves.
   */
  | {
      readonly id: number;
      readonly cmd: 'latency.open';
      readonly url: string;
      readonly publisherToken: string;
      readonly subscriberToken: string;
      readonly echoUrl: string;
    }
  /**
   * One socket sample: t0, the publisher sends one tick (market, price); t1, the subscriber receives the orders frame
   * holding `account`'s order for position sequence `positionSequence`. Answers `micros` = t1 - t0.
   */
  | {
      readonly id: number;
      readonly cmd: 'latency.sample';
      readonly market: number;
      readonly price: number;
      readonly account: number;
      readonly positionSequence: number;
      /** The sample's index: the tick's sourceSequence and eventTimeUs derive from it (feed-frames.ts), not from a clock. */
      readonly index: number;
      readonly timeoutMs: number;
    }
  /** Waits until the subscriber has read everything sent to it (a ping barrier), closes both; answers LatencyCloseReply. */
  | { readonly id: number; readonly cmd: 'latency.close' }
  /** One round trip of a 1-tick frame on the latency set's echo connection, paced like the samples. */
  | { readonly id: number; readonly cmd: 'latency.echo'; readonly market: TickMarket; readonly index: number; readonly timeoutMs: number }
  /** Round trips of one single-tick frame to the echo server, one at a time. Answers `micros` per sample. */
  | {
      readonly id: number;
      readonly cmd: 'echo.roundTrips';
      readonly url: string;
      readonly samples: number;
      readonly warmup: number;
      readonly market: TickMarket;
    }
  /**
   * Sends `frames` frames of `ticksPerFrame` ticks as fast as the socket takes them, then waits for the barrier:
   * 'pong' (a ping after the last frame; uWS answers it after reading every earlier frame) or 'echo' (the last
   * frame's echo). Answers the time from the first send to the barrier.
   */
  | {
      readonly id: number;
      readonly cmd: 'ingest';
      readonly url: string;
      readonly barrier: 'pong' | 'echo';
      readonly ticksPerFrame: number;
      readonly frames: number;
      /** Frames handed to the socket per write (corked); 1 = one write per frame, as `ws` does by default. */
      readonly framesPerWrite: number;
      readonly markets: readonly TickMarket[];
      readonly seed: number;
    }
  /** Closes every socket; the worker then ends (its event loop empties) and answers nothing. */
  | { readonly id: number; readonly cmd: 'exit' };

export type Command = Request['cmd'];

export interface IngestReply {
  /** From the first send to the barrier, milliseconds. */
  readonly millis: number;
  readonly framesSent: number;
  readonly ticksSent: number;
  readonly bytesSent: number;
  /** Echoes received ('echo' barrier), or frames the feed sent back on this connection (status, errors). */
  readonly framesReceived: number;
  /** ErrorFrames the feed sent back (must be 0). */
  readonly errorFrames: number;
  /** The first ErrorFrame's code and message, to report. */
  readonly firstError: string | null;
}

export interface SamplesReply {
  readonly micros: readonly number[];
}

export interface LatencySampleReply {
  readonly micros: number;
  /** The send and the receipt on the shared clock, performance.timeOrigin + performance.now(), milliseconds. */
  readonly sentAt: number;
  readonly receivedAt: number;
}

export interface LatencyCloseReply {
  /** Orders the allOrders subscriber received in all, from both paths' samples. */
  readonly ordersReceived: number;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };
