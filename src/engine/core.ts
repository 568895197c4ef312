/**
 * Thread: main. The engine's inside: the one input path and the epochs. The public `Engine`
 * (src/engine/engine.ts) builds inputs and reads outputs through it; recovery and replay (src/engine/recovery.ts)
 * drive it directly.
 *
 * The input path, the same for every input (src/engine/inputs.ts), whoever sends it (an API call, a feed frame,
 * the journal during recovery): the value is checked whole (a rejection throws and changes nothing), is journaled,
 * then lands (its sequence number(s) taken from the writer, its writes staged with the single writer: at once when
 * no epoch is in flight, else at the next epoch's start), and wakes an epoch.
 *
 * An epoch: land staged inputs -> phase 1 (dirty markets) -> phase 2 (all accounts) -> executor -> orders.
 * Epochs never overlap. The orders depend only on the inputs and on which epoch each landed in (the batch
 * boundaries, which the journal records).
 */
import { serialize } from 'node:v8';
import type { ResolvedConfig } from '../config.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { decodeOutput, type EpochOutput, type LiquidationOrder, type MarginCall, type StateChange } from '../clearing/orders.js';
import { Clearing, type ClearingState, type Deleveraging, type Settlement, type SocializedLoss, type Takeover, type UnresolvedDeficit } from '../clearing/clearing.js';
import type { Fill } from '../clearing/open-orders.js';
import { killLevelOf, MarketModes, type MarketModesState, type MarketStatusChange } from '../clearing/market-mode.js';
import type { ExecutorState } from '../executor/executor.js';
import { entry } from '../ledger/ledger.js';
import type { OracleLayer, OracleState } from '../oracle/oracle.js';
import type { TickBatch } from '../oracle/report.js';
import { Control, isIsolatedRef, refSlot, type Tables } from '../tables/layout.js';
import { describe, MAX_REASON_LENGTH, requireArray, requireColumn, requireColumns, requireId, requireObject, requirePrice, requireRowCount, requireString, requireTime } from '../validate.js';
import { TableWriter, type Landing, type WriterState } from '../tables/writer.js';
import { StreamDigest, type StreamDigestState } from '../journal/digest.js';
import { writeSnapshot, type Capture } from '../journal/snapshot.js';
import type { JournalWriter } from '../journal/writer.js';
import type { Backend, ExecutionResult } from './backends.js';
import type { Input, MarketBook } from './inputs.js';
import { journalEpochEnd, journalEpochStart, journalInput } from './records.js';
import { ImpactObserver, type ImpactObserverState } from './impact-observer.js';
import { TriggerIndex, type TriggerIndexStats } from './trigger-index.js';
import { candidateCount } from '../concurrency/epoch.js';
import { holdsOf, type ShardStatus } from './shard.js';

