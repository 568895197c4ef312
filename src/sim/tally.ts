/**
 * What the demos count of the engine's settlements: fees, insurance cover, partial and whole closes, and where every
 * quote of deficit went (the insurance funds, ADL counterparties, the socialized side, or an unresolved event). And,
 * where the venue simulator fills the orders (src/sim/matching.ts), how the liquidations went onto its book: each
 * position's liquidation as a parent of its child orders, its implementation shortfall against the arrival mark,
 * participation in the book, time to flat, and what is left open. A backstop vault's takeover (execution strategy
 * 'backstop') settles the account's side as a fill, off the book: both tallies count it as one.
 */
import type { Settlement, Takeover } from '../clearing/clearing.js';
import type { Engine } from '../engine/engine.js';
import { MARKETS } from './world.js';

export interface SettlementTally {
  fills: number;
  /** Quote notional closed, at the fill prices. */
  notional: number;
  accounts: Set<number>;
  /** Liquidation fees paid into the insurance funds, quote. */
  fees: number;
  /** Paid by the insurance funds for fills worse than the bankruptcy value, quote. */
  insuranceCover: number;
  /** Losses the funds could not pay (for ADL or socialized loss), quote. */
  deficit: number;
  /** Fills that left part of their position open, and fills that closed it. */
  partialCloses: number;
  wholeCloses: number;
  /** Orders the funds could not pay, deleveraged at the bankruptcy value instead, and deleveragings after a fill. */
  deleveragedInstead: number;
  deleveragedAfterFill: number;
  /** Quote the ADL counterparties gave up against the mark (the bad debt they absorbed), and base units they took. */
  adlAbsorbed: number;
  /** Quote the opposite side paid under the socialized-loss policy. */
  socialized: number;
  /** Quote the ADL queue paid, in rank order, of deficits left with nothing of the position to deleverage. */
  adlCharged: number;
  /** Quote named by UnresolvedDeficit events, and their count. */
  unresolved: number;
  unresolvedEvents: number;
  /** Positions a backstop vault took off the book (also counted as fills above), and their quote at its price. */
  takeovers: number;
  takenNotional: number;
}

/** Counts every settlement the engine reports from now on. */
export function tallySettlements(engine: Engine): SettlementTally {
  const t: SettlementTally = {
    fills: 0,
    notional: 0,
    accounts: new Set(),
    fees: 0,
    insuranceCover: 0,
    deficit: 0,
    partialCloses: 0,
    wholeCloses: 0,
    deleveragedInstead: 0,
    deleveragedAfterFill: 0,
    adlAbsorbed: 0,
    socialized: 0,
    unresolved: 0,
    unresolvedEvents: 0,
    adlCharged: 0,
    takeovers: 0,
    takenNotional: 0,
  };
  const settled = (f: Settlement): void => {
    t.fills++;
    t.notional += f.closed * f.price;
    t.accounts.add(f.account);
    t.fees += f.fee;
    t.insuranceCover += f.insuranceCover;
    t.deficit += f.deficit;
    if (f.closed > 0 && f.sizeAfter === 0) t.wholeCloses++;
    else if (f.closed > 0) t.partialCloses++;
  };
  engine.onFill(settled);
  // The account's side of a takeover is a fill at the vault's price: the same fee, cover and deficit.
  engine.onTakeover((x) => {
    settled(x.settlement);
    t.takeovers++;
    t.takenNotional += x.settlement.closed * x.price;
  });
  engine.onDeleverage((d) => {
    if (d.orderId === null) t.deleveragedAfterFill++;
    else t.deleveragedInstead++;
    t.adlAbsorbed += Math.max(0, d.absorbed);
    t.accounts.add(d.account);
  });
  engine.onSocializedLoss((l) => {
    if (l.method === 'adl-queue') t.adlCharged += l.amount;
    else t.socialized += l.amount;
  });
  engine.onUnresolvedDeficit((u) => {
    t.unresolved += u.amount;
    t.unresolvedEvents++;
  });
  return t;
}

/** Every demo market's insurance fund starts with this, quote. */
export const INSURANCE_SEED = 250_000;

export function seedInsurance(engine: Engine): void {
  for (const m of MARKETS) engine.depositInsurance(m.id, INSURANCE_SEED);
}

export function insuranceHeld(engine: Engine): number {
  return MARKETS.reduce((sum, m) => sum + engine.insuranceFund(m.id), 0);
}

