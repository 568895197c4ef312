/**
 * Thread: main (the embedding application's); the main thread's one entry point. The Engine is the embedding
 * API for a matching engine beside us: its input methods build input values (src/engine/inputs.ts) and hand them
 * to the one input path (src/engine/core.ts); its outputs are listeners and reads of the tables.
 * Writes: markets, accounts, positions and terms' inputs (through the single TableWriter, src/tables/writer.ts),
 *         between epochs only; the ledger and open orders (src/clearing); the journal (src/journal).
 * Reads:  output rows after the executor publishes an epoch; the tables for account reports.
 * Publishes: each input's staged writes at an epoch's start, then the scan tasks and the executor's epoch through
 *         the Atomics handshake (src/concurrency/epoch.ts); orders once their epoch is durable in the journal.
 * Threads it starts: the scan pool (workers/scan.worker.ts) and the executor (workers/executor.worker.ts).
 */
import type { EngineConfig, ResolvedConfig } from '../config.js';
import { ErrorCode, UnwindError } from '../errors.js';
import type { LiquidationOrder, MarginCall, StateChange } from '../clearing/orders.js';
import type { Deleveraging, FillPreview, Settlement, SocializedLoss, Takeover, UnresolvedDeficit } from '../clearing/clearing.js';
import type { Fill } from '../clearing/open-orders.js';
import type { KillLevel, MarketStatusChange } from '../clearing/market-mode.js';
import type { AdlQueueEntry } from '../domain/adl.js';
import type { Ledger } from '../ledger/ledger.js';
import type { TriggerIndexStats } from './trigger-index.js';
import type { OracleStats, ResolvedOracleConfig } from '../oracle/oracle.js';
import { tickBatchOf, type Tick, type TickBatch } from '../oracle/report.js';
import { accountReport, crossSummary, type AccountReport, type CrossSummary } from '../risk/account-report.js';
import type { Tables } from '../tables/layout.js';
import { describe, MAX_ABS_SIZE, requireId, requireObject, requirePrice } from '../validate.js';
import type { MarketSpec, PositionUpdate, PriceUpdate } from '../tables/writer.js';
import type { EngineCore, EpochResult, Listener } from './core.js';
import type { CollateralUpdate, Input, MarketBook, MarketDepth } from './inputs.js';
import type { Recovery } from './recovery.js';
import type { ShardStatus } from './shard.js';
import { startCore } from './start.js';

export type { EpochResult } from './core.js';

/** Adds `listener` to `set`; returns the function that removes it. A listener that is not a function is refused now, not when first called. */
function subscribe<T>(set: Set<Listener<T>>, listener: Listener<T>): () => void {
  if (typeof listener !== 'function') throw new UnwindError(ErrorCode.InvalidArgument, `expected a function, got ${describe(listener)}`, 'listener');
  set.add(listener);
  return () => set.delete(listener);
}

/**
 * The liquidation engine, embedded: shared-memory tables scanned by worker threads and one executor thread (README
 * "Usage: embedding the engine"). Inputs go in through the methods below (each builds an Input), outputs come out as
 * events and as `step()` results; a bad argument throws a coded UnwindError and changes nothing.
 */
export class Engine {
  /** The config it runs under, every default applied. */
  readonly config: ResolvedConfig;
  /** The shared-memory tables, for benchmarks and tests that read them in place (not a stable API). @internal */
  readonly tables: Tables;

  private constructor(
    private readonly core: EngineCore,
    /** What recovery found and did; undefined without a journal. */
    readonly recovery: Recovery | undefined,
  ) {
    this.config = core.config;
    this.tables = core.tables;
  }

  /**
   * Allocates the tables and starts the threads. With `config.journal`, first recovers from the journal's directory
   * (newest valid snapshot, then the journal's tail; README "Journal"): `engine.recovery` says what it found.
   */
  static async start(config: EngineConfig = {}): Promise<Engine> {
    const { core, recovery } = await startCore(config);
    return new Engine(core, recovery);
  }

  /** @internal A replica's engine (src/cluster/replica.ts), around the core it started as a standby. */
  static fromCore(core: EngineCore, recovery: Recovery | undefined): Engine {
    return new Engine(core, recovery);
  }