/** One epoch's outputs: what `Engine.step()` returns and `onEpoch` hears. */
export interface EpochResult extends EpochOutput {
  /** The epoch's number, from 1. */
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

/** The main thread's part of a snapshot (src/journal/snapshot.ts); the tables and the executor's state are the rest. */
export interface EngineState {
  readonly epochs: number;
  readonly inputs: number;
  readonly writer: WriterState;
  readonly clearing: ClearingState;
  readonly oracle: OracleState;
  readonly modes: MarketModesState;
  readonly digest: StreamDigestState;
  /** The impact fit on our own fills (absent in snapshots from before it: it starts empty). */
  readonly impact?: ImpactObserverState;
  /** A shard's count of what it could not do exactly (absent: none, or a snapshot from before it). */
  readonly inexact?: { readonly count: number; readonly first: string | null; readonly fundsMoved?: boolean };
}

/** A snapshot on disk (`EngineCore.onSnapshot`). */
export interface WrittenSnapshot {
  readonly path: string;
  /** The journal sequence of the last record it includes. */
  readonly sequence: number;
  /** Epochs ended at that point. */
  readonly epoch: number;
  /** The output digest then (hex). */
  readonly digest: string;
}

/** A listener of an engine event (`Engine.onOrder` and the like). */
export type Listener<T> = (value: T) => void;

/** Who hears each output. */
export interface Listeners {
  readonly order: Set<Listener<LiquidationOrder>>;
  readonly timeout: Set<Listener<LiquidationOrder>>;
  readonly marginCall: Set<Listener<MarginCall>>;
  readonly state: Set<Listener<StateChange>>;
  readonly epoch: Set<Listener<EpochResult>>;
  /** An epoch's number as its scan begins (its inputs landed): observers time the scan from here. */
  readonly epochStart: Set<Listener<number>>;
  readonly epochState: Set<Listener<EpochResult>>;
  readonly fill: Set<Listener<Settlement>>;
  readonly takeover: Set<Listener<Takeover>>;
  readonly deleverage: Set<Listener<Deleveraging>>;
  readonly socialized: Set<Listener<SocializedLoss>>;
  readonly unresolved: Set<Listener<UnresolvedDeficit>>;
  readonly status: Set<Listener<MarketStatusChange>>;
  readonly error: Set<Listener<unknown>>;
  readonly close: Set<() => void>;
}

/** The columns of a TickBatch, checked once per batch. */
const TICK_COLUMNS = ['market', 'source', 'price', 'confidence', 'eventTimeUs', 'sourceSequence'] as const satisfies readonly (keyof TickBatch)[];

/** An input whose landing always wakes an epoch. */
function wakes(taken: Input, land: Landing): { taken: Input; land: () => boolean } {
  return { taken, land: () => (land(), true) };
}

export class EngineCore {
  readonly writer: TableWriter;
  readonly clearing: Clearing;
  readonly modes = new MarketModes();
  readonly listeners: Listeners = {
    order: new Set(),
    timeout: new Set(),
    marginCall: new Set(),
    state: new Set(),
    epoch: new Set(),
    epochStart: new Set(),
    epochState: new Set(),
    fill: new Set(),
    takeover: new Set(),
    deleverage: new Set(),
    socialized: new Set(),
    unresolved: new Set(),
    status: new Set(),
    error: new Set(),
    close: new Set(),
  };
  /** The output stream's SHA-256 (src/journal/digest.ts): fed where outputs arise, so replay reproduces it. */
  readonly digest = new StreamDigest();
  /** The market-impact model fitted to our own fills, which the tables hand to the executor (src/engine/impact-observer.ts). */
  readonly impact: ImpactObserver;
  private chain: Promise<unknown> = Promise.resolve();
  /** The trigger index ('index' scan mode), built at the first epoch and after a restore. */
  private index: TriggerIndex | undefined;
  private epochCount = 0;
  private scheduled = false;
  private closed = false;
  /** Epochs whose output has left (listeners heard it); `epochCount` less the one in flight. */
  private emitted = 0;
  /**
   * The last epoch decided (its output known, its state complete in the tables), the last input it covers, and the
   * writer's sequence then: while that sequence has not moved and the epoch has left, the tables are its state.
   * A snapshot's state is no epoch's (sequence -1) until the next epoch is decided.
   */
  private decided = { epoch: 0, lastSequence: 0, sequence: 0 };
  /** Scratch for ticks: the rows of a batch that go to oracle markets, and the direct ones as columns. */
  private oracleRows = new Int32Array(256);
  private direct = { market: new Float64Array(256), price: new Float64Array(256), time: new Float64Array(256) };
  private journal: JournalWriter | undefined;
  /** Inputs accepted (records of the journal, when there is one). */
  private inputs = 0;
  /** Journal sequence covered by the last snapshot, and the snapshot being written. */
  private snapshotAt = 0;
  private snapshotting: Promise<unknown> | undefined;
  private snapshotTables: Uint8Array | undefined;
  /** A snapshot was asked for (`requestSnapshot`): the next epoch captures one. */
  private snapshotWanted = false;
  /**
   * Hears each snapshot once it is on disk: its file, the journal sequence it covers, and the epochs ended and the
   * output digest at that point (a replicated leader puts it into the object store: src/cluster/snapshot-store.ts).
   */
  onSnapshot: ((s: WrittenSnapshot) => void) | undefined;
  /** Orders of an epoch that recovery completed wait for this (the caller attaches listeners after start). */
  private releaseGate: Promise<void> | undefined;
  /** Why inputs are refused (a replica that does not lead), or undefined. */
  private refusal: UnwindError | undefined;
  private replayMode = false;
  /** One shard of several (config.shard): what it did that a single engine does across every account (src/engine/shard.ts). */
  private inexact: { count: number; first: string | null } = { count: 0, first: null };
  /** A shard: a fill has landed, so its copies of the insurance funds may differ from the whole book's. */
  private fundsMoved = false;

