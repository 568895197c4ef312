/**
 * The main thread's writer of the input tables (markets, accounts, positions): the single writer of those regions.
 *
 * Each call validates synchronously (throwing an UnwindError and changing nothing) and takes a sequence number.
 * Structure (a new market, account or position slot, and its link into the account's list) is written at once:
 * a new slot stays flat and not Live until its values land, so a scan in flight reads it as contributing nothing.
 * Values (prices, sizes, collateral) are written at once when no epoch is in flight and none is staged, else
 * staged and written, in sequence order, at the start of the next epoch. Either way an epoch sees exactly the
 * inputs accepted before it began, and a later input to the same value always wins.
 */
import { isMainThread } from 'node:worker_threads';
import { refill } from '../maps.js';
import { compileTiers, type MarginTier } from '../domain/tiers.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { NONE, PositionFlag, termOf, tierBase, type Tables } from './layout.js';
import {
  describe,
  MAX_PRICE,
  MAX_SYMBOL_LENGTH,
  MAX_TIME_US,
  requireAmount,
  requireArray,
  requireColumn,
  requireEventTime,
  requireId,
  requireNonNegativeAmount,
  requireObject,
  requirePrice,
  requireRowCount,
  requireSize,
  requireString,
} from '../validate.js';

/** A market as `addMarket` takes it. */
export interface MarketSpec {
  /** The market id, an integer in [0, 4294967294]. */
  readonly id: number;
  /** Its symbol (orders carry it); default `M<id>`. */
  readonly symbol?: string;
  /** Its margin tiers, ascending in notional, the last unbounded. */
  readonly tiers: readonly MarginTier[];
  /** Initial oracle and mark price. */
  readonly price: number;
  /** Position slots reserved for this market; default: an equal share of the table. */
  readonly positionCapacity?: number;
}

/** A position's new state, as `upsertPosition` and the feed's PositionUpdates take it. */
export interface PositionUpdate {
  /** The account id. */
  readonly account: number;
  /** The market id. */
  readonly market: number;
  /** Signed base units; 0 closes the position. */
  readonly size: number;
  /** Average entry price, quote per base unit (> 0; 0 allowed with size 0). */
  readonly entryPrice: number;
  /** Own collateral for an isolated position; null or absent: cross-margined. */
  readonly isolatedCollateral?: number | null;
}

/** A direct price, as `pushPrices` takes it. */
export interface PriceUpdate {
  /** The market id. */
  readonly market: number;
  /** The mark price, quote per base unit. */
  readonly price: number;
  /** Oracle price when it differs from the mark; default: the same. */
  readonly oraclePrice?: number;
  /** When the price was observed, microseconds since the Unix epoch: advances the market's event time. */
  readonly eventTimeUs?: number;
}

/**
 * What a checked input does to the tables: the writer's input methods check everything first (throwing, changing
 * nothing) and return this, which takes the input's sequence number(s) and lands it (at once, or staged behind an
 * epoch in flight). The engine journals the input between the two, so nothing changes before it is on record.
 */
export type Landing<T = void> = () => T;

/** A validated position update: table indexes and values. */
interface CheckedPosition {
  /** The account's row; NONE: an account these tables do not hold. */
  readonly a: number;
  readonly m: number;
  readonly size: number;
  readonly entry: number;
  /** null: cross-margined. */
  readonly isolatedCollateral: number | null;
}

export interface WriterState {
  readonly marketIndex: ReadonlyMap<number, number>;
  readonly accountIndex: ReadonlyMap<number, number>;
  readonly symbols: readonly string[];
  readonly marketCount: number;
  readonly accountCount: number;
  readonly positionsReserved: number;
  readonly sequence: number;
  readonly dirty: readonly number[];
}

