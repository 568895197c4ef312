/** Engine configuration with its defaults (dYdX v4 for the fillable price; docs/domain.md section 8 gives each one's source). */
// Imports only leaves: the settings' types, defaults and validators (src/config-types.ts, which the implementations
// import too), errors, validation helpers, one pure formula (healingShareBound) and the journal's config type.
import { availableParallelism } from 'node:os';
import {
  DEFAULT_EXECUTION,
  DEFAULT_FEE_POLICY,
  DEFAULT_LIFECYCLE,
  DEFAULT_POSITIONS_PER_ACCOUNT,
  DEFAULT_QUOTE_DECIMALS,
  DEFAULT_SIZING_POLICY,
  NO_CAPS,
  resolveClockPolicy,
  validateCapacities,
  validateCaps,
  validateExecution,
  validateSizingPolicy,
  type Capacities,
  type CapsConfig,
  type ClockPolicy,
  type ExecutionConfig,
  type FeePolicy,
  type ExecutorConfig,
  type OracleConfig,
  type SizingPolicy,
} from './config-types.js';
import { DEFAULT_BANKRUPTCY_ADJUSTMENT, DEFAULT_SPREAD_TO_MAINTENANCE_MARGIN_RATIO, healingShareBound } from './domain/liquidation.js';
import { checkConfig, engineConfigSchema, type EngineSchemaKeys, type SameKeys } from './config-schema.js';
import { ErrorCode, UnwindError } from './errors.js';
import type { JournalConfig } from './journal/config.js';
import { describe } from './validate.js';

