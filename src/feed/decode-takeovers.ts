/**
 * Reads a verified Takeovers table (schemas/unwind.fbs) into backstop takeovers, checking every value; a value out of
 * its domain throws a FieldError naming it (`takeovers[0].settlement.fee`), which `decodeFrame` answers INVALID_FIELD.
 *
 * Besides each number's domain, the settlement must be the takeover's own: the fill of its id, for its account and
 * market, landed at its sequence.
 */
import * as flatbuffers from 'flatbuffers';
import { requireId } from '../validate.js';
import { Settlement as SettlementTable, Takeover as TakeoverTable, Takeovers } from './generated/unwind_generated.js';
import { FieldError, finite, nonEmpty, nonNegative, positive, sequenceAt, text, timeAt } from './fields.js';
import type { Settlement, Takeover } from './messages.js';

function readSettlement(s: SettlementTable, f: string): Settlement {
  return {
    orderId: text(s.orderId(flatbuffers.Encoding.UTF8_BYTES), `${f}.orderId`),
    account: requireId(s.account(), `${f}.account`),
    market: requireId(s.market(), `${f}.market`),
    quantity: positive(s.quantity(), `${f}.quantity`),
    price: positive(s.price(), `${f}.price`),
    eventTimeUs: timeAt(s.eventTimeUs(), `${f}.eventTimeUs`),
    sequence: sequenceAt(s.sequence(), `${f}.sequence`),
    closed: nonNegative(s.closed(), `${f}.closed`),
    realizedPnl: finite(s.realizedPnl(), `${f}.realizedPnl`),
    fee: nonNegative(s.fee(), `${f}.fee`),
    insuranceCover: nonNegative(s.insuranceCover(), `${f}.insuranceCover`),
    deficit: nonNegative(s.deficit(), `${f}.deficit`),
    bankruptcyValue: finite(s.bankruptcyValue(), `${f}.bankruptcyValue`),
    sizeAfter: finite(s.sizeAfter(), `${f}.sizeAfter`),
    collateralAfter: finite(s.collateralAfter(), `${f}.collateralAfter`),
    orderRemaining: nonNegative(s.orderRemaining(), `${f}.orderRemaining`),
  };
}

/** The settlement names the takeover's id, account, market and sequence, or the record contradicts itself. */
function checkOwn(t: Pick<Takeover, 'id' | 'account' | 'market' | 'sequence'>, s: Settlement, f: string): void {
  const own = [
    ['orderId', s.orderId, t.id],
    ['account', s.account, t.account],
    ['market', s.market, t.market],
    ['sequence', s.sequence, t.sequence],
  ] as const;
  for (const [field, got, want] of own) {
    if (got !== want) throw new FieldError(`${f}.settlement.${field}`, `expected the takeover's ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
}

export function readTakeovers(bb: flatbuffers.ByteBuffer, at: number): Takeover[] {
  const t = new Takeovers().__init(at, bb);
  const n = t.takeoversLength();
  nonEmpty(n, 'takeovers');
  const out: Takeover[] = new Array<Takeover>(n);
  const r = new TakeoverTable();
  const s = new SettlementTable();
  for (let i = 0; i < n; i++) {
    t.takeovers(i, r);
    const f = `takeovers[${i}]`;
    const head = {
      sequence: sequenceAt(r.sequence(), `${f}.sequence`),
      id: text(r.id(flatbuffers.Encoding.UTF8_BYTES), `${f}.id`),
      account: requireId(r.account(), `${f}.account`),
      market: requireId(r.market(), `${f}.market`),
      vault: requireId(r.vault(), `${f}.vault`),
      quantity: positive(r.quantity(), `${f}.quantity`),
      price: positive(r.price(), `${f}.price`),
      markPrice: positive(r.markPrice(), `${f}.markPrice`),
    };
    // Verified as required: the accessor finds it.
    const settlement = readSettlement(r.settlement(s)!, `${f}.settlement`);
    checkOwn(head, settlement, f);
    out[i] = {
      ...head,
      settlement,
      vaultSizeAfter: finite(r.vaultSizeAfter(), `${f}.vaultSizeAfter`),
      vaultEntryPrice: nonNegative(r.vaultEntryPrice(), `${f}.vaultEntryPrice`),
      vaultRealizedPnl: finite(r.vaultRealizedPnl(), `${f}.vaultRealizedPnl`),
      vaultCollateralAfter: finite(r.vaultCollateralAfter(), `${f}.vaultCollateralAfter`),
    };
  }
  return out;
}
