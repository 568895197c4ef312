/**
 * The binary feed codec: typed encoders of every message kind (one reused FlatBuffers Builder, a fresh Uint8Array
 * per frame) and `decodeFrame`, which never throws: it returns a plain-object message or a FrameError with a stable
 * code. Frame layout and units: schemas/unwind.fbs; error codes: messages.ts (FrameErrorCode).
 *
 * Decoding, in order (the first failure wins):
 *   OVERSIZED_FRAME      bytes.length > maxBytes (checked before reading a byte)
 *   MALFORMED_FRAME      shorter than root offset + identifier + a table (12 bytes)
 *   BAD_IDENTIFIER       bytes 4..8 are not "UNWD"
 *   MALFORMED_FRAME      the Envelope table, its vtable or its union offset out of range (verify.ts)
 *   UNSUPPORTED_VERSION  Envelope.version is not SCHEMA_VERSION (the body of another version is not read)
 *   INVALID_FIELD        Envelope.sequence not an integer in [0, 2^53)
 *   UNKNOWN_MESSAGE      a union type this version does not know; MALFORMED_FRAME when there is none
 *   MALFORMED_FRAME      the message table, any vector, string or nested table out of range
 *   INVALID_FIELD        a value out of its domain, `field` naming it (src/validate.ts where it fits)
 * Every error after the envelope check carries the frame's `sequence`, to echo in the ErrorFrame.
 *
 * Encoders do not validate: the receiver does. Encoding NaN yields a frame that decodes to INVALID_FIELD.
 */
import * as flatbuffers from 'flatbuffers';
import {
  Ack as AckTable,
  AckState as AckStateEnum,
  AdlEntry as AdlEntryStruct,
  AdlQueue as AdlQueueTable,
  AccountState as AccountStateTable,
  AccountStates,
  BookTicker as BookTickerStruct,
  BookTickers,
  CollateralUpdate as CollateralUpdateStruct,
  CollateralUpdates,
  DeficitReason as DeficitReasonEnum,
  Depth,
  LossMethod as LossMethodEnum,
  DeleveragedCounterparty as DeleveragedCounterpartyStruct,
  Deleveraging as DeleveragingTable,
  Deleveragings,
  EngineState as EngineStateEnum,
  EngineStatus,
  Envelope,
  ErrorFrame,
  DeficitResolution as DeficitResolutionEnum,
  Fill as FillTable,
  Fills,
  FillSettlement as FillSettlementTable,
  InsuranceFund as InsuranceFundTable,
  InsuranceFunds,
  KillLevel as KillLevelEnum,
  Liquidation as LiquidationTable,
  LiquidationKind as LiquidationKindEnum,
  Liquidations,
  MarketSummaries,
  MarketSummary as MarketSummaryTable,
  KillSwitch,
  LiquidationOrder as LiquidationOrderTable,
  LiquidationOrders,
  LossShare as LossShareStruct,
  MarginCall as MarginCallTable,
  MarginCalls,
  MarginMode,
  MarketDepth as MarketDepthStruct,
  MarketState as MarketStateEnum,
  MarketStatus,
  Message,
  OpenOrder as OpenOrderTable,
  OpenOrders,
  OrderExpiries,
  OrderReason,
  PositionsSide,
  PositionUpdate as PositionUpdateStruct,
  PositionUpdates,
  PriceTicks,
  SchemaVersion,
  Settlement as SettlementTable,
  Settlements,
  Side,
  SignedPriceTicks,
  SocializedLoss as SocializedLossTable,
  SocializedLosses,
  Subscribe,
  Takeover as TakeoverTable,
  Takeovers,
  Tick as TickStruct,
  UnresolvedDeficit as UnresolvedDeficitTable,
  UnresolvedDeficits,
  Unsubscribe,
} from './generated/unwind_generated.js';
import {
  FILE_IDENTIFIER,
  NO_ID,
  type AccountState,
  type Ack,
  type AdlQueue,
  type BookTop,
  type CollateralUpdate,
  type DeficitReason,
  type DeficitResolution,
  type FillSettlement,
  type InsuranceFundsUpdate,
  type Liquidation,
  type LiquidationKind,
  type LossMethod,
  type MarketSummariesUpdate,
  type Deleveraging,
  type EngineState,
  type FeedMessage,
  type Fill,
  type KillLevel,
  type LiquidationOrder,
  type MarginCall,
  type MarketDepth,
  type MarketState,
  type OpenOrdersPart,
  type PositionUpdate,
  type SocializedLoss,
  type Takeover,
  type Tick,
  type Topics,
  type UnresolvedDeficit,
} from './messages.js';

