/**
 * Reads verified Settlements, InsuranceFunds, Liquidations and MarketSummaries tables (schemas/unwind.fbs), checking
 * every value; a value out of its domain throws a FieldError naming it (`settlements[0].feeAtoms`), which
 * `decodeFrame` answers INVALID_FIELD.
 *
 * Money in Settlements and InsuranceFunds is int64 atoms (a BigInt here); `quoteDecimals` says how many atoms make a
 * quote unit. Besides each value's domain, a settlement's deficit fields must agree with one another.
 */
import * as flatbuffers from 'flatbuffers';
import { requireId } from '../validate.js';
import {
  DeficitReason as DeficitReasonEnum,
  DeficitResolution as DeficitResolutionEnum,
  FillSettlement as FillSettlementTable,
  InsuranceFund as InsuranceFundTable,
  InsuranceFunds,
  KillLevel as KillLevelEnum,
  Liquidation as LiquidationTable,
  LiquidationKind as LiquidationKindEnum,
  Liquidations,
  MarketSummaries,
  MarketSummary as MarketSummaryTable,
  Settlements,
  Side,
} from './generated/unwind_generated.js';
import { enumValue, FieldError, finite, nonEmpty, nonNegative, positive, sequenceAt, text, timeAt } from './fields.js';
import {
  NO_ID,
  type DeficitReason,
  type DeficitResolution,
  type FillSettlement,
  type InsuranceFundBalance,
  type InsuranceFundsUpdate,
  type KillLevel,
  type Liquidation,
  type LiquidationKind,
  type MarketSummariesUpdate,
  type MarketSummary,
} from './messages.js';

const SIDES = new Map<number, 'buy' | 'sell'>([
  [Side.Buy, 'buy'],
  [Side.Sell, 'sell'],
]);
const RESOLUTIONS = new Map<number, DeficitResolution>([
  [DeficitResolutionEnum.NoDeficit, 'none'],
  [DeficitResolutionEnum.Deleveraged, 'deleveraged'],
  [DeficitResolutionEnum.Socialized, 'socialized'],
  [DeficitResolutionEnum.Unresolved, 'unresolved'],
  [DeficitResolutionEnum.Pending, 'pending'],
]);
const REASONS = new Map<number, DeficitReason>([
  [DeficitReasonEnum.NoCounterparty, 'no-counterparty'],
  [DeficitReasonEnum.Halted, 'halted'],
  [DeficitReasonEnum.AutoDeleverageOff, 'auto-deleverage-off'],
]);
const KINDS = new Map<number, LiquidationKind>([
  [LiquidationKindEnum.Fill, 'fill'],
  [LiquidationKindEnum.Takeover, 'takeover'],
]);
const KILL_LEVELS = new Map<number, KillLevel>([
  [KillLevelEnum.Normal, 'normal'],
  [KillLevelEnum.NoNewLiquidations, 'no-new'],
  [KillLevelEnum.NoReissue, 'no-reissue'],
  [KillLevelEnum.Halt, 'halt'],
]);

/** The most decimals a quote currency may have (src/ledger/money.ts). */
const MAX_QUOTE_DECIMALS = 12;

function quoteDecimalsAt(x: number): number {
  if (x > MAX_QUOTE_DECIMALS) throw new FieldError('quoteDecimals', `expected an integer in [0, ${MAX_QUOTE_DECIMALS}], got ${x}`);
  return x;
}
function nonNegativeAtoms(x: bigint, field: string): bigint {
  if (x < 0n) throw new FieldError(field, `expected atoms >= 0, got ${x}`);
  return x;
}