  // ---- inputs: each builds an input value for the one input path; a rejection throws UnwindError and changes nothing ----

  /**
   * Takes any input as a value (src/engine/inputs.ts): what the methods below build, what the journal stores, and
   * what a replica or a remote publisher sends.
   */
  submit(input: Input): void {
    this.core.submit(input);
  }

  /** Adds a market with its tiered margin schedule (DUPLICATE_MARKET, INVALID_TIERS, CAPACITY_EXCEEDED). */
  addMarket(spec: MarketSpec): void {
    this.core.submit({ kind: 'market', spec });
  }

  /** Opens an account with its cross collateral, quote units (DUPLICATE_ACCOUNT, CAPACITY_EXCEEDED). */
  addAccount(id: number, collateral = 0): void {
    this.core.submit({ kind: 'account', id, collateral });
  }

  /** Sets an account's cross collateral, quote units (absolute, not a delta). */
  setCollateral(account: number, collateral: number): void {
    this.core.submit({ kind: 'collateral', account, collateral });
  }

  /**
   * Several collateral updates as one batch, in order, validated before any is accepted. With `createAccounts`,
   * an unknown account is opened with that collateral; otherwise it is UNKNOWN_ACCOUNT.
   */
  setCollaterals(updates: readonly CollateralUpdate[], createAccounts = false): void {
    this.core.submit({ kind: 'collaterals', updates, createAccounts });
  }

  /**
   * Creates or replaces a position (size 0 closes it); a new position state is a new input sequence, so a new order
   * id.
   */
  upsertPosition(update: PositionUpdate): void {
    this.core.submit({ kind: 'position', update });
  }

  /** Several position updates as one batch, in order: all are validated (and slots counted) before any is accepted. */
  upsertPositions(updates: readonly PositionUpdate[]): void {
    this.core.submit({ kind: 'positions', updates });
  }

  /**
   * A direct price for a market without oracle sources (ORACLE_MARKET otherwise); the oracle price defaults to it.
   */
  pushPrice(market: number, price: number, oraclePrice?: number): void {
    this.core.submit(oraclePrice === undefined ? { kind: 'price', market, price } : { kind: 'price', market, price, oraclePrice });
  }

  /** Several prices as one batch: all land in the same epoch. Validates all before accepting any. */
  pushPrices(updates: readonly PriceUpdate[]): void {
    this.core.submit({ kind: 'prices', updates });
  }

  /**
   * Prices as columns, one batch (no object per tick): `n` rows of market ids and prices, mark and oracle both
   * taking the price. Validates all before accepting any; errors name `[i].market` / `[i].price`.
   */
  pushPriceColumns(marketIds: ArrayLike<number>, prices: ArrayLike<number>, n: number, eventTimesUs?: ArrayLike<number>): void {
    this.core.submit({ kind: 'priceColumns', market: marketIds, price: prices, n, eventTimeUs: eventTimesUs });
  }

  // ---- the oracle layer (src/oracle): source reports, book data, the clock, the kill switch ----

  /**
   * Price reports from sources: one batch, checked whole before any is taken (UNKNOWN_SOURCE, UNSIGNED_REPORT,
   * BAD_SIGNATURE, REPLAYED_REPORT, ...; counted in oracleStats()). `signatures`: 64 bytes per report, in order.
   */
  pushReports(reports: Tick | readonly Tick[], signatures?: Uint8Array): void {
    this.core.open();
    const list = Array.isArray(reports) ? reports : [requireObject(reports as Tick, 'reports', 'a report or an array of reports')];
    for (let i = 0; i < list.length; i++) requireObject(list[i], `[${i}]`, 'a source report { market, source, price, confidence, eventTimeUs, sourceSequence }'); // not forEach: it skips holes
    if (signatures !== undefined && !(signatures instanceof Uint8Array)) {
      throw new UnwindError(ErrorCode.InvalidArgument, `expected a Uint8Array of 64 bytes per report, got ${describe(signatures)}`, 'signatures');
    }
    this.core.submit({ kind: 'ticks', batch: tickBatchOf(list, signatures) });
  }