  constructor(
    readonly config: ResolvedConfig,
    readonly tables: Tables,
    private readonly backend: Backend,
    readonly oracle: OracleLayer,
  ) {
    const perMarket = Math.floor(config.capacity.positions / config.capacity.markets);
    this.writer = new TableWriter(tables, Math.max(1, perMarket));
    this.impact = new ImpactObserver(tables, this.writer, config.execution.impact, config.maxOpenOrders);
    const l = this.listeners;
    // Outputs that arise inside an input's landing: a listener that throws is reported, and the input lands whole.
    const emit =
      <T>(set: Set<Listener<T>>) =>
      (value: T): void =>
        this.hear(set, value);
    const settled = emit(l.fill);
    this.clearing = new Clearing(tables, this.writer, config, {
      settled: (s) => {
        this.impact.settled(s);
        settled(s);
      },
      takenOver: emit(l.takeover),
      deleveraged: emit(l.deleverage),
      socialized: emit(l.socialized),
      unresolved: emit(l.unresolved),
      // A shard's copy of a fund is the whole book's until a fill moves money (deposits go to every shard). Short of it,
      // an order a single engine deleverages against counterparties in every shard may stay an order here, or go.
      short: (o) => this.shardShort(o),
    });
    // Outputs that arise inside an input (settlements, deleveragings, statuses) go to the digest as they arise.
    l.fill.add((s) => this.digest.add('fill', s));
    l.takeover.add((x) => this.digest.add('takeover', x));
    l.deleverage.add((d) => this.digest.add('deleverage', d));
    l.socialized.add((x) => this.digest.add('socializedLoss', x));
    l.unresolved.add((u) => this.digest.add('unresolvedDeficit', u));
    l.status.add((s) => this.digest.add('marketStatus', s));
    if (config.shard.count > 1) {
      this.writer.holds = holdsOf(config.shard);
      // The insurance fund and the ADL queues are the whole book's: a shard that draws on them past the fund, or
      // matches counterparties among its own accounts only, may decide otherwise than a single engine from here.
      l.fill.add((s) => s.deficit > 0 && this.diverged(`fill of order ${s.orderId}: a deficit of ${s.deficit} the insurance fund did not pay`));
      l.deleverage.add((d) => this.diverged(`account ${d.account} market ${d.market} deleveraged against this shard's ADL queue`));
      l.socialized.add((x) => this.diverged(`account ${x.account} market ${x.market}: a loss socialized among this shard's accounts`));
      l.unresolved.add((u) => this.diverged(`account ${u.account} market ${u.market}: an unresolved deficit`));
    }
  }

  // ---- the input path ----

  /**
   * Takes one input (src/engine/inputs.ts): checked whole (a rejection throws and changes nothing), journaled, then
   * landed (its sequence numbers taken, its writes staged with the writer); wakes an epoch.
   */
  submit(input: Input, fromLog = false): void {
    this.open();
    if (this.refusal !== undefined && !fromLog) throw this.refusal;
    requireObject(input, 'input', 'an input { kind, ... }');
    const { taken, land } = this.check(input);
    this.inputs++;
    if (this.journal !== undefined) journalInput(this.journal, taken);
    let wake: boolean;
    try {
      wake = land();
      // The impact observer reads mids after once this input's writes have landed (queued behind them when staged).
      // Only an input that wakes an epoch can move a market's event time; queued behind one, the observer adds no epoch.
      if (wake && this.impact.watching) this.writer.afterWrites(this.impact.landed);
    } catch (e) {
      // A landing does not fail once its input is checked; if one ever did, the tables would hold part of an input
      // the journal holds whole, so the engine takes nothing more (JOURNAL_IO) rather than go on from there.
      this.journal?.halt(`an input failed to land after it was checked (${e instanceof Error ? e.message : String(e)})`);
      throw e;
    }
    if (wake) this.schedule();
  }