/** What `Engine.start` takes. Every field is optional; `resolveConfig` applies the defaults each field names. */
export interface EngineConfig {
  /**
   * Preallocated table sizes. Defaults: 64 markets, 100,000 accounts, 1,000,000 positions, and at most
   * min(markets, 16) positions per account.
   */
  readonly capacity?: Partial<Capacities>;
  /** Scan worker threads; 0 scans on the calling thread and runs the executor in-process (for `check`). */
  readonly scanWorkers?: number;
  /**
   * How an epoch finds its candidates (README "Scan"): 'index' (the default) visits only the positions whose trigger
   * price the mark crossed (src/engine/trigger-index.ts), with a full scan every `fullScanEvery` epochs (default 64)
   * that counts any group the index missed; 'full' scans the book every epoch. `band` (default 0.01): how far a
   * market may move before the cross accounts holding it are recomputed.
   */
  readonly scan?: Partial<ScanConfig>;
  /** dYdX's bankruptcy adjustment (BA) in the fillable price, >= 1 (docs/domain.md section 2). Default 1. */
  readonly bankruptcyAdjustment?: number;
  /** dYdX's spread to maintenance margin ratio (SMMR) in the fillable price, >= 0. Default 0.1. */
  readonly spreadToMaintenanceMarginRatio?: number;
  /** Health below which a margin call is raised; must exceed 1. Default 1.2. */
  readonly marginCallHealth?: number;
  /** Run an epoch automatically after inputs (default true); false: epochs run only on `step()`. */
  readonly autoEpoch?: boolean;
  /** Decimals of the quote currency in the ledger: balances are integers of 10^-quoteDecimals. Default 6. */
  readonly quoteDecimals?: number;
  /**
   * Liquidation fee bounds and insurance-fund layout. Default: at most 1.5% of the closed notional (dYdX) and 0.5 of the
   * maintenance margin released (k: partial closes heal; lowered to the healing bound if needed), a fund per market.
   */
  readonly fees?: Partial<FeePolicy>;
  /** Issued orders remembered for matching fills. Default 1,048,576. */
  readonly maxOpenOrders?: number;
  /**
   * A fill must be no worse than its order's limit and may beat it by at most this fraction of the order's oracle
   * price (a sell fills in [limit, max(limit, oracle x (1 + band))]); else INVALID_FILL. Default 0.1.
   */
  readonly fillPriceBand?: number;
  /**
   * Event time (microseconds) an order may stay open, unfilled and unexpired, before the engine times it out and
   * re-evaluates its position (a new order with a new id if it is still liquidatable). Default 30 s.
   */
  readonly orderTimeoutUs?: number;
  /**
   * Under 'adl', deleverage automatically (default true): an order the insurance fund could not pay is deleveraged
   * at the bankruptcy value instead, and what is left of a group after an uncovered fill too. False: only by hand
   * (`Engine.deleverage`); bad debt is reported (onUnresolvedDeficit) once the group has no position.
   */
  readonly autoDeleverage?: boolean;
  /**
   * Who bears a deficit the insurance fund could not pay: 'adl' (default: the ADL queue, at the bankruptcy value,
   * before the fill where the fund cannot pay it) or 'socialized' (the opposite side pays it at once, pro rata to
   * position size). Only counterparties with positive equity take part, none beyond its equity; what is left over
   * is reported (onUnresolvedDeficit).
   */
  readonly deficitPolicy?: 'adl' | 'socialized';
  /**
   * The insurance fund covers losses up to `max` (a fraction) of its peak within `windowUs` of event time and no
   * further (OKX: 0.3 over 8 h); the rest falls to the deficit policy. Default: off.
   */
  readonly fundDrawdown?: Partial<{ max: number; windowUs: number }>;
  /**
   * How much of a liquidatable group to close per step (docs/domain.md section 3): default target health 1.05, whole
   * below 1,000 quote or below health 2/3, 20% steps above 100,000 quote. `{ emergencyHealth: 1 }` closes whole.
   */
  readonly sizing?: Partial<SizingPolicy>;
  /** After a large position steps down, microseconds of event time before its next step (default 30 s, Hyperliquid). */
  readonly stepDownCooldownUs?: number;
  /**
   * The account lifecycle (README "Liquidation procedures"): a margin call clears above marginCallHealth +
   * marginCallHysteresis (default 0.05); liquidation ends above health 1 + exitBuffer (default 0.02, Drift).
   */
  readonly lifecycle?: Partial<{ marginCallHysteresis: number; exitBuffer: number }>;
  /**
   * Liquidation caps (README "Liquidation procedures"), off unless set: they count in the inputs' event time
   * (ticks' and fills' eventTimeUs), which inputs without one do not advance. DEFAULT_CAPS (src/config-types.ts)
   * are a starting point.
   */
  readonly caps?: Partial<CapsConfig>;
  /**
   * Execution strategies (README "Execution strategies"): how a sized liquidation is put on the book over event time,
   * by default and per market, by position size. Default: 'ioc' everywhere (the whole sized quantity at once).
   */
  readonly execution?: ExecutionConfig;
  /**
   * Oracle markets (README "Oracle and mark price"): each listed market takes its oracle and mark prices from its
   * sources' signed reports, aggregated and guarded; a market not listed takes direct prices (pushPrice).
   */
  readonly oracle?: OracleConfig;
  /**
   * The engine's clock (README "Oracle and mark price", "Clock"): once it has a clock input (advanceClock; `unwind
   * serve` gives the wall clock), event times more than `maxSkewUs` ahead of it are refused (CLOCK_SKEW; default
   * 10 s), and one reading moves it by at most `maxStepUs` (default 60 s).
   */
  readonly clock?: Partial<ClockPolicy>;
  /**
   * The journal (README "Journal"): every accepted input and epoch boundary on disk before its orders leave, with
   * snapshots; `Engine.start` recovers from it. Default: none.
   */
  readonly journal?: JournalConfig;
  /**
   * This engine is shard `index` of `count` (README "Sharding beyond one machine"): it takes every input a single
   * engine would, numbering them alike, and applies those naming an account only for the accounts `shardOf(account,
   * count) === index` selects. Default: { index: 0, count: 1 } (one engine holds every account).
   */
  readonly shard?: Partial<ShardConfig>;
}

/** Which shard of how many an engine is (EngineConfig.shard). */
export interface ShardConfig {
  /** This engine's shard, in [0, count). */
  readonly index: number;
  /** How many shards split the accounts, >= 1. */
  readonly count: number;
}

/** Every key of EngineConfig has its entry in the schema (src/config-schema.ts), and no other: else this fails to compile. */
const schemaKnowsEveryKey: SameKeys<keyof EngineConfig, EngineSchemaKeys> = true;
void schemaKnowsEveryKey;

