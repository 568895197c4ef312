/**
 * Reads a verified AdlQueue table (schemas/unwind.fbs) into an AdlQueue message body, checking every value; a value
 * out of its domain throws a FieldError naming it (`entries[3].rank`), which `decodeFrame` answers INVALID_FIELD.
 */
import type * as flatbuffers from 'flatbuffers';
import { requireId } from '../validate.js';
import { AdlEntry as AdlEntryStruct, AdlQueue as AdlQueueTable, PositionsSide } from './generated/unwind_generated.js';
import { enumValue, FieldError, finite, notNaN, sequenceAt } from './fields.js';
import type { AdlEntry, AdlQueue } from './messages.js';

const SIDES = new Map<number, 1 | -1>([
  [PositionsSide.Long, 1],
  [PositionsSide.Short, -1],
]);

export function readAdlQueue(bb: flatbuffers.ByteBuffer, at: number): AdlQueue {
  const t = new AdlQueueTable().__init(at, bb);
  const positionsSide = enumValue(SIDES, t.positionsSide(), 'positionsSide');
  const count = t.entriesLength();
  const queueLength = t.queueLength();
  if (queueLength < count) throw new FieldError('queueLength', `expected at least the ${count} entries of the frame, got ${queueLength}`);
  const entries: AdlEntry[] = new Array<AdlEntry>(count);
  const s = new AdlEntryStruct();
  let previous = 0;
  for (let i = 0; i < count; i++) {
    t.entries(i, s);
    const f = `entries[${i}]`;
    const queuePosition = s.queuePosition();
    if (queuePosition <= previous || queuePosition > queueLength) {
      throw new FieldError(`${f}.queuePosition`, `expected an integer in (${previous}, ${queueLength}] (1-based, increasing), got ${queuePosition}`);
    }
    previous = queuePosition;
    const size = s.size();
    if (!Number.isFinite(size) || Math.sign(size) !== positionsSide) {
      throw new FieldError(`${f}.size`, `expected a finite size of sign ${positionsSide} (positionsSide), got ${size}`);
    }
    const leverage = notNaN(s.effectiveLeverage(), `${f}.effectiveLeverage`);
    if (leverage < 0) throw new FieldError(`${f}.effectiveLeverage`, `expected a number >= 0 (Infinity allowed), got ${leverage}`);
    entries[i] = {
      account: requireId(s.account(), `${f}.account`),
      queuePosition,
      size,
      rank: notNaN(s.rank(), `${f}.rank`),
      pnlPercent: finite(s.pnlPercent(), `${f}.pnlPercent`),
      effectiveLeverage: leverage,
    };
  }
  return { market: requireId(t.market(), 'market'), positionsSide, epoch: sequenceAt(t.epoch(), 'epoch'), queueLength, entries };
}