export class TableWriter {
  private readonly marketIndex = new Map<number, number>();
  private readonly accountIndex = new Map<number, number>();
  private readonly symbols: string[] = [];
  private marketCount = 0;
  private accountCount = 0;
  private positionsReserved = 0;
  private sequence = 0;
  private staged: (() => void)[] = [];
  private readonly dirty = new Set<number>();
  /** Accounts whose collateral or positions changed since `takeDirtyAccounts` (the trigger index recomputes them). */
  private readonly dirtyAccounts = new Set<number>();
  /** Scratch for setPriceColumns: market indexes of the batch being validated. */
  private columnIndex = new Int32Array(1024);
  /** True while an epoch is in flight: value writes are staged. */
  busy = false;
  /** The latest event time an input may carry (the engine sets it from its clock: OracleLayer.latestTimeUs). */
  latestTimeUs = MAX_TIME_US;
  /**
   * Whether these tables hold `account`: a shard's hold the accounts `shardOf` gives it (README "Sharding beyond one
   * machine"). A row naming an account they do not hold is checked for its shape only, takes its sequence number(s)
   * as it would here, and writes nothing. Default: every account.
   */
  holds: (account: number) => boolean = () => true;

  constructor(
    readonly tables: Tables,
    private readonly defaultPositionCapacity: number,
  ) {
    // Development-mode single-writer check: input regions belong to the thread that created the engine.
    if (process.env.NODE_ENV !== 'production' && !isMainThread && process.env.UNWIND_ALLOW_WORKER_WRITER !== '1') {
      throw new UnwindError(ErrorCode.InvalidConfig, 'the table writer must live on the main thread');
    }
  }

  /**
   * Snapshot (src/journal): the indexes and counters beside the tables, as plain data. Taken between epochs with
   * nothing staged (staged writes are closures; a snapshot is taken after they land).
   */
  exportState(): WriterState {
    if (this.staged.length > 0 || this.busy) throw new Error('writer state exported with inputs staged or an epoch in flight');
    const { marketIndex, accountIndex, symbols, marketCount, accountCount, positionsReserved, sequence } = this;
    return { marketIndex, accountIndex, symbols, marketCount, accountCount, positionsReserved, sequence, dirty: [...this.dirty] };
  }
  importState(s: WriterState): void {
    refill(this.marketIndex, s.marketIndex);
    refill(this.accountIndex, s.accountIndex);
    this.symbols.splice(0, this.symbols.length, ...s.symbols);
    this.marketCount = s.marketCount;
    this.accountCount = s.accountCount;
    this.positionsReserved = s.positionsReserved;
    this.sequence = s.sequence;
    for (const m of s.dirty) this.dirty.add(m);
  }

  get markets(): number {
    return this.marketCount;
  }
  get accounts(): number {
    return this.accountCount;
  }
  /** Sequence number of the last accepted input. */
  get lastSequence(): number {
    return this.sequence;
  }

  /** Takes `n` sequence numbers for rows that write nothing here (of accounts these tables do not hold). */
  skip(n: number): void {
    this.sequence += n;
  }

  marketIndexOf(id: number, field = 'market'): number {
    const m = this.marketIndex.get(id);
    if (m === undefined) throw new UnwindError(ErrorCode.UnknownMarket, `no market with id ${id}`, field);
    return m;
  }
  accountIndexOf(id: number, field = 'account'): number {
    const a = this.accountIndex.get(id);
    if (a === undefined) throw new UnwindError(ErrorCode.UnknownAccount, `no account with id ${id}`, field);
    return a;
  }
  hasAccount(id: number): boolean {
    return this.accountIndex.has(id);
  }
  hasMarket(id: number): boolean {
    return this.marketIndex.has(id);
  }
  symbolOf(marketIndex: number): string {
    return this.symbols[marketIndex]!;
  }