/** How an epoch finds its candidates (EngineConfig.scan says what each field does). */
export interface ScanConfig {
  /** 'index' (the trigger index) or 'full' (every position, every epoch). */
  readonly mode: 'index' | 'full';
  /** Under 'index', a full scan every this many epochs, counting any group the index missed. */
  readonly fullScanEvery: number;
  /** How far (a fraction) a market may move before the cross accounts holding it are recomputed. */
  readonly band: number;
}

/** An EngineConfig with every default applied (each field as EngineConfig's): `engine.config`. */
export interface ResolvedConfig extends ExecutorConfig {
  readonly capacity: Capacities;
  readonly scanWorkers: number;
  readonly scan: ScanConfig;
  readonly autoEpoch: boolean;
  readonly quoteDecimals: number;
  readonly maxOpenOrders: number;
  readonly fillPriceBand: number;
  readonly orderTimeoutUs: number;
  readonly autoDeleverage: boolean;
  readonly deficitPolicy: 'adl' | 'socialized';
  readonly fundDrawdown: { readonly max: number; readonly windowUs: number };
  readonly clock: ClockPolicy;
  /** Which shard of how many this engine is ({ index: 0, count: 1 }: every account). */
  readonly shard: ShardConfig;
}

/** The default `marginCallHealth`. */
export const DEFAULT_MARGIN_CALL_HEALTH = 1.2;

