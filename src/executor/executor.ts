/**
 * The executor's decision: from one epoch's candidates to an ordered list of liquidation orders and margin calls.
 * It runs on the executor thread (workers/executor.worker.ts) and, unchanged, in-process for `unwind check`
 * and the reference tests. It is the only place that decides; it reads the tables and writes only `output`.
 *
 * Determinism contract: the output depends only on the tables' contents and this object's state (which itself
 * depends only on earlier epochs' tables). Candidates arrive in a timing-dependent order and are sorted here;
 * ids derive from inputs (account id, market id, the position's update sequence).
 */
import { canBeLiquidated, health, isMarginCall, notional } from '../domain/margin.js';
import { fillablePrice, underwaterness } from '../domain/liquidation.js';
import { closeQuantity, type SizingBound } from '../domain/sizing.js';
import type { BackstopStrategy, ExecutorConfig, LifecycleConfig, PatientStrategy, StrategySpec } from '../config-types.js';
import { CAP_NAMES, LiquidationCaps, type CapName, type CapsState } from './caps.js';
import { refill } from '../maps.js';
import { inLiquidation, LIFECYCLE_STATES, nextState, type LifecycleState } from './lifecycle.js';
import { candidateCount } from '../concurrency/epoch.js';
import { isIsolatedRef, isolatedRef, LiquidationMode, NONE, OutputKind, refSlot, type Tables } from '../tables/layout.js';
import { marketMaintenance, positionMaintenance } from '../tables/margin.js';
import { crossGroup, emptyGroup, isLiveCross, isLiveIsolated, isolatedGroup, type GroupMargin } from '../scan/group.js';
import { backstopPrice, childOf, newParent, Strategies, type Parent } from './strategies.js';
import { crossingProbability } from '../domain/schedules.js';
import { chosenVolatility, VolatilityForecasts, type VolatilitySnapshot } from './forecasts.js';


export const OrderReason = { CrossMaintenance: 1, IsolatedMaintenance: 2 } as const;

/** What a position's liquidation does now: a strategy with its adaptive choice made. */
type Resolved = { readonly kind: 'ioc' } | PatientStrategy | BackstopStrategy;

export interface StepResult {
  readonly outputCount: number;
  /** Orders that did not fit in the output table; they are re-evaluated next epoch. */
  readonly deferred: number;
  /** Candidates that the exact re-check found above the margin-call level (0 unless the scan is wrong). */
  readonly rejected: number;
  /** True when the candidate table overflowed and every group was re-checked. */
  readonly overflowed: boolean;
}

interface PlannedOrder {
  slot: number;
  account: number;
  reason: number;
  key: number;
  notional: number;
  accountId: number;
  marketId: number;
  quantity: number;
  side: number;
  limitPrice: number;
  oraclePrice: number;
  health: number;
  equity: number;
  maintenance: number;
  /** A backstop takeover: the vault's account row (the order goes to the vault, off the book, at `limitPrice`). */
  vault?: number;
}

/** An order a group's plan asks for, before the caps: admitted across all groups in the executor's order. */
interface Proposal {
  readonly ref: number;
  readonly order: PlannedOrder;
  /** Base units the plan asks for. */
  readonly quantity: number;
  readonly emergency: boolean;
  /** The sizing cap that bound the quantity (a step-down starts a cooldown once admitted). */
  readonly bound: SizingBound | null;
  /** A child of a stepped strategy: the step it takes once admitted. */
  readonly step?: number;
  /** A backstop's: the vault takes the quantity at this price if its health allows, else it goes to the book. */
  readonly takeover?: { readonly spec: BackstopStrategy; readonly price: number };
}

interface PlannedCap {
  account: number;
  slot: number;
  accountId: number;
  marketId: number;
  cap: CapName;
  /** Base units the cap held back. */
  queued: number;
  limitPrice: number;
}

interface PlannedCall {
  group: number;
  account: number;
  slot: number;
  accountId: number;
  marketId: number;
  health: number;
  equity: number;
  maintenance: number;
}

/** A lifecycle transition: the group as a margin call describes it, and the states it left and entered. */
interface PlannedChange extends PlannedCall {
  from: LifecycleState;
  to: LifecycleState;
}

/** One output row; the columns a kind does not use are 0. `slot` NONE: no position (a cross group). */
interface OutputRow {
  kind: number;
  account: number;
  slot: number;
  side?: number;
  reason?: number;
  quantity?: number;
  limitPrice?: number;
  oraclePrice?: number;
  health?: number;
  equity?: number;
  maintenance?: number;
  updateSequence?: number;
}

