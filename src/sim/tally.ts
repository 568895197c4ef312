/**
 * What the demos count of the engine's settlements: fees, insurance cover, partial and whole closes, and where every
 * quote of deficit went (the insurance funds, ADL counterparties, the socialized side, or an unresolved event).
 */
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
  };
  engine.onFill((f) => {
    t.fills++;
    t.notional += f.closed * f.price;
    t.accounts.add(f.account);
    t.fees += f.fee;
    t.insuranceCover += f.insuranceCover;
    t.deficit += f.deficit;
    if (f.closed > 0 && f.sizeAfter === 0) t.wholeCloses++;
    else if (f.closed > 0) t.partialCloses++;
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
