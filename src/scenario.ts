/**
 * Scenarios: a JSON description of markets, accounts and positions that `unwind check` evaluates, so that anyone
 * can reproduce any number the engine shows. Loading validates every field and names the bad one.
 */
import { type EngineConfig } from './config.js';
import { Engine, type EpochResult } from './engine/engine.js';
import { ErrorCode, UnwindError } from './errors.js';
import type { Deleveraging, FillPreview } from './clearing/clearing.js';
import type { FeePolicy, SizingPolicy } from './config-types.js';
import { type CappedWork, type LiquidationOrder, type MarginCall, type StateChange } from './clearing/orders.js';
import { type AccountReport } from './risk/account-report.js';
import { type MarginTier } from './domain/tiers.js';

export interface ScenarioMarket {
  readonly id: number;
  readonly symbol?: string;
  readonly price: number;
  /** Oracle price when it differs from the mark (`price`). */
  readonly oraclePrice?: number;
  readonly tiers: readonly MarginTier[];
}
export interface ScenarioPosition {
  readonly market: number;
  readonly size: number;
  readonly entryPrice: number;
  /** null: cross-margined. */
  readonly isolatedCollateral: number | null;
}
export interface ScenarioAccount {
  readonly id: number;
  readonly collateral: number;
  readonly positions: readonly ScenarioPosition[];
}
export interface Scenario {
  readonly markets: readonly ScenarioMarket[];
  readonly accounts: readonly ScenarioAccount[];
  readonly config?: Pick<EngineConfig, 'bankruptcyAdjustment' | 'spreadToMaintenanceMarginRatio' | 'marginCallHealth' | 'sizing' | 'fees' | 'lifecycle' | 'caps'>;
}

export interface CheckReport {
  readonly accounts: AccountReport[];
  /**
   * Each order with what it would settle if it filled whole at its limit price (fee, insurance draw, deficit), and
   * whether it closes the whole position or part of it.
   */
  readonly orders: (LiquidationOrder & FillPreview & { closes: 'whole' | 'partial' })[];
  /** Orders the insurance fund could not pay, deleveraged at the bankruptcy value instead (deficitPolicy 'adl'). */
  readonly deleveragings: Deleveraging[];
  readonly marginCalls: MarginCall[];
  /** Lifecycle transitions of the one epoch (healthy -> margin-call, -> liquidating, ...). */
  readonly stateChanges: StateChange[];
  /** Work a liquidation cap held back (caps are off unless the scenario's config sets them). */
  readonly capped: CappedWork[];
  readonly config: { bankruptcyAdjustment: number; spreadToMaintenanceMarginRatio: number; marginCallHealth: number; sizing: SizingPolicy; fees: FeePolicy };
}

function bad(field: string, message: string): never {
  throw new UnwindError(ErrorCode.InvalidScenario, message, field);
}
function arrayAt(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) bad(field, `expected an array, got ${v === null ? 'null' : typeof v}`);
  return v;
}
function objectAt(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(field, `expected an object, got ${v === null ? 'null' : typeof v}`);
  return v as Record<string, unknown>;
}

/** Checks the shape (types the engine's own validation does not see); values are checked as they load. */
export function parseScenario(json: unknown): Scenario {
  const root = objectAt(json, 'scenario');
  const markets = arrayAt(root.markets, 'markets');
  markets.forEach((m, i) => arrayAt(objectAt(m, `markets[${i}]`).tiers, `markets[${i}].tiers`));
  const accounts = arrayAt(root.accounts, 'accounts');
  accounts.forEach((a, i) => {
    const acct = objectAt(a, `accounts[${i}]`);
    arrayAt(acct.positions ?? [], `accounts[${i}].positions`).forEach((p, j) => {
      const pos = objectAt(p, `accounts[${i}].positions[${j}]`);
      if (!('isolatedCollateral' in pos)) bad(`accounts[${i}].positions[${j}].isolatedCollateral`, 'missing (null means cross-margined)');
    });
  });
  if (root.config !== undefined) objectAt(root.config, 'config');
  return root as unknown as Scenario;
}