  /**
   * Ticks as columns (the feed's hot path): rows for oracle markets are reports (checked as in pushReports); rows
   * for other markets are direct prices (mark = oracle = price), which cannot be signed. One batch: all rows are
   * checked before any is taken. Errors name `[i].field`.
   */
  pushTicks(batch: TickBatch): void {
    this.core.submit({ kind: 'ticks', batch });
  }

  /**
   * The matching engine's book tops for oracle markets (bid, ask, last; 0: not known): they feed the mark price's
   * basis EMA and its book component. One batch, checked whole.
   */
  pushBooks(books: readonly MarketBook[]): void {
    this.core.submit({ kind: 'books', books });
  }

  /**
   * The venue's book volume near the mid, per market and side (base units; Infinity: unknown): the execution
   * strategies' participation caps (`maxParticipation`, `maxFractionOfBook`) take their share of it. One batch, checked
   * whole; it lands like a price and wakes no epoch of its own.
   */
  pushDepth(books: readonly MarketDepth[]): void {
    this.core.submit({ kind: 'depth', books });
  }

  /**
   * A clock reading (microseconds since the Unix epoch) for the oracle's staleness checks: sources that stopped
   * reporting go stale only as time passes. An input like any other (journaled, replayed); never moves backward.
   */
  advanceClock(nowUs: number): void {
    this.core.submit({ kind: 'clock', nowUs });
  }

  /**
   * The operator's kill switch (README "Kill switch"): 'normal', 'no-new' (no new liquidations), 'no-reissue' (no
   * orders at all) or 'halt' (no orders, no deleveraging), for every market or one. Takes effect from the next epoch.
   */
  setKillSwitch(level: KillLevel, market?: number, reason = ''): void {
    this.core.submit({ kind: 'killSwitch', level, market, reason });
  }

  /** The kill level in force in `market` (the higher of its own and the global one), or the global level. */
  killSwitch(market?: number): KillLevel {
    if (market !== undefined) this.core.writer.marketIndexOf(requireId(market, 'market'));
    return this.core.modes.killLevel(market);
  }

  /** Whether liquidations in `market` are held, and why (KILL_SWITCH or an ORACLE_* guard). */
  marketStatus(market: number): { paused: boolean; code: string; reason: string } {
    this.core.writer.marketIndexOf(requireId(market, 'market'));
    return this.core.modes.status(market);
  }

  /** Markets whose prices come from oracle sources (config.oracle), ascending. */
  get oracleMarkets(): readonly number[] {
    return this.core.oracle.marketIds;
  }

  /**
   * The oracle config as resolved at start: each oracle market's sources and their Ed25519 keys. A SignatureVerifier
   * (src/oracle/verifier.ts) verifies under it; its verdicts count only for this very object.
   */
  get oracleConfig(): ResolvedOracleConfig {
    return this.core.oracle.config;
  }

  /** Reports taken and rejected (by code), whether signatures are required, and the oracle clock. */
  oracleStats(): OracleStats {
    return this.core.oracle.stats();
  }

  /** Every market pause and resume (oracle guards, kill switch), in input order. */
  onMarketStatus(listener: Listener<MarketStatusChange>): () => void {
    return subscribe(this.core.listeners.status, listener);
  }

  // ---- the matching engine's answers: fills, expiries; deleveraging and the insurance fund ----

  /**
   * Fills of our liquidation orders from the matching engine, applied in order: checked (UNKNOWN_ORDER,
   * INVALID_FILL, ...) all before any is taken, then each settles where inputs land: realized PnL, the liquidation
   * fee into the insurance fund or the fund's cover, the position shrunk by the fill. `onFill` hears each.
   */
  fill(fills: Fill | readonly Fill[]): void {
    this.core.open();
    this.core.submit({ kind: 'fills', fills: Array.isArray(fills) ? fills : [requireObject(fills as Fill, 'fills', 'a fill or an array of fills')] });
  }

  /**
   * Closes a liquidatable account's position in `market` against the market's ADL queue at its bankruptcy price
   * (docs/domain.md section 4). Done automatically after a fill the insurance fund could not cover (`autoDeleverage`).
   * `onDeleverage` hears the result; nothing happens if the group is no longer below maintenance when it lands.
   */
  deleverage(account: number, market: number): void {
    this.core.submit({ kind: 'deleverage', account, market });
  }

