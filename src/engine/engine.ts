/**
 * Thread: main (the embedding application's). The Engine wires the tables, the writer, the scan pool and the
 * executor together and is the embedding API for a matching engine beside us.
 * Writes: markets, accounts, positions (through TableWriter), between epochs only.
 * Reads:  output rows after the executor publishes an epoch.
 *
 * An epoch: land staged inputs -> phase 1 (dirty markets) -> phase 2 (all accounts) -> executor -> orders.
 * Epochs never overlap; inputs accepted while one is in flight land at the start of the next. The orders
 * depend only on the inputs and on which epoch each landed in (the batch boundaries).
 */
import { resolveConfig, type EngineConfig, type ResolvedConfig } from '../config.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { decodeOutput, type EpochOutput, type LiquidationOrder, type MarginCall, type StateChange } from '../clearing/orders.js';
import { accountReport, crossSummary, type AccountReport, type CrossSummary } from '../risk/account-report.js';
import { allocateTables, type Tables } from '../tables/layout.js';
import { describe, MAX_ABS_SIZE, MAX_REASON_LENGTH, requireArray, requireColumn, requireColumns, requireId, requireObject, requirePrice, requireRowCount, requireString, requireTime } from '../tables/validate.js';
import { TableWriter, type MarketSpec, type PositionUpdate, type PriceUpdate } from '../tables/writer.js';
import { InlineBackend, ThreadedBackend, type Backend, type ExecutionResult } from './backends.js';
import type { LiquidatorState } from '../executor/liquidator.js';
import { Clearing, type Deleveraging, type FillPreview, type FillSettlement, type SocializedLoss, type UnresolvedDeficit } from '../clearing/clearing.js';
import type { AdlQueueEntry } from '../domain/adl.js';
import type { OrderFill } from '../clearing/open-orders.js';
import { entry, type Ledger } from '../ledger/ledger.js';
import { OracleLayer, resolveOracleConfig, type OracleStats } from '../oracle/oracle.js';
import { reportColumns, SIGNATURE_BYTES, type ReportColumns, type SourceReport } from '../oracle/report.js';
import type { BookTop } from '../oracle/mark.js';
import { killLevelOf, MarketModes, type KillLevel, type MarketStatusChange } from '../clearing/market-mode.js';
import { serialize } from 'node:v8';
import { RecordKind } from '../journal/format.js';
import { positionColumns, type ColumnKind } from './records.js';
import { StreamDigest } from '../journal/digest.js';
import { writeSnapshot, type Capture } from '../journal/snapshot.js';
import type { JournalWriter } from '../journal/writer.js';
import { openJournal, recover, type EngineState, type Recovery } from './recovery.js';

export interface EpochResult extends EpochOutput {
  readonly epoch: number;
  /** Orders left for a later epoch because the output table was full. */
  readonly deferred: number;
  /** Sequence number of the last input this epoch saw. */
  readonly lastSequence: number;
  /**
   * Orders open for `orderTimeoutUs` of event time at this epoch's end, which the engine forgot (a late fill of one
   * is UNKNOWN_ORDER): their positions are re-evaluated, and one still liquidatable gets a new order with a new id.
   */
  readonly timedOut: readonly LiquidationOrder[];
}

type Listener<T> = (value: T) => void;

/** The columns of a tick batch (ReportColumns), checked once per batch. */
const TICK_COLUMNS = ['market', 'source', 'price', 'confidence', 'eventTimeUs', 'sourceSequence'] as const satisfies readonly (keyof ReportColumns)[];

/** Adds `listener` to `set`; returns the function that removes it. A listener that is not a function is refused now, not when first called. */
function subscribe<T>(set: Set<Listener<T>>, listener: Listener<T>): () => void {
  if (typeof listener !== 'function') throw new UnwindError(ErrorCode.InvalidArgument, `expected a function, got ${describe(listener)}`, 'listener');
  set.add(listener);
  return () => set.delete(listener);
}

export class Engine {
  readonly config: ResolvedConfig;
  readonly tables: Tables;
  private readonly writer: TableWriter;
  private readonly clearing: Clearing;
  private readonly fillListeners = new Set<Listener<FillSettlement>>();
  private readonly deleverageListeners = new Set<Listener<Deleveraging>>();
  private readonly stateListeners = new Set<Listener<StateChange>>();
  private readonly socializedListeners = new Set<Listener<SocializedLoss>>();
  private readonly unresolvedListeners = new Set<Listener<UnresolvedDeficit>>();
  private chain: Promise<unknown> = Promise.resolve();
  private epochCount = 0;
  private scheduled = false;
  private closed = false;
  private readonly orderListeners = new Set<Listener<LiquidationOrder>>();
  private readonly timeoutListeners = new Set<Listener<LiquidationOrder>>();
  private readonly callListeners = new Set<Listener<MarginCall>>();
  private readonly epochListeners = new Set<Listener<EpochResult>>();
  private readonly epochStateListeners = new Set<Listener<EpochResult>>();
  /** Epochs whose output has left (listeners heard it); `epochCount` less the one in flight. */
  private emitted = 0;
  /**
   * The last epoch decided (its output known, its state complete in the tables), the last input it covers, and the
   * writer's sequence then: while that sequence has not moved and the epoch has left, the tables are its state.
   * A snapshot's state is no epoch's (sequence -1) until the next epoch is decided.
   */
  private decided = { epoch: 0, lastSequence: 0, sequence: 0 };
  private readonly errorListeners = new Set<Listener<unknown>>();
  private readonly closeListeners = new Set<() => void>();
  private readonly statusListeners = new Set<Listener<MarketStatusChange>>();
  private readonly modes = new MarketModes();
  /** Scratch for pushTicks: the rows of a batch that go to oracle markets, and the direct ones as columns. */
  private oracleRows = new Int32Array(256);
  private direct = { market: new Float64Array(256), price: new Float64Array(256), time: new Float64Array(256) };
  /** The output stream's SHA-256 (src/journal/digest.ts): fed where outputs arise, so replay reproduces it. */
  private readonly digest = new StreamDigest();
  private journal: JournalWriter | undefined;
  /** Inputs accepted (records of the journal, when there is one). */
  private inputs = 0;
  /** Journal sequence covered by the last snapshot, and the snapshot being written. */
  private snapshotAt = 0;
  private snapshotting: Promise<unknown> | undefined;
  private snapshotTables: Uint8Array | undefined;
  /** Orders of an epoch that recovery completed wait for this (the caller attaches listeners after start). */
  private releaseGate: Promise<void> | undefined;
  private replayMode = false;
  /** What recovery found and did; undefined without a journal. */
  recovery: Recovery | undefined;

