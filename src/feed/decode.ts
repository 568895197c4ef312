/**
 * `decodeFrame`: bytes from the wire -> a plain-object message or a FrameError. Never throws, on any input: the
 * frame is verified structurally (verify.ts) before the generated accessors read it, then every value is checked.
 * The order of checks and the codes are listed in codec.ts.
 */
import * as flatbuffers from 'flatbuffers';
import { isUnwindError } from '../errors.js';
import { describe, requireAmount, requireId, requireNonNegativeAmount, requirePrice, requireSize } from '../validate.js';
import {
  Ack as AckTable,
  AckState as AckStateEnum,
  AccountState as AccountStateTable,
  AccountStates,
  CollateralUpdate as CollateralUpdateStruct,
  CollateralUpdates,
  EngineState as EngineStateEnum,
  EngineStatus,
  ErrorFrame,
  Fill as FillTable,
  Fills,
  KillLevel as KillLevelEnum,
  KillSwitch,
  MarginCall as MarginCallTable,
  MarginCalls,
  MarginMode,
  MarketState as MarketStateEnum,
  MarketStatus,
  Message,
  OrderExpiries,
  PositionUpdate as PositionUpdateStruct,
  PositionUpdates,
  PriceTicks,
  SignedPriceTicks,
  Subscribe,
  Unsubscribe,
} from './generated/unwind_generated.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FILE_IDENTIFIER,
  FrameErrorCode,
  NO_ID,
  SCHEMA_VERSION,
  type AccountState,
  type Ack,
  type CollateralUpdate,
  type DecodeResult,
  type EngineState,
  type FeedMessage,
  type Fill,
  type FrameError,
  type KillLevel,
  type MarginCall,
  type MarketState,
  type PositionUpdate,
  type Topics,
} from './messages.js';
import { ENVELOPE_MESSAGE_ID, ENVELOPE_MESSAGE_TYPE_ID, ENVELOPE_SEQUENCE_ID, ENVELOPE_VERSION_ID, EnvelopeSpec, MESSAGE_SPECS } from './spec.js';
import type { TickBatchBuffer } from './tick-batch.js';
import { FrameVerifier } from './verify.js';
import { enumValue, FieldError, finite, isSequence, nonEmpty, nonNegative, notNaN, positive, sequenceAt, text, timeAt } from './fields.js';
import { readAdlQueue } from './decode-adl.js';
import { readDeleveragings, readSocializedLosses, readUnresolvedDeficits } from './decode-deficits.js';
import { readBookTickers } from './decode-books.js';
import { readDepth } from './decode-depth.js';
import { readOpenOrders, readOrders } from './decode-orders.js';
import { readTakeovers } from './decode-takeovers.js';
import { readInsuranceFunds, readLiquidations, readMarketSummaries, readSettlements } from './decode-venue.js';
import { readTickBatch, readTicks, signaturesOf, type TickBatchMessage } from './decode-ticks.js';

export type { TickBatchMessage };

/** Root offset + file identifier + the smallest table. */
const MIN_FRAME_BYTES = 12;
const IDENT = Array.from(FILE_IDENTIFIER, (c) => c.charCodeAt(0));
const verifier = new FrameVerifier();

function frameError(code: FrameErrorCode, message: string, sequence?: number, field?: string): FrameError {
  const e: { -readonly [K in keyof FrameError]: FrameError[K] } = { kind: 'error', code, message };
  if (field !== undefined) e.field = field;
  if (sequence !== undefined) e.sequence = sequence;
  return e;
}

/**
 * Decodes one frame. `maxBytes` bounds the frame (and so every vector in it). Returns a message, or a FrameError
 * whose code says why the frame was rejected and whose `sequence` (when readable) is the frame's own.
 */
export function decodeFrame(bytes: Uint8Array, maxBytes?: number): DecodeResult;
/**
 * As above, but a PriceTicks or SignedPriceTicks frame is decoded into `ticksInto` (reused; no object per tick)
 * and returned as a `tickBatch` message referring to it; `batch.signed` tells the two apart. Validation and error
 * codes are the same.
 */
