/**
 * The SHA-256 of the engine's output stream (README "Journal"): every order, margin call, lifecycle change,
 * capped order, fill settlement, deleveraging, socialized loss, market status, unresolved deficit, order timed out
 * and backstop takeover, as canonical
 * JSON lines in the
 * order the engine produced them. The lines are folded into a chain at each epoch boundary,
 * chain' = SHA-256(chain || SHA-256(lines since the last fold)), so that a snapshot can carry the digest as 32
 * bytes and recovery continue it. Same journal, same chain: whatever the worker count, across runs and crashes.
 */
import { createHash, type Hash } from 'node:crypto';
import { toJson } from './payload.js';

export const STREAM_KINDS = ['order', 'marginCall', 'stateChange', 'capped', 'fill', 'deleverage', 'socializedLoss', 'marketStatus', 'unresolvedDeficit', 'timedOut', 'takeover'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

export interface StreamDigestState {
  readonly chain: Uint8Array;
  readonly counts: Readonly<Record<StreamKind, number>>;
}

export class StreamDigest {
  private chain = Buffer.alloc(32);
  private lines: Hash = createHash('sha256');
  private pending = 0;
  readonly counts: Record<StreamKind, number> = Object.fromEntries(STREAM_KINDS.map((k) => [k, 0])) as Record<StreamKind, number>;

  add(kind: StreamKind, value: unknown): void {
    this.lines.update(`${kind}\t${toJson(value)}\n`);
    this.pending++;
    this.counts[kind]++;
  }

  /** Closes the lines since the last fold into the chain (nothing when there were none). */
  fold(): void {
    if (this.pending === 0) return;
    this.chain = createHash('sha256').update(this.chain).update(this.lines.digest()).digest();
    this.lines = createHash('sha256');
    this.pending = 0;
  }

  /** The digest so far, hex. Reading it changes nothing: pending lines are folded into a copy. */
  hex(): string {
    const chain = this.pending === 0 ? this.chain : createHash('sha256').update(this.chain).update(this.lines.copy().digest()).digest();
    return chain.toString('hex');
  }

  /** Taken right after a fold (an epoch's start), so no line is pending. */
  exportState(): StreamDigestState {
    if (this.pending !== 0) throw new Error('stream digest exported with lines pending');
    return { chain: new Uint8Array(this.chain), counts: { ...this.counts } };
  }
  importState(s: StreamDigestState): void {
    this.chain = Buffer.from(s.chain);
    Object.assign(this.counts, s.counts);
  }
}
