/**
 * Reads verified Deleveragings, SocializedLosses and UnresolvedDeficits tables (schemas/unwind.fbs) into message
 * bodies, checking every value; a value out of its domain throws a FieldError naming it
 * (`deleveragings[0].counterparties[3].index`), which `decodeFrame` answers INVALID_FIELD.
 *
 * Besides each number's domain, the rows of a record are checked against its counts: `index` strictly increasing
 * and below `counterpartyCount` / `shareCount`, and a `continued` record (one cut short, continued in the next frame
 * of its kind) must be the last of its frame, carry at least one row, and leave rows for the next part.
 */
import * as flatbuffers from 'flatbuffers';
import { requireId } from '../validate.js';
import {
  DeficitReason as DeficitReasonEnum,
  LossMethod as LossMethodEnum,
  DeleveragedCounterparty as DeleveragedCounterpartyStruct,
  Deleveraging as DeleveragingTable,
  Deleveragings,
  LossShare as LossShareStruct,
  SocializedLoss as SocializedLossTable,
  SocializedLosses,
  UnresolvedDeficit as UnresolvedDeficitTable,
  UnresolvedDeficits,
} from './generated/unwind_generated.js';
import { enumValue, FieldError, finite, nonEmpty, nonNegative, positive, sequenceAt, text } from './fields.js';
import type { DeficitReason, DeleveragedCounterparty, Deleveraging, LossMethod, LossShare, SocializedLoss, UnresolvedDeficit } from './messages.js';

const METHODS = new Map<number, LossMethod>([
  [LossMethodEnum.ProRata, 'pro-rata'],
  [LossMethodEnum.AdlQueue, 'adl-queue'],
]);

const REASONS = new Map<number, DeficitReason>([
  [DeficitReasonEnum.NoCounterparty, 'no-counterparty'],
  [DeficitReasonEnum.Halted, 'halted'],
  [DeficitReasonEnum.AutoDeleverageOff, 'auto-deleverage-off'],
]);

/** A record's count of rows in all (`counterpartyCount`, `shareCount`): at least the rows it carries. Checked before them. */
function countAt(count: number, rows: number, field: string): number {
  if (count < rows) throw new FieldError(field, `expected at least the ${rows} rows of the record, got ${count}`);
  return count;
}

/**
 * A continued record is the frame's last, has a row, and its last row is not the whole record's last (`lastIndex`
 * is -1 without rows).
 */
function checkContinued(f: string, rows: number, count: number, lastIndex: number, continued: boolean, last: boolean): void {
  if (!continued) return;
  if (!last) throw new FieldError(`${f}.continued`, 'expected only on the last record of a frame');
  if (rows === 0 || lastIndex >= count - 1) {
    throw new FieldError(`${f}.continued`, `expected rows left for the next part (last index ${lastIndex} of ${count})`);
  }
}

/** A row's `index`: strictly above the previous row's, below the record's count. */
function indexAt(index: number, previous: number, count: number, field: string): number {
  if (index <= previous || index >= count) throw new FieldError(field, `expected an integer in (${previous}, ${count}) (0-based, increasing), got ${index}`);
  return index;
}

