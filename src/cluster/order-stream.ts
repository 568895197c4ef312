/**
 * Thread: main. The order stream (README "Replication"): the leader's liquidation orders on NATS JetStream, in epoch
 * order, each epoch once, whoever leads.
 *
 *   message   data: { "epochs": [first, last], "orders": [...] }   the orders of epochs first..last, in order
 *             headers: Unwind-First-Epoch, Unwind-Last-Epoch, Unwind-Node, Unwind-Term (the leadership: the lease's
 *                      revision when taken)
 *             Nats-Expected-Last-Sequence   the stream sequence this leader saw last: a message from a leader that
 *                                           another has overtaken is refused, and nothing lands out of order
 *
 * One message in flight at a time; epochs that queue meanwhile go together in the next (up to MAX_EPOCHS). A new
 * leader reads the stream's last epoch and publishes only the epochs after it; if a message of the old leader lands
 * after that reading, the fenced append fails, the new leader reads the tail again, drops what it now finds there and
 * goes on. A passing failure (no stream leader for a moment, a timeout) is retried while the lease lasts.
 */
import { headers, type JetStreamClient, type JetStreamManager } from 'nats';
import { ErrorCode, UnwindError } from '../errors.js';
import type { LiquidationOrder } from '../clearing/orders.js';
import { toJson } from '../journal/payload.js';

export const MAX_EPOCHS = 256;
const H_FIRST_EPOCH = 'Unwind-First-Epoch';
const H_LAST_EPOCH = 'Unwind-Last-Epoch';

export interface EpochOrders {
  readonly epoch: number;
  readonly orders: readonly LiquidationOrder[];
}

export interface OrderPublisherOptions {
  readonly stream: string;
  readonly subject: string;
  readonly node: string;
  readonly term: number;
  readonly leading: () => boolean;
  readonly onFailure: (e: UnwindError) => void;
}

/** The stream's last sequence and the last epoch it holds (0, 0: empty). */
export async function orderStreamTail(jsm: JetStreamManager, stream: string): Promise<{ readonly sequence: number; readonly epoch: number }> {
  const info = await jsm.streams.info(stream);
  if (info.state.messages === 0) return { sequence: info.state.last_seq, epoch: 0 };
  const m = await jsm.streams.getMessage(stream, { seq: info.state.last_seq });
  return { sequence: info.state.last_seq, epoch: Number(m.header.get(H_LAST_EPOCH)) || 0 };
}

export class OrderPublisher {
  private readonly queue: EpochOrders[] = [];
  private sending = false;
  private failure: UnwindError | undefined;
  /** Orders and messages this replica got into the stream. */
  orders = 0;
  messages = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly o: OrderPublisherOptions,
    /** The stream's last sequence and epoch as this leader found them. */
    private tail: { sequence: number; epoch: number },
  ) {}

  /** Queues epochs' orders (in epoch order); those at or before the stream's last epoch are dropped. */
  publish(epochs: readonly EpochOrders[]): void {
    if (this.failure !== undefined) return;
    for (const e of epochs) if (e.orders.length > 0 && e.epoch > this.tail.epoch) this.queue.push(e);
    void this.pump();
  }

  /** Whether the orders of every epoch through `epoch` are in the stream (none of them is still queued). */
  sentThrough(epoch: number): boolean {
    return this.failure === undefined && (this.queue.length === 0 || this.queue[0]!.epoch > epoch);
  }

  /** Resolves once every queued epoch is in the stream (or publishing failed). */
  async drained(): Promise<void> {
    // determinism: waiting for the stream decides when a replica stops, not what it decided
    while ((this.queue.length > 0 || this.sending) && this.failure === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  get failed(): UnwindError | undefined {
    return this.failure;
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length > 0 && this.failure === undefined) await this.sendNext();
    } finally {
      this.sending = false;
    }
  }

  private async sendNext(): Promise<void> {
    const batch = this.queue.slice(0, MAX_EPOCHS);
    const first = batch[0]!.epoch;
    const last = batch[batch.length - 1]!.epoch;
    const h = headers();
    h.set(H_FIRST_EPOCH, String(first));
    h.set(H_LAST_EPOCH, String(last));
    h.set('Unwind-Node', this.o.node);
    h.set('Unwind-Term', String(this.o.term));
    const data = new TextEncoder().encode(toJson({ epochs: [first, last], orders: batch.flatMap((b) => b.orders) }));
    for (let attempt = 0; ; attempt++) {
      if (!this.o.leading()) return this.fail(new UnwindError(ErrorCode.NotLeader, `the lease lapsed before the orders of epochs ${first}..${last} left: they are not sent`));
      try {
        const ack = await this.js.publish(this.o.subject, data, { headers: h, msgID: `orders-${this.o.term}-${first}-${last}`, expect: { lastSequence: this.tail.sequence }, timeout: 5_000 });
        this.tail = { sequence: ack.seq, epoch: last };
        this.queue.splice(0, batch.length);
        this.orders += batch.reduce((n, b) => n + b.orders.length, 0);
        this.messages++;
        return;
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        if (/wrong last sequence/i.test(message)) {
          // Someone appended: our own earlier attempt, or the old leader's last message. Read the tail again and
          // drop what it holds; a leader that finds epochs after its own there has been overtaken.
          const tail = await orderStreamTail(this.jsm, this.o.stream).catch(() => undefined);
          if (tail === undefined) continue;
          if (tail.epoch > last && this.queue.length === 0) return this.fail(new UnwindError(ErrorCode.NotLeader, `the order stream holds epoch ${tail.epoch}, past this leader's ${last}`));
          this.tail = tail;
          while (this.queue.length > 0 && this.queue[0]!.epoch <= tail.epoch) this.queue.shift();
          return;
        }
        // determinism: a retry's delay decides when orders reach the stream, not what they are
        await new Promise((resolve) => setTimeout(resolve, Math.min(500, 25 * 2 ** attempt)));
      }
    }
  }

  private fail(e: UnwindError): void {
    if (this.failure !== undefined) return;
    this.failure = e;
    this.queue.length = 0;
    this.o.onFailure(e);
  }
}