  /**
   * Orders that expired unfilled (IOCs the book could not take): the engine forgets them and re-evaluates their
   * accounts; one still liquidatable gets a new order with a new id. All are checked before any is taken
   * (UNKNOWN_ORDER if an order is not open).
   */
  expire(orderIds: string | readonly string[]): void {
    this.core.submit({ kind: 'expiries', orderIds: typeof orderIds === 'string' ? [orderIds] : orderIds });
  }

  /** Money into an insurance fund (a market's, or the pooled one), e.g. to seed it. */
  depositInsurance(market: number | 'pooled', amount: number): void {
    this.core.submit({ kind: 'insurance', market, amount });
  }

  /**
   * Runs `load` (inputs, no epoch) so that the journal keeps all of its inputs or none: they are one record on
   * disk, which a crash cannot leave in part (README "Journal"). For a book loaded at startup: `unwind serve`
   * loads its config's markets and accounts this way. If `load` throws, none of its inputs is journaled and the
   * error is rethrown; the engine then holds the inputs accepted before the throw, which the journal does not, so
   * it takes no more inputs (JOURNAL_IO): close it. Without a journal this is just `load()`.
   */
  atomically(load: () => void): void {
    this.core.atomically(load);
  }

  /**
   * What `order` would settle if it filled whole at its limit price now: fee, insurance draw, deficit (quote), and
   * where a deficit remains, the ADL matches that would take its quantity instead.
   */
  previewFill(order: LiquidationOrder): FillPreview {
    requireObject(order, 'order', 'a liquidation order');
    const w = this.core.writer;
    w.accountIndexOf(requireId(order.account, 'order.account'), 'order.account');
    w.marketIndexOf(requireId(order.market, 'order.market'), 'order.market');
    const q = order.quantity;
    if (typeof q !== 'number' || !(q > 0 && q <= MAX_ABS_SIZE)) throw new UnwindError(ErrorCode.InvalidSize, `expected a quantity in (0, ${MAX_ABS_SIZE}], got ${describe(q)}`, 'order.quantity');
    requirePrice(order.limitPrice, 'order.limitPrice');
    return this.core.clearing.preview(order);
  }

  /** The ADL queue a bankrupt position on `bankruptSide` (1 long, -1 short) of `market` would meet: ranked, 1 first. */
  adlQueue(market: number, bankruptSide: 1 | -1): AdlQueueEntry[] {
    this.core.writer.marketIndexOf(requireId(market, 'market'));
    if (bankruptSide !== 1 && bankruptSide !== -1) throw new UnwindError(ErrorCode.InvalidArgument, `expected 1 (long) or -1 (short), got ${describe(bankruptSide)}`, 'bankruptSide');
    return this.core.clearing.adlQueue(market, bankruptSide);
  }

  /**
   * The orders issued and neither filled nor expired, in issue order, with their open quantity (base units). After
   * a recovery these are the orders issued before the stop: a venue reconciles against them.
   */
  openOrders(): { readonly order: LiquidationOrder; readonly remaining: number }[] {
    return this.core.clearing.openOrders();
  }

  /** An insurance fund's balance, quote units (exact to the ledger's decimals). */
  insuranceFund(market: number | 'pooled'): number {
    if (market !== 'pooled') this.core.writer.marketIndexOf(requireId(market, 'market'));
    return this.core.clearing.insuranceFund(market);
  }

  /** The exact ledger: every balance in atoms; its entries always sum to zero. */
  get ledger(): Ledger {
    return this.core.clearing.ledger;
  }

  // ---- epochs ----

  /** Runs an epoch over every input accepted so far (after any epoch in flight) and resolves with its output. */
  step(): Promise<EpochResult> {
    return this.core.step();
  }

  /** Sequence of the journal's last record (0 without a journal). */
  get journalSequence(): number {
    return this.core.journalSequence;
  }

  /** Inputs accepted since the engine's genesis (its journal's input records). */
  get inputCount(): number {
    return this.core.inputCount;
  }

