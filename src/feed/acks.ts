/**
 * Acknowledgements of input frames (README "Wire protocol", schemas/README.md "Acknowledgements"), for the
 * connections that asked for them (`Subscribe { acks: true }`):
 *
 *   frame applied ──> Ack accepted (that frame, the input sequences it took)      ─┐ at once, in the message handler
 *   engine.durable() resolves ──> Ack durable (every accepted frame up to the last) ┘ one per connection per flush
 *
 * Without a journal an input is as durable as it gets once accepted: the server sends one Ack durable per frame.
 * With one, a single `engine.durable()` covers every input accepted before the call, from every connection, so one
 * flush serves them all: it starts once the event loop's turn has read every frame that arrived with the first,
 * and the frames accepted while it is pending wait for the next. Thread: main (the server's).
 */
import type { Ack } from './messages.js';

/** What acknowledgements need of the engine (the server passes its Engine): declared here, the feed does not import src/engine. */
export interface DurableInputs {
  /** Set exactly when there is a journal. */
  readonly recovery: unknown;
  /** Resolves once every input accepted before the call is durable. */
  durable(): Promise<void>;
}

/** Accepted frames of one connection not yet acknowledged durable. */
interface Undurable {
  /** The last of them (Envelope.sequence). */
  frame: number;
  /** The input sequences they took, first of the first to last of the last. */
  first: number;
  last: number;
}

export class Acknowledgements<C> {
  private readonly undurable = new Map<C, Undurable>();
  private flushing = false;

  /** `send` delivers an Ack to a connection (a closed one drops it). */
  constructor(
    private readonly engine: DurableInputs,
    private readonly send: (c: C, ack: Ack) => void,
  ) {}

  /** Connection `c`'s frame `frame` was applied; its inputs took sequences `first`..`last` (first = last + 1: none). */
  accepted(c: C, frame: number, first: number, last: number): void {
    // Without a journal there is nothing more to wait for (engine.recovery is set exactly when there is one).
    if (this.engine.recovery === undefined) {
      this.send(c, { state: 'durable', frameSequence: frame, firstSequence: first, lastSequence: last });
      return;
    }
    this.send(c, { state: 'accepted', frameSequence: frame, firstSequence: first, lastSequence: last });
    const u = this.undurable.get(c);
    if (u === undefined) this.undurable.set(c, { frame, first, last });
    else {
      u.frame = frame;
      u.last = last;
    }
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => void this.flush());
  }

  /** The connection closed, or stopped asking: its frames are no longer acknowledged. */
  forget(c: C): void {
    this.undurable.delete(c);
  }

  /** Makes every accepted frame durable and acknowledges it, one engine.durable() at a time, until none waits. */
  private async flush(): Promise<void> {
    try {
      while (this.undurable.size > 0) {
        // Everything accepted so far, which the next durable() covers; what is accepted meanwhile waits its turn.
        const batch = [...this.undurable];
        this.undurable.clear();
        await this.engine.durable();
        for (const [c, u] of batch) this.send(c, { state: 'durable', frameSequence: u.frame, firstSequence: u.first, lastSequence: u.last });
      }
    } catch {
      // The journal failed (JOURNAL_IO): nothing accepted since its last flush is durable, so no Ack says so. The
      // engine reports the failure (onError) and rejects every later input; those frames get ErrorFrames.
      this.undurable.clear();
    } finally {
      this.flushing = false;
    }
  }
}