  private constructor(
    config: ResolvedConfig,
    tables: Tables,
    private readonly backend: Backend,
    private readonly oracle: OracleLayer,
  ) {
    this.config = config;
    this.tables = tables;
    const perMarket = Math.floor(config.capacity.positions / config.capacity.markets);
    this.writer = new TableWriter(tables, Math.max(1, perMarket));
    const emit =
      <T>(set: Set<Listener<T>>) =>
      (value: T): void => {
        for (const l of set) l(value);
      };
    this.clearing = new Clearing(tables, this.writer, config, {
      settled: emit(this.fillListeners),
      deleveraged: emit(this.deleverageListeners),
      socialized: emit(this.socializedListeners),
      unresolved: emit(this.unresolvedListeners),
    });
    // Outputs that arise inside an input (settlements, deleveragings, statuses) go to the digest as they arise.
    this.fillListeners.add((s) => this.digest.add('fill', s));
    this.deleverageListeners.add((d) => this.digest.add('deleverage', d));
    this.socializedListeners.add((l) => this.digest.add('socializedLoss', l));
    this.unresolvedListeners.add((u) => this.digest.add('unresolvedDeficit', u));
    this.statusListeners.add((s) => this.digest.add('marketStatus', s));
  }

  /**
   * Allocates the tables and starts the threads. With `config.journal`, first recovers from the journal's directory
   * (newest valid snapshot, then the journal's tail; README "Journal"): `engine.recovery` says what it found.
   */
  static async start(config: EngineConfig = {}): Promise<Engine> {
    const c = resolveConfig(config);
    const oracle = new OracleLayer(resolveOracleConfig(config.oracle), c.clock);
    if (oracle.marketIds.length > 0 && oracle.config.signatures === 'off') {
      // Never silently: turning signatures off is visible on stderr and in oracleStats().signatures.
      process.emitWarning('oracle.signatures is off: unsigned price reports are accepted for oracle markets', { code: 'UNWIND_SIGNATURES_OFF' });
    }
    // The tables first: a capacity that cannot be allocated is refused before the journal directory is touched.
    const tables = allocateTables(c.capacity);
    const found = config.journal === undefined ? undefined : openJournal(config);
    const snapshot = found?.snapshot;
    if (snapshot !== undefined) {
      new Uint8Array(tables.buffer).set(snapshot.tables);
      tables.control.fill(0); // epoch handshakes start afresh with the new threads
    }
    const executorState = snapshot?.executorState as LiquidatorState | undefined;
    const backend = c.scanWorkers === 0 ? new InlineBackend(tables, c, executorState) : await ThreadedBackend.start(tables, c, c.scanWorkers, executorState);
    const engine = new Engine(c, tables, backend, oracle);
    if (found !== undefined) {
      try {
        await recover(engine, found);
      } catch (e) {
        await engine.close();
        throw e;
      }
    }
    return engine;
  }

  // ---- inputs: each validates synchronously, throws UnwindError and changes nothing on rejection ----

  addMarket(spec: MarketSpec): void {
    this.addMarketAt(spec, 'market');
  }

  addAccount(id: number, collateral = 0): void {
    this.addAccountAt(id, collateral, 'account');
  }

  setCollateral(account: number, collateral: number): void {
    this.open();
    this.writer.setCollateral(account, collateral);
    this.clearing.setBalance(entry.account(account), collateral);
    this.logColumns(RecordKind.Collateral, 1, () => [[account], [collateral], [0]]);
    this.schedule();
  }

  upsertPosition(update: PositionUpdate): void {
    this.upsertPositionAt(update, 'position');
  }

  /** As addMarket, naming fields under `field` in errors (e.g. `markets[2]`). */
  addMarketAt(spec: MarketSpec, field: string): void {
    this.open();
    this.writer.addMarket(spec, field);
    const { id, symbol, tiers, price, positionCapacity } = spec;
    this.logJson(RecordKind.Market, { id, symbol, tiers, price, positionCapacity });
    // An oracle market starts paused (ORACLE_STALE) until enough of its sources have reported.
    if (this.oracle.has(spec.id)) this.evaluateOracle([spec.id]);
  }
  addAccountAt(id: number, collateral: number, field: string): void {
    this.open();
    this.writer.addAccount(id, collateral, field);
    this.clearing.setBalance(entry.account(id), collateral);
    this.logColumns(RecordKind.Account, 1, () => [[id], [collateral]]);
  }
  upsertPositionAt(update: PositionUpdate, field: string): void {
    this.open();
    this.writer.upsertPosition(update, field);
    this.clearing.setBalance(entry.isolated(update.account, update.market), update.isolatedCollateral ?? 0);
    this.logColumns(RecordKind.Positions, 1, () => positionColumns([update]));
    this.schedule();
  }