  prepareMarket(spec: MarketSpec, field = 'market'): Landing<number> {
    requireObject(spec, field, 'a market spec { id, tiers, price }');
    const id = requireId(spec.id, `${field}.id`);
    if (this.marketIndex.has(id)) throw new UnwindError(ErrorCode.DuplicateMarket, `market ${id} exists`, `${field}.id`);
    // null, like absent, takes the default (as for positionCapacity).
    const symbol = spec.symbol === undefined || spec.symbol === null ? `M${id}` : requireString(spec.symbol, `${field}.symbol`, MAX_SYMBOL_LENGTH);
    const schedule = compileTiers(spec.tiers, `${field}.tiers`);
    const price = requirePrice(spec.price, `${field}.price`);
    const cap = spec.positionCapacity ?? this.defaultPositionCapacity;
    if (typeof cap !== 'number' || !Number.isInteger(cap) || cap < 1) {
      throw new UnwindError(ErrorCode.InvalidConfig, `expected a positive integer, got ${describe(cap)}`, `${field}.positionCapacity`);
    }
    const { markets, layout } = this.tables;
    if (this.marketCount >= layout.capacities.markets) {
      throw new UnwindError(ErrorCode.CapacityExceeded, `market table is full (${layout.capacities.markets})`, field);
    }
    if (this.positionsReserved + cap > layout.capacities.positions) {
      throw new UnwindError(
        ErrorCode.CapacityExceeded,
        `position table has ${layout.capacities.positions - this.positionsReserved} free slots, market asks for ${cap}`,
        `${field}.positionCapacity`,
      );
    }
    return () => {
      this.sequence++;
      const m = this.marketCount++;
      markets.id[m] = id;
      markets.tierCount[m] = schedule.count;
      markets.positionStart[m] = this.positionsReserved;
      markets.positionCapacity[m] = cap;
      markets.positionCount[m] = 0;
      markets.markPrice[m] = price;
      markets.oraclePrice[m] = price;
      markets.bidVolume[m] = Infinity; // unknown until the venue says: no participation cap
      markets.askVolume[m] = Infinity;
      markets.impactEta[m] = NaN; // no impact fit yet (src/engine/impact-observer.ts)
      markets.impactGamma[m] = NaN;
      const base = tierBase(m);
      markets.tierUpperBound.set(schedule.upperBound, base);
      markets.maintenanceFraction.set(schedule.maintenanceFraction, base);
      markets.maintenanceAmount.set(schedule.maintenanceAmount, base);
      markets.initialFraction.set(schedule.initialFraction, base);
      markets.initialAmount.set(schedule.initialAmount, base);
      this.positionsReserved += cap;
      this.marketIndex.set(id, m);
      this.symbols[m] = symbol;
      this.dirty.add(m);
      return m;
    };
  }

  prepareAccount(id: number, collateral: number, field = 'account'): Landing<number> {
    requireId(id, `${field}.id`);
    requireAmount(collateral, `${field}.collateral`);
    if (!this.holds(id)) return () => (this.skip(1), NONE);
    if (this.accountIndex.has(id)) throw new UnwindError(ErrorCode.DuplicateAccount, `account ${id} exists`, `${field}.id`);
    const { layout } = this.tables;
    if (this.accountCount >= layout.capacities.accounts) {
      throw new UnwindError(ErrorCode.CapacityExceeded, `account table is full (${layout.capacities.accounts})`, field);
    }
    return () => this.landAccount(id, collateral);
  }

  prepareCollateral(accountId: number, collateral: number): Landing {
    const id = requireId(accountId, 'account');
    if (!this.holds(id)) return (requireAmount(collateral, 'collateral'), () => this.skip(1));
    const a = this.accountIndexOf(id);
    requireAmount(collateral, 'collateral');
    return () => this.landCollateral(a, collateral);
  }

  private landAccount(id: number, collateral: number): number {
    const { accounts } = this.tables;
    this.sequence++;
    const a = this.accountCount++;
    accounts.id[a] = id;
    accounts.firstPosition[a] = NONE;
    accounts.lastPosition[a] = NONE;
    accounts.collateral[a] = collateral; // not yet scanned: beyond every in-flight epoch's account range
    this.accountIndex.set(id, a);
    this.dirtyAccounts.add(a);
    return a;
  }

  private landCollateral(a: number, collateral: number): void {
    this.sequence++;
    this.write(() => {
      this.tables.accounts.collateral[a] = collateral;
      this.dirtyAccounts.add(a);
    });
  }

