/**
 * The shape of every table of schemas/unwind.fbs for the verifier: field ids (declaration order; a union takes two,
 * its type byte then its offset), scalar sizes, and which offsets point at what. Hand-written from the schema and
 * checked against the generated code by test/feed-codec.test.ts, so a schema change that is not mirrored here fails.
 */
import { Message } from './generated/unwind_generated.js';
import type { TableSpec } from './verify.js';

const f64 = (id: number, name: string) => ({ id, name, kind: 'scalar', size: 8 }) as const;
const u32 = (id: number, name: string) => ({ id, name, kind: 'scalar', size: 4 }) as const;
const u8 = (id: number, name: string) => ({ id, name, kind: 'scalar', size: 1 }) as const;

/** Struct sizes and alignments (flatc's layout; `sizeOf()` in the generated code). */
export const TICK_BYTES = 40;
export const POSITION_UPDATE_BYTES = 40;
export const COLLATERAL_UPDATE_BYTES = 16;
export const ADL_ENTRY_BYTES = 40;
export const BOOK_TICKER_BYTES = 40;
export const DELEVERAGED_COUNTERPARTY_BYTES = 32;
export const LOSS_SHARE_BYTES = 16;
export const MARKET_DEPTH_BYTES = 24;

export const PriceTicksSpec: TableSpec = {
  name: 'PriceTicks',
  fields: [{ id: 0, name: 'ticks', kind: 'structs', size: TICK_BYTES, align: 8, required: true }],
};
export const PositionUpdatesSpec: TableSpec = {
  name: 'PositionUpdates',
  fields: [{ id: 0, name: 'positions', kind: 'structs', size: POSITION_UPDATE_BYTES, align: 8, required: true }],
};
export const CollateralUpdatesSpec: TableSpec = {
  name: 'CollateralUpdates',
  fields: [{ id: 0, name: 'updates', kind: 'structs', size: COLLATERAL_UPDATE_BYTES, align: 8, required: true }],
};
export const FillSpec: TableSpec = {
  name: 'Fill',
  fields: [
    { id: 0, name: 'orderId', kind: 'string', required: true },
    u32(1, 'account'),
    u32(2, 'market'),
    f64(3, 'quantity'),
    f64(4, 'price'),
    f64(5, 'eventTimeUs'),
  ],
};
export const FillsSpec: TableSpec = {
  name: 'Fills',
  fields: [{ id: 0, name: 'fills', kind: 'tables', table: FillSpec, required: true }],
};
const topics = (name: string): TableSpec => ({
  name,
  fields: [
    { id: 0, name: 'markets', kind: 'scalars', size: 4 },
    { id: 1, name: 'accounts', kind: 'scalars', size: 4 },
    u8(2, 'allOrders'),
    // Appended in version 1 (a reader of the older schema never looks at id 3 or 4).
    { id: 3, name: 'adlMarkets', kind: 'scalars', size: 4 },
    u8(4, 'acks'),
    // Appended later in version 1.
    { id: 5, name: 'liquidationMarkets', kind: 'scalars', size: 4 },
    u8(6, 'settlements'),
    u8(7, 'insuranceFunds'),
    u8(8, 'marketSummaries'),
  ],
});
export const SubscribeSpec = topics('Subscribe');
export const UnsubscribeSpec = topics('Unsubscribe');
export const LiquidationOrderSpec: TableSpec = {
  name: 'LiquidationOrder',
  fields: [
    { id: 0, name: 'id', kind: 'string', required: true },
    f64(1, 'epoch'),
    u32(2, 'account'),
    u32(3, 'market'),
    { id: 4, name: 'symbol', kind: 'string' },
    u8(5, 'side'),
    f64(6, 'quantity'),
    f64(7, 'limitPrice'),
    f64(8, 'oraclePrice'),
    u8(9, 'reason'),
    f64(10, 'health'),
    f64(11, 'equity'),
    f64(12, 'maintenanceMargin'),
    f64(13, 'positionSequence'),
  ],
};
export const LiquidationOrdersSpec: TableSpec = {
  name: 'LiquidationOrders',
  fields: [{ id: 0, name: 'orders', kind: 'tables', table: LiquidationOrderSpec, required: true }],
};
export const MarginCallSpec: TableSpec = {
  name: 'MarginCall',
  fields: [f64(0, 'epoch'), u32(1, 'account'), u32(2, 'market'), f64(3, 'health'), f64(4, 'equity'), f64(5, 'maintenanceMargin')],
};
export const MarginCallsSpec: TableSpec = {
  name: 'MarginCalls',
  fields: [{ id: 0, name: 'calls', kind: 'tables', table: MarginCallSpec, required: true }],
};
export const AccountStateSpec: TableSpec = {
  name: 'AccountState',
  fields: [
    u32(0, 'account'),
    f64(1, 'epoch'),
    f64(2, 'collateral'),
    f64(3, 'equity'),
    f64(4, 'initialMargin'),
    f64(5, 'maintenanceMargin'),
    f64(6, 'freeCollateral'),
    f64(7, 'health'),
    u8(8, 'liquidatable'),
    u8(9, 'marginCall'),
  ],
};
export const AccountStatesSpec: TableSpec = {
  name: 'AccountStates',
  fields: [{ id: 0, name: 'accounts', kind: 'tables', table: AccountStateSpec, required: true }],
};
export const MarketStatusSpec: TableSpec = {
  name: 'MarketStatus',
  fields: [
    u32(0, 'market'),
    u8(1, 'state'),
    { id: 2, name: 'reason', kind: 'string' },
    f64(3, 'eventTimeUs'),
    // Appended in version 1 (a reader of the older schema never looks at id 4).
    { id: 4, name: 'code', kind: 'string' },
  ],
};
export const EngineStatusSpec: TableSpec = {
  name: 'EngineStatus',
  fields: [
    u8(0, 'state'),
    f64(1, 'epoch'),
    f64(2, 'lastSequence'),
    u32(3, 'markets'),
    u32(4, 'accounts'),
    u32(5, 'positions'),
    { id: 6, name: 'message', kind: 'string' },
  ],
};
export const ErrorFrameSpec: TableSpec = {
  name: 'ErrorFrame',
  fields: [{ id: 0, name: 'code', kind: 'string', required: true }, { id: 1, name: 'message', kind: 'string' }, f64(2, 'offendingSequence')],
};
export const OrderExpiriesSpec: TableSpec = {
  name: 'OrderExpiries',
  fields: [{ id: 0, name: 'orderIds', kind: 'strings', required: true }, f64(1, 'eventTimeUs')],
};