/** The executor's memory between epochs as plain data (a snapshot's part; it crosses threads by structured clone). */
export interface ExecutorState {
  readonly issued: ReadonlyMap<number, number>;
  readonly states: ReadonlyMap<number, LifecycleState>;
  readonly seenClearing: ReadonlyMap<number, { backstops: number; deleverages: number }>;
  readonly caps: CapsState;
  readonly flight: ReadonlyMap<number, { id: string; sequence: number; size: number; quantity: number; limit: number }>;
  readonly now: number;
  readonly cooldown: ReadonlyMap<number, number>;
  readonly ordered: ReadonlySet<number>;
  readonly restoring: ReadonlySet<number>;
  /** Liquidations under a stepped strategy, by slot (absent in snapshots from before strategies). */
  readonly parents?: ReadonlyMap<number, Parent>;
  /**
   * Each market's volatility forecaster, by market index, when a strategy needs one (src/executor/forecasts.ts; an
   * EwmaState per market in snapshots from before the model choice).
   */
  readonly volatility?: VolatilitySnapshot;
}

export class Executor {
  /** Position slot -> update sequence of the position an order was issued for (one order per position state). */
  private readonly issued = new Map<number, number>();
  /** Lifecycle state of each group (account index, or slot | ISOLATED) that is not healthy. */
  private readonly states = new Map<number, LifecycleState>();
  /** Per account: the clearing's backstop and deleverage counts this lifecycle has seen. */
  private readonly seenClearing = new Map<number, { backstops: number; deleverages: number }>();
  private readonly g = emptyGroup();
  private readonly lifecycle: LifecycleConfig;
  private readonly caps: LiquidationCaps;
  private readonly capsOn: boolean;
  /** Orders counted by the caps, by slot, until they end (filled whole, expired, timed out: src/clearing/open-orders.ts). */
  private readonly flight = new Map<number, { id: string; sequence: number; size: number; quantity: number; limit: number }>();
  /** Event time of this step: the latest input event time of any market. */
  private now = 0;
  /** Positions that stepped down (a large position's partial close), by slot: not planned again before this time. */
  private readonly cooldown = new Map<number, number>();
  /** Groups that got an order in their current liquidation: the kill switch's no-new level lets them continue. */
  private readonly ordered = new Set<number>();
  /**
   * Groups whose liquidation has not yet restored the target health: they keep getting orders until it does, or they
   * are flat, even once the lifecycle has let them out above the exit level (a fill that lands between the two).
   */
  private readonly restoring = new Set<number>();
  /** Liquidations under a stepped strategy (twap, disposal, almgren-chriss, dutch-auction), by slot. */
  private readonly parents = new Map<number, Parent>();
  private readonly strategies: Strategies;
  /** Each market's volatility estimate of its mark price on event time (execution.volatility): kept only when a strategy needs one. */
  private readonly volatility: VolatilityForecasts | undefined;
  /** Within one step: per account, whether the clearing backstopped or deleveraged it since the last step. */
  private readonly clearingNews = new Map<number, { backstopped: boolean; deleveraged: boolean }>();
  /** Backstop vaults' account rows, by account id (rows never move once an account is added). */
  private readonly vaultRows = new Map<number, number>();
  /** Within one step: what each vault (by row) has taken so far, so that its health check sees all of it. */
  private readonly vaultTaken = new Map<number, { equity: number; sizes: Map<number, number> }>();

  constructor(
    private readonly t: Tables,
    private readonly config: ExecutorConfig,
  ) {
    this.lifecycle = { marginCallHealth: config.marginCallHealth, ...config.lifecycle };
    this.caps = new LiquidationCaps(config.caps);
    this.strategies = new Strategies(config.execution);
    // One estimate per market, kept only when a strategy needs it.
    this.volatility = this.strategies.needsVolatility() ? new VolatilityForecasts(chosenVolatility(config.execution, this.strategies.all())) : undefined;
    const c = config.caps;
    this.capsOn = [c.accountNotionalPerInterval, c.accountInsuranceLossPerInterval, c.marketNotionalPerWindow, c.maxInFlight].some(Number.isFinite);
  }

  /** Snapshot (src/journal): everything this object remembers between epochs, as plain data. */
  exportState(): ExecutorState {
    const { issued, states, seenClearing, flight, now, cooldown, ordered, restoring, parents } = this;
    const volatility = this.volatility?.exportState() ?? new Map();
    return { issued, states, seenClearing, caps: this.caps.exportState(), flight, now, cooldown, ordered, restoring, parents, volatility };
  }
  importState(s: ExecutorState): void {
    refill(this.issued, s.issued);
    refill(this.states, s.states);
    refill(this.seenClearing, s.seenClearing);
    this.caps.importState(s.caps);
    refill(this.flight, s.flight);
    this.now = s.now;
    refill(this.cooldown, s.cooldown);
    this.ordered.clear();
    for (const g of s.ordered) this.ordered.add(g);
    this.restoring.clear();
    for (const g of s.restoring ?? []) this.restoring.add(g);
    refill(this.parents, s.parents ?? new Map());
    this.volatility?.importState(s.volatility ?? new Map());
  }