  preparePrice(u: PriceUpdate): Landing {
    const c = this.checkPrice(u, '');
    return () => this.landPrice(c);
  }

  /** A price the engine derived (an oracle market's aggregate), landing now like an input's. */
  setPrice(u: PriceUpdate): void {
    this.preparePrice(u)();
  }

  /** Several prices as one batch: every update is validated before any is accepted. */
  preparePrices(updates: readonly PriceUpdate[]): Landing {
    requireArray(updates, 'updates', 'price updates');
    // An index loop, not map: map skips an array's holes, which must be refused like any non-object member.
    const checked: ReturnType<TableWriter['checkPrice']>[] = [];
    for (let i = 0; i < updates.length; i++) checked.push(this.checkPrice(requireObject(updates[i], `[${i}]`, 'a price update { market, price }'), `[${i}].`));
    return () => {
      for (const c of checked) this.landPrice(c);
    };
  }

  /**
   * Prices as columns (market ids, prices; `n` rows), one batch: validated before any is accepted, no object per
   * row. Mark and oracle both take the price. Rows name their fields as `[i].market` / `[i].price`, i being
   * `rowOf(i)` when given (the caller's own row number, when it passes only some of its rows).
   */
  preparePriceColumns(marketIds: ArrayLike<number>, prices: ArrayLike<number>, n: number, eventTimesUs?: ArrayLike<number>, rowOf?: (i: number) => number): Landing {
    // Once per batch, outside the row loop: the columns are columns, and n rows fit in them.
    const rows = Math.min(requireColumn(marketIds, 'marketIds'), requireColumn(prices, 'prices'), eventTimesUs === undefined ? Infinity : requireColumn(eventTimesUs, 'eventTimesUs'));
    requireRowCount(n, rows, 'n');
    if (this.columnIndex.length < n) this.columnIndex = new Int32Array(Math.max(n, 2 * this.columnIndex.length));
    const index = this.columnIndex;
    for (let i = 0; i < n; i++) {
      const m = this.marketIndex.get(marketIds[i]!);
      const price = prices[i]!;
      // One branch per row on the hot path; the checks that build field names run only to report a failure.
      const time = eventTimesUs === undefined ? 0 : eventTimesUs[i]!;
      // typeof: a string compares like a number and would be coerced into the tables.
      if (m === undefined || typeof price !== 'number' || !(price > 0 && price <= MAX_PRICE) || typeof time !== 'number' || !(time >= 0 && time <= this.latestTimeUs)) {
        const r = rowOf === undefined ? i : rowOf(i);
        this.marketIndexOf(requireId(marketIds[i], `[${r}].market`), `[${r}].market`);
        requirePrice(price, `[${r}].price`);
        requireEventTime(time, this.latestTimeUs, `[${r}].eventTimeUs`);
      }
      index[i] = m!;
    }
    // The landing reads `index` (this writer's scratch) and the caller's columns: it runs before either is reused.
    return () => {
      this.sequence += n;
      const land = (ms: ArrayLike<number>, ps: ArrayLike<number>, ts: ArrayLike<number> | undefined): void => {
        const { markPrice, oraclePrice } = this.tables.markets;
        for (let i = 0; i < n; i++) {
          markPrice[ms[i]!] = ps[i]!;
          oraclePrice[ms[i]!] = ps[i]!;
          if (ts !== undefined) this.advanceTime(ms[i]!, ts[i]!);
          this.dirty.add(ms[i]!);
        }
    };
    if (this.busy || this.staged.length > 0) {
      // Staged as one copy per batch (the caller reuses its columns).
      const ms = index.slice(0, n);
      const copy = (xs: ArrayLike<number>): Float64Array => {
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = xs[i]!;
        return out;
      };
      const ps = copy(prices);
      const ts = eventTimesUs === undefined ? undefined : copy(eventTimesUs);
      this.staged.push(() => land(ms, ps, ts));
    } else {
      land(index, prices, eventTimesUs);
    }
    };
  }

