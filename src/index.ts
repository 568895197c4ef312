/** Unwind: liquidation process control. The embedding API. */
export { Engine, type EpochResult } from './engine/engine.js';
export { type Input, type InputKind, INPUT_KINDS, type CollateralUpdate, type MarketBook } from './engine/inputs.js';
export { type Recovery } from './engine/recovery.js';
export { type EngineConfig, type ResolvedConfig, resolveConfig, DEFAULT_MARGIN_CALL_HEALTH } from './config.js';
export { UnwindError, ErrorCode, isUnwindError } from './errors.js';
export { type MarketSpec, type PositionUpdate, type PriceUpdate } from './tables/writer.js';
export { type LiquidationOrder, type MarginCall, type OrderReasonName, type TakeoverOrder, orderId } from './clearing/orders.js';
export { type Fill } from './clearing/open-orders.js';
export { type Tick, type TickBatch } from './oracle/report.js';
export { SignatureVerifier, type VerifierOptions, type VerifierStats } from './oracle/verifier.js';
export { VerifyingIntake, type IntakeLimits, type IntakeStats } from './oracle/intake.js';
export { type AccountReport, type PositionReport } from './risk/account-report.js';
export {
  type Deleveraging,
  type DeleveragedCounterparty,
  type Settlement,
  type SocializedLoss,
  type Takeover,
  type UnresolvedDeficit,
  type UnresolvedReason,
  type FillPreview,
} from './clearing/clearing.js';
export { type FeePolicy, type BackstopStrategy, type StrategySpec, type ExecutionConfig, type VolatilityConfig, type ImpactFitConfig } from './config-types.js';
export { BYTES_PER_POSITION, BYTES_PER_ACCOUNT, LAYOUT_VERSION } from './tables/layout.js';
export * as domain from './domain/index.js';
export { FeedServer, CloseCode, type FeedServerOptions, type FeedStats, type RejectedFrame, type Role } from './feed/server.js';