/** The money side of a demo's summary. */
export interface MoneySummary {
  readonly accountsLiquidated: number;
  readonly notionalLiquidated: number;
  readonly fees: number;
  readonly insuranceCover: number;
  readonly deficit: number;
  readonly partialCloses: number;
  readonly wholeCloses: number;
  readonly deleveragedInstead: number;
  readonly deleveragedAfterFill: number;
  readonly adlAbsorbed: number;
  readonly socialized: number;
  readonly adlCharged: number;
  readonly unresolved: number;
  readonly unresolvedEvents: number;
  readonly takeovers: number;
  readonly takenNotional: number;
  /** Quote that accounts left with no position owe (negative collateral): every quote of it named by an unresolved event. */
  readonly badDebt: number;
  /** The funds' balance at the end, quote (seeded with INSURANCE_SEED per market). */
  readonly insuranceFunds: number;
  /** The ledger's sum over all entries: always 0 atoms. */
  readonly ledgerTotal: bigint;
}

export function moneySummary(engine: Engine, t: SettlementTally, accounts: Iterable<number>): MoneySummary {
  return {
    accountsLiquidated: t.accounts.size,
    notionalLiquidated: t.notional,
    fees: t.fees,
    insuranceCover: t.insuranceCover,
    deficit: t.deficit,
    partialCloses: t.partialCloses,
    wholeCloses: t.wholeCloses,
    deleveragedInstead: t.deleveragedInstead,
    deleveragedAfterFill: t.deleveragedAfterFill,
    adlAbsorbed: t.adlAbsorbed,
    socialized: t.socialized,
    adlCharged: t.adlCharged,
    unresolved: t.unresolved,
    unresolvedEvents: t.unresolvedEvents,
    takeovers: t.takeovers,
    takenNotional: t.takenNotional,
    badDebt: badDebtOf(engine, accounts),
    insuranceFunds: insuranceHeld(engine),
    ledgerTotal: engine.ledger.total(),
  };
}

/** What the accounts with no position left owe, quote: the bad debt that must have been named (UnresolvedDeficit). */
export function badDebtOf(engine: Engine, accounts: Iterable<number>): number {
  let owed = 0;
  for (const id of accounts) {
    const a = engine.account(id);
    if (a.positions.every((p) => p.size === 0) && a.equity < 0) owed -= a.equity;
  }
  return owed;
}

// ---- execution: how the liquidations went onto the venue's book (src/sim/matching.ts) ----

/**
 * Implementation shortfall of one parent against its arrival mark: cost = sum over fills of sign * (arrival - price) *
 * quantity (quote), notional = sum of arrival * quantity, bps = 10^4 * cost / notional (0 without fills).
 */
export function implementationShortfall(side: 'buy' | 'sell', arrivalMark: number, fills: readonly { readonly price: number; readonly quantity: number }[]): { cost: number; notional: number; bps: number } {
  // +1 for a sell (selling below the arrival mark costs), -1 for a buy: a cost is positive either way.
  const sign = side === 'sell' ? 1 : -1;
  let cost = 0;
  let notional = 0;
  for (const f of fills) {
    cost += sign * (arrivalMark - f.price) * f.quantity;
    notional += arrivalMark * f.quantity;
  }
  return { cost, notional, bps: notional > 0 ? (1e4 * cost) / notional : 0 };
}

/**
 * One liquidation of a position: its parent order, from the first child the engine sent until the position is flat,
 * or until its group leaves liquidation with part of the position kept ('restored'). A later liquidation of the
 * same position is a new parent, with a new arrival mark.
 */
export interface Parent {
  readonly account: number;
  readonly market: number;
  readonly side: 'buy' | 'sell';
  readonly isolated: boolean;
  /** The mark (oracle price) the first child (or takeover) was decided at: what shortfall is measured against. */
  readonly arrivalMark: number;
  readonly startUs: number;
  /** Signed size, as the last settlement or deleveraging left it. */
  size: number;
  children: number;
  /** Its fills at the venue and takeovers by a vault, in order. */
  readonly fills: { readonly price: number; readonly quantity: number }[];
  end: 'flat' | 'restored' | undefined;
  endUs: number | undefined;
}

/** A child as the tally needs it (src/sim/matching.ts `Child`). */
export interface ChildSent {
  readonly order: {
    readonly id: string;
    readonly account: number;
    readonly market: number;
    readonly side: 'buy' | 'sell';
    readonly oraclePrice: number;
    readonly reason: string;
    /** The group's health when the order was decided: below the emergency level it closes whole whatever the strategy. */
    readonly health: number;
  };
  readonly submittedUs: number;
  readonly participation: number;
}