export const AdlQueueSpec: TableSpec = {
  name: 'AdlQueue',
  fields: [
    u32(0, 'market'),
    u8(1, 'positionsSide'),
    f64(2, 'epoch'),
    { id: 3, name: 'entries', kind: 'structs', size: ADL_ENTRY_BYTES, align: 8, required: true },
    u32(4, 'queueLength'),
  ],
};

export const SignedPriceTicksSpec: TableSpec = {
  name: 'SignedPriceTicks',
  fields: [
    { id: 0, name: 'ticks', kind: 'structs', size: TICK_BYTES, align: 8, required: true },
    { id: 1, name: 'signatures', kind: 'scalars', size: 1, required: true },
  ],
};
export const BookTickersSpec: TableSpec = {
  name: 'BookTickers',
  fields: [{ id: 0, name: 'books', kind: 'structs', size: BOOK_TICKER_BYTES, align: 8, required: true }],
};
export const KillSwitchSpec: TableSpec = {
  name: 'KillSwitch',
  fields: [u8(0, 'level'), u32(1, 'market'), { id: 2, name: 'reason', kind: 'string' }],
};

export const DeleveragingSpec: TableSpec = {
  name: 'Deleveraging',
  fields: [
    f64(0, 'sequence'),
    u32(1, 'account'),
    u32(2, 'market'),
    { id: 3, name: 'orderId', kind: 'string' },
    f64(4, 'bankruptcyPrice'),
    f64(5, 'markPrice'),
    f64(6, 'absorbed'),
    f64(7, 'matched'),
    f64(8, 'remainder'),
    f64(9, 'realizedPnl'),
    { id: 10, name: 'counterparties', kind: 'structs', size: DELEVERAGED_COUNTERPARTY_BYTES, align: 8, required: true },
    u32(11, 'counterpartyCount'),
    u8(12, 'continued'),
  ],
};
export const DeleveragingsSpec: TableSpec = {
  name: 'Deleveragings',
  fields: [{ id: 0, name: 'deleveragings', kind: 'tables', table: DeleveragingSpec, required: true }],
};
export const SocializedLossSpec: TableSpec = {
  name: 'SocializedLoss',
  fields: [
    f64(0, 'sequence'),
    u32(1, 'account'),
    u32(2, 'market'),
    f64(3, 'amount'),
    { id: 4, name: 'shares', kind: 'structs', size: LOSS_SHARE_BYTES, align: 8, required: true },
    u32(5, 'shareCount'),
    u8(6, 'continued'),
    u8(7, 'method'),
  ],
};
export const SocializedLossesSpec: TableSpec = {
  name: 'SocializedLosses',
  fields: [{ id: 0, name: 'losses', kind: 'tables', table: SocializedLossSpec, required: true }],
};
export const UnresolvedDeficitSpec: TableSpec = {
  name: 'UnresolvedDeficit',
  fields: [f64(0, 'sequence'), u32(1, 'account'), u32(2, 'market'), f64(3, 'amount'), u8(4, 'reason')],
};
export const UnresolvedDeficitsSpec: TableSpec = {
  name: 'UnresolvedDeficits',
  fields: [{ id: 0, name: 'deficits', kind: 'tables', table: UnresolvedDeficitSpec, required: true }],
};