  pushPrice(market: number, price: number, oraclePrice?: number): void {
    this.open();
    this.directOnly(market, 'market');
    this.writer.setPrice(oraclePrice === undefined ? { market, price } : { market, price, oraclePrice });
    this.logColumns(RecordKind.Prices, 1, () => [[market], [price], [oraclePrice ?? NaN], undefined]);
    this.schedule();
  }

  /** Several position updates as one batch, in order: all are validated (and slots counted) before any is accepted. */
  upsertPositions(updates: readonly PositionUpdate[]): void {
    this.open();
    this.writer.upsertPositions(updates);
    for (const u of updates) this.clearing.setBalance(entry.isolated(u.account, u.market), u.isolatedCollateral ?? 0);
    this.logColumns(RecordKind.Positions, updates.length, () => positionColumns(updates));
    this.schedule();
  }

  /**
   * Several collateral updates as one batch, in order, validated before any is accepted. With `createAccounts`,
   * an unknown account is opened with that collateral; otherwise it is UNKNOWN_ACCOUNT.
   */
  setCollaterals(updates: readonly { readonly account: number; readonly collateral: number }[], createAccounts = false): void {
    this.open();
    this.writer.setCollaterals(updates, createAccounts);
    for (const u of updates) this.clearing.setBalance(entry.account(u.account), u.collateral);
    const n = updates.length;
    this.logColumns(RecordKind.Collateral, n, () => [updates.map((u) => u.account), updates.map((u) => u.collateral), new Array<number>(n).fill(createAccounts ? 1 : 0)]);
    this.schedule();
  }

  /** Several prices as one batch: all land in the same epoch. Validates all before accepting any. */
  pushPrices(updates: readonly PriceUpdate[]): void {
    this.open();
    requireArray(updates, 'updates', 'price updates');
    updates.forEach((u, i) => this.directOnly(u?.market, `[${i}].market`));
    this.writer.setPrices(updates);
    const col = (f: (u: PriceUpdate) => number | undefined): number[] => updates.map((u) => f(u) ?? NaN);
    this.logColumns(RecordKind.Prices, updates.length, () => [col((u) => u.market), col((u) => u.price), col((u) => u.oraclePrice), col((u) => u.eventTimeUs)]);
    this.schedule();
  }

  /**
   * Prices as columns, one batch (the feed's hot path: no object per tick): `n` rows of market ids and prices,
   * mark and oracle both taking the price. Validates all before accepting any; errors name `[i].market` / `[i].price`.
   */
  pushPriceColumns(marketIds: ArrayLike<number>, prices: ArrayLike<number>, n: number, eventTimesUs?: ArrayLike<number>): void {
    this.open();
    // The shape first (once per batch): the loop below runs to n.
    requireRowCount(n, Math.min(requireColumn(marketIds, 'marketIds'), requireColumn(prices, 'prices'), eventTimesUs === undefined ? Infinity : requireColumn(eventTimesUs, 'eventTimesUs')), 'n');
    // The field name is built only for a row that fails: this loop runs per tick.
    if (this.oracle.marketIds.length > 0) for (let i = 0; i < n; i++) if (this.oracle.has(marketIds[i]!)) this.directOnly(marketIds[i], `[${i}].market`);
    this.writer.setPriceColumns(marketIds, prices, n, eventTimesUs);
    this.logColumns(RecordKind.Prices, n, () => [marketIds, prices, undefined, eventTimesUs]);
    this.schedule();
  }

  // ---- the oracle layer (src/oracle): source reports, book data, the clock, the kill switch ----

  /**
   * Price reports from sources: one batch, checked whole before any is taken (UNKNOWN_SOURCE, UNSIGNED_REPORT,
   * BAD_SIGNATURE, REPLAYED_REPORT, ...; counted in oracleStats()). `signatures`: 64 bytes per report, in order.
   */
  pushReports(reports: SourceReport | readonly SourceReport[], signatures?: Uint8Array): void {
    this.open();
    const list = Array.isArray(reports) ? reports : [requireObject(reports as SourceReport, 'reports', 'a report or an array of reports')];
    for (let i = 0; i < list.length; i++) requireObject(list[i], `[${i}]`, 'a source report { market, source, price, confidence, eventTimeUs, sourceSequence }'); // not forEach: it skips holes
    if (signatures !== undefined && !(signatures instanceof Uint8Array)) {
      throw new UnwindError(ErrorCode.InvalidArgument, `expected a Uint8Array of 64 bytes per report, got ${describe(signatures)}`, 'signatures');
    }
    this.pushTicks(reportColumns(list, signatures));
  }