/** The deficit fields of one settlement agree: what was placed is consistent with how. */
function checkResolution(s: FillSettlement, f: string): void {
  const none = s.resolution === 'none';
  if (none !== (s.deficitAtoms === 0n)) throw new FieldError(`${f}.resolution`, `expected ${none ? 'a deficit > 0' : "'none'"} with deficitAtoms ${s.deficitAtoms}, got '${s.resolution}'`);
  if ((s.unresolvedReason === null) !== (s.unresolvedAtoms === 0n)) {
    throw new FieldError(`${f}.unresolvedReason`, `expected ${s.unresolvedAtoms === 0n ? 'none' : 'a reason'} with unresolvedAtoms ${s.unresolvedAtoms}, got ${s.unresolvedReason ?? 'none'}`);
  }
  const placed = { deleveraged: s.deleveragings > 0, socialized: s.socializedAtoms > 0n, unresolved: s.unresolvedAtoms > 0n };
  const expected: DeficitResolution = none ? 'none' : placed.unresolved ? 'unresolved' : placed.deleveraged ? 'deleveraged' : placed.socialized ? 'socialized' : 'pending';
  if (s.resolution !== expected) {
    throw new FieldError(`${f}.resolution`, `expected '${expected}' (deleveragings ${s.deleveragings}, socializedAtoms ${s.socializedAtoms}, unresolvedAtoms ${s.unresolvedAtoms}), got '${s.resolution}'`);
  }
}

export function readSettlements(bb: flatbuffers.ByteBuffer, at: number): { quoteDecimals: number; settlements: FillSettlement[] } {
  const t = new Settlements().__init(at, bb);
  const quoteDecimals = quoteDecimalsAt(t.quoteDecimals());
  const n = t.settlementsLength();
  nonEmpty(n, 'settlements');
  const out = new Array<FillSettlement>(n);
  const r = new FillSettlementTable();
  for (let i = 0; i < n; i++) {
    t.settlements(i, r);
    const f = `settlements[${i}]`;
    const quantity = positive(r.quantity(), `${f}.quantity`);
    const closed = nonNegative(r.closed(), `${f}.closed`);
    if (closed > quantity) throw new FieldError(`${f}.closed`, `expected at most the quantity ${quantity}, got ${closed}`);
    const reason = r.unresolvedReason();
    const s: FillSettlement = {
      sequence: sequenceAt(r.sequence(), `${f}.sequence`),
      orderId: text(r.orderId(flatbuffers.Encoding.UTF8_BYTES), `${f}.orderId`),
      account: requireId(r.account(), `${f}.account`),
      market: requireId(r.market(), `${f}.market`),
      side: enumValue(SIDES, r.side(), `${f}.side`),
      quantity,
      price: positive(r.price(), `${f}.price`),
      eventTimeUs: timeAt(r.eventTimeUs(), `${f}.eventTimeUs`),
      closed,
      sizeAfter: finite(r.sizeAfter(), `${f}.sizeAfter`),
      orderRemaining: nonNegative(r.orderRemaining(), `${f}.orderRemaining`),
      realizedPnlAtoms: r.realizedPnlAtoms(),
      feeAtoms: nonNegativeAtoms(r.feeAtoms(), `${f}.feeAtoms`),
      insuranceCoverAtoms: nonNegativeAtoms(r.insuranceCoverAtoms(), `${f}.insuranceCoverAtoms`),
      deficitAtoms: nonNegativeAtoms(r.deficitAtoms(), `${f}.deficitAtoms`),
      collateralAfterAtoms: r.collateralAfterAtoms(),
      bankruptcyValue: finite(r.bankruptcyValue(), `${f}.bankruptcyValue`),
      resolution: enumValue(RESOLUTIONS, r.resolution(), `${f}.resolution`),
      deleveragings: r.deleveragings(),
      socializedAtoms: nonNegativeAtoms(r.socializedAtoms(), `${f}.socializedAtoms`),
      unresolvedAtoms: nonNegativeAtoms(r.unresolvedAtoms(), `${f}.unresolvedAtoms`),
      unresolvedReason: reason === DeficitReasonEnum.Unset ? null : enumValue(REASONS, reason, `${f}.unresolvedReason`),
    };
    checkResolution(s, f);
    out[i] = s;
  }
  return { quoteDecimals, settlements: out };
}