  private checkPrice(u: PriceUpdate, field: string): { m: number; mark: number; oracle: number; time: number } {
    const m = this.marketIndexOf(requireId(u.market, `${field}market`), `${field}market`);
    const mark = requirePrice(u.price, `${field}price`);
    const oracle = u.oraclePrice === undefined ? mark : requirePrice(u.oraclePrice, `${field}oraclePrice`);
    const time = u.eventTimeUs === undefined ? 0 : requireEventTime(u.eventTimeUs, this.latestTimeUs, `${field}eventTimeUs`);
    return { m, mark, oracle, time };
  }

  private landPrice({ m, mark, oracle, time }: { m: number; mark: number; oracle: number; time: number }): void {
    this.sequence++;
    this.write(() => {
      this.tables.markets.markPrice[m] = mark;
      this.tables.markets.oraclePrice[m] = oracle;
      this.advanceTime(m, time);
      this.dirty.add(m);
    });
  }

  /**
   * The venue's book volume near the mid per market and side (base units, >= 0; Infinity: unknown), one batch,
   * checked whole. Lands in input order like a price; not an input of the scan, so no market is rescanned.
   */
  prepareDepth(rows: readonly { readonly market: number; readonly bidVolume: number; readonly askVolume: number }[]): Landing {
    requireArray(rows, 'books', 'book depths');
    const checked: { m: number; bid: number; ask: number }[] = [];
    for (let i = 0; i < rows.length; i++) {
      const r = requireObject(rows[i], `[${i}]`, 'a book depth { market, bidVolume, askVolume }');
      const m = this.marketIndexOf(requireId(r.market, `[${i}].market`), `[${i}].market`);
      const volume = (v: unknown, field: string): number => {
        if (typeof v !== 'number' || !(v >= 0)) throw new UnwindError(ErrorCode.InvalidSize, `expected a volume >= 0 (base units; Infinity: unknown), got ${describe(v)}`, field);
        return v;
      };
      checked.push({ m, bid: volume(r.bidVolume, `[${i}].bidVolume`), ask: volume(r.askVolume, `[${i}].askVolume`) });
    }
    return () => {
      for (const c of checked) {
        this.sequence++;
        this.write(() => {
          this.tables.markets.bidVolume[c.m] = c.bid;
          this.tables.markets.askVolume[c.m] = c.ask;
        });
      }
    };
  }

  /**
   * What the executor may do in market `marketIndex` (a LiquidationMode, src/tables/layout.ts). Lands in input
   * order like a price; not an input of the scan, so the market is not rescanned.
   */
  setLiquidationMode(marketIndex: number, mode: number): void {
    this.sequence++;
    this.write(() => {
      this.tables.markets.liquidationMode[marketIndex] = mode;
    });
  }

  /** Inside a landing: a market's event time only moves forward. */
  advanceTime(marketIndex: number, eventTimeUs: number): void {
    const times = this.tables.markets.eventTimeUs;
    if (eventTimeUs > times[marketIndex]!) times[marketIndex] = eventTimeUs;
  }

  /** Creates or replaces the position of `account` in `market`. Returns its slot. */
  preparePosition(u: PositionUpdate, field = 'position'): Landing<number> {
    const c = this.checkPosition(u, field);
    if (c.a === NONE) return () => (this.skip(1), NONE);
    if (this.findSlot(c.a, c.m) === undefined) this.checkFreeSlot(c.a, c.m, field);
    return () => this.landPosition(c, this.findSlot(c.a, c.m) ?? this.allocateSlot(c.a, c.m));
  }