export const AckSpec: TableSpec = {
  name: 'Ack',
  fields: [u8(0, 'state'), f64(1, 'frameSequence'), f64(2, 'firstSequence'), f64(3, 'lastSequence')],
};
export const OpenOrderSpec: TableSpec = {
  name: 'OpenOrder',
  fields: [{ id: 0, name: 'order', kind: 'table', table: LiquidationOrderSpec, required: true }, f64(1, 'remaining')],
};
export const OpenOrdersSpec: TableSpec = {
  name: 'OpenOrders',
  fields: [
    f64(0, 'epoch'),
    f64(1, 'lastSequence'),
    { id: 2, name: 'orders', kind: 'tables', table: OpenOrderSpec, required: true },
    u32(3, 'firstIndex'),
    u32(4, 'orderCount'),
  ],
};

export const DepthSpec: TableSpec = {
  name: 'Depth',
  fields: [{ id: 0, name: 'books', kind: 'structs', size: MARKET_DEPTH_BYTES, align: 8, required: true }],
};

export const SettlementSpec: TableSpec = {
  name: 'Settlement',
  fields: [
    { id: 0, name: 'orderId', kind: 'string', required: true },
    u32(1, 'account'),
    u32(2, 'market'),
    f64(3, 'quantity'),
    f64(4, 'price'),
    f64(5, 'eventTimeUs'),
    f64(6, 'sequence'),
    f64(7, 'closed'),
    f64(8, 'realizedPnl'),
    f64(9, 'fee'),
    f64(10, 'insuranceCover'),
    f64(11, 'deficit'),
    f64(12, 'bankruptcyValue'),
    f64(13, 'sizeAfter'),
    f64(14, 'collateralAfter'),
    f64(15, 'orderRemaining'),
  ],
};
export const TakeoverSpec: TableSpec = {
  name: 'Takeover',
  fields: [
    f64(0, 'sequence'),
    { id: 1, name: 'id', kind: 'string', required: true },
    u32(2, 'account'),
    u32(3, 'market'),
    u32(4, 'vault'),
    f64(5, 'quantity'),
    f64(6, 'price'),
    f64(7, 'markPrice'),
    { id: 8, name: 'settlement', kind: 'table', table: SettlementSpec, required: true },
    f64(9, 'vaultSizeAfter'),
    f64(10, 'vaultEntryPrice'),
    f64(11, 'vaultRealizedPnl'),
    f64(12, 'vaultCollateralAfter'),
  ],
};
export const TakeoversSpec: TableSpec = {
  name: 'Takeovers',
  fields: [{ id: 0, name: 'takeovers', kind: 'tables', table: TakeoverSpec, required: true }],
};

const i64 = (id: number, name: string) => ({ id, name, kind: 'scalar', size: 8 }) as const;

export const FillSettlementSpec: TableSpec = {
  name: 'FillSettlement',
  fields: [
    f64(0, 'sequence'),
    { id: 1, name: 'orderId', kind: 'string', required: true },
    u32(2, 'account'),
    u32(3, 'market'),
    u8(4, 'side'),
    f64(5, 'quantity'),
    f64(6, 'price'),
    f64(7, 'eventTimeUs'),
    f64(8, 'closed'),
    f64(9, 'sizeAfter'),
    f64(10, 'orderRemaining'),
    i64(11, 'realizedPnlAtoms'),
    i64(12, 'feeAtoms'),
    i64(13, 'insuranceCoverAtoms'),
    i64(14, 'deficitAtoms'),
    i64(15, 'collateralAfterAtoms'),
    f64(16, 'bankruptcyValue'),
    u8(17, 'resolution'),
    u32(18, 'deleveragings'),
    i64(19, 'socializedAtoms'),
    i64(20, 'unresolvedAtoms'),
    u8(21, 'unresolvedReason'),
  ],
};
export const SettlementsSpec: TableSpec = {
  name: 'Settlements',
  fields: [u8(0, 'quoteDecimals'), { id: 1, name: 'settlements', kind: 'tables', table: FillSettlementSpec, required: true }],
};
export const InsuranceFundSpec: TableSpec = {
  name: 'InsuranceFund',
  fields: [u32(0, 'market'), i64(1, 'balanceAtoms')],
};
export const InsuranceFundsSpec: TableSpec = {
  name: 'InsuranceFunds',
  fields: [f64(0, 'epoch'), u8(1, 'quoteDecimals'), u8(2, 'snapshot'), { id: 3, name: 'funds', kind: 'tables', table: InsuranceFundSpec, required: true }],
};
export const LiquidationSpec: TableSpec = {
  name: 'Liquidation',
  fields: [
    f64(0, 'sequence'),
    u32(1, 'market'),
    { id: 2, name: 'symbol', kind: 'string' },
    u8(3, 'side'),
    f64(4, 'price'),
    f64(5, 'amount'),
    f64(6, 'eventTimeUs'),
    u8(7, 'kind'),
  ],
};
export const LiquidationsSpec: TableSpec = {
  name: 'Liquidations',
  fields: [{ id: 0, name: 'liquidations', kind: 'tables', table: LiquidationSpec, required: true }],
};
export const MarketSummarySpec: TableSpec = {
  name: 'MarketSummary',
  fields: [
    u32(0, 'market'),
    { id: 1, name: 'symbol', kind: 'string' },
    f64(2, 'markPrice'),
    f64(3, 'oraclePrice'),
    u8(4, 'paused'),
    u8(5, 'killLevel'),
    { id: 6, name: 'code', kind: 'string' },
    { id: 7, name: 'reason', kind: 'string' },
  ],
};
export const MarketSummariesSpec: TableSpec = {
  name: 'MarketSummaries',
  fields: [
    f64(0, 'epoch'),
    u8(1, 'snapshot'),
    { id: 2, name: 'markets', kind: 'tables', table: MarketSummarySpec, required: true },
    u32(3, 'orders'),
    f64(4, 'tickToOrderUs'),
  ],
};