function scanOf(c: Partial<ScanConfig> | undefined): ScanConfig {
  const mode = c?.mode ?? 'index';
  if (mode !== 'index' && mode !== 'full') throw new UnwindError(ErrorCode.InvalidConfig, `expected 'index' or 'full', got ${JSON.stringify(mode)}`, 'scan.mode');
  const fullScanEvery = c?.fullScanEvery ?? 64;
  if (!Number.isInteger(fullScanEvery) || fullScanEvery < 1 || fullScanEvery > 1_000_000) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer in [1, 1000000], got ${String(fullScanEvery)}`, 'scan.fullScanEvery');
  }
  const band = c?.band ?? 0.01;
  if (!(band > 0 && band < 0.5)) throw new UnwindError(ErrorCode.InvalidConfig, `expected a fraction in (0, 0.5), got ${String(band)}`, 'scan.band');
  return { mode, fullScanEvery, band };
}

function deficitPolicyOf(v: unknown): 'adl' | 'socialized' {
  if (v === undefined) return 'adl';
  if (v !== 'adl' && v !== 'socialized') throw new UnwindError(ErrorCode.InvalidConfig, `expected "adl" or "socialized", got ${String(v)}`, 'deficitPolicy');
  return v;
}

function drawdownOf(v: number): number {
  if (!(v > 0 && v <= 1)) throw new UnwindError(ErrorCode.InvalidConfig, `expected a fraction in (0, 1], got ${String(v)}`, 'fundDrawdown.max');
  return v;
}

function fillPriceBandOf(v: number | undefined): number {
  if (v === undefined) return 0.1;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new UnwindError(ErrorCode.InvalidConfig, `expected a fraction in [0, 1], got ${String(v)}`, 'fillPriceBand');
  return v;
}

function orderTimeoutOf(v: number | undefined): number {
  if (v === undefined) return 30_000_000;
  if (typeof v !== 'number' || !(v > 0)) throw new UnwindError(ErrorCode.InvalidConfig, `expected microseconds > 0 (Infinity: never), got ${String(v)}`, 'orderTimeoutUs');
  return v;
}

/**
 * The shard, checked: integers, 0 <= index < count. With more than one shard, what binds across accounts and is not
 * built for shards is refused (README "Sharding beyond one machine"): a backstop vault (one account, in one shard, that
 * every shard's takeovers would move positions into), the caps that count a whole market (notional per window, orders
 * in flight), which each shard would apply to its own accounts alone, and the impact fitted to all of our fills.
 */
function shardConfigOf(given: Partial<ShardConfig> | undefined, caps: CapsConfig, execution: ExecutionConfig): ShardConfig {
  const count = given?.count ?? 1;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 0xffff) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer in [1, 65535], got ${describe(count)}`, 'shard.count');
  }
  const index = given?.index ?? 0;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer in [0, ${count - 1}] (shard.count is ${count}), got ${describe(index)}`, 'shard.index');
  }
  if (count > 1) {
    for (const key of ['marketNotionalPerWindow', 'maxInFlight'] as const) {
      if (caps[key] !== Infinity) throw new UnwindError(ErrorCode.InvalidConfig, `caps.${key} counts a whole market, which no shard holds: not built for shard.count > 1 (README "Sharding beyond one machine")`, `caps.${key}`);
    }
    const strategies = strategiesIn(execution);
    if (strategies.some((x) => x.kind === 'backstop')) {
      throw new UnwindError(ErrorCode.InvalidConfig, "a backstop vault is one account, held by one shard: the 'backstop' strategy is not built for shard.count > 1", 'execution');
    }
    // The impact fitted to our own fills (src/engine/impact-observer.ts) learns from one shard's fills in a shard.
    if (strategies.some((x) => x.kind === 'almgren-chriss' && x.eta === undefined)) {
      throw new UnwindError(ErrorCode.InvalidConfig, "an 'almgren-chriss' strategy without eta takes the impact fitted to the engine's own fills, which a shard sees only part of: give eta with shard.count > 1", 'execution');
    }
  }
  return { index, count };
}

/** Every strategy object an execution config names, at any depth (by default, per market, an adaptive one's parts). */
function strategiesIn(v: unknown, out: { kind?: unknown; eta?: unknown }[] = []): { kind?: unknown; eta?: unknown }[] {
  if (v === null || typeof v !== 'object') return out;
  if ('kind' in v) out.push(v as { kind?: unknown; eta?: unknown });
  for (const x of Object.values(v)) strategiesIn(x, out);
  return out;
}

function nonNegative(v: number, field: string): number {
  if (!(v >= 0) || !Number.isFinite(v)) throw new UnwindError(ErrorCode.InvalidConfig, `expected a finite number >= 0, got ${String(v)}`, field);
  return v;
}

/**
 * The fee policy, checked. k (`maxMaintenanceShare`) must leave every close above the emergency level healing
 * (`healingShareBound`): an explicit k above the bound is INVALID_CONFIG; the default is 0.5, lowered to the bound
 * where the fillable price's concession needs it (dYdX mainnet's SMMR 1.5 with emergency 2/3: k = 1/6).
 */
function feePolicyOf(given: Partial<FeePolicy> | undefined, emergencyHealth: number, ba: number, smmr: number): FeePolicy {
  const bound = healingShareBound(emergencyHealth, ba, smmr);
  const k = given?.maxMaintenanceShare ?? Math.min(DEFAULT_FEE_POLICY.maxMaintenanceShare, bound);
  const fees: FeePolicy = { ...DEFAULT_FEE_POLICY, ...given, maxMaintenanceShare: k };
  if (!(fees.maxFeeFraction >= 0 && fees.maxFeeFraction <= 1)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a number in [0, 1], got ${String(fees.maxFeeFraction)}`, 'fees.maxFeeFraction');
  }
  if (bound < 0) {
    const why = `closes at the fillable price lower health just above the emergency level ${emergencyHealth} whatever the fee (concession ${ba} x ${smmr} x (1 - h) outweighs h): raise sizing.emergencyHealth or lower spreadToMaintenanceMarginRatio`;
    throw new UnwindError(ErrorCode.InvalidConfig, why, 'sizing.emergencyHealth');
  }
  if (!(k >= 0 && k <= bound)) {
    const why = `expected a number in [0, ${bound}] (k <= e - min(BA (1 - e), 1) x SMMR, so that every close above the emergency level e = ${emergencyHealth} raises health), got ${String(k)}`;
    throw new UnwindError(ErrorCode.InvalidConfig, why, 'fees.maxMaintenanceShare');
  }
  return fees;
}