import { ENVELOPE_SEQUENCE_ID } from './spec.js';

export * from './messages.js';
export * from '../oracle/signing.js';

// ---- encoding ----

const builder = new flatbuffers.Builder(4096);

/** Starts a frame: clears the shared builder (frames are encoded one at a time; the JS thread is single). */
function begin(): flatbuffers.Builder {
  builder.clear();
  return builder;
}

/** Wraps `message` in the Envelope and returns a copy of the frame (the builder's memory is reused). */
function finish(sequence: number, type: Message, message: flatbuffers.Offset): Uint8Array {
  const b = builder;
  // The sequence is written even when 0, so setFrameSequence can always patch it in place.
  b.forceDefaults(true);
  Envelope.startEnvelope(b);
  Envelope.addVersion(b, SchemaVersion.V1);
  Envelope.addSequence(b, sequence);
  Envelope.addMessageType(b, type);
  Envelope.addMessage(b, message);
  const envelope = Envelope.endEnvelope(b);
  b.forceDefaults(false);
  b.finish(envelope, FILE_IDENTIFIER);
  return b.asUint8Array().slice();
}

/**
 * Rewrites `Envelope.sequence` of a frame made by these encoders, in place: one encoded frame is sent to many
 * connections, each with its own sequence. The frame must come from this codec (which always writes the field).
 */
export function setFrameSequence(frame: Uint8Array, sequence: number): void {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const table = view.getUint32(0, true);
  const vtable = table - view.getInt32(table, true);
  const slot = 4 + 2 * ENVELOPE_SEQUENCE_ID;
  const offset = slot < view.getUint16(vtable, true) ? view.getUint16(vtable + slot, true) : 0;
  if (offset === 0) throw new RangeError('frame has no Envelope.sequence field: not made by this codec');
  view.setFloat64(table + offset, sequence, true);
}

/** Encodes a PriceTicks frame (a source's ticks) with Envelope.sequence `sequence`. */
export function encodeTicks(sequence: number, ticks: readonly Tick[]): Uint8Array {
  const b = begin();
  PriceTicks.startTicksVector(b, ticks.length);
  for (let i = ticks.length - 1; i >= 0; i--) {
    const t = ticks[i]!;
    TickStruct.createTick(b, t.market, t.source, t.price, t.confidence, t.eventTimeUs, t.sourceSequence);
  }
  return finish(sequence, Message.PriceTicks, PriceTicks.createPriceTicks(b, b.endVector()));
}

/**
 * Ticks with their sources' Ed25519 signatures: `signatures` holds 64 bytes per tick, bytes [64 i, 64 i + 64)
 * signing tickSigningBytes(ticks[i]) (src/oracle/signing.ts). Written as given: a wrong length decodes to INVALID_FIELD.
 */
export function encodeSignedPriceTicks(sequence: number, ticks: readonly Tick[], signatures: Uint8Array): Uint8Array {
  const b = begin();
  const sigs = b.createByteVector(signatures); // before the ticks: a builder writes one vector at a time
  SignedPriceTicks.startTicksVector(b, ticks.length);
  for (let i = ticks.length - 1; i >= 0; i--) {
    const t = ticks[i]!;
    TickStruct.createTick(b, t.market, t.source, t.price, t.confidence, t.eventTimeUs, t.sourceSequence);
  }
  return finish(sequence, Message.SignedPriceTicks, SignedPriceTicks.createSignedPriceTicks(b, b.endVector(), sigs));
}

/** Tops of the matching engine's books (0 for a bid, ask or last it does not know). */
export function encodeBookTickers(sequence: number, books: readonly BookTop[]): Uint8Array {
  const b = begin();
  BookTickers.startBooksVector(b, books.length);
  for (let i = books.length - 1; i >= 0; i--) {
    const t = books[i]!;
    BookTickerStruct.createBookTicker(b, t.market, 0, t.bid, t.ask, t.last, t.eventTimeUs);
  }
  return finish(sequence, Message.BookTickers, BookTickers.createBookTickers(b, b.endVector()));
}