  /** Every market's mark price at its event time goes into its volatility estimate (when a strategy needs one). */
  private observeMarkets(): void {
    const v = this.volatility;
    if (v === undefined) return;
    const mk = this.t.markets;
    for (let m = 0; m < mk.id.length; m++) {
      const time = mk.eventTimeUs[m]!;
      const price = mk.markPrice[m]!;
      if (!(price > 0) || time === 0) continue; // a market not yet added, or prices without event time
      const last = v.lastObservedUs(m);
      if (last === undefined || time >= last) v.observe(m, time, price);
    }
  }

  step(): StepResult {
    const t = this.t;
    const count = candidateCount(t);
    const overflowed = count > t.candidates.ref.length;
    const groups = overflowed ? this.allGroups() : Array.from(t.candidates.ref.subarray(0, count));
    this.clearingNews.clear();
    this.vaultTaken.clear();
    groups.sort((x, y) => x - y);
    this.now = 0;
    for (const time of t.markets.eventTimeUs) if (time > this.now) this.now = time;
    this.observeMarkets();
    // Orders that ended (filled whole, expired, timed out: the position has none open, and its state changed) leave
    // flight: the caps keep what was filled. A partial fill changes the state but leaves the order open: it stays.
    for (const [slot, f] of this.flight) {
      if (t.positions.updateSequence[slot] === f.sequence || t.positions.openOrders[slot]! > 0) continue;
      const filled = Math.max(0, Math.min(f.quantity, f.size - Math.abs(t.positions.size[slot]!)));
      this.caps.settled(f.id, filled * f.limit, this.now);
      this.flight.delete(slot);
    }
    // A liquidation is over once its group is back at the target health, or has nothing left to close.
    for (const ref of this.restoring) {
      if (this.isFlat(ref)) {
        this.restoring.delete(ref);
        continue;
      }
      const g = isIsolatedRef(ref) ? isolatedGroup(t, refSlot(ref), this.g) : crossGroup(t, ref, this.g);
      if (!(g.equity < this.config.sizing.targetHealth * g.maintenance)) this.restoring.delete(ref);
    }
    // Cooldowns end with their time, or with the position.
    for (const [slot, until] of this.cooldown) if (until <= this.now || t.positions.size[slot] === 0) this.cooldown.delete(slot);
    // A stepped liquidation ends with the position, or once its group is out of liquidation.
    for (const slot of this.parents.keys()) {
      const ref = isLiveIsolated(t, slot) ? isolatedRef(slot) : t.positions.account[slot]!;
      if (t.positions.size[slot] === 0 || !(this.restoring.has(ref) || inLiquidation(this.states.get(ref) ?? 'healthy'))) this.parents.delete(slot);
    }
    const proposals: Proposal[] = [];
    const calls: PlannedCall[] = [];
    const changes: PlannedChange[] = [];
    const capped: PlannedCap[] = [];
    const seen = new Set<number>();
    let rejected = 0;
    for (const ref of groups) {
      const isolated = isIsolatedRef(ref);
      const g = isolated ? isolatedGroup(t, refSlot(ref), this.g) : crossGroup(t, ref, this.g);
      const account = isolated ? t.positions.account[refSlot(ref)]! : ref;
      seen.add(ref);
      // A candidate has a requirement, so it is not flat, except in the overflow re-check, which sees every group.
      const change = this.observe(ref, account, isolated, g, overflowed && this.isFlat(ref), changes);
      // A margin call is raised on entering the margin-call state (once per stay, with hysteresis on leaving it).
      if (change?.to === 'margin-call') calls.push(change);
      // A group in liquidation keeps getting orders until it is back at the target health or flat: the sticky state
      // of docs/domain.md section 3, sized to the target even once it is above 1, and above the exit level until then.
      if (canBeLiquidated(g.equity, g.maintenance) || inLiquidation(this.states.get(ref) ?? 'healthy') || this.restoring.has(ref)) {
        this.planGroup(ref, account, isolated, g, proposals);
      } else if (!isMarginCall(g.equity, g.maintenance, this.config.marginCallHealth) && !overflowed) {
        rejected++;
      }
    }
    // Groups followed by the lifecycle that are no longer candidates: they recovered, or closed their positions.
    for (const ref of [...this.states.keys()]) {
      if (seen.has(ref)) continue;
      const isolated = isIsolatedRef(ref);
      const g = isolated ? isolatedGroup(t, refSlot(ref), this.g) : crossGroup(t, ref, this.g);
      this.observe(ref, isolated ? t.positions.account[refSlot(ref)]! : ref, isolated, g, this.isFlat(ref), changes);
    }
    // One order per position state, so an id is never emitted twice: forget a slot once an input changed it.
    for (const [slot, sequence] of this.issued) {
      if (t.positions.updateSequence[slot] !== sequence) this.issued.delete(slot);
    }

    const orders = this.admitAll(proposals, capped);
    calls.sort((x, y) => x.health - y.health || x.accountId - y.accountId || x.marketId - y.marketId);
    const capacity = t.output.kind.length;
    let row = 0;
    for (const o of orders) {
      if (row >= capacity) {
        // Not delivered: give its budget back to the caps; the group is planned again next epoch.
        const f = this.flight.get(o.slot);
        if (f !== undefined) {
          this.caps.settled(f.id, 0, this.now);
          this.flight.delete(o.slot);
        }
        continue;
      }
      this.writeOrder(row++, o);
      this.issued.set(o.slot, t.positions.updateSequence[o.slot]!);
    }
    const deferred = orders.length - Math.min(orders.length, capacity);
    const undelivered = new Set<number>();
    for (const c of calls) {
      if (row >= capacity) {
        undelivered.add(c.group); // not delivered: the transition is undone and happens again next epoch
        continue;
      }
      this.writeCall(row++, c);
    }
    capped.sort((x, y) => x.accountId - y.accountId || x.marketId - y.marketId);
    for (const c of capped) if (row < capacity) this.writeCapped(row++, c);
    changes.sort((x, y) => x.accountId - y.accountId || x.marketId - y.marketId);
    for (const c of changes) {
      if (row >= capacity || undelivered.has(c.group)) {
        this.setState(c.group, c.from);
        continue;
      }
      this.writeChange(row++, c);
    }
    return { outputCount: row, deferred, rejected, overflowed };
  }