  /**
   * Checks `input` whole, changing nothing. Returns the input as it is journaled (fills in one field order, a kill
   * switch's reason as a string) and its landing, which changes the tables (through the writer), the clearing, the
   * oracle and the market modes, and says whether the input wakes an epoch.
   */
  private check(input: Input): { taken: Input; land: () => boolean } {
    const w = this.writer;
    const c = this.clearing;
    switch (input.kind) {
      case 'market': {
        const add = w.prepareMarket(input.spec, 'market');
        const id = input.spec.id;
        return {
          taken: input,
          land: () => {
            add();
            // An oracle market starts paused (ORACLE_STALE) until enough of its sources have reported.
            if (this.oracle.has(id)) this.evaluateOracle([id]);
            return false;
          },
        };
      }
      case 'account': {
        const { id, collateral } = input;
        const add = w.prepareAccount(id, collateral, 'account');
        return { taken: input, land: () => (add(), w.holds(id) && c.setBalance(entry.account(id), collateral), false) };
      }
      case 'collateral': {
        const { account, collateral } = input;
        const set = w.prepareCollateral(account, collateral);
        return { taken: input, land: () => (set(), w.holds(account) && c.setBalance(entry.account(account), collateral), true) };
      }
      case 'collaterals': {
        const set = w.prepareCollaterals(input.updates, input.createAccounts);
        return {
          taken: input,
          land: () => {
            set();
            for (const u of input.updates) if (w.holds(u.account)) c.setBalance(entry.account(u.account), u.collateral);
            return true;
          },
        };
      }
      case 'position': {
        const u = input.update;
        const upsert = w.preparePosition(u, 'position');
        return { taken: input, land: () => (upsert(), w.holds(u.account) && c.setBalance(entry.isolated(u.account, u.market), u.isolatedCollateral ?? 0), true) };
      }
      case 'positions': {
        const upsert = w.preparePositions(input.updates);
        return {
          taken: input,
          land: () => {
            upsert();
            for (const u of input.updates) if (w.holds(u.account)) c.setBalance(entry.isolated(u.account, u.market), u.isolatedCollateral ?? 0);
            return true;
          },
        };
      }
      case 'price': {
        const { market, price, oraclePrice } = input;
        this.directOnly(market, 'market');
        return wakes(input, w.preparePrice(oraclePrice === undefined ? { market, price } : { market, price, oraclePrice }));
      }
      case 'prices':
        requireArray(input.updates, 'updates', 'price updates');
        input.updates.forEach((u, i) => this.directOnly(u?.market, `[${i}].market`));
        return wakes(input, w.preparePrices(input.updates));
      case 'priceColumns':
        return wakes(input, this.checkPriceColumns(input.market, input.price, input.n, input.eventTimeUs));
      case 'ticks':
        return wakes(input, this.checkTicks(input.batch));
      case 'books':
        return wakes(input, this.checkBooks(input.books));
      case 'depth': {
        // Depth alone decides nothing: it bounds the next children, so it wakes no epoch.
        const land = w.prepareDepth(input.books);
        return { taken: input, land: () => (land(), false) };
      }
      case 'clock': {
        const nowUs = requireTime(input.nowUs, 'nowUs');
        return {
          taken: input,
          land: () => {
            const before = w.lastSequence;
            this.oracle.advanceClock(nowUs);
            this.syncClock();
            this.evaluateOracle(this.oracle.marketIds.filter((m) => w.hasMarket(m)));
            // An epoch only when the reading changed something (a price, a pause) or an order's deadline has passed:
            // the server reads the clock ten times a second, and an idle engine should stay idle. A shard's open orders
            // are not the others': its epochs must not depend on them (an order times out at the next epoch).
            return w.lastSequence !== before || (this.config.shard.count === 1 && c.hasOverdue(this.eventTimeUs()));
          },
        };
      }
      case 'killSwitch': {
        const { level, market } = input;
        const reason = input.reason === undefined ? '' : input.reason;
        killLevelOf(level, 'level');
        if (market !== undefined) w.marketIndexOf(requireId(market, 'market'));
        requireString(reason, 'reason', MAX_REASON_LENGTH, true);
        return wakes({ kind: 'killSwitch', level, market, reason: String(reason) }, () => {
          this.modes.setKill(level, market, String(reason));
          const ids = market === undefined ? this.marketIdList() : [market];
          for (const id of ids) this.applyMode(id, this.oracle.clockUs);
        });
      }
      case 'fills': {
        const fills = input.fills;
        if (!Array.isArray(fills)) throw new UnwindError(ErrorCode.InvalidArgument, `expected an array of fills, got ${describe(fills)}`, 'fills');
        // The fields of a fill, in one order: a settlement (and the output digest) does not depend on how a caller
        // spelled its objects, and the journal replays exactly what was settled.
        const list = fills.map((f: Fill) =>
          f === null || typeof f !== 'object' || Array.isArray(f) ? f : { orderId: f.orderId, account: f.account, market: f.market, quantity: f.quantity, price: f.price, eventTimeUs: f.eventTimeUs },
        );
        const fill = c.prepareFills(list);
        return wakes({ kind: 'fills', fills: list }, () => {
          fill();
          if (list.length > 0) this.fundsMoved = true;
        });
      }
      case 'expiries': {
        const expire = c.prepareExpiries(input.orderIds);
        const ids = [...input.orderIds];
        return wakes(input, () => {
          expire();
          this.writer.afterWrites(() => this.impact.ended(ids));
        });
      }
      case 'deleverage': {
        const { account, market } = input;
        requireId(account, 'account');
        requireId(market, 'market');
        // Every shard refuses it alike (no sequence taken anywhere): its counterparties are in every shard.
        if (this.config.shard.count > 1) throw new UnwindError(ErrorCode.ShardInexact, `a deleveraging matches counterparties across every account, which no shard of ${this.config.shard.count} holds`, 'kind');
        if (this.modes.killLevel(market) === 'halt') throw new UnwindError(ErrorCode.KillSwitch, `the kill switch halts market ${market}`, 'market');
        return wakes(input, c.prepareDeleverage(account, market));
      }
      case 'insurance': {
        const deposit = c.prepareDeposit(input.market, input.amount);
        return { taken: input, land: () => (deposit(), false) };
      }
      default:
        throw new UnwindError(ErrorCode.InvalidArgument, `expected an input kind (src/engine/inputs.ts), got ${describe((input as { kind: unknown }).kind)}`, 'kind');
    }
  }