/**
 * The venue's book volume near the mid per market (base units; Infinity: not known), for the participation caps.
 * Written as given: the receiver takes at most DEPTH_ROWS_PER_FRAME rows.
 */
export function encodeDepth(sequence: number, books: readonly MarketDepth[]): Uint8Array {
  const b = begin();
  Depth.startBooksVector(b, books.length);
  for (let i = books.length - 1; i >= 0; i--) {
    const d = books[i]!;
    MarketDepthStruct.createMarketDepth(b, d.market, 0, d.bidVolume, d.askVolume);
  }
  return finish(sequence, Message.Depth, Depth.createDepth(b, b.endVector()));
}

const KILL_LEVELS: Record<KillLevel, KillLevelEnum> = {
  normal: KillLevelEnum.Normal,
  'no-new': KillLevelEnum.NoNewLiquidations,
  'no-reissue': KillLevelEnum.NoReissue,
  halt: KillLevelEnum.Halt,
};

/** An operator's kill switch for `market`, or for every market when it is undefined. */
export function encodeKillSwitch(
  sequence: number,
  k: { readonly level: KillLevel; readonly market: number | undefined; readonly reason: string },
): Uint8Array {
  const b = begin();
  const reason = b.createString(k.reason);
  return finish(sequence, Message.KillSwitch, KillSwitch.createKillSwitch(b, KILL_LEVELS[k.level], k.market ?? NO_ID, reason));
}

/** Encodes a PositionUpdates frame with Envelope.sequence `sequence`. */
export function encodePositions(sequence: number, positions: readonly PositionUpdate[]): Uint8Array {
  const b = begin();
  PositionUpdates.startPositionsVector(b, positions.length);
  for (let i = positions.length - 1; i >= 0; i--) {
    const p = positions[i]!;
    const iso = p.isolatedCollateral ?? null;
    const mode = iso === null ? MarginMode.Cross : MarginMode.Isolated;
    PositionUpdateStruct.createPositionUpdate(b, p.account, p.market, p.size, p.entryPrice, iso ?? 0, mode);
  }
  return finish(sequence, Message.PositionUpdates, PositionUpdates.createPositionUpdates(b, b.endVector()));
}

/** Encodes a CollateralUpdates frame with Envelope.sequence `sequence`. */
export function encodeCollateral(sequence: number, updates: readonly CollateralUpdate[]): Uint8Array {
  const b = begin();
  CollateralUpdates.startUpdatesVector(b, updates.length);
  for (let i = updates.length - 1; i >= 0; i--) {
    CollateralUpdateStruct.createCollateralUpdate(b, updates[i]!.account, updates[i]!.collateral);
  }
  return finish(sequence, Message.CollateralUpdates, CollateralUpdates.createCollateralUpdates(b, b.endVector()));
}

/** Encodes a Fills frame (fills of our orders) with Envelope.sequence `sequence`. */
export function encodeFills(sequence: number, fills: readonly Fill[]): Uint8Array {
  const b = begin();
  const offsets = fills.map((f) =>
    FillTable.createFill(b, b.createString(f.orderId), f.account, f.market, f.quantity, f.price, f.eventTimeUs),
  );
  return finish(sequence, Message.Fills, Fills.createFills(b, Fills.createFillsVector(b, offsets)));
}

/** Orders the matching engine expired unfilled, by `LiquidationOrder.id`. */
export function encodeExpiries(sequence: number, orderIds: readonly string[], eventTimeUs: number): Uint8Array {
  const b = begin();
  const ids = OrderExpiries.createOrderIdsVector(b, orderIds.map((id) => b.createString(id)));
  return finish(sequence, Message.OrderExpiries, OrderExpiries.createOrderExpiries(b, ids, eventTimeUs));
}

