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
import { decodeOutput, type EpochOutput, type LiquidationOrder, type MarginCall, type StateChange } from '../execution/orders.js';
import { accountReport, crossSummary, type AccountReport, type CrossSummary } from '../risk/account-report.js';
import { allocateTables, type Tables } from '../tables/layout.js';
import { requireId } from '../tables/validate.js';
import { TableWriter, type MarketSpec, type PositionUpdate, type PriceUpdate } from '../tables/writer.js';
import { InlineBackend, ThreadedBackend, type Backend } from './backends.js';
import { Clearing, type Deleveraging, type FillPreview, type FillSettlement, type SocializedLoss } from '../execution/clearing.js';
import type { AdlQueueEntry } from '../domain/adl.js';
import type { OrderFill } from '../execution/open-orders.js';
import { entry, type Ledger } from '../ledger/ledger.js';

export interface EpochResult extends EpochOutput {
  readonly epoch: number;
  /** Orders left for a later epoch because the output table was full. */
  readonly deferred: number;
  /** Sequence number of the last input this epoch saw. */
  readonly lastSequence: number;
}

type Listener<T> = (value: T) => void;

/** Adds `listener` to `set`; returns the function that removes it. */
function subscribe<T>(set: Set<Listener<T>>, listener: Listener<T>): () => void {
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
  private chain: Promise<unknown> = Promise.resolve();
  private epochCount = 0;
  private scheduled = false;
  private closed = false;
  private readonly orderListeners = new Set<Listener<LiquidationOrder>>();
  private readonly callListeners = new Set<Listener<MarginCall>>();
  private readonly epochListeners = new Set<Listener<EpochResult>>();
  private readonly errorListeners = new Set<Listener<unknown>>();
  private readonly closeListeners = new Set<() => void>();

  private constructor(
    config: ResolvedConfig,
    tables: Tables,
    private readonly backend: Backend,
  ) {
    this.config = config;
    this.tables = tables;
    const perMarket = Math.floor(config.capacity.positions / config.capacity.markets);
    this.writer = new TableWriter(tables, Math.max(1, perMarket));
    this.clearing = new Clearing(tables, this.writer, config);
  }

  /** Allocates the tables and starts the threads. */
  static async start(config: EngineConfig = {}): Promise<Engine> {
    const c = resolveConfig(config);
    const tables = allocateTables(c.capacity);
    const backend = c.scanWorkers === 0 ? new InlineBackend(tables, c) : await ThreadedBackend.start(tables, c, c.scanWorkers);
    return new Engine(c, tables, backend);
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
    this.schedule();
  }

  upsertPosition(update: PositionUpdate): void {
    this.upsertPositionAt(update, 'position');
  }

  /** As addMarket, naming fields under `field` in errors (e.g. `markets[2]`). */
  addMarketAt(spec: MarketSpec, field: string): void {
    this.open();
    this.writer.addMarket(spec, field);
  }
  addAccountAt(id: number, collateral: number, field: string): void {
    this.open();
    this.writer.addAccount(id, collateral, field);
    this.clearing.setBalance(entry.account(id), collateral);
  }
  upsertPositionAt(update: PositionUpdate, field: string): void {
    this.open();
    this.writer.upsertPosition(update, field);
    this.clearing.setBalance(entry.isolated(update.account, update.market), update.isolatedCollateral ?? 0);
    this.schedule();
  }

  pushPrice(market: number, price: number, oraclePrice?: number): void {
    this.open();
    this.writer.setPrice(oraclePrice === undefined ? { market, price } : { market, price, oraclePrice });
    this.schedule();
  }

  /** Several position updates as one batch, in order: all are validated (and slots counted) before any is accepted. */
  upsertPositions(updates: readonly PositionUpdate[]): void {
    this.open();
    this.writer.upsertPositions(updates);
    for (const u of updates) this.clearing.setBalance(entry.isolated(u.account, u.market), u.isolatedCollateral ?? 0);
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
    this.schedule();
  }

  /** Several prices as one batch: all land in the same epoch. Validates all before accepting any. */
  pushPrices(updates: readonly PriceUpdate[]): void {
    this.open();
    this.writer.setPrices(updates);
    this.schedule();
  }

  /**
   * Prices as columns, one batch (the feed's hot path: no object per tick): `n` rows of market ids and prices,
   * mark and oracle both taking the price. Validates all before accepting any; errors name `[i].market` / `[i].price`.
   */
  pushPriceColumns(marketIds: ArrayLike<number>, prices: ArrayLike<number>, n: number, eventTimesUs?: ArrayLike<number>): void {
    this.open();
    this.writer.setPriceColumns(marketIds, prices, n, eventTimesUs);
    this.schedule();
  }

  /**
   * Fills of our liquidation orders from the matching engine, applied in order: checked (UNKNOWN_ORDER,
   * INVALID_FILL, ...) all before any is taken, then each settles where inputs land: realized PnL, the liquidation
   * fee into the insurance fund or the fund's cover, the position shrunk by the fill. `onFill` hears each.
   */
  fill(fills: OrderFill | readonly OrderFill[]): void {
    this.open();
    this.clearing.fill(
      Array.isArray(fills) ? fills : [fills as OrderFill],
      (s) => {
        for (const l of this.fillListeners) l(s);
      },
      (d) => {
        for (const l of this.deleverageListeners) l(d);
      },
      (loss) => {
        for (const l of this.socializedListeners) l(loss);
      },
    );
    this.schedule();
  }

  /**
   * Closes a liquidatable account's position in `market` against the market's ADL queue at its bankruptcy price
   * (DOMAIN.md section 4). Done automatically after a fill the insurance fund could not cover (`autoDeleverage`).
   * `onDeleverage` hears the result; nothing happens if the group is no longer below maintenance when it lands.
   */
  deleverage(account: number, market: number): void {
    this.open();
    this.clearing.deleverage(account, market, (d) => {
      for (const l of this.deleverageListeners) l(d);
    });
    this.schedule();
  }

  /**
   * What `order` would settle if it filled whole at its limit price now: fee, insurance draw, deficit (quote), and
   * where a deficit remains, the ADL matches that would take its quantity instead.
   */
  previewFill(order: LiquidationOrder): FillPreview {
    return this.clearing.preview(order);
  }

  /** The ADL queue a bankrupt position on `bankruptSide` (1 long, -1 short) of `market` would meet: ranked, 1 first. */
  adlQueue(market: number, bankruptSide: 1 | -1): AdlQueueEntry[] {
    return this.clearing.adlQueue(market, bankruptSide);
  }

  /**
   * Orders that expired unfilled (IOCs the book could not take): the engine forgets them and re-evaluates their
   * accounts; one still liquidatable gets a new order with a new id. All are checked before any is taken
   * (UNKNOWN_ORDER if an order is not open).
   */
  expire(orderIds: string | readonly string[]): void {
    this.open();
    this.clearing.expire(typeof orderIds === 'string' ? [orderIds] : orderIds);
    this.schedule();
  }

  /** Money into an insurance fund (a market's, or the pooled one), e.g. to seed it. */
  depositInsurance(market: number | 'pooled', amount: number): void {
    this.open();
    this.clearing.depositInsurance(market, amount);
  }

  /** An insurance fund's balance, quote units (exact to the ledger's decimals). */
  insuranceFund(market: number | 'pooled'): number {
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
    if (!this.config.autoEpoch || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed) return;
      this.step().catch((e: unknown) => this.emitError(e));
    });
  }

  private async epoch(): Promise<EpochResult> {
    const w = this.writer;
    w.applyStaged();
    const dirty = w.takeDirtyMarkets();
    const accounts = w.accounts;
    const lastSequence = w.lastSequence;
    const epoch = ++this.epochCount;
    w.busy = true;
    let out: EpochOutput;
    let deferred: number;
    try {
      await this.backend.scan(dirty, accounts);
      const r = await this.backend.execute(epoch);
      deferred = r.deferred;
      out = decodeOutput(this.tables, r.outputCount, epoch, (m) => w.symbolOf(m));
    } finally {
      w.busy = false;
    }
    const result: EpochResult = { epoch, ...out, deferred, lastSequence };
    for (const o of out.orders) this.clearing.issued(o);
    for (const o of out.orders) for (const l of this.orderListeners) l(o);
    for (const c of out.marginCalls) for (const l of this.callListeners) l(c);
    for (const c of out.stateChanges) for (const l of this.stateListeners) l(c);
    for (const l of this.epochListeners) l(result);
    if (w.stagedCount > 0 || deferred > 0) this.schedule();
    return result;
  }

  // ---- outputs ----

  /** Calls `listener` with every order, in emission order. Returns an unsubscribe function. */
  onOrder(listener: Listener<LiquidationOrder>): () => void {
    return subscribe(this.orderListeners, listener);
  }
  onMarginCall(listener: Listener<MarginCall>): () => void {
    return subscribe(this.callListeners, listener);
  }
  /** Every lifecycle transition of a margin group (healthy, margin-call, liquidating, closed), in emission order. */
  onStateChange(listener: Listener<StateChange>): () => void {
    return subscribe(this.stateListeners, listener);
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

  /** Waits for the epoch in flight, stops every thread. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await this.backend.close();
    for (const l of this.closeListeners) l();
  }

  private open(): void {
    if (this.closed) throw new UnwindError(ErrorCode.EngineClosed, 'the engine is closed');
  }

  private emitError(e: unknown): void {
    if (this.errorListeners.size === 0) throw e;
    for (const l of this.errorListeners) l(e);
  }
}