export function readInsuranceFunds(bb: flatbuffers.ByteBuffer, at: number): InsuranceFundsUpdate {
  const t = new InsuranceFunds().__init(at, bb);
  const n = t.fundsLength();
  nonEmpty(n, 'funds');
  const funds = new Array<InsuranceFundBalance>(n);
  const seen = new Set<number>();
  const r = new InsuranceFundTable();
  for (let i = 0; i < n; i++) {
    t.funds(i, r);
    const id = r.market();
    if (seen.has(id)) throw new FieldError(`funds[${i}].market`, `expected each fund once, got ${id} again`);
    seen.add(id);
    funds[i] = { market: id === NO_ID ? 'pooled' : id, balanceAtoms: r.balanceAtoms() };
  }
  return { epoch: sequenceAt(t.epoch(), 'epoch'), quoteDecimals: quoteDecimalsAt(t.quoteDecimals()), snapshot: t.snapshot(), funds };
}

export function readLiquidations(bb: flatbuffers.ByteBuffer, at: number): Liquidation[] {
  const t = new Liquidations().__init(at, bb);
  const n = t.liquidationsLength();
  nonEmpty(n, 'liquidations');
  const out = new Array<Liquidation>(n);
  const r = new LiquidationTable();
  for (let i = 0; i < n; i++) {
    t.liquidations(i, r);
    const f = `liquidations[${i}]`;
    out[i] = {
      sequence: sequenceAt(r.sequence(), `${f}.sequence`),
      market: requireId(r.market(), `${f}.market`),
      symbol: text(r.symbol(flatbuffers.Encoding.UTF8_BYTES), `${f}.symbol`),
      side: enumValue(SIDES, r.side(), `${f}.side`),
      price: positive(r.price(), `${f}.price`),
      amount: positive(r.amount(), `${f}.amount`),
      eventTimeUs: timeAt(r.eventTimeUs(), `${f}.eventTimeUs`),
      kind: enumValue(KINDS, r.kind(), `${f}.kind`),
    };
  }
  return out;
}

export function readMarketSummaries(bb: flatbuffers.ByteBuffer, at: number): MarketSummariesUpdate {
  const t = new MarketSummaries().__init(at, bb);
  const n = t.marketsLength();
  const markets = new Array<MarketSummary>(n);
  const seen = new Set<number>();
  const r = new MarketSummaryTable();
  for (let i = 0; i < n; i++) {
    t.markets(i, r);
    const f = `markets[${i}]`;
    const market = requireId(r.market(), `${f}.market`);
    if (seen.has(market)) throw new FieldError(`${f}.market`, `expected each market once, got ${market} again`);
    seen.add(market);
    markets[i] = {
      market,
      symbol: text(r.symbol(flatbuffers.Encoding.UTF8_BYTES), `${f}.symbol`),
      markPrice: positive(r.markPrice(), `${f}.markPrice`),
      oraclePrice: positive(r.oraclePrice(), `${f}.oraclePrice`),
      paused: r.paused(),
      killLevel: enumValue(KILL_LEVELS, r.killLevel(), `${f}.killLevel`),
      code: text(r.code(flatbuffers.Encoding.UTF8_BYTES), `${f}.code`),
      reason: text(r.reason(flatbuffers.Encoding.UTF8_BYTES), `${f}.reason`),
    };
  }
  const latency = t.tickToOrderUs();
  if (latency !== -1 && !(Number.isFinite(latency) && latency >= 0)) {
    throw new FieldError('tickToOrderUs', `expected -1 (not measured) or a finite number of microseconds >= 0, got ${latency}`);
  }
  return { epoch: sequenceAt(t.epoch(), 'epoch'), snapshot: t.snapshot(), markets, orders: t.orders(), tickToOrderUs: latency === -1 ? null : latency + 0 };
}