  /**
   * How the epochs found their candidates in 'index' scan mode (README "Scan"): positions recomputed, band resets,
   * groups proposed and kept, and `missed`, the groups a full scan found that the index had not proposed (0 unless
   * the index is wrong). Null in 'full' mode, and before the first epoch.
   */
  scanStats(): Readonly<TriggerIndexStats> | null {
    return this.core.scanStats();
  }

  /**
   * The SHA-256 (hex) of every output so far, in order: orders, margin calls, lifecycle changes, capped orders,
   * fill settlements, deleveragings, socialized losses, market statuses, unresolved deficits, timed-out orders,
   * backstop takeovers (src/journal/digest.ts). Replaying the journal gives the same digest, whatever the worker count.
   */
  outputDigest(): string {
    return this.core.digest.hex();
  }

  /** Outputs so far by kind (the digest's lines). */
  get outputCounts(): Readonly<Record<string, number>> {
    return { ...this.core.digest.counts };
  }

  /** Resolves when the epochs begun before this call have finished (their orders emitted). */
  async settled(): Promise<void> {
    await this.core.settled();
  }

  /** Resolves once every input accepted so far is acknowledged by the journal's policy (README "Journal"). */
  async durable(): Promise<void> {
    await this.core.durable();
  }

  // ---- outputs ----

  /** Calls `listener` with every order, in emission order. Returns an unsubscribe function. */
  onOrder(listener: Listener<LiquidationOrder>): () => void {
    return subscribe(this.core.listeners.order, listener);
  }
  /** Every order the engine timed out (open for `orderTimeoutUs` of event time): cancel it at the venue. */
  onOrderTimeout(listener: Listener<LiquidationOrder>): () => void {
    return subscribe(this.core.listeners.timeout, listener);
  }
  /** Calls `listener` with every margin call (a group entering the margin-call state), in emission order. */
  onMarginCall(listener: Listener<MarginCall>): () => void {
    return subscribe(this.core.listeners.marginCall, listener);
  }
  /** Every lifecycle transition of a margin group (healthy, margin-call, liquidating, closed), in emission order. */
  onStateChange(listener: Listener<StateChange>): () => void {
    return subscribe(this.core.listeners.state, listener);
  }
  /**
   * Deficits the policy could not absorb (no counterparty with positive equity, the kill switch's halt, autoDeleverage
   * off), each with its account, market and amount: the only way bad debt remains, and never silently.
   */
  onUnresolvedDeficit(listener: Listener<UnresolvedDeficit>): () => void {
    return subscribe(this.core.listeners.unresolved, listener);
  }
  /** Deficits spread over the opposite side (deficitPolicy 'socialized'). */
  onSocializedLoss(listener: Listener<SocializedLoss>): () => void {
    return subscribe(this.core.listeners.socialized, listener);
  }
  /** Every bankrupt position closed against the ADL queue at its bankruptcy value, as it lands. */
  onDeleverage(listener: Listener<Deleveraging>): () => void {
    return subscribe(this.core.listeners.deleverage, listener);
  }
  /** Every fill as it settles (see `fill`). */
  onFill(listener: Listener<Settlement>): () => void {
    return subscribe(this.core.listeners.fill, listener);
  }
  /**
   * Every position a backstop vault takes off the book (execution strategy 'backstop') as it lands, at its epoch's
   * end before the epoch's orders leave: the account's side settled as a fill, and the vault's position after.
   */
  onTakeover(listener: Listener<Takeover>): () => void {
    return subscribe(this.core.listeners.takeover, listener);
  }
  /**
   * Calls `listener` with an epoch's number as its scan begins, once its inputs have landed (for timing: the epoch's
   * output follows through `onEpochState` and `onEpoch`). Nothing may be submitted from here.
   */
  onEpochStart(listener: Listener<number>): () => void {
    return subscribe(this.core.listeners.epochStart, listener);
  }
  /** Every epoch's result once its orders have left (after `onOrder`), with a journal once the epoch is on disk. */
  onEpoch(listener: Listener<EpochResult>): () => void {
    return subscribe(this.core.listeners.epoch, listener);
  }
  /**
   * Calls `listener` synchronously once an epoch is decided, while the tables hold exactly its state (its inputs
   * and what its screening landed; nothing later), before it is durable and before `onEpoch`. Read state for the
   * epoch here (`accountSummary`, `adlQueue`) and publish it from `onEpoch`: it then never runs ahead of its epoch
   * or of the disk. Emit nothing from here: the epoch is not yet in the journal.
   */
  onEpochState(listener: Listener<EpochResult>): () => void {
    return subscribe(this.core.listeners.epochState, listener);
  }
  /** Errors of automatic epochs (an explicit `step()` rejects instead). */
  onError(listener: Listener<unknown>): () => void {
    return subscribe(this.core.listeners.error, listener);
  }