/** Envelope field ids. */
export const ENVELOPE_VERSION_ID = 0;
export const ENVELOPE_SEQUENCE_ID = 1;
export const ENVELOPE_MESSAGE_TYPE_ID = 2;
export const ENVELOPE_MESSAGE_ID = 3;

export const EnvelopeSpec: TableSpec = {
  name: 'Envelope',
  fields: [
    { id: ENVELOPE_VERSION_ID, name: 'version', kind: 'scalar', size: 2 },
    f64(ENVELOPE_SEQUENCE_ID, 'sequence'),
    u8(ENVELOPE_MESSAGE_TYPE_ID, 'messageType'),
    { id: ENVELOPE_MESSAGE_ID, name: 'message', kind: 'union' },
  ],
};

/** The table spec of each union member, by `Message` type byte. */
export const MESSAGE_SPECS: ReadonlyMap<Message, TableSpec> = new Map<Message, TableSpec>([
  [Message.PriceTicks, PriceTicksSpec],
  [Message.PositionUpdates, PositionUpdatesSpec],
  [Message.CollateralUpdates, CollateralUpdatesSpec],
  [Message.Fills, FillsSpec],
  [Message.Subscribe, SubscribeSpec],
  [Message.Unsubscribe, UnsubscribeSpec],
  [Message.LiquidationOrders, LiquidationOrdersSpec],
  [Message.MarginCalls, MarginCallsSpec],
  [Message.AccountStates, AccountStatesSpec],
  [Message.MarketStatus, MarketStatusSpec],
  [Message.EngineStatus, EngineStatusSpec],
  [Message.ErrorFrame, ErrorFrameSpec],
  [Message.OrderExpiries, OrderExpiriesSpec],
  [Message.AdlQueue, AdlQueueSpec],
  [Message.SignedPriceTicks, SignedPriceTicksSpec],
  [Message.BookTickers, BookTickersSpec],
  [Message.KillSwitch, KillSwitchSpec],
  [Message.Deleveragings, DeleveragingsSpec],
  [Message.SocializedLosses, SocializedLossesSpec],
  [Message.UnresolvedDeficits, UnresolvedDeficitsSpec],
  [Message.Ack, AckSpec],
  [Message.OpenOrders, OpenOrdersSpec],
  [Message.Depth, DepthSpec],
  [Message.Takeovers, TakeoversSpec],
  [Message.Settlements, SettlementsSpec],
  [Message.InsuranceFunds, InsuranceFundsSpec],
  [Message.Liquidations, LiquidationsSpec],
  [Message.MarketSummaries, MarketSummariesSpec],
]);

/** Every table spec, nested ones included (for the test that checks them against the generated code). */
export const ALL_TABLE_SPECS: readonly TableSpec[] = [
  EnvelopeSpec,
  ...MESSAGE_SPECS.values(),
  FillSpec,
  LiquidationOrderSpec,
  MarginCallSpec,
  AccountStateSpec,
  DeleveragingSpec,
  SocializedLossSpec,
  UnresolvedDeficitSpec,
  OpenOrderSpec,
  TakeoverSpec,
  SettlementSpec,
  FillSettlementSpec,
  InsuranceFundSpec,
  LiquidationSpec,
  MarketSummarySpec,
];