  /**
   * Ticks as columns (the feed's hot path): rows for oracle markets are reports (checked as in pushReports); rows
   * for other markets are direct prices (mark = oracle = price), which cannot be signed. One batch: all rows are
   * checked before any is taken. Errors name `[i].field`.
   */
  pushTicks(batch: ReportColumns): void {
    this.open();
    // The shape, once per batch (the rows are checked below, each where it is read).
    const n = requireColumns(batch, TICK_COLUMNS, 'batch');
    if (typeof batch.signed !== 'boolean') throw new UnwindError(ErrorCode.InvalidArgument, `expected a boolean, got ${describe(batch.signed)}`, 'signed');
    if (batch.signed && !(batch.signatures instanceof Uint8Array)) {
      throw new UnwindError(ErrorCode.InvalidArgument, `a signed batch needs a Uint8Array of 64 bytes per row, got ${describe(batch.signatures)}`, 'signatures');
    }
    if (this.oracle.marketIds.length === 0 && !batch.signed) {
      this.writer.setPriceColumns(batch.market, batch.price, n, batch.eventTimeUs);
      this.logTicks(batch);
      this.schedule();
      return;
    }
    if (this.oracleRows.length < n) {
      this.oracleRows = new Int32Array(2 * n);
      this.direct = { market: new Float64Array(2 * n), price: new Float64Array(2 * n), time: new Float64Array(2 * n) };
    }
    let k = 0;
    let d = 0;
    for (let i = 0; i < n; i++) {
      const market = batch.market[i]!;
      if (batch.signed || this.oracle.has(market)) {
        this.oracleRows[k++] = i;
        if (!this.writer.hasMarket(market)) throw new UnwindError(ErrorCode.UnknownMarket, `no market with id ${market}`, `[${i}].market`);
      } else {
        const price = batch.price[i]!;
        const time = batch.eventTimeUs[i]!;
        // Before the copy into float columns, which would turn a string into a number (and throw on a bigint).
        if (typeof market !== 'number' || typeof price !== 'number' || typeof time !== 'number') {
          requireId(market, `[${i}].market`);
          requirePrice(price, `[${i}].price`);
          requireTime(time, `[${i}].eventTimeUs`);
        }
        this.direct.market[d] = market;
        this.direct.price[d] = price;
        this.direct.time[d++] = time;
      }
    }
    const rows = this.oracleRows.subarray(0, k);
    this.oracle.check(batch, rows);
    // A direct row's error names its row in the batch, found again only if there is one.
    const rowOf = (r: number): number => {
      for (let i = 0; i < n; i++) if (!batch.signed && !this.oracle.has(batch.market[i]!) && r-- === 0) return i;
      return r;
    };
    if (d > 0) this.writer.setPriceColumns(this.direct.market, this.direct.price, d, this.direct.time, rowOf);
    if (k > 0) {
      this.evaluateOracle(this.oracle.accept(batch, rows));
      this.syncClock();
    }
    this.logTicks(batch);
    this.schedule();
  }

  /**
   * The matching engine's book tops for oracle markets (bid, ask, last; 0: not known): they feed the mark price's
   * basis EMA and its book component. One batch, checked whole.
   */
  pushBooks(books: readonly ({ readonly market: number } & BookTop)[]): void {
    this.open();
    requireArray(books, 'books', 'book tops');
    for (let i = 0; i < books.length; i++) {
      // An index loop, not forEach: forEach skips an array's holes.
      const b = requireObject(books[i], `[${i}]`, 'a book top { market, bid, ask, last, eventTimeUs }');
      this.oracle.checkBook(b.market, b, `[${i}]`);
      this.writer.marketIndexOf(b.market, `[${i}].market`);
    }
    for (const b of books) this.oracle.book(b.market, b);
    this.evaluateOracle([...new Set(books.map((b) => b.market))].sort((x, y) => x - y));
    const col = (f: (b: BookTop & { market: number }) => number): number[] => books.map(f);
    this.logColumns(RecordKind.Books, books.length, () => [col((b) => b.market), col((b) => b.bid), col((b) => b.ask), col((b) => b.last), col((b) => b.eventTimeUs)]);
    this.schedule();
  }

  /**
   * A clock reading (microseconds since the Unix epoch) for the oracle's staleness checks: sources that stopped
   * reporting go stale only as time passes. An input like any other (journaled, replayed); never moves backward.
   */
  advanceClock(nowUs: number): void {
    this.open();
    const before = this.writer.lastSequence;
    this.oracle.advanceClock(nowUs);
    this.syncClock();
    this.evaluateOracle(this.oracle.marketIds.filter((m) => this.writer.hasMarket(m)));
    this.logColumns(RecordKind.Clock, 1, () => [[nowUs]]);
    // An epoch only when the reading changed something (a price, a pause) or an order's deadline has passed: the
    // server reads the clock ten times a second, and an idle engine should stay idle.
    if (this.writer.lastSequence !== before || this.clearing.hasOverdue(this.eventTimeUs())) this.schedule();
  }

  /**
   * The operator's kill switch (README "Kill switch"): 'normal', 'no-new' (no new liquidations), 'no-reissue' (no
   * orders at all) or 'halt' (no orders, no deleveraging), for every market or one. Takes effect from the next epoch.
   */
  setKillSwitch(level: KillLevel, market?: number, reason = ''): void {
    this.open();
    killLevelOf(level, 'level');
    if (market !== undefined) this.writer.marketIndexOf(requireId(market, 'market'));
    requireString(reason, 'reason', MAX_REASON_LENGTH, true);
    this.modes.setKill(level, market, String(reason));
    const ids = market === undefined ? this.marketIdList() : [market];
    for (const id of ids) this.applyMode(id, this.oracle.clockUs);
    this.logJson(RecordKind.KillSwitch, { level, market: market ?? null, reason: String(reason) });
    this.schedule();
  }

  /** The kill level in force in `market` (the higher of its own and the global one), or the global level. */
  killSwitch(market?: number): KillLevel {
    if (market !== undefined) this.writer.marketIndexOf(requireId(market, 'market'));
    return this.modes.killLevel(market);
  }

  /** Whether liquidations in `market` are held, and why (KILL_SWITCH or an ORACLE_* guard). */
  marketStatus(market: number): { paused: boolean; code: string; reason: string } {
    this.writer.marketIndexOf(requireId(market, 'market'));
    return this.modes.status(market);
  }