/** What the execution tally says at the end of a run. */
export interface ExecutionSummary {
  readonly parents: number;
  readonly childOrders: number;
  /** Notional-weighted over every parent's fills: 10^4 * sum(cost) / sum(arrival notional). */
  readonly shortfallBps: number;
  readonly shortfallCost: number;
  /** Largest child quantity over the book volume on its side within 1% of the mid when it was sent. */
  readonly peakParticipation: number;
  /** The same over the children decided at or above the emergency health: those a strategy's cap applies to. */
  readonly peakParticipationCapped: number;
  readonly flat: number;
  readonly restored: number;
  /** Parents still open at the end, and their notional at the mid. */
  readonly left: number;
  readonly leftNotional: number;
  /** Event time from the first child to flat, over the parents that went flat, seconds. */
  readonly timeToFlatS: { readonly p50: number; readonly max: number };
  /** Deleveragings (onDeleverage) that matched anything, and the quote they closed at the bankruptcy price. */
  readonly adlCount: number;
  readonly adlNotional: number;
  /** Positions (or parts) a backstop vault took off the book, and their quote at its price. */
  readonly takeovers: number;
  readonly takenNotional: number;
  /** Quote filled (at the venue and by takeovers) at the fill price, and the share of it ordered below the emergency health. */
  readonly filledNotional: number;
  readonly emergencyShare: number;
}

const OUT_OF_LIQUIDATION = new Set(['healthy', 'margin-call']);

/** Tracks every parent from the engine's events and the children the matching engine sent. */
export class ExecutionTally {
  private readonly open = new Map<string, Parent>();
  /** Every parent, in start order. */
  readonly parents: Parent[] = [];
  /** The last parent of each position: a late fill after a parent ended still counts for it. */
  private readonly last = new Map<string, Parent>();
  private nowUs = 0;
  childOrders = 0;
  peakParticipation = 0;
  peakParticipationCapped = 0;
  adlCount = 0;
  adlNotional = 0;
  takeovers = 0;
  takenNotional = 0;
  filledNotional = 0;
  /** Of filledNotional, what was ordered below the emergency health. */
  emergencyNotional = 0;
  /** The health each child order was decided at, by id, until it has filled whole. */
  private readonly orderHealth = new Map<string, number>();
  /** Takeovers landed in the epoch under way: their orders (side, arrival mark, health) come with the epoch's result. */
  private readonly landed: Takeover[] = [];
  private readonly emergencyHealth: number;

  constructor(private readonly engine: Engine) {
    this.emergencyHealth = engine.config.sizing.emergencyHealth;
    engine.onFill((f) => {
      this.filled(f.orderId, f.quantity * f.price, f.orderRemaining > 0);
      const p = this.parentOf(f.account, f.market);
      if (p === undefined) return;
      p.fills.push({ price: f.price, quantity: f.quantity });
      this.resize(p, f.sizeAfter, f.eventTimeUs);
    });
    // A takeover lands inside the epoch, before its result (whose takeovers carry the side and the decision's mark
    // and health) is out: the parent is opened or extended once the epoch is decided, before any state change.
    engine.onTakeover((x) => this.landed.push(x));
    engine.onEpochState((r) => {
      if (this.landed.length === 0) return;
      const decided = new Map(r.takeovers.map((o) => [o.id, o]));
      for (const x of this.landed.splice(0)) {
        const o = decided.get(x.id);
        if (o === undefined) throw new Error(`takeover ${x.id} landed without its decision in epoch ${r.epoch}`);
        const p = this.open.get(key(x.account, x.market)) ?? this.start(o, this.nowUs);
        const quantity = x.settlement.closed;
        p.fills.push({ price: x.price, quantity });
        this.takeovers++;
        this.takenNotional += quantity * x.price;
        this.filledNotional += quantity * x.price;
        if (o.health < this.emergencyHealth) this.emergencyNotional += quantity * x.price;
        // The position as the epoch left it (a deficit's deleveraging may have closed more of it).
        this.resize(p, this.engine.account(x.account).positions.find((q) => q.market === x.market)?.size ?? 0, this.nowUs);
      }
    });
    engine.onDeleverage((d) => {
      if (d.matched > 0) {
        this.adlCount++;
        this.adlNotional += d.matched * d.bankruptcyPrice;
      }
      const p = this.open.get(key(d.account, d.market));
      if (p !== undefined) this.resize(p, Math.sign(p.size) * d.remainder, this.nowUs);
      for (const c of d.counterparties) {
        const q = this.open.get(key(c.account, d.market));
        if (q !== undefined) this.resize(q, c.sizeAfter, this.nowUs);
      }
    });
    engine.onStateChange((c) => {
      if (!OUT_OF_LIQUIDATION.has(c.to) && c.to !== 'closed') return;
      for (const p of this.groupParents(c.account, c.market)) {
        if (c.to === 'closed') p.size = 0;
        this.finish(p, p.size === 0 ? 'flat' : 'restored', this.nowUs);
      }
    });
  }

  /** The event time the next inputs and epoch land at (deleveragings and state changes carry none of their own). */
  at(nowUs: number): void {
    this.nowUs = nowUs;
  }