function topicsTable(type: Message.Subscribe | Message.Unsubscribe, topics: Topics): flatbuffers.Offset {
  const b = builder;
  // Absent when empty or false: the frame stays byte-identical to one from before the fields were appended.
  const adlMarkets = (topics.adlMarkets ?? []) as number[];
  const liquidationMarkets = (topics.liquidationMarkets ?? []) as number[];
  const T = type === Message.Subscribe ? Subscribe : Unsubscribe;
  const markets = T.createMarketsVector(b, topics.markets as number[]);
  const accounts = T.createAccountsVector(b, topics.accounts as number[]);
  const adl = adlMarkets.length === 0 ? 0 : T.createAdlMarketsVector(b, adlMarkets);
  const liquidations = liquidationMarkets.length === 0 ? 0 : T.createLiquidationMarketsVector(b, liquidationMarkets);
  const create = type === Message.Subscribe ? Subscribe.createSubscribe : Unsubscribe.createUnsubscribe;
  return create(
    b,
    markets,
    accounts,
    topics.allOrders,
    adl,
    topics.acks ?? false,
    liquidations,
    topics.settlements ?? false,
    topics.insuranceFunds ?? false,
    topics.marketSummaries ?? false,
  );
}

/** Encodes a Subscribe frame with Envelope.sequence `sequence`. */
export function encodeSubscribe(sequence: number, topics: Topics): Uint8Array {
  begin();
  return finish(sequence, Message.Subscribe, topicsTable(Message.Subscribe, topics));
}

/** Encodes an Unsubscribe frame with Envelope.sequence `sequence`. */
export function encodeUnsubscribe(sequence: number, topics: Topics): Uint8Array {
  begin();
  return finish(sequence, Message.Unsubscribe, topicsTable(Message.Unsubscribe, topics));
}

/** One LiquidationOrder table (a LiquidationOrders row, or the order of an OpenOrder row). */
function orderTable(b: flatbuffers.Builder, o: LiquidationOrder): flatbuffers.Offset {
  const id = b.createString(o.id);
  const symbol = b.createString(o.symbol);
  const L = LiquidationOrderTable;
  L.startLiquidationOrder(b);
  L.addId(b, id);
  L.addEpoch(b, o.epoch);
  L.addAccount(b, o.account);
  L.addMarket(b, o.market);
  L.addSymbol(b, symbol);
  L.addSide(b, o.side === 'buy' ? Side.Buy : Side.Sell);
  L.addQuantity(b, o.quantity);
  L.addLimitPrice(b, o.limitPrice);
  L.addOraclePrice(b, o.oraclePrice);
  L.addReason(b, o.reason === 'isolated-maintenance' ? OrderReason.IsolatedMaintenance : OrderReason.CrossMaintenance);
  L.addHealth(b, o.health);
  L.addEquity(b, o.equity);
  L.addMaintenanceMargin(b, o.maintenanceMargin);
  L.addPositionSequence(b, o.positionSequence);
  return L.endLiquidationOrder(b);
}

/** Encodes a LiquidationOrders frame with Envelope.sequence `sequence`. */
export function encodeOrders(sequence: number, orders: readonly LiquidationOrder[]): Uint8Array {
  const b = begin();
  const offsets = orders.map((o) => orderTable(b, o));
  const list = LiquidationOrders.createOrdersVector(b, offsets);
  return finish(sequence, Message.LiquidationOrders, LiquidationOrders.createLiquidationOrders(b, list));
}

/**
 * One frame of an open-orders snapshot: `part.orders` written as given (the server keeps it within
 * OPEN_ORDERS_PER_FRAME), from `part.firstIndex` of `part.orderCount`.
 */
export function encodeOpenOrders(sequence: number, part: OpenOrdersPart): Uint8Array {
  const b = begin();
  const offsets = part.orders.map((r) => OpenOrderTable.createOpenOrder(b, orderTable(b, r.order), r.remaining));
  const list = OpenOrders.createOrdersVector(b, offsets);
  return finish(sequence, Message.OpenOrders, OpenOrders.createOpenOrders(b, part.epoch, part.lastSequence, list, part.firstIndex, part.orderCount));
}

const ACK_STATES: Record<Ack['state'], AckStateEnum> = { accepted: AckStateEnum.Accepted, durable: AckStateEnum.Durable };

/** An acknowledgement of input frames. An unknown state is written as Unset, which a receiver rejects. */
export function encodeAck(sequence: number, a: Ack): Uint8Array {
  begin();
  const t = AckTable.createAck(builder, ACK_STATES[a.state] ?? AckStateEnum.Unset, a.frameSequence, a.firstSequence, a.lastSequence);
  return finish(sequence, Message.Ack, t);
}