  /** Markets whose prices come from oracle sources (config.oracle), ascending. */
  get oracleMarkets(): readonly number[] {
    return this.oracle.marketIds;
  }

  /** Reports taken and rejected (by code), whether signatures are required, and the oracle clock. */
  oracleStats(): OracleStats {
    return this.oracle.stats();
  }

  /** Every market pause and resume (oracle guards, kill switch), in input order. */
  onMarketStatus(listener: Listener<MarketStatusChange>): () => void {
    return subscribe(this.statusListeners, listener);
  }

  private evaluateOracle(markets: readonly number[]): void {
    for (const id of markets) {
      const e = this.oracle.evaluate(id);
      if (e.prices !== undefined) {
        const p = e.prices;
        this.writer.setPrice({ market: id, price: p.markPrice, oraclePrice: p.oraclePrice, eventTimeUs: p.eventTimeUs });
      }
      this.modes.setPause(id, e.pause);
      this.applyMode(id, e.eventTimeUs);
    }
  }

  /** The engine's event time: the clock, or a later time a market's prices or fills carried. */
  private eventTimeUs(): number {
    let now = this.oracle.clockUs;
    const times = this.tables.markets.eventTimeUs;
    for (let m = 0; m < this.writer.markets; m++) if (times[m]! > now) now = times[m]!;
    return now;
  }

  /** The clock moved: the latest event time inputs may carry moves with it (direct prices and fills check it). */
  private syncClock(): void {
    this.writer.latestTimeUs = this.oracle.latestTimeUs;
  }

  private applyMode(market: number, eventTimeUs: number): void {
    const { mode, modeChanged, change } = this.modes.update(market, eventTimeUs);
    if (modeChanged) this.writer.setLiquidationMode(this.writer.marketIndexOf(market), mode);
    if (change !== undefined) for (const l of this.statusListeners) l(change);
  }

  private marketIdList(): number[] {
    const ids: number[] = [];
    for (let m = 0; m < this.writer.markets; m++) ids.push(this.tables.markets.id[m]!);
    return ids.sort((x, y) => x - y);
  }

  /** Throws ORACLE_MARKET when `market` takes its prices from sources (a direct price would bypass them). */
  private directOnly(market: unknown, field: string): void {
    if (typeof market === 'number' && this.oracle.has(market)) {
      throw new UnwindError(ErrorCode.OracleMarket, `market ${market} takes its prices from its oracle sources; push source reports`, field);
    }
  }

  /**
   * Fills of our liquidation orders from the matching engine, applied in order: checked (UNKNOWN_ORDER,
   * INVALID_FILL, ...) all before any is taken, then each settles where inputs land: realized PnL, the liquidation
   * fee into the insurance fund or the fund's cover, the position shrunk by the fill. `onFill` hears each.
   */
  fill(fills: OrderFill | readonly OrderFill[]): void {
    this.open();
    if (!Array.isArray(fills)) requireObject(fills as OrderFill, 'fills', 'a fill or an array of fills');
    // The fields of a fill, in one order: a settlement (and the output digest) does not depend on how a caller
    // spelled its objects, and the journal replays exactly what was settled.
    const list = (Array.isArray(fills) ? fills : [fills as OrderFill]).map((f: OrderFill) =>
      f === null || typeof f !== 'object' || Array.isArray(f) ? f : { orderId: f.orderId, account: f.account, market: f.market, quantity: f.quantity, price: f.price, eventTimeUs: f.eventTimeUs },
    );
    this.clearing.fill(list);
    this.logJson(RecordKind.Fills, list);
    this.schedule();
  }

  /**
   * Closes a liquidatable account's position in `market` against the market's ADL queue at its bankruptcy price
   * (DOMAIN.md section 4). Done automatically after a fill the insurance fund could not cover (`autoDeleverage`).
   * `onDeleverage` hears the result; nothing happens if the group is no longer below maintenance when it lands.
   */
  deleverage(account: number, market: number): void {
    this.open();
    requireId(account, 'account');
    requireId(market, 'market');
    if (this.modes.killLevel(market) === 'halt') throw new UnwindError(ErrorCode.KillSwitch, `the kill switch halts market ${market}`, 'market');
    this.clearing.deleverage(account, market);
    this.logJson(RecordKind.Deleverage, { account, market });
    this.schedule();
  }

  /**
   * What `order` would settle if it filled whole at its limit price now: fee, insurance draw, deficit (quote), and
   * where a deficit remains, the ADL matches that would take its quantity instead.
   */
  previewFill(order: LiquidationOrder): FillPreview {
    requireObject(order, 'order', 'a liquidation order');
    this.writer.accountIndexOf(requireId(order.account, 'order.account'), 'order.account');
    this.writer.marketIndexOf(requireId(order.market, 'order.market'), 'order.market');
    const q = order.quantity;
    if (typeof q !== 'number' || !(q > 0 && q <= MAX_ABS_SIZE)) throw new UnwindError(ErrorCode.InvalidSize, `expected a quantity in (0, ${MAX_ABS_SIZE}], got ${describe(q)}`, 'order.quantity');
    requirePrice(order.limitPrice, 'order.limitPrice');
    return this.clearing.preview(order);
  }

  /** The ADL queue a bankrupt position on `bankruptSide` (1 long, -1 short) of `market` would meet: ranked, 1 first. */
  adlQueue(market: number, bankruptSide: 1 | -1): AdlQueueEntry[] {
    this.writer.marketIndexOf(requireId(market, 'market'));
    if (bankruptSide !== 1 && bankruptSide !== -1) throw new UnwindError(ErrorCode.InvalidArgument, `expected 1 (long) or -1 (short), got ${describe(bankruptSide)}`, 'bankruptSide');
    return this.clearing.adlQueue(market, bankruptSide);
  }