  /**
   * Prices as columns (the feed's hot path: no object per tick): mark and oracle both take the price. Errors name
   * `[i].market` / `[i].price`.
   */
  private checkPriceColumns(marketIds: ArrayLike<number>, prices: ArrayLike<number>, n: number, eventTimesUs?: ArrayLike<number>): Landing {
    // The shape first (once per batch): the loop below runs to n.
    requireRowCount(n, Math.min(requireColumn(marketIds, 'marketIds'), requireColumn(prices, 'prices'), eventTimesUs === undefined ? Infinity : requireColumn(eventTimesUs, 'eventTimesUs')), 'n');
    // The field name is built only for a row that fails: this loop runs per tick.
    if (this.oracle.marketIds.length > 0) for (let i = 0; i < n; i++) if (this.oracle.has(marketIds[i]!)) this.directOnly(marketIds[i], `[${i}].market`);
    return this.writer.preparePriceColumns(marketIds, prices, n, eventTimesUs);
  }

  /**
   * A tick batch: rows for oracle markets are ticks from their sources (checked by the oracle layer); rows for other
   * markets are direct prices (mark = oracle = price), which cannot be signed. All rows are checked before any lands.
   */
  private checkTicks(batch: TickBatch): Landing {
    // The shape, once per batch (the rows are checked below, each where it is read).
    const n = requireColumns(batch, TICK_COLUMNS, 'batch');
    if (typeof batch.signed !== 'boolean') throw new UnwindError(ErrorCode.InvalidArgument, `expected a boolean, got ${describe(batch.signed)}`, 'signed');
    if (batch.signed && !(batch.signatures instanceof Uint8Array)) {
      throw new UnwindError(ErrorCode.InvalidArgument, `a signed batch needs a Uint8Array of 64 bytes per row, got ${describe(batch.signatures)}`, 'signatures');
    }
    if (this.oracle.marketIds.length === 0 && !batch.signed) return this.writer.preparePriceColumns(batch.market, batch.price, n, batch.eventTimeUs);
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
    const direct = d > 0 ? this.writer.preparePriceColumns(this.direct.market, this.direct.price, d, this.direct.time, rowOf) : undefined;
    // The landing reads this engine's scratch rows and the caller's batch: it runs before either is reused.
    return () => {
      direct?.();
      if (k > 0) {
        this.evaluateOracle(this.oracle.accept(batch, rows));
        this.syncClock();
      }
    };
  }

  /** Book tops for oracle markets: they feed the mark price's basis EMA and its book component. Checked whole. */
  private checkBooks(books: readonly MarketBook[]): Landing {
    requireArray(books, 'books', 'book tops');
    for (let i = 0; i < books.length; i++) {
      // An index loop, not forEach: forEach skips an array's holes.
      const b = requireObject(books[i], `[${i}]`, 'a book top { market, bid, ask, last, eventTimeUs }');
      this.oracle.checkBook(b.market, b, `[${i}]`);
      this.writer.marketIndexOf(b.market, `[${i}].market`);
    }
    return () => {
      for (const b of books) this.oracle.book(b.market, b);
      this.evaluateOracle([...new Set(books.map((b) => b.market))].sort((x, y) => x - y));
    };
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
    if (change !== undefined) this.hear(this.listeners.status, change);
  }

  /**
   * Calls each listener of an output that arises while an input lands. One that throws must not leave the input half
   * landed (the journal holds it whole): its error goes to `onError`, or without a listener there, to a warning.
   */
  private hear<T>(set: Set<Listener<T>>, value: T): void {
    for (const f of set) {
      try {
        f(value);
      } catch (e) {
        this.listenerFailed(e);
      }
    }
  }