/** Encodes a MarginCalls frame with Envelope.sequence `sequence`. */
export function encodeMarginCalls(sequence: number, calls: readonly MarginCall[]): Uint8Array {
  const b = begin();
  const offsets = calls.map((c) =>
    MarginCallTable.createMarginCall(b, c.epoch, c.account, c.market ?? NO_ID, c.health, c.equity, c.maintenanceMargin),
  );
  return finish(sequence, Message.MarginCalls, MarginCalls.createMarginCalls(b, MarginCalls.createCallsVector(b, offsets)));
}

/** Encodes an AccountStates frame with Envelope.sequence `sequence`. */
export function encodeAccountStates(sequence: number, states: readonly AccountState[]): Uint8Array {
  const b = begin();
  const offsets = states.map((s) =>
    AccountStateTable.createAccountState(
      b,
      s.account,
      s.epoch,
      s.collateral,
      s.equity,
      s.initialMargin,
      s.maintenanceMargin,
      s.freeCollateral,
      s.health,
      s.liquidatable,
      s.marginCall,
    ),
  );
  const list = AccountStates.createAccountsVector(b, offsets);
  return finish(sequence, Message.AccountStates, AccountStates.createAccountStates(b, list));
}

/**
 * One side of a market's ADL queue. `entries` is written as given (the caller cuts it to ADL_ENTRIES_PER_FRAME);
 * rows may carry more fields (the engine's AdlQueueEntry): only the wire's are read.
 */
export function encodeAdlQueue(sequence: number, q: AdlQueue): Uint8Array {
  const b = begin();
  const entries = q.entries;
  AdlQueueTable.startEntriesVector(b, entries.length);
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    AdlEntryStruct.createAdlEntry(b, e.account, e.queuePosition, e.size, e.rank, e.pnlPercent, e.effectiveLeverage);
  }
  const list = b.endVector();
  const side = q.positionsSide === 1 ? PositionsSide.Long : PositionsSide.Short;
  return finish(sequence, Message.AdlQueue, AdlQueueTable.createAdlQueue(b, q.market, side, q.epoch, list, q.queueLength));
}

/**
 * Deleveragings, each with the counterparty rows given (a receiver's selection or one part of a split record; the
 * server keeps a frame within DEFICIT_ROWS_PER_FRAME rows). `orderId` null leaves the field out.
 */
export function encodeDeleveragings(sequence: number, deleveragings: readonly Deleveraging[]): Uint8Array {
  const b = begin();
  const offsets = deleveragings.map((d) => {
    // Strings and vectors before the table: a builder writes one object at a time.
    const orderId = d.orderId === null ? 0 : b.createString(d.orderId);
    const rows = d.counterparties;
    DeleveragingTable.startCounterpartiesVector(b, rows.length);
    for (let j = rows.length - 1; j >= 0; j--) {
      const c = rows[j]!;
      DeleveragedCounterpartyStruct.createDeleveragedCounterparty(b, c.account, c.index, c.quantity, c.realizedPnl, c.sizeAfter);
    }
    const list = b.endVector();
    return DeleveragingTable.createDeleveraging(
      b,
      d.sequence,
      d.account,
      d.market,
      orderId,
      d.bankruptcyPrice,
      d.markPrice,
      d.absorbed,
      d.matched,
      d.remainder,
      d.realizedPnl,
      list,
      d.counterpartyCount,
      d.continued,
    );
  });
  const list = Deleveragings.createDeleveragingsVector(b, offsets);
  return finish(sequence, Message.Deleveragings, Deleveragings.createDeleveragings(b, list));
}

/** Socialized losses, each with the share rows given (as encodeDeleveragings). */
export function encodeSocializedLosses(sequence: number, losses: readonly SocializedLoss[]): Uint8Array {
  const b = begin();
  const offsets = losses.map((l) => {
    const rows = l.shares;
    SocializedLossTable.startSharesVector(b, rows.length);
    for (let j = rows.length - 1; j >= 0; j--) LossShareStruct.createLossShare(b, rows[j]!.account, rows[j]!.index, rows[j]!.amount);
    const list = b.endVector();
    return SocializedLossTable.createSocializedLoss(b, l.sequence, l.account, l.market, l.amount, list, l.shareCount, l.continued, LOSS_METHODS[l.method] ?? LossMethodEnum.Unset);
  });
  const list = SocializedLosses.createLossesVector(b, offsets);
  return finish(sequence, Message.SocializedLosses, SocializedLosses.createSocializedLosses(b, list));
}