  /**
   * Orders that expired unfilled (IOCs the book could not take): the engine forgets them and re-evaluates their
   * accounts; one still liquidatable gets a new order with a new id. All are checked before any is taken
   * (UNKNOWN_ORDER if an order is not open).
   */
  expire(orderIds: string | readonly string[]): void {
    this.open();
    const ids = typeof orderIds === 'string' ? [orderIds] : orderIds;
    this.clearing.expire(ids);
    this.logJson(RecordKind.Expiries, ids);
    this.schedule();
  }

  /** Money into an insurance fund (a market's, or the pooled one), e.g. to seed it. */
  depositInsurance(market: number | 'pooled', amount: number): void {
    this.open();
    this.clearing.depositInsurance(market, amount);
    this.logJson(RecordKind.Insurance, { market, amount });
  }

  /**
   * The orders issued and neither filled nor expired, in issue order, with their open quantity (base units). After
   * a recovery these are the orders issued before the stop: a venue reconciles against them.
   */
  openOrders(): { readonly order: LiquidationOrder; readonly remaining: number }[] {
    return this.clearing.openOrders();
  }

  /** An insurance fund's balance, quote units (exact to the ledger's decimals). */
  insuranceFund(market: number | 'pooled'): number {
    if (market !== 'pooled') this.writer.marketIndexOf(requireId(market, 'market'));
    return this.clearing.insuranceFund(market);
  }

  /** The exact ledger: every balance in atoms; its entries always sum to zero. */
  get ledger(): Ledger {
    return this.clearing.ledger;
  }

  // ---- epochs ----

  /** Runs an epoch over every input accepted so far (after any epoch in flight) and resolves with its output. */
  step(): Promise<EpochResult> {
    this.open();
    const next = this.chain.then(() => this.epoch());
    this.chain = next.catch(() => {});
    return next;
  }