  /**
   * Proposals for one group in liquidation, sized (src/domain/sizing.ts): below the emergency health every position
   * closes whole (one order per position state); otherwise positions are taken most underwater first, each closing
   * the least that restores the target health given the closes planned before it, until the target is reached, and
   * nothing while an order of the group is in flight. A position is never ordered while an order of it is open at
   * the venue (it could fill too, and close more than the position holds): the wait ends when that order is filled
   * whole, expires or times out. The caps see the proposals later, across all groups (`admitAll`).
   */
  private planGroup(ref: number, account: number, isolated: boolean, g: GroupMargin, out: Proposal[]): void {
    const t = this.t;
    const slots: number[] = [];
    if (isolated) slots.push(refSlot(ref));
    else for (let s = t.accounts.firstPosition[ref]!; s !== NONE; s = t.positions.next[s]!) if (isLiveCross(t, s)) slots.push(s);
    // A position is in flight while an order of it is open at the venue (positions.openOrders, which the clearing
    // keeps: a partial fill changes the state, not that), or was issued for its current state.
    const inFlight = (s: number): boolean => t.positions.openOrders[s]! > 0 || this.issued.get(s) === t.positions.updateSequence[s];
    const reason = isolated ? OrderReason.IsolatedMaintenance : OrderReason.CrossMaintenance;
    const c = this.config;
    if (health(g.equity, g.maintenance) < c.sizing.emergencyHealth) {
      // Emergency: every position with no order open or issued for its state closes whole, whatever the caps say.
      // A backstop strategy (or an adaptive one's urgent backstop) gives the whole position to its vault.
      for (const s of slots) {
        if (inFlight(s) || !this.allowed(ref, s)) continue;
        for (const o of this.planOrder(s, account, reason, g)) {
          const spec = this.resolve(o, true);
          out.push({ ref, order: o, quantity: o.quantity, emergency: true, bound: null, ...(spec.kind === 'backstop' ? { takeover: this.takeoverOf(spec, o) } : {}) });
        }
      }
      return;
    }
    // Partial sizing plans the group as a whole: wait while any of its orders is in flight, or a large position of
    // it cools down after a step (Hyperliquid: 30 s of event time), unless health falls below the emergency level.
    if (slots.some(inFlight)) return;
    if (slots.some((s) => this.cooldown.has(s))) return;
    // Positions in markets where the kill switch or an oracle pause holds orders stay as they are; the others are
    // sized to restore the group without them.
    const planned = slots
      .filter((s) => this.allowed(ref, s))
      .flatMap((s) => this.planOrder(s, account, reason, g))
      .sort(compareOrders);
    let equity = g.equity;
    let maintenance = g.maintenance;
    for (const o of planned) {
      const m = t.positions.market[o.slot]!;
      const mark = t.markets.markPrice[m]!;
      const decision = closeQuantity(
        {
          size: t.positions.size[o.slot]!,
          markPrice: mark,
          oraclePrice: o.oraclePrice,
          fillPrice: o.limitPrice,
          equity,
          totalMaintenance: maintenance,
          maintenanceAt: (r) => marketMaintenance(t, m, r * mark),
          feeFraction: c.fees.maxFeeFraction,
          maintenanceShare: c.fees.maxMaintenanceShare,
        },
        c.sizing,
      );
      if (decision === null) break; // the planned closes already restore the group
      const spec = this.resolve(o, false);
      if (spec.kind === 'backstop') {
        out.push({ ref, order: o, quantity: decision.quantity, emergency: false, bound: decision.bound, takeover: this.takeoverOf(spec, o) });
      } else {
        // The strategy spreads the sized quantity over event time: nothing until its next step.
        const child = this.child(o, decision.quantity, spec);
        const order = child.limitPrice === undefined ? o : { ...o, limitPrice: child.limitPrice };
        if (child.quantity > 0) out.push({ ref, order, quantity: child.quantity, emergency: false, bound: decision.bound, step: child.step });
      }
      equity = decision.equityAfter;
      maintenance = decision.maintenanceAfter;
    }
  }