  private listenerFailed(e: unknown): void {
    const why = `an output listener threw while an input landed: ${e instanceof Error ? e.message : String(e)}`;
    if (this.listeners.error.size === 0) return process.emitWarning(why, { code: 'UNWIND_LISTENER_THREW' });
    for (const l of this.listeners.error) {
      try {
        l(e);
      } catch {
        process.emitWarning(why, { code: 'UNWIND_LISTENER_THREW' });
      }
    }
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
   * Runs `load` (inputs, no epoch) so that the journal keeps all of its inputs or none: they are one record on
   * disk, which a crash cannot leave in part. If `load` throws, none of its inputs is journaled and the error is
   * rethrown; the engine then holds the inputs accepted before the throw, which the journal does not, so it takes
   * no more inputs (JOURNAL_IO). Without a journal this is just `load()`.
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

  // ---- epochs ----

  /** Runs an epoch over every input accepted so far (after any epoch in flight) and resolves with its output. */
  step(): Promise<EpochResult> {
    this.open();
    const next = this.chain.then(() => this.epoch());
    this.chain = next.catch(() => {});
    return next;
  }

  /** Recovery and replay: starts the next epoch now; its inputs are those accepted so far. */
  beginEpoch(): Promise<EpochResult> {
    this.open();
    const next = this.epoch();
    this.chain = next.catch(() => {});
    return next;
  }

  private schedule(): void {
    if (!this.config.autoEpoch || this.scheduled || this.replayMode) return;
    this.scheduled = true;
    // determinism: an epoch's boundary is where it lands in the input sequence, which the journal records (EpochStart); replay follows the record, not the timer
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
    this.impact.sample();
    const capture = this.snapshotDue() ? this.capture() : undefined;
    const dirty = w.takeDirtyMarkets();
    const accounts = w.accounts;
    const lastSequence = w.lastSequence;
    const epoch = ++this.epochCount;
    if (this.journal !== undefined) journalEpochStart(this.journal, epoch, lastSequence);
    for (const f of this.listeners.epochStart) f(epoch);
    w.busy = true;
    let out: EpochOutput;
    let r: ExecutionResult;
    try {
      await this.scan(epoch, dirty, accounts);
      r = await this.backend.execute(epoch, capture !== undefined);
      out = decodeOutput(this.tables, r.outputCount, epoch, (m) => w.symbolOf(m));
    } finally {
      w.busy = false;
    }
    const deferred = r.deferred;
    // Orders whose fill the insurance fund could not pay become deleveragings here (deficitPolicy 'adl').
    const now = this.eventTimeUs();
    // Takeovers land first: a position a vault took is no order's, and the vault's new position is an ADL counterparty.
    this.clearing.takeOver(out.takeovers, now);
    const orders = this.clearing.screen(out.orders, now);
    this.impact.emitted(orders, now);
    // Orders in flight past their deadline (e.g. emitted just before a crash and never received) are forgotten here.
    const timedOut = this.clearing.timeOut(now);
    if (this.config.shard.count > 1) {
      // Each takes an input sequence (its position's re-stamp) in this shard alone; orders left for later, an epoch.
      if (timedOut.length > 0) this.diverged(`epoch ${epoch}: ${timedOut.length} order(s) timed out (their re-stamps take input sequences the other shards do not)`);
      if (deferred > 0) this.diverged(`epoch ${epoch}: ${deferred} order(s) deferred (the output table was full; an epoch the other shards may not run)`);
    }
    // Behind fills staged during the epoch, which may be theirs.
    if (timedOut.length > 0) w.afterWrites(() => this.impact.ended(timedOut.map((o) => o.id)));
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
    const l = this.listeners;
    for (const f of l.epochState) f(result);
    if (this.journal !== undefined) {
      journalEpochEnd(this.journal, epoch, result.orders.length);
      if (capture !== undefined) this.writeSnapshot(capture, r.state);
      // Orders leave only once their epoch is in the journal (sync: on disk), so recovery knows them.
      await this.journal.durable();
      if (this.releaseGate !== undefined) await this.releaseGate;
    }
    this.emitted = epoch;
    for (const o of result.orders) for (const f of l.order) f(o);
    for (const c of result.marginCalls) for (const f of l.marginCall) f(c);
    for (const c of result.stateChanges) for (const f of l.state) f(c);
    for (const o of timedOut) for (const f of l.timeout) f(o);
    for (const f of l.epoch) f(result);
    if (w.stagedCount > 0 || deferred > 0 || timedOut.length > 0) this.schedule();
    return result;
  }

  /**
   * The epoch's candidates. 'full': phase 1 over the markets that changed and phase 2 over every account (the scan
   * pool). 'index': the trigger index proposes the groups whose trigger the marks crossed and checks them exactly
   * (src/engine/trigger-index.ts); every `fullScanEvery` epochs the full scan runs too, over every market (the index
   * keeps no terms), and any group it found that the index had not proposed is counted as missed and added.
   */
  private async scan(epoch: number, dirty: readonly number[], accounts: number): Promise<void> {
    const c = this.config.scan;
    const touched = this.writer.takeDirtyAccounts();
    if (c.mode === 'full') return this.backend.scan(dirty, accounts);
    if (this.index === undefined) {
      this.index = new TriggerIndex(this.tables, { marginCallHealth: this.config.marginCallHealth, band: c.band });
      this.index.rebuild(accounts);
    } else {
      this.index.update(touched, dirty);
    }
    if (epoch % c.fullScanEvery !== 0) {
      this.index.collect();
      return;
    }
    await this.backend.scan(
      Array.from({ length: this.writer.markets }, (_, m) => m),
      accounts,
    );
    const t = this.tables;
    const capacity = t.candidates.ref.length;
    const fullCount = candidateCount(t);
    const full = t.candidates.ref.slice(0, Math.min(fullCount, capacity));
    const n = this.index.collect();
    // A full scan that overflowed is re-checked whole by the executor: nothing to compare, nothing can be missed.
    if (fullCount > capacity) {
      Atomics.store(t.control, Control.CandidateCount, Math.max(n, fullCount));
      return;
    }
    let count = n;
    for (const ref of full) {
      if (this.index.proposedLast(ref, isIsolatedRef(ref) ? refSlot(ref) : null)) continue;
      this.index.stats.missed++;
      if (count < capacity) t.candidates.ref[count] = ref;
      count++;
    }
    Atomics.store(t.control, Control.CandidateCount, count);
  }

  /**
   * A shard did what a single engine does across every account (a deficit, a deleveraging, a time-out): counted and
   * kept, and said once as a process warning (UNWIND_SHARD_INEXACT). Its orders until then are a single engine's.
   */
  private diverged(why: string): void {
    if (this.inexact.count++ === 0) {
      this.inexact.first = why;
      process.emitWarning(`shard ${this.config.shard.index} of ${this.config.shard.count} may differ from a single engine from here: ${why}`, { code: 'UNWIND_SHARD_INEXACT' });
    }
  }

  /** An order short of its fund at screening: inexact in a shard whose fund copy may differ, or that would deleverage. */
  private shardShort(o: LiquidationOrder): void {
    const deleverages = this.config.deficitPolicy === 'adl' && this.config.autoDeleverage;
    if (this.config.shard.count > 1 && (deleverages || this.fundsMoved)) this.diverged(`order ${o.id}: filled at its limit it would need more than this shard's copy of the insurance fund`);
  }

  /** Which shard this engine is, and whether it is still exact (src/engine/shard.ts). */
  shardStatus(): ShardStatus {
    return { ...this.config.shard, inexact: this.inexact.count, firstInexact: this.inexact.first };
  }

  /** How the epochs found their candidates (README "Scan"): the trigger index's counters; null in 'full' mode or before the first epoch. */
  scanStats(): Readonly<TriggerIndexStats> | null {
    return this.index === undefined ? null : { ...this.index.stats };
  }

  // ---- the journal: snapshots and what recovery needs ----

  private snapshotDue(): boolean {
    const j = this.journal;
    if (j === undefined || this.snapshotting !== undefined) return false;
    return j.lastSequence - this.snapshotAt >= j.config.snapshotEveryRecords || (this.snapshotWanted && j.lastSequence > this.snapshotAt);
  }

  /** A snapshot at the next epoch's start that has records since the last one (the journal's cadence goes on as well). */
  requestSnapshot(): void {
    this.snapshotWanted = true;
  }

  /** The state at this epoch's start, copied now (the executor's part comes with the epoch's result). */
  private capture(): Capture & { readonly epoch: number; readonly digest: string } {
    const sequence = this.journal!.lastSequence;
    this.snapshotAt = sequence;
    this.snapshotWanted = false;
    // Segments before a snapshot never change again; recovery from it reads from the next one.
    this.journal!.roll();
    // One copy buffer for the engine's life (one snapshot is written at a time): fresh pages cost far more than the copy.
    // The layout's bytes, not the buffer's: a WebAssembly.Memory rounds the buffer up to whole pages.
    const bytes = this.tables.layout.byteLength;
    this.snapshotTables ??= new Uint8Array(bytes);
    this.snapshotTables.set(new Uint8Array(this.tables.buffer, 0, bytes));
    // The digest was folded at this epoch's start: it is the one after the epochs ended so far.
    return { sequence, tables: this.snapshotTables, state: serialize(this.exportState()), epoch: this.epochCount, digest: this.digest.hex() };
  }

  private writeSnapshot(capture: Capture & { readonly epoch: number; readonly digest: string }, executorState: ExecutorState | undefined): void {
    const j = this.journal!;
    this.snapshotting = j
      .onDisk(capture.sequence)
      .then(() => writeSnapshot(j.config.dir, capture, serialize(executorState)))
      .then((path) => this.onSnapshot?.({ path, sequence: capture.sequence, epoch: capture.epoch, digest: capture.digest }))
      .catch((e: unknown) => j.config.log(`unwind journal: snapshot at sequence ${capture.sequence} not written: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => (this.snapshotting = undefined));
  }

  /** The main thread's state as plain data (a snapshot's part). */
  exportState(): EngineState {
    return {
      epochs: this.epochCount,
      inputs: this.inputs,
      writer: this.writer.exportState(),
      clearing: this.clearing.exportState(),
      oracle: this.oracle.exportState(),
      modes: this.modes.exportState(),
      digest: this.digest.exportState(),
      impact: this.impact.exportState(),
      inexact: { ...this.inexact, fundsMoved: this.fundsMoved },
    };
  }

  /** Recovery: the state of a snapshot (tables and executor state were restored before the threads started). */
  importState(s: EngineState, journalSequence: number): void {
    this.index = undefined; // rebuilt from the restored tables at the next epoch
    this.epochCount = s.epochs;
    this.inputs = s.inputs;
    this.writer.importState(s.writer);
    this.clearing.importState(s.clearing);
    this.oracle.importState(s.oracle);
    this.syncClock();
    this.modes.importState(s.modes);
    this.digest.importState(s.digest);
    this.impact.importState(s.impact);
    this.inexact = { count: s.inexact?.count ?? 0, first: s.inexact?.first ?? null };
    this.fundsMoved = s.inexact?.fundsMoved ?? false;
    this.snapshotAt = journalSequence;
    this.emitted = s.epochs;
    this.decided = { epoch: s.epochs, lastSequence: -1, sequence: -1 };
  }

  /** Recovery: from now on inputs are journaled; orders of epochs now in flight wait for `gate`. */
  attachJournal(journal: JournalWriter, gate: Promise<void> | undefined): void {
    this.journal = journal;
    this.releaseGate = gate;
    // Heard once; without a listener the journal's log line is the report (a failed disk must not kill the process).
    journal.onFailure = (e) => {
      for (const l of this.listeners.error) l(e);
    };
  }

  /**
   * A replica (src/cluster/): while `e` is set, inputs are refused with it, except those replayed from the log
   * (`submit(input, true)`): a standby takes inputs only from the leader, a replica that stopped leading takes none.
   */
  refuseInputs(e: UnwindError | undefined): void {
    this.refusal = e;
  }

  /** Recovery: while replaying, inputs do not start epochs of their own (the journal's boundaries do). */
  setReplaying(on: boolean): void {
    this.replayMode = on;
    if (!on) this.schedule();
  }

  get journalSequence(): number {
    return this.journal?.lastSequence ?? 0;
  }
  get inputCount(): number {
    return this.inputs;
  }
  get epochs(): number {
    return this.epochCount;
  }
  get emittedEpochs(): number {
    return this.emitted;
  }
  get closing(): boolean {
    return this.closed;
  }
  get stateEpoch(): { readonly epoch: number; readonly lastSequence: number } | undefined {
    const d = this.decided;
    if (this.emitted !== this.epochCount || d.epoch !== this.epochCount || this.writer.lastSequence !== d.sequence) return undefined;
    return { epoch: d.epoch, lastSequence: d.lastSequence };
  }

  async settled(): Promise<void> {
    await this.chain;
  }

  async durable(): Promise<void> {
    await this.journal?.durable();
  }

  /** Waits for the epoch in flight, stops every thread. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await this.snapshotting;
    await this.journal?.close();
    await this.backend.close();
    for (const l of this.listeners.close) l();
  }

  /** Throws ENGINE_CLOSED, or the journal's failure, when no input may be taken. */
  open(): void {
    if (this.closed) throw new UnwindError(ErrorCode.EngineClosed, 'the engine is closed');
    this.journal?.check();
  }

  private emitError(e: unknown): void {
    if (this.listeners.error.size === 0) throw e;
    for (const l of this.listeners.error) l(e);
  }
}

