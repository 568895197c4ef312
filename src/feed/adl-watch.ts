/**
 * The markets whose ADL queues some feed connection watches (topic `adlMarkets`), and a digest of the queues last
 * sent for each, so that after an epoch only the sides whose queue changed are sent. Counts watchers: a market is
 * forgotten when its last watcher leaves.
 *
 * `engine.adlQueue(market, bankruptSide)` ranks the positions OPPOSITE to `bankruptSide`; here a queue is named by
 * the side of the positions it lists (`positionsSide`), as on the wire: the longs' queue is adlQueue(market, -1).
 */
import type { AdlQueueEntry } from '../domain/adl.js';
import { isUnwindError } from '../errors.js';
import { ADL_ENTRIES_PER_FRAME, type AdlQueue } from './messages.js';
import { Watchers } from './watchers.js';

/** Both sides of a market, in the order they are sent: the longs' queue, then the shorts'. */
const SIDES = [1, -1] as const;

/** What an AdlWatch reads from the engine (the server passes its Engine): declared here, the feed does not import src/engine. */
export interface AdlSource {
  adlQueue(market: number, bankruptSide: 1 | -1): AdlQueueEntry[];
}

export class AdlWatch {
  private readonly watchers = new Watchers();
  /** Market id -> digests of the queues last sent to its watchers, per SIDES. */
  private readonly last = new Map<number, string[]>();

  constructor(private readonly engine: AdlSource) {}

  get size(): number {
    return this.watchers.size;
  }

  /**
   * Both queues of `market` now (longs, then shorts), labelled with `epoch`, without watching it. Throws the
   * engine's UnwindError when they cannot be ranked (the caller rejects the subscription, having changed nothing).
   */
  queues(market: number, epoch: number): AdlQueue[] {
    return SIDES.map((side) => this.queue(market, side, epoch));
  }

  /** Adds a watcher (its snapshot is the caller's to send, from `snapshot`, once there is an epoch to label it). */
  watch(market: number): void {
    this.watchers.add(market);
  }

  /**
   * A new watcher's snapshot: both queues of `market` now, labelled with `epoch`; [] when they cannot be ranked (the
   * next epoch sends them). Only a market without a baseline takes these as its last sent: its other watchers were
   * sent the queues of `last`, which a snapshot must not overwrite, or a change they have not seen would look sent.
   */
  snapshot(market: number, epoch: number): AdlQueue[] {
    let queues: AdlQueue[];
    try {
      queues = this.queues(market, epoch);
    } catch (e) {
      if (!isUnwindError(e)) throw e;
      return [];
    }
    if (!this.last.has(market)) this.last.set(market, queues.map(digest));
    return queues;
  }

  unwatch(market: number): void {
    if (this.watchers.remove(market)) this.last.delete(market);
  }

  /**
   * When epoch `epoch` is decided: each watched market's queues that differ from the ones last sent (longs before
   * shorts), now recorded as sent. A market whose queues cannot be ranked this epoch is skipped and reported to
   * `failed`.
   */
  changed(epoch: number, failed: (market: number, error: unknown) => void): AdlQueue[] {
    const out: AdlQueue[] = [];
    for (const market of this.watchers.ids()) {
      let queues: AdlQueue[];
      try {
        queues = this.queues(market, epoch);
      } catch (e) {
        if (!isUnwindError(e)) throw e;
        failed(market, e);
        continue;
      }
      const sent = this.last.get(market) ?? [];
      queues.forEach((q, i) => {
        const d = digest(q);
        if (d === sent[i]) return;
        sent[i] = d;
        out.push(q);
      });
      this.last.set(market, sent);
    }
    return out;
  }

  private queue(market: number, positionsSide: 1 | -1, epoch: number): AdlQueue {
    const all = this.engine.adlQueue(market, positionsSide === 1 ? -1 : 1);
    // The top only past ADL_ENTRIES_PER_FRAME rows: frames stay bounded; queueLength tells a client it was cut.
    const entries = all.length > ADL_ENTRIES_PER_FRAME ? all.slice(0, ADL_ENTRIES_PER_FRAME) : all;
    return { market, positionsSide, epoch, queueLength: all.length, entries };
  }
}

/**
 * What a client would see change, minus the epoch: every row as sent, in order. String(x) round-trips a double
 * exactly and tells Infinity from -Infinity (JSON.stringify writes both as null).
 */
function digest(q: AdlQueue): string {
  let s = String(q.queueLength);
  for (const e of q.entries) s += `;${e.account},${e.size},${e.rank},${e.pnlPercent},${e.effectiveLeverage}`;
  return s;
}