  /**
   * Several position updates as one batch, applied in order: every update is validated, and the free slots that
   * the new positions need are counted, before any is accepted. Rejection changes nothing.
   */
  preparePositions(updates: readonly PositionUpdate[], field = ''): Landing {
    requireArray(updates, field || 'updates', 'position updates');
    const checked: CheckedPosition[] = [];
    for (let i = 0; i < updates.length; i++) checked.push(this.checkPosition(updates[i]!, `${field}[${i}]`)); // not map: it skips holes
    const { markets, accounts } = this.tables;
    const fresh = new Set<number>();
    const perMarket = new Map<number, number>();
    const perAccount = new Map<number, number>();
    checked.forEach((c, i) => {
      if (c.a === NONE || this.findSlot(c.a, c.m) !== undefined) return;
      const key = c.a * this.tables.layout.capacities.markets + c.m;
      if (fresh.has(key)) return;
      fresh.add(key);
      const inMarket = (perMarket.get(c.m) ?? 0) + 1;
      const inAccount = (perAccount.get(c.a) ?? 0) + 1;
      perMarket.set(c.m, inMarket);
      perAccount.set(c.a, inAccount);
      if (markets.positionCount[c.m]! + inMarket > markets.positionCapacity[c.m]!) {
        throw new UnwindError(ErrorCode.CapacityExceeded, `market ${markets.id[c.m]} has no free position slot for this batch`, `${field}[${i}]`);
      }
      if (accounts.positionCount[c.a]! + inAccount > this.tables.positionsPerAccount) {
        throw new UnwindError(
          ErrorCode.CapacityExceeded,
          `account ${accounts.id[c.a]} would hold more positions than capacity.positionsPerAccount allows`,
          `${field}[${i}]`,
        );
      }
    });
    return () => {
      for (const c of checked) {
        if (c.a === NONE) this.skip(1);
        else this.landPosition(c, this.findSlot(c.a, c.m) ?? this.allocateSlot(c.a, c.m));
      }
    };
  }

  /**
   * Several collateral updates as one batch, applied in order. With `createAccounts`, an unknown account is opened
   * with that collateral (the feed's account opening); otherwise it is UNKNOWN_ACCOUNT. All are validated first.
   */
  prepareCollaterals(updates: readonly { readonly account: number; readonly collateral: number }[], createAccounts: boolean, field = ''): Landing {
    requireArray(updates, field || 'updates', 'collateral updates');
    if (typeof createAccounts !== 'boolean') throw new UnwindError(ErrorCode.InvalidArgument, `expected a boolean, got ${describe(createAccounts)}`, 'createAccounts');
    const fresh = new Set<number>();
    for (let i = 0; i < updates.length; i++) {
      const u = requireObject(updates[i], `${field}[${i}]`, 'a collateral update { account, collateral }');
      const id = requireId(u.account, `${field}[${i}].account`);
      requireAmount(u.collateral, `${field}[${i}].collateral`);
      if (!this.holds(id) || this.accountIndex.has(id) || fresh.has(id)) continue;
      if (!createAccounts) throw new UnwindError(ErrorCode.UnknownAccount, `no account with id ${id}`, `${field}[${i}].account`);
      fresh.add(id);
      if (this.accountCount + fresh.size > this.tables.layout.capacities.accounts) {
        throw new UnwindError(ErrorCode.CapacityExceeded, `account table is full (${this.tables.layout.capacities.accounts})`, `${field}[${i}]`);
      }
    }
    return () => {
      // Checked above: each lands without its checks run again (an account opened earlier in the batch is known now).
      for (const u of updates) {
        const a = this.accountIndex.get(u.account);
        if (!this.holds(u.account)) this.skip(1);
        else if (a !== undefined) this.landCollateral(a, u.collateral);
        else this.landAccount(u.account, u.collateral);
      }
    };
  }

  private checkPosition(u: PositionUpdate, field: string): CheckedPosition {
    requireObject(u, field, 'a position update { account, market, size, entryPrice }');
    const account = requireId(u.account, `${field}.account`);
    // An account these tables do not hold: NONE, and the rest of the row checked as here.
    const a = this.holds(account) ? this.accountIndexOf(account, `${field}.account`) : NONE;
    const m = this.marketIndexOf(requireId(u.market, `${field}.market`), `${field}.market`);
    const size = requireSize(u.size, `${field}.size`);
    const entry = size === 0 && (u.entryPrice === 0 || u.entryPrice === undefined) ? 0 : requirePrice(u.entryPrice, `${field}.entryPrice`);
    const iso = u.isolatedCollateral;
    const isolated = iso !== null && iso !== undefined;
    if (isolated) requireNonNegativeAmount(iso, `${field}.isolatedCollateral`);
    return { a, m, size, entry, isolatedCollateral: isolated ? iso : null };
  }