  /**
   * Puts every proposal through the caps in the executor's order (docs/domain.md section 7: most underwater first), so a
   * shared cap serves the worst accounts first. A cap that cuts or holds one of a group's proposals holds the rest
   * of that group (they were sized assuming it fills whole): it is planned again when the caps allow. A cut that
   * would leave less than the minimum order (sizing.minOrderNotional) emits nothing and waits. Emergencies bypass
   * the caps but count against them.
   */
  private admitAll(proposals: Proposal[], capped: PlannedCap[]): PlannedOrder[] {
    proposals.sort((x, y) => compareOrders(x.order, y.order));
    const held = new Set<number>();
    const orders: PlannedOrder[] = [];
    for (const p of proposals) {
      if (!p.emergency && held.has(p.ref)) continue;
      // A takeover is off the book: the caps, which bound what goes to the book, do not see it; the vault's health does.
      const vault = p.takeover === undefined ? undefined : this.vaultFor(p.takeover.spec, p.order, p.quantity, p.takeover.price);
      if (vault !== undefined) {
        this.push(p.ref, { ...p.order, quantity: p.quantity, limitPrice: p.takeover!.price, vault }, orders);
        if (p.bound === 'step-down') this.cooldown.set(p.order.slot, this.now + this.config.stepDownCooldownUs);
        continue;
      }
      const admitted = this.admit(p.order, p.quantity, p.emergency, capped);
      if (admitted === undefined || admitted.quantity < p.quantity) held.add(p.ref);
      if (admitted === undefined) continue;
      this.push(p.ref, admitted, orders);
      if (p.bound === 'step-down') this.cooldown.set(p.order.slot, this.now + this.config.stepDownCooldownUs);
      const parent = this.parents.get(p.order.slot);
      if (parent !== undefined && p.step !== undefined) parent.lastStep = p.step;
    }
    return orders;
  }

  /**
   * The child of a sized close of `quantity` base units that the position's strategy sends now (src/executor/strategies.ts):
   * all of it under 'ioc'; under a stepped strategy, the step's share (a new liquidation starts its parent now), never
   * less than the minimum order unless the sizing asks for less; a Dutch auction's child has the auction's price.
   */
  private child(o: PlannedOrder, quantity: number, spec: { readonly kind: 'ioc' } | PatientStrategy): { quantity: number; step?: number; limitPrice?: number } {
    const t = this.t;
    const slot = o.slot;
    const m = t.positions.market[slot]!;
    const size = t.positions.size[slot]!;
    const mark = t.markets.markPrice[m]!;
    if (spec.kind === 'ioc') return { quantity };
    const variance = this.volatility?.variancePerSecond(m);
    const sigma = variance === undefined ? 0 : Math.sqrt(variance) * mark;
    // A sell takes the bids, a buy the asks.
    const bookVolume = size > 0 ? t.markets.bidVolume[m]! : t.markets.askVolume[m]!;
    const context = { nowUs: this.now, oraclePrice: o.oraclePrice, fillablePrice: o.limitPrice, side: size > 0 ? (1 as const) : (-1 as const), sigma, bookVolume, eta: t.markets.impactEta[m]! };
    let parent = this.parents.get(slot);
    if (parent === undefined) this.parents.set(slot, (parent = newParent(spec, context)));
    const child = childOf(spec, quantity, parent, context);
    if (!(child.quantity > 0)) return { quantity: 0 };
    const least = Math.min(quantity, this.config.sizing.minOrderNotional / child.limitPrice);
    // Below the minimum order a child is raised to it, unless the book's share forbids that: a sliver waits.
    if (child.quantity < least && least > child.ceiling) return { quantity: 0 };
    return { quantity: Math.max(child.quantity, least), step: child.step, limitPrice: child.limitPrice };
  }

  /**
   * The strategy for the position an order plans (by its market and notional at the mark), with an adaptive one's
   * choice made; below the emergency health (`emergency`) only a backstop is kept, everything else is 'ioc'.
   */
  private resolve(o: PlannedOrder, emergency: boolean): Resolved {
    const t = this.t;
    const m = t.positions.market[o.slot]!;
    const size = t.positions.size[o.slot]!;
    const mark = t.markets.markPrice[m]!;
    const spec = this.strategies.choose(o.marketId, notional(size, mark));
    if (spec.kind === 'adaptive') return emergency ? (spec.urgent ?? { kind: 'ioc' }) : this.adapt(spec, m, size * mark, o.equity);
    return emergency && spec.kind !== 'backstop' ? { kind: 'ioc' } : spec;
  }

