/**
 * The client SDK's side of acknowledgements (client.ts `accepted` / `durable`): promises waiting for the Ack of one
 * frame of the current connection, settled as Acks and ErrorFrames arrive, and all rejected when the connection is
 * lost (sequences restart at 0 on the next one). Acks come in frame order, so one Ack durable settles every waiter
 * up to its frame. No Node API: the SDK bundles for browsers.
 */
import type { Ack } from './messages.js';

/** The input sequence numbers a frame's inputs took, first to last (first = last + 1: none). */
export interface InputSequences {
  /** The first input sequence number the frame's inputs took. */
  readonly firstSequence: number;
  /** The last; firstSequence = lastSequence + 1: the frame took none. */
  readonly lastSequence: number;
}

/** Why a wait failed: as FeedClientError codes. */
export type AckFailure = 'NOT_SENT' | 'REJECTED' | 'CONNECTION_LOST' | 'ACKS_OFF';

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
}

/** Rejected frames remembered, so that a later wait for one is not settled by a durable Ack past it. */
const MAX_REJECTED_REMEMBERED = 4096;

export class AckWaiters {
  private readonly accepted = new Map<number, Waiter<InputSequences>[]>();
  private readonly durable = new Map<number, Waiter<void>[]>();
  /** The last frame acknowledged durable on this connection (-1: none). */
  private durableThrough = -1;
  private readonly rejected = new Set<number>();

  /** `error` makes the caller's error type (FeedClientError) from a failure, its message and the server's code. */
  constructor(private readonly error: (code: AckFailure, message: string, serverCode?: string) => Error) {}

  /** Waits for frame `sequence`'s Ack of `state`; `sent` frames have been sent on this connection. */
  wait(state: 'accepted', sequence: number, sent: number): Promise<InputSequences>;
  wait(state: 'durable', sequence: number, sent: number): Promise<void>;
  wait(state: Ack['state'], sequence: number, sent: number): Promise<InputSequences | void> {
    return new Promise<InputSequences | void>((resolve, reject) => {
      if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence >= sent) {
        return reject(this.error('NOT_SENT', `frame ${sequence} was not sent on this connection (frames 0..${sent - 1})`));
      }
      if (this.rejected.has(sequence)) return reject(this.error('REJECTED', `frame ${sequence} was rejected by the server`));
      if (state === 'durable' && sequence <= this.durableThrough) return resolve();
      const waiters = (state === 'accepted' ? this.accepted : this.durable) as Map<number, Waiter<InputSequences | void>[]>;
      let list = waiters.get(sequence);
      if (list === undefined) waiters.set(sequence, (list = []));
      list.push({ resolve, reject });
    });
  }

  /** An Ack arrived. */
  acknowledged(a: Ack): void {
    const accepted = this.accepted.get(a.frameSequence);
    if (accepted !== undefined) {
      this.accepted.delete(a.frameSequence);
      // A durable Ack of one frame (a server without a journal) carries that frame's sequences; one covering many
      // comes after each frame's own accepted Ack.
      for (const w of accepted) w.resolve({ firstSequence: a.firstSequence, lastSequence: a.lastSequence });
    }
    if (a.state !== 'durable') return;
    this.durableThrough = Math.max(this.durableThrough, a.frameSequence);
    for (const [sequence, list] of this.durable) {
      if (sequence > a.frameSequence) continue;
      this.durable.delete(sequence);
      for (const w of list) w.resolve();
    }
  }

  /** The server answered frame `sequence` with an ErrorFrame of `code`. */
  frameRejected(sequence: number, code: string, message: string): void {
    if (this.rejected.size >= MAX_REJECTED_REMEMBERED) this.rejected.delete(this.rejected.values().next().value!);
    this.rejected.add(sequence);
    const error = this.error('REJECTED', `frame ${sequence} was rejected: ${code} ${message}`, code);
    for (const waiters of [this.accepted, this.durable] as Map<number, Waiter<never>[]>[]) {
      for (const w of waiters.get(sequence) ?? []) w.reject(error);
      waiters.delete(sequence);
    }
  }

  /** The connection is gone (or its acks were turned off): nothing more is acknowledged on it. */
  lost(why: 'CONNECTION_LOST' | 'ACKS_OFF' = 'CONNECTION_LOST'): void {
    const error =
      why === 'ACKS_OFF'
        ? this.error(why, 'acknowledgements were turned off before the frame was acknowledged')
        : this.error(why, 'the connection closed before the frame was acknowledged: it may or may not have been applied');
    for (const waiters of [this.accepted, this.durable] as Map<number, Waiter<never>[]>[]) {
      for (const list of waiters.values()) for (const w of list) w.reject(error);
      waiters.clear();
    }
    this.durableThrough = -1;
    this.rejected.clear();
  }
}
