/**
 * Unwind: liquidation process control. The embedding API: the engine, its config, inputs and outputs, the oracle's
 * signing and verification, and the feed server. Every type a public signature names is exported here
 * (test/package-api.test.ts checks it with typedoc). Loading this module loads no native code: the feed server's
 * transport (uWebSockets.js) is loaded when a FeedServer starts (src/feed/transport.ts).
 *
 * @packageDocumentation
 */
export { Engine, type EpochResult } from './engine/engine.js';
export { type Listener } from './engine/core.js';
export {
  type Input,
  type InputKind,
  INPUT_KINDS,
  type CollateralUpdate,
  type MarketBook,
  type MarketDepth,
  type MarketInput,
  type AccountInput,
  type CollateralInput,
  type CollateralsInput,
  type PositionInput,
  type PositionsInput,
  type PriceInput,
  type PricesInput,
  type PriceColumnsInput,
  type TicksInput,
  type BooksInput,
  type DepthInput,
  type ClockInput,
  type KillSwitchInput,
  type FillsInput,
  type ExpiriesInput,
  type DeleverageInput,
  type InsuranceInput,
} from './engine/inputs.js';
export { type Recovery } from './engine/recovery.js';
export { shardOf, type ShardStatus } from './engine/shard.js';
export { type TriggerIndexStats } from './engine/trigger-index.js';
export { type EngineConfig, type ResolvedConfig, type ScanConfig, type ShardConfig, resolveConfig, DEFAULT_MARGIN_CALL_HEALTH } from './config.js';
export {
  type Capacities,
  type CapsConfig,
  type ClockPolicy,
  type LifecycleConfig,
  type OracleConfig,
  type OracleMarketConfig,
  type OracleSourceConfig,
  type AggregationPolicy,
  type GuardPolicy,
  type MarkPolicy,
  type MarkComponent,
  MARK_COMPONENTS,
  type FeePolicy,
  type BackstopStrategy,
  type PatientStrategy,
  type StrategySpec,
  type StrategyChoice,
  type ExecutionConfig,
  type VolatilityConfig,
  type VolatilityModel,
  type ImpactFitConfig,
} from './config-types.js';
export { type JournalConfig, type Durability } from './journal/config.js';
export { type EwmaConfig } from './models/ewma.js';
export { type GarchConfig } from './models/garch.js';
export { type HarConfig } from './models/har.js';
export { UnwindError, ErrorCode, isUnwindError } from './errors.js';
export { type MarketSpec, type PositionUpdate, type PriceUpdate } from './tables/writer.js';
export { BYTES_PER_POSITION, BYTES_PER_ACCOUNT, LAYOUT_VERSION } from './tables/layout.js';
export {
  type LiquidationOrder,
  type MarginCall,
  type OrderReasonName,
  type TakeoverOrder,
  type StateChange,
  type CappedWork,
  orderId,
} from './clearing/orders.js';
export { type Fill } from './clearing/open-orders.js';
export { type CapName } from './executor/caps.js';
export { type LifecycleState } from './executor/lifecycle.js';
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
export { type KillLevel, KILL_LEVELS, type MarketStatusChange } from './clearing/market-mode.js';
export { type Ledger } from './ledger/ledger.js';
export { type AccountReport, type PositionReport, type CrossSummary } from './risk/account-report.js';
export { type Tick, type TickBatch } from './oracle/report.js';
export { type OracleStats, type ResolvedOracleConfig, type ResolvedOracleMarket } from './oracle/oracle.js';
export { SourceSigner, signReports } from './oracle/keys.js';
export { SignatureVerifier, type VerifierOptions, type VerifierStats, type Pending } from './oracle/verifier.js';
export { VerifyingIntake, type IntakeLimits, type IntakeStats, type IntakeTarget } from './oracle/intake.js';
export * as domain from './domain/index.js';
export { FeedServer, CloseCode, type FeedServerOptions, type FeedStats, type RejectedFrame, type Role } from './feed/server.js';
export { type FeedMetrics, type ConnectionEvent, type Observed, type Readiness, type Unready } from './feed/server-metrics.js';
export { type ProbeListener } from './feed/server-routes.js';
export { type ResolvedServerOptions, type TokenSpec } from './feed/server-options.js';