  /** A backstop's takeover of the position `o` plans: at the vault's price, never worse for the account than `o`'s fillable price. */
  private takeoverOf(spec: BackstopStrategy, o: PlannedOrder): { spec: BackstopStrategy; price: number } {
    const side = this.t.positions.size[o.slot]! > 0 ? 1 : -1;
    return { spec, price: backstopPrice(spec, o.oraclePrice, o.limitPrice, side) };
  }

  /**
   * The account row of `spec`'s vault if it can take `quantity` of the position `o` plans at `price` now, counting
   * what it took earlier in this step: its cross group's health at the mark afterwards (the position at `price`,
   * its maintenance on the new size) is at least `minVaultHealth`. Undefined otherwise (the work goes to the book):
   * no such account, no equity, the vault is the liquidated account itself, or it holds the market isolated or has
   * no room for a new position.
   */
  private vaultFor(spec: BackstopStrategy, o: PlannedOrder, quantity: number, price: number): number | undefined {
    const t = this.t;
    const v = this.vaultRow(spec.vault);
    if (v === undefined || v === o.account) return undefined;
    const m = t.positions.market[o.slot]!;
    let slot: number = NONE;
    for (let s = t.accounts.firstPosition[v]!; s !== NONE; s = t.positions.next[s]!) if (t.positions.market[s] === m) slot = s;
    if (slot !== NONE && isLiveIsolated(t, slot)) return undefined;
    if (slot === NONE && (t.markets.positionCount[m]! >= t.markets.positionCapacity[m]! || t.accounts.positionCount[v]! >= t.positionsPerAccount)) return undefined;
    const g = crossGroup(t, v, emptyGroup());
    const taken = this.vaultTaken.get(v) ?? { equity: 0, sizes: new Map<number, number>() };
    // The vault takes the position's side (it buys a long, sells to a short), at `price` against the mark.
    const side = Math.sign(t.positions.size[o.slot]!);
    const gain = taken.equity + side * quantity * (t.markets.markPrice[m]! - price);
    const equity = g.equity + gain;
    if (!(g.equity > 0)) return undefined;
    const sizes = new Map(taken.sizes).set(m, (taken.sizes.get(m) ?? 0) + side * quantity);
    // Its maintenance with every takeover of this step: each market's term again, on the size it would hold.
    let maintenance = g.maintenance;
    for (const [mm, added] of sizes) {
      const held = this.vaultSize(v, mm);
      const mark = t.markets.markPrice[mm]!;
      maintenance += marketMaintenance(t, mm, Math.abs(held + added) * mark) - marketMaintenance(t, mm, Math.abs(held) * mark);
    }
    if (equity < (spec.minVaultHealth ?? 1.5) * maintenance) return undefined;
    this.vaultTaken.set(v, { equity: gain, sizes });
    return v;
  }

  /** The vault's cross position size in market row `m` (0 without one). */
  private vaultSize(v: number, m: number): number {
    const t = this.t;
    for (let s = t.accounts.firstPosition[v]!; s !== NONE; s = t.positions.next[s]!) if (t.positions.market[s] === m && isLiveCross(t, s)) return t.positions.size[s]!;
    return 0;
  }

  /** The account row of account id `id`, found once (rows never move); undefined while no such account exists. */
  private vaultRow(id: number): number | undefined {
    const known = this.vaultRows.get(id);
    if (known !== undefined) return known;
    const a = this.t.accounts;
    // An unused row has id 0, no position and no collateral: such a row is not taken for an account whose id is 0.
    for (let row = 0; row < a.id.length; row++) {
      if (a.id[row] !== id || (a.firstPosition[row] === NONE && a.collateral[row] === 0)) continue;
      this.vaultRows.set(id, row);
      return row;
    }
    return undefined;
  }

  /**
   * An adaptive strategy's choice for a position of signed `exposure` (size * mark, quote) in market index `m` whose
   * group has `equity`: its patient strategy while the price is unlikely to cross the group's bankruptcy level within
   * the horizon (docs/domain.md section 6.7: `2 (1 - Phi(d / (sigma sqrt(T))))`, d the log move that takes the group's
   * equity to 0, all of it charged to this position), 'ioc' otherwise, and while the market's volatility is not known.
   */
  private adapt(spec: Extract<StrategySpec, { kind: 'adaptive' }>, m: number, exposure: number, equity: number): Resolved {
    const urgent = spec.urgent ?? { kind: 'ioc' };
    const variance = this.volatility?.variancePerSecond(m);
    if (variance === undefined) return urgent;
    // A long is bankrupt after a fall of equity / exposure, a short after a rise of as much.
    const f = equity / Math.abs(exposure);
    const distance = !(f > 0) ? 0 : exposure > 0 ? (f >= 1 ? Infinity : -Math.log1p(-f)) : Math.log1p(f);
    const p = crossingProbability(distance, Math.sqrt(variance), spec.horizonSec);
    return p > spec.maxCrossProbability ? urgent : spec.patient;
  }