  private schedule(): void {
    if (!this.config.autoEpoch || this.scheduled || this.replayMode) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed) return;
      // A journal failure was reported once, when it happened (attachJournal); the epochs it stops are not news.
      const report = (e: unknown): void => {
        if (e !== this.journal?.failed) this.emitError(e);
      };
      try {
        this.step().catch(report);
      } catch (e) {
        report(e);
      }
    });
  }

  /**
   * One epoch. Its synchronous prefix (inputs land, the boundary is journaled, a snapshot captured) runs before
   * the first await; recovery relies on that to replay inputs that arrived while the epoch was in flight.
   */
  private async epoch(): Promise<EpochResult> {
    this.journal?.check(); // a journal that failed since step() was called takes no epoch: nothing lands
    const w = this.writer;
    w.applyStaged();
    this.digest.fold();
    const capture = this.snapshotDue() ? this.capture() : undefined;
    const dirty = w.takeDirtyMarkets();
    const accounts = w.accounts;
    const lastSequence = w.lastSequence;
    const epoch = ++this.epochCount;
    this.journal?.appendColumns(RecordKind.EpochStart, 1, [[epoch], [lastSequence]]);
    w.busy = true;
    let out: EpochOutput;
    let r: ExecutionResult;
    try {
      await this.backend.scan(dirty, accounts);
      r = await this.backend.execute(epoch, capture !== undefined);
      out = decodeOutput(this.tables, r.outputCount, epoch, (m) => w.symbolOf(m));
    } finally {
      w.busy = false;
    }
    const deferred = r.deferred;
    // Orders whose fill the insurance fund could not pay become deleveragings here (deficitPolicy 'adl').
    const now = this.eventTimeUs();
    const orders = this.clearing.screen(out.orders, now);
    // Orders in flight past their deadline (e.g. emitted just before a crash and never received) are forgotten here.
    const timedOut = this.clearing.timeOut(now);
    const result: EpochResult = { epoch, ...out, orders, deferred, lastSequence, timedOut };
    for (const o of result.orders) this.digest.add('order', o);
    for (const c of result.marginCalls) this.digest.add('marginCall', c);
    for (const c of result.stateChanges) this.digest.add('stateChange', c);
    for (const c of result.capped) this.digest.add('capped', c);
    for (const o of timedOut) this.digest.add('timedOut', o);
    this.digest.fold();
    // No await since the scan: the tables hold exactly this epoch's state. Inputs that arrive during the journal
    // sync below land in them at once (replay lands them so too), so state for this epoch is read here.
    this.decided = { epoch, lastSequence, sequence: w.lastSequence };
    for (const l of this.epochStateListeners) l(result);
    if (this.journal !== undefined) {
      this.journal.appendColumns(RecordKind.EpochEnd, 1, [[epoch], [result.orders.length]]);
      if (capture !== undefined) this.writeSnapshot(capture, r.state);
      // Orders leave only once their epoch is in the journal (sync: on disk), so recovery knows them.
      await this.journal.durable();
      if (this.releaseGate !== undefined) await this.releaseGate;
    }
    this.emitted = epoch;
    for (const o of result.orders) for (const l of this.orderListeners) l(o);
    for (const c of result.marginCalls) for (const l of this.callListeners) l(c);
    for (const c of result.stateChanges) for (const l of this.stateListeners) l(c);
    for (const o of timedOut) for (const l of this.timeoutListeners) l(o);
    for (const l of this.epochListeners) l(result);
    if (w.stagedCount > 0 || deferred > 0 || timedOut.length > 0) this.schedule();
    return result;
  }

  // ---- the journal (src/journal): logging inputs, snapshots, what recovery needs ----

  /** Counts an input and journals it; `columns` runs only with a journal (no allocation on the hot path without). */
  private logColumns(kind: ColumnKind, rows: number, columns: () => readonly (ArrayLike<number> | undefined)[], trailer?: () => Uint8Array | undefined): void {
    this.inputs++;
    this.journal?.appendColumns(kind, rows, columns(), trailer?.());
  }
  private logJson(kind: number, value: unknown): void {
    this.inputs++;
    this.journal?.appendJson(kind, value);
  }
  private logTicks(b: ReportColumns): void {
    const n = b.length;
    this.logColumns(
      RecordKind.Ticks,
      n,
      () => [b.market, b.source, b.price, b.confidence, b.eventTimeUs, b.sourceSequence],
      () => (b.signed ? b.signatures?.subarray(0, n * SIGNATURE_BYTES) : undefined),
    );
  }

  private snapshotDue(): boolean {
    const j = this.journal;
    return j !== undefined && this.snapshotting === undefined && j.lastSequence - this.snapshotAt >= j.config.snapshotEveryRecords;
  }

  /** The state at this epoch's start, copied now (the executor's part comes with the epoch's result). */
  private capture(): Capture {
    const sequence = this.journal!.lastSequence;
    this.snapshotAt = sequence;
    // Segments before a snapshot never change again; recovery from it reads from the next one.
    this.journal!.roll();
    // One copy buffer for the engine's life (one snapshot is written at a time): fresh pages cost far more than the copy.
    this.snapshotTables ??= new Uint8Array(this.tables.buffer.byteLength);
    this.snapshotTables.set(new Uint8Array(this.tables.buffer));
    return { sequence, tables: this.snapshotTables, state: serialize(this.exportState()) };
  }

  private writeSnapshot(capture: Capture, executorState: LiquidatorState | undefined): void {
    const j = this.journal!;
    this.snapshotting = j
      .onDisk(capture.sequence)
      .then(() => writeSnapshot(j.config.dir, capture, serialize(executorState)))
      .catch((e: unknown) => j.config.log(`unwind journal: snapshot at sequence ${capture.sequence} not written: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => (this.snapshotting = undefined));
  }

  /** @internal The main thread's state as plain data (a snapshot's part; src/journal/snapshot.ts). */
  exportState(): EngineState {
    return {
      epochs: this.epochCount,
      inputs: this.inputs,
      writer: this.writer.exportState(),
      clearing: this.clearing.exportState(),
      oracle: this.oracle.exportState(),
      modes: this.modes.exportState(),
      digest: this.digest.exportState(),
    };
  }

  /** @internal Recovery: the state of a snapshot (tables and executor state were restored by start()). */
  importState(s: EngineState, journalSequence: number): void {
    this.epochCount = s.epochs;
    this.inputs = s.inputs;
    this.writer.importState(s.writer);
    this.clearing.importState(s.clearing);
    this.oracle.importState(s.oracle);
    this.syncClock();
    this.modes.importState(s.modes);
    this.digest.importState(s.digest);
    this.snapshotAt = journalSequence;
    this.emitted = s.epochs;
    this.decided = { epoch: s.epochs, lastSequence: -1, sequence: -1 };
  }

  /** @internal Recovery and replay: starts the next epoch now; its inputs are those accepted so far. */
  beginEpoch(): Promise<EpochResult> {
    this.open();
    const next = this.epoch();
    this.chain = next.catch(() => {});
    return next;
  }

  /** @internal Recovery: from now on inputs are journaled; orders of epochs now in flight wait for `gate`. */
  attachJournal(journal: JournalWriter, gate: Promise<void> | undefined): void {
    this.journal = journal;
    this.releaseGate = gate;
    // Heard once; without a listener the journal's log line is the report (a failed disk must not kill the process).
    journal.onFailure = (e) => {
      for (const l of this.errorListeners) l(e);
    };
  }

  /**
   * Runs `load` (inputs, no epoch) so that the journal keeps all of its inputs or none: they are one record on
   * disk, which a crash cannot leave in part (README "Journal"). For a book loaded at startup: `unwind serve`
   * loads its config's markets and accounts this way. If `load` throws, none of its inputs is journaled and the
   * error is rethrown; the engine then holds the inputs accepted before the throw, which the journal does not, so
   * it takes no more inputs (JOURNAL_IO): close it. Without a journal this is just `load()`.
   */
  atomically(load: () => void): void {
    this.open();
    if (typeof load !== 'function') throw new UnwindError(ErrorCode.InvalidArgument, `expected a function, got ${describe(load)}`, 'load');
    const journal = this.journal;
    if (journal === undefined) return load();
    try {
      journal.batch(load);
    } catch (e) {
      journal.halt(`an atomic load was rejected part way (${e instanceof Error ? e.message : String(e)})`);
      throw e;
    }
  }

  /** @internal Recovery: while replaying, inputs do not start epochs of their own (the journal's boundaries do). */
  set replaying(on: boolean) {
    this.replayMode = on;
    if (!on) this.schedule();
  }

  /** Sequence of the journal's last record (0 without a journal). */
  get journalSequence(): number {
    return this.journal?.lastSequence ?? 0;
  }

  /** Inputs accepted since the engine's genesis (its journal's input records). */
  get inputCount(): number {
    return this.inputs;
  }

  /**
   * The SHA-256 (hex) of every output so far, in order: orders, margin calls, lifecycle changes, capped orders,
   * fill settlements, deleveragings, socialized losses, market statuses, unresolved deficits (src/journal/digest.ts). Replaying the
   * journal gives the same digest, whatever the worker count.
   */
  outputDigest(): string {
    return this.digest.hex();
  }

  /** Outputs so far by kind (the digest's lines). */
  get outputCounts(): Readonly<Record<string, number>> {
    return { ...this.digest.counts };
  }

  /** Resolves when the epochs begun before this call have finished (their orders emitted). */
  async settled(): Promise<void> {
    await this.chain;
  }

  /** Resolves once every input accepted so far is acknowledged by the journal's policy (README "Journal"). */
  async durable(): Promise<void> {
    await this.journal?.durable();
  }

  // ---- outputs ----

  /** Calls `listener` with every order, in emission order. Returns an unsubscribe function. */
  onOrder(listener: Listener<LiquidationOrder>): () => void {
    return subscribe(this.orderListeners, listener);
  }
  /** Every order the engine timed out (open for `orderTimeoutUs` of event time): cancel it at the venue. */
  onOrderTimeout(listener: Listener<LiquidationOrder>): () => void {
    return subscribe(this.timeoutListeners, listener);
  }
  onMarginCall(listener: Listener<MarginCall>): () => void {
    return subscribe(this.callListeners, listener);
  }
  /** Every lifecycle transition of a margin group (healthy, margin-call, liquidating, closed), in emission order. */
  onStateChange(listener: Listener<StateChange>): () => void {
    return subscribe(this.stateListeners, listener);
  }
  /**
   * Deficits the policy could not absorb (no counterparty with positive equity, the kill switch's halt, autoDeleverage
   * off), each with its account, market and amount: the only way bad debt remains, and never silently.
   */
  onUnresolvedDeficit(listener: Listener<UnresolvedDeficit>): () => void {
    return subscribe(this.unresolvedListeners, listener);
  }
  /** Deficits spread over the opposite side (deficitPolicy 'socialized'). */
  onSocializedLoss(listener: Listener<SocializedLoss>): () => void {
    return subscribe(this.socializedListeners, listener);
  }
  onDeleverage(listener: Listener<Deleveraging>): () => void {
    return subscribe(this.deleverageListeners, listener);
  }
  /** Every fill as it settles (see `fill`). */
  onFill(listener: Listener<FillSettlement>): () => void {
    return subscribe(this.fillListeners, listener);
  }
  onEpoch(listener: Listener<EpochResult>): () => void {
    return subscribe(this.epochListeners, listener);
  }
  /**
   * Calls `listener` synchronously once an epoch is decided, while the tables hold exactly its state (its inputs
   * and what its screening landed; nothing later), before it is durable and before `onEpoch`. Read state for the
   * epoch here (`accountSummary`, `adlQueue`) and publish it from `onEpoch`: it then never runs ahead of its epoch
   * or of the disk. Emit nothing from here: the epoch is not yet in the journal.
   */
  onEpochState(listener: Listener<EpochResult>): () => void {
    return subscribe(this.epochStateListeners, listener);
  }
  /** Errors of automatic epochs (an explicit `step()` rejects instead). */
  onError(listener: Listener<unknown>): () => void {
    return subscribe(this.errorListeners, listener);
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
    this.closeListeners.add(onClose);
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (this.closed) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      off();
      this.closeListeners.delete(onClose);
    }
  }

  /** An account as of the last input that landed: equity, margins, health, per-position prices. */
  account(id: number): AccountReport {
    const a = this.writer.accountIndexOf(requireId(id, 'account'));
    return accountReport(this.tables, a, this.config, (m) => this.writer.symbolOf(m));
  }

  /** An account's cross group as of the last input that landed (the cheap part of `account()`). */
  accountSummary(id: number): CrossSummary {
    return crossSummary(this.tables, this.writer.accountIndexOf(requireId(id, 'account')), this.config);
  }

  hasAccount(id: number): boolean {
    return this.writer.hasAccount(id);
  }
  hasMarket(id: number): boolean {
    return this.writer.hasMarket(id);
  }

  /** Markets, accounts and live position slots currently held. */
  get counts(): { markets: number; accounts: number; positions: number } {
    const w = this.writer;
    let positions = 0;
    for (let m = 0; m < w.markets; m++) positions += this.tables.markets.positionCount[m]!;
    return { markets: w.markets, accounts: w.accounts, positions };
  }

  get closing(): boolean {
    return this.closed;
  }

  get epochs(): number {
    return this.epochCount;
  }
  get lastSequence(): number {
    return this.writer.lastSequence;
  }
  /** Epochs whose output has left (`onOrder` and `onEpoch` heard it): `epochs`, less one while an epoch is in flight. */
  get emittedEpochs(): number {
    return this.emitted;
  }
  /**
   * The epoch whose state the tables hold exactly, and the last input it covers, when there is one that has left:
   * no epoch is in flight and no input has been taken since it was decided. Undefined otherwise: state read now would
   * run ahead of every epoch emitted (wait for the next `onEpochState`).
   */
  get stateEpoch(): { readonly epoch: number; readonly lastSequence: number } | undefined {
    const d = this.decided;
    if (this.emitted !== this.epochCount || d.epoch !== this.epochCount || this.writer.lastSequence !== d.sequence) return undefined;
    return { epoch: d.epoch, lastSequence: d.lastSequence };
  }

  /** Waits for the epoch in flight, stops every thread. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await this.snapshotting;
    await this.journal?.close();
    await this.backend.close();
    for (const l of this.closeListeners) l();
  }

  private open(): void {
    if (this.closed) throw new UnwindError(ErrorCode.EngineClosed, 'the engine is closed');
    this.journal?.check();
  }

  private emitError(e: unknown): void {
    if (this.errorListeners.size === 0) throw e;
    for (const l of this.errorListeners) l(e);
  }
}