/** Loads a scenario into an engine (inline unless `scanWorkers` says otherwise). Throws naming the bad field. */
export async function loadScenario(s: Scenario, options: { scanWorkers?: number } = {}): Promise<Engine> {
  // One position per account per market: each market reserves a slot per account.
  const perMarket = Math.max(1, s.accounts.length);
  const c = s.config ?? {};
  let engine: Engine;
  try {
    engine = await Engine.start({
      ...c,
      scanWorkers: options.scanWorkers ?? 0,
      autoEpoch: false,
      capacity: { markets: Math.max(1, s.markets.length), accounts: Math.max(1, s.accounts.length), positions: perMarket * Math.max(1, s.markets.length) },
    });
  } catch (e) {
    throw renamed(e, (f) => `config.${f}`);
  }
  try {
    populate(engine, s, perMarket);
  } catch (e) {
    await engine.close();
    throw e;
  }
  return engine;
}

/**
 * Adds a scenario's markets and accounts to a running engine, naming the bad field on rejection (the engine keeps
 * what was added before it). `positionCapacity`: slots each market reserves (default: the engine's equal share).
 */
export function populate(engine: Engine, s: Pick<Scenario, 'markets' | 'accounts'>, positionCapacity?: number): void {
  s.markets.forEach((m, i) => {
    within('market', `markets[${i}]`, () => engine.addMarket({ id: m.id, symbol: m.symbol, price: m.price, tiers: m.tiers, positionCapacity }));
    if (m.oraclePrice !== undefined) engine.pushPrice(m.id, m.price, m.oraclePrice);
  });
  s.accounts.forEach((a, i) => {
    within('account', `accounts[${i}]`, () => engine.addAccount(a.id, a.collateral));
    const seen = new Set<number>();
    (a.positions ?? []).forEach((p, j) => {
      const field = `accounts[${i}].positions[${j}]`;
      if (seen.has(p.market)) bad(`${field}.market`, `account ${a.id} already has a position in market ${p.market}`);
      seen.add(p.market);
      within('position', field, () => engine.upsertPosition({ ...p, account: a.id }));
    });
  });
}

/**
 * Runs `add`, naming a rejected field under `prefix` instead of the input's own name for it (`market.id` becomes
 * `markets[2].id`).
 */
function within(own: string, prefix: string, add: () => void): void {
  try {
    add();
  } catch (e) {
    throw renamed(e, (f) => (f === own || f.startsWith(`${own}.`) || f.startsWith(`${own}[`) ? prefix + f.slice(own.length) : undefined));
  }
}

/** `e` naming its field as `rename` says (undefined: as it was); any other error as it is. */
function renamed(e: unknown, rename: (field: string) => string | undefined): unknown {
  const field = e instanceof UnwindError && e.field !== undefined ? rename(e.field) : undefined;
  if (field === undefined) return e;
  const { code, message, field: was } = e as UnwindError;
  return new UnwindError(code, message.slice(was!.length + 2), field);
}

/** Evaluates a scenario: one epoch, then every account's report. */
export async function checkScenario(s: Scenario, options: { scanWorkers?: number } = {}): Promise<CheckReport> {
  const engine = await loadScenario(s, options);
  try {
    // The accounts as loaded: the report is a plan; deleveragings the epoch decides land in the engine only.
    const accounts = s.accounts.map((a) => engine.account(a.id));
    const sizeOf = new Map(accounts.flatMap((a) => a.positions.map((p) => [`${a.id}/${p.market}`, Math.abs(p.size)] as const)));
    const deleveragings: Deleveraging[] = [];
    engine.onDeleverage((d) => deleveragings.push(d));
    const r: EpochResult = await engine.step();
    const c = engine.config;
    const closes = (o: LiquidationOrder): 'whole' | 'partial' => (o.quantity >= (sizeOf.get(`${o.account}/${o.market}`) ?? 0) * (1 - 1e-12) ? 'whole' : 'partial');
    return {
      accounts,
      orders: r.orders.map((o) => ({ ...o, ...engine.previewFill(o), closes: closes(o) })),
      deleveragings,
      marginCalls: r.marginCalls,
      stateChanges: r.stateChanges,
      capped: r.capped,
      config: {
        bankruptcyAdjustment: c.bankruptcyAdjustment,
        spreadToMaintenanceMarginRatio: c.spreadToMaintenanceMarginRatio,
        marginCallHealth: c.marginCallHealth,
        sizing: c.sizing,
        fees: c.fees,
      },
    };
  } finally {
    await engine.close();
  }
}