export function decodeFrame(
  bytes: Uint8Array,
  maxBytes: number,
  ticksInto: TickBatchBuffer,
): Exclude<DecodeResult, { kind: 'ticks' | 'signedTicks' }> | TickBatchMessage;
export function decodeFrame(bytes: Uint8Array, maxBytes: number = DEFAULT_MAX_FRAME_BYTES, ticksInto?: TickBatchBuffer): DecodeResult | TickBatchMessage {
  try {
    return decodeUnchecked(bytes, maxBytes, ticksInto);
  } catch (e) {
    // Unreachable by design (everything is verified before it is read); kept so the contract holds even for a bug.
    return frameError(FrameErrorCode.MalformedFrame, `frame could not be decoded: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function decodeUnchecked(bytes: Uint8Array, maxBytes: number, ticksInto: TickBatchBuffer | undefined): DecodeResult | TickBatchMessage {
  if (!(bytes instanceof Uint8Array)) return frameError(FrameErrorCode.MalformedFrame, `expected a Uint8Array, got ${describe(bytes)}`);
  const n = bytes.byteLength;
  if (n > maxBytes) return frameError(FrameErrorCode.OversizedFrame, `frame of ${n} bytes exceeds the maximum of ${maxBytes}`);
  if (n < MIN_FRAME_BYTES) return frameError(FrameErrorCode.MalformedFrame, `frame of ${n} bytes is shorter than the minimum of ${MIN_FRAME_BYTES}`);
  for (let i = 0; i < 4; i++) {
    if (bytes[4 + i] !== IDENT[i]) {
      const got = Array.from(bytes.subarray(4, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
      return frameError(FrameErrorCode.BadIdentifier, `expected file identifier "${FILE_IDENTIFIER}" at bytes 4..8, got ${got}`);
    }
  }
  const v = verifier;
  v.reset(bytes);
  const root = v.root();
  if (root < 0 || !v.verifyTable(root, EnvelopeSpec)) return frameError(FrameErrorCode.MalformedFrame, v.failure);

  // The envelope's scalars, read through the verified vtable (not the generated accessors: no objects yet).
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  const vp = v.fieldPosition(root, ENVELOPE_VERSION_ID);
  const version = vp === 0 ? 0 : view.getUint16(vp, true);
  const sp = v.fieldPosition(root, ENVELOPE_SEQUENCE_ID);
  const rawSequence = sp === 0 ? 0 : view.getFloat64(sp, true);
  const sequence = isSequence(rawSequence) ? rawSequence + 0 : undefined;
  if (version !== SCHEMA_VERSION) {
    return frameError(FrameErrorCode.UnsupportedVersion, `expected schema version ${SCHEMA_VERSION}, got ${version}`, sequence);
  }
  if (sequence === undefined) {
    return frameError(FrameErrorCode.InvalidField, `sequence: expected an integer in [0, 2^53), got ${rawSequence}`, undefined, 'sequence');
  }
  const tp = v.fieldPosition(root, ENVELOPE_MESSAGE_TYPE_ID);
  const type = (tp === 0 ? Message.NONE : bytes[tp]!) as Message;
  const target = v.unionTarget(root, ENVELOPE_MESSAGE_ID);
  if (type === Message.NONE || target === 0) {
    return frameError(FrameErrorCode.MalformedFrame, `Envelope.message: expected a message, got ${type === Message.NONE ? 'none' : 'a type without a table'}`, sequence);
  }
  const spec = MESSAGE_SPECS.get(type);
  if (spec === undefined) return frameError(FrameErrorCode.UnknownMessage, `unknown message type ${type} (this receiver knows 1..${MESSAGE_SPECS.size})`, sequence);
  if (!v.verifyTable(target, spec)) return frameError(FrameErrorCode.MalformedFrame, v.failure, sequence);

  try {
    const bb = new flatbuffers.ByteBuffer(bytes);
    if ((type === Message.PriceTicks || type === Message.SignedPriceTicks) && ticksInto !== undefined) {
      return readTickBatch(bb, type, target, sequence, ticksInto);
    }
    return readMessage(bb, type, target, sequence);
  } catch (e) {
    if (e instanceof FieldError || isUnwindError(e)) {
      return frameError(FrameErrorCode.InvalidField, e.message, sequence, e.field);
    }
    throw e;
  }
}

const ACK_STATES = new Map<number, Ack['state']>([
  [AckStateEnum.Accepted, 'accepted'],
  [AckStateEnum.Durable, 'durable'],
]);
const MARGIN_MODES = new Map<number, MarginMode>([
  [MarginMode.Cross, MarginMode.Cross],
  [MarginMode.Isolated, MarginMode.Isolated],
]);
const MARKET_STATES = new Map<number, MarketState>([
  [MarketStateEnum.Paused, 'paused'],
  [MarketStateEnum.Resumed, 'resumed'],
]);
const KILL_LEVELS = new Map<number, KillLevel>([
  [KillLevelEnum.Normal, 'normal'],
  [KillLevelEnum.NoNewLiquidations, 'no-new'],
  [KillLevelEnum.NoReissue, 'no-reissue'],
  [KillLevelEnum.Halt, 'halt'],
]);
const ENGINE_STATES = new Map<number, EngineState>([
  [EngineStateEnum.Starting, 'starting'],
  [EngineStateEnum.Running, 'running'],
  [EngineStateEnum.Paused, 'paused'],
  [EngineStateEnum.Closing, 'closing'],
]);

// ---- messages (the frame is verified: the generated accessors read in range) ----

function readMessage(bb: flatbuffers.ByteBuffer, type: Message, at: number, sequence: number): FeedMessage {
  switch (type) {
    case Message.PriceTicks: {
      const t = new PriceTicks().__init(at, bb);
      const count = t.ticksLength();
      nonEmpty(count, 'ticks');
      return { kind: 'ticks', sequence, ticks: readTicks(t, count) };
    }
    case Message.SignedPriceTicks: {
      // Checked in the fast path's order (readTickBatch), so both report the same first error.
      const t = new SignedPriceTicks().__init(at, bb);
      const count = t.ticksLength();
      nonEmpty(count, 'ticks');
      const signatures = signaturesOf(t, count).slice(); // a copy: the frame's buffer is the caller's
      return { kind: 'signedTicks', sequence, ticks: readTicks(t, count), signatures };
    }
    case Message.BookTickers:
      return { kind: 'books', sequence, books: readBookTickers(bb, at) };
    case Message.Depth:
      return { kind: 'depth', sequence, books: readDepth(bb, at) };
    case Message.KillSwitch: {
      const t = new KillSwitch().__init(at, bb);
      const market = t.market();
      return {
        kind: 'killSwitch',
        sequence,
        level: enumValue(KILL_LEVELS, t.level(), 'level'),
        market: market === NO_ID ? undefined : market,
        reason: text(t.reason(flatbuffers.Encoding.UTF8_BYTES), 'reason'),
      };
    }
    case Message.PositionUpdates: {
      const t = new PositionUpdates().__init(at, bb);
      const count = t.positionsLength();
      nonEmpty(count, 'positions');
      const positions: PositionUpdate[] = new Array<PositionUpdate>(count);
      const s = new PositionUpdateStruct();
      for (let i = 0; i < count; i++) {
        t.positions(i, s);
        const f = `positions[${i}]`;
        const size = requireSize(s.size(), `${f}.size`) + 0;
        const entry = s.entryPrice();
        const mode = enumValue(MARGIN_MODES, s.marginMode(), `${f}.marginMode`);
        const iso = s.isolatedCollateral();
        if (mode === MarginMode.Cross && iso !== 0) throw new FieldError(`${f}.isolatedCollateral`, `expected 0 for a cross position, got ${iso}`);
        positions[i] = {
          account: requireId(s.account(), `${f}.account`),
          market: requireId(s.market(), `${f}.market`),
          size,
          // As the engine: a closed position (size 0) may carry entry price 0.
          entryPrice: size === 0 && entry === 0 ? 0 : requirePrice(entry, `${f}.entryPrice`),
          isolatedCollateral: mode === MarginMode.Isolated ? requireNonNegativeAmount(iso, `${f}.isolatedCollateral`) + 0 : null,
        };
      }
      return { kind: 'positions', sequence, positions };
    }
    case Message.CollateralUpdates: {
      const t = new CollateralUpdates().__init(at, bb);
      const count = t.updatesLength();
      nonEmpty(count, 'updates');
      const updates: CollateralUpdate[] = new Array<CollateralUpdate>(count);
      const s = new CollateralUpdateStruct();
      for (let i = 0; i < count; i++) {
        t.updates(i, s);
        updates[i] = {
          account: requireId(s.account(), `updates[${i}].account`),
          collateral: requireAmount(s.collateral(), `updates[${i}].collateral`) + 0,
        };
      }
      return { kind: 'collateral', sequence, updates };
    }
    case Message.Fills: {
      const t = new Fills().__init(at, bb);
      const count = t.fillsLength();
      nonEmpty(count, 'fills');
      const fills: Fill[] = new Array<Fill>(count);
      const r = new FillTable();
      for (let i = 0; i < count; i++) {
        t.fills(i, r);
        const f = `fills[${i}]`;
        fills[i] = {
          orderId: text(r.orderId(flatbuffers.Encoding.UTF8_BYTES), `${f}.orderId`),
          account: requireId(r.account(), `${f}.account`),
          market: requireId(r.market(), `${f}.market`),
          quantity: positive(r.quantity(), `${f}.quantity`),
          price: requirePrice(r.price(), `${f}.price`),
          eventTimeUs: timeAt(r.eventTimeUs(), `${f}.eventTimeUs`),
        };
      }
      return { kind: 'fills', sequence, fills };
    }
    case Message.OrderExpiries: {
      const t = new OrderExpiries().__init(at, bb);
      const count = t.orderIdsLength();
      nonEmpty(count, 'orderIds');
      const orderIds: string[] = new Array<string>(count);
      const seen = new Set<string>();
      for (let i = 0; i < count; i++) {
        const id = text(t.orderIds(i, flatbuffers.Encoding.UTF8_BYTES), `orderIds[${i}]`);
        // Expiring an order twice is never meant: unlike fills (partial fills of one order), each id appears once.
        if (seen.has(id)) throw new FieldError(`orderIds[${i}]`, `expected each order id once, got ${JSON.stringify(id)} again`);
        seen.add(id);
        orderIds[i] = id;
      }
      return { kind: 'expiries', sequence, orderIds, eventTimeUs: timeAt(t.eventTimeUs(), 'eventTimeUs') };
    }
    case Message.Subscribe:
    case Message.Unsubscribe: {
      const t = (type === Message.Subscribe ? new Subscribe() : new Unsubscribe()).__init(at, bb);
      // Not marketsArray(): a Uint32Array view throws when the frame's byteOffset is not 4-aligned.
      const markets = Array.from({ length: t.marketsLength() }, (_, i) => requireId(t.markets(i), `topics.markets[${i}]`));
      const accounts = Array.from({ length: t.accountsLength() }, (_, i) => requireId(t.accounts(i), `topics.accounts[${i}]`));
      const adlMarkets = Array.from({ length: t.adlMarketsLength() }, (_, i) => requireId(t.adlMarkets(i), `topics.adlMarkets[${i}]`));
      const liquidationMarkets = Array.from({ length: t.liquidationMarketsLength() }, (_, i) => requireId(t.liquidationMarkets(i), `topics.liquidationMarkets[${i}]`));
      const topics: Topics = {
        markets,
        accounts,
        allOrders: t.allOrders(),
        adlMarkets,
        acks: t.acks(),
        liquidationMarkets,
        settlements: t.settlements(),
        insuranceFunds: t.insuranceFunds(),
        marketSummaries: t.marketSummaries(),
      };
      return type === Message.Subscribe ? { kind: 'subscribe', sequence, topics } : { kind: 'unsubscribe', sequence, topics };
    }
    case Message.LiquidationOrders:
      return { kind: 'orders', sequence, orders: readOrders(bb, at) };
    case Message.MarginCalls: {
      const t = new MarginCalls().__init(at, bb);
      const marginCalls: MarginCall[] = [];
      const r = new MarginCallTable();
      for (let i = 0; i < t.callsLength(); i++) {
        t.calls(i, r);
        const f = `marginCalls[${i}]`;
        const market = r.market();
        marginCalls.push({
          epoch: sequenceAt(r.epoch(), `${f}.epoch`),
          account: requireId(r.account(), `${f}.account`),
          market: market === NO_ID ? null : market,
          health: finite(r.health(), `${f}.health`),
          equity: finite(r.equity(), `${f}.equity`),
          maintenanceMargin: nonNegative(r.maintenanceMargin(), `${f}.maintenanceMargin`),
        });
      }
      return { kind: 'marginCalls', sequence, marginCalls };
    }
    case Message.AccountStates:
      return { kind: 'accountStates', sequence, accounts: readAccountStates(new AccountStates().__init(at, bb)) };
    case Message.MarketStatus: {
      const t = new MarketStatus().__init(at, bb);
      return {
        kind: 'marketStatus',
        sequence,
        market: requireId(t.market(), 'market'),
        state: enumValue(MARKET_STATES, t.state(), 'state'),
        reason: text(t.reason(flatbuffers.Encoding.UTF8_BYTES), 'reason'),
        eventTimeUs: timeAt(t.eventTimeUs(), 'eventTimeUs'),
        code: text(t.code(flatbuffers.Encoding.UTF8_BYTES), 'code'),
      };
    }
    case Message.EngineStatus: {
      const t = new EngineStatus().__init(at, bb);
      return {
        kind: 'engineStatus',
        sequence,
        state: enumValue(ENGINE_STATES, t.state(), 'state'),
        epoch: sequenceAt(t.epoch(), 'epoch'),
        lastSequence: sequenceAt(t.lastSequence(), 'lastSequence'),
        markets: t.markets(),
        accounts: t.accounts(),
        positions: t.positions(),
        message: text(t.message(flatbuffers.Encoding.UTF8_BYTES), 'message'),
      };
    }
    case Message.ErrorFrame: {
      const t = new ErrorFrame().__init(at, bb);
      const offending = t.offendingSequence();
      return {
        kind: 'errorFrame',
        sequence,
        code: text(t.code(flatbuffers.Encoding.UTF8_BYTES), 'code'),
        message: text(t.message(flatbuffers.Encoding.UTF8_BYTES), 'message'),
        offendingSequence: offending === -1 ? null : sequenceAt(offending, 'offendingSequence'),
      };
    }
    case Message.AdlQueue:
      return { kind: 'adlQueue', sequence, ...readAdlQueue(bb, at) };
    case Message.Deleveragings:
      return { kind: 'deleveragings', sequence, deleveragings: readDeleveragings(bb, at) };
    case Message.SocializedLosses:
      return { kind: 'socializedLosses', sequence, losses: readSocializedLosses(bb, at) };
    case Message.UnresolvedDeficits:
      return { kind: 'unresolvedDeficits', sequence, deficits: readUnresolvedDeficits(bb, at) };
    case Message.Takeovers:
      return { kind: 'takeovers', sequence, takeovers: readTakeovers(bb, at) };
    case Message.Settlements:
      return { kind: 'settlements', sequence, ...readSettlements(bb, at) };
    case Message.InsuranceFunds:
      return { kind: 'insuranceFunds', sequence, ...readInsuranceFunds(bb, at) };
    case Message.Liquidations:
      return { kind: 'liquidations', sequence, liquidations: readLiquidations(bb, at) };
    case Message.MarketSummaries:
      return { kind: 'marketSummaries', sequence, ...readMarketSummaries(bb, at) };
    case Message.Ack: {
      const t = new AckTable().__init(at, bb);
      const state = enumValue(ACK_STATES, t.state(), 'state');
      const frameSequence = sequenceAt(t.frameSequence(), 'frameSequence');
      const firstSequence = sequenceAt(t.firstSequence(), 'firstSequence');
      const lastSequence = sequenceAt(t.lastSequence(), 'lastSequence');
      // An empty range is first = last + 1; a range that runs backwards further than that is no range.
      if (firstSequence > lastSequence + 1) throw new FieldError('firstSequence', `expected at most lastSequence + 1 = ${lastSequence + 1}, got ${firstSequence}`);
      return {
        kind: 'ack',
        sequence,
        state,
        frameSequence,
        firstSequence,
        lastSequence,
      };
    }
    case Message.OpenOrders:
      return { kind: 'openOrders', sequence, ...readOpenOrders(bb, at) };
    default:
      // MESSAGE_SPECS and this switch list the same kinds (a test encodes every kind); never reached.
      throw new FieldError('messageType', `no reader for message type ${type}`);
  }
}

function readAccountStates(t: AccountStates): AccountState[] {
  const states: AccountState[] = [];
  const r = new AccountStateTable();
  for (let i = 0; i < t.accountsLength(); i++) {
    t.accounts(i, r);
    const f = `accounts[${i}]`;
    states.push({
      account: requireId(r.account(), `${f}.account`),
      epoch: sequenceAt(r.epoch(), `${f}.epoch`),
      collateral: finite(r.collateral(), `${f}.collateral`),
      equity: finite(r.equity(), `${f}.equity`),
      initialMargin: nonNegative(r.initialMargin(), `${f}.initialMargin`),
      maintenanceMargin: nonNegative(r.maintenanceMargin(), `${f}.maintenanceMargin`),
      freeCollateral: finite(r.freeCollateral(), `${f}.freeCollateral`),
      health: notNaN(r.health(), `${f}.health`),
      liquidatable: r.liquidatable(),
      marginCall: r.marginCall(),
    });
  }
  return states;
}