  private landPosition(c: CheckedPosition, slot: number): number {
    const { m, size, entry, isolatedCollateral } = c;
    const sequence = ++this.sequence;
    this.write(() => {
      const p = this.tables.positions;
      p.size[slot] = size;
      p.entryPrice[slot] = entry;
      p.isolatedCollateral[slot] = isolatedCollateral ?? 0;
      p.updateSequence[slot] = sequence;
      p.flags[slot] = PositionFlag.Live | (isolatedCollateral !== null ? PositionFlag.Isolated : 0);
      this.dirty.add(m);
      this.dirtyAccounts.add(p.account[slot]!);
    });
    return slot;
  }

  /** The slot of (account, market), walking the account's short position list. */
  findSlot(accountIndex: number, marketIndex: number): number | undefined {
    const p = this.tables.positions;
    for (let s = this.tables.accounts.firstPosition[accountIndex]!; s !== NONE; s = p.next[s]!) {
      if (p.market[s] === marketIndex) return s;
    }
    return undefined;
  }

  /** Inside `sequenced`: the slot of (account, market), a new one if there is room for it; undefined without room. */
  slotAt(a: number, m: number): number | undefined {
    const slot = this.findSlot(a, m);
    if (slot !== undefined) return slot;
    const { markets, accounts } = this.tables;
    if (markets.positionCount[m]! >= markets.positionCapacity[m]! || accounts.positionCount[a]! >= this.tables.positionsPerAccount) return undefined;
    return this.allocateSlot(a, m);
  }

  /** Throws CAPACITY_EXCEEDED unless market `m` and account `a` each have room for one more position. */
  private checkFreeSlot(a: number, m: number, field: string): void {
    const { markets, accounts } = this.tables;
    const used = markets.positionCount[m]!;
    if (used >= markets.positionCapacity[m]!) {
      throw new UnwindError(ErrorCode.CapacityExceeded, `market ${markets.id[m]} has no free position slot (${used} used)`, field);
    }
    const held = accounts.positionCount[a]!;
    if (held >= this.tables.positionsPerAccount) {
      throw new UnwindError(
        ErrorCode.CapacityExceeded,
        `account ${accounts.id[a]} holds ${held} positions, the most capacity.positionsPerAccount allows`,
        field,
      );
    }
  }

  /** A new slot for (a, m), whose room was checked (checkFreeSlot, or a batch's count). */
  private allocateSlot(a: number, m: number): number {
    const { markets, positions, accounts, terms } = this.tables;
    const used = markets.positionCount[m]!;
    const held = accounts.positionCount[a]!;
    const slot = markets.positionStart[m]! + used;
    const term = termOf(this.tables, a, held);
    // Slot and term are written flat and not Live before they become reachable, so an in-flight scan skips them.
    positions.size[slot] = 0;
    positions.flags[slot] = 0;
    positions.openOrders[slot] = 0;
    positions.term[slot] = term;
    terms.kind[term] = 0;
    terms.pnl[term] = 0;
    terms.maintenance[term] = 0;
    terms.slot[term] = slot;
    accounts.positionCount[a] = held + 1;
    positions.account[slot] = a;
    positions.market[slot] = m;
    positions.next[slot] = NONE;
    const tail = accounts.lastPosition[a]!;
    if (tail === NONE) accounts.firstPosition[a] = slot;
    else positions.next[tail] = slot;
    accounts.lastPosition[a] = slot;
    markets.positionCount[m] = used + 1;
    return slot;
  }

  /**
   * Takes an input's sequence now and runs `apply(sequence)` where a value write would land: at once, or at the
   * next epoch's start behind earlier staged inputs. For inputs whose effect depends on the tables as every
   * earlier input left them (a fill's settlement). Inside `apply`, use the *At methods below with that sequence.
   */
  sequenced(apply: (sequence: number) => void): number {
    const sequence = ++this.sequence;
    this.write(() => apply(sequence));
    return sequence;
  }