  /** A child sent: the first of a position opens its parent, at the mark the child was decided at. */
  child(c: ChildSent): void {
    const o = c.order;
    const p = this.open.get(key(o.account, o.market)) ?? this.start(o, c.submittedUs);
    p.children++;
    this.childOrders++;
    this.orderHealth.set(o.id, o.health);
    if (c.participation > this.peakParticipation) this.peakParticipation = c.participation;
    if (o.health >= this.emergencyHealth && c.participation > this.peakParticipationCapped) this.peakParticipationCapped = c.participation;
  }

  /** Opens the parent of `o`'s position, at the mark `o` was decided at. */
  private start(o: ChildSent['order'], startUs: number): Parent {
    const size = this.engine.account(o.account).positions.find((x) => x.market === o.market)?.size ?? 0;
    const p: Parent = {
      account: o.account,
      market: o.market,
      side: o.side,
      isolated: o.reason === 'isolated-maintenance',
      arrivalMark: o.oraclePrice,
      startUs,
      size,
      children: 0,
      fills: [],
      end: undefined,
      endUs: undefined,
    };
    const k = key(o.account, o.market);
    this.open.set(k, p);
    this.last.set(k, p);
    this.parents.push(p);
    return p;
  }

  /** A fill of order `id` worth `notional` quote; `open`: part of the order is still open (more fills may come). */
  private filled(id: string, notional: number, open: boolean): void {
    this.filledNotional += notional;
    const h = this.orderHealth.get(id);
    if (h !== undefined && h < this.emergencyHealth) this.emergencyNotional += notional;
    if (!open) this.orderHealth.delete(id);
  }

  /** Open liquidation inventory: the parents not yet done, at `mid` (quote). */
  openInventory(mid: (market: number) => number): number {
    let total = 0;
    for (const p of this.open.values()) total += Math.abs(p.size) * mid(p.market);
    return total;
  }

  summary(mid: (market: number) => number): ExecutionSummary {
    let cost = 0;
    let notional = 0;
    const toFlat: number[] = [];
    let flat = 0;
    let restored = 0;
    for (const p of this.parents) {
      const x = implementationShortfall(p.side, p.arrivalMark, p.fills);
      cost += x.cost;
      notional += x.notional;
      if (p.end === 'flat') {
        flat++;
        toFlat.push((p.endUs! - p.startUs) / 1e6);
      } else if (p.end === 'restored') restored++;
    }
    toFlat.sort((a, b) => a - b);
    return {
      parents: this.parents.length,
      childOrders: this.childOrders,
      shortfallBps: notional > 0 ? (1e4 * cost) / notional : 0,
      shortfallCost: cost,
      peakParticipation: this.peakParticipation,
      peakParticipationCapped: this.peakParticipationCapped,
      flat,
      restored,
      left: this.open.size,
      leftNotional: this.openInventory(mid),
      timeToFlatS: { p50: toFlat.length === 0 ? 0 : toFlat[Math.floor((toFlat.length - 1) / 2)]!, max: toFlat.at(-1) ?? 0 },
      adlCount: this.adlCount,
      adlNotional: this.adlNotional,
      takeovers: this.takeovers,
      takenNotional: this.takenNotional,
      filledNotional: this.filledNotional,
      emergencyShare: this.filledNotional > 0 ? this.emergencyNotional / this.filledNotional : 0,
    };
  }

  private parentOf(account: number, market: number): Parent | undefined {
    const k = key(account, market);
    return this.open.get(k) ?? this.last.get(k);
  }

  private groupParents(account: number, market: number | null): Parent[] {
    const out: Parent[] = [];
    for (const p of this.open.values()) if (p.account === account && (market === null ? !p.isolated : p.isolated && p.market === market)) out.push(p);
    return out;
  }

  private resize(p: Parent, size: number, tUs: number): void {
    p.size = size;
    if (size === 0) this.finish(p, 'flat', tUs);
  }

  private finish(p: Parent, end: 'flat' | 'restored', tUs: number): void {
    if (p.end !== undefined) return;
    p.end = end;
    p.endUs = Math.max(tUs, p.startUs);
    this.open.delete(key(p.account, p.market));
  }
}

const key = (account: number, market: number): string => `${account}:${market}`;

/**
 * Deficits still open at the end: negative equity of groups that hold a position (cross: the account's equity;
 * isolated: its collateral plus unrealized PnL). Bad debt once their positions close, unless someone pays it.
 */
export function openDeficits(engine: Engine, accounts: Iterable<number>): number {
  let owed = 0;
  for (const id of accounts) {
    const a = engine.account(id);
    const crossHeld = a.positions.some((p) => p.size !== 0 && p.isolatedCollateral === null);
    if (crossHeld && a.equity < 0) owed -= a.equity;
    for (const p of a.positions) {
      if (p.size === 0 || p.isolatedCollateral === null) continue;
      const equity = p.isolatedCollateral + p.unrealizedPnl;
      if (equity < 0) owed -= equity;
    }
  }
  return owed;
}