/** Config fields that are objects when given (not null, not arrays; the journal's resolver checks its own). */
const OBJECT_FIELDS = ['capacity', 'scan', 'fees', 'fundDrawdown', 'sizing', 'lifecycle', 'caps', 'oracle', 'clock', 'shard'] as const;
/** Fields whose value is one of a few strings: a string when given (null does not mean absent). */
const STRING_FIELDS = ['scan.mode', 'deficitPolicy', 'fees.fund', 'oracle.signatures'] as const;
/** Numeric fields checked by comparisons below, which a symbol or a bigint would make throw a TypeError. */
const NUMBER_FIELDS = [
  'scanWorkers',
  'scan.fullScanEvery',
  'scan.band',
  'bankruptcyAdjustment',
  'spreadToMaintenanceMarginRatio',
  'marginCallHealth',
  'quoteDecimals',
  'maxOpenOrders',
  'stepDownCooldownUs',
  'fillPriceBand',
  'orderTimeoutUs',
  'capacity.markets',
  'capacity.accounts',
  'capacity.positions',
  'capacity.positionsPerAccount',
  'capacity.candidates',
  'capacity.output',
  'fees.maxFeeFraction',
  'fees.maxMaintenanceShare',
  'fundDrawdown.max',
  'fundDrawdown.windowUs',
  'lifecycle.marginCallHysteresis',
  'lifecycle.exitBuffer',
  'shard.index',
  'shard.count',
] as const;

/** The config's shape: an object, its sub-configs objects, its flags booleans and its numbers numbers (ranges come after). */
function checkShape(c: EngineConfig): void {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new UnwindError(ErrorCode.InvalidConfig, `expected a config object, got ${describe(c)}`);
  const fields = c as Readonly<Record<string, unknown>>;
  for (const key of OBJECT_FIELDS) {
    const v = fields[key];
    if (v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v))) throw new UnwindError(ErrorCode.InvalidConfig, `expected an object, got ${describe(v)}`, key);
  }
  for (const key of ['autoEpoch', 'autoDeleverage'] as const) {
    if (c[key] !== undefined && typeof c[key] !== 'boolean') throw new UnwindError(ErrorCode.InvalidConfig, `expected true or false, got ${describe(c[key])}`, key);
  }
  const at = (path: string): unknown => {
    const [outer, inner] = path.split('.') as [string, string | undefined];
    return inner === undefined ? fields[outer] : (fields[outer] as Readonly<Record<string, unknown>> | undefined)?.[inner];
  };
  for (const path of NUMBER_FIELDS) {
    const v = at(path);
    if (v !== undefined && typeof v !== 'number') throw new UnwindError(ErrorCode.InvalidConfig, `expected a number, got ${describe(v)}`, path);
  }
  for (const path of STRING_FIELDS) {
    const v = at(path);
    if (v !== undefined && typeof v !== 'string') throw new UnwindError(ErrorCode.InvalidConfig, `expected a string, got ${describe(v)}`, path);
  }
}