  /** Every order from now on, as an async iterator; ends when the engine closes. */
  async *orders(): AsyncGenerator<LiquidationOrder> {
    const queue: LiquidationOrder[] = [];
    let wake: (() => void) | undefined;
    const off = this.onOrder((o) => {
      queue.push(o);
      wake?.();
    });
    const onClose = (): void => wake?.();
    const closeListeners = this.core.listeners.close;
    closeListeners.add(onClose);
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (this.core.closing) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      off();
      closeListeners.delete(onClose);
    }
  }

  // ---- reads ----

  /** An account as of the last input that landed: equity, margins, health, per-position prices. */
  account(id: number): AccountReport {
    const w = this.core.writer;
    const a = w.accountIndexOf(requireId(id, 'account'));
    return accountReport(this.tables, a, this.config, (m) => w.symbolOf(m));
  }

  /** An account's cross group as of the last input that landed (the cheap part of `account()`). */
  accountSummary(id: number): CrossSummary {
    return crossSummary(this.tables, this.core.writer.accountIndexOf(requireId(id, 'account')), this.config);
  }

  /** A market's symbol, as its spec gave it ('' when none). */
  marketSymbol(market: number): string {
    const w = this.core.writer;
    return w.symbolOf(w.marketIndexOf(requireId(market, 'market')));
  }

  /** Whether account `id` exists. */
  hasAccount(id: number): boolean {
    return this.core.writer.hasAccount(id);
  }
  /** Whether market `id` exists. */
  hasMarket(id: number): boolean {
    return this.core.writer.hasMarket(id);
  }

  /** Markets, accounts and live position slots currently held. */
  get counts(): { markets: number; accounts: number; positions: number } {
    const w = this.core.writer;
    let positions = 0;
    for (let m = 0; m < w.markets; m++) positions += this.tables.markets.positionCount[m]!;
    return { markets: w.markets, accounts: w.accounts, positions };
  }

  /**
   * Which shard of how many this engine is (config `shard`; README "Sharding beyond one machine"), and whether it did
   * what a single engine does across every account (a deficit, a deleveraging, an order timed out), after which its
   * orders may differ from a single engine's: `inexact` counts those, `firstInexact` says the first.
   */
  get shard(): ShardStatus {
    return this.core.shardStatus();
  }

  /** True once `close()` has begun: inputs are refused (ENGINE_CLOSED). */
  get closing(): boolean {
    return this.core.closing;
  }

  /** Epochs begun so far. */
  get epochs(): number {
    return this.core.epochs;
  }
  /** Sequence number of the last input accepted. */
  get lastSequence(): number {
    return this.core.writer.lastSequence;
  }
  /** Epochs whose output has left (`onOrder` and `onEpoch` heard it): `epochs`, less one while an epoch is in flight. */
  get emittedEpochs(): number {
    return this.core.emittedEpochs;
  }
  /**
   * The epoch whose state the tables hold exactly, and the last input it covers, when there is one that has left:
   * no epoch is in flight and no input has been taken since it was decided. Undefined otherwise: state read now would
   * run ahead of every epoch emitted (wait for the next `onEpochState`).
   */
  get stateEpoch(): { readonly epoch: number; readonly lastSequence: number } | undefined {
    return this.core.stateEpoch;
  }

  /** Waits for the epoch in flight, stops every thread. Idempotent. */
  async close(): Promise<void> {
    await this.core.close();
  }
}