  /** Inside `sequenced`: sets a position's size (and isolated collateral) as input `sequence` set it. */
  setPositionAt(slot: number, size: number, entryPrice: number, isolatedCollateral: number | null, sequence: number): void {
    const p = this.tables.positions;
    p.size[slot] = size;
    p.entryPrice[slot] = size === 0 ? 0 : entryPrice;
    p.isolatedCollateral[slot] = isolatedCollateral ?? 0;
    p.updateSequence[slot] = sequence;
    p.flags[slot] = PositionFlag.Live | (isolatedCollateral !== null ? PositionFlag.Isolated : 0);
    this.dirty.add(p.market[slot]!);
    this.dirtyAccounts.add(p.account[slot]!);
  }

  /** Inside `sequenced`: sets an account's cross collateral. */
  setCollateralAt(accountIndex: number, collateral: number): void {
    this.tables.accounts.collateral[accountIndex] = collateral;
    this.dirtyAccounts.add(accountIndex);
  }

  /** Inside `sequenced`: counts an insurance-fund cover of the account's loss (the executor's lifecycle reads it). */
  countBackstopAt(accountIndex: number): void {
    this.tables.accounts.backstops[accountIndex]!++;
  }

  /** Inside `sequenced`: counts a deleveraging of the account (the executor's lifecycle reads it). */
  countDeleverageAt(accountIndex: number): void {
    this.tables.accounts.deleverages[accountIndex]!++;
  }

  /**
   * Where an order of position `slot` opens (+1: behind the writes accepted so far, `afterWrites`) or ends (-1: filled
   * whole, expired, timed out; inside that input's `sequenced`): the open-orders count the executor reads.
   */
  countOpenOrderAt(slot: number, by: 1 | -1): void {
    const p = this.tables.positions;
    p.openOrders[slot] = Math.max(0, Math.min(255, p.openOrders[slot]! + by));
  }

  /** A snapshot's restore (before any epoch): every position's open-orders count, from the restored open orders. */
  restoreOpenOrders(counts: ReadonlyMap<number, number>): void {
    const p = this.tables.positions;
    p.openOrders.fill(0);
    for (const [slot, n] of counts) p.openOrders[slot] = Math.min(255, n);
  }

  /** Inside a landing: a market's fitted impact (src/engine/impact-observer.ts), which the executor's strategies read. */
  setImpactAt(marketIndex: number, eta: number, gamma: number): void {
    this.tables.markets.impactEta[marketIndex] = eta;
    this.tables.markets.impactGamma[marketIndex] = gamma;
  }

  /**
   * Runs `apply` where a value write would land now (at once, or staged behind the writes accepted so far), taking no
   * sequence: for work that must see the tables as every earlier input left them (the impact observer's).
   */
  afterWrites(apply: () => void): void {
    this.write(apply);
  }

  private write(apply: () => void): void {
    // Behind staged values a value waits its turn even with no epoch in flight: written now, it would be
    // overwritten by an older input when the staged ones land.
    if (this.busy || this.staged.length > 0) this.staged.push(apply);
    else apply();
  }

  /** Epoch start: lands staged values. Returns how many. */
  applyStaged(): number {
    const staged = this.staged;
    this.staged = [];
    for (const apply of staged) apply();
    return staged.length;
  }

  get stagedCount(): number {
    return this.staged.length;
  }

  /** Accounts whose collateral or positions changed since the last call. */
  takeDirtyAccounts(): number[] {
    const out = [...this.dirtyAccounts];
    this.dirtyAccounts.clear();
    return out;
  }

  /** Markets whose prices or positions changed since the last call (phase 1 rescans only these). */
  takeDirtyMarkets(): number[] {
    const out = [...this.dirty].sort((x, y) => x - y);
    this.dirty.clear();
    return out;
  }
}