/** Applies the defaults to `c` and checks it whole: INVALID_CONFIG naming the first bad field. */
export function resolveConfig(c: EngineConfig = {}): ResolvedConfig {
  checkShape(c);
  const markets = c.capacity?.markets ?? 64;
  const accounts = c.capacity?.accounts ?? 100_000;
  const positions = c.capacity?.positions ?? 1_000_000;
  const capacity: Capacities = {
    markets,
    accounts,
    positions,
    positionsPerAccount: c.capacity?.positionsPerAccount ?? Math.min(markets, DEFAULT_POSITIONS_PER_ACCOUNT),
    candidates: c.capacity?.candidates ?? Math.min(accounts + positions, 1 << 20),
    output: c.capacity?.output ?? 65_536,
  };
  validateCapacities(capacity); // every capacity checked (INVALID_CONFIG naming it) before start touches a disk or a thread
  const scanWorkers = c.scanWorkers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
  if (!Number.isInteger(scanWorkers) || scanWorkers < 0 || scanWorkers > 64) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer in [0, 64], got ${String(scanWorkers)}`, 'scanWorkers');
  }
  // dYdX v4's LiquidationsConfig.Validate: BankruptcyAdjustmentPpm >= 1,000,000 (BA >= 1), SpreadToMaintenanceMarginRatioPpm
  // > 0 with no upper bound (mainnet: 1.5). SMMR 0 (the fillable price is the oracle) is allowed here as well.
  const bankruptcyAdjustment = c.bankruptcyAdjustment ?? DEFAULT_BANKRUPTCY_ADJUSTMENT;
  if (!(bankruptcyAdjustment >= 1) || !Number.isFinite(bankruptcyAdjustment)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a finite number >= 1 (dYdX: BankruptcyAdjustmentPpm >= 1,000,000), got ${String(bankruptcyAdjustment)}`, 'bankruptcyAdjustment');
  }
  const spreadToMaintenanceMarginRatio = c.spreadToMaintenanceMarginRatio ?? DEFAULT_SPREAD_TO_MAINTENANCE_MARGIN_RATIO;
  if (!(spreadToMaintenanceMarginRatio >= 0) || !Number.isFinite(spreadToMaintenanceMarginRatio)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a finite number >= 0 (dYdX mainnet: 1.5), got ${String(spreadToMaintenanceMarginRatio)}`, 'spreadToMaintenanceMarginRatio');
  }
  const marginCallHealth = c.marginCallHealth ?? DEFAULT_MARGIN_CALL_HEALTH;
  if (!(marginCallHealth > 1) || !Number.isFinite(marginCallHealth)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a finite number > 1, got ${String(marginCallHealth)}`, 'marginCallHealth');
  }
  const quoteDecimals = c.quoteDecimals ?? DEFAULT_QUOTE_DECIMALS;
  if (!Number.isInteger(quoteDecimals) || quoteDecimals < 0 || quoteDecimals > 12) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer in [0, 12], got ${String(quoteDecimals)}`, 'quoteDecimals');
  }
  const sizing = validateSizingPolicy({ ...DEFAULT_SIZING_POLICY, ...c.sizing });
  const fees = feePolicyOf(c.fees, sizing.emergencyHealth, bankruptcyAdjustment, spreadToMaintenanceMarginRatio);
  if (fees.fund !== 'per-market' && fees.fund !== 'pooled') {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected "per-market" or "pooled", got ${String(fees.fund)}`, 'fees.fund');
  }
  const maxOpenOrders = c.maxOpenOrders ?? 1 << 20;
  if (!Number.isInteger(maxOpenOrders) || maxOpenOrders < 1) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a positive integer, got ${String(maxOpenOrders)}`, 'maxOpenOrders');
  }
  const caps = validateCaps({ ...NO_CAPS, ...c.caps });
  const lifecycle = { marginCallHysteresis: DEFAULT_LIFECYCLE.marginCallHysteresis, exitBuffer: DEFAULT_LIFECYCLE.exitBuffer, ...c.lifecycle };
  for (const key of ['marginCallHysteresis', 'exitBuffer'] as const) nonNegative(lifecycle[key], `lifecycle.${key}`);
  const execution = c.execution === undefined ? DEFAULT_EXECUTION : validateExecution(c.execution);
  const scan = scanOf(c.scan);
  const fillPriceBand = fillPriceBandOf(c.fillPriceBand);
  const orderTimeoutUs = orderTimeoutOf(c.orderTimeoutUs);
  const deficitPolicy = deficitPolicyOf(c.deficitPolicy);
  const clock = resolveClockPolicy(c.clock);
  const shard = shardConfigOf(c.shard, caps, execution);
  const stepDownCooldownUs = nonNegative(c.stepDownCooldownUs ?? 30_000_000, 'stepDownCooldownUs');
  const fundDrawdown = {
    max: c.fundDrawdown?.max === undefined ? Infinity : drawdownOf(c.fundDrawdown.max),
    windowUs: nonNegative(c.fundDrawdown?.windowUs ?? 8 * 3600 * 1e6, 'fundDrawdown.windowUs'),
  };
  // The rules above own the ranges and the rules between keys; the schema then refuses what they never look at:
  // unknown keys at any depth (engine.scanWorker: "did you mean scanWorkers?") and values of the wrong type.
  checkConfig(engineConfigSchema, c);
  return {
    capacity,
    scanWorkers,
    scan,
    sizing,
    lifecycle,
    caps,
    stepDownCooldownUs,
    execution,
    quoteDecimals,
    fees,
    maxOpenOrders,
    fillPriceBand,
    orderTimeoutUs,
    autoDeleverage: c.autoDeleverage ?? true,
    deficitPolicy,
    fundDrawdown,
    bankruptcyAdjustment,
    spreadToMaintenanceMarginRatio,
    marginCallHealth,
    autoEpoch: c.autoEpoch ?? true,
    clock,
    shard,
  };
}