/** An unknown method is written as Unset, which a receiver rejects. */
const LOSS_METHODS: Record<LossMethod, LossMethodEnum> = { 'pro-rata': LossMethodEnum.ProRata, 'adl-queue': LossMethodEnum.AdlQueue };

const DEFICIT_REASONS: Record<DeficitReason, DeficitReasonEnum> = {
  'no-counterparty': DeficitReasonEnum.NoCounterparty,
  halted: DeficitReasonEnum.Halted,
  'auto-deleverage-off': DeficitReasonEnum.AutoDeleverageOff,
};

/** Deficits no policy could place. An unknown reason is written as Unset, which a receiver rejects. */
export function encodeUnresolvedDeficits(sequence: number, deficits: readonly UnresolvedDeficit[]): Uint8Array {
  const b = begin();
  const offsets = deficits.map((u) =>
    UnresolvedDeficitTable.createUnresolvedDeficit(b, u.sequence, u.account, u.market, u.amount, DEFICIT_REASONS[u.reason] ?? DeficitReasonEnum.Unset),
  );
  const list = UnresolvedDeficits.createDeficitsVector(b, offsets);
  return finish(sequence, Message.UnresolvedDeficits, UnresolvedDeficits.createUnresolvedDeficits(b, list));
}

/** Backstop takeovers, each with its settlement whole (the server keeps a frame within TAKEOVERS_PER_FRAME). */
export function encodeTakeovers(sequence: number, takeovers: readonly Takeover[]): Uint8Array {
  const b = begin();
  const offsets = takeovers.map((t) => {
    // Strings and the nested table before the table: a builder writes one object at a time.
    const id = b.createString(t.id);
    const s = t.settlement;
    const settlement = SettlementTable.createSettlement(
      b,
      b.createString(s.orderId),
      s.account,
      s.market,
      s.quantity,
      s.price,
      s.eventTimeUs,
      s.sequence,
      s.closed,
      s.realizedPnl,
      s.fee,
      s.insuranceCover,
      s.deficit,
      s.bankruptcyValue,
      s.sizeAfter,
      s.collateralAfter,
      s.orderRemaining,
    );
    const T = TakeoverTable;
    T.startTakeover(b);
    T.addSequence(b, t.sequence);
    T.addId(b, id);
    T.addAccount(b, t.account);
    T.addMarket(b, t.market);
    T.addVault(b, t.vault);
    T.addQuantity(b, t.quantity);
    T.addPrice(b, t.price);
    T.addMarkPrice(b, t.markPrice);
    T.addSettlement(b, settlement);
    T.addVaultSizeAfter(b, t.vaultSizeAfter);
    T.addVaultEntryPrice(b, t.vaultEntryPrice);
    T.addVaultRealizedPnl(b, t.vaultRealizedPnl);
    T.addVaultCollateralAfter(b, t.vaultCollateralAfter);
    return T.endTakeover(b);
  });
  return finish(sequence, Message.Takeovers, Takeovers.createTakeovers(b, Takeovers.createTakeoversVector(b, offsets)));
}

const SIDES: Record<'buy' | 'sell', Side> = { buy: Side.Buy, sell: Side.Sell };
const RESOLUTIONS: Record<DeficitResolution, DeficitResolutionEnum> = {
  none: DeficitResolutionEnum.NoDeficit,
  deleveraged: DeficitResolutionEnum.Deleveraged,
  socialized: DeficitResolutionEnum.Socialized,
  unresolved: DeficitResolutionEnum.Unresolved,
  pending: DeficitResolutionEnum.Pending,
};

/**
 * Fill settlements, money in atoms at `quoteDecimals` (the server keeps a frame within VENUE_ROWS_PER_FRAME). An
 * unknown side, resolution or reason is written as Unset, which a receiver rejects.
 */