  /** Whether the market of `slot` lets group `ref` have an order (its LiquidationMode, set by src/clearing/market-mode.ts). */
  private allowed(ref: number, slot: number): boolean {
    const mode = this.t.markets.liquidationMode[this.t.positions.market[slot]!]!;
    return mode === LiquidationMode.Normal || (mode === LiquidationMode.NoNew && this.ordered.has(ref));
  }

  private push(ref: number, o: PlannedOrder, out: PlannedOrder[]): void {
    out.push(o);
    this.ordered.add(ref);
    this.restoring.add(ref);
  }

  /**
   * Puts an order of `quantity` through the caps: returns it as admitted (possibly smaller), or undefined when a cap
   * allows nothing; a binding cap is recorded in `capped` with the quantity it queued. Admitted orders are counted
   * in flight at once, so later orders of the same step see them.
   */
  private admit(o: PlannedOrder, quantity: number, emergency: boolean, capped: PlannedCap[]): PlannedOrder | undefined {
    if (!this.capsOn) return { ...o, quantity };
    const t = this.t;
    const slot = o.slot;
    const size = t.positions.size[slot]!;
    const m = t.positions.market[slot]!;
    const mark = t.markets.markPrice[m]!;
    // The insurance fund's expected loss: how far the limit price falls short of the bankruptcy value (docs/domain.md section 2).
    const left = marketMaintenance(t, m, (Math.abs(size) - quantity) * mark);
    const released = positionMaintenance(t, slot) - left;
    const share = o.maintenance > 0 ? (o.equity * released) / o.maintenance : 0;
    const surplus = Math.sign(size) * quantity * (o.limitPrice - o.oraclePrice) + share;
    const notionalWanted = quantity * o.limitPrice;
    const a = this.caps.admit({ account: o.accountId, market: o.marketId, notional: notionalWanted, insuranceLoss: Math.max(0, -surplus), nowUs: this.now, emergency });
    let admittedQuantity = a.binding === null ? quantity : Math.min(quantity, a.notional / o.limitPrice);
    // A cap exhausted to a sliver emits no dust: below the minimum order the work waits for room.
    if (admittedQuantity < quantity && admittedQuantity * o.limitPrice < this.config.sizing.minOrderNotional) admittedQuantity = 0;
    if (a.binding !== null) {
      capped.push({ account: o.account, slot, accountId: o.accountId, marketId: o.marketId, cap: a.binding, queued: quantity - admittedQuantity, limitPrice: o.limitPrice });
    }
    if (!(admittedQuantity > 0)) return undefined;
    const sequence = t.positions.updateSequence[slot]!;
    const id = `${slot}:${sequence}`;
    this.caps.issued({ id, account: o.accountId, market: o.marketId, notional: admittedQuantity * o.limitPrice, insuranceLoss: a.insuranceLoss, nowUs: this.now });
    this.flight.set(slot, { id, sequence, size: Math.abs(size), quantity: admittedQuantity, limit: o.limitPrice });
    return { ...o, quantity: admittedQuantity };
  }

  /** A whole-position order for `slot` at the group's fillable price (sized by planGroup). */
  private planOrder(slot: number, account: number, reason: number, g: GroupMargin): PlannedOrder[] {
    const t = this.t;
    const size = t.positions.size[slot]!;
    if (size === 0) return [];
    const m = t.positions.market[slot]!;
    const oracle = t.markets.oraclePrice[m]!;
    const pmm = positionMaintenance(t, slot);
    const c = this.config;
    const limit = fillablePrice(oracle, size, pmm, g.equity, g.maintenance, c.bankruptcyAdjustment, c.spreadToMaintenanceMarginRatio);
    return [
      {
        slot,
        account,
        reason,
        key: underwaterness(limit, oracle),
        notional: notional(size, oracle),
        accountId: t.accounts.id[account]!,
        marketId: t.markets.id[m]!,
        quantity: Math.abs(size),
        side: size > 0 ? -1 : 1,
        limitPrice: limit,
        oraclePrice: oracle,
        health: health(g.equity, g.maintenance),
        equity: g.equity,
        maintenance: g.maintenance,
      },
    ];
  }

  /** Moves a group's lifecycle state for what it is now; records the transition, if any. */
  private observe(ref: number, account: number, isolated: boolean, g: GroupMargin, flat: boolean, out: PlannedChange[]): PlannedChange | undefined {
    const from = this.states.get(ref) ?? 'healthy';
    // The insurance fund's cover and deleveraging happen on the main thread (clearing), which counts them per account.
    // Read once per account per step, so every group of the account observed in this step sees the same news,
    // whichever groups are candidates and in whatever order (the overflow re-check visits them all).
    let news = this.clearingNews.get(account);
    if (news === undefined) {
      const a = this.t.accounts;
      const seen = this.seenClearing.get(account) ?? { backstops: 0, deleverages: 0 };
      news = { backstopped: a.backstops[account]! > seen.backstops, deleveraged: a.deleverages[account]! > seen.deleverages };
      if (news.backstopped || news.deleveraged) this.seenClearing.set(account, { backstops: a.backstops[account]!, deleverages: a.deleverages[account]! });
      this.clearingNews.set(account, news);
    }
    const { backstopped, deleveraged } = news;
    const to = nextState(from, { health: health(g.equity, g.maintenance), flat, backstopped, deleveraged }, this.lifecycle);
    if (to === null) return undefined;
    this.setState(ref, to);
    const change: PlannedChange = { ...this.planCall(ref, account, isolated, g), from, to };
    out.push(change);
    return change;
  }