export function readDeleveragings(bb: flatbuffers.ByteBuffer, at: number): Deleveraging[] {
  const t = new Deleveragings().__init(at, bb);
  const n = t.deleveragingsLength();
  nonEmpty(n, 'deleveragings');
  const out: Deleveraging[] = new Array<Deleveraging>(n);
  const r = new DeleveragingTable();
  const s = new DeleveragedCounterpartyStruct();
  for (let i = 0; i < n; i++) {
    t.deleveragings(i, r);
    const f = `deleveragings[${i}]`;
    const rows = r.counterpartiesLength();
    const count = countAt(r.counterpartyCount(), rows, `${f}.counterpartyCount`);
    const counterparties: DeleveragedCounterparty[] = new Array<DeleveragedCounterparty>(rows);
    let previous = -1;
    let side = 0;
    for (let j = 0; j < rows; j++) {
      r.counterparties(j, s);
      const g = `${f}.counterparties[${j}]`;
      const account = requireId(s.account(), `${g}.account`);
      previous = indexAt(s.index(), previous, count, `${g}.index`);
      const quantity = positive(s.quantity(), `${g}.quantity`);
      const realizedPnl = finite(s.realizedPnl(), `${g}.realizedPnl`);
      const sizeAfter = finite(s.sizeAfter(), `${g}.sizeAfter`);
      // Every counterparty is on the side opposite to the bankrupt position: one sign, or 0 once closed.
      const sign = Math.sign(sizeAfter);
      if (sign !== 0 && side !== 0 && sign !== side) throw new FieldError(`${g}.sizeAfter`, `expected a size of sign ${side} like the other counterparties, or 0, got ${sizeAfter}`);
      if (sign !== 0) side = sign;
      counterparties[j] = { account, index: previous, quantity, realizedPnl, sizeAfter };
    }
    const continued = r.continued();
    checkContinued(f, rows, count, previous, continued, i === n - 1);
    const orderId = r.orderId(flatbuffers.Encoding.UTF8_BYTES);
    out[i] = {
      sequence: sequenceAt(r.sequence(), `${f}.sequence`),
      account: requireId(r.account(), `${f}.account`),
      market: requireId(r.market(), `${f}.market`),
      orderId: orderId === null ? null : text(orderId, `${f}.orderId`),
      bankruptcyPrice: positive(r.bankruptcyPrice(), `${f}.bankruptcyPrice`),
      markPrice: positive(r.markPrice(), `${f}.markPrice`),
      absorbed: finite(r.absorbed(), `${f}.absorbed`),
      matched: nonNegative(r.matched(), `${f}.matched`),
      remainder: nonNegative(r.remainder(), `${f}.remainder`),
      realizedPnl: finite(r.realizedPnl(), `${f}.realizedPnl`),
      counterparties,
      counterpartyCount: count,
      continued,
    };
  }
  return out;
}

export function readSocializedLosses(bb: flatbuffers.ByteBuffer, at: number): SocializedLoss[] {
  const t = new SocializedLosses().__init(at, bb);
  const n = t.lossesLength();
  nonEmpty(n, 'losses');
  const out: SocializedLoss[] = new Array<SocializedLoss>(n);
  const r = new SocializedLossTable();
  const s = new LossShareStruct();
  for (let i = 0; i < n; i++) {
    t.losses(i, r);
    const f = `losses[${i}]`;
    const rows = r.sharesLength();
    const count = countAt(r.shareCount(), rows, `${f}.shareCount`);
    const shares: LossShare[] = new Array<LossShare>(rows);
    let previous = -1;
    for (let j = 0; j < rows; j++) {
      r.shares(j, s);
      const g = `${f}.shares[${j}]`;
      const account = requireId(s.account(), `${g}.account`);
      previous = indexAt(s.index(), previous, count, `${g}.index`);
      shares[j] = { account, index: previous, amount: nonNegative(s.amount(), `${g}.amount`) };
    }
    const continued = r.continued();
    checkContinued(f, rows, count, previous, continued, i === n - 1);
    out[i] = {
      sequence: sequenceAt(r.sequence(), `${f}.sequence`),
      account: requireId(r.account(), `${f}.account`),
      market: requireId(r.market(), `${f}.market`),
      amount: positive(r.amount(), `${f}.amount`),
      shares,
      shareCount: count,
      continued,
      method: enumValue(METHODS, r.method(), `${f}.method`),
    };
  }
  return out;
}

export function readUnresolvedDeficits(bb: flatbuffers.ByteBuffer, at: number): UnresolvedDeficit[] {
  const t = new UnresolvedDeficits().__init(at, bb);
  const n = t.deficitsLength();
  nonEmpty(n, 'deficits');
  const out: UnresolvedDeficit[] = new Array<UnresolvedDeficit>(n);
  const r = new UnresolvedDeficitTable();
  for (let i = 0; i < n; i++) {
    t.deficits(i, r);
    const f = `deficits[${i}]`;
    out[i] = {
      sequence: sequenceAt(r.sequence(), `${f}.sequence`),
      account: requireId(r.account(), `${f}.account`),
      market: requireId(r.market(), `${f}.market`),
      amount: positive(r.amount(), `${f}.amount`),
      reason: enumValue(REASONS, r.reason(), `${f}.reason`),
    };
  }
  return out;
}