export function encodeSettlements(sequence: number, quoteDecimals: number, settlements: readonly FillSettlement[]): Uint8Array {
  const b = begin();
  const offsets = settlements.map((s) =>
    FillSettlementTable.createFillSettlement(
      b,
      s.sequence,
      b.createString(s.orderId),
      s.account,
      s.market,
      SIDES[s.side] ?? Side.Unset,
      s.quantity,
      s.price,
      s.eventTimeUs,
      s.closed,
      s.sizeAfter,
      s.orderRemaining,
      s.realizedPnlAtoms,
      s.feeAtoms,
      s.insuranceCoverAtoms,
      s.deficitAtoms,
      s.collateralAfterAtoms,
      s.bankruptcyValue,
      RESOLUTIONS[s.resolution] ?? DeficitResolutionEnum.Unset,
      s.deleveragings,
      s.socializedAtoms,
      s.unresolvedAtoms,
      s.unresolvedReason === null ? DeficitReasonEnum.Unset : (DEFICIT_REASONS[s.unresolvedReason] ?? DeficitReasonEnum.Unset),
    ),
  );
  const list = Settlements.createSettlementsVector(b, offsets);
  return finish(sequence, Message.Settlements, Settlements.createSettlements(b, quoteDecimals, list));
}

/** Insurance fund balances ('pooled' is written as 4294967295). */
export function encodeInsuranceFunds(sequence: number, u: InsuranceFundsUpdate): Uint8Array {
  const b = begin();
  const offsets = u.funds.map((f) => InsuranceFundTable.createInsuranceFund(b, f.market === 'pooled' ? NO_ID : f.market, f.balanceAtoms));
  const list = InsuranceFunds.createFundsVector(b, offsets);
  return finish(sequence, Message.InsuranceFunds, InsuranceFunds.createInsuranceFunds(b, u.epoch, u.quoteDecimals, u.snapshot, list));
}

const LIQUIDATION_KINDS: Record<LiquidationKind, LiquidationKindEnum> = { fill: LiquidationKindEnum.Fill, takeover: LiquidationKindEnum.Takeover };

/** Liquidations for the public tape (the server keeps a frame within VENUE_ROWS_PER_FRAME). */
export function encodeLiquidations(sequence: number, liquidations: readonly Liquidation[]): Uint8Array {
  const b = begin();
  const offsets = liquidations.map((l) =>
    LiquidationTable.createLiquidation(
      b,
      l.sequence,
      l.market,
      b.createString(l.symbol),
      SIDES[l.side] ?? Side.Unset,
      l.price,
      l.amount,
      l.eventTimeUs,
      LIQUIDATION_KINDS[l.kind] ?? LiquidationKindEnum.Unset,
    ),
  );
  return finish(sequence, Message.Liquidations, Liquidations.createLiquidations(b, Liquidations.createLiquidationsVector(b, offsets)));
}

/** Market summaries and the epoch's tick-to-order latency (null is written as the default, -1). */
export function encodeMarketSummaries(sequence: number, u: MarketSummariesUpdate): Uint8Array {
  const b = begin();
  const offsets = u.markets.map((m) =>
    MarketSummaryTable.createMarketSummary(
      b,
      m.market,
      b.createString(m.symbol),
      m.markPrice,
      m.oraclePrice,
      m.paused,
      KILL_LEVELS[m.killLevel] ?? KillLevelEnum.Unset,
      b.createString(m.code),
      b.createString(m.reason),
    ),
  );
  const list = MarketSummaries.createMarketsVector(b, offsets);
  return finish(sequence, Message.MarketSummaries, MarketSummaries.createMarketSummaries(b, u.epoch, u.snapshot, list, u.orders, u.tickToOrderUs ?? -1));
}

const MARKET_STATES: Record<MarketState, MarketStateEnum> = { paused: MarketStateEnum.Paused, resumed: MarketStateEnum.Resumed };
const ENGINE_STATES: Record<EngineState, EngineStateEnum> = {
  starting: EngineStateEnum.Starting,
  running: EngineStateEnum.Running,
  paused: EngineStateEnum.Paused,
  closing: EngineStateEnum.Closing,
};