  private setState(ref: number, state: LifecycleState): void {
    if (state === 'healthy' || state === 'closed') {
      this.states.delete(ref);
      this.ordered.delete(ref);
    } else {
      this.states.set(ref, state);
    }
  }

  /** No open position left in the group. */
  private isFlat(ref: number): boolean {
    const t = this.t;
    if (isIsolatedRef(ref)) return !isLiveIsolated(t, refSlot(ref)) || t.positions.size[refSlot(ref)] === 0;
    for (let s = t.accounts.firstPosition[ref]!; s !== NONE; s = t.positions.next[s]!) {
      if (isLiveCross(t, s) && t.positions.size[s] !== 0) return false;
    }
    return true;
  }

  private planCall(ref: number, account: number, isolated: boolean, g: GroupMargin): PlannedCall {
    const t = this.t;
    const slot = isolated ? refSlot(ref) : NONE;
    return {
      group: ref,
      account,
      slot,
      accountId: t.accounts.id[account]!,
      marketId: isolated ? t.markets.id[t.positions.market[slot]!]! : NONE,
      health: health(g.equity, g.maintenance),
      equity: g.equity,
      maintenance: g.maintenance,
    };
  }

  /** Every group with a requirement: the fallback when the candidate table overflowed. */
  private allGroups(): number[] {
    const t = this.t;
    const out: number[] = [];
    const accounts = t.accounts.id.length;
    for (let a = 0; a < accounts; a++) {
      if (t.accounts.firstPosition[a] === NONE) continue; // no positions (or an unused row): nothing to liquidate
      out.push(a);
      for (let s = t.accounts.firstPosition[a]!; s !== NONE; s = t.positions.next[s]!) {
        if (isLiveIsolated(t, s)) out.push(isolatedRef(s));
      }
    }
    return out;
  }

  private writeOrder(row: number, o: PlannedOrder): void {
    this.writeRow(row, {
      kind: o.vault === undefined ? OutputKind.Order : OutputKind.Takeover,
      account: o.account,
      slot: o.slot,
      side: o.side >>> 0,
      reason: o.vault ?? o.reason,
      quantity: o.quantity,
      limitPrice: o.limitPrice,
      oraclePrice: o.oraclePrice,
      health: o.health,
      equity: o.equity,
      maintenance: o.maintenance,
      updateSequence: this.t.positions.updateSequence[o.slot]!,
    });
  }

  private writeChange(row: number, c: PlannedChange): void {
    const { account, slot, health, equity, maintenance } = c;
    const side = LIFECYCLE_STATES.indexOf(c.from);
    this.writeRow(row, { kind: OutputKind.StateChange, account, slot, side, reason: LIFECYCLE_STATES.indexOf(c.to), health, equity, maintenance });
  }

  private writeCapped(row: number, c: PlannedCap): void {
    const updateSequence = this.t.positions.updateSequence[c.slot]!;
    const reason = CAP_NAMES.indexOf(c.cap);
    this.writeRow(row, { kind: OutputKind.Capped, account: c.account, slot: c.slot, reason, quantity: c.queued, limitPrice: c.limitPrice, updateSequence });
  }

  private writeCall(row: number, c: PlannedCall): void {
    const { account, slot, health, equity, maintenance } = c;
    this.writeRow(row, { kind: OutputKind.MarginCall, account, slot, health, equity, maintenance });
  }

  /** Writes every column of one output row (the only place that does). */
  private writeRow(row: number, r: OutputRow): void {
    const out = this.t.output;
    out.kind[row] = r.kind;
    out.account[row] = r.account;
    out.market[row] = r.slot === NONE ? NONE : this.t.positions.market[r.slot]!;
    out.position[row] = r.slot;
    out.side[row] = r.side ?? 0;
    out.reason[row] = r.reason ?? 0;
    out.quantity[row] = r.quantity ?? 0;
    out.limitPrice[row] = r.limitPrice ?? 0;
    out.oraclePrice[row] = r.oraclePrice ?? 0;
    out.health[row] = r.health ?? 0;
    out.equity[row] = r.equity ?? 0;
    out.maintenance[row] = r.maintenance ?? 0;
    out.updateSequence[row] = r.updateSequence ?? 0;
  }
}

/** docs/domain.md section 7: most underwater first, then larger notional, then the stable (account, market) id. */
function compareOrders(x: PlannedOrder, y: PlannedOrder): number {
  return y.key - x.key || y.notional - x.notional || x.accountId - y.accountId || x.marketId - y.marketId;
}