/** A market paused or resumed; `code` (e.g. ORACLE_STALE) is left out of the frame when absent or empty. */
export function encodeMarketStatus(
  sequence: number,
  s: { readonly market: number; readonly state: MarketState; readonly reason: string; readonly eventTimeUs: number; readonly code?: string },
): Uint8Array {
  const b = begin();
  const reason = b.createString(s.reason);
  // Absent when empty: the frame stays byte-identical to one from before the field was appended.
  const code = s.code === undefined || s.code === '' ? 0 : b.createString(s.code);
  const t = MarketStatus.createMarketStatus(b, s.market, MARKET_STATES[s.state], reason, s.eventTimeUs, code);
  return finish(sequence, Message.MarketStatus, t);
}

/** The body of an engineStatus message: everything but its kind and sequence. */
export type EngineStatusBody = Omit<Extract<FeedMessage, { kind: 'engineStatus' }>, 'kind' | 'sequence'>;

/** Encodes an EngineStatus frame with Envelope.sequence `sequence`. */
export function encodeEngineStatus(sequence: number, s: EngineStatusBody): Uint8Array {
  const b = begin();
  const message = b.createString(s.message);
  const t = EngineStatus.createEngineStatus(b, ENGINE_STATES[s.state], s.epoch, s.lastSequence, s.markets, s.accounts, s.positions, message);
  return finish(sequence, Message.EngineStatus, t);
}

/** An ErrorFrame answering the peer's frame `offendingSequence` (null when its sequence could not be read). */
export function encodeError(sequence: number, code: string, message: string, offendingSequence: number | null): Uint8Array {
  const b = begin();
  const c = b.createString(code);
  const m = b.createString(message);
  return finish(sequence, Message.ErrorFrame, ErrorFrame.createErrorFrame(b, c, m, offendingSequence ?? -1));
}

/** Any message as a frame (the inverse of decodeFrame). */
export function encodeFrame(m: FeedMessage): Uint8Array {
  switch (m.kind) {
    case 'ticks':
      return encodeTicks(m.sequence, m.ticks);
    case 'signedTicks':
      return encodeSignedPriceTicks(m.sequence, m.ticks, m.signatures);
    case 'books':
      return encodeBookTickers(m.sequence, m.books);
    case 'depth':
      return encodeDepth(m.sequence, m.books);
    case 'killSwitch':
      return encodeKillSwitch(m.sequence, m);
    case 'positions':
      return encodePositions(m.sequence, m.positions);
    case 'collateral':
      return encodeCollateral(m.sequence, m.updates);
    case 'fills':
      return encodeFills(m.sequence, m.fills);
    case 'expiries':
      return encodeExpiries(m.sequence, m.orderIds, m.eventTimeUs);
    case 'subscribe':
      return encodeSubscribe(m.sequence, m.topics);
    case 'unsubscribe':
      return encodeUnsubscribe(m.sequence, m.topics);
    case 'orders':
      return encodeOrders(m.sequence, m.orders);
    case 'marginCalls':
      return encodeMarginCalls(m.sequence, m.marginCalls);
    case 'accountStates':
      return encodeAccountStates(m.sequence, m.accounts);
    case 'marketStatus':
      return encodeMarketStatus(m.sequence, m);
    case 'engineStatus':
      return encodeEngineStatus(m.sequence, m);
    case 'adlQueue':
      return encodeAdlQueue(m.sequence, m);
    case 'deleveragings':
      return encodeDeleveragings(m.sequence, m.deleveragings);
    case 'socializedLosses':
      return encodeSocializedLosses(m.sequence, m.losses);
    case 'unresolvedDeficits':
      return encodeUnresolvedDeficits(m.sequence, m.deficits);
    case 'takeovers':
      return encodeTakeovers(m.sequence, m.takeovers);
    case 'settlements':
      return encodeSettlements(m.sequence, m.quoteDecimals, m.settlements);
    case 'insuranceFunds':
      return encodeInsuranceFunds(m.sequence, m);
    case 'liquidations':
      return encodeLiquidations(m.sequence, m.liquidations);
    case 'marketSummaries':
      return encodeMarketSummaries(m.sequence, m);
    case 'ack':
      return encodeAck(m.sequence, m);
    case 'openOrders':
      return encodeOpenOrders(m.sequence, m);
    case 'errorFrame':
      return encodeError(m.sequence, m.code, m.message, m.offendingSequence);
  }
}

// ---- decoding ----

export { decodeFrame, type TickBatchMessage } from './decode.js';
export { TickBatchBuffer } from './tick-batch.js';
export type { TickBatch } from '../oracle/report.js';
